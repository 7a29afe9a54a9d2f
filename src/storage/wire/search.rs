//! The `GET global-search` response: `{all, items, byType, byProject}` (APIB "Global search";
//! keboola-mcp-server's `GlobalSearchResponse` reads `id` as a string and needs `projectName`).
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalSearch {
    /// Every hit, before `limit`/`offset`.
    pub all: usize,
    pub items: Vec<SearchItem>,
    /// `{"total": n, "<type>": n, …}` over every hit.
    pub by_type: BTreeMap<String, usize>,
    /// `{"<project id>": "<project name>"}` of the projects with hits.
    pub by_project: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchItem {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// `{project, branch, …}`: the bucket of a table, the component of a configuration, the
    /// component and configuration of a row.
    pub full_path: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    pub organization_id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub created: String,
}
