//! Table snapshots: the record of a table as it stood when snapshotted (definition and metadata;
//! its rows are a table copy in the table backend). Ids are unique across projects; every read
//! is scoped by project. The trait, its SQLite implementation and the conformance suite
//! (`snapshot_store_suite!`).
use rusqlite::OptionalExtension;
use serde_json::Value;

use super::{SqliteMetaStore, json_col};
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub id: i64,
    pub project_id: i64,
    /// The branch of the snapshotted table (its rows live under this branch in the backend).
    pub branch_id: i64,
    pub table_id: String,
    pub description: String,
    pub created: String,
    pub creator_token_id: i64,
    pub creator_description: String,
    pub primary_key: Vec<String>,
    pub columns: Vec<String>,
    pub is_typed: bool,
    pub definition: Value,
    /// The table's metadata items (`[{key, value, provider, …}]`) and its columns' (`{column: [...]}`).
    pub table_metadata: Value,
    pub column_metadata: Value,
}

pub trait SnapshotStore {
    /// Record a snapshot; `snapshot.id` is ignored and the new id returned.
    fn insert_snapshot(&self, snapshot: &Snapshot) -> ApiResult<i64>;
    fn snapshot(&self, project_id: i64, id: i64) -> ApiResult<Option<Snapshot>>;
    /// A table's snapshots in one branch, newest first.
    fn table_snapshots(&self, project_id: i64, branch_id: i64, table_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<Snapshot>>;
    /// False when the project has no such snapshot.
    fn delete_snapshot(&self, project_id: i64, id: i64) -> ApiResult<bool>;
}

const COLUMNS: &str = "id, project_id, branch_id, table_id, description, created, creator_token_id, creator_description, \
                       primary_key, columns, is_typed, definition, table_metadata, column_metadata";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Snapshot> {
    let list = |text: String| serde_json::from_str(&text).unwrap_or_default();
    Ok(Snapshot {
        id: r.get(0)?,
        project_id: r.get(1)?,
        branch_id: r.get(2)?,
        table_id: r.get(3)?,
        description: r.get(4)?,
        created: r.get(5)?,
        creator_token_id: r.get(6)?,
        creator_description: r.get(7)?,
        primary_key: list(r.get(8)?),
        columns: list(r.get(9)?),
        is_typed: r.get(10)?,
        definition: json_col(r.get(11)?),
        table_metadata: json_col(r.get(12)?),
        column_metadata: json_col(r.get(13)?),
    })
}

impl SnapshotStore for SqliteMetaStore {
    fn insert_snapshot(&self, s: &Snapshot) -> ApiResult<i64> {
        self.with(|c| {
            c.query_row(
                "INSERT INTO table_snapshots (project_id, branch_id, table_id, description, created, creator_token_id, \
                 creator_description, primary_key, columns, is_typed, definition, table_metadata, column_metadata) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
                rusqlite::params![
                    s.project_id,
                    s.branch_id,
                    s.table_id,
                    s.description,
                    s.created,
                    s.creator_token_id,
                    s.creator_description,
                    serde_json::json!(s.primary_key).to_string(),
                    serde_json::json!(s.columns).to_string(),
                    s.is_typed,
                    s.definition.to_string(),
                    s.table_metadata.to_string(),
                    s.column_metadata.to_string(),
                ],
                |r| r.get(0),
            )
        })
    }

    fn snapshot(&self, project_id: i64, id: i64) -> ApiResult<Option<Snapshot>> {
        self.with(|c| {
            c.query_row(&format!("SELECT {COLUMNS} FROM table_snapshots WHERE project_id = ?1 AND id = ?2"), [project_id, id], from_row)
                .optional()
        })
    }

