//! The OAuth Broker's records: registered apps ("consumers", one per component, stack-wide),
//! credentials of a project for a component (identified by their name within project and
//! component), and pending authorization sessions (keyed by the `state` sent to the provider,
//! taken once). Secrets arrive sealed or as ciphers: the store never sees them in plain. The
//! trait, its SQLite implementation and the conformance suite (`oauth_store_suite!`).
use kbstack_core::Result as ApiResult;

use super::{AlreadyExists, SqliteMetaStore};

/// A component's OAuth app (spec `Consumer`).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthConsumer {
    pub component_id: String,
    pub friendly_name: String,
    /// `2.0`, `1.0`, `facebook`, `quickbooks`.
    pub oauth_version: String,
    pub auth_url: String,
    pub token_url: String,
    pub request_token_url: Option<String>,
    pub app_key: String,
    /// The app secret, sealed (`Sealer`).
    pub sealed_app_secret: String,
    pub restrict_custom_auth: bool,
    pub created: String,
}

/// Authorized credentials of a project for a component (spec `Credentials`).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthCredentials {
    pub project_id: i64,
    pub component_id: String,
    /// The `id` of the API: unique within project and component.
    pub name: String,
    pub branch_id: Option<String>,
    pub authorized_for: String,
    pub creator_id: String,
    pub creator_description: String,
    pub created: String,
    pub oauth_version: String,
    pub app_key: String,
    /// The app secret as a cipher bound to the project and component.
    pub app_secret: String,
    /// The provider's answer (a JSON string) as a cipher bound to the project and component.
    pub data: String,
}

/// An authorization started at `POST /authorize/{componentId}` and waiting for the provider's
/// callback. It carries the app it was started with (a custom one when the caller gave it).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthSession {
    pub state: String,
    pub project_id: i64,
    pub component_id: String,
    pub name: String,
    pub branch_id: Option<String>,
    pub authorized_for: String,
    pub return_url: Option<String>,
    pub creator_id: String,
    pub creator_description: String,
    pub oauth_version: String,
    pub app_key: String,
    pub sealed_app_secret: String,
    pub token_url: String,
    pub redirect_uri: String,
    /// Milliseconds since the epoch: sessions expire.
    pub created_ms: i64,
}

pub trait OAuthStore {
    /// `Err(AlreadyExists)` when the component has an app already.
    fn insert_oauth_consumer(&self, c: &OAuthConsumer) -> ApiResult<Result<(), AlreadyExists>>;
    /// Every app, by component id.
    fn oauth_consumers(&self) -> ApiResult<Vec<OAuthConsumer>>;
    fn oauth_consumer(&self, component_id: &str) -> ApiResult<Option<OAuthConsumer>>;
    /// Replace the app of `c.component_id` (all fields but `created`); false when there is none.
    fn update_oauth_consumer(&self, c: &OAuthConsumer) -> ApiResult<bool>;
    fn delete_oauth_consumer(&self, component_id: &str) -> ApiResult<bool>;

    /// `Err(AlreadyExists)` when the project has credentials of that name for the component;
    /// `replace` overwrites them instead (a re-authorization).
    fn insert_oauth_credentials(&self, c: &OAuthCredentials, replace: bool) -> ApiResult<Result<(), AlreadyExists>>;
    /// The project's credentials (of one component when given), by component, then name.
    fn oauth_credentials_list(&self, project_id: i64, component_id: Option<&str>) -> ApiResult<Vec<OAuthCredentials>>;
    fn oauth_credentials(&self, project_id: i64, component_id: &str, name: &str) -> ApiResult<Option<OAuthCredentials>>;
    fn delete_oauth_credentials(&self, project_id: i64, component_id: &str, name: &str) -> ApiResult<bool>;

    fn insert_oauth_session(&self, s: &OAuthSession) -> ApiResult<()>;
    /// The session of `state`, removed: a state is good for one callback. Sessions made before
    /// `not_before_ms` are dropped and never returned.
    fn take_oauth_session(&self, state: &str, not_before_ms: i64) -> ApiResult<Option<OAuthSession>>;
}

pub(crate) const CONSUMER_COLUMNS: &str =
    "component_id, friendly_name, oauth_version, auth_url, token_url, request_token_url, app_key, sealed_app_secret, restrict_custom_auth, created";

fn consumer_from_row(r: &rusqlite::Row) -> rusqlite::Result<OAuthConsumer> {
    Ok(OAuthConsumer {
        component_id: r.get(0)?,
        friendly_name: r.get(1)?,
        oauth_version: r.get(2)?,
        auth_url: r.get(3)?,
        token_url: r.get(4)?,
        request_token_url: r.get(5)?,
        app_key: r.get(6)?,
        sealed_app_secret: r.get(7)?,
        restrict_custom_auth: r.get(8)?,
        created: r.get(9)?,
    })
}

