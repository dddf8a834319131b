//! ServiceError as DRF renders it: a field map for validation errors, `{"detail": …}` for the
//! rest, and authentik's status codes (403, never 401, without `WWW-Authenticate`).

use axum::Json;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{RETRY_AFTER_SECONDS, ServiceError};

impl ServiceError {
    fn status(&self) -> StatusCode {
        match self {
            ServiceError::Validation(_) | ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServiceError::NotAuthenticated
            | ServiceError::InvalidToken
            | ServiceError::PermissionDenied => StatusCode::FORBIDDEN,
            ServiceError::NotFound(_) | ServiceError::InvalidPage => StatusCode::NOT_FOUND,
            ServiceError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServiceError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ServiceError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ServiceError::Unavailable | ServiceError::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Internal
            | ServiceError::UniqueViolation
            | ServiceError::ForeignKeyViolation
            | ServiceError::WriteConflict => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status = self.status();
        let transient = self.is_transient();
        let mut response = match self {
            ServiceError::Validation(fields) => (status, Json(fields)).into_response(),
            other => detail(status, &other.to_string()),
        };
        if transient {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// `{"detail": message}` with `status`.
pub fn detail(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "detail": message }))).into_response()
}

/// DRF's 405, with the methods the route has.
pub fn method_not_allowed(method: &Method, allow: &'static str) -> Response {
    let mut response = detail(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method \"{method}\" not allowed."),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
