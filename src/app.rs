//! Builds the state, the GraphQL schema and the router once; `main` and the tests share it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::db::Db;
use crate::error::NOT_FOUND;
use crate::graphql::{self, ApiSchema};
use crate::rest::error::detail;
use crate::{health, observability, rest};

/// The largest request body read (authentik has none; 1 MiB is plenty for this API).
pub const BODY_LIMIT: usize = 1024 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub schema: ApiSchema,
    /// The SDL of `schema`, rendered once.
    pub sdl: Arc<str>,
}

impl AppState {
    pub fn new(db: Db) -> Self {
        let schema = graphql::build_schema();
        let sdl = schema.sdl().into();
        AppState { db, schema, sdl }
    }
}

async fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, NOT_FOUND)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    detail(
        StatusCode::INTERNAL_SERVER_ERROR,
        "A server error occurred.",
    )
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(rest::router())
        .merge(graphql::router())
        .merge(health::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(observability::log_request))
        .with_state(state)
}
