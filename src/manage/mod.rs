//! The Management API (`/manage` on the Storage host, `X-KBC-ManageApiToken`; notes:
//! services.md §12): maintainers, organizations, projects with their features, limits, members,
//! invitations and Storage tokens, users, the feature catalogue and manage tokens. A project
//! made here is a full Storage project: its own default branch, master token and data, seen by
//! no other project's token.
pub mod api;
pub mod auth;
pub mod bootstrap;
mod features;
mod members;
mod organizations;
mod projects;
mod users;
pub mod wire;

use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::manage::User;
use crate::meta::project_admin::ProjectDetails;
use wire::{IdNameEmail, ProjectJson, ProjectOrganization, UserJson};

/// What every project of this stack has, whatever its features: clients check for these
/// (keboola-cli refuses merge requests without `branches-merge-requests`; keboola-mcp-server uses
/// server-side search only with `global-search`).
pub const STACK_FEATURES: &[&str] = &["kbstack", "branches-merge-requests", "global-search", "data-streams"];

/// A project's limits when the Management API set none (Keboola's defaults for a new project).
pub const DEFAULT_LIMITS: &[(&str, f64)] = &[
    ("components.jobsParallelism", 10.0),
    ("storage.dataSizeBytes", 1_000_000_000_000.0),
    ("kbc.adminsCount", 10.0),
    ("orchestrations.count", 50.0),
];

/// The feature that makes a project pay for its jobs with credits (Billing checks it).
pub const PAY_AS_YOU_GO: &str = "pay-as-you-go";

pub fn not_found(what: &str, id: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::ManageNotFound, format!("{what} {id} not found"))
}

/// `{name: {name, value}}` of the defaults overlaid by the project's own limits.
pub fn project_limits(details: Option<&ProjectDetails>) -> Map<String, Value> {
    let mut out: Map<String, Value> = DEFAULT_LIMITS.iter().map(|(n, v)| (n.to_string(), json!({"name": n, "value": number(*v)}))).collect();
    if let Some(d) = details {
        for (name, limit) in &d.limits {
            out.insert(name.clone(), limit.clone());
        }
    }
    out
}

/// A limit's value, the project's or the default.
pub fn limit_value(details: Option<&ProjectDetails>, name: &str) -> Option<f64> {
    project_limits(details).get(name).and_then(|l| l["value"].as_f64())
}

/// Whole numbers as integers, as PHP sends them.
pub fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9e15 { json!(v as i64) } else { json!(v) }
}

/// The features a project's tokens show in `owner.features`: the stack's and the project's own.
pub fn project_features(details: Option<&ProjectDetails>) -> Vec<String> {
    let mut out: Vec<String> = STACK_FEATURES.iter().map(|s| s.to_string()).collect();
    for f in details.map(|d| d.features.as_slice()).unwrap_or_default() {
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    out
}

/// The organization a project belongs to (organization 1 for one the Management API has no
/// details of).
pub fn organization_of(state: &AppState, project_id: i64) -> ApiResult<i64> {
    Ok(state.meta.project_details(project_id)?.map_or(bootstrap::ORGANIZATION_ID, |d| d.organization_id))
}

/// A project that exists and is not deleted, or the Management API's 404.
pub fn live_project(state: &AppState, id: i64) -> ApiResult<ProjectDetails> {
    state.meta.project_details(id)?.filter(|d| !d.is_deleted()).ok_or_else(|| not_found("Project", id))
}

pub fn project_json(state: &AppState, d: &ProjectDetails) -> ApiResult<ProjectJson> {
    let org = state.meta.organization(d.organization_id)?;
    let (rows, bytes) = state.meta.project_table_stats(d.id).unwrap_or((0, 0));
    let deleted = d.is_deleted();
    let credits = state.meta.credit_entries(d.id)?.iter().filter(|e| e.amount > 0.0).map(|e| e.amount).sum();
    Ok(ProjectJson {
        id: d.id,
        name: d.name.clone(),
        kind: d.kind.clone(),
        region: "local".into(),
        created: d.created.clone(),
        expires: d.expires.clone(),
        features: d.features.clone(),
        data_size_bytes: bytes,
        rows_count: rows,
        has_mysql: false,
        has_redshift: false,
        has_snowflake: true,
        has_synapse: false,
        has_exasol: false,
        has_teradata: false,
        default_backend: "snowflake".into(),
        has_try_mode_on: "0".into(),
        limits: project_limits(Some(d)),
        metrics: crate::storage::wire::token::named_values(&[("storage.dataSizeBytes", bytes as i64), ("storage.rowsCount", rows as i64)]),
        is_disabled: false,
        billed_monthly_price: None,
        data_retention_time_in_days: d.data_retention_days,
        description: d.description.clone(),
        organization: ProjectOrganization {
            id: d.organization_id,
            name: org.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
            crm_id: org.as_ref().map(|o| o.crm_id.clone()).unwrap_or_default(),
            activity_center_project_id: None,
            created: org.as_ref().map(|o| o.created.clone()).unwrap_or_default(),
            allow_auto_join: org.as_ref().is_some_and(|o| o.allow_auto_join),
        },
        pay_as_you_go: wire::PayAsYouGo { purchased_credits: credits },
        is_deleted: deleted.then_some(true),
        deleted_time: deleted.then(|| d.deleted_time.clone()),
        is_purged: deleted.then(|| d.purged_time.is_some()),
        purged_time: deleted.then(|| d.purged_time.clone()),
    })
}

pub fn user_json(u: &User) -> UserJson {
    UserJson {
        id: u.id,
        name: u.name.clone(),
        email: u.email.clone(),
        mfa_enabled: u.mfa_enabled,
        features: u.features.clone(),
        can_access_logs: u.can_access_logs,
        is_super_admin: u.is_super_admin,
        created: u.created.clone(),
    }
}

pub fn user_ref(state: &AppState, id: Option<i64>) -> Option<IdNameEmail> {
    let u = state.meta.user(id?).ok()??;
    Some(IdNameEmail { id: u.id, name: u.name, email: u.email })
}

/// A user by id or email (`/manage/users/{idOrEmail}`).
pub fn find_user(state: &AppState, id_or_email: &str) -> ApiResult<User> {
    let found = match id_or_email.parse::<i64>() {
        Ok(id) => state.meta.user(id)?,
        Err(_) => state.meta.user_by_email(id_or_email)?,
    };
    found.ok_or_else(|| not_found("User", id_or_email))
}

/// The user with this email, made (not yet active) when the stack does not know them: Keboola
/// invites and adds people by email.
pub fn user_for_email(state: &AppState, email: &str) -> ApiResult<User> {
    let email = email.trim();
    if !valid_email(email) {
        return Err(ApiError::validation(format!("Invalid email address \"{email}\".")));
    }
    if let Some(u) = state.meta.user_by_email(email)? {
        return Ok(u);
    }
    let user = User::new(email, email, &crate::http::now_iso());
    match state.meta.insert_user(&user)? {
        Ok(id) => Ok(User { id, ..user }),
        Err(_) => state.meta.user_by_email(email)?.ok_or_else(|| not_found("User", email)),
    }
}

pub fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(local), Some(domain), None)
        if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !email.contains(char::is_whitespace))
}
