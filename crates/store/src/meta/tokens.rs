//! Projects and tokens in the metadata store: the repository traits, their SQLite implementation
//! on `SqliteMetaStore`, and the conformance suite every implementation instantiates
//! (`token_store_suite!`). Only hashes of token secrets are stored.
use crate::meta::Cached;
use rusqlite::OptionalExtension;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::SqliteMetaStore;
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: i64,
    pub project_id: i64,
    pub description: String,
    pub is_master: bool,
    pub can_manage_buckets: bool,
    pub can_manage_tokens: bool,
    pub can_read_all_file_uploads: bool,
    pub can_purge_trash: bool,
    pub can_create_jobs: bool,
    pub can_manage_protected_default_branch: bool,
    pub bucket_permissions: Map<String, Value>,
    pub component_access: Option<Vec<String>>,
    pub expires: Option<i64>,
    pub created: String,
    pub refreshed: String,
    pub creator_token_id: Option<i64>,
    pub creator_description: Option<String>,
}

impl TokenRecord {
    /// A project's master token (every right) as it is first stored: its id comes from the store.
    pub fn master(project_id: i64, description: &str, created: &str) -> TokenRecord {
        TokenRecord {
            id: 0,
            project_id,
            description: description.into(),
            is_master: true,
            can_manage_buckets: true,
            can_manage_tokens: true,
            can_read_all_file_uploads: true,
            can_purge_trash: true,
            can_create_jobs: true,
            can_manage_protected_default_branch: false,
            bucket_permissions: Default::default(),
            component_access: None,
            expires: None,
            created: created.into(),
            refreshed: created.into(),
            creator_token_id: None,
            creator_description: None,
        }
    }

    pub fn is_expired(&self) -> bool {
        self.expires.is_some_and(|e| e <= chrono::Utc::now().timestamp())
    }

    pub fn creator_json(&self) -> Value {
        serde_json::json!({"id": self.id, "description": self.description})
    }
}

/// How a secret is kept: its SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub trait ProjectStore {
    /// Create the project unless it exists.
    fn ensure_project(&self, id: i64, name: &str, created: &str) -> ApiResult<()>;
    /// `(name, created)` of a project.
    fn project(&self, id: i64) -> ApiResult<Option<(String, String)>>;
}

pub trait TokenStore {
    /// The enabled token whose secret has this hash.
    fn token_by_hash(&self, hash: &str) -> ApiResult<Option<TokenRecord>>;
    /// An enabled token by id, in any project (callers check the project).
    fn token(&self, id: i64) -> ApiResult<Option<TokenRecord>>;
    /// The project's enabled tokens, by id.
    fn project_tokens(&self, project_id: i64) -> ApiResult<Vec<TokenRecord>>;
    /// The project's (first) master token.
    fn master_token(&self, project_id: i64) -> ApiResult<Option<TokenRecord>>;
    /// Insert `token` (its `id` is ignored) with the secret `secret_for(new id)`, in one
    /// transaction: only the secret's hash is stored. Returns the new id and the secret.
    fn insert_token(&self, token: &TokenRecord, secret_for: &dyn Fn(i64) -> String) -> ApiResult<(i64, String)>;
    /// Store the description, rights and expiry of `token` (by its id).
    fn update_token(&self, token: &TokenRecord) -> ApiResult<()>;
    /// The hash of the token's current secret.
    fn token_hash(&self, id: i64) -> ApiResult<Option<String>>;
    /// Replace the token's secret (by its hash); `refreshed` is when.
    fn set_token_hash(&self, id: i64, hash: &str, refreshed: &str) -> ApiResult<()>;
    fn delete_token(&self, id: i64) -> ApiResult<()>;
}

