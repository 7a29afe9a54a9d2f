//! What the Queue reads from and writes to stored configurations (`configurations.body`, the
//! wire-shape document kept by `storage::configurations`): the configuration with its rows, its
//! version, and the state a run leaves behind (written without a new version, as the state
//! endpoint does).
use rusqlite::OptionalExtension;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::ApiResult;
use crate::meta::json_col;

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
    let body = state.meta.with(|c| {
        c.query_row(
            "SELECT body FROM configurations WHERE project_id = ?1 AND branch_id = ?2 AND component_id = ?3 AND id = ?4 AND is_deleted = 0",
            rusqlite::params![project_id, branch_id, component, id],
            |r| Ok(json_col(r.get(0)?)),
        )
        .optional()
    })?;
    Ok(body.filter(|b| !truthy(&b["isDeleted"])).map(|body| StoredConfig { id: id.to_string(), body }))
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
    state.meta.tx(|tx| {
        let body: Option<String> = tx
            .query_row(
                "SELECT body FROM configurations WHERE project_id = ?1 AND branch_id = ?2 AND component_id = ?3 AND id = ?4 AND is_deleted = 0",
                rusqlite::params![project_id, branch_id, component, id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(mut body) = body.and_then(|b| serde_json::from_str::<Value>(&b).ok()) else { return Ok(false) };
        match row_id {
            None => body["state"] = new_state,
            Some(row) => {
                let Some(rows) = body["rows"].as_array_mut() else { return Ok(false) };
                let Some(r) = rows.iter_mut().find(|r| r["id"].as_str() == Some(row)) else { return Ok(false) };
                r["state"] = new_state;
            }
        }
        tx.execute(
            "UPDATE configurations SET body = ?1 WHERE project_id = ?2 AND branch_id = ?3 AND component_id = ?4 AND id = ?5",
            rusqlite::params![body.to_string(), project_id, branch_id, component, id],
        )?;
        Ok(true)
    })
}
