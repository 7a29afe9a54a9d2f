//! The SQLdep analyzer, served at `/sqldep-analyzer` (host `sqldep-analyzer.<suffix>`; legacy
//! Keboola service id, notes: services.md §26, which found no spec): SQL validation and the
//! tables and columns each statement reads and writes, in many dialects, with `sqlparser`.
//! `analyze` is the domain function the Graph service calls directly. HTTP in `api`.
//!
//! A script is tokenized once and split into statements at top-level semicolons, so one bad
//! statement does not hide the others, and every position (line, column) is in the whole script.
pub mod api;
mod columns;
pub mod wire;

use std::collections::BTreeSet;

use sqlparser::ast::{ObjectName, ObjectNamePart, Statement, TableFactor, TableObject};
use sqlparser::dialect::Dialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use wire::{Analysis, Position, SqlError, StatementAnalysis, TableUse};

/// The dialects accepted, by the names Keboola's backends and transformations use.
pub const DIALECTS: &[&str] = &[
    "generic", "ansi", "duckdb", "snowflake", "bigquery", "redshift", "postgres", "postgresql", "mysql", "mssql", "synapse", "sqlite",
    "hive", "clickhouse", "databricks", "oracle", "exasol", "teradata",
];

/// Deepest nesting the parser follows before it answers an error (no stack overflow on hostile SQL).
const RECURSION_LIMIT: usize = 64;

/// The parser dialect for a name of `DIALECTS` (case-insensitive); `None` for an unknown one.
pub fn dialect(name: &str) -> Option<Box<dyn Dialect>> {
    let name = name.trim().to_ascii_lowercase();
    let parser_name = match name.as_str() {
        // Backends kbstack names that sqlparser knows under another dialect.
        "synapse" => "mssql",
        "exasol" | "teradata" => "generic",
        other => other,
    };
    sqlparser::dialect::dialect_from_str(parser_name)
}

/// The dialect a transformation component's SQL is written in (`None`: not SQL).
pub fn dialect_of_component(component_id: &str) -> Option<&'static str> {
    let id = component_id.to_ascii_lowercase();
    let table: &[(&str, &str)] = &[
        ("snowflake", "snowflake"),
        ("duckdb", "duckdb"),
        ("bigquery", "bigquery"),
        ("redshift", "redshift"),
        ("synapse", "synapse"),
        ("mssql", "mssql"),
        ("postgres", "postgres"),
        ("mysql", "mysql"),
        ("exasol", "exasol"),
        ("teradata", "teradata"),
        ("oracle", "oracle"),
        ("databricks", "databricks"),
    ];
    if id.contains("python") || id.contains("-r-transformation") || id.ends_with(".r-transformation") || id.contains("julia") {
        return None;
    }
    table.iter().find(|(needle, _)| id.contains(needle)).map(|(_, d)| *d)
}

/// Analyze a script: each statement's kind, the tables and columns it reads and writes, its
/// errors with positions. The caller validated `dialect_name` with `dialect` (an unknown name
/// falls back to the generic dialect here).
pub fn analyze(sql: &str, dialect_name: &str) -> Analysis {
    let dialect = dialect(dialect_name).unwrap_or_else(|| Box::new(sqlparser::dialect::GenericDialect {}));
    let lines = LineIndex::new(sql);
    let mut statements = Vec::new();
    match Tokenizer::new(dialect.as_ref(), sql).tokenize_with_location() {
        Err(e) => {
            let at = position(e.location);
            statements.push(StatementAnalysis::failed(0, sql.trim().to_string(), Some(Position { line: 1, column: 1 }), None, SqlError {
                message: e.message,
                line: at.line,
                column: at.column,
            }));
        }
        Ok(tokens) => {
            for (index, segment) in split_statements(tokens).into_iter().enumerate() {
                statements.push(analyze_segment(dialect.as_ref(), index, segment, &lines));
            }
        }
    }
    Analysis::of(dialect_name, statements)
}

/// The tokens of each statement (at top-level `;`), without the ones that hold only whitespace
/// or comments.
fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for t in tokens {
        if t.token == Token::SemiColon {
            out.push(std::mem::take(&mut current));
        } else if t.token != Token::EOF {
            current.push(t);
        }
    }
    out.push(current);
    out.into_iter().filter(|seg| seg.iter().any(|t| !matches!(t.token, Token::Whitespace(_)))).collect()
}

fn position(l: Location) -> Position {
    Position { line: l.line.max(1), column: l.column.max(1) }
}

