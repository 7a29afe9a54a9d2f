//! The Stream service's records: sources and sinks (`StreamEntity`, the API object as JSON; a
//! source has `sink_id == ""`), the tasks of async operations, and one record per sink slice
//! (`SliceRecord`; the slice data is in files the service owns). Every read is scoped by project.
//! The trait, its SQLite implementation and the conformance suite (`stream_store_suite!`).
use rusqlite::OptionalExtension;
use serde_json::Value;

use super::{SqliteMetaStore, json_col};
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntity {
    pub project_id: i64,
    pub branch_id: i64,
    pub source_id: String,
    /// `""` for a source.
    pub sink_id: String,
    pub body: Value,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SliceRecord {
    pub project_id: i64,
    pub branch_id: i64,
    pub source_id: String,
    pub sink_id: String,
    pub slice_id: i64,
    /// `closed` (waiting for its import) or `imported`.
    pub state: String,
    /// Timestamps, counts, retry state (the files statistics show).
    pub body: Value,
    pub imported_ms: Option<i64>,
}

pub trait StreamStore {
    /// Insert or replace a source or sink.
    fn put_stream_entity(&self, e: &StreamEntity) -> ApiResult<()>;
    fn stream_entity(&self, project_id: i64, branch_id: i64, source_id: &str, sink_id: &str) -> ApiResult<Option<StreamEntity>>;
    /// The sources of a branch (`source_id == None`) or the sinks of a source, deleted ones
    /// included, ordered by id.
    fn stream_entities(&self, project_id: i64, branch_id: i64, source_id: Option<&str>) -> ApiResult<Vec<StreamEntity>>;
    /// Every source and sink of every project (the ingestion and flush loops start from them).
    fn all_stream_entities(&self) -> ApiResult<Vec<StreamEntity>>;
    fn put_stream_task(&self, project_id: i64, task_id: &str, body: &Value) -> ApiResult<()>;
    fn stream_task(&self, project_id: i64, task_id: &str) -> ApiResult<Option<Value>>;
    fn put_stream_slice(&self, s: &SliceRecord) -> ApiResult<()>;
    /// A sink's slices, oldest first.
    fn stream_slices(&self, project_id: i64, branch_id: i64, source_id: &str, sink_id: &str) -> ApiResult<Vec<SliceRecord>>;
    /// Slices imported before `before_ms` (their staged data is due for removal).
    fn stream_slices_imported_before(&self, before_ms: i64) -> ApiResult<Vec<SliceRecord>>;
    fn delete_stream_slice(&self, s: &SliceRecord) -> ApiResult<()>;
}

fn entity(r: &rusqlite::Row) -> rusqlite::Result<StreamEntity> {
    Ok(StreamEntity {
        project_id: r.get(0)?,
        branch_id: r.get(1)?,
        source_id: r.get(2)?,
        sink_id: r.get(3)?,
        body: json_col(r.get(4)?),
        deleted: r.get(5)?,
    })
}

fn slice(r: &rusqlite::Row) -> rusqlite::Result<SliceRecord> {
    Ok(SliceRecord {
        project_id: r.get(0)?,
        branch_id: r.get(1)?,
        source_id: r.get(2)?,
        sink_id: r.get(3)?,
        slice_id: r.get(4)?,
        state: r.get(5)?,
        body: json_col(r.get(6)?),
        imported_ms: r.get(7)?,
    })
}

const ENTITY: &str = "SELECT project_id, branch_id, source_id, sink_id, body, deleted FROM stream_entities";
const SLICE: &str = "SELECT project_id, branch_id, source_id, sink_id, slice_id, state, body, imported_ms FROM stream_slices";

impl StreamStore for SqliteMetaStore {
    fn put_stream_entity(&self, e: &StreamEntity) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO stream_entities (project_id, branch_id, source_id, sink_id, body, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![e.project_id, e.branch_id, e.source_id, e.sink_id, e.body.to_string(), e.deleted],
            )?;
            Ok(())
        })
    }

    fn stream_entity(&self, project_id: i64, branch_id: i64, source_id: &str, sink_id: &str) -> ApiResult<Option<StreamEntity>> {
        self.with(|c| {
            c.query_row(
                &format!("{ENTITY} WHERE project_id = ?1 AND branch_id = ?2 AND source_id = ?3 AND sink_id = ?4"),
                rusqlite::params![project_id, branch_id, source_id, sink_id],
                entity,
            )
            .optional()
        })
    }

    fn stream_entities(&self, project_id: i64, branch_id: i64, source_id: Option<&str>) -> ApiResult<Vec<StreamEntity>> {
        self.with(|c| match source_id {
            None => {
                let mut st = c.prepare(&format!("{ENTITY} WHERE project_id = ?1 AND branch_id = ?2 AND sink_id = '' ORDER BY source_id"))?;
                st.query_map(rusqlite::params![project_id, branch_id], entity)?.collect()
            }
            Some(source) => {
                let mut st = c.prepare(&format!(
                    "{ENTITY} WHERE project_id = ?1 AND branch_id = ?2 AND source_id = ?3 AND sink_id <> '' ORDER BY sink_id"
                ))?;
                st.query_map(rusqlite::params![project_id, branch_id, source], entity)?.collect()
            }
        })
    }

    fn all_stream_entities(&self) -> ApiResult<Vec<StreamEntity>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("{ENTITY} ORDER BY project_id, branch_id, source_id, sink_id"))?;
            st.query_map([], entity)?.collect()
        })
    }

    fn put_stream_task(&self, project_id: i64, task_id: &str, body: &Value) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO stream_tasks (task_id, project_id, body) VALUES (?1, ?2, ?3)",
                rusqlite::params![task_id, project_id, body.to_string()],
            )?;
            Ok(())
        })
    }

    fn stream_task(&self, project_id: i64, task_id: &str) -> ApiResult<Option<Value>> {
        self.with(|c| {
            c.query_row(
                "SELECT body FROM stream_tasks WHERE project_id = ?1 AND task_id = ?2",
                rusqlite::params![project_id, task_id],
                |r| Ok(json_col(r.get(0)?)),
            )
            .optional()
        })
    }

    fn put_stream_slice(&self, s: &SliceRecord) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO stream_slices (project_id, branch_id, source_id, sink_id, slice_id, state, body, imported_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![s.project_id, s.branch_id, s.source_id, s.sink_id, s.slice_id, s.state, s.body.to_string(), s.imported_ms],
            )?;
            Ok(())
        })
    }

    fn stream_slices(&self, project_id: i64, branch_id: i64, source_id: &str, sink_id: &str) -> ApiResult<Vec<SliceRecord>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "{SLICE} WHERE project_id = ?1 AND branch_id = ?2 AND source_id = ?3 AND sink_id = ?4 ORDER BY slice_id"
            ))?;
            st.query_map(rusqlite::params![project_id, branch_id, source_id, sink_id], slice)?.collect()
        })
    }

    fn stream_slices_imported_before(&self, before_ms: i64) -> ApiResult<Vec<SliceRecord>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("{SLICE} WHERE imported_ms IS NOT NULL AND imported_ms < ?1 ORDER BY slice_id"))?;
            st.query_map([before_ms], slice)?.collect()
        })
    }

    fn delete_stream_slice(&self, s: &SliceRecord) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM stream_slices WHERE project_id = ?1 AND branch_id = ?2 AND source_id = ?3 AND sink_id = ?4 AND slice_id = ?5",
                rusqlite::params![s.project_id, s.branch_id, s.source_id, s.sink_id, s.slice_id],
            )?;
            Ok(())
        })
    }
}

