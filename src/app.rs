//! Process wiring: state, bootstrap of project 1, the router of every service, serving.
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use tower::Layer;

use crate::backend::{TableBackend, duckdb::DuckDbBackend};
use crate::blob::BlobStore;
use crate::config::Config;
use crate::http::Routes;
use crate::meta::MetaStore;
use crate::net::PublicUrls;
use crate::net::tls::TlsListener;
use crate::storage;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    /// This process as a node of the stack (`crate::node`): the owner of the jobs it runs.
    pub node_id: String,
    /// Every URL handed out to clients is built by it (path- or host-based layout).
    pub urls: PublicUrls,
    pub meta: MetaStore,
    pub tables: Arc<dyn TableBackend>,
    /// Workspace engine: a DuckDB file per workspace under `<data-dir>/workspaces/`.
    pub workspaces: Arc<dyn crate::workspace::WorkspaceBackend>,
    pub blobs: BlobStore,
    /// Seals what must be kept secret in the metadata store (`<keys-dir>/secrets.key`).
    pub secrets: crate::secrets::Sealer,
    /// Makes and opens the Encryption service's ciphers (`<keys-dir>/encryption.key`).
    pub encryption: crate::encryption::Encryptor,
    /// The Developer Portal's definitions and the registered process components.
    pub components: crate::runner::registry::ComponentRegistry,
    pub jobs: storage::jobs::JobRunner,
    /// The Queue service's in-process side (worker pool, kill signals).
    pub queue: crate::queue::Queue,
    /// Snowflake SQL as DuckDB statements (its sqlglot worker starts on first use).
    pub snowflake_sql: crate::sql_dialect::SnowflakeToDuckDb,
    /// The Query service's in-process side (result files, limits, cancel flags).
    pub query: crate::query::QueryRuntime,
    /// The Data Science service's app processes.
    pub data_apps: crate::data_science::runtime::AppsRuntime,
    /// The Stream service's writer and in-memory sources (`<data-dir>/stream/`).
    pub stream: crate::stream::StreamRuntime,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl axum::extract::FromRef<AppState> for crate::http::BodyLimit {
    fn from_ref(state: &AppState) -> Self {
        crate::http::BodyLimit(state.config.max_body_bytes)
    }
}

impl AppState {
    pub fn storage_url(&self) -> String {
        self.urls.storage()
    }
}

/// The metadata store: PostgreSQL when the configuration names a database (`[metadata] url`),
/// otherwise SQLite in the data dir. The URL may hold a password: it is never logged.
fn open_meta(config: &Config) -> anyhow::Result<MetaStore> {
    match &config.metadata_url {
        Some(url) => {
            let meta = MetaStore::connect(url.expose()).context("cannot open the metadata store on PostgreSQL (--metadata-url)")?;
            tracing::info!("metadata store on PostgreSQL");
            Ok(meta)
        }
        None => MetaStore::open_with(&config.data_dir.join("metadata.sqlite"), config.metadata_durability, config.metadata_locking)
            .context("cannot open the metadata store (metadata.sqlite); is another kbstack serving this data dir?"),
    }
}

