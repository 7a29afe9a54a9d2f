//! Merge requests of development branches into the default branch: the request's record
//! (state, reviewers, approvals, the change log kept when merged), read-modify-write of one
//! request in a transaction, and the merge transaction, which applies a branch's configurations
//! to the default branch, publishes the request and removes the branch's records all at once.
//! The trait, its SQLite implementation and the conformance suite (`merge_request_store_suite!`).
//!
//! What the states mean and which moves are allowed is the service's business; the store keeps
//! the records, and refuses a second open request for one branch.
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::configurations::{ComponentScope, ConfigurationTx, SqliteConfigurations, StoredConfiguration};
use super::{Cached, SqliteMetaStore, json_col};
use kbstack_core::ids::Scope;
use kbstack_core::{Error, Result as ApiResult};

/// The states a request can be in; the open ones lock the branch for writes except `development`.
pub const OPEN_STATES: [&str; 4] = ["development", "in_review", "approved", "in_merge"];
/// Open states in which the source branch takes no more changes.
pub const LOCKING_STATES: [&str; 3] = ["in_review", "approved", "in_merge"];

/// A reviewer assigned to the request; `status` is `approved`, `rejected` or none yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewer {
    pub id: i64,
    pub name: String,
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approver_id: i64,
    pub approver_name: String,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MergeRequest {
    pub id: i64,
    pub project_id: i64,
    /// None once the request is canceled or merged.
    pub branch_from_id: Option<i64>,
    pub branch_into_id: i64,
    pub state: String,
    pub title: String,
    pub description: String,
    pub external_id: Option<String>,
    pub auto_merge_strategy: Option<String>,
    pub auto_merge_at: Option<String>,
    pub creator_id: i64,
    pub creator_name: String,
    pub reviewers: Vec<Reviewer>,
    pub approvals: Vec<Approval>,
    /// The changed objects as they were merged (None while the request is open: computed live).
    pub change_log: Option<Value>,
    pub created: String,
    pub merged_at: Option<String>,
    pub merger_id: Option<i64>,
    pub merger_name: String,
}

/// The source branch already has an open merge request (its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchHasOpenRequest(pub i64);

pub trait MergeRequestStore {
    /// Record a new request (`mr.id` is ignored) and return its id; refused when its source
    /// branch has an open request.
    fn insert_merge_request(&self, mr: &MergeRequest) -> ApiResult<Result<i64, BranchHasOpenRequest>>;
    fn merge_request(&self, project_id: i64, id: i64) -> ApiResult<Option<MergeRequest>>;
    /// The project's requests, newest first.
    fn merge_requests(&self, project_id: i64) -> ApiResult<Vec<MergeRequest>>;
    /// Whether the branch has an open request in a state that locks it (`LOCKING_STATES`).
    fn branch_locked(&self, project_id: i64, branch_id: i64) -> ApiResult<bool>;
    /// Load a request, let `change` modify it and save it, in one transaction (nothing is saved
    /// when `change` fails). None when the project has no such request.
    fn change_merge_request<T, E: From<Error>>(
        &self,
        project_id: i64,
        id: i64,
        change: impl FnOnce(&mut MergeRequest) -> Result<T, E>,
    ) -> Result<Option<T>, E>
    where
        Self: Sized,
    {
        let (mut change, mut out) = (Some(change), None);
        let found = self.change_merge_request_dyn(project_id, id, &mut |mr| {
            let result = (change.take().expect("a change runs once"))(mr);
            let save = result.is_ok();
            out = Some(result);
            save
        })?;
        if !found {
            return Ok(None);
        }
        out.expect("the change ran").map(Some)
    }
    /// `change_merge_request` as a trait object can call it: `change` runs once and answers
    /// whether to save. False when the project has no such request.
    fn change_merge_request_dyn(&self, project_id: i64, id: i64, change: &mut dyn FnMut(&mut MergeRequest) -> bool) -> ApiResult<bool>;
    /// Move every request in `from` to `to` (at start: merges a crash interrupted go back to
    /// `approved`). Returns how many moved.
    fn reset_merge_requests(&self, from: &str, to: &str) -> ApiResult<usize>;
    /// One transaction over everything a merge touches: committed when `work` returns Ok,
    /// nothing when it fails.
    fn merge_tx<T, E: From<Error>>(&self, work: impl FnOnce(&dyn MergeTx) -> Result<T, E>) -> Result<T, E>
    where
        Self: Sized,
    {
        let (mut work, mut out) = (Some(work), None);
        self.merge_tx_dyn(&mut |tx| {
            let result = (work.take().expect("a merge runs once"))(tx);
            let commit = result.is_ok();
            out = Some(result);
            commit
        })?;
        out.expect("the merge ran")
    }
    /// `merge_tx` as a trait object can call it: `work` runs once and answers whether to commit.
    fn merge_tx_dyn(&self, work: &mut dyn FnMut(&dyn MergeTx) -> bool) -> ApiResult<()>;
}