pub(crate) const CREDENTIALS_COLUMNS: &str = "project_id, component_id, name, branch_id, authorized_for, creator_id, creator_description, created, \
     oauth_version, app_key, app_secret, data";

fn credentials_from_row(r: &rusqlite::Row) -> rusqlite::Result<OAuthCredentials> {
    Ok(OAuthCredentials {
        project_id: r.get(0)?,
        component_id: r.get(1)?,
        name: r.get(2)?,
        branch_id: r.get(3)?,
        authorized_for: r.get(4)?,
        creator_id: r.get(5)?,
        creator_description: r.get(6)?,
        created: r.get(7)?,
        oauth_version: r.get(8)?,
        app_key: r.get(9)?,
        app_secret: r.get(10)?,
        data: r.get(11)?,
    })
}

pub(crate) const SESSION_COLUMNS: &str = "state, project_id, component_id, name, branch_id, authorized_for, return_url, creator_id, creator_description, \
     oauth_version, app_key, sealed_app_secret, token_url, redirect_uri, created_ms";

fn session_from_row(r: &rusqlite::Row) -> rusqlite::Result<OAuthSession> {
    Ok(OAuthSession {
        state: r.get(0)?,
        project_id: r.get(1)?,
        component_id: r.get(2)?,
        name: r.get(3)?,
        branch_id: r.get(4)?,
        authorized_for: r.get(5)?,
        return_url: r.get(6)?,
        creator_id: r.get(7)?,
        creator_description: r.get(8)?,
        oauth_version: r.get(9)?,
        app_key: r.get(10)?,
        sealed_app_secret: r.get(11)?,
        token_url: r.get(12)?,
        redirect_uri: r.get(13)?,
        created_ms: r.get(14)?,
    })
}

impl OAuthStore for SqliteMetaStore {
    fn insert_oauth_consumer(&self, c: &OAuthConsumer) -> ApiResult<Result<(), AlreadyExists>> {
        self.with(|conn| {
            let n = conn.execute(
                &format!("INSERT INTO oauth_consumers ({CONSUMER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (component_id) DO NOTHING"),
                rusqlite::params![
                    c.component_id,
                    c.friendly_name,
                    c.oauth_version,
                    c.auth_url,
                    c.token_url,
                    c.request_token_url,
                    c.app_key,
                    c.sealed_app_secret,
                    c.restrict_custom_auth,
                    c.created
                ],
            )?;
            Ok(if n == 1 { Ok(()) } else { Err(AlreadyExists) })
        })
    }

    fn oauth_consumers(&self) -> ApiResult<Vec<OAuthConsumer>> {
        self.with(|conn| {
            let mut st = conn.prepare_cached(&format!("SELECT {CONSUMER_COLUMNS} FROM oauth_consumers ORDER BY component_id"))?;
            st.query_map([], consumer_from_row)?.collect()
        })
    }

    fn oauth_consumer(&self, component_id: &str) -> ApiResult<Option<OAuthConsumer>> {
        self.with(|conn| {
            let mut st = conn.prepare_cached(&format!("SELECT {CONSUMER_COLUMNS} FROM oauth_consumers WHERE component_id = ?1"))?;
            let mut rows = st.query_map([component_id], consumer_from_row)?;
            rows.next().transpose()
        })
    }

    fn update_oauth_consumer(&self, c: &OAuthConsumer) -> ApiResult<bool> {
        self.with(|conn| {
            Ok(conn.execute(
                "UPDATE oauth_consumers SET friendly_name = ?2, oauth_version = ?3, auth_url = ?4, token_url = ?5, request_token_url = ?6, \
                 app_key = ?7, sealed_app_secret = ?8, restrict_custom_auth = ?9 WHERE component_id = ?1",
                rusqlite::params![
                    c.component_id,
                    c.friendly_name,
                    c.oauth_version,
                    c.auth_url,
                    c.token_url,
                    c.request_token_url,
                    c.app_key,
                    c.sealed_app_secret,
                    c.restrict_custom_auth
                ],
            )? > 0)
        })
    }

    fn delete_oauth_consumer(&self, component_id: &str) -> ApiResult<bool> {
        self.with(|conn| Ok(conn.execute("DELETE FROM oauth_consumers WHERE component_id = ?1", [component_id])? > 0))
    }

