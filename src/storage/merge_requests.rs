//! Merge requests (`/v2/storage/merge-request…`, APIB L10656–11254): a development branch's
//! changes go to the default branch after review.
//!
//! States: `development` → (request-review) `in_review` → (approve, enough approvals) `approved`
//! → (merge) `in_merge` → `published`; request-changes sends `in_review`/`approved` back to
//! `development` and drops the approvals; DELETE cancels (`canceled`). While a request is past
//! `development` its branch takes no writes (`auth`). The merge is a `mergeRequestMerge` storage
//! job whose work is one metadata transaction (`configurations::merge`): the configurations are
//! applied, the request published and the branch removed together, or nothing happens.
//!
//! kbstack has no users: a person is a token. Keboola's roles map onto token rights — a developer
//! or reviewer is a token that can manage buckets (the right dev branches need); the production
//! manager who merges is a token that can manage the protected default branch, or the master
//! token. The creator's token cannot approve its own request.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{Value, json};

use super::auth::Auth;
use super::configurations::merge::{self, Analysis};
use super::events::{self, NewEvent};
use super::wire::merge_request as wire;
use super::{jobs, tables};
use crate::app::AppState;
use crate::http::routes::{get, put};
use crate::http::{ApiError, ApiResult, Code, Params, Routes, now_iso};
use crate::meta::merge_requests::{Approval, MergeRequest, MergeRequestStore, Reviewer};
use kbstack_core::Scope;

/// Approvals a request needs before it can be merged (a project setting in Keboola).
pub const REQUIRED_APPROVALS: usize = 1;
const MAX_REASON_CHARS: usize = 1000;

pub fn routes() -> Routes<AppState> {
    const MR: &str = "/v2/storage/merge-request/{id}";
    let at = |tail: &str| format!("{MR}{tail}");
    Routes::new()
        .route("/v2/storage/merge-request", get(list).post(create))
        .route(MR, get(detail).put(update).delete(cancel))
        .route(&at("/request-review"), put(request_review))
        .route(&at("/approve"), put(approve))
        .route(&at("/request-changes"), put(request_changes))
        .route(&at("/conflicts"), get(conflicts))
        .route(&at("/merge"), put(merge_request))
}

/// The lock every merge holds while it runs, on every node of the stack (`jobs::with_lock`).
const MERGE_LOCK: &str = "merge-requests";

/// At start: a merge a crash interrupted never committed (it is one transaction), so its
/// request is approved again, as before the merge.
pub fn recover_interrupted(state: &AppState) -> anyhow::Result<()> {
    // Merges run holding MERGE_LOCK, stack-wide: once it is ours no merge runs on any node, and
    // a request still `in_merge` is one whose node died (its lock went with its connection).
    let reset = jobs::with_lock::<_, ApiError>(state, MERGE_LOCK, || Ok(state.meta.reset_merge_requests("in_merge", "approved")?))
        .map_err(|e| anyhow::anyhow!(e.message.clone()))?;
    if reset > 0 {
        tracing::warn!(requests = reset, "interrupted merges: merge requests back to approved");
    }
    Ok(())
}

/// Keboola answers every refused role or locked request the same way.
fn no_access() -> ApiError {
    ApiError::denied("You don't have access to the resource.")
}

/// Developers and reviewers: tokens that may work with dev branches.
fn require_developer(auth: &Auth) -> ApiResult<()> {
    if auth.can_manage_buckets() { Ok(()) } else { Err(no_access()) }
}

/// The production manager: may change the protected default branch.
fn require_merger(auth: &Auth) -> ApiResult<()> {
    if auth.token.is_master || auth.token.can_manage_protected_default_branch { Ok(()) } else { Err(no_access()) }
}

fn refused(why: &str) -> ApiError {
    ApiError::new(Code::StorageValidation, format!("Operation canot be performed due: {why}"))
}

fn not_found() -> ApiError {
    ApiError::new(Code::MergeRequestNotFound, "Merge request not found")
}

fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<MergeRequest> {
    let id: i64 = id.parse().map_err(|_| not_found())?;
    state.meta.merge_request(auth.project_id, id)?.ok_or_else(not_found)
}

