//! The Management API's people and credentials in the metadata store: users (Keboola's
//! administrators) and manage tokens (a user's personal access tokens, or super tokens tied to no
//! user). The repository trait, its SQLite implementation and the conformance suite
//! (`manage_store_suite!`). Only hashes of token secrets are stored.
use crate::meta::Cached;
use rusqlite::OptionalExtension;

use super::SqliteMetaStore;
use super::tokens::hash_token;
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub created: String,
    pub mfa_enabled: bool,
    pub can_access_logs: bool,
    pub is_super_admin: bool,
    pub features: Vec<String>,
}

impl User {
    /// A new user (id assigned on insert).
    pub fn new(email: &str, name: &str, created: &str) -> User {
        User {
            id: 0,
            email: email.to_string(),
            name: name.to_string(),
            created: created.to_string(),
            mfa_enabled: false,
            can_access_logs: false,
            is_super_admin: false,
            features: Vec::new(),
        }
    }
}

/// Keboola's two kinds of manage token: `admin` (a user's personal access token, with that user's
/// rights) and `super` (no user; rights by scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManageTokenKind {
    Admin,
    Super,
}

impl ManageTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ManageTokenKind::Admin => "admin",
            ManageTokenKind::Super => "super",
        }
    }

    pub(crate) fn parse(s: &str) -> ManageTokenKind {
        if s == "super" { ManageTokenKind::Super } else { ManageTokenKind::Admin }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManageToken {
    pub id: i64,
    pub description: String,
    /// The user an `admin` token acts for.
    pub user_id: Option<i64>,
    pub kind: ManageTokenKind,
    pub scopes: Vec<String>,
    pub created: String,
    /// Unix seconds.
    pub expires: Option<i64>,
    pub last_used: Option<String>,
    pub is_session: bool,
}

impl ManageToken {
    pub fn is_expired(&self) -> bool {
        self.expires.is_some_and(|e| e <= chrono::Utc::now().timestamp())
    }
}

/// A user insert refused because the email is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailTaken;

pub trait ManageStore {
    /// Insert a user; refused when the email (compared case-insensitively) is taken.
    fn insert_user(&self, user: &User) -> ApiResult<Result<i64, EmailTaken>>;
    fn user(&self, id: i64) -> ApiResult<Option<User>>;
    fn user_by_email(&self, email: &str) -> ApiResult<Option<User>>;
    fn users(&self) -> ApiResult<Vec<User>>;
    /// Write name, flags and features of `user`.
    fn update_user(&self, user: &User) -> ApiResult<()>;
    /// Delete a user with their manage tokens, memberships and invitations, in one transaction.
    fn delete_user(&self, id: i64) -> ApiResult<()>;

    /// Insert a manage token whose secret is `secret_for(id)`; returns the id and the secret.
    fn insert_manage_token(&self, token: &ManageToken, secret_for: &dyn Fn(i64) -> String) -> ApiResult<(i64, String)>;
    fn manage_token_by_hash(&self, hash: &str) -> ApiResult<Option<ManageToken>>;
    fn manage_token(&self, id: i64) -> ApiResult<Option<ManageToken>>;
    /// Tokens of a user (`Some`), or the super tokens (`None`), by id.
    fn manage_tokens(&self, user_id: Option<i64>) -> ApiResult<Vec<ManageToken>>;
    fn set_manage_token_hash(&self, id: i64, hash: &str) -> ApiResult<()>;
    fn touch_manage_token(&self, id: i64, now: &str) -> ApiResult<()>;
    fn delete_manage_token(&self, id: i64) -> ApiResult<()>;
}

pub(crate) const USER_COLUMNS: &str = "id, email, name, created, mfa_enabled, can_access_logs, is_super_admin, features";
pub(crate) const TOKEN_COLUMNS: &str = "id, description, user_id, kind, scopes, created, expires, last_used, is_session";

fn user_from_row(r: &rusqlite::Row) -> rusqlite::Result<User> {
    let features: String = r.get(7)?;
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        created: r.get(3)?,
        mfa_enabled: r.get(4)?,
        can_access_logs: r.get(5)?,
        is_super_admin: r.get(6)?,
        features: serde_json::from_str(&features).unwrap_or_default(),
    })
}

