//! The Management API's users and manage tokens on PostgreSQL (`ManageStore`; see
//! ../manage.rs). A user's email is checked and written under an advisory lock on it, so two
//! nodes never both take one.
use super::{PgMetaStore, flag, lock_until_commit};
use crate::meta::manage::{EmailTaken, ManageStore, ManageToken, ManageTokenKind, TOKEN_COLUMNS, USER_COLUMNS, User};
use crate::meta::tokens::hash_token;
use kbstack_core::Result as ApiResult;

fn user_from_row(r: &postgres::Row) -> Result<User, postgres::Error> {
    let features: String = r.try_get(7)?;
    Ok(User {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        name: r.try_get(2)?,
        created: r.try_get(3)?,
        mfa_enabled: flag(r, 4)?,
        can_access_logs: flag(r, 5)?,
        is_super_admin: flag(r, 6)?,
        features: serde_json::from_str(&features).unwrap_or_default(),
    })
}

fn token_from_row(r: &postgres::Row) -> Result<ManageToken, postgres::Error> {
    let kind: String = r.try_get(3)?;
    let scopes: String = r.try_get(4)?;
    Ok(ManageToken {
        id: r.try_get(0)?,
        description: r.try_get(1)?,
        user_id: r.try_get(2)?,
        kind: ManageTokenKind::parse(&kind),
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        created: r.try_get(5)?,
        expires: r.try_get(6)?,
        last_used: r.try_get(7)?,
        is_session: flag(r, 8)?,
    })
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

impl ManageStore for PgMetaStore {
    fn insert_user(&self, u: &User) -> ApiResult<Result<i64, EmailTaken>> {
        self.tx(|tx| {
            lock_until_commit(tx, &format!("manage_user_email:{}", u.email.to_ascii_lowercase()))?;
            if tx.query_opt("SELECT 1 FROM manage_users WHERE lower(email) = lower($1)", &[&u.email])?.is_some() {
                return Ok(Err(EmailTaken));
            }
            let id: i64 = tx
                .query_one(
                    "INSERT INTO manage_users (email, name, created, mfa_enabled, can_access_logs, is_super_admin, features) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    &[
                        &u.email,
                        &u.name,
                        &u.created,
                        &(u.mfa_enabled as i64),
                        &(u.can_access_logs as i64),
                        &(u.is_super_admin as i64),
                        &json_list(&u.features),
                    ],
                )?
                .try_get(0)?;
            Ok::<_, kbstack_core::Error>(Ok(id))
        })
    }

    fn user(&self, id: i64) -> ApiResult<Option<User>> {
        self.with(|c| c.query_opt(&format!("SELECT {USER_COLUMNS} FROM manage_users WHERE id = $1"), &[&id])?.as_ref().map(user_from_row).transpose())
    }

    fn user_by_email(&self, email: &str) -> ApiResult<Option<User>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {USER_COLUMNS} FROM manage_users WHERE lower(email) = lower($1)"), &[&email])?
                .as_ref()
                .map(user_from_row)
                .transpose()
        })
    }

    fn users(&self) -> ApiResult<Vec<User>> {
        self.with(|c| c.query(&format!("SELECT {USER_COLUMNS} FROM manage_users ORDER BY id"), &[])?.iter().map(user_from_row).collect())
    }

    fn update_user(&self, u: &User) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE manage_users SET name = $1, mfa_enabled = $2, can_access_logs = $3, is_super_admin = $4, features = $5 WHERE id = $6",
                &[&u.name, &(u.mfa_enabled as i64), &(u.can_access_logs as i64), &(u.is_super_admin as i64), &json_list(&u.features), &u.id],
            )
        })?;
        Ok(())
    }

    fn delete_user(&self, id: i64) -> ApiResult<()> {
        self.tx(|tx| {
            tx.execute("DELETE FROM manage_tokens WHERE user_id = $1", &[&id])?;
            tx.execute("DELETE FROM memberships WHERE user_id = $1", &[&id])?;
            tx.execute("DELETE FROM invitations WHERE user_id = $1", &[&id])?;
            tx.execute("DELETE FROM manage_users WHERE id = $1", &[&id])?;
            Ok::<_, kbstack_core::Error>(())
        })
    }

    fn insert_manage_token(&self, t: &ManageToken, secret_for: &dyn Fn(i64) -> String) -> ApiResult<(i64, String)> {
        self.tx(|tx| {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO manage_tokens (hash, description, user_id, kind, scopes, created, expires, is_session) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    &[
                        &format!("pending-{}", uuid::Uuid::new_v4()),
                        &t.description,
                        &t.user_id,
                        &t.kind.as_str(),
                        &json_list(&t.scopes),
                        &t.created,
                        &t.expires,
                        &(t.is_session as i64),
                    ],
                )?
                .try_get(0)?;
            let secret = secret_for(id);
            tx.execute("UPDATE manage_tokens SET hash = $1 WHERE id = $2", &[&hash_token(&secret), &id])?;
            Ok::<_, kbstack_core::Error>((id, secret))
        })
    }

    fn manage_token_by_hash(&self, hash: &str) -> ApiResult<Option<ManageToken>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {TOKEN_COLUMNS} FROM manage_tokens WHERE hash = $1"), &[&hash])?.as_ref().map(token_from_row).transpose()
        })
    }

    fn manage_token(&self, id: i64) -> ApiResult<Option<ManageToken>> {
        self.with(|c| c.query_opt(&format!("SELECT {TOKEN_COLUMNS} FROM manage_tokens WHERE id = $1"), &[&id])?.as_ref().map(token_from_row).transpose())
    }

    fn manage_tokens(&self, user_id: Option<i64>) -> ApiResult<Vec<ManageToken>> {
        self.with(|c| {
            c.query(&format!("SELECT {TOKEN_COLUMNS} FROM manage_tokens WHERE user_id IS NOT DISTINCT FROM $1 ORDER BY id"), &[&user_id])?
                .iter()
                .map(token_from_row)
                .collect()
        })
    }

    fn set_manage_token_hash(&self, id: i64, hash: &str) -> ApiResult<()> {
        self.with(|c| c.execute("UPDATE manage_tokens SET hash = $1 WHERE id = $2", &[&hash, &id]))?;
        Ok(())
    }

    fn touch_manage_token(&self, id: i64, now: &str) -> ApiResult<()> {
        self.with(|c| c.execute("UPDATE manage_tokens SET last_used = $1 WHERE id = $2", &[&now, &id]))?;
        Ok(())
    }

    fn delete_manage_token(&self, id: i64) -> ApiResult<()> {
        self.with(|c| c.execute("DELETE FROM manage_tokens WHERE id = $1", &[&id]))?;
        Ok(())
    }
}
