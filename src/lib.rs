//! kbstack: a self-hostable, wire-compatible Keboola Connection stack.
//!
//! Layout: `http` holds the conventions every service shares; `storage` is the Storage API
//! (handlers per resource, domain logic beside them); `backend` is table data behind the
//! `TableBackend` trait (DuckDB now); `blob` is file storage with its Azure-Blob-compatible
//! endpoint; `meta` is the metadata store (SQLite now).
pub mod app;
pub mod backend;
pub mod blob;
pub mod config;
pub mod http;
pub mod meta;
pub mod queue;
pub mod runner;
pub mod secrets;
pub mod storage;