fn change_log(changes: &[merge::Change]) -> wire::ChangeLog {
    wire::ChangeLog {
        configurations: changes
            .iter()
            .map(|c| wire::ChangedConfiguration {
                is_deleted: c.is_deleted,
                component_id: c.component_id.clone(),
                configuration_id: c.configuration_id.clone(),
                last_version_identifier: c.last_version_identifier.clone(),
            })
            .collect(),
    }
}

/// What the open request's branch would merge (None when the branch is gone).
fn analyse(state: &AppState, mr: &MergeRequest) -> ApiResult<Option<Analysis>> {
    let Some(from) = mr.branch_from_id else { return Ok(None) };
    if !state.meta.branch_exists(mr.project_id, from)? {
        return Ok(None);
    }
    Ok(Some(state.meta.merge_tx(|tx| merge::analyse(tx, mr.project_id, from, mr.branch_into_id))?))
}

/// The request as the API shows it; `with_changes` adds the change log (detail and state moves).
fn mr_json(state: &AppState, mr: &MergeRequest, with_changes: bool) -> ApiResult<Value> {
    let log = match (&mr.change_log, with_changes) {
        (_, false) => None,
        (Some(stored), true) => Some(serde_json::from_value(stored.clone()).map_err(ApiError::internal)?),
        (None, true) => Some(change_log(&analyse(state, mr)?.map(|a| a.changes).unwrap_or_default())),
    };
    let out = wire::MergeRequest {
        id: mr.id,
        creator: wire::Creator { id: mr.creator_id, name: mr.creator_name.clone() },
        title: mr.title.clone(),
        description: mr.description.clone(),
        state: mr.state.clone(),
        content: log.clone(),
        change_log: log,
        branches: wire::Branches { branch_from_id: mr.branch_from_id, branch_into_id: mr.branch_into_id },
        merge: wire::Merge { merged_at: mr.merged_at.clone(), merger_id: mr.merger_id, merger_name: mr.merger_name.clone() },
        external_id: mr.external_id.clone(),
        auto_merge_strategy: mr.auto_merge_strategy.clone(),
        auto_merge_at: mr.auto_merge_at.clone(),
        approvals: mr
            .approvals
            .iter()
            .map(|a| wire::Approval { approver_id: a.approver_id, approver_name: a.approver_name.clone(), created_at: a.created.clone() })
            .collect(),
        reviewers: mr
            .reviewers
            .iter()
            .map(|r| wire::Reviewer { id: r.id, name: r.name.clone(), email: String::new(), status: r.status.clone() })
            .collect(),
        created_at: mr.created.clone(),
    };
    serde_json::to_value(out).map_err(ApiError::internal)
}

/// `storage.mergeRequestStateChanged`, with the params Keboola's events carry.
fn state_changed(state: &AppState, auth: &Auth, id: i64, operation: &str, from: &str, to: &str, note: Option<&str>) -> ApiResult<()> {
    let mut message = format!("Merge request {id} moved from \"{from}\" to \"{to}\" ({operation})");
    if let Some(n) = note.filter(|n| !n.is_empty()) {
        message.push_str(&format!(": {n}"));
    }
    events::record(
        state,
        auth,
        NewEvent {
            event: "storage.mergeRequestStateChanged".into(),
            component: "storage".into(),
            message,
            kind: "info".into(),
            object_type: Some("mergeRequest".into()),
            object_id: Some(id.to_string()),
            params: json!({"operation": operation, "stateFrom": from, "stateTo": to, "mergeRequestId": id}),
            results: json!({}),
        },
    )
}

