//! The JSON Parser's JSON answers (kbstack's own design: Keboola published no spec for it).
use serde::Serialize;

/// A parsed table as `output=json` answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParsedTable {
    pub name: String,
    pub columns: Vec<String>,
    pub rows_count: usize,
    pub rows: Vec<Vec<String>>,
}

/// A table written to Storage Files (`output=files`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenFile {
    /// The Storage file id (`GET /v2/storage/files/{id}`).
    pub id: i64,
    /// The file name: the table name with `.csv`.
    pub name: String,
    pub table: String,
    pub columns: Vec<String>,
    pub rows_count: usize,
    pub size_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct ParsedTables {
    pub tables: Vec<ParsedTable>,
}

#[derive(Debug, Serialize)]
pub struct WrittenFiles {
    pub files: Vec<WrittenFile>,
}
