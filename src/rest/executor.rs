//! `/api/v3/flows/executor/{flow_slug}/`: authentik's flow executor over HTTP. No token: the
//! caller is an anonymous browser, known by its session cookie. Answers are challenges (200),
//! or 302s back to the executor's GET as authentik sends them.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::openapi::{GenericErrorResponse, ValidationErrorResponse};
use super::{Body, Params, decode};
use crate::app::AppState;
use crate::error::ServiceError;
use crate::executor::challenge::{CaptchaChallengeResponseRequest, Challenge};
use crate::executor::{self, Answer, Outcome, SESSION_COOKIE, Visit};

/// The session cookie's value, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
}

fn visit<'a>(
    state: &AppState,
    slug: &'a str,
    query: Option<String>,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Visit<'a> {
    let api_query = query.unwrap_or_default();
    let forwarded_for = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    Visit {
        slug,
        query: Params::parse(Some(api_query.clone()))
            .get("query")
            .unwrap_or_default(),
        api_query,
        session: session_cookie(headers),
        client_ip: state
            .settings
            .client_ip(peer.map(|addr| addr.ip()), forwarded_for),
    }
}

/// A challenge as JSON (200), or authentik's 302 to the executor's GET; with the session cookie
/// when a new session began.
fn respond(state: &AppState, outcome: Outcome) -> Response {
    let mut response = match outcome.answer {
        Answer::Challenge(challenge) => Json(*challenge).into_response(),
        Answer::Redirect(location) => {
            let mut response = StatusCode::FOUND.into_response();
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
    };
    if let Some(session) = outcome.new_session {
        let secure = if state.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Lax; Path=/{secure}");
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    response
}

/// The TCP peer's address, when the server records it (`app::service`).
pub struct Peer(Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| *addr),
        ))
    }
}

/// Get the next pending challenge from the currently active flow.
#[utoipa::path(
    get,
    path = "/flows/executor/{flow_slug}/",
    operation_id = "flows_executor_get",
    description = "Get the next pending challenge from the currently active flow.",
    tag = "flows",
    params(
        ("flow_slug" = String, Path),
        ("query" = String, Query, description = "Querystring as received"),
    ),
    security(("authentik" = []), ()),
    responses(
        (status = 200, description = "", body = Challenge),
        (status = 302, description = "The next stage, or the flow restarted: the executor's GET again"),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Response, ServiceError> {
    let visit = visit(&state, &slug, query, &headers, peer.0);
    let outcome = executor::show(&state.db, &state.settings, visit).await?;
    Ok(respond(&state, outcome))
}

/// Solve the previously retrieved challenge and advanced to the next stage.
#[utoipa::path(
    post,
    path = "/flows/executor/{flow_slug}/",
    operation_id = "flows_executor_solve",
    description = "Solve the previously retrieved challenge and advanced to the next stage.",
    tag = "flows",
    params(
        ("flow_slug" = String, Path),
        ("query" = String, Query, description = "Querystring as received"),
    ),
    request_body(content = CaptchaChallengeResponseRequest, content_type = "application/json"),
    security(("authentik" = []), ()),
    responses(
        (status = 200, description = "", body = Challenge),
        (status = 302, description = "The next stage, or the flow restarted: the executor's GET again"),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
pub async fn solve(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    peer: Peer,
    body: Body,
) -> Result<Response, ServiceError> {
    let visit = visit(&state, &slug, query, &headers, peer.0);
    let body = decode::json_value(&headers, body);
    let outcome = executor::solve(&state.db, &state.settings, &state.verifier, visit, body).await?;
    Ok(respond(&state, outcome))
}