    fn insert_oauth_credentials(&self, c: &OAuthCredentials, replace: bool) -> ApiResult<Result<(), AlreadyExists>> {
        let conflict = if replace { "REPLACE" } else { "IGNORE" };
        self.with(|conn| {
            let n = conn.execute(
                &format!("INSERT OR {conflict} INTO oauth_credentials ({CREDENTIALS_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
                rusqlite::params![
                    c.project_id,
                    c.component_id,
                    c.name,
                    c.branch_id,
                    c.authorized_for,
                    c.creator_id,
                    c.creator_description,
                    c.created,
                    c.oauth_version,
                    c.app_key,
                    c.app_secret,
                    c.data
                ],
            )?;
            Ok(if n >= 1 { Ok(()) } else { Err(AlreadyExists) })
        })
    }

    fn oauth_credentials_list(&self, project_id: i64, component_id: Option<&str>) -> ApiResult<Vec<OAuthCredentials>> {
        self.with(|conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {CREDENTIALS_COLUMNS} FROM oauth_credentials WHERE project_id = ?1 AND (?2 IS NULL OR component_id = ?2) ORDER BY component_id, name"
            ))?;
            st.query_map(rusqlite::params![project_id, component_id], credentials_from_row)?.collect()
        })
    }

    fn oauth_credentials(&self, project_id: i64, component_id: &str, name: &str) -> ApiResult<Option<OAuthCredentials>> {
        self.with(|conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {CREDENTIALS_COLUMNS} FROM oauth_credentials WHERE project_id = ?1 AND component_id = ?2 AND name = ?3"
            ))?;
            let mut rows = st.query_map(rusqlite::params![project_id, component_id, name], credentials_from_row)?;
            rows.next().transpose()
        })
    }

    fn delete_oauth_credentials(&self, project_id: i64, component_id: &str, name: &str) -> ApiResult<bool> {
        self.with(|conn| {
            Ok(conn.execute(
                "DELETE FROM oauth_credentials WHERE project_id = ?1 AND component_id = ?2 AND name = ?3",
                rusqlite::params![project_id, component_id, name],
            )? > 0)
        })
    }

    fn insert_oauth_session(&self, s: &OAuthSession) -> ApiResult<()> {
        self.with(|conn| {
            conn.execute(
                &format!("INSERT INTO oauth_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
                rusqlite::params![
                    s.state,
                    s.project_id,
                    s.component_id,
                    s.name,
                    s.branch_id,
                    s.authorized_for,
                    s.return_url,
                    s.creator_id,
                    s.creator_description,
                    s.oauth_version,
                    s.app_key,
                    s.sealed_app_secret,
                    s.token_url,
                    s.redirect_uri,
                    s.created_ms
                ],
            )?;
            Ok(())
        })
    }

    fn take_oauth_session(&self, state: &str, not_before_ms: i64) -> ApiResult<Option<OAuthSession>> {
        self.with(|conn| {
            conn.execute("DELETE FROM oauth_sessions WHERE created_ms < ?1", [not_before_ms])?;
            let found = {
                let mut st = conn.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM oauth_sessions WHERE state = ?1"))?;
                let mut rows = st.query_map([state], session_from_row)?;
                rows.next().transpose()?
            };
            if found.is_some() {
                conn.execute("DELETE FROM oauth_sessions WHERE state = ?1", [state])?;
            }
            Ok(found)
        })
    }
}

