//! The shapes of the dashboard's answers: a whole body with the headers every
//! answer carries (`no-store`, `nosniff`), JSON, a JSON error. The body type
//! is boxed so a route can also answer a stream ([`super::publish::events`]).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

/// The body of every dashboard answer.
pub(super) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A whole body of `content_type`.
pub(super) fn full(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .body(Full::new(body.into()).boxed_unsync())
        .expect("static response parts are valid")
}

/// A JSON body.
pub(super) fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    full(status, "application/json", v.to_string())
}

/// `{"error": message}`.
pub(super) fn error_response(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    json_response(status, &json!({ "error": message.into() }))
}
