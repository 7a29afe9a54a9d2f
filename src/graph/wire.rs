//! The Graph service's JSON (kbstack's own design: Keboola published no spec for it).
use serde::Serialize;
use serde_json::Value;

fn is_false(b: &bool) -> bool {
    !*b
}

/// A table, a configuration or a flow. `id` is `table:<tableId>` or `config:<componentId>/<configId>`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub id: String,
    /// `table`, `configuration` or `flow`.
    #[serde(rename = "type")]
    pub kind: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_id: Option<String>,
    /// The component's type in the catalog: `extractor`, `transformation`, `writer`, `application`, `flow`, `other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_type: Option<String>,
    /// A configuration's rows (`{id, name, isDisabled}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Value>,
    /// A table: whether it exists in Storage (a mapping may name one not made yet).
    pub exists: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub is_disabled: bool,
    /// The configuration's newest Queue job `{id, status, createdTime}`: it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_job: Option<Value>,
    /// A transformation's SQL as the SQLdep analyzer read it (a list when rows have their own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<Value>,
}

/// Data (or control, for `task`) flowing `from` → `to`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// `input` (input mapping), `output` (output mapping), `sql` (SQL names the table by its
    /// Storage id without a mapping), `task` (a flow runs the configuration).
    #[serde(rename = "type")]
    pub kind: String,
    /// The mapping's columns, else the columns the SQL uses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_id: Option<String>,
}

impl Edge {
    pub fn new(from: &str, to: &str, kind: &str) -> Edge {
        Edge { from: from.into(), to: to.into(), kind: kind.into(), columns: Vec::new(), row_id: None }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    /// The node a focused graph is around (`null` for the whole project).
    pub focus: Option<String>,
    pub direction: Option<String>,
    /// The depth asked for (`null`: any).
    pub depth: Option<u32>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}