/// The behaviour every `OAuthStore` must have; `oauth_store_suite!` runs each check as a named
/// test.
#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn consumer(component_id: &str) -> OAuthConsumer {
        OAuthConsumer {
            component_id: component_id.into(),
            friendly_name: format!("{component_id} app"),
            oauth_version: "2.0".into(),
            auth_url: "https://provider.example/authorize".into(),
            token_url: "https://provider.example/token".into(),
            request_token_url: None,
            app_key: "key".into(),
            sealed_app_secret: "kbstack:v1:sealed".into(),
            restrict_custom_auth: false,
            created: "2026-01-01T00:00:00+0000".into(),
        }
    }

    pub fn credentials(project_id: i64, component_id: &str, name: &str) -> OAuthCredentials {
        OAuthCredentials {
            project_id,
            component_id: component_id.into(),
            name: name.into(),
            branch_id: None,
            authorized_for: "me".into(),
            creator_id: "1".into(),
            creator_description: "master".into(),
            created: "2026-01-01 00:00:00".into(),
            oauth_version: "2.0".into(),
            app_key: "key".into(),
            app_secret: "KBC::ProjectSecure::s".into(),
            data: format!("KBC::ProjectSecure::{name}"),
        }
    }

    pub fn session(state: &str, created_ms: i64) -> OAuthSession {
        OAuthSession {
            state: state.into(),
            project_id: 1,
            component_id: "c".into(),
            name: "main".into(),
            branch_id: Some("7".into()),
            authorized_for: "me".into(),
            return_url: Some("https://back.example/".into()),
            creator_id: "1".into(),
            creator_description: "master".into(),
            oauth_version: "2.0".into(),
            app_key: "key".into(),
            sealed_app_secret: "kbstack:v1:sealed".into(),
            token_url: "https://provider.example/token".into(),
            redirect_uri: "https://oauth.example/authorize/c/callback".into(),
            created_ms,
        }
    }

    pub fn consumers_once_per_component_updated_and_deleted<S: OAuthStore>(s: &S) {
        let b = consumer("b");
        let a = consumer("a");
        s.insert_oauth_consumer(&b).unwrap().expect("new");
        s.insert_oauth_consumer(&a).unwrap().expect("new");
        assert_eq!(s.insert_oauth_consumer(&consumer("a")).unwrap(), Err(AlreadyExists));
        assert_eq!(s.oauth_consumers().unwrap(), vec![a.clone(), b.clone()], "by component");
        let mut changed = a.clone();
        changed.app_key = "other".into();
        changed.request_token_url = Some("https://provider.example/request".into());
        changed.restrict_custom_auth = true;
        assert!(s.update_oauth_consumer(&changed).unwrap());
        assert_eq!(s.oauth_consumer("a").unwrap(), Some(changed));
        assert!(!s.update_oauth_consumer(&consumer("zz")).unwrap());
        assert!(s.delete_oauth_consumer("a").unwrap());
        assert!(!s.delete_oauth_consumer("a").unwrap());
        assert_eq!(s.oauth_consumer("a").unwrap(), None);
    }

    pub fn credentials_scoped_by_project_and_component<S: OAuthStore>(s: &S) {
        let main = credentials(1, "c", "main");
        let other = credentials(1, "d", "main");
        let alt = credentials(1, "c", "alt");
        for c in [&main, &other, &alt] {
            s.insert_oauth_credentials(c, false).unwrap().expect("new");
        }
        assert_eq!(s.insert_oauth_credentials(&credentials(1, "c", "main"), false).unwrap(), Err(AlreadyExists));
        s.insert_oauth_credentials(&credentials(2, "c", "main"), false).unwrap().expect("another project has its own");
        assert_eq!(s.oauth_credentials_list(1, None).unwrap(), vec![alt.clone(), main.clone(), other.clone()]);
        assert_eq!(s.oauth_credentials_list(1, Some("c")).unwrap(), vec![alt.clone(), main.clone()]);
        assert_eq!(s.oauth_credentials(1, "c", "main").unwrap(), Some(main.clone()));
        assert_eq!(s.oauth_credentials(3, "c", "main").unwrap(), None, "another project never sees them");
        let mut again = main.clone();
        again.data = "KBC::ProjectSecure::new".into();
        s.insert_oauth_credentials(&again, true).unwrap().expect("replaced");
        assert_eq!(s.oauth_credentials(1, "c", "main").unwrap(), Some(again));
        assert!(!s.delete_oauth_credentials(3, "c", "main").unwrap(), "nor deletes them");
        assert!(s.delete_oauth_credentials(1, "c", "main").unwrap());
        assert!(!s.delete_oauth_credentials(1, "c", "main").unwrap());
        assert_eq!(s.oauth_credentials(2, "c", "main").unwrap().map(|c| c.project_id), Some(2));
    }

    pub fn sessions_are_taken_once_and_expire<S: OAuthStore>(s: &S) {
        s.insert_oauth_session(&session("s1", 1_000)).unwrap();
        s.insert_oauth_session(&session("old", 10)).unwrap();
        assert_eq!(s.take_oauth_session("nope", 0).unwrap(), None);
        assert_eq!(s.take_oauth_session("s1", 500).unwrap(), Some(session("s1", 1_000)));
        assert_eq!(s.take_oauth_session("s1", 500).unwrap(), None, "a state is good once");
        assert_eq!(s.take_oauth_session("old", 500).unwrap(), None, "an expired session is gone");
        assert_eq!(s.take_oauth_session("old", 0).unwrap(), None);
    }
}

#[macro_export]
macro_rules! oauth_store_suite {
    ($make:expr) => {
        #[test]
        fn oauth_store_consumers_once_per_component_updated_and_deleted() {
            $crate::meta::oauth::suite::consumers_once_per_component_updated_and_deleted(&$make());
        }
        #[test]
        fn oauth_store_credentials_scoped_by_project_and_component() {
            $crate::meta::oauth::suite::credentials_scoped_by_project_and_component(&$make());
        }
        #[test]
        fn oauth_store_sessions_are_taken_once_and_expire() {
            $crate::meta::oauth::suite::sessions_are_taken_once_and_expire(&$make());
        }
    };
}