/// What the merge transaction may read and write.
pub trait MergeTx {
    fn merge_request(&self, project_id: i64, id: i64) -> ApiResult<Option<MergeRequest>>;
    fn save_merge_request(&self, mr: &MergeRequest) -> ApiResult<()>;
    /// Every configuration of a branch (all components, trashed ones too), in creation order.
    fn branch_configurations(&self, scope: Scope) -> ApiResult<Vec<StoredConfiguration>>;
    /// The configurations of one component in one branch, inside this transaction.
    fn configurations_at(&self, at: ComponentScope) -> Box<dyn ConfigurationTx + '_>;
    /// Bring a configuration's metadata from one branch into another: items missing in `into`
    /// are added, items set later in `from` than in `into` win; the rest of `into` stays.
    fn merge_configuration_metadata(&self, project_id: i64, from: i64, into: i64, object_id: &str) -> ApiResult<()>;
    /// Remove the branch and the records of everything in it (tables included; their data in
    /// the table backend is the caller's to drop after the commit).
    fn delete_branch(&self, project_id: i64, branch_id: i64) -> ApiResult<()>;
}

pub(crate) const COLUMNS: &str = "id, project_id, branch_from_id, branch_into_id, state, title, description, external_id, \
                       auto_merge_strategy, auto_merge_at, creator_id, creator_name, reviewers, approvals, change_log, \
                       created, merged_at, merger_id, merger_name";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<MergeRequest> {
    let list = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    Ok(MergeRequest {
        id: r.get(0)?,
        project_id: r.get(1)?,
        branch_from_id: r.get(2)?,
        branch_into_id: r.get(3)?,
        state: r.get(4)?,
        title: r.get(5)?,
        description: r.get(6)?,
        external_id: r.get(7)?,
        auto_merge_strategy: r.get(8)?,
        auto_merge_at: r.get(9)?,
        creator_id: r.get(10)?,
        creator_name: r.get(11)?,
        reviewers: serde_json::from_str(&list(12)?).unwrap_or_default(),
        approvals: serde_json::from_str(&list(13)?).unwrap_or_default(),
        change_log: Some(json_col(r.get(14)?)).filter(|v| !v.is_null()),
        created: r.get(15)?,
        merged_at: r.get(16)?,
        merger_id: r.get(17)?,
        merger_name: r.get(18)?,
    })
}

fn load(c: &Connection, project_id: i64, id: i64) -> rusqlite::Result<Option<MergeRequest>> {
    c.query_row_cached(&format!("SELECT {COLUMNS} FROM merge_requests WHERE project_id = ?1 AND id = ?2"), [project_id, id], from_row)
        .optional()
}

fn save(c: &Connection, mr: &MergeRequest) -> rusqlite::Result<()> {
    c.execute_cached(
        "UPDATE merge_requests SET branch_from_id = ?3, branch_into_id = ?4, state = ?5, title = ?6, description = ?7, \
         external_id = ?8, auto_merge_strategy = ?9, auto_merge_at = ?10, reviewers = ?11, approvals = ?12, change_log = ?13, \
         merged_at = ?14, merger_id = ?15, merger_name = ?16 WHERE project_id = ?1 AND id = ?2",
        rusqlite::params![
            mr.project_id,
            mr.id,
            mr.branch_from_id,
            mr.branch_into_id,
            mr.state,
            mr.title,
            mr.description,
            mr.external_id,
            mr.auto_merge_strategy,
            mr.auto_merge_at,
            serde_json::to_string(&mr.reviewers).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&mr.approvals).unwrap_or_else(|_| "[]".into()),
            mr.change_log.as_ref().map(Value::to_string),
            mr.merged_at,
            mr.merger_id,
            mr.merger_name,
        ],
    )?;
    Ok(())
}

/// The open request of a branch, if any.
fn open_request_of(c: &Connection, project_id: i64, branch_id: i64, states: &[&str]) -> rusqlite::Result<Option<i64>> {
    let marks = states.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    c.query_row_cached(
        &format!("SELECT id FROM merge_requests WHERE project_id = ?1 AND branch_from_id = ?2 AND state IN ({marks}) LIMIT 1"),
        [project_id, branch_id],
        |r| r.get(0),
    )
    .optional()
}

