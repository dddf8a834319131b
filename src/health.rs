//! authentik's health endpoints; no token needed.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::app::AppState;
use crate::db;

async fn live() -> StatusCode {
    StatusCode::OK
}

/// 200 when the database answers, 503 otherwise.
async fn ready(State(state): State<AppState>) -> StatusCode {
    if db::ping(&state.db).await {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/-/health/live/", get(live))
        .route("/-/health/live", get(live))
        .route("/-/health/ready/", get(ready))
        .route("/-/health/ready", get(ready))
}
