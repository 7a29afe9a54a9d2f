//! kbstack's stores, below every service and above the core: the metadata store (`meta`, SQLite
//! now), table data behind `TableBackend` (`backend`, DuckDB now), blobs on local disk (`blob`),
//! workspaces (`workspace`, a DuckDB file each),
//! the sealing of stored secrets (`secrets`) and full-text indexes (`text_index`, SQLite FTS5). Nothing here knows HTTP.
pub mod backend;
pub mod blob;
pub mod meta;
pub mod reserve;
pub mod s3;
pub mod secrets;
pub mod text_index;
pub mod transform;
pub mod workspace;
