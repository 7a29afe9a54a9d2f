//! Provisioning credentials (the Syrup-era Provisioning API): a Storage workspace handed out per
//! token, backend and type, with the password kept sealed (the legacy API shows it on every
//! read) and the time it was last used (`touch`, which `extend` moves). Ids are global; every
//! read is scoped by project. The trait, its SQLite implementation and the conformance suite
//! (`provisioning_store_suite!`).
use rusqlite::OptionalExtension;

use super::SqliteMetaStore;
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct ProvisioningCredentials {
    pub id: i64,
    pub project_id: i64,
    /// `snowflake`, `redshift-workspace`, `docker`… as the client named it.
    pub backend: String,
    /// `transformations`, `sandbox`, `writer`, `rstudio`…
    pub kind: String,
    pub token_id: i64,
    pub workspace_id: i64,
    /// The workspace password, sealed by the caller (`secrets::Sealer`).
    pub sealed_password: String,
    pub created_ms: i64,
    pub touch_ms: i64,
}

pub trait ProvisioningStore {
    /// Record credentials; `credentials.id` is ignored and the new id returned.
    fn insert_provisioning_credentials(&self, credentials: &ProvisioningCredentials) -> ApiResult<i64>;
    fn provisioning_credentials(&self, project_id: i64, id: i64) -> ApiResult<Option<ProvisioningCredentials>>;
    /// The newest credentials of one token for a backend and type.
    fn token_provisioning_credentials(&self, project_id: i64, token_id: i64, backend: &str, kind: &str) -> ApiResult<Option<ProvisioningCredentials>>;
    /// False when the project has no such credentials.
    fn touch_provisioning_credentials(&self, project_id: i64, id: i64, touch_ms: i64) -> ApiResult<bool>;
    /// False when the project has no such credentials.
    fn delete_provisioning_credentials(&self, project_id: i64, id: i64) -> ApiResult<bool>;
}

const COLUMNS: &str = "id, project_id, backend, kind, token_id, workspace_id, sealed_password, created_ms, touch_ms";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<ProvisioningCredentials> {
    Ok(ProvisioningCredentials {
        id: r.get(0)?,
        project_id: r.get(1)?,
        backend: r.get(2)?,
        kind: r.get(3)?,
        token_id: r.get(4)?,
        workspace_id: r.get(5)?,
        sealed_password: r.get(6)?,
        created_ms: r.get(7)?,
        touch_ms: r.get(8)?,
    })
}

impl ProvisioningStore for SqliteMetaStore {
    fn insert_provisioning_credentials(&self, c: &ProvisioningCredentials) -> ApiResult<i64> {
        self.with(|conn| {
            conn.query_row(
                "INSERT INTO provisioning_credentials (project_id, backend, kind, token_id, workspace_id, sealed_password, created_ms, touch_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                rusqlite::params![c.project_id, c.backend, c.kind, c.token_id, c.workspace_id, c.sealed_password, c.created_ms, c.touch_ms],
                |r| r.get(0),
            )
        })
    }

    fn provisioning_credentials(&self, project_id: i64, id: i64) -> ApiResult<Option<ProvisioningCredentials>> {
        self.with(|c| {
            c.query_row(&format!("SELECT {COLUMNS} FROM provisioning_credentials WHERE project_id = ?1 AND id = ?2"), [project_id, id], from_row)
                .optional()
        })
    }

    fn token_provisioning_credentials(&self, project_id: i64, token_id: i64, backend: &str, kind: &str) -> ApiResult<Option<ProvisioningCredentials>> {
        self.with(|c| {
            c.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM provisioning_credentials WHERE project_id = ?1 AND token_id = ?2 AND backend = ?3 AND kind = ?4 \
                     ORDER BY id DESC LIMIT 1"
                ),
                rusqlite::params![project_id, token_id, backend, kind],
                from_row,
            )
            .optional()
        })
    }

    fn touch_provisioning_credentials(&self, project_id: i64, id: i64, touch_ms: i64) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute("UPDATE provisioning_credentials SET touch_ms = ?3 WHERE project_id = ?1 AND id = ?2", rusqlite::params![project_id, id, touch_ms])? > 0)
        })
    }

    fn delete_provisioning_credentials(&self, project_id: i64, id: i64) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM provisioning_credentials WHERE project_id = ?1 AND id = ?2", [project_id, id])? > 0))
    }
}

