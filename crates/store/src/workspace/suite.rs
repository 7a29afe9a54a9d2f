//! The behaviour every `WorkspaceBackend` must have; `workspace_backend_suite!` runs each check
//! as a named test against a fresh `Fixture`.
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::{LoadColumn, WorkspaceBackend, WorkspaceLoad, schema_name};
use crate::backend::{BackendError, ColumnDef, CsvSource, Filter, LoadSpec, Operator, Select, TableBackend, TableLocation};
use kbstack_core::Code;

pub struct Fixture {
    pub tables: Arc<dyn TableBackend>,
    pub workspaces: Box<dyn WorkspaceBackend>,
    /// Files a workspace's SQL must not open: the table backend's database, other workspaces'.
    pub private_files: Vec<PathBuf>,
    pub dir: tempfile::TempDir,
}

fn storage_table(f: &Fixture) -> TableLocation {
    let loc = TableLocation { project_id: 1, branch_id: 1, bucket_id: "in.c-ws".into(), table: "people".into() };
    let cols: Vec<ColumnDef> = ["id", "name", "city"].iter().map(|c| ColumnDef::untyped(c)).collect();
    f.tables.create_table(&loc, &cols, false).unwrap();
    let path = f.dir.path().join("people.csv");
    std::fs::File::create(&path).unwrap().write_all(b"id,name,city\n1,Ann,Prague\n2,Bob,Brno\n3,Cid,Prague\n").unwrap();
    let source = CsvSource {
        paths: vec![path],
        delimiter: ',',
        enclosure: Some('"'),
        escaped_by: None,
        columns: vec!["id".into(), "name".into(), "city".into()],
        has_header: true,
    };
    let spec = LoadSpec { source, incremental: false, primary_key: vec![], typed: false, timestamp: chrono::Utc::now(), once_key: None };
    f.tables.load(&loc, &spec).unwrap();
    loc
}

fn whole(source: &TableLocation, destination: &str) -> WorkspaceLoad {
    WorkspaceLoad { source: source.clone(), destination: destination.into(), select: Select::default(), columns: vec![], overwrite: false }
}

fn rows(ws: &dyn WorkspaceBackend, id: i64, sql: &str) -> Vec<Vec<Option<String>>> {
    ws.execute(id, sql, 1000).unwrap_or_else(|e| panic!("{sql}: {e}")).rows
}

fn code(e: BackendError) -> Code {
    match e {
        BackendError::UserError(_, code) => code,
        BackendError::Internal(msg) => panic!("expected a user error, got internal: {msg}"),
    }
}

fn refused(ws: &dyn WorkspaceBackend, id: i64, sql: &str) {
    match ws.execute(id, sql, 10) {
        Ok(r) => panic!("workspace SQL must be refused: {sql} returned {:?}", r.rows),
        Err(e) => assert_eq!(code(e), Code::WorkspaceQueryFailed, "{sql}"),
    }
}

pub fn created_used_and_dropped(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    ws.create(1).unwrap();
    assert!(ws.tables(1).unwrap().is_empty());
    ws.execute(1, "CREATE TABLE scratch AS SELECT 1 AS a, 'x' AS b", 10).unwrap();
    let tables = ws.tables(1).unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].name, "scratch");
    assert_eq!(tables[0].columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
    // Unqualified and schema-qualified names both reach the workspace's schema.
    assert_eq!(rows(ws, 1, &format!("SELECT b FROM \"{}\".scratch", schema_name(1))), vec![vec![Some("x".to_string())]]);
    ws.remove(1).unwrap();
    assert_eq!(code(ws.tables(1).unwrap_err()), Code::WorkspaceNotFound);
    assert_eq!(code(ws.execute(1, "SELECT 1", 1).unwrap_err()), Code::WorkspaceNotFound);
    ws.remove(1).unwrap();
}