fn token_from_row(r: &rusqlite::Row) -> rusqlite::Result<ManageToken> {
    let kind: String = r.get(3)?;
    let scopes: String = r.get(4)?;
    Ok(ManageToken {
        id: r.get(0)?,
        description: r.get(1)?,
        user_id: r.get(2)?,
        kind: ManageTokenKind::parse(&kind),
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        created: r.get(5)?,
        expires: r.get(6)?,
        last_used: r.get(7)?,
        is_session: r.get(8)?,
    })
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

impl ManageStore for SqliteMetaStore {
    fn insert_user(&self, u: &User) -> ApiResult<Result<i64, EmailTaken>> {
        self.tx(|tx| {
            let taken = tx
                .query_row_cached("SELECT 1 FROM manage_users WHERE lower(email) = lower(?1)", [&u.email], |_| Ok(()))
                .optional()?
                .is_some();
            if taken {
                return Ok(Err(EmailTaken));
            }
            tx.execute_cached(
                "INSERT INTO manage_users (email, name, created, mfa_enabled, can_access_logs, is_super_admin, features) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![u.email, u.name, u.created, u.mfa_enabled, u.can_access_logs, u.is_super_admin, json_list(&u.features)],
            )?;
            Ok(Ok(tx.last_insert_rowid()))
        })
    }

    fn user(&self, id: i64) -> ApiResult<Option<User>> {
        self.with(|c| c.query_row_cached(&format!("SELECT {USER_COLUMNS} FROM manage_users WHERE id = ?1"), [id], user_from_row).optional())
    }

    fn user_by_email(&self, email: &str) -> ApiResult<Option<User>> {
        self.with(|c| {
            c.query_row_cached(&format!("SELECT {USER_COLUMNS} FROM manage_users WHERE lower(email) = lower(?1)"), [email], user_from_row)
                .optional()
        })
    }

    fn users(&self) -> ApiResult<Vec<User>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM manage_users ORDER BY id"))?;
            st.query_map([], user_from_row)?.collect()
        })
    }

    fn update_user(&self, u: &User) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached(
                "UPDATE manage_users SET name = ?1, mfa_enabled = ?2, can_access_logs = ?3, is_super_admin = ?4, features = ?5 WHERE id = ?6",
                rusqlite::params![u.name, u.mfa_enabled, u.can_access_logs, u.is_super_admin, json_list(&u.features), u.id],
            )
        })?;
        Ok(())
    }

    fn delete_user(&self, id: i64) -> ApiResult<()> {
        self.tx(|tx| {
            tx.execute_cached("DELETE FROM manage_tokens WHERE user_id = ?1", [id])?;
            tx.execute_cached("DELETE FROM memberships WHERE user_id = ?1", [id])?;
            tx.execute_cached("DELETE FROM invitations WHERE user_id = ?1", [id])?;
            tx.execute_cached("DELETE FROM manage_users WHERE id = ?1", [id])?;
            Ok::<_, rusqlite::Error>(())
        })?;
        Ok(())
    }

    fn insert_manage_token(&self, t: &ManageToken, secret_for: &dyn Fn(i64) -> String) -> ApiResult<(i64, String)> {
        self.tx(|tx| {
            tx.execute_cached(
                "INSERT INTO manage_tokens (hash, description, user_id, kind, scopes, created, expires, is_session) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    format!("pending-{}", uuid::Uuid::new_v4()),
                    t.description,
                    t.user_id,
                    t.kind.as_str(),
                    json_list(&t.scopes),
                    t.created,
                    t.expires,
                    t.is_session
                ],
            )?;
            let id = tx.last_insert_rowid();
            let secret = secret_for(id);
            tx.execute_cached("UPDATE manage_tokens SET hash = ?1 WHERE id = ?2", rusqlite::params![hash_token(&secret), id])?;
            Ok((id, secret))
        })
    }

    fn manage_token_by_hash(&self, hash: &str) -> ApiResult<Option<ManageToken>> {
        self.with(|c| {
            c.query_row_cached(&format!("SELECT {TOKEN_COLUMNS} FROM manage_tokens WHERE hash = ?1"), [hash], token_from_row).optional()
        })
    }

    fn manage_token(&self, id: i64) -> ApiResult<Option<ManageToken>> {
        self.with(|c| c.query_row_cached(&format!("SELECT {TOKEN_COLUMNS} FROM manage_tokens WHERE id = ?1"), [id], token_from_row).optional())
    }

    fn manage_tokens(&self, user_id: Option<i64>) -> ApiResult<Vec<ManageToken>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM manage_tokens WHERE user_id IS ?1 ORDER BY id"))?;
            st.query_map([user_id], token_from_row)?.collect()
        })
    }

    fn set_manage_token_hash(&self, id: i64, hash: &str) -> ApiResult<()> {
        self.with(|c| c.execute_cached("UPDATE manage_tokens SET hash = ?1 WHERE id = ?2", rusqlite::params![hash, id]))?;
        Ok(())
    }

    fn touch_manage_token(&self, id: i64, now: &str) -> ApiResult<()> {
        self.with(|c| c.execute_cached("UPDATE manage_tokens SET last_used = ?1 WHERE id = ?2", rusqlite::params![now, id]))?;
        Ok(())
    }

    fn delete_manage_token(&self, id: i64) -> ApiResult<()> {
        self.with(|c| c.execute_cached("DELETE FROM manage_tokens WHERE id = ?1", [id]))?;
        Ok(())
    }
}

