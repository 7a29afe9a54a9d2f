//! Projects and tokens on PostgreSQL (`ProjectStore`, `TokenStore`; see ../tokens.rs). No
//! lookup cache here: other nodes write the same database.
use postgres::GenericClient;
use postgres::types::ToSql;
use serde_json::Value;

use super::{PgMetaStore, flag};
use crate::meta::tokens::{ProjectStore, TokenRecord, TokenStore, hash_token};
use kbstack_core::Result as ApiResult;

const TOKEN_COLUMNS: &str = "id, project_id, description, is_master, can_manage_buckets, can_manage_tokens, \
    can_read_all_file_uploads, can_purge_trash, can_create_jobs, can_manage_protected_default_branch, \
    bucket_permissions, component_access, expires, created, refreshed, creator_token_id, creator_description";

fn from_row(r: &postgres::Row) -> Result<TokenRecord, postgres::Error> {
    let perms: String = r.try_get(10)?;
    let access: Option<String> = r.try_get(11)?;
    Ok(TokenRecord {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        description: r.try_get(2)?,
        is_master: flag(r, 3)?,
        can_manage_buckets: flag(r, 4)?,
        can_manage_tokens: flag(r, 5)?,
        can_read_all_file_uploads: flag(r, 6)?,
        can_purge_trash: flag(r, 7)?,
        can_create_jobs: flag(r, 8)?,
        can_manage_protected_default_branch: flag(r, 9)?,
        bucket_permissions: serde_json::from_str(&perms).unwrap_or_default(),
        component_access: access.and_then(|a| serde_json::from_str(&a).ok()),
        expires: r.try_get(12)?,
        created: r.try_get(13)?,
        refreshed: r.try_get(14)?,
        creator_token_id: r.try_get(15)?,
        creator_description: r.try_get(16)?,
    })
}

/// The working token matching `filter` (on `$1`). A deleted project's tokens stop working.
fn one_token(c: &mut impl GenericClient, filter: &str, param: &(dyn ToSql + Sync)) -> Result<Option<TokenRecord>, postgres::Error> {
    c.query_opt(
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE {filter} AND disabled = 0 AND NOT EXISTS \
             (SELECT 1 FROM project_details d WHERE d.project_id = tokens.project_id AND d.deleted_time IS NOT NULL)"
        ),
        &[param],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Description, rights and expiry of token `id`, as `t` has them.
fn write_rights(c: &mut impl GenericClient, id: i64, t: &TokenRecord) -> Result<u64, postgres::Error> {
    c.execute(
        "UPDATE tokens SET description = $1, can_manage_buckets = $2, can_manage_tokens = $3, can_read_all_file_uploads = $4, \
         can_purge_trash = $5, can_create_jobs = $6, can_manage_protected_default_branch = $7, bucket_permissions = $8, \
         component_access = $9, expires = $10 WHERE id = $11",
        &[
            &t.description,
            &(t.can_manage_buckets as i64),
            &(t.can_manage_tokens as i64),
            &(t.can_read_all_file_uploads as i64),
            &(t.can_purge_trash as i64),
            &(t.can_create_jobs as i64),
            &(t.can_manage_protected_default_branch as i64),
            &Value::Object(t.bucket_permissions.clone()).to_string(),
            &t.component_access.as_ref().map(|a| serde_json::json!(a).to_string()),
            &t.expires,
            &id,
        ],
    )
}

impl ProjectStore for PgMetaStore {
    fn ensure_project(&self, id: i64, name: &str, created: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute("INSERT INTO projects (id, name, created) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", &[&id, &name, &created])
        })?;
        Ok(())
    }

    fn project(&self, id: i64) -> ApiResult<Option<(String, String)>> {
        self.with(|c| {
            c.query_opt("SELECT name, created FROM projects WHERE id = $1", &[&id])?
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .transpose()
        })
    }
}

impl TokenStore for PgMetaStore {
    fn token_by_hash(&self, hash: &str) -> ApiResult<Option<TokenRecord>> {
        self.with(|c| one_token(c, "hash = $1", &hash))
    }

    fn token(&self, id: i64) -> ApiResult<Option<TokenRecord>> {
        self.with(|c| one_token(c, "id = $1", &id))
    }

    fn project_tokens(&self, project_id: i64) -> ApiResult<Vec<TokenRecord>> {
        self.with(|c| {
            c.query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE project_id = $1 AND disabled = 0 ORDER BY id"), &[&project_id])?
                .iter()
                .map(from_row)
                .collect()
        })
    }

    fn master_token(&self, project_id: i64) -> ApiResult<Option<TokenRecord>> {
        self.with(|c| {
            c.query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE project_id = $1 AND is_master = 1 AND disabled = 0 ORDER BY id LIMIT 1"),
                &[&project_id],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
        })
    }

    fn insert_token(&self, t: &TokenRecord, secret_for: &dyn Fn(i64) -> String) -> ApiResult<(i64, String)> {
        self.tx(|tx| {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO tokens (project_id, hash, is_master, created, refreshed, creator_token_id, creator_description) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    &[
                        &t.project_id,
                        &format!("pending-{}", uuid::Uuid::new_v4()),
                        &(t.is_master as i64),
                        &t.created,
                        &t.refreshed,
                        &t.creator_token_id,
                        &t.creator_description,
                    ],
                )?
                .try_get(0)?;
            write_rights(tx, id, t)?;
            let secret = secret_for(id);
            tx.execute("UPDATE tokens SET hash = $1 WHERE id = $2", &[&hash_token(&secret), &id])?;
            Ok((id, secret))
        })
    }

    fn update_token(&self, t: &TokenRecord) -> ApiResult<()> {
        self.with(|c| write_rights(c, t.id, t))?;
        Ok(())
    }

    fn token_hash(&self, id: i64) -> ApiResult<Option<String>> {
        self.with(|c| c.query_opt("SELECT hash FROM tokens WHERE id = $1", &[&id])?.map(|r| r.try_get(0)).transpose())
    }

    fn set_token_hash(&self, id: i64, hash: &str, refreshed: &str) -> ApiResult<()> {
        self.with(|c| c.execute("UPDATE tokens SET hash = $1, refreshed = $2 WHERE id = $3", &[&hash, &refreshed, &id]))?;
        Ok(())
    }

    fn delete_token(&self, id: i64) -> ApiResult<()> {
        self.with(|c| c.execute("DELETE FROM tokens WHERE id = $1", &[&id]))?;
        Ok(())
    }
}
