//! Component configurations in the metadata store: the configuration documents (rows embedded,
//! state included), their version snapshots, the row version snapshots, and the id sequence new
//! configurations and rows draw from. The repository traits, their SQLite implementation and the
//! conformance suite (`configuration_store_suite!`).
//!
//! The document and the snapshots are stored as JSON text in the shape the service gives them:
//! what a document means (versions, trash, rows) is the service's business, the store keeps them
//! apart by project, branch and component and keeps the creation order.
use crate::meta::Cached;
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

use super::{SqliteMetaStore, json_col};
use kbstack_core::ids::{ComponentId, Scope};
use kbstack_core::{Error, Result as ApiResult};

/// The configurations of one component in one branch of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentScope {
    pub scope: Scope,
    pub component: ComponentId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredConfiguration {
    pub component_id: String,
    pub id: String,
    /// The configuration document (JSON text column), kept as the service wrote it.
    pub document: Value,
    /// In the trash; a column of its own so that listings need not read documents.
    pub is_deleted: bool,
}

/// One stored version of a configuration or of a row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVersion {
    pub version: i64,
    /// What the version recorded (JSON text column).
    pub snapshot: Value,
}

pub trait ConfigurationStore {
    /// The branch's configurations, of one component or of all, active or in the trash, in
    /// creation order.
    fn configurations(&self, scope: Scope, component: Option<&ComponentId>, deleted: bool) -> ApiResult<Vec<StoredConfiguration>>;
    /// One unit of work (one request) on a component's configurations: everything `work` does
    /// through the handle is committed together when it returns Ok, and nothing when it fails.
    fn configuration_tx<T, E: From<Error>>(
        &self,
        at: &ComponentScope,
        work: impl FnOnce(&dyn ConfigurationTx) -> Result<T, E>,
    ) -> Result<T, E>
    where
        Self: Sized,
    {
        let (mut work, mut out) = (Some(work), None);
        self.configuration_tx_dyn(at, &mut |tx| {
            let result = (work.take().expect("a unit of work runs once"))(tx);
            let commit = result.is_ok();
            out = Some(result);
            commit
        })?;
        out.expect("the unit of work ran")
    }
    /// `configuration_tx` as a trait object can call it: `work` runs once and answers whether to
    /// commit (false: roll back).
    fn configuration_tx_dyn(&self, at: &ComponentScope, work: &mut dyn FnMut(&dyn ConfigurationTx) -> bool) -> ApiResult<()>;
}

/// What a unit of work may read and write; every call stays within the component scope the
/// transaction was opened for.
pub trait ConfigurationTx {
    fn configuration(&self, id: &str) -> ApiResult<Option<StoredConfiguration>>;
    /// Store a new configuration; an id already stored (trashed or not) is an error.
    fn insert_configuration(&self, id: &str, document: &Value) -> ApiResult<()>;
    /// Replace a configuration's document; it keeps its place in the creation order.
    fn save_configuration(&self, id: &str, document: &Value, is_deleted: bool) -> ApiResult<()>;
    /// Remove a configuration for good: document, versions, row versions and its metadata.
    fn purge_configuration(&self, id: &str) -> ApiResult<()>;
    /// The next value of the id sequence shared by all configurations and rows (1, 2, …).
    fn next_id(&self) -> ApiResult<i64>;

