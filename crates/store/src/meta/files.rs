//! File records of File Storage (the metadata; the content lies in the blob store): the records,
//! the repository trait with its typed search, its SQLite implementation and the conformance suite
//! (`file_record_store_suite!`).
use crate::meta::Cached;
use rusqlite::OptionalExtension;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::conditions::{Where, text};
use super::{SqliteMetaStore, json_col};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{FileId, ProjectId, Scope, TokenId};

#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub is_sliced: bool,
    /// Blob name (non-sliced) or blob-name prefix (sliced: slices are `<prefix><slice>`, manifest `<prefix>manifest`).
    pub blob_path: String,
    pub size_bytes: Option<i64>,
    pub branch_id: i64,
    pub content_type: Option<String>,
    pub is_public: bool,
    pub is_encrypted: bool,
    pub is_permanent: bool,
    pub created: String,
    /// Unix seconds; `None` for permanent files.
    pub expires_at: Option<i64>,
    pub creator_token_id: i64,
    pub creator_description: String,
    pub run_id: Option<String>,
    /// The run and its parents (`1.2` → `1`, `1.2`).
    pub run_ids: Vec<String>,
    pub tags: Vec<String>,
}

/// What a new file record is made of; the store gives it its id and blob path.
#[derive(Debug, Clone)]
pub struct NewFileRecord {
    pub scope: Scope,
    pub name: String,
    pub size_bytes: Option<i64>,
    pub content_type: Option<String>,
    pub is_public: bool,
    pub is_sliced: bool,
    pub is_encrypted: bool,
    pub is_permanent: bool,
    pub created: String,
    pub expires_at: Option<i64>,
    pub creator_token_id: TokenId,
    pub creator_description: String,
    pub run_id: Option<String>,
    pub run_ids: Vec<String>,
    pub tags: Vec<String>,
}

/// A parsed `q` of the files listing: what each term matches. Globs take `*` (any run) and `?`
/// (one character), everything else literally.
#[derive(Debug, Clone, PartialEq)]
pub enum FileQuery {
    Or(Vec<FileQuery>),
    And(Vec<FileQuery>),
    Not(Box<FileQuery>),
    /// A term without a field: the name matches it (as `Name`), a tag matches it (as `Tag`), or it
    /// is the id.
    Any(String),
    /// One of the tags matches the glob, case-sensitively.
    Tag(String),
    /// The name contains the text, or matches it whole when it has glob characters; ignoring case.
    Name(String),
    /// The id, written exactly so (`7`, not `07`).
    Id(String),
    /// The file's run or one of its parent runs.
    Run(String),
    Flag(FileFlag, bool),
    /// The creator token's id, written exactly so.
    CreatorTokenId(String),
    /// The creator token's description, matched as `Name` matches the name.
    CreatorTokenDescription(String),
    /// Matches no file: a field files do not have, a flag compared with no boolean.
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFlag {
    Sliced,
    Public,
    Permanent,
    Encrypted,
}

/// One page of the files a search finds: the project's files (or one creator's) matching every
/// filter given, newest first.
#[derive(Debug, Clone, Copy)]
pub struct FileSearch<'a> {
    pub project: ProjectId,
    /// Only the files this token created.
    pub creator: Option<TokenId>,
    /// Only ids above this one.
    pub since_id: Option<FileId>,
    /// Only ids below this one.
    pub max_id: Option<FileId>,
    /// Files having one or more of these tags; empty: any file.
    pub any_tags: &'a [String],
    /// The file's run or one of its parent runs.
    pub run_id: Option<&'a str>,
    pub query: Option<&'a FileQuery>,
    /// Only files not expired at this unix time; `None`: expired files too.
    pub alive_at: Option<i64>,
    pub offset: usize,
    pub limit: usize,
}

