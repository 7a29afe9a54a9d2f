//! The file object (`files`, `files/{id}`, `files/prepare`; upload and download parameters are
//! added beside it by the handlers): field names, types and order as Keboola sends them
//! (notes: storage-api.md §9).
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct File {
    pub id: i64,
    pub created: String,
    pub is_public: bool,
    pub is_sliced: bool,
    pub is_encrypted: bool,
    pub is_permanent: bool,
    pub name: String,
    /// `csv` for CSV data (plain or gzipped), otherwise `file`.
    pub file_type: String,
    pub url: String,
    pub provider: String,
    pub region: String,
    pub size_bytes: Option<i64>,
    pub tags: Vec<String>,
    /// Days until an unpermanent file expires; null for permanent files.
    pub max_age_days: Option<i64>,
    pub run_id: Option<String>,
    pub run_ids: Vec<String>,
    pub creator_token: CreatorToken,
}

#[derive(Debug, Serialize)]
pub struct CreatorToken {
    pub id: i64,
    pub description: String,
}