/// Every route of every service, and the table of them (`Routes::table`, walked by the
/// bad-input test). Each service renders the framework's own refusals (unsupported method,
/// unreadable path or query) in its envelope; the blob API answers every method itself.
/// The table store the configuration names: the data dir's DuckDB file, or a DuckLake.
pub(crate) fn open_tables(config: &Config) -> anyhow::Result<DuckDbBackend> {
    match &config.tables_backend {
        crate::config::TablesBackend::DuckDb => {
            let tables_path = config.data_dir.join("tables.duckdb");
            DuckDbBackend::open_with_memory_limit(&tables_path, &config.duckdb_memory_limit).with_context(|| {
                format!(
                    "cannot open the table store {}. If another kbstack build (another DuckDB version) wrote it, \
                     run `kbstack export --data-dir <this dir> --to <dir>` with that build, then `kbstack import <dir> --data-dir <new dir>` with this one",
                    tables_path.display()
                )
            })
        }
        crate::config::TablesBackend::DuckLake { catalog, data_path, extension_dir } => {
            // Data in S3 is reached through the `[s3]` endpoint the file store uses too.
            let s3 = data_path.starts_with("s3://").then(|| config.s3.clone());
            let settings = kbstack_store::backend::duckdb::DuckLakeSettings {
                extension_dir: extension_dir.clone(),
                catalog: catalog.expose().to_string(),
                data_path: data_path.clone(),
                s3,
                scratch_dir: config.data_dir.join("ducklake-scratch"),
            };
            DuckDbBackend::open_ducklake(&settings, &config.duckdb_memory_limit).context("cannot open the DuckLake table store")
        }
    }
}

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .merge(storage::router().map_router(|r| r.layer(axum::middleware::from_fn(crate::http::rejections::json_envelope))))
        .merge(crate::blob::http::router())
        .merge(crate::queue::router())
        .merge(crate::encryption::api::routes())
        .merge(crate::sync_actions::api::routes())
        .merge(crate::scheduler::api::routes())
        .merge(crate::orchestrator::api::routes())
        .merge(crate::billing::api::routes())
        .merge(crate::query::api::routes())
        .merge(crate::editor::api::routes())
        .merge(crate::manage::api::routes())
        .merge(crate::vault::api::routes())
        .merge(crate::notification::api::routes())
        .merge(crate::developer::api::routes())
        .merge(crate::oauth::api::routes())
        .merge(crate::import::api::routes())
        .merge(crate::metastore::api::routes())
        .merge(crate::data_science::api::routes())
        .merge(crate::ai::api::routes())
        .merge(crate::templates::api::routes())
        .merge(crate::stream::api::routes())
        .merge(crate::stream::ingest::routes())
        .merge(crate::syrup::api::routes())
        .merge(crate::gooddata_provisioning::routes())
        .merge(crate::json_parser::api::routes())
        .merge(crate::sqldep::api::routes())
        .merge(crate::graph::api::routes())
}