pub trait FileRecordStore {
    /// Store a new file under the next file id, in one transaction; `blob_path_for(id)` names its
    /// blob (or blob prefix). Ids are never reused, even after a delete: a SAS issued for a deleted
    /// file must not open a new one.
    fn insert_file(&self, file: &NewFileRecord, blob_path_for: &dyn Fn(FileId) -> String) -> ApiResult<FileId>;
    fn file(&self, project: ProjectId, id: FileId) -> ApiResult<Option<FileRecord>>;
    fn search_files(&self, search: &FileSearch) -> ApiResult<Vec<FileRecord>>;
    fn set_file_size(&self, id: FileId, size_bytes: i64) -> ApiResult<()>;
    fn set_file_tags(&self, id: FileId, tags: &[String]) -> ApiResult<()>;
    fn delete_file(&self, id: FileId) -> ApiResult<()>;
}

pub(crate) const FILE_COLUMNS: &str = "id, project_id, name, is_sliced, blob_path, size_bytes, branch_id, content_type, \
    is_public, is_encrypted, is_permanent, created, expires_at, creator_token_id, creator_description, run_id, \
    run_ids, tags";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        id: r.get(0)?,
        project_id: r.get(1)?,
        name: r.get(2)?,
        is_sliced: r.get(3)?,
        blob_path: r.get(4)?,
        size_bytes: r.get(5)?,
        branch_id: r.get(6)?,
        content_type: r.get(7)?,
        is_public: r.get(8)?,
        is_encrypted: r.get(9)?,
        is_permanent: r.get(10)?,
        created: r.get(11)?,
        expires_at: r.get(12)?,
        creator_token_id: r.get(13)?,
        creator_description: r.get(14)?,
        run_id: r.get(15)?,
        run_ids: string_list(r.get(16)?),
        tags: string_list(r.get(17)?),
    })
}