/// The behaviour every `StreamStore` must have; `stream_store_suite!` runs each check as a test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use serde_json::json;

    fn e(project_id: i64, source_id: &str, sink_id: &str) -> StreamEntity {
        StreamEntity { project_id, branch_id: 10, source_id: source_id.into(), sink_id: sink_id.into(), body: json!({"name": sink_id}), deleted: false }
    }

    pub fn sources_and_sinks_are_kept_apart_and_scoped<S: StreamStore>(s: &S) {
        s.put_stream_entity(&e(1, "b", "")).unwrap();
        s.put_stream_entity(&e(1, "a", "")).unwrap();
        s.put_stream_entity(&e(1, "a", "k2")).unwrap();
        s.put_stream_entity(&e(1, "a", "k1")).unwrap();
        s.put_stream_entity(&e(2, "a", "")).unwrap();
        let ids = |v: Vec<StreamEntity>| v.into_iter().map(|x| format!("{}/{}", x.source_id, x.sink_id)).collect::<Vec<_>>();
        assert_eq!(ids(s.stream_entities(1, 10, None).unwrap()), ["a/", "b/"]);
        assert_eq!(ids(s.stream_entities(1, 10, Some("a")).unwrap()), ["a/k1", "a/k2"]);
        assert!(s.stream_entities(1, 11, None).unwrap().is_empty(), "another branch");
        assert!(s.stream_entity(3, 10, "a", "").unwrap().is_none(), "another project");
        assert_eq!(s.all_stream_entities().unwrap().len(), 5);
        let mut gone = e(1, "a", "k1");
        gone.deleted = true;
        gone.body = json!({"name": "renamed"});
        s.put_stream_entity(&gone).unwrap();
        assert_eq!(s.stream_entity(1, 10, "a", "k1").unwrap(), Some(gone), "replaced whole");
    }

    pub fn tasks_are_scoped_by_project<S: StreamStore>(s: &S) {
        s.put_stream_task(1, "t1", &json!({"status": "processing"})).unwrap();
        s.put_stream_task(1, "t1", &json!({"status": "success"})).unwrap();
        assert_eq!(s.stream_task(1, "t1").unwrap(), Some(json!({"status": "success"})));
        assert_eq!(s.stream_task(2, "t1").unwrap(), None);
    }

    pub fn slices_are_listed_and_expire<S: StreamStore>(s: &S) {
        let rec = |id: i64, imported_ms: Option<i64>| SliceRecord {
            project_id: 1,
            branch_id: 10,
            source_id: "a".into(),
            sink_id: "k".into(),
            slice_id: id,
            state: if imported_ms.is_some() { "imported".into() } else { "closed".into() },
            body: json!({"recordsCount": id}),
            imported_ms,
        };
        s.put_stream_slice(&rec(2, None)).unwrap();
        s.put_stream_slice(&rec(1, Some(100))).unwrap();
        s.put_stream_slice(&rec(3, Some(500))).unwrap();
        let ids: Vec<i64> = s.stream_slices(1, 10, "a", "k").unwrap().iter().map(|x| x.slice_id).collect();
        assert_eq!(ids, [1, 2, 3]);
        let due: Vec<i64> = s.stream_slices_imported_before(200).unwrap().iter().map(|x| x.slice_id).collect();
        assert_eq!(due, [1]);
        s.delete_stream_slice(&rec(1, Some(100))).unwrap();
        assert_eq!(s.stream_slices(1, 10, "a", "k").unwrap().len(), 2);
        assert!(s.stream_slices(2, 10, "a", "k").unwrap().is_empty());
    }
}

#[macro_export]
macro_rules! stream_store_suite {
    ($make:expr) => {
        #[test]
        fn stream_store_sources_and_sinks_are_kept_apart_and_scoped() {
            $crate::meta::stream::suite::sources_and_sinks_are_kept_apart_and_scoped(&$make());
        }
        #[test]
        fn stream_store_tasks_are_scoped_by_project() {
            $crate::meta::stream::suite::tasks_are_scoped_by_project(&$make());
        }
        #[test]
        fn stream_store_slices_are_listed_and_expire() {
            $crate::meta::stream::suite::slices_are_listed_and_expire(&$make());
        }
    };
}
