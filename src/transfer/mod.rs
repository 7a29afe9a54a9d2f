//! `kbstack export` and `kbstack import`: a stack carried between data dirs, builds (a DuckDB
//! version change) and, later, profiles, as a documented, versioned directory:
//!
//! ```text
//! manifest.json        format "kbstack-export", version 1, what wrote it, row and file counts
//! metadata/<t>.jsonl   every metadata table's rows as JSON lines, at `metadataSchemaVersion`
//! tables/              every table as CSV + schema.sql/load.sql (DuckDB's EXPORT DATABASE;
//!                      CSV, as the bundled DuckDB cannot read Parquet without its extension)
//! files/               Storage files (the blob container), byte for byte
//! extra/<name>         registered components, the imported catalog, Stream slices not yet
//!                      loaded, data-app code, workspace files (DuckDB files: same version only)
//! keys/                only with --include-keys: the encryption, SAS and secret keys and the
//!                      master/manage tokens; without them, values encrypted by the stack
//!                      (`KBC::...`) cannot be read after import, while tokens keep working
//!                      (their hashes are in the metadata)
//! ```
//!
//! Both commands run with the server stopped (they take the data dir's stores exclusively).
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};
use serde::{Deserialize, Serialize};

use kbstack_store::backend::duckdb::DuckDbBackend;

use crate::config::Config;
use kbstack_store::backend::TableBackend;
use kbstack_store::meta::{Durability, Locking, SqliteMetaStore};

pub const FORMAT: &str = "kbstack-export";
pub const FORMAT_VERSION: u32 = 1;

/// Data-dir entries carried as they are, under `extra/`.
const EXTRA: &[&str] = &["components", "component-catalog.json", "stream", "data-apps", "workspaces"];
/// Secrets carried only when asked, under `keys/`.
const KEYS: &[&str] = &["keys", "master-token", "manage-token", crate::developer::auth::ADMIN_PASSWORD_FILE];
/// Where Storage files live in a data dir.
const FILES: &str = "blobs/kbstack-files";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub kbstack_version: String,
    pub created: String,
    pub metadata_schema_version: i64,
    pub table_engine: String,
    pub metadata_rows: std::collections::BTreeMap<String, u64>,
    pub files: u64,
    pub includes_keys: bool,
}