pub(crate) fn string_list(text: Option<String>) -> Vec<String> {
    match json_col(text) {
        Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// The file's run or a parent run: `run_id` or an element of `run_ids` (two parameters).
fn in_run(pg: bool) -> &'static str {
    if pg {
        "(run_id IS NOT DISTINCT FROM ? OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(files.run_ids::jsonb) AS r(value) WHERE r.value = ?))"
    } else {
        "(run_id IS ? OR EXISTS (SELECT 1 FROM json_each(files.run_ids) AS r WHERE r.value = ?))"
    }
}

/// The elements of a JSON list column, as a table with a `value` column named `alias`.
fn json_items(column: &str, alias: &str, pg: bool) -> String {
    if pg { format!("jsonb_array_elements_text({column}::jsonb) AS {alias}(value)") } else { format!("json_each({column}) AS {alias}") }
}

/// The condition of `q`, its parameters appended to `args` in placeholder order. Every condition
/// is true or false, never NULL, so that `NOT` inverts it.
fn query_sql(q: &FileQuery, args: &mut Vec<SqlValue>, pg: bool) -> String {
    match q {
        FileQuery::Or(items) => balanced(items, "OR", args, pg),
        FileQuery::And(items) => balanced(items, "AND", args, pg),
        FileQuery::Not(inner) => format!("NOT ({})", query_sql(inner, args, pg)),
        FileQuery::Any(value) => {
            let name = text_match("name", value, args, pg);
            let tag = tag_glob(value, args, pg);
            args.push(text(value.as_str()));
            format!("({name} OR {tag} OR CAST(id AS TEXT) = ?)")
        }
        FileQuery::Tag(value) => tag_glob(value, args, pg),
        FileQuery::Name(value) => text_match("name", value, args, pg),
        FileQuery::Id(value) => {
            args.push(text(value.as_str()));
            "CAST(id AS TEXT) = ?".into()
        }
        FileQuery::Run(value) => {
            args.extend([text(value.as_str()), text(value.as_str())]);
            in_run(pg).into()
        }
        FileQuery::Flag(flag, value) => {
            let column = match flag {
                FileFlag::Sliced => "is_sliced",
                FileFlag::Public => "is_public",
                FileFlag::Permanent => "is_permanent",
                FileFlag::Encrypted => "is_encrypted",
            };
            args.push(SqlValue::Integer(i64::from(*value)));
            format!("{column} = ?")
        }
        FileQuery::CreatorTokenId(value) => {
            args.push(text(value.as_str()));
            "CAST(creator_token_id AS TEXT) = ?".into()
        }
        FileQuery::CreatorTokenDescription(value) => text_match("creator_description", value, args, pg),
        FileQuery::Nothing => "1 = 0".into(),
    }
}

/// `items` joined with `op` as a balanced tree: SQLite caps an expression's depth, and a long run
/// of juxtaposed terms would otherwise nest one level per term.
fn balanced(items: &[FileQuery], op: &str, args: &mut Vec<SqlValue>, pg: bool) -> String {
    match items {
        [] if op == "AND" => "1 = 1".into(),
        [] => "1 = 0".into(),
        [one] => query_sql(one, args, pg),
        _ => {
            let (left, right) = items.split_at(items.len() / 2);
            let left = balanced(left, op, args, pg);
            let right = balanced(right, op, args, pg);
            format!("({left} {op} {right})")
        }
    }
}

/// Analyzed-text match, approximated: the lower-cased column contains the lower-cased value, or
/// matches it whole as a glob. (SQLite's `lower` folds ASCII letters only.)
fn text_match(column: &str, value: &str, args: &mut Vec<SqlValue>, pg: bool) -> String {
    let value = value.to_lowercase();
    if value.contains(['*', '?']) {
        args.push(text(glob(&value, pg)));
        format!("lower({column}) {} ?", glob_op(pg))
    } else {
        args.push(text(value));
        if pg { format!("strpos(lower({column}), ?) > 0") } else { format!("instr(lower({column}), ?) > 0") }
    }
}

fn tag_glob(value: &str, args: &mut Vec<SqlValue>, pg: bool) -> String {
    if pg && !value.contains(['*', '?']) {
        // A tag without wildcards is a plain comparison (a regular expression costs a compile).
        args.push(text(value));
        return "jsonb_exists(files.tags::jsonb, ?)".into();
    }
    args.push(text(glob(value, pg)));
    format!("EXISTS (SELECT 1 FROM {} WHERE t.value {} ?)", json_items("files.tags", "t", pg), glob_op(pg))
}

/// A pattern where `*` and `?` are the only wildcards: SQLite's GLOB with `[` made literal, or an
/// anchored regular expression for PostgreSQL (which has no GLOB).
fn glob(pattern: &str, pg: bool) -> String {
    if !pg {
        return sqlite_glob(pattern);
    }
    let mut re = String::from("^");
    for ch in pattern.chars() {
        match ch {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c if c.is_ascii_alphanumeric() || !c.is_ascii() => re.push(c),
            c => {
                re.push('\\');
                re.push(c);
            }
        }
    }
    re.push('$');
    re
}

fn glob_op(pg: bool) -> &'static str {
    if pg { "~" } else { "GLOB" }
}

/// A glob of `*` and `?` as a SQLite GLOB pattern: `[` opens a character class there, so it is
/// written as the class holding just `[`.
fn sqlite_glob(glob: &str) -> String {
    glob.replace('[', "[[]")
}