const TOKEN_COLUMNS: &str = "id, project_id, description, is_master, can_manage_buckets, can_manage_tokens, \
    can_read_all_file_uploads, can_purge_trash, can_create_jobs, can_manage_protected_default_branch, \
    bucket_permissions, component_access, expires, created, refreshed, creator_token_id, creator_description";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<TokenRecord> {
    let perms: String = r.get(10)?;
    let access: Option<String> = r.get(11)?;
    Ok(TokenRecord {
        id: r.get(0)?,
        project_id: r.get(1)?,
        description: r.get(2)?,
        is_master: r.get(3)?,
        can_manage_buckets: r.get(4)?,
        can_manage_tokens: r.get(5)?,
        can_read_all_file_uploads: r.get(6)?,
        can_purge_trash: r.get(7)?,
        can_create_jobs: r.get(8)?,
        can_manage_protected_default_branch: r.get(9)?,
        bucket_permissions: serde_json::from_str(&perms).unwrap_or_default(),
        component_access: access.and_then(|a| serde_json::from_str(&a).ok()),
        expires: r.get(12)?,
        created: r.get(13)?,
        refreshed: r.get(14)?,
        creator_token_id: r.get(15)?,
        creator_description: r.get(16)?,
    })
}

impl SqliteMetaStore {
    fn one_token(&self, filter: &str, param: &dyn rusqlite::ToSql) -> ApiResult<Option<TokenRecord>> {
        self.with(|c| one_token_in(c, filter, param))
    }
}

/// The working token matching `filter`. A deleted project's tokens stop working (and come back
/// if it is restored).
fn one_token_in(c: &rusqlite::Connection, filter: &str, param: &dyn rusqlite::ToSql) -> rusqlite::Result<Option<TokenRecord>> {
    c.query_row_cached(
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE {filter} AND disabled = 0 AND NOT EXISTS \
             (SELECT 1 FROM project_details d WHERE d.project_id = tokens.project_id AND d.deleted_time IS NOT NULL)"
        ),
        [param],
        from_row,
    )
    .optional()
}

/// Description, rights and expiry of token `id`, as `t` has them.
fn write_rights(c: &rusqlite::Connection, id: i64, t: &TokenRecord) -> rusqlite::Result<usize> {
    c.execute_cached(
        "UPDATE tokens SET description = ?1, can_manage_buckets = ?2, can_manage_tokens = ?3, can_read_all_file_uploads = ?4, \
         can_purge_trash = ?5, can_create_jobs = ?6, can_manage_protected_default_branch = ?7, bucket_permissions = ?8, \
         component_access = ?9, expires = ?10 WHERE id = ?11",
        rusqlite::params![
            t.description,
            t.can_manage_buckets,
            t.can_manage_tokens,
            t.can_read_all_file_uploads,
            t.can_purge_trash,
            t.can_create_jobs,
            t.can_manage_protected_default_branch,
            Value::Object(t.bucket_permissions.clone()).to_string(),
            t.component_access.as_ref().map(|a| serde_json::json!(a).to_string()),
            t.expires,
            id,
        ],
    )
}

