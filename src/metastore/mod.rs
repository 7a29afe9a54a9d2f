//! The Metastore, served at `/metastore` (host `metastore.<suffix>`; `api`, notes: services.md
//! §18): the semantic layer repository keboola-cli (`kbagent semantic-layer`) and the MCP
//! server's semantic tools call. Typed JSON objects (`semantic-model`, `semantic-dataset`, …) of
//! a project, each update a new revision, visible to the owning project, to its organization
//! (scope `organization`) or to listed projects (scope `targeted`). Objects are kept by
//! `MetastoreStore` (`meta::metastore`); the JSON schemas served are in `schemas`.
pub mod api;
pub mod filter;
pub mod schemas;
pub mod wire;

use serde_json::{Map, Value};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::metastore::MetaObject;
use crate::storage::auth::Auth;

pub const SCOPES: [&str; 3] = ["project", "organization", "targeted"];

/// What a create asked for (the `{name, data, branch, scope, targetProjectIds, schemaVersion}`
/// envelope).
#[derive(Debug, Clone, Default)]
pub struct NewObject {
    pub name: Option<String>,
    pub data: Value,
    pub branch: Option<String>,
    pub scope: Option<String>,
    pub target_project_ids: Option<Vec<i64>>,
    pub schema_version: Option<String>,
}

fn not_found(object_type: &str, id: &str) -> ApiError {
    ApiError::new(Code::MetastoreNotFound, format!("Object \"{id}\" of type \"{object_type}\" not found"))
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::MetastoreBadRequest, message)
}

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::MetastoreInvalidPayload, message)
}

/// Timestamps to the millisecond: listings are ordered by creation.
fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A type the metastore serves; 404 for any other.
pub fn known_type(object_type: &str) -> ApiResult<()> {
    if schemas::TYPES.contains(&object_type) {
        Ok(())
    } else {
        Err(ApiError::new(Code::MetastoreNotFound, format!("Unknown object type \"{object_type}\"")))
    }
}

/// Writes need a project admin token (the metastore's project-admin gate); reads any token.
fn require_admin(auth: &Auth) -> ApiResult<()> {
    if auth.is_admin() {
        Ok(())
    } else {
        Err(ApiError::denied("Only a project admin token can change metastore objects"))
    }
}

/// Whether the caller's project sees the object: its own, its organization's, or targeted at it.
fn visible(o: &MetaObject, project_id: i64, organization_id: i64) -> bool {
    o.project_id == project_id
        || (o.organization_id == organization_id && o.scope == "organization")
        || (o.scope == "targeted" && o.target_project_ids.contains(&project_id))
}

/// The object as the caller may read it; 404 when it is none of its business.
pub fn get(state: &AppState, auth: &Auth, object_type: &str, id: &str) -> ApiResult<MetaObject> {
    known_type(object_type)?;
    let org = crate::manage::organization_of(state, auth.project_id)?;
    match state.meta.meta_object(object_type, id)? {
        Some(o) if visible(&o, auth.project_id, org) => Ok(o),
        _ => Err(not_found(object_type, id)),
    }
}

/// The object as its owner changes it: 404 when invisible, 403 when another project's.
fn owned(state: &AppState, auth: &Auth, object_type: &str, id: &str) -> ApiResult<MetaObject> {
    require_admin(auth)?;
    let o = get(state, auth, object_type, id)?;
    if o.project_id != auth.project_id {
        return Err(ApiError::denied(format!("Object \"{id}\" belongs to another project")));
    }
    Ok(o)
}

fn check_data(object_type: &str, version: &str, data: &Value) -> ApiResult<()> {
    let Value::Object(map) = data else {
        return Err(invalid("Validation failed: data must be an object"));
    };
    schemas::validate(object_type, version, map).map_err(|errors| {
        invalid(format!("Validation failed: {}", errors.join("; ")))
            .with_context(serde_json::json!({"errors": errors.iter().map(|e| serde_json::json!({"message": e})).collect::<Vec<_>>()}))
    })
}

fn conflict(o: &MetaObject) -> ApiError {
    let where_ = if o.scope == "organization" { "in organization scope" } else { "in this project" };
    ApiError::new(Code::MetastoreConflict, format!("Object with this name already exists {where_}"))
}

fn save(state: &AppState, o: MetaObject) -> ApiResult<MetaObject> {
    match state.meta.save_meta_object(&o)? {
        Ok(()) => Ok(o),
        Err(_) => Err(conflict(&o)),
    }
}