/// Export the stack in `data_dir` to the new directory `to`.
/// Writes the stack of `config`'s data dir (and its table store, wherever the configuration
/// keeps tables) into `to`.
pub fn export(config: &Config, to: &Path, include_keys: bool) -> anyhow::Result<Manifest> {
    let data_dir = config.data_dir.as_path();
    refuse_postgres(config)?;
    ensure!(data_dir.join("metadata.sqlite").exists(), "{} holds no kbstack stack (no metadata.sqlite)", data_dir.display());
    ensure!(!to.exists() || is_empty_dir(to)?, "{} exists and is not empty: export into a new directory", to.display());
    std::fs::create_dir_all(to)?;
    crate::app::lock_down_data_dir(to)?;
    // The table store first: DuckDB refuses at once (no wait) when a server holds the file.
    let tables = open_tables(config)?;
    let meta = SqliteMetaStore::open_with(&data_dir.join("metadata.sqlite"), Durability::Full, Locking::Exclusive)
        .context("cannot open the metadata store (metadata.sqlite); stop the server on this data dir first")?;

    progress("metadata");
    let dumped = meta.dump_rows(&to.join("metadata"))?;
    let schema = meta.schema_version()?;
    progress("tables");
    tables.export_all(&to.join("tables")).map_err(|e| anyhow::anyhow!("exporting the tables: {e}"))?;
    progress("files");
    let files = copy_tree(&data_dir.join(FILES), &to.join("files"))?;
    for name in EXTRA {
        copy_tree(&data_dir.join(name), &to.join("extra").join(name))?;
    }
    if include_keys {
        progress("keys");
        for name in KEYS {
            copy_tree(&secret_path(config, name), &to.join("keys").join(name))?;
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        kbstack_version: env!("CARGO_PKG_VERSION").into(),
        created: chrono::Utc::now().to_rfc3339(),
        metadata_schema_version: schema,
        table_engine: format!("duckdb {}", tables.engine_version().unwrap_or_default()),
        metadata_rows: dumped.into_iter().collect(),
        files,
        includes_keys: include_keys,
    };
    // Written last: a directory without it is an export that did not finish.
    std::fs::write(to.join("manifest.json"), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}

/// Where a secret of `KEYS` lives: the keys in `--keys-dir` (the data dir's `keys/` by
/// default), the rest in the data dir.
fn secret_path(config: &Config, name: &str) -> std::path::PathBuf {
    if name == "keys" { config.keys_dir.clone() } else { config.data_dir.join(name) }
}

/// Restores an export into `config`'s new data dir (and its table store: the data dir's DuckDB
/// file, or an empty DuckLake).
pub fn import(from: &Path, config: &Config) -> anyhow::Result<Manifest> {
    let data_dir = config.data_dir.as_path();
    refuse_postgres(config)?;
    let text = std::fs::read(from.join("manifest.json"))
        .with_context(|| format!("{} has no manifest.json: not a kbstack export, or one that did not finish", from.display()))?;
    let manifest: Manifest = serde_json::from_slice(&text).context("reading manifest.json")?;
    ensure!(manifest.format == FORMAT, "{} is not a kbstack export (format {:?})", from.display(), manifest.format);
    ensure!(
        manifest.version <= FORMAT_VERSION,
        "the export has format version {}, newer than this build reads ({FORMAT_VERSION}): import it with a newer kbstack",
        manifest.version
    );
    for name in ["metadata.sqlite", "tables.duckdb"] {
        ensure!(!data_dir.join(name).exists(), "{} holds a stack already ({name}): import into a new data dir", data_dir.display());
    }
    crate::app::lock_down_data_dir(data_dir)?;

    progress("metadata");
    SqliteMetaStore::restore(&data_dir.join("metadata.sqlite"), &from.join("metadata"), manifest.metadata_schema_version)?;
    progress("tables");
    let tables = open_tables(config)?;
    tables.import_all(&from.join("tables")).map_err(|e| anyhow::anyhow!("importing the tables: {e}"))?;
    drop(tables);
    progress("files");
    copy_tree(&from.join("files"), &data_dir.join(FILES))?;
    for name in EXTRA {
        copy_tree(&from.join("extra").join(name), &data_dir.join(name))?;
    }
    for name in KEYS {
        copy_tree(&from.join("keys").join(name), &secret_path(config, name))?;
    }
    // Key files and tokens back to owner-only.
    crate::app::lock_down_data_dir(data_dir)?;
    Ok(manifest)
}

/// Export and import move the metadata as SQLite's rows; a stack whose metadata is on
/// PostgreSQL is refused (dumping and restoring a PostgreSQL database is not done yet).
fn refuse_postgres(config: &Config) -> anyhow::Result<()> {
    ensure!(
        config.metadata_url.is_none(),
        "export and import work on the embedded metadata store (metadata.sqlite) only: this configuration keeps the metadata on \
         PostgreSQL (--metadata-url / [metadata] url); use pg_dump / pg_restore for that database and run export/import without it"
    );
    Ok(())
}

fn open_tables(config: &Config) -> anyhow::Result<DuckDbBackend> {
    crate::app::open_tables(config).context("stop the server on this data dir first")
}

fn progress(step: &str) {
    tracing::info!(step, "transfer");
}

fn is_empty_dir(p: &Path) -> anyhow::Result<bool> {
    Ok(p.is_dir() && std::fs::read_dir(p)?.next().is_none())
}

/// Copy a file or a directory tree (nothing when `from` is missing); returns the files copied.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<u64> {
    let Ok(meta) = std::fs::symlink_metadata(from) else { return Ok(0) };
    if meta.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
        return Ok(1);
    }
    if !meta.is_dir() {
        return Ok(0); // sockets, symlinks: nothing a stack keeps
    }
    std::fs::create_dir_all(to)?;
    let mut n = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(from)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        n += copy_tree(&entry, &to.join(entry.file_name().unwrap_or_default()))?;
    }
    Ok(n)
}