fn analyze_segment(dialect: &dyn Dialect, index: usize, segment: Vec<TokenWithSpan>, lines: &LineIndex) -> StatementAnalysis {
    let significant: Vec<&TokenWithSpan> = segment.iter().filter(|t| !matches!(t.token, Token::Whitespace(_))).collect();
    let start = significant.first().map(|t| position(t.span.start));
    let end = significant.last().map(|t| position(t.span.end));
    let text = match (significant.first(), significant.last()) {
        (Some(a), Some(b)) => lines.slice(a.span.start, b.span.end).to_string(),
        _ => String::new(),
    };
    let last_end = significant.last().map(|t| t.span.end).unwrap_or(Location { line: 1, column: 1 });
    let mut tokens = segment;
    tokens.push(TokenWithSpan::new(Token::EOF, sqlparser::tokenizer::Span::new(last_end, last_end)));
    let mut parser = Parser::new(dialect).with_recursion_limit(RECURSION_LIMIT).with_tokens_with_locations(tokens);
    let parsed = parser.parse_statement().and_then(|stmt| {
        let next = parser.peek_token();
        if next.token == Token::EOF {
            Ok(stmt)
        } else {
            Err(ParserError::ParserError(format!("Expected: end of statement, found: {}{}", next.token, next.span.start)))
        }
    });
    match parsed {
        Ok(stmt) => describe(index, text, start, end, &stmt),
        Err(e) => {
            let fallback = start.unwrap_or(Position { line: 1, column: 1 });
            StatementAnalysis::failed(index, text, start, end, parser_error(e, fallback))
        }
    }
}

/// A parser error with the position its message ends with ("… at Line: 3, Column: 7").
fn parser_error(e: ParserError, fallback: Position) -> SqlError {
    let text = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => format!("The statement nests deeper than {RECURSION_LIMIT} levels."),
    };
    if let Some(at) = text.rfind(" at Line: ") {
        let tail = &text[at + " at Line: ".len()..];
        let mut parts = tail.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse::<u64>().ok());
        let column = parts.next().and_then(|c| c.trim().parse::<u64>().ok());
        if let (Some(line), Some(column)) = (line, column) {
            return SqlError { message: text[..at].to_string(), line: line.max(1), column: column.max(1) };
        }
    }
    SqlError { message: text, line: fallback.line, column: fallback.column }
}

/// A table name as one dotted id, quotes removed (`"in.c-main"."orders"` → `in.c-main.orders`).
pub fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What a statement does and which tables it writes (its target), by kind.
fn kind_and_targets(stmt: &Statement) -> (&'static str, Vec<String>) {
    let one = |n: &ObjectName| vec![object_name(n)];
    let factor = |f: &TableFactor| match f {
        TableFactor::Table { name, .. } => one(name),
        _ => Vec::new(),
    };
    match stmt {
        Statement::Query(_) => ("SELECT", Vec::new()),
        Statement::Insert(i) => (
            "INSERT",
            match &i.table {
                TableObject::TableName(n) => one(n),
                _ => Vec::new(),
            },
        ),
        Statement::Update(u) => ("UPDATE", factor(&u.table.relation)),
        Statement::Delete(d) => {
            let mut targets: Vec<String> = d.tables.iter().map(object_name).collect();
            if targets.is_empty() {
                let from = match &d.from {
                    sqlparser::ast::FromTable::WithFromKeyword(t) | sqlparser::ast::FromTable::WithoutKeyword(t) => t,
                };
                targets = from.first().map(|t| factor(&t.relation)).unwrap_or_default();
            }
            ("DELETE", targets)
        }
        Statement::Merge(m) => ("MERGE", factor(&m.table)),
        Statement::CreateTable(c) => ("CREATE TABLE", one(&c.name)),
        Statement::CreateView(v) => ("CREATE VIEW", one(&v.name)),
        Statement::Drop { names, .. } => ("DROP", names.iter().map(object_name).collect()),
        Statement::Truncate(t) => ("TRUNCATE", t.table_names.iter().map(|t| object_name(&t.name)).collect()),
        Statement::AlterTable(a) => ("ALTER TABLE", one(&a.name)),
        Statement::CopyIntoSnowflake { into, .. } => ("COPY", one(into)),
        Statement::RenameTable(r) => ("RENAME TABLE", r.iter().flat_map(|r| [object_name(&r.old_name), object_name(&r.new_name)]).collect()),
        Statement::CreateIndex(_) => ("CREATE INDEX", Vec::new()),
        Statement::CreateSchema { .. } => ("CREATE SCHEMA", Vec::new()),
        Statement::Set(_) => ("SET", Vec::new()),
        Statement::Use(_) => ("USE", Vec::new()),
        Statement::StartTransaction { .. } => ("BEGIN", Vec::new()),
        Statement::Commit { .. } => ("COMMIT", Vec::new()),
        Statement::Rollback { .. } => ("ROLLBACK", Vec::new()),
        Statement::Explain { .. } => ("EXPLAIN", Vec::new()),
        Statement::Call(_) => ("CALL", Vec::new()),
        _ => ("OTHER", Vec::new()),
    }
}

