//! The OAuth Broker's records on PostgreSQL (`OAuthStore`; see ../oauth.rs). A session is taken
//! with one `DELETE … RETURNING`, so two nodes given the same callback never both get it.
use super::{PgMetaStore, flag};
use crate::meta::AlreadyExists;
use crate::meta::oauth::{
    CONSUMER_COLUMNS, CREDENTIALS_COLUMNS, OAuthConsumer, OAuthCredentials, OAuthSession, OAuthStore, SESSION_COLUMNS,
};
use kbstack_core::Result as ApiResult;

fn consumer_from_row(r: &postgres::Row) -> Result<OAuthConsumer, postgres::Error> {
    Ok(OAuthConsumer {
        component_id: r.try_get(0)?,
        friendly_name: r.try_get(1)?,
        oauth_version: r.try_get(2)?,
        auth_url: r.try_get(3)?,
        token_url: r.try_get(4)?,
        request_token_url: r.try_get(5)?,
        app_key: r.try_get(6)?,
        sealed_app_secret: r.try_get(7)?,
        restrict_custom_auth: flag(r, 8)?,
        created: r.try_get(9)?,
    })
}

fn credentials_from_row(r: &postgres::Row) -> Result<OAuthCredentials, postgres::Error> {
    Ok(OAuthCredentials {
        project_id: r.try_get(0)?,
        component_id: r.try_get(1)?,
        name: r.try_get(2)?,
        branch_id: r.try_get(3)?,
        authorized_for: r.try_get(4)?,
        creator_id: r.try_get(5)?,
        creator_description: r.try_get(6)?,
        created: r.try_get(7)?,
        oauth_version: r.try_get(8)?,
        app_key: r.try_get(9)?,
        app_secret: r.try_get(10)?,
        data: r.try_get(11)?,
    })
}

fn session_from_row(r: &postgres::Row) -> Result<OAuthSession, postgres::Error> {
    Ok(OAuthSession {
        state: r.try_get(0)?,
        project_id: r.try_get(1)?,
        component_id: r.try_get(2)?,
        name: r.try_get(3)?,
        branch_id: r.try_get(4)?,
        authorized_for: r.try_get(5)?,
        return_url: r.try_get(6)?,
        creator_id: r.try_get(7)?,
        creator_description: r.try_get(8)?,
        oauth_version: r.try_get(9)?,
        app_key: r.try_get(10)?,
        sealed_app_secret: r.try_get(11)?,
        token_url: r.try_get(12)?,
        redirect_uri: r.try_get(13)?,
        created_ms: r.try_get(14)?,
    })
}

impl OAuthStore for PgMetaStore {
    fn insert_oauth_consumer(&self, c: &OAuthConsumer) -> ApiResult<Result<(), AlreadyExists>> {
        let n = self.with(|conn| {
            conn.execute(
                &format!(
                    "INSERT INTO oauth_consumers ({CONSUMER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (component_id) DO NOTHING"
                ),
                &[
                    &c.component_id,
                    &c.friendly_name,
                    &c.oauth_version,
                    &c.auth_url,
                    &c.token_url,
                    &c.request_token_url,
                    &c.app_key,
                    &c.sealed_app_secret,
                    &(c.restrict_custom_auth as i64),
                    &c.created,
                ],
            )
        })?;
        Ok(if n == 1 { Ok(()) } else { Err(AlreadyExists) })
    }

    fn oauth_consumers(&self) -> ApiResult<Vec<OAuthConsumer>> {
        self.with(|c| c.query(&format!("SELECT {CONSUMER_COLUMNS} FROM oauth_consumers ORDER BY component_id"), &[])?.iter().map(consumer_from_row).collect())
    }