pub fn loads_chosen_columns_and_filtered_rows(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    let src = storage_table(f);
    ws.create(1).unwrap();
    let load = WorkspaceLoad {
        select: Select {
            filters: vec![Filter { column: "city".into(), operator: Operator::Eq, values: vec!["Prague".into()], data_type: None }],
            ..Select::default()
        },
        columns: vec![
            LoadColumn { source: "id".into(), destination: "id".into(), data_type: Some("INTEGER".into()) },
            LoadColumn { source: "name".into(), destination: "person".into(), data_type: None },
        ],
        ..whole(&src, "prague")
    };
    assert_eq!(ws.load(1, &load).unwrap(), 2);
    let r = ws.execute(1, "SELECT id, person FROM prague ORDER BY id", 10).unwrap();
    assert_eq!(r.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect::<Vec<_>>(), vec![("id", "BIGINT"), ("person", "VARCHAR")]);
    assert_eq!(r.rows, vec![vec![Some("1".into()), Some("Ann".into())], vec![Some("3".into()), Some("Cid".into())]]);
    // The whole table under its own column names.
    assert_eq!(ws.load(1, &whole(&src, "everyone")).unwrap(), 3);
    let tables = ws.tables(1).unwrap();
    let everyone = tables.iter().find(|t| t.name == "everyone").expect("loaded");
    assert_eq!(everyone.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), vec!["id", "name", "city"]);
    // A column the table does not have is the caller's error.
    let bad = WorkspaceLoad { columns: vec![LoadColumn { source: "nope".into(), destination: "nope".into(), data_type: None }], ..whole(&src, "bad") };
    assert_eq!(code(ws.load(1, &bad).unwrap_err()), Code::ColumnNotExists);
}

pub fn existing_tables_kept_replaced_or_cleared(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    let src = storage_table(f);
    ws.create(1).unwrap();
    ws.load(1, &whole(&src, "t")).unwrap();
    assert_eq!(code(ws.load(1, &whole(&src, "t")).unwrap_err()), Code::WorkspaceTableExists);
    let limited = WorkspaceLoad { overwrite: true, select: Select { limit: Some(1), ..Select::default() }, ..whole(&src, "t") };
    assert_eq!(ws.load(1, &limited).unwrap(), 1);
    ws.load(1, &whole(&src, "u")).unwrap();
    ws.execute(1, "CREATE SCHEMA own", 10).unwrap();
    ws.execute(1, "CREATE TABLE own.x AS SELECT 1 AS a", 10).unwrap();
    ws.clear(1).unwrap();
    assert!(ws.tables(1).unwrap().is_empty());
    refused(ws, 1, "SELECT * FROM own.x");
    assert_eq!(code(f.workspaces.clear(99).unwrap_err()), Code::WorkspaceNotFound);
}

pub fn exports_a_table_as_csv_with_header(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    ws.create(1).unwrap();
    ws.execute(1, "CREATE TABLE out AS SELECT * FROM (VALUES (1, 'a \"q\"', NULL), (2, 'b', 'x')) v(id, txt, maybe)", 10).unwrap();
    let dir = f.dir.path().join("export");
    std::fs::create_dir_all(&dir).unwrap();
    let src = ws.export(1, "out", &dir).unwrap();
    assert_eq!(src.columns, vec!["id", "txt", "maybe"]);
    assert!(src.has_header);
    let text: String = src.paths.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["\"1\",\"a \"\"q\"\"\",", "\"2\",\"b\",\"x\"", "\"id\",\"txt\",\"maybe\""]);
    assert_eq!(code(ws.export(1, "missing", &dir).unwrap_err()), Code::WorkspaceTableNotFound);
}

pub fn results_are_capped(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    ws.create(1).unwrap();
    let r = ws.execute(1, "SELECT * FROM range(5000) t(n)", 10).unwrap();
    assert_eq!(r.rows.len(), 10);
    assert!(r.truncated);
    let r = ws.execute(1, "SELECT 42 AS answer, NULL::VARCHAR AS nothing", 10).unwrap();
    assert_eq!(r.rows, vec![vec![Some("42".into()), None]]);
    assert!(!r.truncated);
    assert_eq!(code(ws.execute(1, "SELEC nonsense", 10).unwrap_err()), Code::WorkspaceQueryFailed);
}

/// SQL in a workspace reaches no file: not the system's, not the table backend's, not another
/// workspace's; and it cannot lift the restriction.
pub fn isolation_no_files_no_attach(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    ws.create(1).unwrap();
    ws.create(2).unwrap();
    refused(ws, 1, "SELECT * FROM read_csv('/etc/passwd')");
    refused(ws, 1, "SELECT * FROM read_text('/etc/passwd')");
    refused(ws, 1, "SELECT * FROM '/etc/passwd'");
    let written = f.dir.path().join("leak.csv");
    refused(ws, 1, &format!("COPY (SELECT 1) TO '{}'", written.display()));
    assert!(!written.exists(), "nothing written outside the workspace");
    for file in &f.private_files {
        refused(ws, 1, &format!("ATTACH '{}' AS other", file.display()));
        refused(ws, 1, &format!("ATTACH '{}' AS other (READ_ONLY)", file.display()));
    }
    refused(ws, 1, "SET enable_external_access = true");
    refused(ws, 1, "SET lock_configuration = false");
    refused(ws, 1, "INSTALL httpfs");
    refused(ws, 1, "LOAD httpfs");
}

