//! The SQLdep analyzer's JSON (kbstack's own design: Keboola published no spec for it).
use serde::Serialize;

/// A line and column, both from 1, in the whole script.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SqlError {
    pub message: String,
    pub line: u64,
    pub column: u64,
}

/// A table a statement reads or writes, with the columns it names there (sorted; may be empty
/// when none is named or they cannot be told apart).
#[derive(Debug, Clone, Serialize)]
pub struct TableUse {
    pub table: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementAnalysis {
    pub index: usize,
    /// `SELECT`, `INSERT`, `CREATE TABLE`, … (`OTHER` for the rest; `INVALID` when it does not parse).
    #[serde(rename = "type")]
    pub kind: String,
    pub sql: String,
    pub start: Option<Position>,
    pub end: Option<Position>,
    pub valid: bool,
    pub error: Option<SqlError>,
    pub reads: Vec<TableUse>,
    pub writes: Vec<TableUse>,
    /// Unqualified columns of a statement reading several tables.
    pub unresolved_columns: Vec<String>,
    /// Common table expressions the statement defines (not tables).
    pub ctes: Vec<String>,
}

impl StatementAnalysis {
    pub fn failed(index: usize, sql: String, start: Option<Position>, end: Option<Position>, error: SqlError) -> Self {
        StatementAnalysis {
            index,
            kind: "INVALID".into(),
            sql,
            start,
            end,
            valid: false,
            error: Some(error),
            reads: Vec::new(),
            writes: Vec::new(),
            unresolved_columns: Vec::new(),
            ctes: Vec::new(),
        }
    }
}

/// An error with the statement it is in (the list clients show).
#[derive(Debug, Clone, Serialize)]
pub struct ScriptError {
    pub statement: usize,
    pub message: String,
    pub line: u64,
    pub column: u64,
}

/// `POST /sqldep-analyzer/v1/analyze`.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub dialect: String,
    pub valid: bool,
    pub statements: Vec<StatementAnalysis>,
    pub errors: Vec<ScriptError>,
    /// Tables the script reads that it did not write before (its dependencies), in order.
    pub inputs: Vec<String>,
    /// Tables the script writes, in order.
    pub outputs: Vec<String>,
}

impl Analysis {
    pub fn of(dialect: &str, statements: Vec<StatementAnalysis>) -> Analysis {
        let errors: Vec<ScriptError> = statements
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| ScriptError { statement: s.index, message: e.message.clone(), line: e.line, column: e.column }))
            .collect();
        let mut inputs: Vec<String> = Vec::new();
        let mut outputs: Vec<String> = Vec::new();
        let has = |list: &[String], t: &str| list.iter().any(|x| x.eq_ignore_ascii_case(t));
        for s in &statements {
            for r in &s.reads {
                if !has(&outputs, &r.table) && !has(&inputs, &r.table) {
                    inputs.push(r.table.clone());
                }
            }
            // A dropped table (a script's temporary one, usually) is not an output.
            for w in s.writes.iter().filter(|_| s.kind != "DROP") {
                if !has(&outputs, &w.table) {
                    outputs.push(w.table.clone());
                }
            }
        }
        Analysis { dialect: dialect.to_ascii_lowercase(), valid: errors.is_empty(), statements, errors, inputs, outputs }
    }
}

/// `POST /sqldep-analyzer/v1/validate`.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub dialect: String,
    pub valid: bool,
    pub statements: usize,
    pub errors: Vec<ScriptError>,
}
