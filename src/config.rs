//! Configuration: flags, `KBSTACK_*` environment variables and an optional TOML file
//! (flags and env win over the file).
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

use crate::meta::{Durability, Locking};

#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// Directory holding all state (metadata, table data, files).
    #[arg(long, env = "KBSTACK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory of the stack's keys (encryption, secrets, SAS signing); default `<data-dir>/keys`.
    /// Every node of a scale-out stack must use the same keys: point them at one shared
    /// directory, or copy it. Missing keys are created (exclusively, so nodes agree).
    #[arg(long, env = "KBSTACK_KEYS_DIR")]
    pub keys_dir: Option<PathBuf>,
    /// Listen address; port 0 picks a free port.
    #[arg(long, env = "KBSTACK_LISTEN")]
    pub listen: Option<String>,
    /// URL advertised to clients (index services, blob endpoint). Defaults to http://<listen address>.
    #[arg(long, env = "KBSTACK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Master token of project 1 (otherwise generated on first start and kept in <data-dir>/master-token).
    #[arg(long, env = "KBSTACK_MASTER_TOKEN", hide_env_values = true)]
    pub master_token: Option<String>,
    /// Manage API token of the stack's super admin (otherwise generated on first start and kept in <data-dir>/manage-token).
    #[arg(long, env = "KBSTACK_MANAGE_TOKEN", hide_env_values = true)]
    pub manage_token: Option<String>,
    /// Optional TOML configuration file with the same keys (data_dir, listen, public_url, master_token, stack_suffix, tls_listen, tls_cert, tls_key, ...).
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
    /// Where tables live: `duckdb` (default; one file in the data dir) or `ducklake` (a DuckLake
    /// catalog several nodes share: `--ducklake-catalog`, `--ducklake-data-path`).
    #[arg(long, env = "KBSTACK_TABLES_BACKEND", value_parser = ["duckdb", "ducklake"])]
    pub tables_backend: Option<String>,
    /// The DuckLake catalog: a `postgres://` URL (shared by every node) or a `.ducklake` file.
    #[arg(long, env = "KBSTACK_DUCKLAKE_CATALOG", hide_env_values = true)]
    pub ducklake_catalog: Option<String>,
    /// Where DuckLake writes table data: `s3://bucket/prefix/` or a directory.
    #[arg(long, env = "KBSTACK_DUCKLAKE_DATA_PATH")]
    pub ducklake_data_path: Option<String>,
    /// Directory with DuckDB's official ducklake, httpfs and postgres extension files; defaults to
    /// `duckdb-extensions` beside the binary (where scripts/build puts them).
    #[arg(long, env = "KBSTACK_DUCKDB_EXTENSIONS")]
    pub duckdb_extensions: Option<PathBuf>,
    /// The Python interpreter Python transformations run with; it also runs sqlglot, which
    /// translates Snowflake SQL transformations to DuckDB (`pip install sqlglot` for it).
    #[arg(long, env = "KBSTACK_TRANSFORMATION_PYTHON")]
    pub transformation_python: Option<String>,
    /// How long a synchronous action may run (seconds; Keboola's limit is 30).
    /// The Python interpreter data apps run with (Streamlit must be installed in it); defaults to
    /// `--transformation-python`.
    #[arg(long, env = "KBSTACK_DATA_APPS_PYTHON")]
    pub data_apps_python: Option<String>,
    #[arg(long, env = "KBSTACK_SYNC_ACTION_TIMEOUT_SECS")]
    pub sync_action_timeout_secs: Option<u64>,
    /// How long one Query service statement may run (seconds; default 900).
    #[arg(long, env = "KBSTACK_QUERY_STATEMENT_TIMEOUT_SECS")]
    pub query_statement_timeout_secs: Option<u64>,
    /// How long finished Query service jobs and their results are kept (hours; default 24).
    #[arg(long, env = "KBSTACK_QUERY_RESULT_RETENTION_HOURS")]
    pub query_result_retention_hours: Option<u64>,
    /// Keep each job's data folder after the job (debugging); removed by default.
    #[arg(long, env = "KBSTACK_KEEP_JOB_DATA", value_parser = clap::builder::BoolishValueParser::new())]
    pub keep_job_data: Option<bool>,
    /// Host-name suffix of the stack (`local.keboola.dev`): serves `https://connection.<suffix>`
    /// (Storage) and `https://<service>.<suffix>` on the TLS listener, and every URL handed out
    /// takes that form.
    #[arg(long, env = "KBSTACK_STACK_SUFFIX")]
    pub stack_suffix: Option<String>,
    /// TLS listen address; defaults to port 443 on the `--listen` host when a suffix or a
    /// certificate is given. Port 0 picks a free port.
    #[arg(long, env = "KBSTACK_TLS_LISTEN")]
    pub tls_listen: Option<String>,
    /// PEM certificate chain to serve instead of the one kbstack generates in <data-dir>/tls.
    #[arg(long, env = "KBSTACK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "KBSTACK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Metadata commits: `full` (default; fsynced, survive a power cut) or `normal` (faster,
    /// survive a process crash but may lose the last commits on power loss).
    #[arg(long, env = "KBSTACK_METADATA_SYNC", value_parser = ["full", "normal"])]
    pub metadata_sync: Option<String>,
    /// Metadata file lock: `exclusive` (default; held by this server alone, faster reads) or
    /// `shared` (other processes, such as the sqlite3 shell, may open the live file).
    #[arg(long, env = "KBSTACK_METADATA_LOCKING", value_parser = ["exclusive", "shared"])]
    pub metadata_locking: Option<String>,
    /// Keep the metadata in PostgreSQL instead of <data-dir>/metadata.sqlite
    /// (`postgres://user:password@host:port/db`; several nodes may share it). May hold a
    /// password: never printed.
    #[arg(long, env = "KBSTACK_METADATA_URL", hide_env_values = true)]
    pub metadata_url: Option<String>,
    /// SMTP server notification emails go to (`smtp://host[:port]`, plain SMTP, no
    /// authentication: a local relay or sink). Without it emails are not sent, only logged.
    #[arg(long, env = "KBSTACK_NOTIFICATIONS_SMTP_URL")]
    pub notifications_smtp_url: Option<String>,
    /// Sender address of notification emails (default `kbstack@localhost`).
    #[arg(long, env = "KBSTACK_NOTIFICATIONS_FROM")]
    pub notifications_from: Option<String>,
    /// Email of the Developer Portal's administrator made at first start (password generated
    /// into <data-dir>/developer-admin-password); default admin@kbstack.local.
    #[arg(long, env = "KBSTACK_DEVELOPER_ADMIN_EMAIL")]
    pub developer_admin_email: Option<String>,
    /// Confirm Developer Portal sign-ups at once (no mail is sent; otherwise the confirmation
    /// code is written to the log).
    #[arg(long, env = "KBSTACK_DEVELOPER_AUTO_CONFIRM", value_parser = clap::builder::BoolishValueParser::new())]
    pub developer_auto_confirm: Option<bool>,
    /// Base URL of an OpenAI-compatible API (`https://api.openai.com/v1`, a local server): the AI
    /// service's documentation answers are then written by its `/chat/completions` from the
    /// retrieved passages. Without it answers are the passages themselves.
    #[arg(long, env = "KBSTACK_AI_OPENAI_BASE_URL")]
    pub ai_openai_base_url: Option<String>,
    /// API key sent to `--ai-openai-base-url` as a bearer token (never printed).
    #[arg(long, env = "KBSTACK_AI_OPENAI_API_KEY", hide_env_values = true)]
    pub ai_openai_api_key: Option<String>,
    /// Model named in the chat completion requests (default `gpt-4o-mini`).
    #[arg(long, env = "KBSTACK_AI_MODEL")]
    pub ai_model: Option<String>,
    /// Where file contents live: `local` (default; `<data-dir>/blobs`) or `s3` (a bucket on the
    /// `[s3]` endpoint, shared by every node: `--files-bucket`, `--files-prefix`).
    #[arg(long, env = "KBSTACK_FILES_BACKEND", value_parser = ["local", "s3"])]
    pub files_backend: Option<String>,
    /// The bucket of `--files-backend s3`.
    #[arg(long, env = "KBSTACK_FILES_BUCKET")]
    pub files_bucket: Option<String>,
    /// Key prefix of the file objects in the bucket (e.g. `kbstack/files`; default none).
    #[arg(long, env = "KBSTACK_FILES_PREFIX")]
    pub files_prefix: Option<String>,
    /// S3-compatible endpoint (`http://host:port`, `https://…`); empty for AWS itself.
    #[arg(long, env = "KBSTACK_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region (default `us-east-1`).
    #[arg(long, env = "KBSTACK_S3_REGION")]
    pub s3_region: Option<String>,
    #[arg(long, env = "KBSTACK_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// Never printed.
    #[arg(long, env = "KBSTACK_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which self-hosted stores need (default true
    /// with an `--s3-endpoint`, false for AWS).
    #[arg(long, env = "KBSTACK_S3_PATH_STYLE", value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_path_style: Option<bool>,
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

