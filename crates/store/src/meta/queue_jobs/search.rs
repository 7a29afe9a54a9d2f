//! The Queue's job search as the store receives it (a typed filter and sort; the API's parameter
//! encodings are read by the service) and its SQL.
use rusqlite::types::Value as SqlValue;

use kbstack_core::QueueJobStatus;
use kbstack_core::ids::ProjectId;

/// Which of a project's jobs a search returns. Every list narrows only when it is not empty and
/// matches any of its values; time bounds are unix milliseconds, `…_from` inclusive and `…_to`
/// exclusive, and a job without that time (not started, not ended) is outside any bound on it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueJobFilter {
    pub ids: Vec<i64>,
    pub run_ids: Vec<String>,
    pub parent_run_ids: Vec<String>,
    pub branch_ids: Vec<i64>,
    pub token_ids: Vec<i64>,
    pub token_descriptions: Vec<String>,
    pub components: Vec<String>,
    /// A second bound on the component (the components of one type): `Some` of an empty list
    /// matches no job.
    pub components_of_type: Option<Vec<String>>,
    pub configs: Vec<String>,
    /// Jobs that run any of these rows.
    pub config_row_ids: Vec<String>,
    pub modes: Vec<String>,
    pub statuses: Vec<QueueJobStatus>,
    /// As the client sent them (not validated: an unknown one matches nothing).
    pub desired_statuses: Vec<String>,
    pub types: Vec<String>,
    pub tags: Vec<String>,
    pub variable_values_ids: Vec<String>,
    pub created_from_ms: Option<i64>,
    pub created_to_ms: Option<i64>,
    pub start_from_ms: Option<i64>,
    pub start_to_ms: Option<i64>,
    pub end_from_ms: Option<i64>,
    pub end_to_ms: Option<i64>,
    pub duration_from_seconds: Option<f64>,
    pub duration_to_seconds: Option<f64>,
}

/// What a search sorts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueJobSortField {
    Id,
    RunId,
    ProjectId,
    BranchId,
    Component,
    Config,
    ConfigRowIds,
    TokenDescription,
    Status,
    DesiredStatus,
    Mode,
    CreatedTime,
    UpdatedTime,
    StartTime,
    EndTime,
    DurationSeconds,
}

/// A job without the sorted value (a job not started has no start time) comes last either way;
/// ties are broken by id, in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueJobSort {
    pub field: QueueJobSortField,
    pub descending: bool,
}

/// Which of the sorted jobs a search returns: `limit` of them from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueJobPage {
    pub sort: QueueJobSort,
    pub limit: i64,
    pub offset: i64,
}

impl QueueJobSortField {
    fn column(self) -> &'static str {
        use QueueJobSortField::*;
        match self {
            Id => "id",
            RunId => "run_id",
            ProjectId => "project_id",
            BranchId => "branch_id",
            Component => "component",
            Config => "config",
            ConfigRowIds => "config_row_ids",
            TokenDescription => "token_description",
            Status => "status",
            DesiredStatus => "desired_status",
            Mode => "mode",
            CreatedTime => "created_ms",
            UpdatedTime => "updated_ms",
            StartTime => "start_ms",
            EndTime => "end_ms",
            DurationSeconds => "duration_seconds",
        }
    }
}

/// The SQL dialect a search is written in: SQLite's `?` marks and JSON functions, or
/// PostgreSQL's numbered `$n` marks, `jsonb` and typed comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A WHERE clause with its parameters, in order.
struct Where {
    dialect: Dialect,
    clauses: Vec<String>,
    params: Vec<SqlValue>,
}

impl Where {
    /// The mark of the next parameter (`cast` is PostgreSQL's type for it, when it cannot infer one).
    fn mark(&self, offset: usize, cast: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => "?".into(),
            Dialect::Postgres => format!("${}{cast}", self.params.len() + offset + 1),
        }
    }

    fn marks(&self, n: usize) -> String {
        (0..n).map(|i| self.mark(i, "")).collect::<Vec<_>>().join(", ")
    }

    fn any_of(&mut self, column: &str, values: Vec<SqlValue>) {
        if values.is_empty() {
            return;
        }
        let marks = self.marks(values.len());
        self.clauses.push(format!("{column} IN ({marks})"));
        self.params.extend(values);
    }

    fn bound(&mut self, column: &str, cmp: &str, value: Option<SqlValue>) {
        if let Some(value) = value {
            let cast = if matches!(value, SqlValue::Real(_)) { "::DOUBLE PRECISION" } else { "" };
            self.clauses.push(format!("{column} {cmp} {}", self.mark(0, cast)));
            self.params.push(value);
        }
    }
}

