//! Wire shapes of the Sync Actions service.
use serde::Serialize;

/// `GET /actions?componentId=`: the component's declared actions.
#[derive(Debug, Serialize)]
pub struct ActionList {
    pub actions: Vec<String>,
}

/// A component that ran and failed, in Keboola's shape for sync actions (developers-docs
/// `extend/common-interface/actions.md`): exit 1 is a "User error" (400) with the component's
/// output as `message`; exit ≥ 2 an "Application error" (500) with a generic message, the detail
/// staying in the server's log under `exceptionId`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentError {
    pub status: &'static str,
    pub error: &'static str,
    pub code: u16,
    pub message: String,
    pub exception_id: String,
    pub run_id: i64,
}

/// What Keboola tells the caller of an application error.
pub const APPLICATION_ERROR_MESSAGE: &str = "Contact support@keboola.com and attach this exception id.";

impl ComponentError {
    pub fn user(message: String, exception_id: String) -> ComponentError {
        ComponentError { status: "error", error: "User error", code: 400, message, exception_id, run_id: 0 }
    }

    pub fn application(exception_id: String) -> ComponentError {
        ComponentError {
            status: "error",
            error: "Application error",
            code: 500,
            message: APPLICATION_ERROR_MESSAGE.into(),
            exception_id,
            run_id: 0,
        }
    }
}
