//! GraphQL over HTTP: `POST /graphql` (authenticated like REST), the SDL, and the playground.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::code;
use super::loaders::Relations;
use super::schema::RequestContext;
use crate::app::AppState;
use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};

use crate::auth::{self, Principal};
use crate::error::RETRY_AFTER_SECONDS;
use crate::error::ServiceError;
use crate::limits::{MAX_JSON_DEPTH, json_nesting_exceeds};
use crate::object::plain::PlainAnswers;

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
    let facts = match state.parsed_queries.prepare(&mut request) {
        Ok(facts) => facts,
        Err(message) => return refused_document(message),
    };
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
    if facts.plain_answers {
        request = request.data(PlainAnswers);
    }
    let mut request = request
        .data(Relations::new(
            state.db.clone(),
            principal.clone(),
            facts.shown,
        ))
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
    let body = response_json(&response);
    with_retry_after(
        status,
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
    )
}

/// The response as async-graphql's own serialization writes it (`data`, then `extensions` and
/// `errors` when there are any), with the plain path's answers, which arrive as JSON text in a
/// binary value, written in as they are (`object::plain`).
fn response_json(response: &async_graphql::Response) -> Vec<u8> {
    fn write_value(out: &mut Vec<u8>, value: &async_graphql::Value) {
        use async_graphql::Value;
        match value {
            Value::Binary(json) => out.extend_from_slice(json),
            Value::List(items) => {
                out.push(b'[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    write_value(out, item);
                }
                out.push(b']');
            }
            Value::Object(members) => {
                out.push(b'{');
                for (index, (key, member)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    write_serde(out, key.as_str());
                    out.push(b':');
                    write_value(out, member);
                }
                out.push(b'}');
            }
            scalar => write_serde(out, scalar),
        }
    }
    fn write_serde(out: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) {
        // Writing into a Vec cannot fail, and a GraphQL response's parts always serialize.
        let _ = serde_json::to_writer(out, value);
    }
    fn plain_bytes(value: &async_graphql::Value) -> usize {
        use async_graphql::Value;
        match value {
            Value::Binary(json) => json.len(),
            Value::List(items) => items.iter().map(plain_bytes).sum(),
            Value::Object(members) => members.values().map(plain_bytes).sum(),
            _ => 0,
        }
    }
    // Room for the plain answers and what surrounds them, so that the buffer is not copied over
    // as it grows.
    let mut out = Vec::with_capacity(plain_bytes(&response.data) + 1024);
    out.extend_from_slice(b"{\"data\":");
    write_value(&mut out, &response.data);
    if !response.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        write_serde(&mut out, &response.extensions);
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        write_serde(&mut out, &response.errors);
    }
    out.push(b'}');
    out
}

/// The SDL, byte-identical to the checked-in `schema.graphql`.
pub async fn sdl(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.sdl.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use async_graphql::{Name, ServerError, Value};
    use indexmap::IndexMap;

    use super::response_json;

    /// Without plain answers in it, a response is written exactly as async-graphql serializes it.
    #[test]
    fn responses_are_written_as_async_graphql_serializes_them() {
        let mut member = IndexMap::new();
        member.insert(
            Name::new("text"),
            Value::String("a \"quoted\" \\ \u{1F600}\n".into()),
        );
        member.insert(Name::new("number"), Value::from(0.125));
        member.insert(Name::new("none"), Value::Null);
        member.insert(Name::new("kind"), Value::Enum(Name::new("AUTHENTICATION")));
        member.insert(
            Name::new("list"),
            Value::List(vec![
                Value::Boolean(true),
                Value::from(-3),
                Value::List(vec![]),
            ]),
        );
        let mut data = IndexMap::new();
        data.insert(Name::new("object"), Value::Object(member));
        data.insert(Name::new("empty"), Value::Object(IndexMap::new()));
        let mut response = async_graphql::Response::new(Value::Object(data));
        assert_eq!(
            response_json(&response),
            serde_json::to_vec(&response).unwrap()
        );
        response
            .errors
            .push(ServerError::new("no \"such\" thing", None));
        response
            .extensions
            .insert("cost".to_string(), Value::from(12));
        let refused = async_graphql::Response::from_errors(response.errors.clone());
        for response in [response, refused] {
            assert_eq!(
                String::from_utf8(response_json(&response)).unwrap(),
                serde_json::to_string(&response).unwrap()
            );
        }
    }

    /// A plain answer (JSON text in a binary value) is written in as it is.
    #[test]
    fn plain_answers_are_written_in_as_they_are() {
        let mut data = IndexMap::new();
        data.insert(
            Name::new("flows"),
            Value::Binary(br#"[{"slug":"a"},{"slug":"b"}]"#.to_vec().into()),
        );
        let response = async_graphql::Response::new(Value::Object(data));
        assert_eq!(
            String::from_utf8(response_json(&response)).unwrap(),
            r#"{"data":{"flows":[{"slug":"a"},{"slug":"b"}]}}"#
        );
    }
}
