//! The configuration row object (`configs/{c}/rows`, `rows/{r}`, and each of a configuration's
//! `rows`): field names, types and order as Keboola sends them. Rows are stored in this shape
//! inside their configuration's document.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::configuration::CreatorToken;
use crate::http::{ApiError, ApiResult};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub id: String,
    pub configuration: Value,
    pub state: Value,
    pub name: String,
    pub description: String,
    pub is_disabled: bool,
    pub version: i64,
    pub created: String,
    pub creator_token: CreatorToken,
    pub change_description: String,
    pub version_identifier: String,
}

impl Row {
    /// The model of a row as stored in its configuration's document.
    pub fn of(row: Value) -> ApiResult<Row> {
        serde_json::from_value(row).map_err(|e| ApiError::internal(format!("stored configuration row unreadable: {e}")))
    }
}
