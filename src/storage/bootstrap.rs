//! First start: project 1 with its default branch "Main" and a master token.
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use rusqlite::OptionalExtension;

use super::auth::{hash_token, new_token_secret};
use crate::config::Config;
use crate::http::now_iso;
use crate::meta::MetaStore;

pub struct Bootstrap {
    /// Set when this start created (or replaced) the master token and it was not given by config.
    pub new_master_token: Option<String>,
    pub token_hint: String,
}

pub const PROJECT_ID: i64 = 1;

pub fn ensure_project(meta: &MetaStore, config: &Config) -> anyhow::Result<Bootstrap> {
    let token_file = config.data_dir.join("master-token");
    let now = now_iso();
    let master_id: Option<i64> = meta
        .with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO projects (id, name, created) VALUES (?1, 'kbstack', ?2)",
                rusqlite::params![PROJECT_ID, now],
            )?;
            let has_default: Option<i64> = c
                .query_row("SELECT id FROM branches WHERE project_id = ?1 AND is_default = 1", [PROJECT_ID], |r| r.get(0))
                .optional()?;
            if has_default.is_none() {
                c.execute(
                    "INSERT INTO branches (project_id, name, description, is_default, created) VALUES (?1, 'Main', '', 1, ?2)",
                    rusqlite::params![PROJECT_ID, now],
                )?;
            }
            c.query_row("SELECT id FROM tokens WHERE project_id = ?1 AND is_master = 1 ORDER BY id LIMIT 1", [PROJECT_ID], |r| {
                r.get(0)
            })
            .optional()
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let master_id = match master_id {
        Some(id) => id,
        None => meta
            .with(|c| {
                c.execute(
                    "INSERT INTO tokens (project_id, hash, description, is_master, can_manage_buckets, can_manage_tokens, \
                     can_read_all_file_uploads, can_purge_trash, can_create_jobs, created, refreshed) \
                     VALUES (?1, ?2, 'Master Token', 1, 1, 1, 1, 1, 1, ?3, ?3)",
                    rusqlite::params![PROJECT_ID, format!("pending-{}", uuid::Uuid::new_v4()), now],
                )?;
                Ok(c.last_insert_rowid())
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let current_hash: String = meta
        .with(|c| c.query_row("SELECT hash FROM tokens WHERE id = ?1", [master_id], |r| r.get(0)))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let (secret, created) = match &config.master_token {
        Some(given) => (given.clone(), false),
        None if !current_hash.starts_with("pending-") => {
            return Ok(Bootstrap { new_master_token: None, token_hint: token_file.display().to_string() });
        }
        None => (new_token_secret(PROJECT_ID, master_id), true),
    };
    let hash = hash_token(&secret);
    if hash != current_hash {
        meta.with(|c| c.execute("UPDATE tokens SET hash = ?1, refreshed = ?2 WHERE id = ?3", rusqlite::params![hash, now, master_id]))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // The secret is kept only in a file readable by the owner; the database holds its hash.
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&token_file)?;
    f.write_all(secret.as_bytes())?;
    Ok(Bootstrap {
        new_master_token: if created { Some(secret) } else { None },
        token_hint: token_file.display().to_string(),
    })
}
