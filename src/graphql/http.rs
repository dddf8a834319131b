//! GraphQL over HTTP: `POST /graphql` (authenticated like REST), the SDL, and the playground.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::code;
use super::loaders::FlowStages;
use super::schema::RequestContext;
use crate::app::AppState;
use crate::auth;

/// Errors that GraphQL itself raised (parse, validation, limits) carry no code of ours.
const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// A request that is not GraphQL at all: 400 (413 when too large) with a GraphQL error body.
fn not_graphql(status: StatusCode, message: String) -> Response {
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_REQUEST" } }] });
    (status, Json(body)).into_response()
}

/// A GraphQL-over-HTTP request: a JSON object whose `query` is a string.
fn parse_request(body: &[u8]) -> Result<async_graphql::Request, String> {
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
        Err(rejection) => return not_graphql(rejection.status(), rejection.body_text()),
    };
    let mut request = match parse_request(&body) {
        Ok(request) => request,
        Err(message) => return not_graphql(StatusCode::BAD_REQUEST, message),
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let principal = match auth::authenticate(&state.db.reader, authorization).await {
        Ok(principal) => principal,
        Err(err) => {
            let error = json!({ "message": err.to_string(), "extensions": { "code": code(&err) } });
            // Refused before execution: no `data` entry at all (GraphQL spec, "Response").
            return Json(json!({ "errors": [error] })).into_response();
        }
    };
    state.parsed_queries.prepare(&mut request);
    let request = request
        .data(FlowStages::new(state.db.clone(), principal.clone()))
        .data(RequestContext {
            db: state.db.clone(),
            principal,
        });
    let mut response = state.schema.execute(request).await;
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", GRAPHQL_VALIDATION_FAILED);
        }
    }
    Json(response).into_response()
}

/// The SDL, byte-identical to the checked-in `schema.graphql`.
pub async fn sdl(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.sdl.to_string(),
    )
        .into_response()
}