/// Reviewers by token id: tokens of the project; statuses of those already assigned are kept.
fn reviewers(state: &AppState, auth: &Auth, p: &Params, keep: &[Reviewer]) -> ApiResult<Option<Vec<Reviewer>>> {
    let Some(value) = p.get("reviewerIds") else { return Ok(None) };
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::Object(o) => o.values().cloned().collect(),
        Value::String(s) if s.is_empty() => Vec::new(),
        other => vec![other.clone()],
    };
    let mut out: Vec<Reviewer> = Vec::new();
    for item in items {
        let id = crate::http::params::scalar_to_string(&item)
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| ApiError::validation("Invalid request:\n - reviewerIds: This value should be a list of user ids."))?;
        let token = state.meta.token(id)?.filter(|t| t.project_id == auth.project_id);
        let Some(token) = token else {
            return Err(ApiError::validation(format!("Invalid request:\n - reviewerIds: User {id} is not a member of the project.")));
        };
        if out.iter().any(|r| r.id == id) {
            continue;
        }
        let status = keep.iter().find(|r| r.id == id).and_then(|r| r.status.clone());
        out.push(Reviewer { id, name: token.description, status });
    }
    Ok(Some(out))
}

/// `autoMergeStrategy` and `autoMergeAt` as given (None: not given); `scheduled` needs a time.
fn auto_merge(p: &Params) -> ApiResult<Option<(String, Option<String>)>> {
    let Some(strategy) = p.str("autoMergeStrategy") else {
        return Ok(None);
    };
    if !["immediately", "scheduled", "none"].contains(&strategy.as_str()) {
        return Err(ApiError::validation(
            "Invalid request:\n - autoMergeStrategy: The value you selected is not a valid choice (immediately, scheduled, none).",
        ));
    }
    if strategy != "scheduled" {
        return Ok(Some((strategy, None)));
    }
    let at = p.str("autoMergeAt").filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::validation("Invalid request:\n - autoMergeAt: This value is required when autoMergeStrategy is \"scheduled\".")
    })?;
    let valid = chrono::DateTime::parse_from_rfc3339(&at).is_ok() || chrono::DateTime::parse_from_str(&at, "%Y-%m-%dT%H:%M:%S%z").is_ok();
    if !valid {
        return Err(ApiError::validation("Invalid request:\n - autoMergeAt: This value is not a valid ISO 8601 datetime."));
    }
    Ok(Some((strategy, Some(at))))
}

fn cannot_create(why: String) -> ApiError {
    ApiError::new(Code::StorageValidation, format!("Cannot create merge request. {why}"))
}

async fn create(State(state): State<AppState>, auth: Auth, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    require_developer(&auth)?;
    let title = p.required_str("title")?;
    let from = p.int("branchFromId")?.ok_or_else(|| ApiError::validation("Invalid request:\n - branchFromId: This value should not be blank."))?;
    let into = p.int("branchIntoId")?.ok_or_else(|| ApiError::validation("Invalid request:\n - branchIntoId: This value should not be blank."))?;
    for id in [into, from] {
        if !state.meta.branch_exists(auth.project_id, id)? {
            return Err(cannot_create(format!("Branch id:\"{id}\" was not found.")));
        }
    }
    if into != auth.default_branch_id {
        return Err(cannot_create("Target branch is not default.".into()));
    }
    if from == auth.default_branch_id {
        return Err(cannot_create("Source branch is the default branch.".into()));
    }
    let (strategy, at) = match auto_merge(&p)? {
        Some((s, at)) => (Some(s), at),
        None => (None, None),
    };
    let mr = MergeRequest {
        id: 0,
        project_id: auth.project_id,
        branch_from_id: Some(from),
        branch_into_id: into,
        state: "development".into(),
        title,
        description: p.str_or("description", ""),
        external_id: p.str("externalId").filter(|s| !s.is_empty()),
        auto_merge_strategy: strategy,
        auto_merge_at: at,
        creator_id: auth.token.id,
        creator_name: auth.token.description.clone(),
        reviewers: reviewers(&state, &auth, &p, &[])?.unwrap_or_default(),
        approvals: Vec::new(),
        change_log: None,
        created: now_iso(),
        merged_at: None,
        merger_id: None,
        merger_name: String::new(),
    };
    let id = state
        .meta
        .insert_merge_request(&mr)?
        .map_err(|open| cannot_create(format!("Branch id:\"{from}\" already has an open merge request (id {}).", open.0)))?;
    events::record(
        &state,
        &auth,
        NewEvent {
            event: "storage.mergeRequestCreated".into(),
            component: "storage".into(),
            message: format!("Merge request {id} created"),
            kind: "info".into(),
            object_type: Some("mergeRequest".into()),
            object_id: Some(id.to_string()),
            params: json!({"creatorId": auth.token.id, "mergeRequestId": id}),
            results: json!({}),
        },
    )?;
    Ok((StatusCode::CREATED, Json(mr_json(&state, &MergeRequest { id, ..mr }, false)?)))
}

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let all = state.meta.merge_requests(auth.project_id)?;
    Ok(Json(Value::Array(all.iter().map(|m| mr_json(&state, m, false)).collect::<ApiResult<_>>()?)))
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let mr = load(&state, &auth, &id)?;
    Ok(Json(mr_json(&state, &mr, true)?))
}

