//! Builds the state, the GraphQL schema and the router once; `main` and the tests share it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http_body_util::LengthLimitError;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::db::Db;
use crate::error::{NOT_FOUND, ServiceError};
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
    pub parsed_queries: Arc<graphql::ParsedQueries>,
}

impl AppState {
    pub fn new(db: Db) -> Self {
        let schema = graphql::build_schema();
        let sdl = schema.sdl().into();
        AppState {
            db,
            schema,
            sdl,
            parsed_queries: Arc::default(),
        }
    }
}

async fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, NOT_FOUND)
}

/// Reads the whole body (up to the limit) before routing. A handler that answers early (403,
/// 404, 405) would otherwise leave unread bytes on a keep-alive connection, which the server
/// can then only close, without telling the client; reading first keeps the connection usable.
async fn read_body_first(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(err) => {
            let too_large =
                std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<LengthLimitError>());
            let mut response = if too_large {
                ServiceError::PayloadTooLarge(BODY_LIMIT).into_response()
            } else {
                ServiceError::BadRequest("The request body could not be read.".into())
                    .into_response()
            };
            // The rest of the body is not read: say that the connection ends here.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
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
        // Bounds every body once, before routing; extractors then read at most BODY_LIMIT.
        .layer(middleware::from_fn(read_body_first))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(observability::log_request))
        .with_state(state)
}
