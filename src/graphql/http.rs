//! GraphQL over HTTP: `POST /graphql` (authenticated like REST), the SDL, and the playground.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::code;
use super::loaders::{Relations, Shown};
use super::schema::RequestContext;
use crate::app::AppState;
use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};

use crate::auth::{self, Principal};
use crate::error::RETRY_AFTER_SECONDS;
use crate::error::ServiceError;
use crate::limits::{MAX_JSON_DEPTH, json_nesting_exceeds};

/// Errors that GraphQL itself raised (parse, validation, limits) carry no code of ours.
const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";

/// A request refused before execution, as a GraphQL error body: no `data` entry at all (GraphQL
/// spec, "Response"). Not GraphQL, too large or too slow answer their HTTP status; a refused
/// token is 200 as with any GraphQL error; an outage is 503 with `Retry-After`.
pub fn http_error(err: ServiceError) -> Response {
    let status = match &err {
        ServiceError::BadRequest(_) | ServiceError::UnsupportedMediaType(_) => {
            StatusCode::BAD_REQUEST
        }
        ServiceError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
        ServiceError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ServiceError::Unavailable | ServiceError::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
        err if err.is_internal() => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::OK,
    };
    let body =
        json!({ "errors": [{ "message": err.to_string(), "extensions": { "code": code(&err) } }] });
    with_retry_after(status, (status, Json(body)).into_response())
}

fn with_retry_after(status: StatusCode, mut response: Response) -> Response {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// A refusal by the document limits, shaped like async-graphql's own validation errors.
fn refused_document(message: String) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": GRAPHQL_VALIDATION_FAILED } }] });
    Json(body).into_response()
}

/// The operation as a metrics label: its kind and first root field (`query captchaStages`).
/// Only used once validation passed, when the field is one of the schema's (a document that
/// did not validate counts as `invalid`), so no client can mint labels.
fn operation_label(request: &mut async_graphql::Request) -> String {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return "invalid".to_string();
    };
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name.as_str()),
        (DocumentOperations::Multiple(operations), None) => operations.values().next(),
    };
    let Some(operation) = operation else {
        return "invalid".to_string();
    };
    let kind = match operation.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let field = operation
        .node
        .selection_set
        .node
        .items
        .iter()
        .find_map(|selection| match &selection.node {
            Selection::Field(field) => Some(field.node.name.node.as_str()),
            _ => None,
        })
        .unwrap_or("fragment");
    format!("{kind} {field}")
}

/// An error code as a metrics label, from the closed set this service sets.
fn outcome_label(code: &str) -> &'static str {
    match code {
        "BAD_USER_INPUT" => "bad_user_input",
        "UNAUTHENTICATED" => "unauthenticated",
        "FORBIDDEN" => "forbidden",
        "NOT_FOUND" => "not_found",
        "SERVICE_UNAVAILABLE" => "service_unavailable",
        "GRAPHQL_VALIDATION_FAILED" => "graphql_validation_failed",
        "INTERNAL_SERVER_ERROR" => "internal_server_error",
        _ => "error",
    }
}

/// Whether the operation the request runs selects nothing but the schema (`__schema`, `__type`,
/// `__typename` at its root).
fn introspection_only(request: &mut async_graphql::Request) -> bool {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => {
            match operations.get(name.as_str()) {
                Some(operation) => operation,
                None => return false,
            }
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().expect("one operation")
        }
        _ => return false,
    };
    operation.node.ty == OperationType::Query
        && operation
            .node
            .selection_set
            .node
            .items
            .iter()
            .all(|selection| match &selection.node {
                Selection::Field(field) => {
                    matches!(
                        field.node.name.node.as_str(),
                        "__schema" | "__type" | "__typename"
                    )
                }
                _ => false,
            })
}

/// A GraphQL-over-HTTP request: a JSON object whose `query` is a string.
pub(crate) fn parse_request(body: &[u8]) -> Result<async_graphql::Request, String> {
    if json_nesting_exceeds(body, MAX_JSON_DEPTH) {
        return Err(format!(
            "Body is not JSON: arrays and objects nest deeper than {MAX_JSON_DEPTH} levels."
        ));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("Body is not JSON: {err}"))?;
    if !value.get("query").is_some_and(serde_json::Value::is_string) {
        return Err("A GraphQL request is a JSON object with a \"query\" string.".to_string());
    }
    serde_json::from_value(value).map_err(|err| format!("Not a GraphQL request: {err}"))
}

pub async fn execute(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return http_error(ServiceError::BadRequest(rejection.body_text())),
    };
    let mut request = match parse_request(&body) {
        Ok(request) => request,
        Err(message) => return http_error(ServiceError::BadRequest(message)),
    };
    if let Err(message) = state.parsed_queries.prepare(&mut request) {
        return refused_document(message);
    }
    // Introspection needs no token: the SDL is public at /graphql/schema.graphql anyway, and
    // GraphiQL (and codegen tools) introspect before anyone has typed a token.
    let principal = if introspection_only(&mut request) {
        Principal::anonymous()
    } else {
        let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
        match auth::authenticate(&state.db.reader, authorization).await {
            Ok(principal) => principal,
            Err(err) => return http_error(err),
        }
    };
    // Reads for the response bring back only what some field of the document shows.
    let shown = Shown::by(request.parsed_query().ok());
    let mut request = request
        .data(Relations::new(state.db.clone(), principal.clone(), shown))
        .data(state.verifier.clone())
        .data(RequestContext {
            db: state.db.clone(),
            principal,
        });
    let operation = operation_label(&mut request);
    let mut response = state.schema.execute(request).await;
    let mut unavailable = false;
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        match extensions.get("code") {
            None => extensions.set("code", GRAPHQL_VALIDATION_FAILED),
            Some(async_graphql::Value::String(code)) if code == SERVICE_UNAVAILABLE => {
                unavailable = true
            }
            Some(_) => {}
        }
    }
    let outcome = response
        .errors
        .first()
        .and_then(|error| error.extensions.as_ref()?.get("code").cloned())
        .map_or("ok", |code| match code {
            async_graphql::Value::String(code) => outcome_label(&code),
            _ => "error",
        });
    let operation = if outcome == "graphql_validation_failed" {
        "invalid".to_string()
    } else {
        operation
    };
    crate::telemetry::graphql_operation(operation, outcome);
    // An outage answers 503 like REST, so that clients and balancers can tell a retry may work.
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    with_retry_after(status, (status, Json(response)).into_response())
}

/// The SDL, byte-identical to the checked-in `schema.graphql`.
pub async fn sdl(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.sdl.to_string(),
    )
        .into_response()
}
