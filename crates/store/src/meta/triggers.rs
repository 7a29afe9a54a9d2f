//! Triggers in the metadata store: the record (the trigger's wire object minus its id, kept as
//! JSON), the repository trait, its SQLite implementation and the conformance suite
//! (`trigger_store_suite!`). Triggers belong to a project, not to a branch.
use crate::meta::Cached;
use rusqlite::OptionalExtension;
use serde_json::Value;

use super::{SqliteMetaStore, json_col};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{ProjectId, TriggerId};

#[derive(Debug, Clone, PartialEq)]
pub struct TriggerRecord {
    pub id: i64,
    pub body: Value,
}

pub trait TriggerStore {
    fn insert_trigger(&self, project: ProjectId, body: &Value) -> ApiResult<TriggerId>;
    fn trigger(&self, project: ProjectId, id: TriggerId) -> ApiResult<Option<TriggerRecord>>;
    /// The project's triggers, by id.
    fn triggers(&self, project: ProjectId) -> ApiResult<Vec<TriggerRecord>>;
    fn update_trigger(&self, project: ProjectId, id: TriggerId, body: &Value) -> ApiResult<()>;
    fn delete_trigger(&self, project: ProjectId, id: TriggerId) -> ApiResult<()>;
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<TriggerRecord> {
    Ok(TriggerRecord { id: r.get(0)?, body: json_col(r.get(1)?) })
}

impl TriggerStore for SqliteMetaStore {
    fn insert_trigger(&self, project: ProjectId, body: &Value) -> ApiResult<TriggerId> {
        self.with(|c| {
            c.execute_cached("INSERT INTO triggers (project_id, body) VALUES (?1, ?2)", rusqlite::params![project.get(), body.to_string()])?;
            Ok(TriggerId(c.last_insert_rowid()))
        })
    }

    fn trigger(&self, project: ProjectId, id: TriggerId) -> ApiResult<Option<TriggerRecord>> {
        self.with(|c| c.query_row_cached("SELECT id, body FROM triggers WHERE id = ?1 AND project_id = ?2", [id.get(), project.get()], from_row).optional())
    }

    fn triggers(&self, project: ProjectId) -> ApiResult<Vec<TriggerRecord>> {
        self.with(|c| {
            let mut st = c.prepare_cached("SELECT id, body FROM triggers WHERE project_id = ?1 ORDER BY id")?;
            st.query_map([project.get()], from_row)?.collect()
        })
    }

    fn update_trigger(&self, project: ProjectId, id: TriggerId, body: &Value) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached("UPDATE triggers SET body = ?1 WHERE id = ?2 AND project_id = ?3", rusqlite::params![body.to_string(), id.get(), project.get()])
        })?;
        Ok(())
    }

    fn delete_trigger(&self, project: ProjectId, id: TriggerId) -> ApiResult<()> {
        self.with(|c| c.execute_cached("DELETE FROM triggers WHERE id = ?1 AND project_id = ?2", [id.get(), project.get()]))?;
        Ok(())
    }
}

/// The behaviour every `TriggerStore` must have; `trigger_store_suite!` runs each check as a
/// named test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::tokens::ProjectStore;
    use serde_json::json;

    fn projects<S: ProjectStore>(s: &S) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
    }

    pub fn lifecycle<S: ProjectStore + TriggerStore>(s: &S) {
        projects(s);
        let body = json!({"component": "keboola.orchestrator", "tables": [{"tableId": "in.c-a.t"}], "coolDownPeriodMinutes": 5});
        let id = s.insert_trigger(ProjectId(1), &body).unwrap();
        assert_eq!(s.trigger(ProjectId(1), id).unwrap(), Some(TriggerRecord { id: id.get(), body: body.clone() }));
        assert_eq!(s.trigger(ProjectId(2), id).unwrap(), None, "another project's trigger is not found");
        assert_eq!(s.trigger(ProjectId(1), TriggerId(id.get() + 1000)).unwrap(), None);

        let changed = json!({"component": "keboola.orchestrator", "tables": [], "coolDownPeriodMinutes": 10});
        s.update_trigger(ProjectId(2), id, &json!({})).unwrap();
        assert_eq!(s.trigger(ProjectId(1), id).unwrap().unwrap().body, body, "another project cannot change it");
        s.update_trigger(ProjectId(1), id, &changed).unwrap();
        assert_eq!(s.trigger(ProjectId(1), id).unwrap().unwrap().body, changed);

        s.delete_trigger(ProjectId(2), id).unwrap();
        assert!(s.trigger(ProjectId(1), id).unwrap().is_some(), "another project cannot delete it");
        s.delete_trigger(ProjectId(1), id).unwrap();
        assert_eq!(s.trigger(ProjectId(1), id).unwrap(), None);
    }

    pub fn listed_per_project_by_id<S: ProjectStore + TriggerStore>(s: &S) {
        projects(s);
        let a = s.insert_trigger(ProjectId(1), &json!({"n": "a"})).unwrap();
        let other = s.insert_trigger(ProjectId(2), &json!({"n": "other"})).unwrap();
        let b = s.insert_trigger(ProjectId(1), &json!({"n": "b"})).unwrap();
        let listed = |p: i64| s.triggers(ProjectId(p)).unwrap().into_iter().map(|t| (t.id, t.body["n"].clone())).collect::<Vec<_>>();
        assert_eq!(listed(1), vec![(a.get(), json!("a")), (b.get(), json!("b"))]);
        assert_eq!(listed(2), vec![(other.get(), json!("other"))]);
        assert!(s.triggers(ProjectId(3)).unwrap().is_empty());
    }
}

#[macro_export]
macro_rules! trigger_store_suite {
    ($make:expr) => {
        #[test]
        fn trigger_store_lifecycle() {
            $crate::meta::triggers::suite::lifecycle(&$make());
        }
        #[test]
        fn trigger_store_listed_per_project_by_id() {
            $crate::meta::triggers::suite::listed_per_project_by_id(&$make());
        }
    };
}