fn describe(index: usize, text: String, start: Option<Position>, end: Option<Position>, stmt: &Statement) -> StatementAnalysis {
    let (kind, targets) = kind_and_targets(stmt);
    let found = columns::collect(stmt);
    // Every relation the statement names, less the CTEs it defines and one mention of each target
    // (`INSERT INTO t SELECT … FROM t` reads t as well).
    let mut relations = found.relations.clone();
    for target in &targets {
        if let Some(i) = relations.iter().position(|r| r.eq_ignore_ascii_case(target)) {
            relations.remove(i);
        }
    }
    let ctes: BTreeSet<String> = found.ctes.iter().map(|c| c.to_ascii_lowercase()).collect();
    let mut read_names: Vec<String> = Vec::new();
    for r in relations {
        if !ctes.contains(&r.to_ascii_lowercase()) && !read_names.iter().any(|x| x.eq_ignore_ascii_case(&r)) {
            read_names.push(r);
        }
    }
    let (read_columns, unresolved) = found.resolve(&read_names);
    let reads = read_names
        .iter()
        .map(|t| TableUse { table: t.clone(), columns: read_columns.get(&t.to_ascii_lowercase()).map(|c| c.iter().cloned().collect()).unwrap_or_default() })
        .collect();
    let write_columns = columns::written_columns(stmt);
    let mut writes: Vec<TableUse> = Vec::new();
    for t in targets {
        if !writes.iter().any(|w| w.table.eq_ignore_ascii_case(&t)) {
            writes.push(TableUse { table: t, columns: write_columns.clone() });
        }
    }
    StatementAnalysis {
        index,
        kind: kind.to_string(),
        sql: text,
        start,
        end,
        valid: true,
        error: None,
        reads,
        writes,
        unresolved_columns: unresolved,
        ctes: found.ctes,
    }
}

/// Byte offsets of line starts, to cut a statement's text out of the script by its span.
struct LineIndex<'a> {
    sql: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(sql: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { sql, starts }
    }

    /// The byte offset of a (1-based, in characters) location.
    fn offset(&self, l: Location) -> usize {
        let line = (l.line.max(1) as usize - 1).min(self.starts.len() - 1);
        let start = self.starts[line];
        let rest = &self.sql[start..];
        rest.char_indices().nth(l.column.max(1) as usize - 1).map(|(i, _)| start + i).unwrap_or(self.sql.len())
    }

    fn slice(&self, from: Location, to: Location) -> &'a str {
        let (a, b) = (self.offset(from), self.offset(to));
        if a <= b { &self.sql[a..b] } else { "" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(uses: &[TableUse]) -> Vec<String> {
        uses.iter().map(|u| u.table.clone()).collect()
    }

    #[test]
    fn insert_select_reads_sources_and_writes_target() {
        let a = analyze("INSERT INTO \"out\" (id, total) SELECT o.id, SUM(o.amount) FROM \"orders\" o JOIN customers c ON c.id = o.cid GROUP BY o.id", "snowflake");
        assert!(a.valid, "{a:?}");
        let s = &a.statements[0];
        assert_eq!(s.kind, "INSERT");
        assert_eq!(tables(&s.writes), vec!["out"]);
        assert_eq!(tables(&s.reads), vec!["orders", "customers"]);
        assert_eq!(s.reads[0].columns, vec!["amount", "cid", "id"]);
        assert_eq!(s.writes[0].columns, vec!["id", "total"]);
    }

    #[test]
    fn errors_have_positions_in_the_whole_script() {
        let a = analyze("SELECT 1;\nSELECT FROM WHERE;\nCREATE TABLE t AS SELECT a FROM s", "duckdb");
        assert!(!a.valid);
        assert_eq!(a.statements.len(), 3);
        let e = a.statements[1].error.as_ref().unwrap();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(a.statements[2].valid);
        assert_eq!(tables(&a.statements[2].reads), vec!["s"]);
        assert_eq!(a.inputs, vec!["s"]);
        assert_eq!(a.outputs, vec!["t"]);
    }

    #[test]
    fn ctes_are_not_tables() {
        let a = analyze("WITH x AS (SELECT id FROM src) SELECT id FROM x", "generic");
        assert_eq!(tables(&a.statements[0].reads), vec!["src"]);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let sql = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        let a = analyze(&sql, "generic");
        assert!(!a.valid);
    }
}