pub fn router(state: AppState) -> Router {
    routes()
        .into_router()
        .fallback(not_found)
        .layer(axum::middleware::from_fn(blocking_pool_unless_ingest))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(crate::http::ApiError::internal("handler panicked"))
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Handlers run on the blocking pool (`http::on_blocking_pool`), except the Stream ingestion
/// endpoint: it never blocks (it awaits the writer's fsync), and at tens of thousands of events a
/// second a blocking-pool hop per event is a large share of its cost.
async fn blocking_pool_unless_ingest(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    if crate::stream::ingest::is_ingest_path(req.uri().path()) {
        return next.run(req).await;
    }
    crate::http::on_blocking_pool(req, next).await
}

/// An unknown route in the envelope of the service its path names.
async fn not_found(req: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req.uri().path();
    let under = |id: &str| path.strip_prefix('/').and_then(|p| p.strip_prefix(id)).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    let err = crate::http::ApiError::new(crate::http::Code::RouteNotFound, format!("Route \"{} {path}\" was not found.", req.method()));
    if under("queue") {
        return crate::queue::api::QueueError(err).into_response();
    }
    if under("encryption") {
        return crate::encryption::api::EncryptionError(err).into_response();
    }
    if under("sync-actions") {
        return crate::sync_actions::api::SyncActionsError(err).into_response();
    }
    if under("scheduler") {
        return crate::scheduler::api::SchedulerError(err).into_response();
    }
    if under("billing") {
        return crate::billing::api::BillingError(err).into_response();
    }
    if under("editor") {
        return crate::editor::api::EditorError(err).into_response();
    }
    if under("developer") {
        return crate::developer::api::DeveloperError(err).into_response();
    }
    if under("query") {
        return crate::query::api::QueryError(err).into_response();
    }
    if under("vault") {
        return crate::vault::api::VaultError(err).into_response();
    }
    if under("metastore") {
        return crate::metastore::api::MetastoreError(err).into_response();
    }
    if under("oauth") {
        return crate::oauth::api::OAuthError(err).into_response();
    }
    if under("import") {
        return crate::import::api::ImportError(err).into_response();
    }
    if under("data-science") || under("sandboxes") {
        return crate::data_science::api::DataScienceError(err).into_response();
    }
    if under("ai") {
        return crate::ai::api::AiError(err).into_response();
    }
    if under("stream") || under(crate::stream::INGEST_MOUNT) {
        return crate::stream::api::StreamError(err).into_response();
    }
    if under("syrup") || under("docker-runner") {
        return crate::syrup::api::SyrupError(err).into_response();
    }
    if under("gooddata-provisioning") {
        return crate::gooddata_provisioning::retired_response();
    }
    if under("json-parser") {
        return crate::json_parser::api::JsonParserError(err).into_response();
    }
    if under("sqldep-analyzer") {
        return crate::sqldep::api::SqldepError(err).into_response();
    }
    if under("graph") {
        return crate::graph::api::GraphError(err).into_response();
    }
    if under("notification") {
        return crate::notification::api::NotificationError(err).into_response();
    }
    crate::http::not_found(req).await.into_response()
}

/// The router behind the request rewrites that run before routing: the host of a stack with a
/// suffix picks the service (`net::hosts`), then branch prefixes and trailing slashes go.
fn service(state: AppState) -> axum::routing::IntoMakeService<impl Clone + tower::Service<axum::extract::Request, Response = axum::response::Response, Error = std::convert::Infallible, Future: Send> + Send + 'static> {
    let hosts = state.config.stack_suffix.as_deref().map(crate::net::hosts::routing);
    let proxy_state = state.clone();
    let app = tower::util::MapRequestLayer::new(crate::http::normalize_request).layer(router(state));
    let app = axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
        let routed = match &hosts {
            Some(hosts) => hosts.route(req),
            None => Ok(req),
        };
        let state = proxy_state.clone();
        async move {
            match routed {
                // Data apps are proxied as they are (no normalisation, not on the blocking pool).
                Ok(req) if crate::data_science::proxy::app_id(&req).is_some() => crate::data_science::proxy::handle(state, req).await,
                Ok(req) => next.run(req).await,
                Err(err) => axum::response::IntoResponse::into_response(err),
            }
        }
    })
    .layer(app);
    // Outermost, so that every refusal (routing, auth, limits) leaves no unread body behind.
    let app = axum::middleware::from_fn(crate::http::drain::drain_unread_body).layer(app);
    axum::ServiceExt::<axum::extract::Request>::into_make_service(app)
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    lock_down_data_dir(&config.data_dir)?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let tls = match &config.tls_listen {
        Some(tls_listen) => Some(bind_tls(&config, tls_listen).await?),
        None => None,
    };
    let urls = match (&config.stack_suffix, &tls) {
        (Some(suffix), Some((tls_listener, _))) => PublicUrls::host_based(suffix, tls_listener.local_addr().port()),
        _ => PublicUrls::path_based(&public_url),
    };

    let meta = open_meta(&config)?;
    let duckdb = Arc::new(open_tables(&config)?);
    let workspaces: Arc<dyn crate::workspace::WorkspaceBackend> =
        Arc::new(crate::workspace::duckdb::DuckDbWorkspaces::open(&config.data_dir.join("workspaces"), duckdb.clone())?);
    let tables: Arc<dyn TableBackend> = duckdb;
    let blobs = BlobStore::open(&config.data_dir, &config.keys_dir, &config.files_backend)?;
    crate::templates::repository::load_local(&config.template_repositories)?;
    let (bootstrap, manage_bootstrap) = bootstrap(&meta, &config)?;
    let node_id = crate::node::new_id();
    let state = AppState(Arc::new(Inner {
        node_id: node_id.clone(),
        config: config.clone(),
        urls: urls.clone(),
        meta,
        tables,
        workspaces,
        blobs,
        secrets: crate::secrets::Sealer::open_dir(&config.keys_dir, "secrets.key")?,
        encryption: crate::encryption::Encryptor::open_dir(&config.keys_dir)?,
        components: crate::runner::registry::ComponentRegistry::new(&urls.root(), &config.data_dir),
        jobs: storage::jobs::JobRunner::default(),
        queue: crate::queue::Queue::new(config.queue_workers, &node_id),
        snowflake_sql: crate::sql_dialect::SnowflakeToDuckDb::new(&config.transformation_python),
        query: crate::query::QueryRuntime::new(
            config.data_dir.join("query-results"),
            std::time::Duration::from_secs(config.query_statement_timeout_secs),
            std::time::Duration::from_secs(config.query_result_retention_hours * 3600),
        ),
        data_apps: Default::default(),
        stream: crate::stream::StreamRuntime::new(config.data_dir.join("stream")),
    }));
    // Storage, Queue and Query jobs of stopped processes end (`crate::node`); this node beats.
    let st = state.clone();
    tokio::task::spawn_blocking(move || crate::node::start_up(&st)).await??;
    crate::node::start(&state);
    crate::query::sweep_expired(&state);
    let st = state.clone();
    tokio::task::spawn_blocking(move || storage::merge_requests::recover_interrupted(&st)).await??;
    // Data apps record no node: only on a store no other node shares are they recovered here (in
    // the scale-out profile an app whose node died starts again on its next request).
    if state.meta.sqlite().is_some() {
        crate::data_science::runtime::recover(&state)?;
    }
    let st = state.clone();
    let fixed = tokio::task::spawn_blocking(move || storage::tables::reconcile_stats(&st)).await?.map_err(|e| anyhow::anyhow!("checking table stats: {}", e.message))?;
    if fixed > 0 {
        tracing::info!(tables = fixed, "table stats recounted at start");
    }
    let developer_admin = crate::developer::start(&state)?;
    crate::queue::start(&state)?;
    crate::scheduler::firing::start(&state);
    crate::stream::start(&state)?;
    crate::notification::events::start_monitor(&state);
    crate::data_science::runtime::start_idle_watch(&state);

    println!("kbstack listening on {public_url}");
    if let Some((tls_listener, _)) = &tls {
        println!("kbstack TLS listening on https://{}", tls_listener.local_addr());
    }
    println!("Storage API: {}", urls.storage());
    if matches!(urls, PublicUrls::HostBased { .. }) {
        println!("Storage API (path-based): {public_url}/v2/storage");
    }
    match &bootstrap.new_master_token {
        Some(token) => println!("master token (project 1): {token}"),
        None => println!("master token (project 1): see {}", bootstrap.token_hint),
    }
    match &manage_bootstrap.new_manage_token {
        Some(token) => println!("manage token (super admin {}): {token}", crate::manage::bootstrap::ADMIN_EMAIL),
        None => println!("manage token (super admin): see {}", manage_bootstrap.token_hint),
    }
    if let Some(line) = developer_admin {
        println!("{line}");
    }
    if let Some((_, files)) = &tls {
        for line in crate::net::client_setup(&config, files.ca.as_deref()) {
            println!("{line}");
        }
    }
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "kbstack started");

    let service = service(state);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });
    let plain = axum::serve(listener, service.clone()).with_graceful_shutdown(stop.clone().cancelled_owned());
    match tls {
        Some((tls_listener, _)) => {
            let secure = axum::serve(tls_listener, service).with_graceful_shutdown(stop.cancelled_owned());
            tokio::try_join!(plain.into_future(), secure.into_future())?;
        }
        None => plain.await?,
    }
    tracing::info!("kbstack stopped");
    Ok(())
}

