//! The metastore's JSON:API-style object `{type, id, attributes, meta}` (MCP
//! `clients/metastore.py` `MetastoreObject`/`MetaObjectMeta`; keboola-cli reads scope, grants and
//! the elevation request from `meta`), wrapped in `{"data": …}` by the handlers.
use serde::Serialize;
use serde_json::Value;

use crate::meta::metastore::MetaObject;

#[derive(Debug, Serialize)]
pub struct Object {
    #[serde(rename = "type")]
    pub object_type: String,
    pub id: String,
    pub attributes: Value,
    pub meta: Meta,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub branch: String,
    pub name: String,
    pub revision: i64,
    pub schema_version: String,
    pub project_id: i64,
    /// A string, as the real metastore gives it.
    pub organization_id: String,
    pub created_at: String,
    pub last_updated: String,
    pub revision_created_at: String,
    pub scope: String,
    /// Only for scope `targeted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_project_ids: Option<Vec<i64>>,
    /// Only for scope `organization`: the project it was created in or promoted from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_project_id: Option<i64>,
    pub scope_elevation_requested_at: Option<String>,
}

impl Object {
    pub fn of(o: &MetaObject) -> Object {
        Object {
            object_type: o.object_type.clone(),
            id: o.id.clone(),
            attributes: o.data.clone(),
            meta: Meta {
                branch: o.branch.clone(),
                name: o.name.clone(),
                revision: o.revision,
                schema_version: o.schema_version.clone(),
                project_id: o.project_id,
                organization_id: o.organization_id.max(0).to_string(),
                created_at: o.created_at.clone(),
                last_updated: o.last_updated.clone(),
                revision_created_at: o.last_updated.clone(),
                scope: o.scope.clone(),
                target_project_ids: (o.scope == "targeted").then(|| o.target_project_ids.clone()),
                source_project_id: (o.scope == "organization").then_some(o.project_id),
                scope_elevation_requested_at: o.scope_elevation_requested_at.clone(),
            },
        }
    }

    pub fn list(os: &[MetaObject]) -> Vec<Object> {
        os.iter().map(Object::of).collect()
    }
}