/// `POST /repository/{type}`: a new object at revision 1.
pub fn create(state: &AppState, auth: &Auth, object_type: &str, new: NewObject) -> ApiResult<MetaObject> {
    known_type(object_type)?;
    require_admin(auth)?;
    let scope = new.scope.unwrap_or_else(|| "project".into());
    if !SCOPES.contains(&scope.as_str()) {
        return Err(invalid(format!("Validation failed: scope must be one of project, organization, targeted, got \"{scope}\"")));
    }
    if new.target_project_ids.is_some() && scope != "targeted" {
        return Err(bad_request("targetProjectIds is only valid with scope \"targeted\""));
    }
    let version = new.schema_version.filter(|v| !v.is_empty()).unwrap_or_else(|| schemas::DEFAULT_VERSION.to_string());
    if !schemas::VERSIONS.contains(&version.as_str()) {
        return Err(invalid(format!("Validation failed: unknown schema version \"{version}\" of \"{object_type}\"")));
    }
    check_data(object_type, &version, &new.data)?;
    let name = new.name.or_else(|| new.data.get("name").and_then(Value::as_str).map(str::to_string)).unwrap_or_default();
    if name.trim().is_empty() {
        return Err(invalid("Validation failed: name must not be blank"));
    }
    let at = now();
    let o = MetaObject {
        object_type: object_type.to_string(),
        id: uuid::Uuid::new_v4().to_string(),
        project_id: auth.project_id,
        organization_id: crate::manage::organization_of(state, auth.project_id)?,
        name,
        branch: new.branch.filter(|b| !b.is_empty()).unwrap_or_else(|| "main".into()),
        scope,
        target_project_ids: new.target_project_ids.unwrap_or_default(),
        schema_version: version,
        revision: 1,
        data: new.data,
        created_at: at.clone(),
        last_updated: at,
        scope_elevation_requested_at: None,
    };
    match state.meta.insert_meta_object(&o)? {
        Ok(()) => Ok(o),
        Err(_) => Err(conflict(&o)),
    }
}

/// `PUT /repository/{type}/{id}` (`name` and `data` replaced) and `PATCH` with `name`/`data`
/// (`data` merged as a JSON merge patch): a new revision. Scope and grants stay.
pub fn update(state: &AppState, auth: &Auth, object_type: &str, id: &str, name: Option<String>, data: Option<Value>, merge: bool) -> ApiResult<MetaObject> {
    let mut o = owned(state, auth, object_type, id)?;
    if let Some(name) = name {
        if name.trim().is_empty() {
            return Err(invalid("Validation failed: name must not be blank"));
        }
        o.name = name;
    }
    if let Some(data) = data {
        o.data = if merge { merge_patch(o.data, data) } else { data };
        check_data(object_type, &o.schema_version, &o.data)?;
    }
    o.revision += 1;
    o.last_updated = now();
    save(state, o)
}

/// RFC 7396: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: Value, patch: Value) -> Value {
    match (target, patch) {
        (Value::Object(mut t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    let old = t.remove(&k).unwrap_or(Value::Null);
                    t.insert(k, merge_patch(old, v));
                }
            }
            Value::Object(t)
        }
        (_, p) => p,
    }
}

/// `PATCH /repository/{type}/{id}` with `{"scope": "organization"}` alone: a one-way step up.
pub fn elevate(state: &AppState, auth: &Auth, object_type: &str, id: &str, body: &Map<String, Value>) -> ApiResult<MetaObject> {
    if body.len() != 1 {
        return Err(bad_request("A scope change cannot be combined with other changes"));
    }
    match body.get("scope").and_then(Value::as_str) {
        Some("organization") => {}
        Some(other) => return Err(bad_request(format!("The scope can only be changed to \"organization\", not \"{other}\""))),
        None => return Err(invalid("Validation failed: scope must be a string")),
    }
    let mut o = owned(state, auth, object_type, id)?;
    if o.scope != "organization" {
        o.scope = "organization".into();
        o.target_project_ids.clear();
        o.scope_elevation_requested_at = None;
        o.last_updated = now();
        o = save(state, o)?;
    }
    Ok(o)
}

