//! Logs: to standard error, filtered by `RUST_LOG` (default `info`), one line per request.
//! Standard output is kept for what a user must read (tokens printed once, the listen address).
//! No line carries a header, a body or a query string, so no token or private key can appear.

use std::io::IsTerminal;
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

use crate::cli::LogFormat;

/// Installs the subscriber, as text or JSON lines. Without `RUST_LOG`, the service logs at
/// `info` and a one-off command (token, migrate) only warnings, so that its success prints just
/// its result; PostgreSQL's notices (`relation … already exists, skipping`) are never shown.
/// Lines are written by a background thread, so that a request never waits on a write to
/// standard error; the returned guard flushes them when dropped, at exit.
pub fn init_logging(format: LogFormat, serving: bool) -> WorkerGuard {
    let default = if serving { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default))
        .add_directive(
            "sqlx::postgres::notice=warn"
                .parse()
                .expect("a valid directive"),
        );
    // Not lossy: when the writer falls behind, requests wait rather than lines disappear.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
    guard
}

/// The route template that answered a request (`/api/v3/stages/captcha/{stage_uuid}/`), left
/// on the response by [`mark_route`] for the request log and the metrics.
#[derive(Clone, Copy)]
pub struct RouteTemplate(pub &'static str);

/// Notes the matched route's template on the response. It runs inside the router (the path is
/// matched by then); templates are few and fixed, so each is interned once.
pub async fn mark_route(request: Request, next: Next) -> Response {
    let template = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| intern(path.as_str()));
    let mut response = next.run(request).await;
    if let Some(template) = template {
        response.extensions_mut().insert(RouteTemplate(template));
    }
    response
}

fn intern(template: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static TEMPLATES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut templates = TEMPLATES.lock().expect("route templates");
    let templates = templates.get_or_insert_with(HashSet::new);
    match templates.get(template) {
        Some(known) => known,
        None => {
            let leaked: &'static str = Box::leak(template.to_string().into_boxed_str());
            templates.insert(leaked);
            leaked
        }
    }
}

/// Logs method, path, status, latency and a request id, and returns the id as `x-request-id`.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = Uuid::new_v4();
    let mut response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or("unmatched", |route| route.0);
    crate::telemetry::http_request(
        route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    tracing::info!(
        target: "stages_api::http",
        %method,
        %path,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        %request_id,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