/// The TOML file: sections by concern. The flat keys of earlier versions (`listen = …`,
/// `queue_workers = …`) are still read, so an existing file keeps working; a section's key wins.
///
/// ```toml
/// data_dir = "/var/lib/kbstack"
/// keys_dir = "/srv/kbstack-keys"  # default <data_dir>/keys; one directory (or copy) for every node
/// [server]   # listen, public_url, max_body_bytes, stack_suffix, tls_listen, tls_cert, tls_key
/// [storage]  # master_token, manage_token, job_wait_ms
/// [tables]   # duckdb_memory_limit, backend ("duckdb" | "ducklake"), ducklake_catalog, ducklake_data_path, duckdb_extensions
/// [queue]    # workers
/// [runner]   # transformation_python, keep_job_data, sync_action_timeout_secs
/// [metadata] # sync ("full" | "normal"), locking ("exclusive" | "shared"), url ("postgres://…": PostgreSQL instead of SQLite)
/// [query]    # statement_timeout_secs, result_retention_hours
/// [notifications] # smtp_url ("smtp://127.0.0.1:2525"), from
/// [developer] # admin_email, auto_confirm
/// [data_apps] # python
/// [ai]       # openai_base_url, openai_api_key, model
/// [templates] # repositories = [{name = "mine", path = "/srv/templates"}] (beside the built-in `keboola`)
/// [files]    # backend ("local" | "s3"), bucket, prefix
/// [s3]       # endpoint, region, access_key_id, secret_access_key, path_style (files and DuckLake)
/// ```
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    keys_dir: Option<PathBuf>,
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    storage: StorageSection,
    #[serde(default)]
    tables: TablesSection,
    #[serde(default)]
    queue: QueueSection,
    #[serde(default)]
    runner: RunnerSection,
    #[serde(default)]
    metadata: MetadataSection,
    #[serde(default)]
    query: QuerySection,
    #[serde(default)]
    notifications: NotificationsSection,
    #[serde(default)]
    developer: DeveloperSection,
    #[serde(default)]
    data_apps: DataAppsSection,
    #[serde(default)]
    ai: AiSection,
    #[serde(default)]
    templates: TemplatesSection,
    #[serde(default)]
    files: FilesSection,
    #[serde(default)]
    s3: S3Section,
    // Flat keys of earlier versions.
    listen: Option<String>,
    public_url: Option<String>,
    master_token: Option<String>,
    manage_token: Option<String>,
    max_body_bytes: Option<usize>,
    job_wait_ms: Option<u64>,
    queue_workers: Option<usize>,
    duckdb_memory_limit: Option<String>,
    transformation_python: Option<String>,
    sync_action_timeout_secs: Option<u64>,
    keep_job_data: Option<bool>,
    stack_suffix: Option<String>,
    tls_listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    metadata_sync: Option<String>,
    metadata_locking: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Option<String>,
    public_url: Option<String>,
    max_body_bytes: Option<usize>,
    stack_suffix: Option<String>,
    tls_listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StorageSection {
    master_token: Option<String>,
    manage_token: Option<String>,
    job_wait_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TablesSection {
    duckdb_memory_limit: Option<String>,
    backend: Option<String>,
    ducklake_catalog: Option<String>,
    ducklake_data_path: Option<String>,
    duckdb_extensions: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FilesSection {
    backend: Option<String>,
    bucket: Option<String>,
    prefix: Option<String>,
}

/// One S3-compatible endpoint for everything kbstack keeps in object storage.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct S3Section {
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    path_style: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct QueueSection {
    workers: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MetadataSection {
    sync: Option<String>,
    locking: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct QuerySection {
    statement_timeout_secs: Option<u64>,
    result_retention_hours: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NotificationsSection {
    smtp_url: Option<String>,
    from: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DeveloperSection {
    admin_email: Option<String>,
    auto_confirm: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DataAppsSection {
    python: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AiSection {
    openai_base_url: Option<String>,
    openai_api_key: Option<String>,
    model: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TemplatesSection {
    #[serde(default)]
    repositories: Vec<TemplateRepository>,
}

/// A template repository in a local folder (the built-in repository's format).
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct TemplateRepository {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RunnerSection {
    transformation_python: Option<String>,
    keep_job_data: Option<bool>,
    sync_action_timeout_secs: Option<u64>,
}

impl FileConfig {
    /// Sections over the flat keys of earlier versions.
    fn merged(self) -> FileConfig {
        FileConfig {
            data_dir: self.data_dir,
            keys_dir: self.keys_dir,
            listen: self.server.listen.or(self.listen),
            public_url: self.server.public_url.or(self.public_url),
            max_body_bytes: self.server.max_body_bytes.or(self.max_body_bytes),
            stack_suffix: self.server.stack_suffix.or(self.stack_suffix),
            tls_listen: self.server.tls_listen.or(self.tls_listen),
            tls_cert: self.server.tls_cert.or(self.tls_cert),
            tls_key: self.server.tls_key.or(self.tls_key),
            master_token: self.storage.master_token.or(self.master_token),
            manage_token: self.storage.manage_token.or(self.manage_token),
            job_wait_ms: self.storage.job_wait_ms.or(self.job_wait_ms),
            duckdb_memory_limit: self.tables.duckdb_memory_limit.or(self.duckdb_memory_limit),
            queue_workers: self.queue.workers.or(self.queue_workers),
            transformation_python: self.runner.transformation_python.or(self.transformation_python),
            keep_job_data: self.runner.keep_job_data.or(self.keep_job_data),
            metadata_sync: self.metadata.sync.or(self.metadata_sync),
            metadata_locking: self.metadata.locking.or(self.metadata_locking),
            sync_action_timeout_secs: self.runner.sync_action_timeout_secs.or(self.sync_action_timeout_secs),
            // Listed whole (no `..default()`): a key added later cannot be dropped here unnoticed.
            server: ServerSection::default(),
            storage: StorageSection::default(),
            tables: TablesSection::default(),
            queue: QueueSection::default(),
            runner: RunnerSection::default(),
            metadata: MetadataSection { sync: None, locking: None, url: self.metadata.url },
            // Only in the section (no flat key of an earlier version).
            query: self.query,
            notifications: self.notifications,
            developer: self.developer,
            data_apps: self.data_apps,
            ai: self.ai,
            templates: self.templates,
            files: self.files,
            s3: self.s3,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    /// The stack's keys (`--keys-dir`; default `<data-dir>/keys`).
    pub keys_dir: PathBuf,
    pub listen: String,
    pub public_url: Option<String>,
    pub master_token: Option<Secret>,
    pub manage_token: Option<Secret>,
    pub max_body_bytes: usize,
    pub job_wait_ms: u64,
    pub queue_workers: usize,
    pub duckdb_memory_limit: String,
    pub tables_backend: TablesBackend,
    pub transformation_python: String,
    pub sync_action_timeout_secs: u64,
    pub keep_job_data: bool,
    /// Lower case, without leading or trailing dots.
    pub stack_suffix: Option<String>,
    /// Where the TLS listener binds; `None`: no TLS listener.
    pub tls_listen: Option<String>,
    /// A certificate chain and key given by the operator (otherwise generated for the suffix).
    pub tls_files: Option<(PathBuf, PathBuf)>,
    pub metadata_durability: Durability,
    pub metadata_locking: Locking,
    /// The PostgreSQL database holding the metadata; `None`: SQLite in the data dir.
    pub metadata_url: Option<Secret>,
    pub query_statement_timeout_secs: u64,
    pub query_result_retention_hours: u64,
    /// Where notification emails are sent: `(host, port)` of a plain SMTP server.
    pub notifications_smtp: Option<(String, u16)>,
    pub notifications_from: String,
    pub developer_admin_email: String,
    pub developer_auto_confirm: bool,
    pub data_apps_python: String,
    /// The language model behind the AI service's documentation answers (none: retrieval only).
    pub ai_llm: Option<LanguageModel>,
    /// Template repositories in local folders, beside the built-in `keboola` (`[templates]`).
    pub template_repositories: Vec<TemplateRepository>,
    /// Where file contents live (`[files]`, with the `[s3]` endpoint for `s3`).
    pub files_backend: kbstack_store::blob::FilesBackend,
    /// The `[s3]` endpoint (also for DuckLake data on `s3://`); its `Debug` hides the secret.
    pub s3: kbstack_store::s3::S3Settings,
}

/// Where table data lives.
#[derive(Clone, Debug)]
pub enum TablesBackend {
    /// `<data-dir>/tables.duckdb` (the embedded default).
    DuckDb,
    /// A DuckLake: the scale-out profile's tables, shared by every node.
    DuckLake {
        /// A `postgres://` URL (may hold a password: never printed) or a `.ducklake` file.
        catalog: Secret,
        data_path: String,
        extension_dir: PathBuf,
    },
}

/// An OpenAI-compatible chat completion API.
#[derive(Clone, Debug)]
pub struct LanguageModel {
    /// Without a trailing slash; `/chat/completions` is appended.
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub model: String,
}

impl Config {
    pub fn load(args: ServeArgs) -> anyhow::Result<Config> {
        let file: FileConfig = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text).with_context(|| format!("parsing {}", path.display()))?.merged()
            }
            None => FileConfig::default(),
        };
        let data_apps_python = [&args.data_apps_python, &file.data_apps.python, &args.transformation_python, &file.transformation_python]
            .into_iter()
            .find_map(|p| p.clone())
            .unwrap_or_else(|| "python3".into());
        let s3 = s3_settings(
            S3Args {
                endpoint: args.s3_endpoint,
                region: args.s3_region,
                access_key_id: args.s3_access_key_id,
                secret_access_key: args.s3_secret_access_key,
                path_style: args.s3_path_style,
            },
            file.s3,
        );
        let files_backend =
            files_backend(args.files_backend.or(file.files.backend), args.files_bucket.or(file.files.bucket), args.files_prefix.or(file.files.prefix), &s3)?;
        let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./kbstack-data"));
        Config {
            keys_dir: args.keys_dir.or(file.keys_dir).unwrap_or_else(|| data_dir.join("keys")),
            data_dir,
            listen: args.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8000".into()),
            public_url: args.public_url.or(file.public_url).map(|u| u.trim_end_matches('/').to_string()),
            master_token: args.master_token.or(file.master_token).map(Secret),
            manage_token: args.manage_token.or(file.manage_token).map(Secret),
            max_body_bytes: args.max_body_bytes.or(file.max_body_bytes).unwrap_or(64 * 1024 * 1024),
            job_wait_ms: args.job_wait_ms.or(file.job_wait_ms).unwrap_or(1500),
            queue_workers: args.queue_workers.or(file.queue_workers).unwrap_or(4).max(1),
            duckdb_memory_limit: args.duckdb_memory_limit.or(file.duckdb_memory_limit).unwrap_or_else(|| "600MB".into()),
            tables_backend: tables_backend(
                args.tables_backend.or(file.tables.backend),
                args.ducklake_catalog.or(file.tables.ducklake_catalog),
                args.ducklake_data_path.or(file.tables.ducklake_data_path),
                args.duckdb_extensions.or(file.tables.duckdb_extensions),
            )?,
            transformation_python: args.transformation_python.or(file.transformation_python).unwrap_or_else(|| "python3".into()),
            sync_action_timeout_secs: args.sync_action_timeout_secs.or(file.sync_action_timeout_secs).unwrap_or(30).max(1),
            keep_job_data: args.keep_job_data.or(file.keep_job_data).unwrap_or(false),
            stack_suffix: None,
            tls_listen: None,
            tls_files: None,
            metadata_durability: parse_durability(args.metadata_sync.or(file.metadata_sync).as_deref())?,
            metadata_locking: parse_locking(args.metadata_locking.or(file.metadata_locking).as_deref())?,
            metadata_url: args.metadata_url.or(file.metadata.url).filter(|u| !u.trim().is_empty()).map(Secret),
            query_statement_timeout_secs: args.query_statement_timeout_secs.or(file.query.statement_timeout_secs).unwrap_or(900).max(1),
            query_result_retention_hours: args.query_result_retention_hours.or(file.query.result_retention_hours).unwrap_or(24),
            notifications_smtp: args.notifications_smtp_url.or(file.notifications.smtp_url).map(|u| parse_smtp_url(&u)).transpose()?,
            notifications_from: args.notifications_from.or(file.notifications.from).unwrap_or_else(|| "kbstack@localhost".into()),
            developer_admin_email: args.developer_admin_email.or(file.developer.admin_email).unwrap_or_else(|| "admin@kbstack.local".into()),
            developer_auto_confirm: args.developer_auto_confirm.or(file.developer.auto_confirm).unwrap_or(false),
            data_apps_python,
            ai_llm: language_model(
                args.ai_openai_base_url.or(file.ai.openai_base_url),
                args.ai_openai_api_key.or(file.ai.openai_api_key),
                args.ai_model.or(file.ai.model),
            )?,
            template_repositories: file.templates.repositories,
            files_backend,
            s3,
        }
        .with_tls(
            args.stack_suffix.or(file.stack_suffix),
            args.tls_listen.or(file.tls_listen),
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        )
    }

    /// The suffix checked, and the TLS listener's address: given, or port 443 on the plain
    /// listener's host whenever there is something to serve over TLS (a suffix or a certificate).
    fn with_tls(
        mut self,
        suffix: Option<String>,
        tls_listen: Option<String>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> anyhow::Result<Config> {
        self.stack_suffix = suffix.map(|s| valid_suffix(&s)).transpose()?;
        self.tls_files = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        };
        let tls_wanted = self.stack_suffix.is_some() || self.tls_files.is_some();
        self.tls_listen = match tls_listen {
            Some(addr) if !tls_wanted => {
                anyhow::bail!("--tls-listen {addr} needs --stack-suffix (generated certificate) or --tls-cert/--tls-key")
            }
            Some(addr) => Some(addr),
            None if tls_wanted => Some(format!("{}:443", listen_host(&self.listen))),
            None => None,
        };
        Ok(self)
    }
}

/// `local.keboola.dev` from `local.keboola.dev`, `.Local.Keboola.dev.`; rejects what cannot be a
/// DNS suffix (schemes, ports, paths, empty labels).
fn valid_suffix(raw: &str) -> anyhow::Result<String> {
    let suffix = raw.trim().trim_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if suffix.is_empty() || suffix.len() > 200 || !suffix.split('.').all(label_ok) {
        anyhow::bail!("--stack-suffix {raw:?} is not a host-name suffix such as local.keboola.dev");
    }
    Ok(suffix)
}

/// The host part of a `host:port` listen address (`[::1]:8000` → `[::1]`).
pub fn listen_host(listen: &str) -> &str {
    match listen.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => listen,
    }
}

/// `smtp://host[:port]` (port 25 by default) → `(host, port)`. Only plain SMTP without
/// credentials: TLS (`smtps://`) and authentication are not built in.
fn parse_smtp_url(raw: &str) -> anyhow::Result<(String, u16)> {
    let bad = |why: &str| anyhow::anyhow!("notifications smtp_url {raw:?}: {why} (expected smtp://host[:port])");
    let rest = raw.trim().strip_prefix("smtp://").ok_or_else(|| bad("only the smtp:// scheme is supported"))?;
    let rest = rest.trim_end_matches('/');
    if rest.contains('@') {
        return Err(bad("credentials are not supported"));
    }
    if rest.contains('/') || rest.contains('?') {
        return Err(bad("no path or query is expected"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (rest, 25),
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("the port is not a number"))?),
        None => (rest, 25),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((host.to_string(), port))
}

/// The configured language model: a base URL (http or https) is what turns it on.
fn language_model(base_url: Option<String>, api_key: Option<String>, model: Option<String>) -> anyhow::Result<Option<LanguageModel>> {
    let Some(base_url) = base_url.map(|u| u.trim().trim_end_matches('/').to_string()).filter(|u| !u.is_empty()) else {
        if api_key.is_some() {
            anyhow::bail!("an AI API key needs --ai-openai-base-url (e.g. https://api.openai.com/v1)");
        }
        return Ok(None);
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        anyhow::bail!("--ai-openai-base-url {base_url:?} must be an http:// or https:// URL");
    }
    Ok(Some(LanguageModel {
        base_url,
        api_key: api_key.filter(|k| !k.trim().is_empty()).map(|k| Secret(k.trim().to_string())),
        model: model.filter(|m| !m.trim().is_empty()).unwrap_or_else(|| "gpt-4o-mini".into()),
    }))
}

fn parse_locking(value: Option<&str>) -> anyhow::Result<Locking> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("exclusive") => Ok(Locking::Exclusive),
        Some("shared") => Ok(Locking::Shared),
        Some(other) => anyhow::bail!("metadata locking must be `exclusive` or `shared`, not `{other}`"),
    }
}

/// Flags and env of the `[s3]` section.
struct S3Args {
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    path_style: Option<bool>,
}

fn s3_settings(args: S3Args, file: S3Section) -> kbstack_store::s3::S3Settings {
    let endpoint = args.endpoint.or(file.endpoint).unwrap_or_default().trim_end_matches('/').to_string();
    kbstack_store::s3::S3Settings {
        region: args.region.or(file.region).unwrap_or_else(|| "us-east-1".into()),
        access_key_id: args.access_key_id.or(file.access_key_id).unwrap_or_default(),
        secret_access_key: args.secret_access_key.or(file.secret_access_key).unwrap_or_default(),
        // A self-hosted endpoint almost always needs path style; AWS itself wants virtual hosts.
        path_style: args.path_style.or(file.path_style).unwrap_or(!endpoint.is_empty()),
        endpoint,
    }
}

fn files_backend(
    backend: Option<String>,
    bucket: Option<String>,
    prefix: Option<String>,
    s3: &kbstack_store::s3::S3Settings,
) -> anyhow::Result<kbstack_store::blob::FilesBackend> {
    match backend.as_deref().unwrap_or("local") {
        "local" => Ok(kbstack_store::blob::FilesBackend::Local),
        "s3" => {
            let bucket = bucket.filter(|b| !b.is_empty()).context("[files] backend = \"s3\" needs bucket")?;
            Ok(kbstack_store::blob::FilesBackend::S3 { settings: s3.clone(), bucket, prefix: prefix.unwrap_or_default() })
        }
        other => anyhow::bail!("unknown files backend {other:?}: \"local\" or \"s3\""),
    }
}

fn tables_backend(
    backend: Option<String>,
    catalog: Option<String>,
    data_path: Option<String>,
    extensions: Option<PathBuf>,
) -> anyhow::Result<TablesBackend> {
    match backend.as_deref().unwrap_or("duckdb") {
        "duckdb" => Ok(TablesBackend::DuckDb),
        "ducklake" => {
            let catalog = catalog.context("[tables] backend = \"ducklake\" needs ducklake_catalog (a postgres:// URL or a .ducklake file)")?;
            let data_path = data_path.context("[tables] backend = \"ducklake\" needs ducklake_data_path (s3://bucket/prefix/ or a directory)")?;
            let extension_dir = match extensions {
                Some(dir) => dir,
                None => std::env::current_exe()
                    .context("locating the binary")?
                    .parent()
                    .context("locating the binary's directory")?
                    .join("duckdb-extensions"),
            };
            Ok(TablesBackend::DuckLake { catalog: Secret(catalog), data_path, extension_dir })
        }
        other => anyhow::bail!("unknown tables backend {other:?}: \"duckdb\" or \"ducklake\""),
    }
}

fn parse_durability(value: Option<&str>) -> anyhow::Result<Durability> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("full") => Ok(Durability::Full),
        Some("normal") => Ok(Durability::Normal),
        Some(other) => anyhow::bail!("metadata_sync must be `full` or `normal`, not `{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kbstack.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(ServeArgs { config: Some(path), ..ServeArgs::default() })
    }

    #[test]
    fn sections_are_read_and_flat_keys_of_earlier_versions_still_work() {
        let c = load(
            "data_dir = \"/d\"\n[server]\nlisten = \"0.0.0.0:9000\"\n[storage]\nmaster_token = \"1-1-x\"\njob_wait_ms = 10\n\
             [tables]\nduckdb_memory_limit = \"2GB\"\n[queue]\nworkers = 7\n[runner]\nkeep_job_data = true\nsync_action_timeout_secs = 9\n\
             [metadata]\nsync = \"normal\"\n[query]\nstatement_timeout_secs = 60\nresult_retention_hours = 2\n",
        )
        .unwrap();
        assert_eq!((c.query_statement_timeout_secs, c.query_result_retention_hours), (60, 2));
        assert_eq!((c.data_dir.to_str(), c.listen.as_str(), c.job_wait_ms), (Some("/d"), "0.0.0.0:9000", 10));
        assert_eq!((c.duckdb_memory_limit.as_str(), c.queue_workers, c.keep_job_data), ("2GB", 7, true));
        assert_eq!(c.master_token.as_ref().map(Secret::expose), Some("1-1-x"));
        assert_eq!(c.sync_action_timeout_secs, 9);
        assert!(matches!(c.metadata_durability, Durability::Normal));
        assert_eq!(format!("{c:?}").matches("1-1-x").count(), 0, "a secret never prints");

        let flat = load("listen = \"127.0.0.1:1\"\nqueue_workers = 3\n").unwrap();
        assert_eq!((flat.listen.as_str(), flat.queue_workers), ("127.0.0.1:1", 3));
        let both = load("queue_workers = 3\n[queue]\nworkers = 5\n").unwrap();
        assert_eq!(both.queue_workers, 5, "a section's key wins over the flat one");
    }

    #[test]
    fn notifications_section() {
        let c = load("[notifications]\nsmtp_url = \"smtp://127.0.0.1:2525\"\nfrom = \"ops@example.com\"\n").unwrap();
        assert_eq!(c.notifications_smtp, Some(("127.0.0.1".to_string(), 2525)));
        assert_eq!(c.notifications_from, "ops@example.com");
        assert_eq!(load("").unwrap().notifications_smtp, None);
        assert_eq!(parse_smtp_url("smtp://mail.local").unwrap(), ("mail.local".to_string(), 25));
        assert_eq!(parse_smtp_url("smtp://[::1]:26/").unwrap(), ("::1".to_string(), 26));
        for bad in ["smtps://x:465", "smtp://u:p@x", "http://x", "smtp://x:port", "smtp://"] {
            assert!(parse_smtp_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ai_section_keeps_the_key_secret() {
        let c = load("[ai]\nopenai_base_url = \"http://127.0.0.1:9/v1/\"\nopenai_api_key = \"sk-very-secret\"\n").unwrap();
        let llm = c.ai_llm.as_ref().unwrap();
        assert_eq!((llm.base_url.as_str(), llm.model.as_str()), ("http://127.0.0.1:9/v1", "gpt-4o-mini"));
        assert_eq!(llm.api_key.as_ref().map(Secret::expose), Some("sk-very-secret"));
        assert_eq!(format!("{c:?}").matches("sk-very-secret").count(), 0, "a key never prints");
        assert!(load("").unwrap().ai_llm.is_none());
        assert!(load("[ai]\nopenai_api_key = \"k\"\n").is_err(), "a key without a URL");
        assert!(load("[ai]\nopenai_base_url = \"ftp://x\"\n").is_err());
    }

    #[test]
    fn files_on_s3_with_the_s3_section_and_a_hidden_secret() {
        let c = load(
            "[files]\nbackend = \"s3\"\nbucket = \"kb\"\nprefix = \"stack/files\"\n\
             [s3]\nendpoint = \"http://127.0.0.1:9000/\"\naccess_key_id = \"AK\"\nsecret_access_key = \"very-secret-key\"\n",
        )
        .unwrap();
        assert_eq!(c.s3.endpoint, "http://127.0.0.1:9000");
        assert_eq!((c.s3.region.as_str(), c.s3.path_style), ("us-east-1", true), "path style by default with an endpoint");
        match &c.files_backend {
            kbstack_store::blob::FilesBackend::S3 { bucket, prefix, settings } => {
                assert_eq!((bucket.as_str(), prefix.as_str()), ("kb", "stack/files"));
                assert_eq!(settings.secret_access_key, "very-secret-key");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(format!("{c:?}").matches("very-secret-key").count(), 0, "the secret never prints");
        assert!(matches!(load("").unwrap().files_backend, kbstack_store::blob::FilesBackend::Local));
        assert!(!load("").unwrap().s3.path_style, "AWS itself: virtual hosts");
        assert!(load("[files]\nbackend = \"s3\"\n").is_err(), "s3 without a bucket");
        assert!(load("[files]\nbackend = \"ftp\"\n").is_err());
        assert!(load("[s3]\nsecret = \"x\"\n").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(load("[queue]\nwrokers = 5\n").is_err());
        assert!(load("nonsense = 1\n").is_err());
    }
}