/// The behaviour every `ProvisioningStore` must have; `provisioning_store_suite!` runs each check
/// as a named test.
#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn credentials(project_id: i64, token_id: i64, backend: &str, kind: &str) -> ProvisioningCredentials {
        ProvisioningCredentials {
            id: 0,
            project_id,
            backend: backend.into(),
            kind: kind.into(),
            token_id,
            workspace_id: 42,
            sealed_password: "sealed".into(),
            created_ms: 1_000,
            touch_ms: 1_000,
        }
    }

    pub fn recorded_whole_and_read_back<S: ProvisioningStore>(s: &S) {
        let new = credentials(1, 7, "snowflake", "sandbox");
        let id = s.insert_provisioning_credentials(&new).unwrap();
        assert_eq!(s.provisioning_credentials(1, id).unwrap(), Some(ProvisioningCredentials { id, ..new }));
        let second = s.insert_provisioning_credentials(&credentials(1, 7, "snowflake", "sandbox")).unwrap();
        assert!(second > id, "ids increase");
    }

    pub fn found_per_token_backend_and_type<S: ProvisioningStore>(s: &S) {
        let a = s.insert_provisioning_credentials(&credentials(1, 7, "snowflake", "sandbox")).unwrap();
        s.insert_provisioning_credentials(&credentials(1, 7, "snowflake", "transformations")).unwrap();
        s.insert_provisioning_credentials(&credentials(1, 8, "snowflake", "sandbox")).unwrap();
        s.insert_provisioning_credentials(&credentials(2, 7, "snowflake", "sandbox")).unwrap();
        assert_eq!(s.token_provisioning_credentials(1, 7, "snowflake", "sandbox").unwrap().map(|c| c.id), Some(a));
        assert!(s.token_provisioning_credentials(1, 7, "redshift-workspace", "sandbox").unwrap().is_none());
        assert!(s.token_provisioning_credentials(3, 7, "snowflake", "sandbox").unwrap().is_none());
    }

    pub fn touched_scoped_by_project_and_deleted<S: ProvisioningStore>(s: &S) {
        let id = s.insert_provisioning_credentials(&credentials(1, 7, "snowflake", "sandbox")).unwrap();
        assert!(s.touch_provisioning_credentials(1, id, 5_000).unwrap());
        assert_eq!(s.provisioning_credentials(1, id).unwrap().unwrap().touch_ms, 5_000);
        assert!(s.provisioning_credentials(2, id).unwrap().is_none(), "another project never sees it");
        assert!(!s.touch_provisioning_credentials(2, id, 9).unwrap(), "nor touches it");
        assert!(!s.delete_provisioning_credentials(2, id).unwrap(), "nor deletes it");
        assert!(s.delete_provisioning_credentials(1, id).unwrap());
        assert!(s.provisioning_credentials(1, id).unwrap().is_none());
        assert!(!s.delete_provisioning_credentials(1, id).unwrap());
    }
}

#[macro_export]
macro_rules! provisioning_store_suite {
    ($make:expr) => {
        #[test]
        fn provisioning_store_recorded_whole_and_read_back() {
            $crate::meta::provisioning::suite::recorded_whole_and_read_back(&$make());
        }
        #[test]
        fn provisioning_store_found_per_token_backend_and_type() {
            $crate::meta::provisioning::suite::found_per_token_backend_and_type(&$make());
        }
        #[test]
        fn provisioning_store_touched_scoped_by_project_and_deleted() {
            $crate::meta::provisioning::suite::touched_scoped_by_project_and_deleted(&$make());
        }
    };
}