fn texts(values: &[String]) -> Vec<SqlValue> {
    values.iter().cloned().map(SqlValue::Text).collect()
}

fn ints(values: &[i64]) -> Vec<SqlValue> {
    values.iter().copied().map(SqlValue::Integer).collect()
}

/// The SELECT of `columns` for a search, and its parameters.
pub(crate) fn select(
    dialect: Dialect,
    columns: &str,
    project: ProjectId,
    f: &QueueJobFilter,
    page: &QueueJobPage,
) -> (String, Vec<SqlValue>) {
    let mut w = Where { dialect, clauses: Vec::new(), params: Vec::new() };
    w.bound("project_id", "=", Some(SqlValue::Integer(project.get())));
    w.any_of("id", ints(&f.ids));
    w.any_of("run_id", texts(&f.run_ids));
    w.any_of("parent_run_id", texts(&f.parent_run_ids));
    w.any_of("branch_id", ints(&f.branch_ids));
    w.any_of("token_id", ints(&f.token_ids));
    w.any_of("token_description", texts(&f.token_descriptions));
    w.any_of("component", texts(&f.components));
    w.any_of("config", texts(&f.configs));
    if !f.config_row_ids.is_empty() {
        let marks = w.marks(f.config_row_ids.len());
        w.clauses.push(match dialect {
            Dialect::Sqlite => format!("EXISTS (SELECT 1 FROM json_each(config_row_ids) WHERE json_each.value IN ({marks}))"),
            Dialect::Postgres => format!("EXISTS (SELECT 1 FROM jsonb_array_elements_text(config_row_ids::jsonb) e(value) WHERE e.value IN ({marks}))"),
        });
        w.params.extend(texts(&f.config_row_ids));
    }
    w.any_of("mode", texts(&f.modes));
    w.any_of("status", f.statuses.iter().map(|s| SqlValue::Text(s.as_str().into())).collect());
    w.any_of("desired_status", texts(&f.desired_statuses));
    w.any_of("type", texts(&f.types));
    w.any_of("tag", texts(&f.tags));
    w.any_of("variable_values_id", texts(&f.variable_values_ids));
    w.bound("created_ms", ">=", f.created_from_ms.map(SqlValue::Integer));
    w.bound("created_ms", "<", f.created_to_ms.map(SqlValue::Integer));
    w.bound("start_ms", ">=", f.start_from_ms.map(SqlValue::Integer));
    w.bound("start_ms", "<", f.start_to_ms.map(SqlValue::Integer));
    w.bound("end_ms", ">=", f.end_from_ms.map(SqlValue::Integer));
    w.bound("end_ms", "<", f.end_to_ms.map(SqlValue::Integer));
    w.bound("duration_seconds", ">=", f.duration_from_seconds.map(SqlValue::Real));
    w.bound("duration_seconds", "<", f.duration_to_seconds.map(SqlValue::Real));
    match &f.components_of_type {
        Some(ids) if ids.is_empty() => w.clauses.push("1 = 0".into()),
        Some(ids) => w.any_of("component", texts(ids)),
        None => {}
    }
    let column = page.sort.field.column();
    let dir = if page.sort.descending { "DESC" } else { "ASC" };
    let (limit, offset) = (w.mark(0, ""), w.mark(1, ""));
    let sql = format!(
        "SELECT {columns} FROM queue_jobs WHERE {} ORDER BY {column} IS NULL, {column} {dir}, id {dir} LIMIT {limit} OFFSET {offset}",
        w.clauses.join(" AND ")
    );
    w.params.push(SqlValue::Integer(page.limit));
    w.params.push(SqlValue::Integer(page.offset));
    (sql, w.params)
}
