//! Vault variables: a project's `{key, value, flags, attributes}` records, identified within the
//! project by their hash (of key and attributes, made by the service). Every read and delete is
//! scoped by project. The trait, its SQLite implementation and the conformance suite
//! (`vault_variable_store_suite!`).
use std::collections::BTreeMap;

use kbstack_core::Result as ApiResult;

use super::{AlreadyExists, SqliteMetaStore};

#[derive(Debug, Clone, PartialEq)]
pub struct VaultVariable {
    pub project_id: i64,
    pub hash: String,
    pub key: String,
    /// The value as the API shows it: a cipher for an `encrypted` variable.
    pub value: String,
    pub flags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub created: String,
}

pub trait VaultVariableStore {
    /// Record a variable; `Err(AlreadyExists)` when the project has its hash already.
    fn insert_vault_variable(&self, v: &VaultVariable) -> ApiResult<Result<(), AlreadyExists>>;
    /// The project's variables (only those of `key` when given), by key, then oldest first.
    fn vault_variables(&self, project_id: i64, key: Option<&str>) -> ApiResult<Vec<VaultVariable>>;
    /// False when the project has no such variable.
    fn delete_vault_variable(&self, project_id: i64, hash: &str) -> ApiResult<bool>;
}

const COLUMNS: &str = "project_id, hash, key, value, flags, attributes, created";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<VaultVariable> {
    let flags: String = r.get(4)?;
    let attributes: String = r.get(5)?;
    Ok(VaultVariable {
        project_id: r.get(0)?,
        hash: r.get(1)?,
        key: r.get(2)?,
        value: r.get(3)?,
        flags: serde_json::from_str(&flags).unwrap_or_default(),
        attributes: serde_json::from_str(&attributes).unwrap_or_default(),
        created: r.get(6)?,
    })
}

impl VaultVariableStore for SqliteMetaStore {
    fn insert_vault_variable(&self, v: &VaultVariable) -> ApiResult<Result<(), AlreadyExists>> {
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO vault_variables (project_id, hash, key, value, flags, attributes, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (project_id, hash) DO NOTHING",
                rusqlite::params![
                    v.project_id,
                    v.hash,
                    v.key,
                    v.value,
                    serde_json::json!(v.flags).to_string(),
                    serde_json::json!(v.attributes).to_string(),
                    v.created,
                ],
            )?;
            Ok(if inserted == 1 { Ok(()) } else { Err(AlreadyExists) })
        })
    }

    fn vault_variables(&self, project_id: i64, key: Option<&str>) -> ApiResult<Vec<VaultVariable>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM vault_variables WHERE project_id = ?1 AND (?2 IS NULL OR key = ?2) ORDER BY key, seq"
            ))?;
            st.query_map(rusqlite::params![project_id, key], from_row)?.collect()
        })
    }

    fn delete_vault_variable(&self, project_id: i64, hash: &str) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM vault_variables WHERE project_id = ?1 AND hash = ?2", rusqlite::params![project_id, hash])? > 0))
    }
}

/// The behaviour every `VaultVariableStore` must have; `vault_variable_store_suite!` runs each
/// check as a named test.
#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn variable(project_id: i64, hash: &str, key: &str, branch: Option<&str>) -> VaultVariable {
        VaultVariable {
            project_id,
            hash: hash.into(),
            key: key.into(),
            value: format!("value of {key}"),
            flags: vec!["encrypted".into()],
            attributes: branch.map(|b| BTreeMap::from([("branchId".to_string(), b.to_string())])).unwrap_or_default(),
            created: "2026-01-01T00:00:00+0000".into(),
        }
    }

    pub fn recorded_whole_and_listed_by_key<S: VaultVariableStore>(s: &S) {
        let b = variable(1, "h-b", "beta", None);
        let a2 = variable(1, "h-a2", "alpha", Some("7"));
        let a1 = variable(1, "h-a1", "alpha", None);
        for v in [&b, &a2, &a1] {
            s.insert_vault_variable(v).unwrap().expect("new");
        }
        assert_eq!(s.vault_variables(1, None).unwrap(), vec![a2.clone(), a1.clone(), b.clone()], "by key, then oldest first");
        assert_eq!(s.vault_variables(1, Some("alpha")).unwrap(), vec![a2, a1]);
        assert!(s.vault_variables(1, Some("gamma")).unwrap().is_empty());
    }

    pub fn a_hash_is_taken_once_per_project<S: VaultVariableStore>(s: &S) {
        s.insert_vault_variable(&variable(1, "h", "k", None)).unwrap().expect("new");
        let mut again = variable(1, "h", "k", None);
        again.value = "other".into();
        assert_eq!(s.insert_vault_variable(&again).unwrap(), Err(AlreadyExists));
        assert_eq!(s.vault_variables(1, None).unwrap()[0].value, "value of k", "the first one stays");
        s.insert_vault_variable(&variable(2, "h", "k", None)).unwrap().expect("another project has its own");
    }

    pub fn scoped_by_project_and_deleted<S: VaultVariableStore>(s: &S) {
        s.insert_vault_variable(&variable(1, "h", "k", None)).unwrap().unwrap();
        assert!(s.vault_variables(2, None).unwrap().is_empty(), "another project never sees it");
        assert!(!s.delete_vault_variable(2, "h").unwrap(), "nor deletes it");
        assert!(s.delete_vault_variable(1, "h").unwrap());
        assert!(s.vault_variables(1, None).unwrap().is_empty());
        assert!(!s.delete_vault_variable(1, "h").unwrap());
    }
}

#[macro_export]
macro_rules! vault_variable_store_suite {
    ($make:expr) => {
        #[test]
        fn vault_variable_store_recorded_whole_and_listed_by_key() {
            $crate::meta::vault_variables::suite::recorded_whole_and_listed_by_key(&$make());
        }
        #[test]
        fn vault_variable_store_a_hash_is_taken_once_per_project() {
            $crate::meta::vault_variables::suite::a_hash_is_taken_once_per_project(&$make());
        }
        #[test]
        fn vault_variable_store_scoped_by_project_and_deleted() {
            $crate::meta::vault_variables::suite::scoped_by_project_and_deleted(&$make());
        }
    };
}