/// A workspace sees only its own objects: not another workspace's tables, not Storage tables.
pub fn isolation_no_other_workspace_or_storage_table(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    let src = storage_table(f);
    ws.create(1).unwrap();
    ws.create(2).unwrap();
    ws.load(1, &whole(&src, "secret")).unwrap();
    refused(ws, 2, "SELECT * FROM secret");
    refused(ws, 2, &format!("SELECT * FROM \"{}\".secret", schema_name(1)));
    refused(ws, 2, "SELECT * FROM \"kbws_1\".\"WORKSPACE_1\".secret");
    refused(ws, 2, &format!("SELECT * FROM \"{}\".\"{}\".secret", super::database_name(1), schema_name(1)));
    refused(ws, 2, "SELECT * FROM \"p1_b1_in.c-ws\".people");
    let visible = rows(ws, 2, "SELECT database_name || '.' || schema_name || '.' || table_name FROM duckdb_tables()");
    assert!(visible.is_empty(), "workspace 2 sees {visible:?}");
    let databases = rows(ws, 2, "SELECT database_name FROM duckdb_databases() WHERE NOT internal");
    assert_eq!(databases.len(), 1, "only its own database: {databases:?}");
    // And the workspace that loaded it does see it.
    assert_eq!(rows(ws, 1, "SELECT count(*) FROM secret"), vec![vec![Some("3".into())]]);
}

/// A Storage table mirrored under its Keboola names is read as `"bucket"."table"` by that
/// workspace alone, and a newer mirror replaces the older one.
pub fn mirrors_storage_tables_under_their_names(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    let src = storage_table(f);
    ws.create(1).unwrap();
    ws.create(2).unwrap();
    assert_eq!(ws.mirror(1, &src, "in.c-ws", "people").unwrap(), 3);
    assert_eq!(rows(ws, 1, "SELECT name FROM \"in.c-ws\".\"people\" WHERE city = 'Brno'"), vec![vec![Some("Bob".into())]]);
    let columns = rows(ws, 1, "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'in.c-ws' ORDER BY column_index");
    assert_eq!(columns, vec![vec![Some("id".into())], vec![Some("name".into())], vec![Some("city".into())]], "no _timestamp");
    refused(ws, 2, "SELECT * FROM \"in.c-ws\".\"people\"");
    // Mirroring again replaces the copy (the Storage table may have changed meanwhile).
    ws.execute(1, "DELETE FROM \"in.c-ws\".\"people\"", 10).unwrap();
    assert_eq!(ws.mirror(1, &src, "in.c-ws", "people").unwrap(), 3);
    assert_eq!(rows(ws, 1, "SELECT count(*) FROM \"in.c-ws\".\"people\""), vec![vec![Some("3".into())]]);
}

// ---- Sessions (the Query service's jobs) ----

