//! What the Queue reads from and writes to stored configurations: the configuration with its
//! rows and its version (through `storage::configurations`), and the state a run leaves behind
//! (through `QueueJobStore`, without a new version, as the state endpoint does).
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::ApiResult;
use crate::storage::configurations;

#[derive(Debug, Clone)]
pub struct StoredConfig {
    pub id: String,
    pub body: Value,
}

impl StoredConfig {
    pub fn is_disabled(&self) -> bool {
        truthy(&self.body["isDisabled"])
    }

    /// The `configuration` node (parameters, storage, runtime, processors…).
    pub fn configuration(&self) -> Value {
        match &self.body["configuration"] {
            Value::Object(o) => Value::Object(o.clone()),
            _ => json!({}),
        }
    }

    pub fn version(&self) -> Option<String> {
        match &self.body["version"] {
            Value::Null => None,
            v => crate::http::params::scalar_to_string(v),
        }
    }

    pub fn rows(&self) -> Vec<Value> {
        self.body["rows"].as_array().cloned().unwrap_or_default()
    }

    pub fn row(&self, id: &str) -> Option<Value> {
        self.rows().into_iter().find(|r| r["id"].as_str() == Some(id) || r["id"].to_string() == id)
    }

    pub fn state(&self) -> Value {
        self.body["state"].clone()
    }
}

pub fn truthy(v: &Value) -> bool {
    crate::http::params::parse_bool(v).unwrap_or(false)
}

/// A configuration that exists and is not in the trash.
pub fn load(state: &AppState, project_id: i64, branch_id: i64, component: &str, id: &str) -> ApiResult<Option<StoredConfig>> {
    let body = configurations::find_active(state, project_id, branch_id, component, id)?;
    Ok(body.map(|body| StoredConfig { id: id.to_string(), body }))
}

/// Store a run's state on the configuration (or on one of its rows) without a new version.
pub fn store_state(
    state: &AppState,
    project_id: i64,
    branch_id: i64,
    component: &str,
    id: &str,
    row_id: Option<&str>,
    new_state: Value,
) -> ApiResult<bool> {
    configurations::store_run_state(state, project_id, branch_id, component, id, row_id, new_state)
}
