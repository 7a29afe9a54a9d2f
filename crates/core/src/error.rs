//! The one table of Keboola error codes and the error every layer returns.
//!
//! HTTP statuses are plain numbers here: the wire crate (`kbstack-http`) turns an `Error` into a
//! response through its one envelope writer.
use serde_json::Value;

/// Keboola error codes with their HTTP statuses. Add a row here, never an ad-hoc status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    TokenMissing,
    TokenInvalid,
    AccessDenied,
    ValidationFailed,
    InvalidCsv,
    RouteNotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    BucketNotFound,
    BucketAlreadyExists,
    BucketNotEmpty,
    /// A shared bucket other projects link to: it cannot be unshared or deleted.
    BucketLinked,
    TableNotFound,
    TableAlreadyExists,
    ColumnNotExists,
    ColumnAlreadyExists,
    UnintendedTruncation,
    TokenNotFound,
    InvalidPermissions,
    FileNotFound,
    JobNotFound,
    EventNotFound,
    MetadataNotFound,
    ComponentNotFound,
    ConfigurationNotFound,
    ConfigurationAlreadyExists,
    ConfigurationVersionNotFound,
    RowNotFound,
    RowAlreadyExists,
    BranchNotFound,
    TriggerNotFound,
    DisplayNameInvalid,
    ColumnsNotMatch,
    DuplicateColumns,
    TooManyColumns,
    BlobAuthFailed,
    BlobNotFound,
    InvalidRange,
    NotImplemented,
    Internal,
    /// The data dir's disk is full (ENOSPC, SQLite's SQLITE_FULL, DuckDB's write errors).
    DiskFull,
    BlobAlreadyExists,
    BlobConditionNotMet,
    InvalidBlockList,
    BlobInvalidInput,
    ContainerNotFound,
    StorageValidation,
    QuerySyntax,
    BranchAlreadyExists,
    SnapshotNotFound,
    WorkspaceNotFound,
    WorkspaceTableExists,
    WorkspaceTableNotFound,
    /// SQL run in a workspace failed (syntax, missing object, refused file access).
    WorkspaceQueryFailed,
    MergeRequestNotFound,
    // Queue (src/queue)
    QueueJobNotFound,
    QueueJobNotKillable,
    /// A pay-as-you-go project with no credits left asked for a job.
    QueueInsufficientCredits,
    // Billing (src/billing)
    /// A top-up was asked for; this stack has no payment provider.
    BillingTopUpNotConfigured,
    // Scheduler (src/scheduler)
    ScheduleNotFound,
    // Notifications (src/notification)
    SubscriptionNotFound,
    // Query service (src/query)
    QueryJobNotFound,
    QueryStatementNotFound,
    /// Cancel of a job already completed, failed or canceled.
    QueryJobFinished,
    /// Results asked for before the statement finished.
    QueryResultsNotReady,
    // Editor service (src/editor)
    EditorSessionNotFound,
    // Management API (src/manage)
    /// A maintainer, organization, project, user, feature, invitation or manage token.
    ManageNotFound,
    // Vault (src/vault)
    VaultVariableNotFound,
    /// A variable with the same key and attributes exists in the project.
    VaultVariableExists,
    /// A request body that fails validation: Symfony's `MapRequestPayload` answers 422.
    VaultInvalidPayload,
    /// Query parameters that fail validation: Symfony's `MapQueryString` answers 404.
    VaultInvalidQuery,
    // Developer Portal (src/developer)
    /// No valid portal token (missing, unknown, expired) or a wrong password.
    DeveloperUnauthorized,
    /// A vendor, app, version, user or invitation the caller cannot see.
    DeveloperNotFound,
    DeveloperAlreadyExists,
    // OAuth Broker (src/oauth)
    /// An app (consumer), credentials or component the caller cannot see.
    OAuthNotFound,
    /// An app of the component, or credentials of that name, exist already.
    OAuthAlreadyExists,
    /// A request the broker cannot act on (a missing field, an unknown authorization session,
    /// a provider that refused the code).
    OAuthBadRequest,
    /// A body that fails validation (spec: 422).
    OAuthInvalidPayload,
    // Metastore (src/metastore)
    /// An object type, object, revision or schema version the caller cannot see.
    MetastoreNotFound,
    /// A name the project (type) has already (the metastore answers 409).
    MetastoreConflict,
    /// A request the metastore cannot act on (a scope change it does not allow).
    MetastoreBadRequest,
    /// A body or data that fails validation (422 "Validation failed").
    MetastoreInvalidPayload,
    // Data Science (src/data_science)
    /// An app the project does not have.
    DataAppNotFound,
    /// A request the service cannot act on (deleting an app whose state has not reached its
    /// desired state, a managed git repository).
    DataAppBadRequest,
    /// A body that fails validation.
    DataAppInvalidPayload,
    // AI service (src/ai)
    /// A component the AI service's catalog does not document.
    AiComponentNotFound,
    /// A request the AI service cannot act on (a missing or empty prompt/query).
    AiBadRequest,
    /// The configured language model did not answer usably.
    AiLanguageModelFailed,
    // Stream (src/stream): goa-style names of Keboola's Stream service.
    StreamNotFound,
    StreamConflict,
    StreamInvalidPayload,
    /// The ingestion endpoint: a wrong secret, or a disabled source or sink.
    StreamSecretInvalid,
    StreamDisabled,
    // Syrup-era services (src/syrup, src/gooddata_provisioning)
    /// Provisioning credentials the project (or the token) does not have.
    ProvisioningCredentialsNotFound,
    /// A service whose product is gone: every route answers 410.
    ServiceRetired,
    OrchestrationNotFound,
    OrchestrationInactive,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        self.row().0
    }

    pub fn status(self) -> u16 {
        self.row().1
    }

    pub fn is_server_error(self) -> bool {
        self.status() >= 500
    }

    fn row(self) -> (&'static str, u16) {
        use Code::*;
        match self {
            TokenMissing => ("", 401),
            TokenInvalid => ("storage.tokenInvalid", 401),
            AccessDenied => ("accessDenied", 403),
            ValidationFailed => ("validation.failed", 400),
            InvalidCsv => ("invalidCsv", 400),
            RouteNotFound => ("notFound", 404),
            MethodNotAllowed => ("methodNotAllowed", 405),
            PayloadTooLarge => ("payloadTooLarge", 413),
            BucketNotFound => ("storage.buckets.notFound", 404),
            BucketAlreadyExists => ("storage.buckets.alreadyExists", 400),
            BucketNotEmpty => ("storage.buckets.notEmpty", 400),
            BucketLinked => ("storage.buckets.alreadyLinked", 400),
            TableNotFound => ("storage.tables.notFound", 404),
            // Keboola files it under buckets: the bucket already holds the name.
            TableAlreadyExists => ("storage.buckets.tableAlreadyExists", 400),
            ColumnNotExists => ("storage.tables.columnNotExists", 400),
            ColumnAlreadyExists => ("storage.tables.columnAlreadyExists", 400),
            UnintendedTruncation => ("storage.tables.validation.unintendedTruncation", 400),
            TokenNotFound => ("storage.tokens.notFound", 404),
            InvalidPermissions => ("storage.tokens.invalidPermissions", 400),
            FileNotFound => ("storage.files.notFound", 404),
            JobNotFound => ("storage.jobs.notFound", 404),
            EventNotFound => ("storage.events.notFound", 404),
            MetadataNotFound => ("storage.metadata.notFound", 404),
            ComponentNotFound => ("storage.components.notFound", 404),
            ConfigurationNotFound => ("storage.configuration.notFound", 404),
            ConfigurationAlreadyExists => ("storage.configurations.configurationAlreadyExists", 400),
            ConfigurationVersionNotFound => ("storage.configuration.versionNotFound", 404),
            RowNotFound => ("storage.configurationRows.notFound", 404),
            RowAlreadyExists => ("storage.configurations.rowAlreadyExists", 400),
            BranchNotFound => ("storage.devBranches.notFound", 404),
            TriggerNotFound => ("storage.triggers.notFound", 404),
            DisplayNameInvalid => ("storage.webalize.displayName.invalid", 422),
            ColumnsNotMatch => ("csvImport.columnsNotMatch", 400),
            DuplicateColumns => ("csvImport.duplicateColumnNames", 400),
            TooManyColumns => ("storage.tables.tooManyColumns", 400),
            BlobAuthFailed => ("AuthenticationFailed", 403),
            BlobNotFound => ("BlobNotFound", 404),
            InvalidRange => ("InvalidRange", 416),
            NotImplemented => ("notImplemented", 501),
            Internal => ("applicationError", 500),
            // A 4xx on purpose: kbcstorage retries every 5xx but 501 for about 17 minutes, and a
            // full disk does not empty itself; the client is told the cause at once instead.
            DiskFull => ("storage.diskFull", 400),
            BlobAlreadyExists => ("BlobAlreadyExists", 409),
            BlobConditionNotMet => ("ConditionNotMet", 412),
            InvalidBlockList => ("InvalidBlockList", 400),
            BlobInvalidInput => ("InvalidInput", 400),
            ContainerNotFound => ("ContainerNotFound", 404),
            StorageValidation => ("storage.validation", 400),
            QuerySyntax => ("query.syntax", 400),
            BranchAlreadyExists => ("storage.devBranches.branchAlreadyExists", 400),
            SnapshotNotFound => ("storage.snapshots.notFound", 404),
            WorkspaceNotFound => ("storage.workspaces.notFound", 404),
            WorkspaceTableExists => ("storage.workspaces.tableAlreadyExists", 400),
            WorkspaceTableNotFound => ("storage.workspaces.tableNotFound", 404),
            WorkspaceQueryFailed => ("storage.workspaces.queryFailed", 400),
            MergeRequestNotFound => ("storage.mergeRequests.notFound", 404),
            QueueJobNotFound => ("queue.jobNotFound", 404),
            QueueJobNotKillable => ("queue.jobNotKillable", 400),
            QueueInsufficientCredits => ("queue.insufficientCredits", 400),
            BillingTopUpNotConfigured => ("topUp.notConfigured", 400),
            ScheduleNotFound => ("scheduler.scheduleNotFound", 404),
            SubscriptionNotFound => ("notification.subscriptionNotFound", 404),
            QueryJobNotFound => ("query.jobNotFound", 404),
            QueryStatementNotFound => ("query.statementNotFound", 404),
            QueryJobFinished => ("query.jobAlreadyFinished", 400),
            QueryResultsNotReady => ("query.resultsNotReady", 400),
            EditorSessionNotFound => ("editor.sessionNotFound", 404),
            ManageNotFound => ("manage.notFound", 404),
            VaultVariableNotFound => ("vault.variableNotFound", 404),
            VaultVariableExists => ("vault.variableAlreadyExists", 400),
            VaultInvalidPayload => ("vault.invalidPayload", 422),
            VaultInvalidQuery => ("vault.invalidQuery", 404),
            DeveloperUnauthorized => ("developer.unauthorized", 401),
            DeveloperNotFound => ("developer.notFound", 404),
            DeveloperAlreadyExists => ("developer.alreadyExists", 400),
            OAuthNotFound => ("oauth.notFound", 404),
            OAuthAlreadyExists => ("oauth.alreadyExists", 400),
            OAuthBadRequest => ("oauth.badRequest", 400),
            OAuthInvalidPayload => ("oauth.invalidPayload", 422),
            MetastoreNotFound => ("metastore.notFound", 404),
            MetastoreConflict => ("metastore.conflict", 409),
            MetastoreBadRequest => ("metastore.badRequest", 400),
            MetastoreInvalidPayload => ("metastore.validationFailed", 422),
            DataAppNotFound => ("dataScience.appNotFound", 404),
            DataAppBadRequest => ("dataScience.badRequest", 400),
            DataAppInvalidPayload => ("dataScience.invalidPayload", 422),
            AiComponentNotFound => ("ai.componentNotFound", 404),
            AiBadRequest => ("ai.badRequest", 400),
            AiLanguageModelFailed => ("ai.languageModelFailed", 502),
            StreamNotFound => ("stream.api.notFound", 404),
            StreamConflict => ("stream.api.resourceAlreadyExists", 409),
            StreamInvalidPayload => ("stream.api.unprocessable", 422),
            StreamSecretInvalid => ("stream.in.invalidSecret", 401),
            StreamDisabled => ("stream.in.sourceDisabled", 403),
            ProvisioningCredentialsNotFound => ("provisioning.credentialsNotFound", 404),
            ServiceRetired => ("serviceRetired", 410),
            OrchestrationNotFound => ("orchestrator.orchestrationNotFound", 404),
            OrchestrationInactive => ("orchestrator.orchestrationInactive", 409),
        }
    }
}