impl MergeRequestStore for SqliteMetaStore {
    fn insert_merge_request(&self, mr: &MergeRequest) -> ApiResult<Result<i64, BranchHasOpenRequest>> {
        self.tx(|tx| {
            if let Some(from) = mr.branch_from_id {
                if let Some(open) = open_request_of(tx, mr.project_id, from, &OPEN_STATES)? {
                    return Ok(Err(BranchHasOpenRequest(open)));
                }
            }
            let id: i64 = tx.query_row(
                "INSERT INTO merge_requests (project_id, branch_from_id, branch_into_id, state, title, created, creator_id, creator_name) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                rusqlite::params![mr.project_id, mr.branch_from_id, mr.branch_into_id, mr.state, mr.title, mr.created, mr.creator_id, mr.creator_name],
                |r| r.get(0),
            )?;
            save(tx, &MergeRequest { id, ..mr.clone() })?;
            Ok(Ok(id))
        })
    }

    fn merge_request(&self, project_id: i64, id: i64) -> ApiResult<Option<MergeRequest>> {
        self.with(|c| load(c, project_id, id))
    }

    fn merge_requests(&self, project_id: i64) -> ApiResult<Vec<MergeRequest>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM merge_requests WHERE project_id = ?1 ORDER BY id DESC"))?;
            st.query_map([project_id], from_row)?.collect()
        })
    }

    fn branch_locked(&self, project_id: i64, branch_id: i64) -> ApiResult<bool> {
        self.with(|c| Ok(open_request_of(c, project_id, branch_id, &LOCKING_STATES)?.is_some()))
    }

    fn change_merge_request_dyn(&self, project_id: i64, id: i64, change: &mut dyn FnMut(&mut MergeRequest) -> bool) -> ApiResult<bool> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let Some(mut mr) = load(&tx, project_id, id)? else {
            return Ok(false);
        };
        if change(&mut mr) {
            mr.id = id;
            mr.project_id = project_id;
            save(&tx, &mr)?;
            tx.commit()?;
        }
        Ok(true)
    }

    fn reset_merge_requests(&self, from: &str, to: &str) -> ApiResult<usize> {
        self.with(|c| c.execute("UPDATE merge_requests SET state = ?2 WHERE state = ?1", [from, to]))
    }

    fn merge_tx_dyn(&self, work: &mut dyn FnMut(&dyn MergeTx) -> bool) -> ApiResult<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        if work(&SqliteMerge { c: &tx }) {
            tx.commit()?;
        }
        Ok(())
    }
}

struct SqliteMerge<'a> {
    c: &'a Connection,
}