impl ProjectStore for SqliteMetaStore {
    fn ensure_project(&self, id: i64, name: &str, created: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached("INSERT OR IGNORE INTO projects (id, name, created) VALUES (?1, ?2, ?3)", rusqlite::params![id, name, created])
        })?;
        Ok(())
    }

    fn project(&self, id: i64) -> ApiResult<Option<(String, String)>> {
        self.with(|c| c.query_row_cached("SELECT name, created FROM projects WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
    }
}

impl TokenStore for SqliteMetaStore {
    fn token_by_hash(&self, hash: &str) -> ApiResult<Option<TokenRecord>> {
        self.cached(|c| &c.tokens, hash, |t| t.is_some(), |c| one_token_in(c, "hash = ?1", &hash))
    }

    fn token(&self, id: i64) -> ApiResult<Option<TokenRecord>> {
        self.one_token("id = ?1", &id)
    }

    fn project_tokens(&self, project_id: i64) -> ApiResult<Vec<TokenRecord>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE project_id = ?1 AND disabled = 0 ORDER BY id"))?;
            st.query_map([project_id], from_row)?.collect()
        })
    }

    fn master_token(&self, project_id: i64) -> ApiResult<Option<TokenRecord>> {
        self.with(|c| {
            c.query_row_cached(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE project_id = ?1 AND is_master = 1 AND disabled = 0 ORDER BY id LIMIT 1"),
                [project_id],
                from_row,
            )
            .optional()
        })
    }

    fn insert_token(&self, t: &TokenRecord, secret_for: &dyn Fn(i64) -> String) -> ApiResult<(i64, String)> {
        self.tx(|tx| {
            tx.execute_cached(
                "INSERT INTO tokens (project_id, hash, is_master, created, refreshed, creator_token_id, creator_description) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    t.project_id,
                    format!("pending-{}", uuid::Uuid::new_v4()),
                    t.is_master,
                    t.created,
                    t.refreshed,
                    t.creator_token_id,
                    t.creator_description,
                ],
            )?;
            let id = tx.last_insert_rowid();
            write_rights(tx, id, t)?;
            let secret = secret_for(id);
            tx.execute_cached("UPDATE tokens SET hash = ?1 WHERE id = ?2", rusqlite::params![hash_token(&secret), id])?;
            Ok((id, secret))
        })
    }

    fn update_token(&self, t: &TokenRecord) -> ApiResult<()> {
        self.with(|c| write_rights(c, t.id, t))?;
        Ok(())
    }

    fn token_hash(&self, id: i64) -> ApiResult<Option<String>> {
        self.with(|c| c.query_row_cached("SELECT hash FROM tokens WHERE id = ?1", [id], |r| r.get(0)).optional())
    }

    fn set_token_hash(&self, id: i64, hash: &str, refreshed: &str) -> ApiResult<()> {
        self.with(|c| c.execute_cached("UPDATE tokens SET hash = ?1, refreshed = ?2 WHERE id = ?3", rusqlite::params![hash, refreshed, id]))?;
        Ok(())
    }

    fn delete_token(&self, id: i64) -> ApiResult<()> {
        self.with(|c| c.execute_cached("DELETE FROM tokens WHERE id = ?1", [id]))?;
        Ok(())
    }
}

/// The behaviour every `ProjectStore + TokenStore` implementation must have; instantiated per
/// implementation by `token_store_suite!` (one named test per check).
#[doc(hidden)]
pub mod suite {
    use super::*;

    fn token(project_id: i64, description: &str) -> TokenRecord {
        TokenRecord {
            id: 0,
            project_id,
            description: description.into(),
            is_master: false,
            can_manage_buckets: false,
            can_manage_tokens: false,
            can_read_all_file_uploads: false,
            can_purge_trash: false,
            can_create_jobs: false,
            can_manage_protected_default_branch: false,
            bucket_permissions: Map::new(),
            component_access: None,
            expires: None,
            created: "2024-01-01T00:00:00+0000".into(),
            refreshed: "2024-01-01T00:00:00+0000".into(),
            creator_token_id: None,
            creator_description: None,
        }
    }

    fn two_projects<S: ProjectStore>(s: &S) {
        s.ensure_project(1, "one", "2024-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2024-01-02T00:00:00+0000").unwrap();
        // Ensuring again keeps the first.
        s.ensure_project(1, "renamed", "2025-01-01T00:00:00+0000").unwrap();
        assert_eq!(s.project(1).unwrap(), Some(("one".into(), "2024-01-01T00:00:00+0000".into())));
        assert_eq!(s.project(3).unwrap(), None);
    }