/// A failure of any layer: a code from the table and a human message.
#[derive(Debug, Clone)]
pub struct Error {
    pub code: Code,
    pub message: String,
    /// Extra keys merged into the envelope (e.g. `missingColumns`).
    pub context: Option<Value>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), context: None }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Code::ValidationFailed, message)
    }
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(Code::AccessDenied, message)
    }
    /// A failure the server did not expect; a full disk, whichever layer met it, is told apart
    /// so that clients and jobs get its cause instead of an application error.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        let text = err.to_string();
        if is_disk_full(&text) {
            return Self::new(Code::DiskFull, DISK_FULL_MESSAGE);
        }
        Self::new(Code::Internal, format!("Internal error: {text}"))
    }
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

// Any library failure met with `?` is an internal error (as `anyhow` does it, `Error` itself is
// not a `std::error::Error`, which keeps this blanket conversion coherent). Failures a client
// caused are mapped to their code where they happen.
impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(err: E) -> Self {
        // PostgreSQL's client says only "db error"; the server's reason is its source.
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        if is_nul_in_text(&text) {
            return Self::new(Code::ValidationFailed, NUL_IN_TEXT_MESSAGE);
        }
        Error::internal(text)
    }
}

/// What a client is told when a text value holds a NUL character, which PostgreSQL (the
/// scale-out profile's metadata store) cannot keep.
pub const NUL_IN_TEXT_MESSAGE: &str = "Text values must not contain the NUL character (\\u0000).";

