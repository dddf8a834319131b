//! Builds the state, the GraphQL schema and the router once; `main` and the tests share it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http_body_util::LengthLimitError;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Settings;
use crate::db::Db;
use crate::error::{NOT_FOUND, ServiceError};
use crate::executor::verify::Verifier;
use crate::graphql::{self, ApiSchema};
use crate::limits::{MAX_HEADER_BYTES, MAX_URI_BYTES};
use crate::rest::error::detail;
use crate::{flow_page, health, observability, rest, telemetry};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    /// The captcha providers' siteverify client, shared by every request.
    pub verifier: Verifier,
    pub schema: ApiSchema,
    /// The SDL of `schema`, rendered once.
    pub sdl: Arc<str>,
    pub parsed_queries: Arc<graphql::ParsedQueries>,
    /// Renders the process's metrics (`GET /metrics`).
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl AppState {
    /// The state with every setting at its default.
    pub fn new(db: Db) -> Self {
        AppState::with_settings(db, Settings::default())
    }

    pub fn with_settings(db: Db, settings: Settings) -> Self {
        let schema = graphql::build_schema();
        let sdl = graphql::sdl(&schema).into();
        AppState {
            db,
            verifier: Verifier::new(settings.siteverify_timeout),
            settings: Arc::new(settings),
            schema,
            sdl,
            parsed_queries: Arc::default(),
            metrics: telemetry::recorder(),
        }
    }
}

/// The router as a service that records each connection's peer address (the executor's
/// `remoteip`); `main` and the tests serve this.
pub fn service(state: AppState) -> IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    app(state).into_make_service_with_connect_info::<SocketAddr>()
}

async fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, NOT_FOUND)
}

/// An error raised before a handler runs, in the shape of the front end that owns the path: a
/// GraphQL error body under `/graphql`, DRF's `{"detail": …}` everywhere else.
fn refuse(path: &str, err: ServiceError) -> Response {
    if path.starts_with("/graphql") {
        graphql::http_error(err)
    } else {
        err.into_response()
    }
}

/// Bounds what a request may send, before routing: the request target (414), the headers (431)
/// and the body (413); and the time it may take (503). The whole body is read first: a handler
/// that answers early (403, 404, 405) would otherwise leave unread bytes on a keep-alive
/// connection, which the server can then only close without telling the client.
async fn guard_request(
    State(settings): State<Arc<Settings>>,
    request: Request,
    next: Next,
) -> Response {
    let body_limit = settings.body_limit;
    let path = request.uri().path().to_owned();
    let target_len = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target_len > MAX_URI_BYTES {
        return refuse(&path, ServiceError::UriTooLong(MAX_URI_BYTES));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return refuse(&path, ServiceError::HeadersTooLarge(MAX_HEADER_BYTES));
    }
    // A body declared larger than the limit is refused before a byte of it is awaited: a
    // client that then stalls must not hold the connection until the request timeout.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > body_limit as u64) {
        let mut response = refuse(&path, ServiceError::PayloadTooLarge(body_limit));
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let served = async {
        let (parts, body) = request.into_parts();
        match axum::body::to_bytes(body, body_limit).await {
            Ok(bytes) => Ok(next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await),
            Err(err) => Err(err),
        }
    };
    match tokio::time::timeout(settings.request_timeout, served).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            let too_large =
                std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<LengthLimitError>());
            let refused = if too_large {
                ServiceError::PayloadTooLarge(body_limit)
            } else {
                ServiceError::BadRequest("The request body could not be read.".into())
            };
            let mut response = refuse(&path, refused);
            // The rest of the body is not read: say that the connection ends here.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Err(_elapsed) => {
            tracing::warn!(%path, "request timed out");
            refuse(&path, ServiceError::TimedOut)
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
        .merge(flow_page::router())
        .route("/metrics", axum::routing::get(telemetry::serve))
        // Inside the router, where the matched route is known (for the log and the metrics).
        .route_layer(middleware::from_fn(observability::mark_route))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.settings.clone(),
            guard_request,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(observability::log_request))
        .with_state(state)
}