    pub fn insert_and_find<S: ProjectStore + TokenStore>(s: &S) {
        two_projects(s);
        let mut t = token(1, "reader");
        t.bucket_permissions.insert("in.c-a".into(), "read".into());
        t.component_access = Some(vec!["keboola.x".into()]);
        t.expires = Some(4_102_444_800);
        t.creator_token_id = Some(9);
        t.creator_description = Some("creator".into());
        let (id, secret) = s.insert_token(&t, &|id| format!("1-{id}-secret")).unwrap();
        assert_eq!(secret, format!("1-{id}-secret"));
        let stored = s.token(id).unwrap().expect("stored");
        assert_eq!(stored, TokenRecord { id, ..t.clone() });
        assert_eq!(s.token_by_hash(&hash_token(&secret)).unwrap().map(|t| t.id), Some(id));
        assert_eq!(s.token_by_hash(&hash_token("1-1-other")).unwrap(), None);
        assert_eq!(s.token_hash(id).unwrap(), Some(hash_token(&secret)), "only the hash is kept");
        assert_eq!(s.token(id + 1000).unwrap(), None);
    }

    pub fn listed_per_project_with_the_master_first<S: ProjectStore + TokenStore>(s: &S) {
        two_projects(s);
        let (a, _) = s.insert_token(&token(1, "a"), &|id| format!("1-{id}-a")).unwrap();
        let mut master = token(1, "Master Token");
        master.is_master = true;
        let (m, _) = s.insert_token(&master, &|id| format!("1-{id}-m")).unwrap();
        let (b, _) = s.insert_token(&token(2, "b"), &|id| format!("2-{id}-b")).unwrap();
        assert_eq!(s.project_tokens(1).unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), vec![a, m]);
        assert_eq!(s.project_tokens(2).unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), vec![b]);
        assert_eq!(s.master_token(1).unwrap().map(|t| t.id), Some(m));
        assert_eq!(s.master_token(2).unwrap(), None);
    }

    pub fn update_refresh_and_delete<S: ProjectStore + TokenStore>(s: &S) {
        two_projects(s);
        let (id, old) = s.insert_token(&token(1, "t"), &|id| format!("1-{id}-old")).unwrap();
        // Looked up before each write, so that a store which keeps lookups must drop them.
        assert_eq!(s.token_by_hash(&hash_token(&old)).unwrap().map(|t| t.description), Some("t".into()));
        let mut changed = s.token(id).unwrap().unwrap();
        changed.description = "renamed".into();
        changed.can_manage_buckets = true;
        changed.can_create_jobs = true;
        changed.bucket_permissions.insert("in.c-b".into(), "write".into());
        changed.component_access = Some(vec![]);
        changed.expires = Some(1);
        s.update_token(&changed).unwrap();
        assert_eq!(s.token(id).unwrap().as_ref(), Some(&changed));
        assert_eq!(s.token_by_hash(&hash_token(&old)).unwrap().as_ref(), Some(&changed), "a lookup sees the update at once");
        assert!(changed.is_expired());

        s.set_token_hash(id, &hash_token("1-x-new"), "2025-05-05T00:00:00+0000").unwrap();
        assert_eq!(s.token_by_hash(&hash_token(&old)).unwrap(), None, "the old secret stops working");
        let refreshed = s.token_by_hash(&hash_token("1-x-new")).unwrap().unwrap();
        assert_eq!(refreshed.refreshed, "2025-05-05T00:00:00+0000");
        assert_eq!(s.token_by_hash(&hash_token("1-x-new")).unwrap().map(|t| t.id), Some(id));

        s.delete_token(id).unwrap();
        assert_eq!(s.token(id).unwrap(), None);
        assert_eq!(s.token_by_hash(&hash_token("1-x-new")).unwrap(), None);
        assert!(s.project_tokens(1).unwrap().is_empty());
    }
}

/// One named test per check of `suite`, for the store `$make()` returns (a fresh, empty store
/// each call).
#[macro_export]
macro_rules! token_store_suite {
    ($make:expr) => {
        #[test]
        fn token_store_insert_and_find() {
            $crate::meta::tokens::suite::insert_and_find(&$make());
        }
        #[test]
        fn token_store_listed_per_project_with_the_master_first() {
            $crate::meta::tokens::suite::listed_per_project_with_the_master_first(&$make());
        }
        #[test]
        fn token_store_update_refresh_and_delete() {
            $crate::meta::tokens::suite::update_refresh_and_delete(&$make());
        }
    };
}
