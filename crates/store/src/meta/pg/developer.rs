//! The Developer Portal's records on PostgreSQL (`DeveloperStore`; see ../developer.rs).
//! SQLite's `INSERT OR REPLACE` is an upsert on the same key; a negative page size means no
//! limit, as on SQLite.
use postgres::GenericClient;

use super::{PgMetaStore, flag};
use crate::meta::developer::{APP_COLUMNS, App, AppVersion, DeveloperStore, Membership, PortalUser, USER_COLUMNS, VENDOR_COLUMNS, Vendor};
use crate::meta::{AlreadyExists, json_col};
use kbstack_core::{Error, Result as ApiResult};

fn user_row(r: &postgres::Row) -> Result<PortalUser, postgres::Error> {
    Ok(PortalUser {
        email: r.try_get(0)?,
        name: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        is_admin: flag(r, 3)?,
        confirmed: flag(r, 4)?,
        code: r.try_get(5)?,
        service_vendor: r.try_get(6)?,
        description: r.try_get(7)?,
        created: r.try_get(8)?,
    })
}

fn vendor_row(r: &postgres::Row) -> Result<Vendor, postgres::Error> {
    Ok(Vendor {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        address: r.try_get(2)?,
        email: r.try_get(3)?,
        project_url: r.try_get(4)?,
        is_public: flag(r, 5)?,
        is_approved: flag(r, 6)?,
        created: r.try_get(7)?,
        created_by: r.try_get(8)?,
    })
}

fn membership_row(r: &postgres::Row) -> Result<Membership, postgres::Error> {
    Ok(Membership { vendor_id: r.try_get(0)?, email: r.try_get(1)?, status: r.try_get(2)?, code: r.try_get(3)?, created: r.try_get(4)? })
}

fn app_row(r: &postgres::Row) -> Result<App, postgres::Error> {
    Ok(App {
        id: r.try_get(0)?,
        vendor_id: r.try_get(1)?,
        version: r.try_get(2)?,
        definition: json_col(r.try_get(3)?),
        is_public: flag(r, 4)?,
        is_approved: flag(r, 5)?,
        is_deprecated: flag(r, 6)?,
        publish_requested: r.try_get(7)?,
        published_version: r.try_get(8)?,
        created: r.try_get(9)?,
        updated: r.try_get(10)?,
    })
}

fn version_row(r: &postgres::Row) -> Result<AppVersion, postgres::Error> {
    Ok(AppVersion {
        app_id: r.try_get(0)?,
        version: r.try_get(1)?,
        definition: json_col(r.try_get(2)?),
        created_by: r.try_get(3)?,
        created_on: r.try_get(4)?,
    })
}

/// A page as PostgreSQL takes it: `LIMIT NULL` is no limit (SQLite's negative one), and a
/// negative offset is none.
fn page(limit: i64, offset: i64) -> (Option<i64>, i64) {
    ((limit >= 0).then_some(limit), offset.max(0))
}

fn insert_version(c: &mut impl GenericClient, v: &AppVersion) -> Result<u64, postgres::Error> {
    c.execute(
        "INSERT INTO developer_app_versions (app_id, version, definition, created_by, created_on) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (app_id, version) DO UPDATE SET definition = EXCLUDED.definition, created_by = EXCLUDED.created_by, \
         created_on = EXCLUDED.created_on",
        &[&v.app_id, &v.version, &v.definition.to_string(), &v.created_by, &v.created_on],
    )
}

impl DeveloperStore for PgMetaStore {
    fn insert_portal_user(&self, u: &PortalUser) -> ApiResult<Result<(), AlreadyExists>> {
        let n = self.with(|c| {
            c.execute(
                &format!("INSERT INTO developer_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (email) DO NOTHING"),
                &[&u.email, &u.name, &u.password_hash, &(u.is_admin as i64), &(u.confirmed as i64), &u.code, &u.service_vendor, &u.description, &u.created],
            )
        })?;
        Ok(if n == 1 { Ok(()) } else { Err(AlreadyExists) })
    }