    fn oauth_consumer(&self, component_id: &str) -> ApiResult<Option<OAuthConsumer>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {CONSUMER_COLUMNS} FROM oauth_consumers WHERE component_id = $1"), &[&component_id])?
                .as_ref()
                .map(consumer_from_row)
                .transpose()
        })
    }

    fn update_oauth_consumer(&self, c: &OAuthConsumer) -> ApiResult<bool> {
        self.with(|conn| {
            Ok(conn.execute(
                "UPDATE oauth_consumers SET friendly_name = $2, oauth_version = $3, auth_url = $4, token_url = $5, request_token_url = $6, \
                 app_key = $7, sealed_app_secret = $8, restrict_custom_auth = $9 WHERE component_id = $1",
                &[
                    &c.component_id,
                    &c.friendly_name,
                    &c.oauth_version,
                    &c.auth_url,
                    &c.token_url,
                    &c.request_token_url,
                    &c.app_key,
                    &c.sealed_app_secret,
                    &(c.restrict_custom_auth as i64),
                ],
            )? > 0)
        })
    }

    fn delete_oauth_consumer(&self, component_id: &str) -> ApiResult<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM oauth_consumers WHERE component_id = $1", &[&component_id])? > 0))
    }

    fn insert_oauth_credentials(&self, c: &OAuthCredentials, replace: bool) -> ApiResult<Result<(), AlreadyExists>> {
        // SQLite's INSERT OR REPLACE / OR IGNORE on the primary key.
        let conflict = if replace {
            "DO UPDATE SET branch_id = EXCLUDED.branch_id, authorized_for = EXCLUDED.authorized_for, creator_id = EXCLUDED.creator_id, \
             creator_description = EXCLUDED.creator_description, created = EXCLUDED.created, oauth_version = EXCLUDED.oauth_version, \
             app_key = EXCLUDED.app_key, app_secret = EXCLUDED.app_secret, data = EXCLUDED.data"
        } else {
            "DO NOTHING"
        };
        let n = self.with(|conn| {
            conn.execute(
                &format!(
                    "INSERT INTO oauth_credentials ({CREDENTIALS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (project_id, component_id, name) {conflict}"
                ),
                &[
                    &c.project_id,
                    &c.component_id,
                    &c.name,
                    &c.branch_id,
                    &c.authorized_for,
                    &c.creator_id,
                    &c.creator_description,
                    &c.created,
                    &c.oauth_version,
                    &c.app_key,
                    &c.app_secret,
                    &c.data,
                ],
            )
        })?;
        Ok(if n >= 1 { Ok(()) } else { Err(AlreadyExists) })
    }

    fn oauth_credentials_list(&self, project_id: i64, component_id: Option<&str>) -> ApiResult<Vec<OAuthCredentials>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT {CREDENTIALS_COLUMNS} FROM oauth_credentials WHERE project_id = $1 AND ($2::TEXT IS NULL OR component_id = $2) \
                     ORDER BY component_id, name"
                ),
                &[&project_id, &component_id],
            )?
            .iter()
            .map(credentials_from_row)
            .collect()
        })
    }

    fn oauth_credentials(&self, project_id: i64, component_id: &str, name: &str) -> ApiResult<Option<OAuthCredentials>> {
        self.with(|c| {
            c.query_opt(
                &format!("SELECT {CREDENTIALS_COLUMNS} FROM oauth_credentials WHERE project_id = $1 AND component_id = $2 AND name = $3"),
                &[&project_id, &component_id, &name],
            )?
            .as_ref()
            .map(credentials_from_row)
            .transpose()
        })
    }

    fn delete_oauth_credentials(&self, project_id: i64, component_id: &str, name: &str) -> ApiResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM oauth_credentials WHERE project_id = $1 AND component_id = $2 AND name = $3",
                &[&project_id, &component_id, &name],
            )? > 0)
        })
    }

    fn insert_oauth_session(&self, s: &OAuthSession) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO oauth_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                ),
                &[
                    &s.state,
                    &s.project_id,
                    &s.component_id,
                    &s.name,
                    &s.branch_id,
                    &s.authorized_for,
                    &s.return_url,
                    &s.creator_id,
                    &s.creator_description,
                    &s.oauth_version,
                    &s.app_key,
                    &s.sealed_app_secret,
                    &s.token_url,
                    &s.redirect_uri,
                    &s.created_ms,
                ],
            )
        })?;
        Ok(())
    }

    fn take_oauth_session(&self, state: &str, not_before_ms: i64) -> ApiResult<Option<OAuthSession>> {
        self.with(|c| {
            c.execute("DELETE FROM oauth_sessions WHERE created_ms < $1", &[&not_before_ms])?;
            c.query_opt(&format!("DELETE FROM oauth_sessions WHERE state = $1 RETURNING {SESSION_COLUMNS}"), &[&state])?
                .as_ref()
                .map(session_from_row)
                .transpose()
        })
    }
}