/// PostgreSQL's refusal of a NUL byte in a text value (SQLSTATE 22021).
fn is_nul_in_text(text: &str) -> bool {
    text.contains("invalid byte sequence for encoding \"UTF8\": 0x00")
}

/// What a client is told when the data dir's disk is full.
pub const DISK_FULL_MESSAGE: &str =
    "The server's disk is full (no space left on device): nothing was written. Free space in the kbstack data dir and retry.";

/// Whether a library's error text is a full disk: the OS's ENOSPC (`std::io`, DuckDB), SQLite's
/// SQLITE_FULL, or a quota. Errors reach here as text from three libraries, so their messages are
/// the one common trait.
pub fn is_disk_full(text: &str) -> bool {
    const MARKERS: &[&str] =
        &["No space left on device", "os error 28", "database or disk is full", "Disk quota exceeded", "os error 122"];
    MARKERS.iter().any(|m| text.contains(m))
}

/// Paths of this server (its data dir) that must not reach clients: set once at start.
static PRIVATE_PATHS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Longest message a client is shown (and a job records); the rest is cut.
pub const MAX_MESSAGE_CHARS: usize = 4096;

pub fn set_private_paths(paths: Vec<String>) {
    let mut paths: Vec<String> = paths.into_iter().filter(|p| p.len() > 1).collect();
    // Longest first, so `/a/b/data` is replaced before a shorter `/a/b`.
    paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let _ = PRIVATE_PATHS.set(paths);
}