/// Move a request from one of `from` states (anything else is refused with `wrong_state`),
/// letting `change` adjust it; the request after the move.
fn transition(
    state: &AppState,
    auth: &Auth,
    id: &str,
    from: &[&str],
    wrong_state: impl FnOnce(&str) -> ApiError,
    change: impl FnOnce(&mut MergeRequest) -> ApiResult<()>,
) -> ApiResult<(String, MergeRequest)> {
    let mr = load(state, auth, id)?;
    let moved = state.meta.change_merge_request(auth.project_id, mr.id, |m| {
        if !from.contains(&m.state.as_str()) {
            return Err(wrong_state(&m.state));
        }
        let before = m.state.clone();
        change(m)?;
        Ok((before, m.clone()))
    })?;
    moved.ok_or_else(not_found)
}

/// PUT: title, description, externalId, auto-merge and reviewers; only in `development`
/// (Keboola: a request under review is locked).
async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    require_developer(&auth)?;
    let title = p.str("title");
    if title.as_deref() == Some("") {
        return Err(ApiError::validation("Invalid request:\n - title: This value should not be blank."));
    }
    let auto = auto_merge(&p)?;
    let current = load(&state, &auth, &id)?;
    let new_reviewers = reviewers(&state, &auth, &p, &current.reviewers)?;
    let (_, mr) = transition(&state, &auth, &id, &["development"], |_| no_access(), |m| {
        if let Some(t) = title {
            m.title = t;
        }
        if let Some(d) = p.str("description") {
            m.description = d;
        }
        if let Some(e) = p.str("externalId") {
            m.external_id = Some(e).filter(|e| !e.is_empty());
        }
        if let Some((strategy, at)) = auto {
            m.auto_merge_strategy = Some(strategy);
            m.auto_merge_at = at;
        }
        if let Some(r) = new_reviewers {
            m.reviewers = r;
        }
        Ok(())
    })?;
    Ok(Json(mr_json(&state, &mr, false)?))
}

async fn request_review(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    require_developer(&auth)?;
    let wrong = |s: &str| refused(&format!("Merge request is in state \"{s}\"; only a request in development can be put in review."));
    let (before, mr) = transition(&state, &auth, &id, &["development"], wrong, |m| {
        m.state = "in_review".into();
        Ok(())
    })?;
    state_changed(&state, &auth, mr.id, "request_review", &before, &mr.state, None)?;
    Ok(Json(mr_json(&state, &mr, true)?))
}

async fn approve(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    require_developer(&auth)?;
    let wrong = |s: &str| refused(&format!("Merge request is in state \"{s}\"; only a request in review can be approved."));
    let me = auth.token.clone();
    let (before, mr) = transition(&state, &auth, &id, &["in_review"], wrong, |m| {
        if m.creator_id == me.id {
            return Err(refused("Request creator cannot approve their own request."));
        }
        if m.approvals.iter().any(|a| a.approver_id == me.id) {
            return Err(refused("This reviewer has already approved this request."));
        }
        m.approvals.push(Approval { approver_id: me.id, approver_name: me.description.clone(), created: now_iso() });
        if let Some(r) = m.reviewers.iter_mut().find(|r| r.id == me.id) {
            r.status = Some("approved".into());
        }
        if m.approvals.len() >= REQUIRED_APPROVALS {
            m.state = "approved".into();
        }
        Ok(())
    })?;
    state_changed(&state, &auth, mr.id, "approve", &before, &before, None)?;
    if mr.state != before {
        state_changed(&state, &auth, mr.id, "finish_review", &before, &mr.state, None)?;
    }
    Ok(Json(mr_json(&state, &mr, true)?))
}

