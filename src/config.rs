//! Configuration: flags, `KBSTACK_*` environment variables and an optional TOML file
//! (flags and env win over the file).
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// Directory holding all state (metadata, table data, files).
    #[arg(long, env = "KBSTACK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Listen address; port 0 picks a free port.
    #[arg(long, env = "KBSTACK_LISTEN")]
    pub listen: Option<String>,
    /// URL advertised to clients (index services, blob endpoint). Defaults to http://<listen address>.
    #[arg(long, env = "KBSTACK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Master token of project 1 (otherwise generated on first start and kept in <data-dir>/master-token).
    #[arg(long, env = "KBSTACK_MASTER_TOKEN", hide_env_values = true)]
    pub master_token: Option<String>,
    /// Optional TOML configuration file with the same keys (data_dir, listen, public_url, master_token).
    #[arg(long, env = "KBSTACK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Largest accepted request body for API calls (bytes); blob uploads are streamed and not limited by it.
    #[arg(long, env = "KBSTACK_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// How long a request that started a storage job waits for it before answering 202 (milliseconds).
    #[arg(long, env = "KBSTACK_JOB_WAIT_MS")]
    pub job_wait_ms: Option<u64>,
    /// How many Queue jobs run at once (container jobs such as flows do not take a slot).
    #[arg(long, env = "KBSTACK_QUEUE_WORKERS")]
    pub queue_workers: Option<usize>,
    /// DuckDB memory limit of the table store (larger work spills to disk), e.g. `600MB`.
    #[arg(long, env = "KBSTACK_DUCKDB_MEMORY_LIMIT")]
    pub duckdb_memory_limit: Option<String>,
    /// The Python interpreter Python transformations run with.
    #[arg(long, env = "KBSTACK_TRANSFORMATION_PYTHON")]
    pub transformation_python: Option<String>,
    /// Keep each job's data folder after the job (debugging); removed by default.
    #[arg(long, env = "KBSTACK_KEEP_JOB_DATA", value_parser = clap::builder::BoolishValueParser::new())]
    pub keep_job_data: Option<bool>,
}

/// A secret from the configuration: usable, never printed (`Debug` shows `***`).
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    public_url: Option<String>,
    master_token: Option<String>,
    max_body_bytes: Option<usize>,
    job_wait_ms: Option<u64>,
    queue_workers: Option<usize>,
    duckdb_memory_limit: Option<String>,
    transformation_python: Option<String>,
    keep_job_data: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    pub public_url: Option<String>,
    pub master_token: Option<Secret>,
    pub max_body_bytes: usize,
    pub job_wait_ms: u64,
    pub queue_workers: usize,
    pub duckdb_memory_limit: String,
    pub transformation_python: String,
    pub keep_job_data: bool,
}

impl Config {
    pub fn load(args: ServeArgs) -> anyhow::Result<Config> {
        let file: FileConfig = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        Ok(Config {
            data_dir: args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./kbstack-data")),
            listen: args.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8000".into()),
            public_url: args.public_url.or(file.public_url).map(|u| u.trim_end_matches('/').to_string()),
            master_token: args.master_token.or(file.master_token).map(Secret),
            max_body_bytes: args.max_body_bytes.or(file.max_body_bytes).unwrap_or(64 * 1024 * 1024),
            job_wait_ms: args.job_wait_ms.or(file.job_wait_ms).unwrap_or(1500),
            queue_workers: args.queue_workers.or(file.queue_workers).unwrap_or(4).max(1),
            duckdb_memory_limit: args.duckdb_memory_limit.or(file.duckdb_memory_limit).unwrap_or_else(|| "600MB".into()),
            transformation_python: args.transformation_python.or(file.transformation_python).unwrap_or_else(|| "python3".into()),
            keep_job_data: args.keep_job_data.or(file.keep_job_data).unwrap_or(false),
        })
    }
}
