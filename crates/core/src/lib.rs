//! kbstack's core: what every layer shares and no layer below it may know about (no storage
//! engine, no web framework): typed ids and the project+branch scope, the error with its Keboola
//! code table, Keboola's timestamps, the Queue's job states.
pub mod error;
pub mod ids;
pub mod queue;
pub mod time;

pub use error::{Code, Error, Result};
pub use ids::Scope;
pub use queue::QueueJobStatus;