/// Back to development: every approval is dropped; the caller, when a reviewer, is marked
/// `rejected`.
async fn request_changes(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Json<Value>> {
    if !(auth.can_manage_buckets() || auth.token.can_manage_protected_default_branch) {
        return Err(no_access());
    }
    let reason = p.str("reason");
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ApiError::validation(format!("Invalid request:\n - reason: This value is too long. It should have {MAX_REASON_CHARS} characters or less.")));
    }
    let wrong = |s: &str| refused(&format!("Merge request is in state \"{s}\"; changes can be requested only in review or when approved."));
    let me = auth.token.id;
    let (before, mr) = transition(&state, &auth, &id, &["in_review", "approved"], wrong, |m| {
        m.state = "development".into();
        m.approvals.clear();
        for r in &mut m.reviewers {
            r.status = (r.id == me).then(|| "rejected".into());
        }
        Ok(())
    })?;
    state_changed(&state, &auth, mr.id, "request_changes", &before, &mr.state, reason.as_deref())?;
    Ok(Json(mr_json(&state, &mr, true)?))
}

/// DELETE: cancel an open request that is not being merged; the branch stays, no longer tied
/// to it.
async fn cancel(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    require_developer(&auth)?;
    let wrong = |s: &str| refused(&format!("Merge request is in state \"{s}\" and cannot be canceled."));
    let (before, mr) = transition(&state, &auth, &id, &["development", "in_review", "approved"], wrong, |m| {
        m.state = "canceled".into();
        m.branch_from_id = None;
        Ok(())
    })?;
    state_changed(&state, &auth, mr.id, "cancel", &before, &mr.state, None)?;
    Ok(Json(mr_json(&state, &mr, false)?))
}

fn conflict_message(c: &merge::Conflict) -> String {
    format!(
        "Configuration \"{}\" for component \"{}\" in the dev branch is not based on the latest version from the default branch. \
         Version identifier in the dev branch: \"{}\". Version identifier in the default branch: \"{}\".",
        c.configuration_id,
        c.component_id,
        c.dev_identifier,
        c.default_identifier.as_deref().unwrap_or("")
    )
}

async fn conflicts(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let mr = load(&state, &auth, &id)?;
    let open = ["development", "in_review", "approved"].contains(&mr.state.as_str());
    let found = if open { analyse(&state, &mr)?.map(|a| a.conflicts).unwrap_or_default() } else { Vec::new() };
    let out: Vec<wire::Conflict> = found
        .iter()
        .map(|c| wire::Conflict {
            message: conflict_message(c),
            component_id: c.component_id.clone(),
            configuration_id: c.configuration_id.clone(),
            is_deleted: c.is_deleted,
            dev_branch_version_identifier: c.dev_identifier.clone(),
            default_branch_version_identifier: c.default_identifier.clone(),
        })
        .collect();
    Ok(Json(serde_json::to_value(out).map_err(ApiError::internal)?))
}

fn conflict_error(id: i64, conflicts: &[merge::Conflict]) -> ApiError {
    let list: Vec<String> =
        conflicts.iter().map(|c| format!("componentId: \"{}\", configurationId: \"{}\"", c.component_id, c.configuration_id)).collect();
    ApiError::new(Code::StorageValidation, format!("Merge request {id} cannot be merged. Problem with following configurations: {}", list.join(", ")))
}

