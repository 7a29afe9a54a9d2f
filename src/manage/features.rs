//! The stack's feature catalogue (`/manage/features…`): `project` and `admin` features that
//! projects and users may have; super admins change it.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::auth::{ManageAuth, SuperAdmin};
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Params, Query, now_iso};
use serde::Deserialize;

use super::not_found;
use super::wire::{FeatureJson, ProjectRef};
use crate::meta::project_admin::Feature;

pub(super) fn feature_json(f: &Feature) -> FeatureJson {
    FeatureJson {
        id: f.id,
        name: f.name.clone(),
        kind: f.kind.clone(),
        title: f.title.clone(),
        description: f.description.clone(),
        can_be_manage_by_admin: f.can_be_managed_by_admin,
        can_be_managed_via_api: f.can_be_managed_via_api,
        created: f.created.clone(),
    }
}

pub(super) fn feature_of(state: &AppState, raw: &str) -> ApiResult<Feature> {
    let found = match raw.parse::<i64>() {
        Ok(id) => state.meta.feature(id)?,
        Err(_) => state.meta.feature_by_name(raw)?,
    };
    found.ok_or_else(|| not_found("Feature", raw))
}

#[derive(Deserialize)]
pub(super) struct FeatureFilter {
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub(super) async fn list_features(State(state): State<AppState>, _auth: ManageAuth, Query(q): Query<FeatureFilter>) -> ApiResult<Json<Vec<FeatureJson>>> {
    if let Some(k) = q.kind.as_deref().filter(|k| !matches!(*k, "project" | "admin")) {
        return Err(ApiError::validation(format!("Invalid feature type \"{k}\". Allowed: project, admin.")));
    }
    Ok(Json(state.meta.features(q.kind.as_deref())?.iter().map(feature_json).collect()))
}

pub(super) async fn create_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, p: Params) -> ApiResult<(StatusCode, Json<FeatureJson>)> {
    let name = p.str("name").map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).ok_or_else(|| ApiError::validation("name must be set."))?;
    let kind = p.str("type").unwrap_or_default();
    if !matches!(kind.as_str(), "project" | "admin") {
        return Err(ApiError::validation(format!("Invalid feature type \"{kind}\". Allowed: project, admin.")));
    }
    let mut f = Feature {
        id: 0,
        name: name.clone(),
        kind,
        title: p.str("title").unwrap_or_else(|| name.clone()),
        description: p.str("description").unwrap_or_default(),
        can_be_managed_by_admin: p.bool("canBeManageByAdmin")?.unwrap_or(false),
        can_be_managed_via_api: p.bool("canBeManagedViaAPI")?.unwrap_or(true),
        created: now_iso(),
    };
    f.id = state.meta.insert_feature(&f)?.map_err(|_| ApiError::validation(format!("Feature \"{name}\" already exists.")))?;
    Ok((StatusCode::CREATED, Json(feature_json(&f))))
}

pub(super) async fn feature_detail(State(state): State<AppState>, _auth: ManageAuth, Path(id): Path<String>) -> ApiResult<Json<FeatureJson>> {
    Ok(Json(feature_json(&feature_of(&state, &id)?)))
}

pub(super) async fn update_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(id): Path<String>, p: Params) -> ApiResult<Json<FeatureJson>> {
    let mut f = feature_of(&state, &id)?;
    if let Some(t) = p.str("title") {
        f.title = t;
    }
    if let Some(d) = p.str("description") {
        f.description = d;
    }
    if let Some(v) = p.bool("canBeManageByAdmin")? {
        f.can_be_managed_by_admin = v;
    }
    if let Some(v) = p.bool("canBeManagedViaAPI")? {
        f.can_be_managed_via_api = v;
    }
    state.meta.update_feature(&f)?;
    Ok(Json(feature_json(&f)))
}

pub(super) async fn delete_feature(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let f = feature_of(&state, &id)?;
    state.meta.delete_feature(f.id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn feature_projects(State(state): State<AppState>, SuperAdmin(_): SuperAdmin, Path(id): Path<String>) -> ApiResult<Json<Vec<ProjectRef>>> {
    let f = feature_of(&state, &id)?;
    let list = state.meta.project_list(None, false)?;
    Ok(Json(
        list.into_iter().filter(|p| p.features.contains(&f.name)).map(|p| ProjectRef { id: p.id, name: p.name, created: p.created }).collect(),
    ))
}

