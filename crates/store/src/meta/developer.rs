//! The Developer Portal's records: portal users (hashed passwords, confirmation codes), their
//! login sessions (hashed tokens with an expiry), vendors and who belongs to them, apps with every
//! version of their definition. The trait, its SQLite implementation and the conformance suite
//! (`developer_store_suite!`). Emails and ids arrive normalized (the service lower-cases them).
use rusqlite::OptionalExtension;
use serde_json::Value;

use super::{AlreadyExists, SqliteMetaStore, json_col};
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct PortalUser {
    pub email: String,
    pub name: String,
    /// A password hash string (the service's KDF format); never the password.
    pub password_hash: String,
    pub is_admin: bool,
    pub confirmed: bool,
    /// The pending confirmation or password-reset code (hashed by the service).
    pub code: Option<String>,
    /// A vendor's service account (`service.<vendor>.<name>`), not a person.
    pub service_vendor: Option<String>,
    pub description: String,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vendor {
    pub id: String,
    pub name: String,
    pub address: String,
    pub email: String,
    pub project_url: Option<String>,
    pub is_public: bool,
    pub is_approved: bool,
    pub created: String,
    pub created_by: String,
}

/// A user's relation to a vendor.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub vendor_id: String,
    pub email: String,
    /// `member`, `requested` (asked to join) or `invited` (with `code`).
    pub status: String,
    pub code: Option<String>,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The full id, `<vendor>.<app>`.
    pub id: String,
    pub vendor_id: String,
    /// The current version (the last one written).
    pub version: i64,
    /// The current definition (the portal's fields, camelCase).
    pub definition: Value,
    pub is_public: bool,
    pub is_approved: bool,
    pub is_deprecated: bool,
    /// The version whose publishing waits for an administrator.
    pub publish_requested: Option<i64>,
    /// The version the stack's component registry serves.
    pub published_version: Option<i64>,
    pub created: String,
    pub updated: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppVersion {
    pub app_id: String,
    pub version: i64,
    pub definition: Value,
    pub created_by: String,
    pub created_on: String,
}

pub trait DeveloperStore {
    fn insert_portal_user(&self, user: &PortalUser) -> ApiResult<Result<(), AlreadyExists>>;
    fn portal_user(&self, email: &str) -> ApiResult<Option<PortalUser>>;
    /// Every user (`service`: the service accounts of that vendor instead), by email.
    fn portal_users(&self, service: Option<&str>, limit: i64, offset: i64) -> ApiResult<Vec<PortalUser>>;
    /// Replace the record of `user.email`; false when there is none.
    fn update_portal_user(&self, user: &PortalUser) -> ApiResult<bool>;
    /// Removes the user with their memberships and sessions.
    fn delete_portal_user(&self, email: &str) -> ApiResult<bool>;
    fn any_portal_admin(&self) -> ApiResult<bool>;

    /// A session token (its hash) of `kind` (`token`, `access`, `refresh`) valid until `expires_ms`.
    fn insert_portal_session(&self, token_hash: &str, email: &str, kind: &str, expires_ms: i64) -> ApiResult<()>;
    /// The user and kind of an unexpired session.
    fn portal_session(&self, token_hash: &str, now_ms: i64) -> ApiResult<Option<(String, String)>>;
    /// Ends every session of the user (logout); also drops expired sessions of everyone.
    fn delete_portal_sessions(&self, email: &str, now_ms: i64) -> ApiResult<()>;

    fn insert_vendor(&self, vendor: &Vendor) -> ApiResult<Result<(), AlreadyExists>>;
    fn vendor(&self, id: &str) -> ApiResult<Option<Vendor>>;
    /// By id; `approved_only` for the public list.
    fn vendors(&self, approved_only: bool, limit: i64, offset: i64) -> ApiResult<Vec<Vendor>>;
    fn update_vendor(&self, vendor: &Vendor) -> ApiResult<bool>;
    /// Renames a vendor without apps (its memberships follow); false when `old` is unknown.
    fn rename_vendor(&self, old: &str, new: &str) -> ApiResult<Result<bool, AlreadyExists>>;
    /// Removes the vendor, its memberships, apps and their versions.
    fn delete_vendor(&self, id: &str) -> ApiResult<bool>;

    /// Insert or replace the relation of (vendor, email).
    fn set_membership(&self, m: &Membership) -> ApiResult<()>;
    fn membership(&self, vendor_id: &str, email: &str) -> ApiResult<Option<Membership>>;
    /// A vendor's relations of one status, by email.
    fn memberships(&self, vendor_id: &str, status: &str, limit: i64, offset: i64) -> ApiResult<Vec<Membership>>;
    fn delete_membership(&self, vendor_id: &str, email: &str) -> ApiResult<bool>;
    /// The vendors the user is a member of.
    fn member_vendors(&self, email: &str) -> ApiResult<Vec<String>>;

    /// A new app with its first version (`app.version`).
    fn insert_app(&self, app: &App, first: &AppVersion) -> ApiResult<Result<(), AlreadyExists>>;
    fn app(&self, id: &str) -> ApiResult<Option<App>>;
    /// By id: of one vendor, or all; `published_only` for the registry and the public list.
    fn apps(&self, vendor_id: Option<&str>, published_only: bool, limit: i64, offset: i64) -> ApiResult<Vec<App>>;
    /// Replace the app's record, with a new version recorded in the same transaction; false
    /// when the app is unknown.
    fn update_app(&self, app: &App, new_version: Option<&AppVersion>) -> ApiResult<bool>;
    fn delete_app(&self, id: &str) -> ApiResult<bool>;
    /// Newest first.
    fn app_versions(&self, app_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<AppVersion>>;
    fn app_version(&self, app_id: &str, version: i64) -> ApiResult<Option<AppVersion>>;
}

pub(crate) const USER_COLUMNS: &str = "email, name, password_hash, is_admin, confirmed, code, service_vendor, description, created";
pub(crate) const VENDOR_COLUMNS: &str = "id, name, address, email, project_url, is_public, is_approved, created, created_by";
pub(crate) const APP_COLUMNS: &str = "id, vendor_id, version, definition, is_public, is_approved, is_deprecated, publish_requested, published_version, created, updated";

fn user_row(r: &rusqlite::Row) -> rusqlite::Result<PortalUser> {
    Ok(PortalUser {
        email: r.get(0)?,
        name: r.get(1)?,
        password_hash: r.get(2)?,
        is_admin: r.get(3)?,
        confirmed: r.get(4)?,
        code: r.get(5)?,
        service_vendor: r.get(6)?,
        description: r.get(7)?,
        created: r.get(8)?,
    })
}

fn vendor_row(r: &rusqlite::Row) -> rusqlite::Result<Vendor> {
    Ok(Vendor {
        id: r.get(0)?,
        name: r.get(1)?,
        address: r.get(2)?,
        email: r.get(3)?,
        project_url: r.get(4)?,
        is_public: r.get(5)?,
        is_approved: r.get(6)?,
        created: r.get(7)?,
        created_by: r.get(8)?,
    })
}

fn membership_row(r: &rusqlite::Row) -> rusqlite::Result<Membership> {
    Ok(Membership { vendor_id: r.get(0)?, email: r.get(1)?, status: r.get(2)?, code: r.get(3)?, created: r.get(4)? })
}

fn app_row(r: &rusqlite::Row) -> rusqlite::Result<App> {
    Ok(App {
        id: r.get(0)?,
        vendor_id: r.get(1)?,
        version: r.get(2)?,
        definition: json_col(r.get(3)?),
        is_public: r.get(4)?,
        is_approved: r.get(5)?,
        is_deprecated: r.get(6)?,
        publish_requested: r.get(7)?,
        published_version: r.get(8)?,
        created: r.get(9)?,
        updated: r.get(10)?,
    })
}

fn version_row(r: &rusqlite::Row) -> rusqlite::Result<AppVersion> {
    Ok(AppVersion { app_id: r.get(0)?, version: r.get(1)?, definition: json_col(r.get(2)?), created_by: r.get(3)?, created_on: r.get(4)? })
}

fn insert_version(c: &rusqlite::Connection, v: &AppVersion) -> rusqlite::Result<usize> {
    c.execute(
        "INSERT OR REPLACE INTO developer_app_versions (app_id, version, definition, created_by, created_on) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![v.app_id, v.version, v.definition.to_string(), v.created_by, v.created_on],
    )
}

impl DeveloperStore for SqliteMetaStore {
    fn insert_portal_user(&self, u: &PortalUser) -> ApiResult<Result<(), AlreadyExists>> {
        self.with(|c| {
            let n = c.execute(
                &format!("INSERT INTO developer_users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (email) DO NOTHING"),
                rusqlite::params![u.email, u.name, u.password_hash, u.is_admin, u.confirmed, u.code, u.service_vendor, u.description, u.created],
            )?;
            Ok(if n == 1 { Ok(()) } else { Err(AlreadyExists) })
        })
    }

    fn portal_user(&self, email: &str) -> ApiResult<Option<PortalUser>> {
        self.with(|c| c.query_row(&format!("SELECT {USER_COLUMNS} FROM developer_users WHERE email = ?1"), [email], user_row).optional())
    }

    fn portal_users(&self, service: Option<&str>, limit: i64, offset: i64) -> ApiResult<Vec<PortalUser>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {USER_COLUMNS} FROM developer_users WHERE (?1 IS NULL OR service_vendor = ?1) ORDER BY email LIMIT ?2 OFFSET ?3"
            ))?;
            st.query_map(rusqlite::params![service, limit, offset], user_row)?.collect()
        })
    }

    fn update_portal_user(&self, u: &PortalUser) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE developer_users SET name = ?2, password_hash = ?3, is_admin = ?4, confirmed = ?5, code = ?6, \
                 service_vendor = ?7, description = ?8 WHERE email = ?1",
                rusqlite::params![u.email, u.name, u.password_hash, u.is_admin, u.confirmed, u.code, u.service_vendor, u.description],
            )? > 0)
        })
    }

    fn delete_portal_user(&self, email: &str) -> ApiResult<bool> {
        self.tx(|c| {
            c.execute("DELETE FROM developer_vendor_users WHERE email = ?1", [email])?;
            c.execute("DELETE FROM developer_sessions WHERE email = ?1", [email])?;
            Ok(c.execute("DELETE FROM developer_users WHERE email = ?1", [email])? > 0)
        })
    }

    fn any_portal_admin(&self) -> ApiResult<bool> {
        self.with(|c| c.query_row("SELECT EXISTS (SELECT 1 FROM developer_users WHERE is_admin = 1)", [], |r| r.get(0)))
    }

    fn insert_portal_session(&self, token_hash: &str, email: &str, kind: &str, expires_ms: i64) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO developer_sessions (token_hash, email, kind, expires_ms) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![token_hash, email, kind, expires_ms],
            )
            .map(|_| ())
        })
    }

    fn portal_session(&self, token_hash: &str, now_ms: i64) -> ApiResult<Option<(String, String)>> {
        self.with(|c| {
            c.query_row(
                "SELECT email, kind FROM developer_sessions WHERE token_hash = ?1 AND expires_ms > ?2",
                rusqlite::params![token_hash, now_ms],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
    }

    fn delete_portal_sessions(&self, email: &str, now_ms: i64) -> ApiResult<()> {
        self.with(|c| {
            c.execute("DELETE FROM developer_sessions WHERE email = ?1 OR expires_ms <= ?2", rusqlite::params![email, now_ms]).map(|_| ())
        })
    }

    fn insert_vendor(&self, v: &Vendor) -> ApiResult<Result<(), AlreadyExists>> {
        self.with(|c| {
            let n = c.execute(
                &format!("INSERT INTO developer_vendors ({VENDOR_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING"),
                rusqlite::params![v.id, v.name, v.address, v.email, v.project_url, v.is_public, v.is_approved, v.created, v.created_by],
            )?;
            Ok(if n == 1 { Ok(()) } else { Err(AlreadyExists) })
        })
    }

    fn vendor(&self, id: &str) -> ApiResult<Option<Vendor>> {
        self.with(|c| c.query_row(&format!("SELECT {VENDOR_COLUMNS} FROM developer_vendors WHERE id = ?1"), [id], vendor_row).optional())
    }

    fn vendors(&self, approved_only: bool, limit: i64, offset: i64) -> ApiResult<Vec<Vendor>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {VENDOR_COLUMNS} FROM developer_vendors WHERE (?1 = 0 OR is_approved = 1) ORDER BY id LIMIT ?2 OFFSET ?3"
            ))?;
            st.query_map(rusqlite::params![approved_only, limit, offset], vendor_row)?.collect()
        })
    }

    fn update_vendor(&self, v: &Vendor) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE developer_vendors SET name = ?2, address = ?3, email = ?4, project_url = ?5, is_public = ?6, is_approved = ?7 WHERE id = ?1",
                rusqlite::params![v.id, v.name, v.address, v.email, v.project_url, v.is_public, v.is_approved],
            )? > 0)
        })
    }

    fn rename_vendor(&self, old: &str, new: &str) -> ApiResult<Result<bool, AlreadyExists>> {
        self.tx(|c| {
            let taken: bool = c.query_row("SELECT EXISTS (SELECT 1 FROM developer_vendors WHERE id = ?1)", [new], |r| r.get(0))?;
            if taken {
                return Ok(Err(AlreadyExists));
            }
            let n = c.execute("UPDATE developer_vendors SET id = ?2 WHERE id = ?1", [old, new])?;
            c.execute("UPDATE developer_vendor_users SET vendor_id = ?2 WHERE vendor_id = ?1", [old, new])?;
            c.execute("UPDATE developer_users SET service_vendor = ?2 WHERE service_vendor = ?1", [old, new])?;
            Ok(Ok(n > 0))
        })
    }

    fn delete_vendor(&self, id: &str) -> ApiResult<bool> {
        self.tx(|c| {
            c.execute("DELETE FROM developer_app_versions WHERE app_id IN (SELECT id FROM developer_apps WHERE vendor_id = ?1)", [id])?;
            c.execute("DELETE FROM developer_apps WHERE vendor_id = ?1", [id])?;
            c.execute("DELETE FROM developer_vendor_users WHERE vendor_id = ?1", [id])?;
            Ok(c.execute("DELETE FROM developer_vendors WHERE id = ?1", [id])? > 0)
        })
    }

    fn set_membership(&self, m: &Membership) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO developer_vendor_users (vendor_id, email, status, code, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![m.vendor_id, m.email, m.status, m.code, m.created],
            )
            .map(|_| ())
        })
    }

    fn membership(&self, vendor_id: &str, email: &str) -> ApiResult<Option<Membership>> {
        self.with(|c| {
            c.query_row(
                "SELECT vendor_id, email, status, code, created FROM developer_vendor_users WHERE vendor_id = ?1 AND email = ?2",
                [vendor_id, email],
                membership_row,
            )
            .optional()
        })
    }

    fn memberships(&self, vendor_id: &str, status: &str, limit: i64, offset: i64) -> ApiResult<Vec<Membership>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT vendor_id, email, status, code, created FROM developer_vendor_users WHERE vendor_id = ?1 AND status = ?2 \
                 ORDER BY email LIMIT ?3 OFFSET ?4",
            )?;
            st.query_map(rusqlite::params![vendor_id, status, limit, offset], membership_row)?.collect()
        })
    }

    fn delete_membership(&self, vendor_id: &str, email: &str) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM developer_vendor_users WHERE vendor_id = ?1 AND email = ?2", [vendor_id, email])? > 0))
    }

    fn member_vendors(&self, email: &str) -> ApiResult<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT vendor_id FROM developer_vendor_users WHERE email = ?1 AND status = 'member' ORDER BY vendor_id")?;
            st.query_map([email], |r| r.get(0))?.collect()
        })
    }

    fn insert_app(&self, a: &App, first: &AppVersion) -> ApiResult<Result<(), AlreadyExists>> {
        self.tx(|c| {
            let n = c.execute(
                &format!("INSERT INTO developer_apps ({APP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO NOTHING"),
                rusqlite::params![
                    a.id,
                    a.vendor_id,
                    a.version,
                    a.definition.to_string(),
                    a.is_public,
                    a.is_approved,
                    a.is_deprecated,
                    a.publish_requested,
                    a.published_version,
                    a.created,
                    a.updated
                ],
            )?;
            if n == 0 {
                return Ok(Err(AlreadyExists));
            }
            insert_version(c, first)?;
            Ok(Ok(()))
        })
    }

    fn app(&self, id: &str) -> ApiResult<Option<App>> {
        self.with(|c| c.query_row(&format!("SELECT {APP_COLUMNS} FROM developer_apps WHERE id = ?1"), [id], app_row).optional())
    }

    fn apps(&self, vendor_id: Option<&str>, published_only: bool, limit: i64, offset: i64) -> ApiResult<Vec<App>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {APP_COLUMNS} FROM developer_apps WHERE (?1 IS NULL OR vendor_id = ?1) \
                 AND (?2 = 0 OR published_version IS NOT NULL) ORDER BY id LIMIT ?3 OFFSET ?4"
            ))?;
            st.query_map(rusqlite::params![vendor_id, published_only, limit, offset], app_row)?.collect()
        })
    }

    fn update_app(&self, a: &App, new_version: Option<&AppVersion>) -> ApiResult<bool> {
        self.tx(|c| {
            let n = c.execute(
                "UPDATE developer_apps SET version = ?2, definition = ?3, is_public = ?4, is_approved = ?5, is_deprecated = ?6, \
                 publish_requested = ?7, published_version = ?8, updated = ?9 WHERE id = ?1",
                rusqlite::params![
                    a.id,
                    a.version,
                    a.definition.to_string(),
                    a.is_public,
                    a.is_approved,
                    a.is_deprecated,
                    a.publish_requested,
                    a.published_version,
                    a.updated
                ],
            )?;
            if n == 0 {
                return Ok(false);
            }
            if let Some(v) = new_version {
                insert_version(c, v)?;
            }
            Ok(true)
        })
    }

    fn delete_app(&self, id: &str) -> ApiResult<bool> {
        self.tx(|c| {
            c.execute("DELETE FROM developer_app_versions WHERE app_id = ?1", [id])?;
            Ok(c.execute("DELETE FROM developer_apps WHERE id = ?1", [id])? > 0)
        })
    }

    fn app_versions(&self, app_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<AppVersion>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT app_id, version, definition, created_by, created_on FROM developer_app_versions WHERE app_id = ?1 \
                 ORDER BY version DESC LIMIT ?2 OFFSET ?3",
            )?;
            st.query_map(rusqlite::params![app_id, limit, offset], version_row)?.collect()
        })
    }

    fn app_version(&self, app_id: &str, version: i64) -> ApiResult<Option<AppVersion>> {
        self.with(|c| {
            c.query_row(
                "SELECT app_id, version, definition, created_by, created_on FROM developer_app_versions WHERE app_id = ?1 AND version = ?2",
                rusqlite::params![app_id, version],
                version_row,
            )
            .optional()
        })
    }
}