/// A message fit for clients: the server's own paths blanked out, and bounded in size (an error
/// can quote a whole input line).
pub fn public_message(message: &str) -> String {
    let mut out: String = if message.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}… (message truncated)")
    } else {
        message.to_string()
    };
    redact_paths(&mut out);
    out
}

/// The server's own paths in a text shown to clients (an error, a job's log line) blanked out.
pub fn redact_paths(text: &mut String) {
    for path in PRIVATE_PATHS.get().map(Vec::as_slice).unwrap_or_default() {
        if text.contains(path.as_str()) {
            *text = text.replace(path.as_str(), "[kbstack data]");
        }
    }
}

pub fn new_exception_id() -> String {
    format!("exception-{}", uuid::Uuid::new_v4().simple())
}


#[cfg(test)]
mod disk_full_tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_apart_from_other_failures() {
        let enospc = std::io::Error::from_raw_os_error(28);
        assert_eq!(Error::from(enospc).code, Code::DiskFull);
        assert_eq!(Error::internal("database or disk is full").code, Code::DiskFull);
        assert_eq!(Error::internal("IO Error: Could not write file \"x.wal\": No space left on device").code, Code::DiskFull);
        let other = Error::internal("connection reset");
        assert_eq!(other.code, Code::Internal);
        assert!(!Code::DiskFull.is_server_error(), "kbcstorage would retry a 5xx for minutes");
    }
}
