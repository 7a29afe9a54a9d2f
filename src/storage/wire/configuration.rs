//! The configuration object (`components/{c}/configs`, `configs/{id}`, created, updated, restored,
//! state stored): field names, types and order as Keboola sends them. The stored document has this
//! shape; handlers read it into this model before sending it.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::row::Row;
use crate::http::{ApiError, ApiResult};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created: String,
    pub creator_token: CreatorToken,
    pub version: i64,
    pub change_description: String,
    pub is_disabled: bool,
    pub is_deleted: bool,
    /// The component's own JSON (always an object).
    pub configuration: Value,
    /// Row ids in the order the user set; empty: creation order.
    pub rows_sort_order: Vec<String>,
    pub rows: Vec<Row>,
    /// Runtime data of the component (always an object).
    pub state: Value,
    /// Null only while a configuration is being created.
    pub current_version: Option<CurrentVersion>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentVersion {
    pub created: String,
    pub creator_token: CreatorToken,
    pub change_description: String,
    /// ULID-like, 26 characters.
    pub version_identifier: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreatorToken {
    pub id: i64,
    pub description: String,
}

impl Configuration {
    /// The model of a stored configuration document.
    pub fn of(document: Value) -> ApiResult<Configuration> {
        serde_json::from_value(document).map_err(|e| ApiError::internal(format!("stored configuration unreadable: {e}")))
    }
}