/// PUT merge: an approved request without conflicts becomes `in_merge` and a `mergeRequestMerge`
/// job merges it. One merge at a time per project.
async fn merge_request(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Value>)> {
    require_merger(&auth)?;
    let mr = load(&state, &auth, &id)?;
    if mr.state != "approved" {
        if mr.state == "in_merge" {
            return Err(ApiError::new(Code::StorageValidation, "Cannot merge, another merge is in progress."));
        }
        return Err(refused(&format!("Merge request is in state \"{}\"; only an approved request can be merged.", mr.state)));
    }
    if state.meta.merge_requests(auth.project_id)?.iter().any(|m| m.state == "in_merge") {
        return Err(ApiError::new(Code::StorageValidation, "Cannot merge, another merge is in progress."));
    }
    if let Some(a) = analyse(&state, &mr)? {
        if !a.conflicts.is_empty() {
            return Err(conflict_error(mr.id, &a.conflicts));
        }
    }
    let wrong = |_: &str| ApiError::new(Code::StorageValidation, "Cannot merge, another merge is in progress.");
    let (before, mr) = transition(&state, &auth, &id, &["approved"], wrong, |m| {
        m.state = "in_merge".into();
        Ok(())
    })?;
    state_changed(&state, &auth, mr.id, "merge", &before, &mr.state, None)?;
    let spec = jobs::JobSpec {
        operation_name: "mergeRequestMerge",
        operation_params: json!({"id": mr.id}),
        table_id: None,
        lock_key: Some(MERGE_LOCK.into()),
    };
    let job_auth = auth.clone();
    let mr_id = mr.id;
    jobs::start(&state, &auth, spec, move |st| {
        let outcome = run_merge(st, &job_auth, mr_id);
        if outcome.is_err() {
            // The transaction left nothing behind: the request is approved again.
            let _ = st.meta.change_merge_request(job_auth.project_id, mr_id, |m| -> ApiResult<()> {
                if m.state == "in_merge" {
                    m.state = "approved".into();
                }
                Ok(())
            });
        }
        outcome
    })
    .await
}

/// The merge itself, in one metadata transaction; the branch's table data is dropped after the
/// commit (its records went with the transaction).
fn run_merge(state: &AppState, auth: &Auth, id: i64) -> ApiResult<Value> {
    let project = auth.project_id;
    let mr = state.meta.merge_request(project, id)?.ok_or_else(not_found)?;
    let from = mr.branch_from_id.ok_or_else(|| refused("The merge request has no source branch."))?;
    let branch = state
        .meta
        .branch(project.into(), from.into())?
        .ok_or_else(|| ApiError::new(Code::BranchNotFound, format!("Branch id:\"{from}\" was not found.")))?;
    let mut table_data = Vec::new();
    for bucket in state.meta.buckets(Scope::new(project, from))? {
        table_data.extend(tables::tables_of_bucket(state, &bucket)?.iter().map(|t| t.location()));
    }
    let merged = state.meta.merge_tx(|tx| {
        let mut mr = tx.merge_request(project, id)?.ok_or_else(not_found)?;
        if mr.state != "in_merge" || mr.branch_from_id != Some(from) {
            return Err(refused(&format!("Merge request is in state \"{}\".", mr.state)));
        }
        let analysis = merge::analyse(tx, project, from, mr.branch_into_id)?;
        if !analysis.conflicts.is_empty() {
            return Err(conflict_error(id, &analysis.conflicts));
        }
        merge::apply(tx, auth, &analysis, project, from, mr.branch_into_id, &branch.name)?;
        mr.state = "published".into();
        mr.change_log = Some(serde_json::to_value(change_log(&analysis.changes)).map_err(ApiError::internal)?);
        mr.merged_at = Some(now_iso());
        mr.merger_id = Some(auth.token.id);
        mr.merger_name = auth.token.description.clone();
        tx.save_merge_request(&mr)?;
        tx.delete_branch(project, from)?;
        Ok::<_, ApiError>(mr)
    })?;
    for location in &table_data {
        if let Err(e) = state.tables.drop_table(location) {
            tracing::warn!(table = %location.table, "merged branch's table data not dropped: {e}");
        }
    }
    state_changed(state, auth, id, "publish", "in_merge", "published", None)?;
    events::record(
        state,
        auth,
        NewEvent {
            event: "storage.devBranchDeleted".into(),
            component: "storage".into(),
            message: format!("Development branch \"{}\" deleted after its merge", branch.name),
            kind: "info".into(),
            object_type: Some("devBranch".into()),
            object_id: Some(from.to_string()),
            params: json!({"mergeRequestId": id}),
            results: json!({}),
        },
    )?;
    mr_json(state, &merged, true)
}
