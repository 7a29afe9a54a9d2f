//! The metadata schema as versioned migrations. Every object is scoped by project (and by branch
//! where Keboola scopes it) from the start.
//!
//! `PRAGMA user_version` records the last migration applied. A new column or table is a new entry
//! at the end of `MIGRATIONS`, never an edit of an old one: a data dir made by an older build is
//! brought forward at start, one migration per transaction.

/// `(version, SQL)`, in order. Version 1 is the schema as it stood before migrations existed
/// (its `IF NOT EXISTS` makes it a no-op on such data dirs).
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, V1_INITIAL),
    (2, V2_TABLE_STATS),
    (3, V3_SCHEDULES),
    (4, V4_TABLE_SNAPSHOTS),
    (5, V5_WORKSPACES),
    (6, V6_MERGE_REQUESTS),
    (7, V7_QUERY_JOBS),
    (8, V8_EDITOR_SESSIONS),
    (9, V9_BUCKET_SHARING),
    (10, V10_MANAGEMENT),
    (11, V11_VAULT_VARIABLES),
    (12, V12_NOTIFICATION_SUBSCRIPTIONS),
    (13, V13_DEVELOPER_PORTAL),
    (14, V14_OAUTH),
    (15, V15_METASTORE),
    (16, V16_DATA_APPS),
    (17, V17_STREAM),
    (18, V18_PROVISIONING),
    (19, V19_NODES),
];