/// `PUT /repository/{type}/{id}/target-projects`: the whole grant set of a targeted object.
pub fn set_targets(state: &AppState, auth: &Auth, object_type: &str, id: &str, targets: Vec<i64>) -> ApiResult<()> {
    let mut o = owned(state, auth, object_type, id)?;
    if o.scope != "targeted" {
        return Err(bad_request(format!("Target projects can only be set on an object of scope \"targeted\", this one is \"{}\"", o.scope)));
    }
    let mut unique = Vec::new();
    for t in targets {
        if !unique.contains(&t) {
            unique.push(t);
        }
    }
    o.target_project_ids = unique;
    o.last_updated = now();
    save(state, o).map(|_| ())
}

/// `PUT|DELETE /repository/{type}/{id}/scope-elevation-request`: flag (or unflag) a project
/// object for an organization admin's decision. Idempotent.
pub fn request_elevation(state: &AppState, auth: &Auth, object_type: &str, id: &str, on: bool) -> ApiResult<MetaObject> {
    let mut o = owned(state, auth, object_type, id)?;
    if on && o.scope == "organization" {
        return Err(bad_request("The object is in organization scope already"));
    }
    o.scope_elevation_requested_at = if on { Some(now()) } else { None };
    save(state, o)
}

pub fn delete(state: &AppState, auth: &Auth, object_type: &str, id: &str) -> ApiResult<()> {
    owned(state, auth, object_type, id)?;
    state.meta.delete_meta_object(object_type, id)?;
    Ok(())
}

/// `GET /repository/{type}`: what the project sees (its own, its organization's, targeted at it).
pub fn list(state: &AppState, auth: &Auth, object_type: &str) -> ApiResult<Vec<MetaObject>> {
    known_type(object_type)?;
    let org = crate::manage::organization_of(state, auth.project_id)?;
    Ok(state.meta.meta_objects(object_type, auth.project_id, org)?.into_iter().filter(|o| visible(o, auth.project_id, org)).collect())
}

/// `GET /repository/{type}/organization`: the organization's objects of scope `organization`,
/// and, for a project admin (who reviews them), project objects awaiting a step up.
pub fn list_organization(state: &AppState, auth: &Auth, object_type: &str) -> ApiResult<Vec<MetaObject>> {
    known_type(object_type)?;
    let org = crate::manage::organization_of(state, auth.project_id)?;
    let admin = auth.is_admin();
    Ok(state
        .meta
        .meta_objects(object_type, auth.project_id, org)?
        .into_iter()
        .filter(|o| o.organization_id == org)
        .filter(|o| o.scope == "organization" || (admin && o.scope_elevation_requested_at.is_some()))
        .collect())
}

/// `GET /repository/{type}/revisions`: every revision of the project's objects of the type.
pub fn revisions(state: &AppState, auth: &Auth, object_type: &str) -> ApiResult<Vec<MetaObject>> {
    known_type(object_type)?;
    Ok(state.meta.meta_object_revisions(object_type, auth.project_id)?)
}

/// `GET /repository/{type}/{id}/revisions`: one object's revisions, oldest first.
pub fn object_revisions(state: &AppState, auth: &Auth, object_type: &str, id: &str) -> ApiResult<Vec<MetaObject>> {
    let o = get(state, auth, object_type, id)?;
    Ok(state.meta.meta_object_revisions(object_type, o.project_id)?.into_iter().filter(|r| r.id == id).collect())
}

pub fn revision(state: &AppState, auth: &Auth, object_type: &str, id: &str, revision: i64) -> ApiResult<MetaObject> {
    get(state, auth, object_type, id)?;
    state
        .meta
        .meta_object_revision(object_type, id, revision)?
        .ok_or_else(|| ApiError::new(Code::MetastoreNotFound, format!("Revision {revision} of object \"{id}\" not found")))
}

/// `DELETE /repository/{type}/{id}/revisions/{revision}`: a past revision (the current one stays).
pub fn delete_revision(state: &AppState, auth: &Auth, object_type: &str, id: &str, revision: i64) -> ApiResult<()> {
    let o = owned(state, auth, object_type, id)?;
    if revision == o.revision {
        return Err(bad_request("The current revision cannot be deleted; delete the object instead"));
    }
    if state.meta.delete_meta_object_revision(object_type, id, revision)? {
        Ok(())
    } else {
        Err(ApiError::new(Code::MetastoreNotFound, format!("Revision {revision} of object \"{id}\" not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_merges_objects_and_removes_nulls() {
        let merged = merge_patch(json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}), json!({"b": {"c": null, "x": 4}, "e": [2], "f": "g"}));
        assert_eq!(merged, json!({"a": 1, "b": {"d": 3, "x": 4}, "e": [2], "f": "g"}));
    }
}
