//! The platform's error answer: `{"status_code", "error", "error_code", "details"}`, with
//! `details` only when there are some.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// An error answer of the API.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    /// What went wrong, for people.
    pub error: String,
    /// Stable machine code, e.g. `validation_failed`.
    pub error_code: &'static str,
    /// More about the error; `Null` is none, and leaves the key out of the body.
    pub details: Value,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        error_code: &'static str,
        error: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            error: error.into(),
            error_code,
            details: Value::Null,
            retry_after: None,
        }
    }

    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub(crate) fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", error)
    }

    pub(crate) fn unauthorized(error: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", error)
    }

    pub(crate) fn forbidden(error: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", error)
    }

    pub(crate) fn not_found(error_code: &'static str, error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error_code, error)
    }

    pub(crate) fn internal(error: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", error)
    }

    pub(crate) fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("rate limit exceeded; retry after {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// Returns the JSON body. `details` is left out when there are none, as the platform's
    /// Go model declares it `omitempty` (never `"details": null`).
    pub(crate) fn body(&self) -> Value {
        let mut body = json!({
            "status_code": self.status.as_u16(),
            "error": self.error,
            "error_code": self.error_code,
        });
        if !self.details.is_null() {
            body["details"] = self.details.clone();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