impl MergeTx for SqliteMerge<'_> {
    fn merge_request(&self, project_id: i64, id: i64) -> ApiResult<Option<MergeRequest>> {
        Ok(load(self.c, project_id, id)?)
    }

    fn save_merge_request(&self, mr: &MergeRequest) -> ApiResult<()> {
        Ok(save(self.c, mr)?)
    }

    fn branch_configurations(&self, scope: Scope) -> ApiResult<Vec<StoredConfiguration>> {
        let mut st = self.c.prepare_cached(
            "SELECT component_id, id, body, is_deleted FROM configurations WHERE project_id = ?1 AND branch_id = ?2 ORDER BY rowid",
        )?;
        let rows = st.query_map([scope.project.get(), scope.branch.get()], |r| {
            Ok(StoredConfiguration { component_id: r.get(0)?, id: r.get(1)?, document: json_col(r.get(2)?), is_deleted: r.get(3)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn configurations_at(&self, at: ComponentScope) -> Box<dyn ConfigurationTx + '_> {
        Box::new(SqliteConfigurations { c: self.c, at })
    }

    fn merge_configuration_metadata(&self, project_id: i64, from: i64, into: i64, object_id: &str) -> ApiResult<()> {
        self.c.execute_cached(
            "INSERT INTO metadata (project_id, branch_id, object_type, object_id, provider, key, value, timestamp) \
             SELECT project_id, ?3, object_type, object_id, provider, key, value, timestamp FROM metadata f \
             WHERE f.project_id = ?1 AND f.branch_id = ?2 AND f.object_type = 'configuration' AND f.object_id = ?4 \
             ON CONFLICT (project_id, branch_id, object_type, object_id, provider, key) \
             DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp WHERE excluded.timestamp > metadata.timestamp",
            rusqlite::params![project_id, from, into, object_id],
        )?;
        Ok(())
    }

    fn delete_branch(&self, project_id: i64, branch_id: i64) -> ApiResult<()> {
        for table in ["tables", "table_stats"] {
            self.c.execute_cached(&format!("DELETE FROM {table} WHERE project_id = ?1 AND branch_id = ?2"), [project_id, branch_id])?;
        }
        Ok(super::branches::delete_branch_records(self.c, project_id, branch_id)?)
    }
}

/// The behaviour every `MergeRequestStore` must have; `merge_request_store_suite!` runs each
/// check as a test against an implementation.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::branches::{BranchStore, NewBranch};
    use crate::meta::configurations::ConfigurationStore;
    use crate::meta::tokens::ProjectStore;
    use kbstack_core::ids::{BranchId, ProjectId};
    use serde_json::json;

    pub fn request(project_id: i64, from: i64, into: i64) -> MergeRequest {
        MergeRequest {
            id: 0,
            project_id,
            branch_from_id: Some(from),
            branch_into_id: into,
            state: "development".into(),
            title: "Change everything".into(),
            description: "Fix typo".into(),
            external_id: Some("ticket-1".into()),
            auto_merge_strategy: Some("none".into()),
            auto_merge_at: None,
            creator_id: 7,
            creator_name: "dev".into(),
            reviewers: vec![Reviewer { id: 8, name: "rev".into(), status: None }],
            approvals: vec![],
            change_log: None,
            created: "2026-01-01T00:00:00+0000".into(),
            merged_at: None,
            merger_id: None,
            merger_name: String::new(),
        }
    }

    pub fn recorded_whole_listed_newest_first_and_scoped<S: MergeRequestStore>(s: &S) {
        let a = s.insert_merge_request(&request(1, 10, 1)).unwrap().unwrap();
        let b = s.insert_merge_request(&request(1, 11, 1)).unwrap().unwrap();
        let other = s.insert_merge_request(&request(2, 12, 2)).unwrap().unwrap();
        let got = s.merge_request(1, a).unwrap().expect("stored");
        assert_eq!(got, MergeRequest { id: a, ..request(1, 10, 1) }, "every field read back");
        let ids: Vec<i64> = s.merge_requests(1).unwrap().iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![b, a], "newest first, only the project's");
        assert!(s.merge_request(1, other).unwrap().is_none(), "another project's request is not found");
    }

    pub fn one_open_request_per_branch_and_locking<S: MergeRequestStore>(s: &S) {
        let a = s.insert_merge_request(&request(1, 10, 1)).unwrap().unwrap();
        assert_eq!(s.insert_merge_request(&request(1, 10, 1)).unwrap(), Err(BranchHasOpenRequest(a)));
        assert!(!s.branch_locked(1, 10).unwrap(), "development does not lock");
        s.change_merge_request(1, a, |m| -> ApiResult<()> {
            m.state = "in_review".into();
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert!(s.branch_locked(1, 10).unwrap(), "in review locks the branch");
        assert!(!s.branch_locked(2, 10).unwrap(), "only in its project");
        s.change_merge_request(1, a, |m| -> ApiResult<()> {
            m.state = "canceled".into();
            m.branch_from_id = None;
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert!(!s.branch_locked(1, 10).unwrap());
        assert!(s.insert_merge_request(&request(1, 10, 1)).unwrap().is_ok(), "a closed request frees the branch");
    }

    pub fn change_is_all_or_nothing<S: MergeRequestStore>(s: &S) {
        let a = s.insert_merge_request(&request(1, 10, 1)).unwrap().unwrap();
        let failed: Result<Option<()>, Error> = s.change_merge_request(1, a, |m| {
            m.title = "half".into();
            Err(Error::validation("refused"))
        });
        assert!(failed.is_err());
        assert_eq!(s.merge_request(1, a).unwrap().unwrap().title, "Change everything", "nothing saved on failure");
        let approvals = vec![Approval { approver_id: 8, approver_name: "rev".into(), created: "2026-01-02T00:00:00+0000".into() }];
        s.change_merge_request(1, a, |m| -> ApiResult<()> {
            m.approvals = approvals.clone();
            m.reviewers[0].status = Some("approved".into());
            m.change_log = Some(json!({"configurations": []}));
            Ok(())
        })
        .unwrap()
        .unwrap();
        let got = s.merge_request(1, a).unwrap().unwrap();
        assert_eq!(got.approvals, approvals);
        assert_eq!(got.reviewers[0].status.as_deref(), Some("approved"));
        assert_eq!(got.change_log, Some(json!({"configurations": []})));
        assert!(s.change_merge_request(1, a + 100, |_| -> ApiResult<()> { Ok(()) }).unwrap().is_none(), "unknown id");
        assert!(s.change_merge_request(2, a, |_| -> ApiResult<()> { Ok(()) }).unwrap().is_none(), "other project");
    }

    pub fn interrupted_merges_reset<S: MergeRequestStore>(s: &S) {
        let a = s.insert_merge_request(&request(1, 10, 1)).unwrap().unwrap();
        s.change_merge_request(1, a, |m| -> ApiResult<()> {
            m.state = "in_merge".into();
            Ok(())
        })
        .unwrap();
        assert_eq!(s.reset_merge_requests("in_merge", "approved").unwrap(), 1);
        assert_eq!(s.merge_request(1, a).unwrap().unwrap().state, "approved");
    }

    /// The merge transaction reaches configurations of any component and branch, merges
    /// metadata, removes the branch, and commits all of it or none.
    pub fn merge_tx_spans_everything_and_is_atomic<S: MergeRequestStore + BranchStore + ConfigurationStore + ProjectStore>(s: &S) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        let main = s.ensure_default_branch(1, "Main", "2026-01-01T00:00:00+0000").unwrap();
        let dev = s
            .create_dev_branch(
                ProjectId(1),
                BranchId(main),
                &NewBranch {
                    name: "dev".into(),
                    description: String::new(),
                    created: "2026-01-01T00:00:00+0000".into(),
                    creator_token_id: 1,
                    creator_description: "t".into(),
                },
            )
            .unwrap()
            .unwrap()
            .get();
        let at = |branch: i64| ComponentScope { scope: Scope::new(1, branch), component: "wr-db".into() };
        s.configuration_tx(&at(dev), |tx| tx.insert_configuration("c1", &json!({"id": "c1", "v": 1}))).unwrap();
        let mr = s.insert_merge_request(&request(1, dev, main)).unwrap().unwrap();

        // A failing merge leaves everything as it was.
        let failed: Result<(), Error> = s.merge_tx(|tx| {
            tx.configurations_at(at(main)).insert_configuration("c1", &json!({"id": "c1", "v": 1}))?;
            tx.delete_branch(1, dev)?;
            Err(Error::validation("conflict"))
        });
        assert!(failed.is_err());
        assert!(s.configurations(Scope::new(1, main), None, false).unwrap().is_empty(), "rolled back");
        assert!(s.branch_exists(1, dev).unwrap());

        s.merge_tx(|tx| -> ApiResult<()> {
            let seen = tx.branch_configurations(Scope::new(1, dev))?;
            assert_eq!(seen.len(), 1);
            tx.configurations_at(at(main)).insert_configuration("c1", &seen[0].document)?;
            let mut m = tx.merge_request(1, mr)?.unwrap();
            m.state = "published".into();
            tx.save_merge_request(&m)?;
            tx.delete_branch(1, dev)
        })
        .unwrap();
        assert_eq!(s.configurations(Scope::new(1, main), None, false).unwrap().len(), 1);
        assert!(!s.branch_exists(1, dev).unwrap(), "branch removed");
        assert_eq!(s.merge_request(1, mr).unwrap().unwrap().state, "published");
    }
}

#[macro_export]
macro_rules! merge_request_store_suite {
    ($make:expr) => {
        #[test]
        fn merge_request_store_recorded_whole_listed_newest_first_and_scoped() {
            $crate::meta::merge_requests::suite::recorded_whole_listed_newest_first_and_scoped(&$make());
        }
        #[test]
        fn merge_request_store_one_open_request_per_branch_and_locking() {
            $crate::meta::merge_requests::suite::one_open_request_per_branch_and_locking(&$make());
        }
        #[test]
        fn merge_request_store_change_is_all_or_nothing() {
            $crate::meta::merge_requests::suite::change_is_all_or_nothing(&$make());
        }
        #[test]
        fn merge_request_store_interrupted_merges_reset() {
            $crate::meta::merge_requests::suite::interrupted_merges_reset(&$make());
        }
        #[test]
        fn merge_request_store_merge_tx_spans_everything_and_is_atomic() {
            $crate::meta::merge_requests::suite::merge_tx_spans_everything_and_is_atomic(&$make());
        }
    };
}
