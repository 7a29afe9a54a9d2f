//! Full-text indexes over small read-only document sets (the AI service's component catalog and
//! documentation passages): the `TextIndex` trait, its SQLite FTS5 implementation (`Fts5Index`,
//! an in-memory database: BM25 ranking with a weight per field, the Porter stemmer) and the
//! conformance suite (`text_index_suite!`). An index is built whole from its documents and
//! then only searched; a changed document set is indexed anew (building is milliseconds).
use parking_lot::Mutex;
use rusqlite::Connection;

/// A field of the indexed documents and how much a match in it counts (BM25 column weight).
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub weight: f64,
}

/// One document: its key, a value per field (in the order of the fields) and a boost its score
/// is multiplied by (1.0 for none; below 1 for documents that should rank lower when tied).
#[derive(Debug, Clone)]
pub struct Document {
    pub key: String,
    pub values: Vec<String>,
    pub boost: f64,
}

/// A matching document's key and score (higher is better; only comparable within one search).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub key: String,
    pub score: f64,
}

pub trait TextIndex: Send + Sync {
    /// The documents matching any word of the free-text `query` (case, diacritics, English
    /// inflection and common stop words ignored; words of 4+ letters also match as prefixes),
    /// best first, at most `limit`. A query without words finds nothing.
    fn search(&self, query: &str, limit: usize) -> anyhow::Result<Vec<Hit>>;
    /// How many documents are indexed.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Words that carry no meaning in a search prompt (they would match almost every passage).
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "in", "into", "is", "it", "its", "me",
    "my", "of", "on", "or", "that", "the", "this", "to", "what", "when", "where", "which", "with", "you", "want", "need", "use", "using",
];

/// The query's distinct words, lower case, without stop words.
pub fn query_words(query: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in query.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let w = w.to_lowercase();
        if !STOP_WORDS.contains(&w.as_str()) && !words.contains(&w) {
            words.push(w);
        }
    }
    words.truncate(64);
    words
}

/// SQLite FTS5 in memory. Searches take the connection's lock (an index is small; a search is
/// well under a millisecond).
pub struct Fts5Index {
    conn: Mutex<Connection>,
    weights: String,
    len: usize,
}

impl Fts5Index {
    pub fn build(fields: &[Field], docs: &[Document]) -> anyhow::Result<Fts5Index> {
        anyhow::ensure!(!fields.is_empty(), "an index needs at least one field");
        for f in fields {
            anyhow::ensure!(
                !f.name.is_empty() && f.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') && f.name != "rank",
                "field name {:?} is not a plain lower-case identifier",
                f.name
            );
        }
        let conn = Connection::open_in_memory()?;
        let columns: Vec<&str> = fields.iter().map(|f| f.name).collect();
        conn.execute_batch(&format!(
            "CREATE VIRTUAL TABLE fts USING fts5({}, tokenize = 'porter unicode61 remove_diacritics 2');
             CREATE TABLE docs (id INTEGER PRIMARY KEY, key TEXT NOT NULL, boost REAL NOT NULL);",
            columns.join(", ")
        ))?;
        {
            let tx = conn.unchecked_transaction()?;
            let placeholders = vec!["?"; fields.len()].join(", ");
            let mut insert_text = tx.prepare(&format!("INSERT INTO fts (rowid, {}) VALUES (?, {placeholders})", columns.join(", ")))?;
            let mut insert_doc = tx.prepare("INSERT INTO docs (id, key, boost) VALUES (?, ?, ?)")?;
            for (i, doc) in docs.iter().enumerate() {
                anyhow::ensure!(doc.values.len() == fields.len(), "document {:?} has {} values for {} fields", doc.key, doc.values.len(), fields.len());
                let rowid = i as i64 + 1;
                let mut params: Vec<&dyn rusqlite::ToSql> = vec![&rowid];
                params.extend(doc.values.iter().map(|v| v as &dyn rusqlite::ToSql));
                insert_text.execute(params.as_slice())?;
                let boost = if doc.boost.is_finite() && doc.boost > 0.0 { doc.boost } else { 1.0 };
                insert_doc.execute(rusqlite::params![rowid, doc.key, boost])?;
            }
            drop(insert_text);
            drop(insert_doc);
            tx.commit()?;
        }
        let weights = fields.iter().map(|f| format!("{:.4}", f.weight.max(0.0))).collect::<Vec<_>>().join(", ");
        Ok(Fts5Index { conn: Mutex::new(conn), weights, len: docs.len() })
    }
}

