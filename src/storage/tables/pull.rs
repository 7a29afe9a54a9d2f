//! `POST [branch/{b}/]tables/{id}/pull`: copy a default-branch table (record, rows, metadata)
//! into the dev branch the request addresses, replacing the branch's copy if it has one, and
//! creating the bucket there when the branch has none yet (APIB L2754–2802).
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{Value, json};

use super::{Table, copy, drop_table_everywhere, find_table, split_table_id, table_json, table_not_found, table_lock_key};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, now_iso};
use crate::meta::buckets::{Bucket, BucketConflict};
use crate::storage::auth::{Auth, Need};
use crate::storage::{buckets, jobs};
use kbstack_core::Scope;

pub async fn pull(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Value>)> {
    // Rights before parameters: a token that may not write the table learns nothing more.
    let (bucket_id, _) = split_table_id(&id).ok_or_else(|| table_not_found(&auth, &id))?;
    if auth.bucket_level(&bucket_id).is_none() {
        return Err(table_not_found(&auth, &id));
    }
    let source = find_table(&state, auth.project_id, auth.default_branch_id, &id)?.ok_or_else(|| table_not_found(&auth, &id))?;
    auth.bucket(&bucket_id, Need::Write)?;
    if auth.branch_id == auth.default_branch_id {
        return Err(ApiError::validation("Pulling a table is possible only into a development branch; this request addresses the default branch."));
    }
    let spec = jobs::JobSpec {
        operation_name: "devBranchTablePull",
        operation_params: json!({"sourceBranchId": auth.default_branch_id, "targetBranchId": auth.branch_id}),
        table_id: Some(id.clone()),
        lock_key: Some(table_lock_key(auth.project_id, auth.branch_id, &id)),
    };
    let target_branch = auth.branch_id;
    jobs::start(&state, &auth, spec, move |st| {
        let t = pull_table(st, &source, target_branch)?;
        table_json(st, &t, &["metadata".into(), "columnMetadata".into()], true)
    })
    .await
}

/// The copy of `source` in `branch_id`, made now. Blocking.
pub fn pull_table(state: &AppState, source: &Table, branch_id: i64) -> ApiResult<Table> {
    let scope = Scope::new(source.project_id, branch_id);
    let bucket = ensure_bucket(state, source, scope)?;
    if let Some(old) = state.meta.table(scope, &source.id)? {
        drop_table_everywhere(state, &old)?;
    }
    let copy = Table { branch_id, ..source.clone() };
    state.tables.copy_table(&source.location(), &copy.location())?;
    if let Err(e) = state.meta.insert_table(&copy).map_err(ApiError::from).and_then(|r| {
        r.map_err(|_| ApiError::internal("the pulled table's record appeared meanwhile"))
    }) {
        let _ = state.tables.drop_table(&copy.location());
        return Err(e);
    }
    let (table_items, column_items) = copy::metadata_of(state, source)?;
    copy::restore_metadata(state, scope, &copy.id, &table_items, &column_items)?;
    buckets::touch(state, &bucket)?;
    Ok(state.meta.table(scope, &copy.id)?.unwrap_or(copy))
}

/// The bucket of `source` in the target branch, copied from the default branch when missing.
fn ensure_bucket(state: &AppState, source: &Table, scope: Scope) -> ApiResult<Bucket> {
    if let Some(b) = state.meta.bucket(scope, &source.bucket_id)? {
        return Ok(b);
    }
    let original = buckets::load_bucket(state, source.project_id, source.branch_id, &source.bucket_id)?;
    let now = now_iso();
    let b = Bucket { branch_id: scope.branch.get(), created: now.clone(), last_change_date: Some(now), ..original };
    match state.meta.insert_bucket(&b)? {
        Ok(()) => Ok(b),
        Err(BucketConflict::Id) => buckets::load_bucket(state, b.project_id, b.branch_id, &b.id),
        Err(BucketConflict::DisplayName) => Err(ApiError::validation(format!(
            "The bucket \"{}\" cannot be created in the branch: another bucket there has the display name \"{}\".",
            b.id, b.display_name
        ))),
    }
}
