//! The REST front: authentik's `/api/v3/stages/captcha/`, `/api/v3/flows/instances/` and
//! `/api/v3/flows/bindings/`, wire-compatible with its generated clients. Handlers only
//! translate; the rules live in `stages`, `flows` and `bindings`.

mod bindings;
mod captcha_stages;
pub mod decode;
pub mod error;
mod executor;
mod flows;
pub mod openapi;
pub mod wire;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::routing::{MethodRouter, any, get};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::error::{NOT_FOUND, ServiceError};
use crate::pagination::{PageNumber, PageRequest, PageSize};
use crate::stages::Submitted;
use error::method_not_allowed;

/// A request body, or why it could not be read (reported after the permission check).
type Body = Result<Bytes, BytesRejection>;
/// The one path parameter of a detail route.
type PathParam = Result<Path<String>, PathRejection>;

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

/// A UUID path segment; anything else names nothing (`Not found.`).
fn uuid_path(path: PathParam) -> Submitted<Uuid> {
    path.ok()
        .and_then(|Path(raw)| Uuid::parse_str(&raw).ok())
        .ok_or(ServiceError::NotFound(NOT_FOUND))
}

/// A query string as Django reads it: the last value of a repeated key wins.
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn parse(query: Option<String>) -> Self {
        let query = query.unwrap_or_default();
        Params(
            form_urlencoded::parse(query.as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    /// `page` (a number or `last`) and `page_size`, read as Python's `int()` reads them.
    pub(crate) fn page_request(&self) -> PageRequest {
        let mut request = PageRequest::default();
        if let Some(page) = self.0.get("page") {
            request.number = match page.as_str() {
                "last" => PageNumber::Last,
                other => python_int(other).map_or(PageNumber::Invalid, PageNumber::Number),
            };
        }
        if let Some(size) = self.0.get("page_size") {
            request.size = python_int(size).map_or(PageSize::Invalid, PageSize::Requested);
        }
        request
    }
}

use crate::object::drf::python_int;

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

async fn not_built() -> ServiceError {
    ServiceError::NotFound(NOT_FOUND)
}

const LIST: &str = "GET, POST, HEAD";
const DETAIL: &str = "GET, PUT, PATCH, DELETE, HEAD";
const READ: &str = "GET, HEAD";

pub fn router() -> Router<AppState> {
    let routes: [(&str, MethodRouter<AppState>, &'static str); 11] = [
        ("/api/v3/schema/", get(openapi::serve_openapi), READ),
        (
            "/api/v3/stages/captcha/",
            get(captcha_stages::list_captcha_stages).post(captcha_stages::create_captcha_stage),
            LIST,
        ),
        (
            "/api/v3/stages/captcha/{stage_uuid}/",
            get(captcha_stages::retrieve_captcha_stage)
                .put(captcha_stages::replace_captcha_stage)
                .patch(captcha_stages::update_captcha_stage)
                .delete(captcha_stages::delete_captcha_stage),
            DETAIL,
        ),
        (
            "/api/v3/stages/captcha/{stage_uuid}/used_by/",
            get(captcha_stages::captcha_stage_used_by),
            READ,
        ),
        (
            "/api/v3/flows/instances/",
            get(flows::list_flows).post(flows::create_flow),
            LIST,
        ),
        (
            "/api/v3/flows/instances/{slug}/",
            get(flows::retrieve_flow)
                .put(flows::replace_flow)
                .patch(flows::update_flow)
                .delete(flows::delete_flow),
            DETAIL,
        ),
        (
            "/api/v3/flows/instances/{slug}/used_by/",
            get(flows::flow_used_by),
            READ,
        ),
        (
            "/api/v3/flows/bindings/",
            get(bindings::list_bindings).post(bindings::create_binding),
            LIST,
        ),
        (
            "/api/v3/flows/bindings/{fsb_uuid}/",
            get(bindings::retrieve_binding)
                .put(bindings::replace_binding)
                .patch(bindings::update_binding)
                .delete(bindings::delete_binding),
            DETAIL,
        ),
        (
            "/api/v3/flows/bindings/{fsb_uuid}/used_by/",
            get(bindings::binding_used_by),
            READ,
        ),
        (
            "/api/v3/flows/executor/{flow_slug}/",
            get(executor::show).post(executor::solve),
            "GET, POST, HEAD",
        ),
    ];
    // authentik's flow operations not built here would otherwise be taken for slugs.
    let unbuilt = [
        "/api/v3/flows/instances/cache_info/",
        "/api/v3/flows/instances/cache_clear/",
        "/api/v3/flows/instances/import/",
    ];
    let router = unbuilt.into_iter().fold(Router::new(), |router, path| {
        router
            .route(path, any(not_built))
            .route(path.trim_end_matches('/'), any(not_built))
    });
    routes
        .into_iter()
        .fold(router, |router, (path, methods, allow)| {
            route(router, path, methods, allow)
        })
}