/// A sink that keeps what it is given (the Query service's writes pages to a file).
#[derive(Default)]
pub struct Collected {
    pub columns: Vec<super::ResultColumn>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl super::RowSink for Collected {
    fn columns(&mut self, columns: &[super::ResultColumn]) -> crate::backend::BackendResult<()> {
        self.columns = columns.to_vec();
        Ok(())
    }
    fn row(&mut self, values: &[Option<String>]) -> crate::backend::BackendResult<()> {
        self.rows.push(values.to_vec());
        Ok(())
    }
}

pub fn session_streams_rows_and_counts_changes(f: &Fixture) {
    use super::StatementOutcome;
    let ws = f.workspaces.as_ref();
    ws.create(1).unwrap();
    let mut outcomes = Vec::new();
    let mut sink = Collected::default();
    ws.session(1, &mut |s| {
        let mut ignored = Collected::default();
        outcomes.push(s.run("CREATE TABLE t (id INTEGER, name VARCHAR)", &mut ignored)?);
        outcomes.push(s.run("INSERT INTO t VALUES (1, 'a'), (2, NULL), (3, 'c')", &mut ignored)?);
        outcomes.push(s.run("UPDATE t SET name = 'b' WHERE id = 2", &mut ignored)?);
        assert!(ignored.columns.is_empty() && ignored.rows.is_empty(), "changes and DDL give no rows");
        outcomes.push(s.run("-- a comment\nSELECT id, name FROM t ORDER BY id", &mut sink)?);
        Ok(())
    })
    .unwrap();
    assert_eq!(outcomes, vec![StatementOutcome::Done, StatementOutcome::Affected(3), StatementOutcome::Affected(1), StatementOutcome::Rows(3)]);
    assert_eq!(sink.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect::<Vec<_>>(), vec![("id", "INTEGER"), ("name", "VARCHAR")]);
    assert_eq!(sink.rows[1], vec![Some("2".to_string()), Some("b".to_string())]);
    // A session's work outlives it (no transaction was opened).
    assert_eq!(rows(ws, 1, "SELECT count(*) FROM t"), vec![vec![Some("3".to_string())]]);
    // A session on a missing workspace is refused.
    assert_eq!(code(ws.session(42, &mut |_| Ok(())).unwrap_err()), Code::WorkspaceNotFound);
}

pub fn session_transaction_rolls_back(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    ws.create(1).unwrap();
    ws.execute(1, "CREATE TABLE kept (a INTEGER)", 1).unwrap();
    let failed = ws.session(1, &mut |s| {
        let mut sink = Collected::default();
        s.begin()?;
        s.run("INSERT INTO kept VALUES (1)", &mut sink)?;
        s.run("CREATE TABLE gone (a INTEGER)", &mut sink)?;
        let err = s.run("SELECT * FROM no_such_table", &mut sink);
        assert_eq!(code(err.unwrap_err()), Code::WorkspaceQueryFailed);
        s.rollback()?;
        s.rollback()?; // nothing open: not an error
        Ok(())
    });
    failed.unwrap();
    assert_eq!(rows(ws, 1, "SELECT count(*) FROM kept"), vec![vec![Some("0".to_string())]]);
    refused(ws, 1, "SELECT * FROM gone");
    ws.session(1, &mut |s| {
        s.begin()?;
        s.run("INSERT INTO kept VALUES (2)", &mut Collected::default())?;
        s.commit()
    })
    .unwrap();
    assert_eq!(rows(ws, 1, "SELECT count(*) FROM kept"), vec![vec![Some("1".to_string())]]);
    // An open transaction left by the caller is undone, not committed.
    ws.session(1, &mut |s| {
        s.begin()?;
        s.run("INSERT INTO kept VALUES (3)", &mut Collected::default()).map(|_| ())
    })
    .unwrap();
    assert_eq!(rows(ws, 1, "SELECT count(*) FROM kept"), vec![vec![Some("1".to_string())]]);
}

pub fn session_statement_interrupted(f: &Fixture) {
    let ws = f.workspaces.as_ref();
    ws.create(1).unwrap();
    let started = std::time::Instant::now();
    ws.session(1, &mut |s| {
        let interrupt = s.interrupter();
        let timer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            interrupt();
        });
        let err = s.run("SELECT count(*) FROM range(10000000000) a, range(100) b WHERE a.range * b.range = -1", &mut Collected::default());
        timer.join().unwrap();
        assert_eq!(code(err.unwrap_err()), Code::WorkspaceQueryFailed);
        // The session goes on after an interrupt.
        let mut sink = Collected::default();
        s.run("SELECT 42", &mut sink)?;
        assert_eq!(sink.rows, vec![vec![Some("42".to_string())]]);
        Ok(())
    })
    .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "interrupted, not run to the end");
}

#[macro_export]
macro_rules! workspace_backend_suite {
    ($make:expr) => {
        #[test]
        fn workspace_session_streams_rows_and_counts_changes() {
            $crate::workspace::suite::session_streams_rows_and_counts_changes(&$make());
        }
        #[test]
        fn workspace_session_transaction_rolls_back() {
            $crate::workspace::suite::session_transaction_rolls_back(&$make());
        }
        #[test]
        fn workspace_session_statement_interrupted() {
            $crate::workspace::suite::session_statement_interrupted(&$make());
        }
        #[test]
        fn workspace_mirrors_storage_tables_under_their_names() {
            $crate::workspace::suite::mirrors_storage_tables_under_their_names(&$make());
        }
        #[test]
        fn workspace_created_used_and_dropped() {
            $crate::workspace::suite::created_used_and_dropped(&$make());
        }
        #[test]
        fn workspace_loads_chosen_columns_and_filtered_rows() {
            $crate::workspace::suite::loads_chosen_columns_and_filtered_rows(&$make());
        }
        #[test]
        fn workspace_existing_tables_kept_replaced_or_cleared() {
            $crate::workspace::suite::existing_tables_kept_replaced_or_cleared(&$make());
        }
        #[test]
        fn workspace_exports_a_table_as_csv_with_header() {
            $crate::workspace::suite::exports_a_table_as_csv_with_header(&$make());
        }
        #[test]
        fn workspace_results_are_capped() {
            $crate::workspace::suite::results_are_capped(&$make());
        }
        #[test]
        fn workspace_isolation_no_files_no_attach() {
            $crate::workspace::suite::isolation_no_files_no_attach(&$make());
        }
        #[test]
        fn workspace_isolation_no_other_workspace_or_storage_table() {
            $crate::workspace::suite::isolation_no_other_workspace_or_storage_table(&$make());
        }
    };
}
