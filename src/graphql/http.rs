//! GraphQL over HTTP: `POST /graphql` (authenticated like REST), the SDL, and the playground.

use async_graphql::dataloader::DataLoader;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::code;
use super::loaders::FlowStagesLoader;
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

pub async fn execute(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return not_graphql(rejection.status(), rejection.body_text()),
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return not_graphql(
                StatusCode::BAD_REQUEST,
                format!("Not a GraphQL request: {err}"),
            );
        }
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let principal = match auth::authenticate(&state.db.reader, authorization).await {
        Ok(principal) => principal,
        Err(err) => {
            let error = json!({ "message": err.to_string(), "extensions": { "code": code(&err) } });
            return Json(json!({ "data": null, "errors": [error] })).into_response();
        }
    };
    let loader = FlowStagesLoader {
        db: state.db.clone(),
        principal: principal.clone(),
    };
    let request = request
        .data(DataLoader::new(loader, tokio::spawn))
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
