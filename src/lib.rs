//! kbstack: a self-hostable, wire-compatible Keboola Connection stack.
//!
//! Layout: `http` holds the conventions every service shares; `storage` is the Storage API
//! (handlers per resource, domain logic beside them); `backend` is table data behind the
//! `TableBackend` trait (DuckDB now); `blob` is file storage with its Azure-Blob-compatible
//! endpoint; `meta` is the metadata store (SQLite now); `encryption` makes and opens the
//! `KBC::…Secure::` ciphers of `#` values (Encryption API, Storage's saves, the runner);
//! `sync_actions` runs components' synchronous actions through the runner; `sql_dialect` turns
//! Snowflake SQL into DuckDB statements (the runner's Snowflake transformations, queries);
//! `vault` keeps the project variables the runner puts in place of `{{ vault.KEY }}`; `oauth`
//! keeps components' OAuth apps and projects' authorized credentials, put into jobs' configs.
pub mod ai;
pub mod app;
pub mod billing;
// The layers below the services, under the names the services know them by.
pub use kbstack_http as http;
pub use kbstack_store::{backend, meta, secrets, workspace};
pub mod blob;
pub mod config;
pub mod data_science;
pub mod developer;
pub mod editor;
pub mod gooddata_provisioning;
pub mod encryption;
pub mod graph;
pub mod import;
pub mod json_parser;
pub mod manage;
pub mod metastore;
pub mod net;
pub mod node;
pub mod query;
pub mod queue;
pub mod runner;
pub mod notification;
pub mod scheduler;
pub mod stream;
pub mod sql_dialect;
pub mod sqldep;
pub mod storage;
pub mod sync_actions;
pub mod syrup;
pub mod templates;
pub mod oauth;
pub mod orchestrator;
pub mod vault;
pub mod transfer;