/// The behaviour every `ManageStore` must have; `manage_store_suite!` runs each check as a test.
#[doc(hidden)]
pub mod suite {
    use super::*;

    const NOW: &str = "2026-01-01T00:00:00+0000";

    pub fn users_are_unique_by_email_and_updated<S: ManageStore>(s: &S) {
        let id = s.insert_user(&User::new("Ann@example.com", "Ann", NOW)).unwrap().unwrap();
        assert_eq!(s.insert_user(&User::new("ann@EXAMPLE.com", "Other", NOW)).unwrap(), Err(EmailTaken));
        let mut ann = s.user_by_email("ann@example.com").unwrap().expect("found whatever the case");
        assert_eq!((ann.id, ann.name.as_str()), (id, "Ann"));
        ann.features = vec!["f1".into()];
        ann.is_super_admin = true;
        s.update_user(&ann).unwrap();
        assert_eq!(s.user(id).unwrap().unwrap(), ann);
        let bob = s.insert_user(&User::new("bob@example.com", "Bob", NOW)).unwrap().unwrap();
        assert_eq!(s.users().unwrap().iter().map(|u| u.id).collect::<Vec<_>>(), vec![id, bob]);
    }

    pub fn tokens_found_by_hash_listed_per_user_and_deleted_with_the_user<S: ManageStore>(s: &S) {
        let ann = s.insert_user(&User::new("ann@example.com", "Ann", NOW)).unwrap().unwrap();
        let token = ManageToken {
            id: 0,
            description: "pat".into(),
            user_id: Some(ann),
            kind: ManageTokenKind::Admin,
            scopes: vec![],
            created: NOW.into(),
            expires: None,
            last_used: None,
            is_session: false,
        };
        let (id, secret) = s.insert_manage_token(&token, &|id| format!("{id}-secret")).unwrap();
        assert_eq!(secret, format!("{id}-secret"));
        let found = s.manage_token_by_hash(&hash_token(&secret)).unwrap().expect("found by the secret's hash");
        assert_eq!((found.id, found.user_id, found.kind), (id, Some(ann), ManageTokenKind::Admin));
        assert_eq!(s.manage_token_by_hash(&hash_token("other")).unwrap(), None);
        let sup = ManageToken { user_id: None, kind: ManageTokenKind::Super, scopes: vec!["billing:manage".into()], ..token.clone() };
        let (sid, _) = s.insert_manage_token(&sup, &|id| format!("{id}-s")).unwrap();
        assert_eq!(s.manage_tokens(Some(ann)).unwrap().len(), 1);
        let supers = s.manage_tokens(None).unwrap();
        assert_eq!((supers.len(), supers[0].id, supers[0].scopes.clone()), (1, sid, vec!["billing:manage".to_string()]));
        s.touch_manage_token(id, "2026-02-01T00:00:00+0000").unwrap();
        assert_eq!(s.manage_token(id).unwrap().unwrap().last_used.as_deref(), Some("2026-02-01T00:00:00+0000"));
        s.delete_user(ann).unwrap();
        assert_eq!(s.manage_token(id).unwrap(), None, "a deleted user's tokens are gone");
        assert!(s.manage_token(sid).unwrap().is_some());
        s.delete_manage_token(sid).unwrap();
        assert_eq!(s.manage_token(sid).unwrap(), None);
    }
}

#[macro_export]
macro_rules! manage_store_suite {
    ($make:expr) => {
        #[test]
        fn manage_store_users_are_unique_by_email_and_updated() {
            $crate::meta::manage::suite::users_are_unique_by_email_and_updated(&$make());
        }
        #[test]
        fn manage_store_tokens_found_by_hash_listed_per_user_and_deleted_with_the_user() {
            $crate::meta::manage::suite::tokens_found_by_hash_listed_per_user_and_deleted_with_the_user(&$make());
        }
    };
}