const V1_INITIAL: &str = r#"
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS branches (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_default INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    creator_token_id INTEGER,
    creator_description TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    hash TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    is_master INTEGER NOT NULL DEFAULT 0,
    can_manage_buckets INTEGER NOT NULL DEFAULT 0,
    can_manage_tokens INTEGER NOT NULL DEFAULT 0,
    can_read_all_file_uploads INTEGER NOT NULL DEFAULT 0,
    can_purge_trash INTEGER NOT NULL DEFAULT 0,
    can_create_jobs INTEGER NOT NULL DEFAULT 0,
    can_manage_protected_default_branch INTEGER NOT NULL DEFAULT 0,
    bucket_permissions TEXT NOT NULL DEFAULT '{}',
    component_access TEXT,
    expires INTEGER,
    created TEXT NOT NULL,
    refreshed TEXT NOT NULL,
    creator_token_id INTEGER,
    creator_description TEXT,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS buckets (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    stage TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    backend TEXT NOT NULL DEFAULT 'duckdb',
    color TEXT,
    created TEXT NOT NULL,
    last_change_date TEXT,
    PRIMARY KEY (project_id, branch_id, id)
);
CREATE TABLE IF NOT EXISTS tables (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    bucket_id TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    primary_key TEXT NOT NULL DEFAULT '[]',
    created TEXT NOT NULL,
    last_import_date TEXT,
    last_change_date TEXT,
    is_typed INTEGER NOT NULL DEFAULT 0,
    definition TEXT,
    PRIMARY KEY (project_id, branch_id, id)
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    size_bytes INTEGER,
    content_type TEXT,
    is_public INTEGER NOT NULL DEFAULT 0,
    is_sliced INTEGER NOT NULL DEFAULT 0,
    is_encrypted INTEGER NOT NULL DEFAULT 0,
    is_permanent INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    expires_at INTEGER,
    creator_token_id INTEGER NOT NULL,
    creator_description TEXT NOT NULL DEFAULT '',
    run_id TEXT,
    run_ids TEXT NOT NULL DEFAULT '[]',
    blob_path TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    branch_id INTEGER,
    status TEXT NOT NULL,
    operation_name TEXT NOT NULL,
    operation_params TEXT NOT NULL DEFAULT '{}',
    table_id TEXT,
    results TEXT,
    error TEXT,
    created TEXT NOT NULL,
    start_time TEXT,
    end_time TEXT,
    run_id TEXT,
    creator_token_id INTEGER NOT NULL,
    creator_description TEXT NOT NULL DEFAULT '',
    metrics TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    project_id INTEGER NOT NULL,
    branch_id INTEGER,
    token_id INTEGER,
    token_name TEXT,
    event TEXT NOT NULL,
    component TEXT NOT NULL,
    message TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT 'info',
    run_id TEXT,
    created TEXT NOT NULL,
    configuration_id TEXT,
    object_id TEXT,
    object_name TEXT,
    object_type TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    results TEXT NOT NULL DEFAULT '{}',
    performance TEXT NOT NULL DEFAULT '{}',
    duration REAL,
    context TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_run ON events(project_id, run_id);
CREATE INDEX IF NOT EXISTS events_object ON events(project_id, object_type, object_id);
CREATE TABLE IF NOT EXISTS metadata (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    provider TEXT NOT NULL DEFAULT '',
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    UNIQUE (project_id, branch_id, object_type, object_id, provider, key)
);
CREATE TABLE IF NOT EXISTS configurations (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    component_id TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, branch_id, component_id, id)
);
CREATE TABLE IF NOT EXISTS configuration_versions (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    component_id TEXT NOT NULL,
    config_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (project_id, branch_id, component_id, config_id, version)
);
CREATE TABLE IF NOT EXISTS configuration_row_versions (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    component_id TEXT NOT NULL,
    config_id TEXT NOT NULL,
    row_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (project_id, branch_id, component_id, config_id, row_id, version)
);
CREATE TABLE IF NOT EXISTS triggers (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sequences (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
-- Queue (src/queue): component jobs. Searchable fields are columns; the rest of the job
-- definition is JSON in `definition`; times are unix milliseconds.
CREATE TABLE IF NOT EXISTS queue_jobs (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    parent_run_id TEXT NOT NULL DEFAULT '',
    token_id INTEGER NOT NULL,
    token_description TEXT NOT NULL DEFAULT '',
    token_secret TEXT,
    component TEXT NOT NULL,
    config TEXT,
    config_row_ids TEXT NOT NULL DEFAULT '[]',
    mode TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    desired_status TEXT NOT NULL,
    tag TEXT,
    variable_values_id TEXT,
    lock_key TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    start_ms INTEGER,
    end_ms INTEGER,
    delayed_start_ms INTEGER,
    duration_seconds INTEGER NOT NULL DEFAULT 0,
    definition TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    usage_data TEXT,
    metrics TEXT,
    runner_id TEXT,
    runner_pid INTEGER
);
CREATE INDEX IF NOT EXISTS queue_jobs_status ON queue_jobs(status);
CREATE INDEX IF NOT EXISTS queue_jobs_project ON queue_jobs(project_id, id);
CREATE INDEX IF NOT EXISTS queue_jobs_config ON queue_jobs(project_id, component, config);
CREATE INDEX IF NOT EXISTS queue_jobs_run ON queue_jobs(project_id, run_id);
"#;

/// A table's data as last written (columns, rows, size), kept beside its record so that listings
/// and token details read it here and never scan table data. Filled by every write; a data dir
/// from before it is filled at start from the table backend.
const V2_TABLE_STATS: &str = r#"
CREATE TABLE IF NOT EXISTS table_stats (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    table_id TEXT NOT NULL,
    columns TEXT NOT NULL,
    rows_count INTEGER NOT NULL,
    data_size_bytes INTEGER NOT NULL,
    PRIMARY KEY (project_id, branch_id, table_id)
);
"#;

/// Scheduler schedules: the activated `keboola.scheduler` configuration (its `schedule` and
/// `target` as read at activation, kept as JSON), the schedule's own token (sealed), and
/// `fired_through_ms`: no cron time at or before it fires again, so a restart neither replays nor
/// doubles a run. Executions are the recent runs shown on the schedule.
const V3_SCHEDULES: &str = r#"
CREATE TABLE IF NOT EXISTS schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    configuration_id TEXT NOT NULL,
    configuration_version_id TEXT NOT NULL,
    token_id INTEGER NOT NULL,
    token_secret TEXT NOT NULL,
    body TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    fired_through_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS schedules_project ON schedules(project_id, configuration_id);
CREATE TABLE IF NOT EXISTS schedule_executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    job_id TEXT NOT NULL,
    execution_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS schedule_executions_schedule ON schedule_executions(schedule_id, id);
"#;

/// Table snapshots: the table's definition and metadata when snapshotted (its rows are a copy in
/// the table backend). Ids are global; every read is scoped by project.
const V4_TABLE_SNAPSHOTS: &str = r#"
CREATE TABLE IF NOT EXISTS table_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    table_id TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    creator_token_id INTEGER NOT NULL,
    creator_description TEXT NOT NULL DEFAULT '',
    primary_key TEXT NOT NULL DEFAULT '[]',
    columns TEXT NOT NULL DEFAULT '[]',
    is_typed INTEGER NOT NULL DEFAULT 0,
    definition TEXT,
    table_metadata TEXT,
    column_metadata TEXT
);
CREATE INDEX IF NOT EXISTS table_snapshots_table ON table_snapshots(project_id, branch_id, table_id, id);
"#;

/// Workspaces: the record of each (its data is a workspace engine file). The password is kept
/// only as a hash; ids are global, every read is scoped by project.
const V5_WORKSPACES: &str = r#"
CREATE TABLE IF NOT EXISTS workspaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    component TEXT,
    configuration_id TEXT,
    backend TEXT NOT NULL,
    backend_size TEXT,
    login_type TEXT NOT NULL,
    read_only_storage_access INTEGER NOT NULL DEFAULT 0,
    statement_timeout_seconds INTEGER NOT NULL,
    created TEXT NOT NULL,
    creator_token_id INTEGER NOT NULL,
    creator_description TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    public_key TEXT
);
CREATE INDEX IF NOT EXISTS workspaces_project ON workspaces(project_id, branch_id, component, configuration_id);
"#;

/// Merge requests of development branches into the default branch. Reviewers, approvals and the
/// change log are JSON text; `branch_from_id` is cleared when the request is canceled or merged
/// (the branch is gone or no longer tied to it). Ids are global; every read is scoped by project.
const V6_MERGE_REQUESTS: &str = r#"
CREATE TABLE IF NOT EXISTS merge_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    branch_from_id INTEGER,
    branch_into_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    external_id TEXT,
    auto_merge_strategy TEXT,
    auto_merge_at TEXT,
    creator_id INTEGER NOT NULL,
    creator_name TEXT NOT NULL DEFAULT '',
    reviewers TEXT NOT NULL DEFAULT '[]',
    approvals TEXT NOT NULL DEFAULT '[]',
    change_log TEXT,
    created TEXT NOT NULL,
    merged_at TEXT,
    merger_id INTEGER,
    merger_name TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS merge_requests_project ON merge_requests(project_id, id);
CREATE INDEX IF NOT EXISTS merge_requests_branch ON merge_requests(project_id, branch_from_id, state);
"#;

/// Query service jobs and their statements, in order. A statement's result rows are a file of
/// the service (`<data-dir>/query-results/`); here only its counts and columns. `seq` orders the
/// workspace's query history.
const V7_QUERY_JOBS: &str = r#"
CREATE TABLE IF NOT EXISTS query_jobs (
    id TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    token_id INTEGER NOT NULL,
    actor_type TEXT NOT NULL,
    transactional INTEGER NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    changed TEXT NOT NULL,
    canceled_at TEXT,
    cancellation_reason TEXT
);
CREATE INDEX IF NOT EXISTS query_jobs_status ON query_jobs(status);
CREATE INDEX IF NOT EXISTS query_jobs_created ON query_jobs(created_ms);
CREATE TABLE IF NOT EXISTS query_statements (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL REFERENCES query_jobs(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    query TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    rows_affected INTEGER,
    number_of_rows INTEGER,
    columns TEXT,
    created TEXT NOT NULL,
    executed_at TEXT,
    completed_at TEXT
);
CREATE INDEX IF NOT EXISTS query_statements_job ON query_statements(job_id, position);
CREATE INDEX IF NOT EXISTS query_statements_history ON query_statements(project_id, workspace_id, seq);
"#;

/// Editor (SQL editor) sessions: each backed by a Storage workspace of the same project.
const V8_EDITOR_SESSIONS: &str = r#"
CREATE TABLE IF NOT EXISTS editor_sessions (
    id TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    token_id INTEGER NOT NULL,
    component_id TEXT NOT NULL DEFAULT '',
    configuration_id TEXT NOT NULL DEFAULT '',
    workspace_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    login_type TEXT NOT NULL,
    shared INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    last_error TEXT,
    last_loaded_at TEXT
);
CREATE INDEX IF NOT EXISTS editor_sessions_project ON editor_sessions(project_id, branch_id, token_id);
"#;

/// Bucket sharing: which buckets of a project's branch are shared, to whom, and which buckets are
/// links to a shared bucket of another project (the link shows the source's tables read-only).
/// Target projects and users are JSON arrays.
const V9_BUCKET_SHARING: &str = r#"
CREATE TABLE IF NOT EXISTS bucket_shares (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    bucket_id TEXT NOT NULL,
    sharing TEXT NOT NULL,
    target_project_ids TEXT NOT NULL DEFAULT '[]',
    target_users TEXT NOT NULL DEFAULT '[]',
    shared_by_id INTEGER NOT NULL,
    shared_by_name TEXT NOT NULL DEFAULT '',
    shared_date TEXT NOT NULL,
    PRIMARY KEY (project_id, branch_id, bucket_id)
);
CREATE TABLE IF NOT EXISTS bucket_links (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    bucket_id TEXT NOT NULL,
    source_project_id INTEGER NOT NULL,
    source_branch_id INTEGER NOT NULL,
    source_bucket_id TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (project_id, branch_id, bucket_id)
);
CREATE INDEX IF NOT EXISTS bucket_links_source ON bucket_links(source_project_id, source_branch_id, source_bucket_id);
"#;

/// The Management API's records: users and their manage tokens, maintainers, organizations,
/// memberships and invitations, a project's organization, state, features and limits, the
/// feature catalogue and the credit ledger. Projects made before keep working: a project without
/// details belongs to organization 1 (the start fills those rows in).
const V10_MANAGEMENT: &str = r#"
CREATE TABLE IF NOT EXISTS manage_users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    mfa_enabled INTEGER NOT NULL DEFAULT 0,
    can_access_logs INTEGER NOT NULL DEFAULT 0,
    is_super_admin INTEGER NOT NULL DEFAULT 0,
    features TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS manage_tokens (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    user_id INTEGER,
    kind TEXT NOT NULL,
    scopes TEXT NOT NULL DEFAULT '[]',
    created TEXT NOT NULL,
    expires INTEGER,
    last_used TEXT,
    is_session INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS maintainers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    zendesk_url TEXT
);
CREATE TABLE IF NOT EXISTS organizations (
    id INTEGER PRIMARY KEY,
    maintainer_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    crm_id TEXT NOT NULL DEFAULT '',
    allow_auto_join INTEGER NOT NULL DEFAULT 1,
    mfa_required INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
    kind TEXT NOT NULL,
    target_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    role TEXT NOT NULL DEFAULT 'admin',
    created TEXT NOT NULL,
    expires TEXT,
    reason TEXT NOT NULL DEFAULT '',
    invitor_id INTEGER,
    PRIMARY KEY (kind, target_id, user_id)
);
CREATE INDEX IF NOT EXISTS memberships_user ON memberships(user_id);
CREATE TABLE IF NOT EXISTS invitations (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    role TEXT NOT NULL DEFAULT 'admin',
    reason TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    expires TEXT,
    creator_id INTEGER
);
CREATE TABLE IF NOT EXISTS project_details (
    project_id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL,
    type TEXT NOT NULL DEFAULT 'production',
    description TEXT NOT NULL DEFAULT '',
    expires TEXT,
    data_retention_days INTEGER NOT NULL DEFAULT 7,
    deleted_time TEXT,
    purged_time TEXT,
    features TEXT NOT NULL DEFAULT '[]',
    limits TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS features (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    can_be_managed_by_admin INTEGER NOT NULL DEFAULT 0,
    can_be_managed_via_api INTEGER NOT NULL DEFAULT 1,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credits (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    amount REAL NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    job_id INTEGER UNIQUE
);
CREATE INDEX IF NOT EXISTS credits_project ON credits(project_id);
"#;

/// Vault variables of a project, identified by the hash of key and attributes; `seq` keeps the
/// order they were made in. Flags and attributes are JSON.
const V11_VAULT_VARIABLES: &str = r#"
CREATE TABLE IF NOT EXISTS vault_variables (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    hash TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT '[]',
    attributes TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    UNIQUE (project_id, hash)
);
CREATE INDEX IF NOT EXISTS vault_variables_key ON vault_variables(project_id, key);
"#;

/// Notifications project subscriptions: an event, filters into its payload and one recipient
/// (JSON as validated by the service); `expires_ms` NULL: never expires. Ids are global; every
/// read is scoped by project.
const V12_NOTIFICATION_SUBSCRIPTIONS: &str = r#"
CREATE TABLE IF NOT EXISTS notification_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    filters TEXT NOT NULL,
    recipient TEXT NOT NULL,
    expires_ms INTEGER,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notification_subscriptions_project ON notification_subscriptions(project_id, event);
"#;

/// The Developer Portal: portal users (password hashes), their sessions (token hashes), vendors,
/// who belongs to them, apps with the current definition and every version of it.
const V13_DEVELOPER_PORTAL: &str = r#"
CREATE TABLE IF NOT EXISTS developer_users (
    email TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    confirmed INTEGER NOT NULL DEFAULT 0,
    code TEXT,
    service_vendor TEXT,
    description TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS developer_sessions (
    token_hash TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS developer_sessions_email ON developer_sessions(email);
CREATE TABLE IF NOT EXISTS developer_vendors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    project_url TEXT,
    is_public INTEGER NOT NULL DEFAULT 0,
    is_approved INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS developer_vendor_users (
    vendor_id TEXT NOT NULL,
    email TEXT NOT NULL,
    status TEXT NOT NULL,
    code TEXT,
    created TEXT NOT NULL,
    PRIMARY KEY (vendor_id, email)
);
CREATE INDEX IF NOT EXISTS developer_vendor_users_email ON developer_vendor_users(email);
CREATE TABLE IF NOT EXISTS developer_apps (
    id TEXT PRIMARY KEY,
    vendor_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    is_public INTEGER NOT NULL DEFAULT 0,
    is_approved INTEGER NOT NULL DEFAULT 0,
    is_deprecated INTEGER NOT NULL DEFAULT 0,
    publish_requested INTEGER,
    published_version INTEGER,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS developer_apps_vendor ON developer_apps(vendor_id);
CREATE TABLE IF NOT EXISTS developer_app_versions (
    app_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_on TEXT NOT NULL,
    PRIMARY KEY (app_id, version)
);
"#;

/// The OAuth Broker: apps per component (stack-wide), credentials per project and component
/// (secrets as ciphers), and authorization sessions waiting for the provider's callback.
const V14_OAUTH: &str = r#"
CREATE TABLE IF NOT EXISTS oauth_consumers (
    component_id TEXT PRIMARY KEY,
    friendly_name TEXT NOT NULL,
    oauth_version TEXT NOT NULL,
    auth_url TEXT NOT NULL,
    token_url TEXT NOT NULL,
    request_token_url TEXT,
    app_key TEXT NOT NULL,
    sealed_app_secret TEXT NOT NULL,
    restrict_custom_auth INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_credentials (
    project_id INTEGER NOT NULL,
    component_id TEXT NOT NULL,
    name TEXT NOT NULL,
    branch_id TEXT,
    authorized_for TEXT NOT NULL,
    creator_id TEXT NOT NULL,
    creator_description TEXT NOT NULL,
    created TEXT NOT NULL,
    oauth_version TEXT NOT NULL,
    app_key TEXT NOT NULL,
    app_secret TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (project_id, component_id, name)
);
CREATE TABLE IF NOT EXISTS oauth_sessions (
    state TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    component_id TEXT NOT NULL,
    name TEXT NOT NULL,
    branch_id TEXT,
    authorized_for TEXT NOT NULL,
    return_url TEXT,
    creator_id TEXT NOT NULL,
    creator_description TEXT NOT NULL,
    oauth_version TEXT NOT NULL,
    app_key TEXT NOT NULL,
    sealed_app_secret TEXT NOT NULL,
    token_url TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
"#;

/// Metastore (semantic layer) objects: the head of each object, and every revision of it.
const V15_METASTORE: &str = r#"
CREATE TABLE IF NOT EXISTS metastore_objects (
    object_type TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id INTEGER NOT NULL,
    organization_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    branch TEXT NOT NULL,
    scope TEXT NOT NULL,
    target_project_ids TEXT NOT NULL DEFAULT '[]',
    schema_version TEXT NOT NULL,
    revision INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    scope_elevation_requested_at TEXT,
    seq INTEGER NOT NULL,
    PRIMARY KEY (object_type, id)
);
CREATE INDEX IF NOT EXISTS metastore_objects_project ON metastore_objects(object_type, project_id);
CREATE INDEX IF NOT EXISTS metastore_objects_organization ON metastore_objects(object_type, organization_id);
CREATE TABLE IF NOT EXISTS metastore_revisions (
    object_type TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id INTEGER NOT NULL,
    organization_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    branch TEXT NOT NULL,
    scope TEXT NOT NULL,
    target_project_ids TEXT NOT NULL DEFAULT '[]',
    schema_version TEXT NOT NULL,
    revision INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    scope_elevation_requested_at TEXT,
    seq INTEGER NOT NULL,
    PRIMARY KEY (object_type, id, revision)
);
CREATE INDEX IF NOT EXISTS metastore_revisions_project ON metastore_revisions(object_type, project_id);
"#;

/// The Data Science service's data apps (the deployment beside their `keboola.data-apps`
/// configuration) and their runs (one per start).
const V16_DATA_APPS: &str = r#"
CREATE TABLE IF NOT EXISTS data_apps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    branch_id INTEGER,
    component_id TEXT NOT NULL,
    config_id TEXT NOT NULL,
    config_version TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    desired_state TEXT NOT NULL,
    auto_suspended INTEGER NOT NULL DEFAULT 0,
    sealed_password TEXT NOT NULL,
    sealed_token TEXT NOT NULL,
    created TEXT NOT NULL,
    last_request TEXT,
    last_start TEXT
);
CREATE INDEX IF NOT EXISTS data_apps_project ON data_apps(project_id, id);
CREATE TABLE IF NOT EXISTS data_app_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    mode TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    stopped_at TEXT,
    startup_logs TEXT,
    failure_reason TEXT,
    failure_message TEXT
);
CREATE INDEX IF NOT EXISTS data_app_runs_app ON data_app_runs(app_id, id);
"#;

/// The Stream service: sources and sinks (their API objects as JSON), async-operation tasks, and
/// the record of each sink's slices (the data itself is in files under `<data-dir>/stream/`).
const V17_STREAM: &str = r#"
CREATE TABLE IF NOT EXISTS stream_entities (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    sink_id TEXT NOT NULL,
    body TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, branch_id, source_id, sink_id)
);
CREATE TABLE IF NOT EXISTS stream_tasks (
    task_id TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stream_slices (
    project_id INTEGER NOT NULL,
    branch_id INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    sink_id TEXT NOT NULL,
    slice_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    imported_ms INTEGER,
    PRIMARY KEY (project_id, branch_id, source_id, sink_id, slice_id)
);
CREATE INDEX IF NOT EXISTS stream_slices_imported ON stream_slices(imported_ms);
"#;

/// The legacy Provisioning API's credentials: a workspace per token, backend and type.
const V18_PROVISIONING: &str = r#"
CREATE TABLE IF NOT EXISTS provisioning_credentials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    backend TEXT NOT NULL,
    kind TEXT NOT NULL,
    token_id INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    sealed_password TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    touch_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS provisioning_credentials_token ON provisioning_credentials(project_id, token_id, backend, kind);
"#;

/// The nodes sharing a store (scale-out) and which node runs each storage and Query job, so
/// that a node's start or heartbeat ends only the work of dead nodes (`nodes.rs`).
const V19_NODES: &str = r#"
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL
);
ALTER TABLE jobs ADD COLUMN node_id TEXT;
ALTER TABLE query_jobs ADD COLUMN node_id TEXT;
"#;
