//! What a submitted statement runs as. Clients write Snowflake SQL (tokens report
//! `defaultBackend: snowflake`; the MCP server's `query_data` says so to the model), the engine is
//! DuckDB: every statement goes through the Snowflake→DuckDB translator (`sql_dialect`, cached,
//! milliseconds once its worker runs).
use crate::http::{ApiError, ApiResult, Code};
use crate::sql_dialect::{SnowflakeToDuckDb, TranslateError};

/// The DuckDB SQL to run for a submitted statement; `None` when there is nothing to run (a session
/// statement such as `ALTER SESSION` or `USE WAREHOUSE`, which has no DuckDB meaning). An error
/// fails the statement with its message.
///
/// When the translator itself is unavailable (no sqlglot next to the runner's Python) or broke,
/// the statement runs as written: DuckDB accepts much of the common subset, and a Query service
/// that refused everything would be worse. The reason is logged.
pub fn prepare_statement(translator: &SnowflakeToDuckDb, sql: &str) -> ApiResult<Option<String>> {
    match translator.translate(sql) {
        Ok(t) if t.statements.is_empty() => Ok(None),
        Ok(t) => Ok(Some(t.statements.iter().map(|s| s.duckdb.as_str()).collect::<Vec<_>>().join(";\n"))),
        Err(e @ TranslateError::Untranslatable { .. }) => Err(ApiError::new(Code::QuerySyntax, e.to_string())),
        Err(e) => {
            tracing::warn!("query service: running a statement untranslated: {e}");
            Ok(Some(sql.to_string()))
        }
    }
}