/// The FTS5 expression of the words: any of them, each a quoted string (no query syntax gets
/// through), words of 4+ characters as prefixes too.
fn match_expression(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let quoted = format!("\"{}\"", w.replace('"', "\"\""));
            if w.chars().count() >= 4 { format!("{quoted}*") } else { quoted }
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

impl TextIndex for Fts5Index {
    fn search(&self, query: &str, limit: usize) -> anyhow::Result<Vec<Hit>> {
        let words = query_words(query);
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn.lock();
        // bm25() is lower for better matches; negated so that higher is better, then boosted.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT d.key, -bm25(fts, {}) * d.boost AS score FROM fts JOIN docs d ON d.id = fts.rowid
             WHERE fts MATCH ?1 ORDER BY score DESC, d.id LIMIT ?2",
            self.weights
        ))?;
        let rows = stmt.query_map(rusqlite::params![match_expression(&words), limit as i64], |r| Ok(Hit { key: r.get(0)?, score: r.get(1)? }))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// The conformance suite: `$build` is `fn(&[Field], &[Document]) -> anyhow::Result<impl TextIndex>`.
#[macro_export]
macro_rules! text_index_suite {
    ($build:expr) => {
        #[test]
        fn text_index_ranks_by_weighted_fields_and_rare_words() {
            $crate::text_index::suite::ranks_by_weighted_fields_and_rare_words($build);
        }
        #[test]
        fn text_index_stems_prefixes_and_ignores_case_and_stop_words() {
            $crate::text_index::suite::stems_prefixes_and_ignores_case_and_stop_words($build);
        }
        #[test]
        fn text_index_boost_breaks_ties_and_limit_caps() {
            $crate::text_index::suite::boost_breaks_ties_and_limit_caps($build);
        }
        #[test]
        fn text_index_query_syntax_is_plain_text() {
            $crate::text_index::suite::query_syntax_is_plain_text($build);
        }
    };
}

pub mod suite {
    use super::{Document, Field, TextIndex};

    fn fields() -> Vec<Field> {
        vec![Field { name: "id", weight: 10.0 }, Field { name: "name", weight: 8.0 }, Field { name: "description", weight: 1.0 }]
    }

    fn doc(key: &str, name: &str, description: &str, boost: f64) -> Document {
        Document { key: key.into(), values: vec![key.into(), name.into(), description.into()], boost }
    }

    fn catalog() -> Vec<Document> {
        vec![
            doc("keboola.snowflake-transformation", "Snowflake SQL", "Transforms tables with Snowflake SQL.", 1.0),
            doc("keboola.duckdb-transformation", "DuckDB SQL", "Transforms tables with DuckDB SQL.", 1.0),
            doc("keboola.python-transformation-v2", "Python", "Transforms tables and files with a Python script.", 1.0),
            doc("keboola.ex-db-pgsql", "PostgreSQL", "Extracts data from a PostgreSQL database.", 1.0),
            doc("keboola.sandboxes", "Workspaces", "Workspaces for ad hoc analysis (SQL, Python, R).", 1.0),
        ]
    }

    fn keys(hits: &[super::Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.key.as_str()).collect()
    }

    pub fn ranks_by_weighted_fields_and_rare_words<I: TextIndex>(build: fn(&[Field], &[Document]) -> anyhow::Result<I>) {
        let index = build(&fields(), &catalog()).unwrap();
        assert_eq!(index.len(), 5);
        let hits = index.search("SQL transformation in DuckDB", 10).unwrap();
        assert_eq!(hits[0].key, "keboola.duckdb-transformation", "{hits:?}");
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "best first: {hits:?}");
        assert!(hits.iter().all(|h| h.score > 0.0));
        // A name match outweighs a description match.
        let hits = index.search("python", 10).unwrap();
        assert_eq!(keys(&hits), ["keboola.python-transformation-v2", "keboola.sandboxes"]);
        assert!(index.search("salesforce", 10).unwrap().is_empty());
    }

    pub fn stems_prefixes_and_ignores_case_and_stop_words<I: TextIndex>(build: fn(&[Field], &[Document]) -> anyhow::Result<I>) {
        let index = build(&fields(), &catalog()).unwrap();
        assert_eq!(index.search("EXTRACTING", 10).unwrap()[0].key, "keboola.ex-db-pgsql", "stemmed");
        assert_eq!(index.search("postgres", 10).unwrap()[0].key, "keboola.ex-db-pgsql", "prefix");
        assert_eq!(index.search("workspace", 10).unwrap()[0].key, "keboola.sandboxes", "plural");
        assert!(index.search("the of and", 10).unwrap().is_empty(), "stop words alone find nothing");
        assert!(index.search("", 10).unwrap().is_empty());
        assert!(index.search("  ..!  ", 10).unwrap().is_empty());
    }

    pub fn boost_breaks_ties_and_limit_caps<I: TextIndex>(build: fn(&[Field], &[Document]) -> anyhow::Result<I>) {
        let docs = vec![doc("a", "Flow", "Runs a flow.", 0.5), doc("b", "Flow", "Runs a flow.", 1.0), doc("c", "Other", "Nothing.", 1.0)];
        let index = build(&fields(), &docs).unwrap();
        let hits = index.search("flow", 10).unwrap();
        assert_eq!(keys(&hits), ["b", "a"]);
        assert!((hits[0].score - 2.0 * hits[1].score).abs() < 1e-9, "{hits:?}");
        assert_eq!(index.search("flow", 1).unwrap().len(), 1);
        assert!(index.search("flow", 0).unwrap().is_empty());
        assert!(build(&fields(), &[]).unwrap().search("flow", 5).unwrap().is_empty());
    }

    pub fn query_syntax_is_plain_text<I: TextIndex>(build: fn(&[Field], &[Document]) -> anyhow::Result<I>) {
        let index = build(&fields(), &catalog()).unwrap();
        for q in ["\"", "python\" OR", "NEAR(python sql)", "id:python", "python*", "-python", "(sql", "NOT", "a\u{0}b", "ÉTL ünïcode 数据"] {
            index.search(q, 5).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        }
        assert_eq!(index.search("id:python", 5).unwrap()[0].key, "keboola.python-transformation-v2");
        assert!(build(&fields(), &[Document { key: "x".into(), values: vec!["only one".into()], boost: 1.0 }]).is_err());
    }
}
