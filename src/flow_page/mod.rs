//! The flow page, `GET /if/flow/{flow_slug}/` (authentik's path): a small page served from the
//! binary that runs the flow executor in a browser with whichever captcha provider the stage's
//! `js_url` loads, and follows the flow to its redirect. It loads no script but that one.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;

const PAGE: &str = include_str!("page.html");

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PAGE,
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/if/flow/{flow_slug}/", get(page))
        .route("/if/flow/{flow_slug}", get(page))
}