    fn table_snapshots(&self, project_id: i64, branch_id: i64, table_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<Snapshot>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM table_snapshots WHERE project_id = ?1 AND branch_id = ?2 AND table_id = ?3 \
                 ORDER BY id DESC LIMIT ?4 OFFSET ?5"
            ))?;
            st.query_map(rusqlite::params![project_id, branch_id, table_id, limit, offset], from_row)?.collect()
        })
    }

    fn delete_snapshot(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM table_snapshots WHERE project_id = ?1 AND id = ?2", [project_id, id])? > 0))
    }
}

/// The behaviour every `SnapshotStore` must have; `snapshot_store_suite!` runs each check as a
/// named test.
#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn snapshot(project_id: i64, branch_id: i64, table_id: &str, description: &str) -> Snapshot {
        Snapshot {
            id: 0,
            project_id,
            branch_id,
            table_id: table_id.into(),
            description: description.into(),
            created: "2026-01-01T00:00:00+0000".into(),
            creator_token_id: 7,
            creator_description: "Master Token".into(),
            primary_key: vec!["id".into()],
            columns: vec!["id".into(), "v".into()],
            is_typed: false,
            definition: Value::Null,
            table_metadata: serde_json::json!([{"key": "k", "value": "v", "provider": "user"}]),
            column_metadata: serde_json::json!({"id": [{"key": "c", "value": "1", "provider": "user"}]}),
        }
    }

    pub fn recorded_whole_and_read_back<S: SnapshotStore>(s: &S) {
        let new = snapshot(1, 10, "in.c-a.t", "first");
        let id = s.insert_snapshot(&new).unwrap();
        let got = s.snapshot(1, id).unwrap().expect("recorded");
        assert_eq!(got, Snapshot { id, ..new });
        let second = s.insert_snapshot(&snapshot(1, 10, "in.c-a.t", "second")).unwrap();
        assert!(second > id, "ids increase");
    }

    pub fn listed_per_table_and_branch_newest_first<S: SnapshotStore>(s: &S) {
        let a = s.insert_snapshot(&snapshot(1, 10, "in.c-a.t", "a")).unwrap();
        let b = s.insert_snapshot(&snapshot(1, 10, "in.c-a.t", "b")).unwrap();
        s.insert_snapshot(&snapshot(1, 11, "in.c-a.t", "dev")).unwrap();
        s.insert_snapshot(&snapshot(1, 10, "in.c-a.other", "other")).unwrap();
        s.insert_snapshot(&snapshot(2, 10, "in.c-a.t", "other project")).unwrap();
        let ids: Vec<i64> = s.table_snapshots(1, 10, "in.c-a.t", 20, 0).unwrap().iter().map(|x| x.id).collect();
        assert_eq!(ids, vec![b, a]);
        let page: Vec<i64> = s.table_snapshots(1, 10, "in.c-a.t", 1, 1).unwrap().iter().map(|x| x.id).collect();
        assert_eq!(page, vec![a]);
    }

    pub fn scoped_by_project_and_deleted<S: SnapshotStore>(s: &S) {
        let id = s.insert_snapshot(&snapshot(1, 10, "in.c-a.t", "a")).unwrap();
        assert!(s.snapshot(2, id).unwrap().is_none(), "another project never sees it");
        assert!(!s.delete_snapshot(2, id).unwrap(), "nor deletes it");
        assert!(s.delete_snapshot(1, id).unwrap());
        assert!(s.snapshot(1, id).unwrap().is_none());
        assert!(!s.delete_snapshot(1, id).unwrap());
    }
}

#[macro_export]
macro_rules! snapshot_store_suite {
    ($make:expr) => {
        #[test]
        fn snapshot_store_recorded_whole_and_read_back() {
            $crate::meta::snapshots::suite::recorded_whole_and_read_back(&$make());
        }
        #[test]
        fn snapshot_store_listed_per_table_and_branch_newest_first() {
            $crate::meta::snapshots::suite::listed_per_table_and_branch_newest_first(&$make());
        }
        #[test]
        fn snapshot_store_scoped_by_project_and_deleted() {
            $crate::meta::snapshots::suite::scoped_by_project_and_deleted(&$make());
        }
    };
}