    /// Record (or replace) version `version` of a configuration.
    fn insert_version(&self, config_id: &str, version: i64, snapshot: &Value) -> ApiResult<()>;
    fn version(&self, config_id: &str, version: i64) -> ApiResult<Option<StoredVersion>>;
    /// A configuration's versions, newest first.
    fn versions(&self, config_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<StoredVersion>>;

    /// The highest version a row has recorded, 0 for none.
    fn last_row_version(&self, config_id: &str, row_id: &str) -> ApiResult<i64>;
    /// Record (or replace) version `version` of a row.
    fn insert_row_version(&self, config_id: &str, row_id: &str, version: i64, snapshot: &Value) -> ApiResult<()>;
    fn row_version(&self, config_id: &str, row_id: &str, version: i64) -> ApiResult<Option<StoredVersion>>;
    /// A row's versions, newest first.
    fn row_versions(&self, config_id: &str, row_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<StoredVersion>>;
    /// Forget a row's history (its id is being reused).
    fn delete_row_versions(&self, config_id: &str, row_id: &str) -> ApiResult<()>;
}

/// The metadata object id configuration metadata hangs on (object type `configuration`).
pub fn metadata_object_id(component: &str, id: &str) -> String {
    format!("{component}/{id}")
}

fn configuration_from_row(r: &rusqlite::Row) -> rusqlite::Result<StoredConfiguration> {
    Ok(StoredConfiguration { component_id: r.get(0)?, id: r.get(1)?, document: json_col(r.get(2)?), is_deleted: r.get(3)? })
}

fn version_from_row(r: &rusqlite::Row) -> rusqlite::Result<StoredVersion> {
    Ok(StoredVersion { version: r.get(0)?, snapshot: json_col(r.get(1)?) })
}

impl ConfigurationStore for SqliteMetaStore {
    fn configurations(&self, scope: Scope, component: Option<&ComponentId>, deleted: bool) -> ApiResult<Vec<StoredConfiguration>> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT component_id, id, body, is_deleted FROM configurations \
                 WHERE project_id = ?1 AND branch_id = ?2 AND (?3 IS NULL OR component_id = ?3) AND is_deleted = ?4 ORDER BY rowid",
            )?;
            let component = component.map(ComponentId::as_str);
            st.query_map(rusqlite::params![scope.project.get(), scope.branch.get(), component, deleted], configuration_from_row)?.collect()
        })
    }

    fn configuration_tx_dyn(&self, at: &ComponentScope, work: &mut dyn FnMut(&dyn ConfigurationTx) -> bool) -> ApiResult<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        if work(&SqliteConfigurations { c: &tx, at: at.clone() }) {
            tx.commit()?;
        }
        Ok(())
    }
}

/// `ConfigurationTx` on an open SQLite transaction (also used by the merge-request store's
/// transaction, which spans several component scopes).
pub(crate) struct SqliteConfigurations<'a> {
    pub(crate) c: &'a Connection,
    pub(crate) at: ComponentScope,
}

impl SqliteConfigurations<'_> {
    /// The scope's parameters ?1 (project), ?2 (branch), ?3 (component).
    fn scope(&self) -> (i64, i64, &str) {
        (self.at.scope.project.get(), self.at.scope.branch.get(), self.at.component.as_str())
    }
}

const IN_SCOPE: &str = "project_id = ?1 AND branch_id = ?2 AND component_id = ?3";

