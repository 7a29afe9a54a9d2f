//! `Query<T>`: a typed query string read the way PHP reads it.
//!
//! axum's `Query` refuses a repeated key (`?include=a&include=b`) with a plain-text 400; PHP
//! keeps the last value, and the Keboola clients sometimes repeat keys. This extractor parses
//! with the same bracket rules as `Params`, keeps a repeated key as a list where `T` takes a
//! list, and otherwise lets the last value win; a query `T` cannot take is a 400 in the envelope.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::params::Params;

#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Params::from_query(parts.uri.query()).and_then(|p| typed(p.values)).map(Query)
    }
}

/// The parameters as `T`: as parsed first (lists stay lists), then with each repeated scalar
/// key reduced to its last value.
pub fn typed<T: DeserializeOwned>(values: Map<String, Value>) -> Result<T, ApiError> {
    let first_error = match serde_json::from_value(Value::Object(values.clone())) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let last_wins: Map<String, Value> = values
        .into_iter()
        .map(|(k, v)| match v {
            Value::Array(mut items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
                (k, items.pop().unwrap_or(Value::Null))
            }
            v => (k, v),
        })
        .collect();
    serde_json::from_value(Value::Object(last_wins))
        .map_err(|_| ApiError::validation(format!("Invalid request: the query string cannot be read ({first_error}).")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct One {
        include: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct Many {
        ids: Vec<String>,
    }

    fn parse<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
        typed(Params::from_query(Some(q)).unwrap().values)
    }

    #[test]
    fn a_repeated_scalar_key_keeps_the_last_value() {
        assert_eq!(parse::<One>("include=a&include=b").unwrap().include.as_deref(), Some("b"));
        assert_eq!(parse::<One>("include=a").unwrap().include.as_deref(), Some("a"));
        assert_eq!(parse::<One>("include[]=a&include[]=c").unwrap().include.as_deref(), Some("c"));
        assert!(parse::<One>("").unwrap().include.is_none());
    }

    #[test]
    fn a_repeated_list_key_stays_a_list() {
        assert_eq!(parse::<Many>("ids=a&ids=b").unwrap().ids, vec!["a", "b"]);
        assert_eq!(parse::<Many>("ids[]=a&ids[]=b").unwrap().ids, vec!["a", "b"]);
    }

    #[test]
    fn a_query_that_does_not_fit_is_a_validation_error() {
        assert_eq!(parse::<One>("include[x][y]=1").err().unwrap().code, crate::Code::ValidationFailed);
    }
}
