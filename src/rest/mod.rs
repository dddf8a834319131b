//! The REST front: authentik's `/api/v3/stages/captcha/`, wire-compatible with its generated
//! clients. Handlers only translate; the rules live in `stages`.

mod captcha_stages;
pub mod decode;
pub mod error;
pub mod openapi;
pub mod wire;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::routing::{MethodRouter, get};

use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::error::ServiceError;
use error::method_not_allowed;

/// The caller of a REST request, authenticated by its Bearer token (403 otherwise).
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        auth::authenticate(&state.db.reader, header)
            .await
            .map(Authenticated)
    }
}

/// Serves `path` with and without its trailing slash, and answers other methods with DRF's 405.
fn route(
    router: Router<AppState>,
    path: &str,
    methods: MethodRouter<AppState>,
    allow: &'static str,
) -> Router<AppState> {
    let methods =
        methods.fallback(move |method: Method| async move { method_not_allowed(&method, allow) });
    router
        .route(path, methods.clone())
        .route(path.trim_end_matches('/'), methods)
}

pub fn router() -> Router<AppState> {
    use captcha_stages::*;
    // The OpenAPI document; no token needed.
    let router = route(
        Router::new(),
        "/api/v3/schema/",
        get(openapi::serve_openapi),
        "GET, HEAD",
    );
    let router = route(
        router,
        "/api/v3/stages/captcha/",
        get(list_captcha_stages).post(create_captcha_stage),
        "GET, POST, HEAD",
    );
    let router = route(
        router,
        "/api/v3/stages/captcha/{stage_uuid}/",
        get(retrieve_captcha_stage)
            .put(replace_captcha_stage)
            .patch(update_captcha_stage)
            .delete(delete_captcha_stage),
        "GET, PUT, PATCH, DELETE, HEAD",
    );
    route(
        router,
        "/api/v3/stages/captcha/{stage_uuid}/used_by/",
        get(captcha_stage_used_by),
        "GET, HEAD",
    )
}