impl ConfigurationTx for SqliteConfigurations<'_> {
    fn configuration(&self, id: &str) -> ApiResult<Option<StoredConfiguration>> {
        let (p, b, component) = self.scope();
        Ok(self
            .c
            .query_row_cached(
                &format!("SELECT component_id, id, body, is_deleted FROM configurations WHERE {IN_SCOPE} AND id = ?4"),
                rusqlite::params![p, b, component, id],
                configuration_from_row,
            )
            .optional()?)
    }

    fn insert_configuration(&self, id: &str, document: &Value) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.c.execute_cached(
            "INSERT INTO configurations (project_id, branch_id, component_id, id, body, is_deleted) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
            rusqlite::params![p, b, component, id, document.to_string()],
        )?;
        Ok(())
    }

    /// UPDATE rather than REPLACE keeps the rowid, i.e. the creation order listings use.
    fn save_configuration(&self, id: &str, document: &Value, is_deleted: bool) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.c.execute_cached(
            &format!("UPDATE configurations SET body = ?5, is_deleted = ?6 WHERE {IN_SCOPE} AND id = ?4"),
            rusqlite::params![p, b, component, id, document.to_string(), is_deleted],
        )?;
        Ok(())
    }

    fn purge_configuration(&self, id: &str) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        for (table, column) in
            [("configurations", "id"), ("configuration_versions", "config_id"), ("configuration_row_versions", "config_id")]
        {
            self.c.execute_cached(&format!("DELETE FROM {table} WHERE {IN_SCOPE} AND {column} = ?4"), rusqlite::params![p, b, component, id])?;
        }
        self.c.execute_cached(
            "DELETE FROM metadata WHERE project_id = ?1 AND branch_id = ?2 AND object_type = 'configuration' AND object_id = ?3",
            rusqlite::params![p, b, metadata_object_id(component, id)],
        )?;
        Ok(())
    }

    fn next_id(&self) -> ApiResult<i64> {
        Ok(super::tickets::next_sequence(self.c, "configurations")?)
    }

    fn insert_version(&self, config_id: &str, version: i64, snapshot: &Value) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.c.execute_cached(
            "INSERT OR REPLACE INTO configuration_versions (project_id, branch_id, component_id, config_id, version, snapshot) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![p, b, component, config_id, version, snapshot.to_string()],
        )?;
        Ok(())
    }

    fn version(&self, config_id: &str, version: i64) -> ApiResult<Option<StoredVersion>> {
        let (p, b, component) = self.scope();
        Ok(self
            .c
            .query_row_cached(
                &format!("SELECT version, snapshot FROM configuration_versions WHERE {IN_SCOPE} AND config_id = ?4 AND version = ?5"),
                rusqlite::params![p, b, component, config_id, version],
                version_from_row,
            )
            .optional()?)
    }

    fn versions(&self, config_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<StoredVersion>> {
        let (p, b, component) = self.scope();
        let mut st = self.c.prepare_cached(&format!(
            "SELECT version, snapshot FROM configuration_versions WHERE {IN_SCOPE} AND config_id = ?4 \
             ORDER BY version DESC LIMIT ?5 OFFSET ?6"
        ))?;
        let versions = st.query_map(rusqlite::params![p, b, component, config_id, limit, offset], version_from_row)?;
        Ok(versions.collect::<rusqlite::Result<_>>()?)
    }

    fn last_row_version(&self, config_id: &str, row_id: &str) -> ApiResult<i64> {
        let (p, b, component) = self.scope();
        Ok(self.c.query_row_cached(
            &format!(
                "SELECT COALESCE(MAX(version), 0) FROM configuration_row_versions WHERE {IN_SCOPE} AND config_id = ?4 AND row_id = ?5"
            ),
            rusqlite::params![p, b, component, config_id, row_id],
            |r| r.get(0),
        )?)
    }

    fn insert_row_version(&self, config_id: &str, row_id: &str, version: i64, snapshot: &Value) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.c.execute_cached(
            "INSERT OR REPLACE INTO configuration_row_versions (project_id, branch_id, component_id, config_id, row_id, version, snapshot) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![p, b, component, config_id, row_id, version, snapshot.to_string()],
        )?;
        Ok(())
    }

    fn row_version(&self, config_id: &str, row_id: &str, version: i64) -> ApiResult<Option<StoredVersion>> {
        let (p, b, component) = self.scope();
        Ok(self
            .c
            .query_row_cached(
                &format!(
                    "SELECT version, snapshot FROM configuration_row_versions WHERE {IN_SCOPE} AND config_id = ?4 AND row_id = ?5 AND version = ?6"
                ),
                rusqlite::params![p, b, component, config_id, row_id, version],
                version_from_row,
            )
            .optional()?)
    }

    fn row_versions(&self, config_id: &str, row_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<StoredVersion>> {
        let (p, b, component) = self.scope();
        let mut st = self.c.prepare_cached(&format!(
            "SELECT version, snapshot FROM configuration_row_versions WHERE {IN_SCOPE} AND config_id = ?4 AND row_id = ?5 \
             ORDER BY version DESC LIMIT ?6 OFFSET ?7"
        ))?;
        let versions = st.query_map(rusqlite::params![p, b, component, config_id, row_id, limit, offset], version_from_row)?;
        Ok(versions.collect::<rusqlite::Result<_>>()?)
    }

    fn delete_row_versions(&self, config_id: &str, row_id: &str) -> ApiResult<()> {
        let (p, b, component) = self.scope();
        self.c.execute_cached(
            &format!("DELETE FROM configuration_row_versions WHERE {IN_SCOPE} AND config_id = ?4 AND row_id = ?5"),
            rusqlite::params![p, b, component, config_id, row_id],
        )?;
        Ok(())
    }
}