/// The behaviour every `DeveloperStore` must have; `developer_store_suite!` runs each check as a
/// named test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use serde_json::json;

    pub fn user(email: &str) -> PortalUser {
        PortalUser {
            email: email.into(),
            name: "John".into(),
            password_hash: "kdf$hash".into(),
            is_admin: false,
            confirmed: false,
            code: Some("c0de".into()),
            service_vendor: None,
            description: String::new(),
            created: "2026-01-01T00:00:00+0000".into(),
        }
    }

    pub fn vendor(id: &str, approved: bool) -> Vendor {
        Vendor {
            id: id.into(),
            name: format!("{id} ltd."),
            address: "Street 1".into(),
            email: format!("info@{id}.test"),
            project_url: None,
            is_public: approved,
            is_approved: approved,
            created: "2026-01-01T00:00:00+0000".into(),
            created_by: "a@x.test".into(),
        }
    }

    pub fn app(id: &str, vendor_id: &str) -> (App, AppVersion) {
        let definition = json!({"name": id, "type": "extractor"});
        let app = App {
            id: id.into(),
            vendor_id: vendor_id.into(),
            version: 1,
            definition: definition.clone(),
            is_public: false,
            is_approved: false,
            is_deprecated: false,
            publish_requested: None,
            published_version: None,
            created: "2026-01-01T00:00:00+0000".into(),
            updated: "2026-01-01T00:00:00+0000".into(),
        };
        let version = AppVersion { app_id: id.into(), version: 1, definition, created_by: "a@x.test".into(), created_on: app.created.clone() };
        (app, version)
    }

    pub fn users_kept_whole_unique_updated_and_deleted<S: DeveloperStore>(s: &S) {
        let u = user("a@x.test");
        assert_eq!(s.insert_portal_user(&u).unwrap(), Ok(()));
        assert_eq!(s.insert_portal_user(&u).unwrap(), Err(AlreadyExists));
        assert_eq!(s.portal_user("a@x.test").unwrap(), Some(u.clone()));
        assert!(!s.any_portal_admin().unwrap());
        let admin = PortalUser { is_admin: true, confirmed: true, code: None, ..u.clone() };
        assert!(s.update_portal_user(&admin).unwrap());
        assert!(s.any_portal_admin().unwrap());
        assert!(!s.update_portal_user(&user("nobody@x.test")).unwrap());
        let service = PortalUser { service_vendor: Some("v".into()), ..user("service.v.ci") };
        s.insert_portal_user(&service).unwrap().unwrap();
        let all: Vec<String> = s.portal_users(None, 10, 0).unwrap().into_iter().map(|u| u.email).collect();
        assert_eq!(all, vec!["a@x.test", "service.v.ci"]);
        let services: Vec<String> = s.portal_users(Some("v"), 10, 0).unwrap().into_iter().map(|u| u.email).collect();
        assert_eq!(services, vec!["service.v.ci"]);
        s.insert_vendor(&vendor("v", true)).unwrap().unwrap();
        s.set_membership(&Membership { vendor_id: "v".into(), email: "a@x.test".into(), status: "member".into(), code: None, created: "t".into() })
            .unwrap();
        s.insert_portal_session("h1", "a@x.test", "token", 2000).unwrap();
        assert!(s.delete_portal_user("a@x.test").unwrap());
        assert!(s.portal_user("a@x.test").unwrap().is_none());
        assert!(s.member_vendors("a@x.test").unwrap().is_empty(), "memberships go with the user");
        assert!(s.portal_session("h1", 1000).unwrap().is_none(), "sessions go with the user");
        assert!(!s.delete_portal_user("a@x.test").unwrap());
    }

    pub fn sessions_expire_and_end_at_logout<S: DeveloperStore>(s: &S) {
        s.insert_portal_session("h1", "a@x.test", "token", 2000).unwrap();
        s.insert_portal_session("h2", "a@x.test", "refresh", 9000).unwrap();
        s.insert_portal_session("h3", "b@x.test", "token", 9000).unwrap();
        assert_eq!(s.portal_session("h1", 1000).unwrap(), Some(("a@x.test".into(), "token".into())));
        assert!(s.portal_session("h1", 2000).unwrap().is_none(), "expired");
        assert!(s.portal_session("nope", 0).unwrap().is_none());
        s.delete_portal_sessions("a@x.test", 1000).unwrap();
        assert!(s.portal_session("h2", 1000).unwrap().is_none());
        assert!(s.portal_session("h3", 1000).unwrap().is_some(), "another user's session stays");
    }

    pub fn vendors_listed_renamed_and_deleted_with_their_apps<S: DeveloperStore>(s: &S) {
        s.insert_vendor(&vendor("b", true)).unwrap().unwrap();
        s.insert_vendor(&vendor("a", false)).unwrap().unwrap();
        assert_eq!(s.insert_vendor(&vendor("a", true)).unwrap(), Err(AlreadyExists));
        let ids = |approved| s.vendors(approved, 10, 0).unwrap().into_iter().map(|v| v.id).collect::<Vec<_>>();
        assert_eq!(ids(false), vec!["a", "b"]);
        assert_eq!(ids(true), vec!["b"]);
        assert_eq!(s.vendors(false, 1, 1).unwrap()[0].id, "b");
        let approved = Vendor { is_approved: true, name: "A".into(), project_url: Some("https://p".into()), ..vendor("a", false) };
        assert!(s.update_vendor(&approved).unwrap());
        assert_eq!(s.vendor("a").unwrap(), Some(approved));
        s.set_membership(&Membership { vendor_id: "a".into(), email: "u@x.test".into(), status: "member".into(), code: None, created: "t".into() })
            .unwrap();
        assert_eq!(s.rename_vendor("a", "b").unwrap(), Err(AlreadyExists));
        assert_eq!(s.rename_vendor("a", "c").unwrap(), Ok(true));
        assert_eq!(s.member_vendors("u@x.test").unwrap(), vec!["c"]);
        assert_eq!(s.rename_vendor("zz", "yy").unwrap(), Ok(false));
        let (app, v1) = app("b.ex", "b");
        s.insert_app(&app, &v1).unwrap().unwrap();
        assert!(s.delete_vendor("b").unwrap());
        assert!(s.app("b.ex").unwrap().is_none(), "apps go with the vendor");
        assert!(s.app_versions("b.ex", 10, 0).unwrap().is_empty());
        assert!(!s.delete_vendor("b").unwrap());
    }

    pub fn memberships_by_status<S: DeveloperStore>(s: &S) {
        let m = |email: &str, status: &str| Membership {
            vendor_id: "v".into(),
            email: email.into(),
            status: status.into(),
            code: (status == "invited").then(|| "k".to_string()),
            created: "t".into(),
        };
        s.set_membership(&m("b@x.test", "member")).unwrap();
        s.set_membership(&m("a@x.test", "requested")).unwrap();
        s.set_membership(&m("c@x.test", "invited")).unwrap();
        assert_eq!(s.membership("v", "c@x.test").unwrap(), Some(m("c@x.test", "invited")));
        let emails = |status| s.memberships("v", status, 10, 0).unwrap().into_iter().map(|m| m.email).collect::<Vec<_>>();
        assert_eq!(emails("member"), vec!["b@x.test"]);
        assert_eq!(emails("requested"), vec!["a@x.test"]);
        s.set_membership(&m("a@x.test", "member")).unwrap();
        assert_eq!(emails("member"), vec!["a@x.test", "b@x.test"]);
        assert_eq!(s.member_vendors("a@x.test").unwrap(), vec!["v"]);
        assert!(s.member_vendors("c@x.test").unwrap().is_empty(), "an invitation is not a membership");
        assert!(s.delete_membership("v", "a@x.test").unwrap());
        assert!(!s.delete_membership("v", "a@x.test").unwrap());
        assert!(s.membership("v", "a@x.test").unwrap().is_none());
    }

    pub fn apps_keep_every_version_and_list_the_published<S: DeveloperStore>(s: &S) {
        let (a, v1) = app("v.ex-a", "v");
        assert_eq!(s.insert_app(&a, &v1).unwrap(), Ok(()));
        assert_eq!(s.insert_app(&a, &v1).unwrap(), Err(AlreadyExists));
        let (b, b1) = app("w.ex-b", "w");
        s.insert_app(&b, &b1).unwrap().unwrap();
        assert_eq!(s.app("v.ex-a").unwrap(), Some(a.clone()));
        let definition = json!({"name": "A2", "type": "extractor"});
        let a2 = App { version: 2, definition: definition.clone(), published_version: Some(2), is_public: true, ..a.clone() };
        let v2 = AppVersion { version: 2, definition: definition.clone(), ..v1.clone() };
        assert!(s.update_app(&a2, Some(&v2)).unwrap());
        assert!(!s.update_app(&App { id: "v.none".into(), ..a2.clone() }, None).unwrap());
        assert_eq!(s.app("v.ex-a").unwrap(), Some(a2.clone()));
        let versions: Vec<i64> = s.app_versions("v.ex-a", 10, 0).unwrap().into_iter().map(|v| v.version).collect();
        assert_eq!(versions, vec![2, 1], "newest first");
        assert_eq!(s.app_version("v.ex-a", 1).unwrap(), Some(v1));
        assert_eq!(s.app_version("v.ex-a", 2).unwrap().unwrap().definition, definition);
        assert!(s.app_version("v.ex-a", 3).unwrap().is_none());
        let ids = |vendor, published| s.apps(vendor, published, 10, 0).unwrap().into_iter().map(|a| a.id).collect::<Vec<_>>();
        assert_eq!(ids(None, false), vec!["v.ex-a", "w.ex-b"]);
        assert_eq!(ids(Some("w"), false), vec!["w.ex-b"]);
        assert_eq!(ids(None, true), vec!["v.ex-a"]);
        assert!(s.delete_app("v.ex-a").unwrap());
        assert!(s.app("v.ex-a").unwrap().is_none());
        assert!(s.app_versions("v.ex-a", 10, 0).unwrap().is_empty());
        assert!(!s.delete_app("v.ex-a").unwrap());
    }
}

#[macro_export]
macro_rules! developer_store_suite {
    ($make:expr) => {
        #[test]
        fn developer_store_users_kept_whole_unique_updated_and_deleted() {
            $crate::meta::developer::suite::users_kept_whole_unique_updated_and_deleted(&$make());
        }
        #[test]
        fn developer_store_sessions_expire_and_end_at_logout() {
            $crate::meta::developer::suite::sessions_expire_and_end_at_logout(&$make());
        }
        #[test]
        fn developer_store_vendors_listed_renamed_and_deleted_with_their_apps() {
            $crate::meta::developer::suite::vendors_listed_renamed_and_deleted_with_their_apps(&$make());
        }
        #[test]
        fn developer_store_memberships_by_status() {
            $crate::meta::developer::suite::memberships_by_status(&$make());
        }
        #[test]
        fn developer_store_apps_keep_every_version_and_list_the_published() {
            $crate::meta::developer::suite::apps_keep_every_version_and_list_the_published(&$make());
        }
    };
}
