//! Typed wire models of the Storage API: serde structs whose JSON is what clients decode, kept
//! apart from the domain records they are built from. Each has a JSON snapshot test
//! (`tests/snapshots/*.json`), so a field never disappears or changes type unnoticed.
pub mod bucket;
pub mod configuration;
pub mod event;
pub mod file;
pub mod job;
pub mod merge_request;
pub mod row;
pub mod search;
pub mod shared_bucket;
pub mod snapshot;
pub mod table;
pub mod token;
pub mod workspace;
