//! The Syrup-era APIs (notes: services.md, "Legacy services"), served on top of the Queue, the
//! runner, the Encryption service and Storage workspaces:
//! - Syrup itself at `/syrup` (host `syrup.<suffix>`): `POST /{component}/run` and
//!   `/{component}/encrypt`, and the Syrup queue (`queue`) showing Queue jobs in Syrup's shape
//!   (`wire`), searched with Elasticsearch query strings (`query_string`);
//! - the Docker Runner API (`docker`) at `/syrup/docker` and, as its index id `docker-runner`,
//!   at `/docker-runner` (host `docker-runner.<suffix>`);
//! - the Provisioning API (`provisioning`) at `/syrup/provisioning`: credentials are Storage
//!   workspaces, queried through the Query service.
//!
//! Jobs created here are Queue jobs (their ids are the Queue's); nothing here calls another
//! service over HTTP. Errors take Syrup's envelope (`api::SyrupError`).
pub mod api;
pub mod docker;
pub mod provisioning;
pub mod query_string;
pub mod queue;
pub mod wire;

use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult};
use crate::queue::jobs::{self, JobRequest};
use crate::queue::store::{self, Job};
use crate::storage::auth::Auth;

/// The Syrup service's base URL (`…/syrup`).
pub fn syrup_url(state: &AppState) -> String {
    crate::storage::index::service_url(state, "syrup")
}

/// What a Syrup `run` asks for beside its body.
pub struct RunTarget<'a> {
    /// The Syrup component recorded on the job (`docker` for the Docker Runner).
    pub syrup_component: &'a str,
    pub component: &'a str,
    pub branch: Option<&'a str>,
    pub tag: Option<&'a str>,
    /// `run` or `debug`.
    pub mode: &'a str,
}

/// A Syrup run body (`{config?, row?, configData?, variableValuesId?, variableValuesData?}`) as a
/// Queue job request.
fn job_request(body: &Map<String, Value>, target: &RunTarget) -> ApiResult<JobRequest> {
    let mut fields = Map::new();
    for key in ["config", "configData", "variableValuesId", "variableValuesData"] {
        if let Some(v) = body.get(key) {
            fields.insert(key.into(), v.clone());
        }
    }
    if let Some(row) = body.get("row").filter(|v| !v.is_null()) {
        fields.insert("configRowIds".into(), json!([row]));
    }
    fields.insert("component".into(), json!(target.component));
    fields.insert("mode".into(), json!(target.mode));
    if let Some(b) = target.branch {
        fields.insert("branchId".into(), json!(b));
    }
    if let Some(t) = target.tag {
        fields.insert("tag".into(), json!(t));
    }
    JobRequest::parse(&fields)
}

/// Create the Queue job a Syrup `run` describes.
pub fn run(state: &AppState, auth: &Auth, body: &Map<String, Value>, target: &RunTarget) -> ApiResult<Job> {
    let mut new = jobs::build(state, auth, job_request(body, target)?)?;
    if let Some(def) = new.definition.as_object_mut() {
        def.insert("syrupComponent".into(), json!(target.syrup_component));
    }
    crate::billing::check_can_run(state, auth.project_id)?;
    store::insert(state, &new, &auth.secret)
}

/// The `202` answer of a run.
pub fn created(state: &AppState, job: &Job) -> wire::Created {
    wire::Created { id: job.id.to_string(), url: format!("{}/queue/job/{}", syrup_url(state), job.id), status: "waiting" }
}

/// A required component id in a path: what Keboola's ids may contain.
pub fn component_id(raw: &str) -> ApiResult<&str> {
    let ok = !raw.is_empty() && raw.len() <= 128 && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok { Ok(raw) } else { Err(ApiError::validation(format!("Invalid component id \"{raw}\"."))) }
}