/// The project, its master token and the stack's super admin, made on first start. Under a
/// stack-wide lock: nodes starting at once on an empty shared store make them once.
fn bootstrap(meta: &MetaStore, config: &Config) -> anyhow::Result<(storage::bootstrap::Bootstrap, crate::manage::bootstrap::ManageBootstrap)> {
    let mut made = None;
    meta.exclusively("bootstrap", &mut || {
        made = Some((storage::bootstrap::ensure_project(meta, config)?, crate::manage::bootstrap::ensure_stack(meta, config)?));
        Ok(())
    })?;
    made.ok_or_else(|| anyhow::anyhow!("the bootstrap did not run"))
}

/// The TLS listener with its certificate (generated on first use for the suffix).
async fn bind_tls(config: &Config, tls_listen: &str) -> anyhow::Result<(TlsListener, crate::net::TlsFiles)> {
    let files = crate::net::tls_files(config)?;
    let server_config = crate::net::tls::server_config(&files.chain, &files.key)?;
    let tcp = tokio::net::TcpListener::bind(tls_listen).await.with_context(|| {
        format!("binding the TLS listener {tls_listen} (ports below 1024 need root or CAP_NET_BIND_SERVICE; --tls-listen picks another)")
    })?;
    Ok((TlsListener::start(tcp, server_config)?, files))
}

/// Everything kbstack writes is its own: files 0600 and directories 0700 (umask), the data dir
/// itself 0700, and the stores of a data dir made by an older version tightened to 0600. Error
/// messages never show the data dir's path.
pub fn lock_down_data_dir(data_dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting data dir {}", data_dir.display()))?;
    for name in ["metadata.sqlite", "metadata.sqlite-wal", "metadata.sqlite-shm", "tables.duckdb", "tables.duckdb.wal", "master-token", "manage-token", crate::developer::auth::ADMIN_PASSWORD_FILE] {
        let path = data_dir.join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut private = Vec::new();
    if let Ok(p) = std::path::absolute(data_dir) {
        private.push(p.display().to_string());
    }
    if let Ok(p) = data_dir.canonicalize() {
        private.push(p.display().to_string());
    }
    crate::http::error::set_private_paths(private);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested");
}