    fn portal_user(&self, email: &str) -> ApiResult<Option<PortalUser>> {
        self.with(|c| c.query_opt(&format!("SELECT {USER_COLUMNS} FROM developer_users WHERE email = $1"), &[&email])?.as_ref().map(user_row).transpose())
    }

    fn portal_users(&self, service: Option<&str>, limit: i64, offset: i64) -> ApiResult<Vec<PortalUser>> {
        let (limit, offset) = page(limit, offset);
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {USER_COLUMNS} FROM developer_users WHERE ($1::TEXT IS NULL OR service_vendor = $1) ORDER BY email LIMIT $2 OFFSET $3"
                ),
                &[&service, &limit, &offset],
            )?
            .iter()
            .map(user_row)
            .collect()
        })
    }

    fn update_portal_user(&self, u: &PortalUser) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE developer_users SET name = $2, password_hash = $3, is_admin = $4, confirmed = $5, code = $6, \
                 service_vendor = $7, description = $8 WHERE email = $1",
                &[&u.email, &u.name, &u.password_hash, &(u.is_admin as i64), &(u.confirmed as i64), &u.code, &u.service_vendor, &u.description],
            )? > 0)
        })
    }

    fn delete_portal_user(&self, email: &str) -> ApiResult<bool> {
        self.tx(|c| {
            c.execute("DELETE FROM developer_vendor_users WHERE email = $1", &[&email])?;
            c.execute("DELETE FROM developer_sessions WHERE email = $1", &[&email])?;
            Ok::<_, Error>(c.execute("DELETE FROM developer_users WHERE email = $1", &[&email])? > 0)
        })
    }

    fn any_portal_admin(&self) -> ApiResult<bool> {
        self.with(|c| c.query_one("SELECT EXISTS (SELECT 1 FROM developer_users WHERE is_admin = 1)", &[])?.try_get(0))
    }

    fn insert_portal_session(&self, token_hash: &str, email: &str, kind: &str, expires_ms: i64) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO developer_sessions (token_hash, email, kind, expires_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (token_hash) DO UPDATE SET email = EXCLUDED.email, kind = EXCLUDED.kind, expires_ms = EXCLUDED.expires_ms",
                &[&token_hash, &email, &kind, &expires_ms],
            )
        })?;
        Ok(())
    }

    fn portal_session(&self, token_hash: &str, now_ms: i64) -> ApiResult<Option<(String, String)>> {
        self.with(|c| {
            c.query_opt("SELECT email, kind FROM developer_sessions WHERE token_hash = $1 AND expires_ms > $2", &[&token_hash, &now_ms])?
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .transpose()
        })
    }

    fn delete_portal_sessions(&self, email: &str, now_ms: i64) -> ApiResult<()> {
        self.with(|c| c.execute("DELETE FROM developer_sessions WHERE email = $1 OR expires_ms <= $2", &[&email, &now_ms]))?;
        Ok(())
    }

    fn insert_vendor(&self, v: &Vendor) -> ApiResult<Result<(), AlreadyExists>> {
        let n = self.with(|c| {
            c.execute(
                &format!("INSERT INTO developer_vendors ({VENDOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING"),
                &[&v.id, &v.name, &v.address, &v.email, &v.project_url, &(v.is_public as i64), &(v.is_approved as i64), &v.created, &v.created_by],
            )
        })?;
        Ok(if n == 1 { Ok(()) } else { Err(AlreadyExists) })
    }

    fn vendor(&self, id: &str) -> ApiResult<Option<Vendor>> {
        self.with(|c| c.query_opt(&format!("SELECT {VENDOR_COLUMNS} FROM developer_vendors WHERE id = $1"), &[&id])?.as_ref().map(vendor_row).transpose())
    }

    fn vendors(&self, approved_only: bool, limit: i64, offset: i64) -> ApiResult<Vec<Vendor>> {
        let (limit, offset) = page(limit, offset);
        self.with(|c| {
            c.query(
                &format!("SELECT {VENDOR_COLUMNS} FROM developer_vendors WHERE (NOT $1 OR is_approved = 1) ORDER BY id LIMIT $2 OFFSET $3"),
                &[&approved_only, &limit, &offset],
            )?
            .iter()
            .map(vendor_row)
            .collect()
        })
    }

    fn update_vendor(&self, v: &Vendor) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE developer_vendors SET name = $2, address = $3, email = $4, project_url = $5, is_public = $6, is_approved = $7 WHERE id = $1",
                &[&v.id, &v.name, &v.address, &v.email, &v.project_url, &(v.is_public as i64), &(v.is_approved as i64)],
            )? > 0)
        })
    }

    fn rename_vendor(&self, old: &str, new: &str) -> ApiResult<Result<bool, AlreadyExists>> {
        self.tx(|c| {
            super::lock_until_commit(c, &format!("developer_vendor:{new}"))?;
            let taken: bool = c.query_one("SELECT EXISTS (SELECT 1 FROM developer_vendors WHERE id = $1)", &[&new])?.try_get(0)?;
            if taken {
                return Ok(Err(AlreadyExists));
            }
            let n = c.execute("UPDATE developer_vendors SET id = $2 WHERE id = $1", &[&old, &new])?;
            c.execute("UPDATE developer_vendor_users SET vendor_id = $2 WHERE vendor_id = $1", &[&old, &new])?;
            c.execute("UPDATE developer_users SET service_vendor = $2 WHERE service_vendor = $1", &[&old, &new])?;
            Ok::<_, Error>(Ok(n > 0))
        })
    }

    fn delete_vendor(&self, id: &str) -> ApiResult<bool> {
        self.tx(|c| {
            c.execute("DELETE FROM developer_app_versions WHERE app_id IN (SELECT id FROM developer_apps WHERE vendor_id = $1)", &[&id])?;
            c.execute("DELETE FROM developer_apps WHERE vendor_id = $1", &[&id])?;
            c.execute("DELETE FROM developer_vendor_users WHERE vendor_id = $1", &[&id])?;
            Ok::<_, Error>(c.execute("DELETE FROM developer_vendors WHERE id = $1", &[&id])? > 0)
        })
    }

    fn set_membership(&self, m: &Membership) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO developer_vendor_users (vendor_id, email, status, code, created) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (vendor_id, email) DO UPDATE SET status = EXCLUDED.status, code = EXCLUDED.code, created = EXCLUDED.created",
                &[&m.vendor_id, &m.email, &m.status, &m.code, &m.created],
            )
        })?;
        Ok(())
    }

    fn membership(&self, vendor_id: &str, email: &str) -> ApiResult<Option<Membership>> {
        self.with(|c| {
            c.query_opt(
                "SELECT vendor_id, email, status, code, created FROM developer_vendor_users WHERE vendor_id = $1 AND email = $2",
                &[&vendor_id, &email],
            )?
            .as_ref()
            .map(membership_row)
            .transpose()
        })
    }

    fn memberships(&self, vendor_id: &str, status: &str, limit: i64, offset: i64) -> ApiResult<Vec<Membership>> {
        let (limit, offset) = page(limit, offset);
        self.with(|c| {
            c.query(
                "SELECT vendor_id, email, status, code, created FROM developer_vendor_users WHERE vendor_id = $1 AND status = $2 \
                 ORDER BY email LIMIT $3 OFFSET $4",
                &[&vendor_id, &status, &limit, &offset],
            )?
            .iter()
            .map(membership_row)
            .collect()
        })
    }

    fn delete_membership(&self, vendor_id: &str, email: &str) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM developer_vendor_users WHERE vendor_id = $1 AND email = $2", &[&vendor_id, &email])? > 0))
    }

    fn member_vendors(&self, email: &str) -> ApiResult<Vec<String>> {
        self.with(|c| {
            c.query("SELECT vendor_id FROM developer_vendor_users WHERE email = $1 AND status = 'member' ORDER BY vendor_id", &[&email])?
                .iter()
                .map(|r| r.try_get(0))
                .collect()
        })
    }

    fn insert_app(&self, a: &App, first: &AppVersion) -> ApiResult<Result<(), AlreadyExists>> {
        self.tx(|c| {
            let n = c.execute(
                &format!(
                    "INSERT INTO developer_apps ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING"
                ),
                &[
                    &a.id,
                    &a.vendor_id,
                    &a.version,
                    &a.definition.to_string(),
                    &(a.is_public as i64),
                    &(a.is_approved as i64),
                    &(a.is_deprecated as i64),
                    &a.publish_requested,
                    &a.published_version,
                    &a.created,
                    &a.updated,
                ],
            )?;
            if n == 0 {
                return Ok(Err(AlreadyExists));
            }
            insert_version(c, first)?;
            Ok::<_, Error>(Ok(()))
        })
    }

    fn app(&self, id: &str) -> ApiResult<Option<App>> {
        self.with(|c| c.query_opt(&format!("SELECT {APP_COLUMNS} FROM developer_apps WHERE id = $1"), &[&id])?.as_ref().map(app_row).transpose())
    }

    fn apps(&self, vendor_id: Option<&str>, published_only: bool, limit: i64, offset: i64) -> ApiResult<Vec<App>> {
        let (limit, offset) = page(limit, offset);
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {APP_COLUMNS} FROM developer_apps WHERE ($1::TEXT IS NULL OR vendor_id = $1) \
                     AND (NOT $2 OR published_version IS NOT NULL) ORDER BY id LIMIT $3 OFFSET $4"
                ),
                &[&vendor_id, &published_only, &limit, &offset],
            )?
            .iter()
            .map(app_row)
            .collect()
        })
    }

    fn update_app(&self, a: &App, new_version: Option<&AppVersion>) -> ApiResult<bool> {
        self.tx(|c| {
            let n = c.execute(
                "UPDATE developer_apps SET version = $2, definition = $3, is_public = $4, is_approved = $5, is_deprecated = $6, \
                 publish_requested = $7, published_version = $8, updated = $9 WHERE id = $1",
                &[
                    &a.id,
                    &a.version,
                    &a.definition.to_string(),
                    &(a.is_public as i64),
                    &(a.is_approved as i64),
                    &(a.is_deprecated as i64),
                    &a.publish_requested,
                    &a.published_version,
                    &a.updated,
                ],
            )?;
            if n == 0 {
                return Ok(false);
            }
            if let Some(v) = new_version {
                insert_version(c, v)?;
            }
            Ok::<_, Error>(true)
        })
    }

    fn delete_app(&self, id: &str) -> ApiResult<bool> {
        self.tx(|c| {
            c.execute("DELETE FROM developer_app_versions WHERE app_id = $1", &[&id])?;
            Ok::<_, Error>(c.execute("DELETE FROM developer_apps WHERE id = $1", &[&id])? > 0)
        })
    }

    fn app_versions(&self, app_id: &str, limit: i64, offset: i64) -> ApiResult<Vec<AppVersion>> {
        let (limit, offset) = page(limit, offset);
        self.with(|c| {
            c.query(
                "SELECT app_id, version, definition, created_by, created_on FROM developer_app_versions WHERE app_id = $1 \
                 ORDER BY version DESC LIMIT $2 OFFSET $3",
                &[&app_id, &limit, &offset],
            )?
            .iter()
            .map(version_row)
            .collect()
        })
    }

    fn app_version(&self, app_id: &str, version: i64) -> ApiResult<Option<AppVersion>> {
        self.with(|c| {
            c.query_opt(
                "SELECT app_id, version, definition, created_by, created_on FROM developer_app_versions WHERE app_id = $1 AND version = $2",
                &[&app_id, &version],
            )?
            .as_ref()
            .map(version_row)
            .transpose()
        })
    }
}
