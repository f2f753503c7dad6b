//! Watson's error envelope: `{"error": "...", "code": N}` (plus `errors` for 400 bodies).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::schema::FieldError;

/// An API error answered in Watson's envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            errors: Vec::new(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn invalid_body(errors: Vec<FieldError>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: "Invalid Request Body".into(),
            errors,
        }
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Resource not found")
    }
    pub fn invalid_session() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Invalid Session")
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }
    pub fn webhook(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    pub fn internal(what: &str, e: &dyn std::error::Error) -> Self {
        tracing::error!(error = %e, source = ?e.source().map(|s| s.to_string()), "{what}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.errors.is_empty() {
            json!({"error": self.message, "code": self.status.as_u16()})
        } else {
            json!({"error": self.message, "code": self.status.as_u16(), "errors": self.errors})
        };
        (self.status, Json(body)).into_response()
    }
}
