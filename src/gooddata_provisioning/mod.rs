//! GoodData Provisioning (legacy index id `gooddata-provisioning`; notes: services.md §25): it
//! managed GoodData projects, users and tokens for the GoodData Writer. GoodData retired the
//! platform it provisioned (and Keboola the writer), so there is nothing left to provision:
//! every route, with any method, answers a 410 Gone in the PHP services' envelope that says so.
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::http::routes::any;
use crate::http::{ApiError, Code, Routes};

pub const RETIRED: &str = "GoodData Provisioning has been retired: GoodData discontinued the product it provisioned \
     (GoodData projects, users and tokens for the GoodData Writer), so this stack does not provide it. \
     Load data into a BI tool through a writer component or read it through the Query API instead.";

pub fn routes() -> Routes<AppState> {
    Routes::new().route("/gooddata-provisioning", any(retired)).route("/gooddata-provisioning/{*rest}", any(retired))
}

pub fn retired_response() -> Response {
    crate::http::error::service_error_response(ApiError::new(Code::ServiceRetired, RETIRED), "gooddata-provisioning-", |body| {
        body["message"] = body["error"].clone()
    })
}

async fn retired() -> Response {
    retired_response().into_response()
}