fn page_bound(n: usize) -> SqlValue {
    SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The SELECT of a search (`?` marks) and its parameters; `pg`: in PostgreSQL's dialect.
pub(crate) fn search_sql(s: &FileSearch, pg: bool) -> (String, Vec<SqlValue>) {
    let mut w = Where::default();
    w.pg = pg;
    w.push("project_id = ?", [SqlValue::Integer(s.project.get())]);
    if let Some(creator) = s.creator {
        w.push("creator_token_id = ?", [SqlValue::Integer(creator.get())]);
    }
    if let Some(since) = s.since_id {
        w.push("id > ?", [SqlValue::Integer(since.get())]);
    }
    if let Some(max) = s.max_id {
        w.push("id < ?", [SqlValue::Integer(max.get())]);
    }
    if !s.any_tags.is_empty() {
        let placeholders = vec!["?"; s.any_tags.len()].join(", ");
        w.push(
            &format!("EXISTS (SELECT 1 FROM {} WHERE t.value IN ({placeholders}))", json_items("files.tags", "t", pg)),
            s.any_tags.iter().map(|t| text(t.as_str())),
        );
    }
    if let Some(run) = s.run_id {
        w.push(in_run(pg), [text(run), text(run)]);
    }
    if let Some(now) = s.alive_at {
        w.push("(expires_at IS NULL OR expires_at > ?)", [SqlValue::Integer(now)]);
    }
    if let Some(q) = s.query {
        let mut args = Vec::new();
        let sql = query_sql(q, &mut args, pg);
        w.push(&sql, args);
    }
    let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE {} ORDER BY id DESC LIMIT ? OFFSET ?", w.sql());
    let args = w.args.into_iter().chain([page_bound(s.limit), page_bound(s.offset)]).collect();
    (sql, args)
}

impl FileRecordStore for SqliteMetaStore {
    fn insert_file(&self, f: &NewFileRecord, blob_path_for: &dyn Fn(FileId) -> String) -> ApiResult<FileId> {
        self.tx(|tx| {
            // The sequence starts above the highest id a data dir from before the sequence holds.
            let id: i64 = tx.query_row_cached(
                "INSERT INTO sequences (name, value) VALUES ('files', (SELECT COALESCE(MAX(id), 0) + 1 FROM files)) \
                 ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                [],
                |r| r.get(0),
            )?;
            tx.execute_cached(
                "INSERT INTO files (id, project_id, branch_id, name, size_bytes, content_type, is_public, is_sliced, \
                 is_encrypted, is_permanent, created, expires_at, creator_token_id, creator_description, run_id, run_ids, \
                 blob_path, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                rusqlite::params![
                    id,
                    f.scope.project.get(),
                    f.scope.branch.get(),
                    f.name,
                    f.size_bytes,
                    f.content_type,
                    f.is_public,
                    f.is_sliced,
                    f.is_encrypted,
                    f.is_permanent,
                    f.created,
                    f.expires_at,
                    f.creator_token_id.get(),
                    f.creator_description,
                    f.run_id,
                    json!(f.run_ids).to_string(),
                    blob_path_for(FileId(id)),
                    json!(f.tags).to_string(),
                ],
            )?;
            Ok(FileId(id))
        })
    }

    fn file(&self, project: ProjectId, id: FileId) -> ApiResult<Option<FileRecord>> {
        self.with(|c| {
            c.query_row_cached(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1 AND project_id = ?2"), [id.get(), project.get()], from_row)
                .optional()
        })
    }

    fn search_files(&self, s: &FileSearch) -> ApiResult<Vec<FileRecord>> {
        let (sql, args) = search_sql(s, false);
        self.with(|c| {
            let mut st = c.prepare_cached(&sql)?;
            st.query_map(rusqlite::params_from_iter(args), from_row)?.collect()
        })
    }

    fn set_file_size(&self, id: FileId, size_bytes: i64) -> ApiResult<()> {
        self.with(|c| c.execute_cached("UPDATE files SET size_bytes = ?1 WHERE id = ?2", [size_bytes, id.get()]))?;
        Ok(())
    }

    fn set_file_tags(&self, id: FileId, tags: &[String]) -> ApiResult<()> {
        self.with(|c| c.execute_cached("UPDATE files SET tags = ?1 WHERE id = ?2", rusqlite::params![json!(tags).to_string(), id.get()]))?;
        Ok(())
    }

    fn delete_file(&self, id: FileId) -> ApiResult<()> {
        self.with(|c| c.execute_cached("DELETE FROM files WHERE id = ?1", [id.get()]))?;
        Ok(())
    }
}

/// The behaviour every `FileRecordStore` must have; `file_record_store_suite!` runs each check as
/// a named test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::tokens::ProjectStore;

    fn projects<S: ProjectStore>(s: &S) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
    }

    fn new_file(project: i64, name: &str, creator: i64) -> NewFileRecord {
        NewFileRecord {
            scope: Scope::new(project, 10),
            name: name.into(),
            size_bytes: None,
            content_type: None,
            is_public: false,
            is_sliced: false,
            is_encrypted: true,
            is_permanent: true,
            created: "2026-01-01T00:00:00+0000".into(),
            expires_at: None,
            creator_token_id: TokenId(creator),
            creator_description: format!("token {creator}"),
            run_id: None,
            run_ids: vec![],
            tags: vec![],
        }
    }

    fn insert<S: FileRecordStore>(s: &S, f: &NewFileRecord) -> i64 {
        let project = f.scope.project;
        s.insert_file(f, &|id| format!("p{project}/f{id}/{}", f.name)).unwrap().get()
    }

    fn everything(project: i64) -> FileSearch<'static> {
        FileSearch {
            project: ProjectId(project),
            creator: None,
            since_id: None,
            max_id: None,
            any_tags: &[],
            run_id: None,
            query: None,
            alive_at: None,
            offset: 0,
            limit: usize::MAX,
        }
    }

    fn ids<S: FileRecordStore>(s: &S, search: &FileSearch) -> Vec<i64> {
        s.search_files(search).unwrap().into_iter().map(|f| f.id).collect()
    }

    pub fn insert_and_find<S: ProjectStore + FileRecordStore>(s: &S) {
        projects(s);
        let mut f = new_file(1, "orders.csv", 3);
        f.size_bytes = Some(12);
        f.content_type = Some("text/csv".into());
        f.is_public = true;
        f.is_sliced = true;
        f.is_permanent = false;
        f.expires_at = Some(4_102_444_800);
        f.run_id = Some("1.2".into());
        f.run_ids = vec!["1".into(), "1.2".into()];
        f.tags = vec!["b".into(), "a".into()];
        let id = insert(s, &f);
        let stored = s.file(ProjectId(1), FileId(id)).unwrap().expect("stored");
        assert_eq!(
            stored,
            FileRecord {
                id,
                project_id: 1,
                name: "orders.csv".into(),
                is_sliced: true,
                blob_path: format!("p1/f{id}/orders.csv"),
                size_bytes: Some(12),
                branch_id: 10,
                content_type: Some("text/csv".into()),
                is_public: true,
                is_encrypted: true,
                is_permanent: false,
                created: "2026-01-01T00:00:00+0000".into(),
                expires_at: Some(4_102_444_800),
                creator_token_id: 3,
                creator_description: "token 3".into(),
                run_id: Some("1.2".into()),
                run_ids: vec!["1".into(), "1.2".into()],
                tags: vec!["b".into(), "a".into()],
            }
        );
        assert_eq!(s.file(ProjectId(2), FileId(id)).unwrap(), None, "another project's file is not found");
        assert_eq!(s.file(ProjectId(1), FileId(id + 1000)).unwrap(), None);
    }

    pub fn update_delete_and_ids_never_reused<S: ProjectStore + FileRecordStore>(s: &S) {
        projects(s);
        let first = insert(s, &new_file(1, "a.csv", 1));
        let kept = insert(s, &new_file(2, "b.csv", 1));
        s.set_file_size(FileId(first), 42).unwrap();
        s.set_file_tags(FileId(first), &["x".into(), "y".into()]).unwrap();
        let changed = s.file(ProjectId(1), FileId(first)).unwrap().unwrap();
        assert_eq!((changed.size_bytes, changed.tags), (Some(42), vec!["x".to_string(), "y".to_string()]));

        s.delete_file(FileId(first)).unwrap();
        assert_eq!(s.file(ProjectId(1), FileId(first)).unwrap(), None);
        assert!(s.file(ProjectId(2), FileId(kept)).unwrap().is_some(), "other files stay");
        let last = insert(s, &new_file(1, "c.csv", 1));
        let next = insert(s, &new_file(1, "d.csv", 1));
        s.delete_file(FileId(next)).unwrap();
        let after_delete = insert(s, &new_file(1, "e.csv", 1));
        assert!(last > kept && kept > first, "ids increase across projects");
        assert!(after_delete > next, "the id of a deleted file is not given again");
    }

    pub fn search_per_project_and_creator_newest_first_in_pages<S: ProjectStore + FileRecordStore>(s: &S) {
        projects(s);
        let a = insert(s, &new_file(1, "a.csv", 1));
        let b = insert(s, &new_file(1, "b.csv", 2));
        let other = insert(s, &new_file(2, "c.csv", 1));
        let c = insert(s, &new_file(1, "d.csv", 1));
        assert_eq!(ids(s, &everything(1)), vec![c, b, a]);
        assert_eq!(ids(s, &everything(2)), vec![other]);
        assert_eq!(ids(s, &FileSearch { creator: Some(TokenId(1)), ..everything(1) }), vec![c, a]);
        assert_eq!(ids(s, &FileSearch { since_id: Some(FileId(a)), ..everything(1) }), vec![c, b]);
        assert_eq!(ids(s, &FileSearch { max_id: Some(FileId(c)), ..everything(1) }), vec![b, a]);
        assert_eq!(ids(s, &FileSearch { offset: 1, limit: 1, ..everything(1) }), vec![b]);
        assert_eq!(ids(s, &FileSearch { offset: 3, ..everything(1) }), Vec::<i64>::new());
        assert_eq!(ids(s, &FileSearch { limit: 0, ..everything(1) }), Vec::<i64>::new());
    }

    pub fn search_by_tags_run_and_expiry<S: ProjectStore + FileRecordStore>(s: &S) {
        projects(s);
        let mut tagged = new_file(1, "tagged.csv", 1);
        tagged.tags = vec!["a".into(), "b".into()];
        tagged.run_id = Some("7.8".into());
        tagged.run_ids = vec!["7".into(), "7.8".into()];
        let tagged = insert(s, &tagged);
        let mut expiring = new_file(1, "old.csv", 1);
        expiring.is_permanent = false;
        expiring.expires_at = Some(1_000);
        expiring.tags = vec!["c".into()];
        let expiring = insert(s, &expiring);
        let plain = insert(s, &new_file(1, "plain.csv", 1));
        let tags = |t: &[&str]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let (ab, c, zz) = (tags(&["b", "zz"]), tags(&["c", "a"]), tags(&["zz"]));
        assert_eq!(ids(s, &FileSearch { any_tags: &ab, ..everything(1) }), vec![tagged], "one of the tags is enough");
        assert_eq!(ids(s, &FileSearch { any_tags: &c, ..everything(1) }), vec![expiring, tagged]);
        assert_eq!(ids(s, &FileSearch { any_tags: &zz, ..everything(1) }), Vec::<i64>::new());
        assert_eq!(ids(s, &FileSearch { run_id: Some("7"), ..everything(1) }), vec![tagged], "a parent run");
        assert_eq!(ids(s, &FileSearch { run_id: Some("7.8"), ..everything(1) }), vec![tagged]);
        assert_eq!(ids(s, &FileSearch { run_id: Some("8"), ..everything(1) }), Vec::<i64>::new());
        assert_eq!(ids(s, &FileSearch { alive_at: Some(999), ..everything(1) }), vec![plain, expiring, tagged]);
        assert_eq!(ids(s, &FileSearch { alive_at: Some(1_000), ..everything(1) }), vec![plain, tagged], "expired at its time");
    }

    pub fn search_by_query<S: ProjectStore + FileRecordStore>(s: &S) {
        projects(s);
        let mut users = new_file(1, "users.csv", 5);
        users.tags = vec!["a".into(), "py-test".into(), "x[1]".into()];
        users.creator_description = "Ünïcode Reader".into();
        users.is_sliced = true;
        users.run_id = Some("3".into());
        users.run_ids = vec!["3".into()];
        let users = insert(s, &users);
        let mut orders = new_file(1, "orders.csv", 6);
        orders.tags = vec!["b".into()];
        let orders = insert(s, &orders);
        let hits = |q: FileQuery| ids(s, &FileSearch { query: Some(&q), ..everything(1) });
        let tag = |t: &str| FileQuery::Tag(t.into());
        let none = Vec::<i64>::new();

        assert_eq!(hits(tag("a")), vec![users]);
        assert_eq!(hits(tag("py-*")), vec![users], "tag globs");
        assert_eq!(hits(tag("py-tes?")), vec![users]);
        assert_eq!(hits(tag("py")), none, "a tag matches whole");
        assert_eq!(hits(tag("A")), none, "tags are case-sensitive");
        assert_eq!(hits(tag("x[1]")), vec![users], "[ is no character class");
        assert_eq!(hits(FileQuery::Name("USERS".into())), vec![users], "names match ignoring case");
        assert_eq!(hits(FileQuery::Name("ers".into())), vec![orders, users], "inside the name");
        assert_eq!(hits(FileQuery::Name("user*".into())), vec![users], "a glob matches the whole name");
        assert_eq!(hits(FileQuery::Name("user?".into())), none);
        assert_eq!(hits(FileQuery::Any("b".into())), vec![orders], "a tag");
        assert_eq!(hits(FileQuery::Any("orders".into())), vec![orders], "a name");
        assert_eq!(hits(FileQuery::Any(users.to_string())), vec![users], "the id");
        assert_eq!(hits(FileQuery::Id(users.to_string())), vec![users]);
        assert_eq!(hits(FileQuery::Id(format!("0{users}"))), none);
        assert_eq!(hits(FileQuery::Run("3".into())), vec![users]);
        assert_eq!(hits(FileQuery::Flag(FileFlag::Sliced, true)), vec![users]);
        assert_eq!(hits(FileQuery::Flag(FileFlag::Sliced, false)), vec![orders]);
        assert_eq!(hits(FileQuery::Flag(FileFlag::Encrypted, true)), vec![orders, users]);
        assert_eq!(hits(FileQuery::Flag(FileFlag::Public, true)), none);
        assert_eq!(hits(FileQuery::Flag(FileFlag::Permanent, true)), vec![orders, users]);
        assert_eq!(hits(FileQuery::CreatorTokenId("6".into())), vec![orders]);
        assert_eq!(hits(FileQuery::CreatorTokenDescription("reader".into())), vec![users]);
        assert_eq!(hits(FileQuery::Nothing), none);

        assert_eq!(hits(FileQuery::And(vec![tag("a"), tag("py-test")])), vec![users]);
        assert_eq!(hits(FileQuery::And(vec![tag("a"), tag("b")])), none);
        assert_eq!(hits(FileQuery::Or(vec![tag("a"), tag("b")])), vec![orders, users]);
        assert_eq!(hits(FileQuery::Not(Box::new(tag("a")))), vec![orders]);
        assert_eq!(hits(FileQuery::Not(Box::new(FileQuery::Run("3".into())))), vec![orders], "a file without a run is in no run");
        let many: Vec<FileQuery> = (0..2_000).map(|n| tag(&format!("t{n}"))).chain([tag("b")]).collect();
        assert_eq!(hits(FileQuery::Or(many)), vec![orders], "a long run of terms");
    }
}

#[macro_export]
macro_rules! file_record_store_suite {
    ($make:expr) => {
        #[test]
        fn file_record_store_insert_and_find() {
            $crate::meta::files::suite::insert_and_find(&$make());
        }
        #[test]
        fn file_record_store_update_delete_and_ids_never_reused() {
            $crate::meta::files::suite::update_delete_and_ids_never_reused(&$make());
        }
        #[test]
        fn file_record_store_search_per_project_and_creator_newest_first_in_pages() {
            $crate::meta::files::suite::search_per_project_and_creator_newest_first_in_pages(&$make());
        }
        #[test]
        fn file_record_store_search_by_tags_run_and_expiry() {
            $crate::meta::files::suite::search_by_tags_run_and_expiry(&$make());
        }
        #[test]
        fn file_record_store_search_by_query() {
            $crate::meta::files::suite::search_by_query(&$make());
        }
    };
}
