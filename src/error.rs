//! The one error type of the service. Use cases return it; each front end maps it at its edge:
//! `rest::error` renders DRF-shaped bodies and status codes, `graphql::error` sets
//! `extensions.code`. Internal details are logged where they happen and never sent to a client.

use indexmap::IndexMap;
use serde::Serialize;

/// Validation errors of one object, keyed by field name (authentik's snake_case names), in the
/// order of the object's fields.
pub type FieldErrors = IndexMap<String, ErrorTree>;

/// What went wrong with one field: messages, the errors of a nested object, or one entry per item
/// of a list (an empty object for a valid item), exactly as DRF shapes them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ErrorTree {
    Messages(Vec<String>),
    Fields(FieldErrors),
    Items(Vec<ErrorTree>),
}

impl ErrorTree {
    pub fn message(text: impl Into<String>) -> Self {
        ErrorTree::Messages(vec![text.into()])
    }

    /// `{"non_field_errors": [text]}`: DRF's shape for an object that is wrong as a whole.
    pub fn non_field(text: impl Into<String>) -> Self {
        ErrorTree::Fields(non_field_errors(text))
    }

    /// The same tree with every field name passed through `rename` (GraphQL shows camelCase).
    pub fn rename_fields(&self, rename: &impl Fn(&str) -> String) -> ErrorTree {
        match self {
            ErrorTree::Messages(messages) => ErrorTree::Messages(messages.clone()),
            ErrorTree::Fields(fields) => ErrorTree::Fields(rename_fields(fields, rename)),
            ErrorTree::Items(items) => {
                ErrorTree::Items(items.iter().map(|i| i.rename_fields(rename)).collect())
            }
        }
    }
}

pub fn rename_fields(fields: &FieldErrors, rename: &impl Fn(&str) -> String) -> FieldErrors {
    fields
        .iter()
        .map(|(name, tree)| (rename(name), tree.rename_fields(rename)))
        .collect()
}

pub const NON_FIELD_ERRORS: &str = "non_field_errors";

/// The field map `{"non_field_errors": [text]}`.
pub fn non_field_errors(text: impl Into<String>) -> FieldErrors {
    IndexMap::from([(NON_FIELD_ERRORS.to_string(), ErrorTree::message(text))])
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks a rule; every failing field is reported.
    #[error("Invalid input.")]
    Validation(FieldErrors),
    /// No credentials: no `Authorization` header, an empty `Bearer`, or another scheme.
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    /// A token that is unknown, revoked or expired.
    #[error("Token invalid/expired")]
    InvalidToken,
    #[error("You do not have permission to perform this action.")]
    PermissionDenied,
    /// A lookup by id found nothing; the message names the model as authentik does.
    #[error("{0}")]
    NotFound(&'static str),
    #[error("Invalid page.")]
    InvalidPage,
    /// A request body that is not what the endpoint reads (malformed JSON, for one).
    #[error("{0}")]
    BadRequest(String),
    /// The full `Content-Type` the client sent ("" when it sent none).
    #[error("Unsupported media type \"{0}\" in request.")]
    UnsupportedMediaType(String),
    #[error("Request body is larger than the limit of {0} bytes.")]
    PayloadTooLarge(usize),
    #[error("Request URI is longer than the limit of {0} bytes.")]
    UriTooLong(usize),
    #[error("Request headers are larger than the limit of {0} bytes.")]
    HeadersTooLarge(usize),
    /// The database cannot be reached, or a connection died mid-request: a retry may work.
    #[error("The database is unavailable. Try again shortly.")]
    Unavailable,
    /// The request ran into the request timeout.
    #[error("The request took too long. Try again shortly.")]
    TimedOut,
    /// Anything unexpected. The cause has already been logged; clients see a generic message.
    #[error("A server error occurred.")]
    Internal,
    /// A unique constraint refused a write: another request took a name or a slug. Use cases
    /// turn it into the field error it means; one that escapes them is a 500.
    #[error("A server error occurred.")]
    UniqueViolation,
    /// A foreign key refused a write: a referenced object was deleted meanwhile.
    #[error("A server error occurred.")]
    ForeignKeyViolation,
    /// PostgreSQL rolled a transaction back for racing another (serialization failure,
    /// deadlock): the write may simply run again (`db::with_write_retries`).
    #[error("A server error occurred.")]
    WriteConflict,
}

/// What a 503 asks a client to wait before it tries again, in seconds.
pub const RETRY_AFTER_SECONDS: &str = "2";

pub const NO_CAPTCHA_STAGE: &str = "No CaptchaStage matches the given query.";
/// A path that names nothing (an id that is not a UUID, an unknown route).
pub const NOT_FOUND: &str = "Not found.";

impl ServiceError {
    /// Logs an unexpected failure (never with request data) and hides it from the client.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{context}");
        ServiceError::Internal
    }
}

impl ServiceError {
    /// Whether a client may simply try again later (answered 503 with `Retry-After`).
    pub fn is_transient(&self) -> bool {
        matches!(self, ServiceError::Unavailable | ServiceError::TimedOut)
    }

    /// A unique violation as the field error it means here; any other error as it is.
    pub fn unique_violation_as(self, field_error: impl FnOnce() -> ServiceError) -> ServiceError {
        match self {
            ServiceError::UniqueViolation => field_error(),
            other => other,
        }
    }

    /// Whether a front end may show it as it is (a violation that no use case mapped is not).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            ServiceError::Internal
                | ServiceError::UniqueViolation
                | ServiceError::ForeignKeyViolation
                | ServiceError::WriteConflict
        )
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(err: sea_orm::DbErr) -> Self {
        // Database messages name tables, columns and constraints, never the bound values.
        match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                return ServiceError::UniqueViolation;
            }
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                return ServiceError::ForeignKeyViolation;
            }
            _ => {}
        }
        if crate::db::is_write_conflict(&err) {
            ServiceError::WriteConflict
        } else if crate::db::is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            crate::telemetry::db_unavailable();
            ServiceError::Unavailable
        } else {
            ServiceError::internal("database error", err)
        }
    }
}
