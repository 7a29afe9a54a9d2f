//! The one place a submitted statement is turned into the SQL the workspace engine runs.
//!
//! Clients send Snowflake SQL (the workspaces report `backend: snowflake`); the workspace
//! engine is DuckDB. The Snowflake→DuckDB translation is built apart and plugs in here; until
//! then statements run as written (DuckDB accepts much of the common subset).
use crate::http::ApiResult;

/// The SQL to run for a submitted statement; an error fails the statement with its message.
pub fn prepare_statement(sql: &str) -> ApiResult<String> {
    Ok(sql.to_string())
}
