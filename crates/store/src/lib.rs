//! kbstack's stores, below every service and above the core: the metadata store (`meta`, SQLite
//! now), table data behind `TableBackend` (`backend`, DuckDB now), blobs on local disk (`blob`),
//! workspaces (`workspace`, a DuckDB file each),
//! and the sealing of stored secrets (`secrets`). Nothing here knows HTTP.
pub mod backend;
pub mod blob;
pub mod meta;
pub mod reserve;
pub mod secrets;
pub mod transform;
pub mod workspace;
