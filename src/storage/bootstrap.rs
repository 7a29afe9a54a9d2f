//! First start: project 1 with its default branch "Main" and a master token.
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use super::auth::{TokenRecord, hash_token, new_token_secret};
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
    meta.ensure_project(PROJECT_ID, "kbstack", &now).map_err(|e| anyhow::anyhow!("{e}"))?;
    meta.ensure_default_branch(PROJECT_ID, "Main", &now).map_err(|e| anyhow::anyhow!("{e}"))?;

    let master_id = match meta.master_token(PROJECT_ID).map_err(|e| anyhow::anyhow!("{e}"))? {
        Some(t) => t.id,
        None => {
            let master = TokenRecord::master(PROJECT_ID, "Master Token", &now);
            // A placeholder secret: replaced below by the configured or a generated one.
            let pending = format!("pending-{}", uuid::Uuid::new_v4());
            let (id, _) = meta.insert_token(&master, &|_| pending.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
            meta.set_token_hash(id, &pending, &now).map_err(|e| anyhow::anyhow!("{e}"))?;
            id
        }
    };
    let current_hash = meta.token_hash(master_id).map_err(|e| anyhow::anyhow!("{e}"))?.unwrap_or_default();

    let (secret, created) = match &config.master_token {
        Some(given) => (given.expose().to_string(), false),
        None if !current_hash.starts_with("pending-") => {
            return Ok(Bootstrap { new_master_token: None, token_hint: token_file.display().to_string() });
        }
        None => (new_token_secret(PROJECT_ID, master_id), true),
    };
    let hash = hash_token(&secret);
    if hash != current_hash {
        meta.set_token_hash(master_id, &hash, &now).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // The secret is kept only in a file readable by the owner; the database holds its hash.
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&token_file)?;
    f.write_all(secret.as_bytes())?;
    Ok(Bootstrap {
        new_master_token: if created { Some(secret) } else { None },
        token_hint: token_file.display().to_string(),
    })
}