/// The behaviour every `ConfigurationStore` must have; `configuration_store_suite!` runs each
/// check as a named test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use serde_json::json;

    fn at(project: i64, branch: i64, component: &str) -> ComponentScope {
        ComponentScope { scope: Scope::new(project, branch), component: component.into() }
    }

    fn document(id: &str, name: &str) -> Value {
        json!({"id": id, "name": name, "version": 1, "isDeleted": false, "rows": [], "state": {}})
    }

    fn insert<S: ConfigurationStore>(s: &S, at: &ComponentScope, id: &str, name: &str) {
        s.configuration_tx(at, |tx| tx.insert_configuration(id, &document(id, name))).unwrap();
    }

    fn load<S: ConfigurationStore>(s: &S, at: &ComponentScope, id: &str) -> Option<StoredConfiguration> {
        s.configuration_tx(at, |tx| tx.configuration(id)).unwrap()
    }

    fn ids(configs: Vec<StoredConfiguration>) -> Vec<String> {
        configs.into_iter().map(|c| c.id).collect()
    }

    fn versions(list: Vec<StoredVersion>) -> Vec<i64> {
        list.into_iter().map(|v| v.version).collect()
    }

    pub fn apart_by_project_branch_and_component<S: ConfigurationStore>(s: &S) {
        let main = at(1, 1, "keboola.ex");
        let (dev, other_project, other_component) = (at(1, 2, "keboola.ex"), at(2, 3, "keboola.ex"), at(1, 1, "keboola.wr"));
        for (scope, name) in [(&main, "main"), (&dev, "dev"), (&other_project, "other project"), (&other_component, "writer")] {
            insert(s, scope, "1", name);
        }
        for (scope, name) in [(&main, "main"), (&dev, "dev"), (&other_project, "other project"), (&other_component, "writer")] {
            let found = load(s, scope, "1").expect("stored");
            assert_eq!((found.document["name"].as_str(), found.component_id.as_str()), (Some(name), scope.component.as_str()));
        }
        assert_eq!(load(s, &main, "2"), None, "not found is None");
        let listed = s.configurations(main.scope, None, false).unwrap();
        assert_eq!(listed.iter().map(|c| c.component_id.as_str()).collect::<Vec<_>>(), vec!["keboola.ex", "keboola.wr"]);
        assert_eq!(ids(s.configurations(main.scope, Some(&main.component), false).unwrap()), vec!["1"]);
        assert_eq!(ids(s.configurations(Scope::new(2, 1), None, false).unwrap()), Vec::<String>::new(), "a branch of another project");
    }

    pub fn document_kept_as_written<S: ConfigurationStore>(s: &S) {
        let main = at(1, 1, "keboola.ex");
        // Key order is part of the wire shape.
        let doc = json!({"id": "a", "name": "n", "state": {"z": 1, "a": [1, {"b": null}]}, "configuration": {"y": "x"}, "rows": []});
        s.configuration_tx(&main, |tx| tx.insert_configuration("a", &doc)).unwrap();
        assert_eq!(load(s, &main, "a").unwrap().document.to_string(), doc.to_string());
        let mut changed = doc.clone();
        changed["state"] = json!({"cursor": 42});
        s.configuration_tx(&main, |tx| tx.save_configuration("a", &changed, false)).unwrap();
        let stored = load(s, &main, "a").unwrap();
        assert_eq!(stored.document.to_string(), changed.to_string());
        assert!(!stored.is_deleted);
    }

    pub fn trash_keeps_the_creation_order<S: ConfigurationStore>(s: &S) {
        let main = at(1, 1, "keboola.ex");
        for id in ["c", "a", "b"] {
            insert(s, &main, id, id);
        }
        s.configuration_tx(&main, |tx| tx.save_configuration("a", &document("a", "trashed"), true)).unwrap();
        assert_eq!(ids(s.configurations(main.scope, None, false).unwrap()), vec!["c", "b"]);
        assert_eq!(ids(s.configurations(main.scope, None, true).unwrap()), vec!["a"]);
        assert!(load(s, &main, "a").unwrap().is_deleted, "a trashed configuration is still found");
        s.configuration_tx(&main, |tx| tx.save_configuration("a", &document("a", "restored"), false)).unwrap();
        assert_eq!(ids(s.configurations(main.scope, None, false).unwrap()), vec!["c", "a", "b"], "restored in its place");
    }

    pub fn an_id_is_stored_once<S: ConfigurationStore>(s: &S) {
        let main = at(1, 1, "keboola.ex");
        insert(s, &main, "a", "first");
        assert!(s.configuration_tx(&main, |tx| tx.insert_configuration("a", &document("a", "second"))).is_err());
        assert_eq!(load(s, &main, "a").unwrap().document["name"], "first");
    }

    pub fn a_failed_unit_of_work_leaves_nothing<S: ConfigurationStore>(s: &S) {
        let main = at(1, 1, "keboola.ex");
        let failed: ApiResult<()> = s.configuration_tx(&main, |tx| {
            tx.insert_configuration("a", &document("a", "a"))?;
            tx.insert_version("a", 1, &json!({"version": 1}))?;
            Err(Error::validation("refused"))
        });
        assert_eq!(failed.unwrap_err().message, "refused");
        assert_eq!(load(s, &main, "a"), None);
        assert!(s.configuration_tx(&main, |tx| tx.versions("a", 10, 0)).unwrap().is_empty());
    }

    /// Units of work on one scope run one after another, also from several threads (nodes): each
    /// reads a counter and writes it plus one, and no increment is lost.
    pub fn units_of_work_on_one_scope_run_one_at_a_time<S: ConfigurationStore + Sync>(s: &S) {
        let main = at(1, 1, "keboola.ex");
        s.configuration_tx(&main, |tx| tx.insert_configuration("n", &json!({"id": "n", "count": 0}))).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    s.configuration_tx(&main, |tx| {
                        let count = tx.configuration("n")?.expect("stored").document["count"].as_i64().unwrap();
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        tx.save_configuration("n", &json!({"id": "n", "count": count + 1}), false)
                    })
                    .unwrap();
                });
            }
        });
        assert_eq!(load(s, &main, "n").unwrap().document["count"], 6);
    }

    pub fn versions_newest_first<S: ConfigurationStore>(s: &S) {
        let (main, dev) = (at(1, 1, "keboola.ex"), at(1, 2, "keboola.ex"));
        insert(s, &main, "a", "a");
        s.configuration_tx(&main, |tx| {
            for v in 1..=3 {
                tx.insert_version("a", v, &json!({"version": v, "name": format!("v{v}")}))?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
        s.configuration_tx(&dev, |tx| tx.insert_version("a", 1, &json!({"version": 1}))).unwrap();
        let (all, page, second, missing) = s
            .configuration_tx(&main, |tx| {
                Ok::<_, Error>((tx.versions("a", 100, 0)?, tx.versions("a", 1, 1)?, tx.version("a", 2)?, tx.version("a", 9)?))
            })
            .unwrap();
        assert_eq!(versions(all), vec![3, 2, 1]);
        assert_eq!(versions(page), vec![2]);
        assert_eq!(second.unwrap().snapshot["name"], "v2");
        assert_eq!(missing, None);
        assert_eq!(versions(s.configuration_tx(&dev, |tx| tx.versions("a", 100, 0)).unwrap()), vec![1], "each branch its own history");
    }

    pub fn row_versions_count_per_row<S: ConfigurationStore>(s: &S) {
        let main = at(1, 1, "keboola.ex");
        s.configuration_tx(&main, |tx| {
            assert_eq!(tx.last_row_version("a", "r1")?, 0);
            for v in 1..=2 {
                tx.insert_row_version("a", "r1", v, &json!({"version": v, "state": {"n": v}}))?;
            }
            tx.insert_row_version("a", "r2", 1, &json!({"version": 1}))?;
            tx.insert_row_version("b", "r1", 1, &json!({"version": 1}))?;
            assert_eq!(tx.last_row_version("a", "r1")?, 2);
            assert_eq!(versions(tx.row_versions("a", "r1", 100, 0)?), vec![2, 1]);
            assert_eq!(versions(tx.row_versions("a", "r1", 1, 1)?), vec![1]);
            assert_eq!(tx.row_version("a", "r1", 1)?.unwrap().snapshot["state"]["n"], 1);
            assert_eq!(tx.row_version("a", "r1", 3)?, None);

            tx.delete_row_versions("a", "r1")?;
            assert_eq!(tx.last_row_version("a", "r1")?, 0, "a reused row id starts over");
            assert_eq!(tx.last_row_version("a", "r2")?, 1);
            assert_eq!(tx.last_row_version("b", "r1")?, 1, "rows of another configuration are apart");
            Ok::<_, Error>(())
        })
        .unwrap();
    }

    pub fn purge_removes_the_history<S: ConfigurationStore>(s: &S) {
        let main = at(1, 1, "keboola.ex");
        for id in ["a", "b"] {
            insert(s, &main, id, id);
            s.configuration_tx(&main, |tx| {
                tx.insert_version(id, 1, &json!({"version": 1}))?;
                tx.insert_row_version(id, "r", 1, &json!({"version": 1}))
            })
            .unwrap();
        }
        s.configuration_tx(&main, |tx| tx.purge_configuration("a")).unwrap();
        assert_eq!(load(s, &main, "a"), None);
        s.configuration_tx(&main, |tx| {
            assert!(tx.versions("a", 100, 0)?.is_empty());
            assert_eq!(tx.last_row_version("a", "r")?, 0);
            assert_eq!(versions(tx.versions("b", 100, 0)?), vec![1], "others keep theirs");
            assert_eq!(tx.last_row_version("b", "r")?, 1);
            Ok::<_, Error>(())
        })
        .unwrap();
        insert(s, &main, "a", "again");
        assert_eq!(load(s, &main, "a").unwrap().document["name"], "again", "a purged id is free");
    }

    pub fn ids_increase<S: ConfigurationStore>(s: &S) {
        let a = s.configuration_tx(&at(1, 1, "keboola.ex"), |tx| tx.next_id()).unwrap();
        let b = s.configuration_tx(&at(2, 1, "keboola.wr"), |tx| tx.next_id()).unwrap();
        assert!(a >= 1 && b > a, "{a} then {b}");
    }
}

#[macro_export]
macro_rules! configuration_store_suite {
    ($make:expr) => {
        #[test]
        fn configuration_store_apart_by_project_branch_and_component() {
            $crate::meta::configurations::suite::apart_by_project_branch_and_component(&$make());
        }
        #[test]
        fn configuration_store_document_kept_as_written() {
            $crate::meta::configurations::suite::document_kept_as_written(&$make());
        }
        #[test]
        fn configuration_store_trash_keeps_the_creation_order() {
            $crate::meta::configurations::suite::trash_keeps_the_creation_order(&$make());
        }
        #[test]
        fn configuration_store_an_id_is_stored_once() {
            $crate::meta::configurations::suite::an_id_is_stored_once(&$make());
        }
        #[test]
        fn configuration_store_a_failed_unit_of_work_leaves_nothing() {
            $crate::meta::configurations::suite::a_failed_unit_of_work_leaves_nothing(&$make());
        }
        #[test]
        fn configuration_store_units_of_work_on_one_scope_run_one_at_a_time() {
            $crate::meta::configurations::suite::units_of_work_on_one_scope_run_one_at_a_time(&$make());
        }
        #[test]
        fn configuration_store_versions_newest_first() {
            $crate::meta::configurations::suite::versions_newest_first(&$make());
        }
        #[test]
        fn configuration_store_row_versions_count_per_row() {
            $crate::meta::configurations::suite::row_versions_count_per_row(&$make());
        }
        #[test]
        fn configuration_store_purge_removes_the_history() {
            $crate::meta::configurations::suite::purge_removes_the_history(&$make());
        }
        #[test]
        fn configuration_store_ids_increase() {
            $crate::meta::configurations::suite::ids_increase(&$make());
        }
    };
}
