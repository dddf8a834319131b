//! The handlers of `/api/v3/stages/captcha/`: each converts the wire request, calls its use case
//! in `stages`, and converts the result back.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use uuid::Uuid;

use super::Authenticated;
use super::decode::{self, python_int};
use super::wire::{CaptchaStageOut, PaginatedOut, UsedByOut};
use crate::app::AppState;
use crate::error::{NO_CAPTCHA_STAGE, NOT_FOUND, ServiceError};
use crate::pagination::{PageNumber, PageRequest, PageSize};
use crate::stages::{self, StageFilter, Submitted, WriteMode};

type Body = Result<Bytes, BytesRejection>;
type StageId = Result<Path<String>, PathRejection>;

/// The stage id of the path; anything but a UUID names nothing (`Not found.`).
fn stage_id(path: StageId) -> Submitted<Uuid> {
    path.ok()
        .and_then(|Path(raw)| Uuid::parse_str(&raw).ok())
        .ok_or(ServiceError::NotFound(NOT_FOUND))
}

/// The list's query string, as Django reads it: the last value of a repeated key wins.
fn list_params(query: Option<String>) -> (StageFilter, PageRequest) {
    let mut filter = StageFilter::default();
    let mut request = PageRequest::default();
    let query = query.unwrap_or_default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "name" => filter.name = Some(value),
            "public_key" => filter.public_key = Some(value),
            "search" => filter.search = Some(value),
            "ordering" => filter.ordering = Some(value),
            "page" => {
                request.number = match value.as_str() {
                    "last" => PageNumber::Last,
                    other => python_int(other).map_or(PageNumber::Invalid, PageNumber::Number),
                }
            }
            "page_size" => {
                request.size = python_int(&value).map_or(PageSize::Invalid, PageSize::Requested)
            }
            _ => {}
        }
    }
    (filter, request)
}

pub async fn list_captcha_stages(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<PaginatedOut<CaptchaStageOut>>, ServiceError> {
    let (filter, request) = list_params(query);
    let page = stages::list_captcha_stages(&state.db, &principal, &filter, &request).await?;
    Ok(Json(page.into()))
}

pub async fn create_captcha_stage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CaptchaStageOut>), ServiceError> {
    let input = decode::captcha_stage_input(&headers, body);
    let stage = stages::create_captcha_stage(&state.db, &principal, input).await?;
    Ok((StatusCode::CREATED, Json(stage.into())))
}

pub async fn retrieve_captcha_stage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: StageId,
) -> Result<Json<CaptchaStageOut>, ServiceError> {
    stages::find_captcha_stage(&state.db, &principal, stage_id(path))
        .await?
        .map(|stage| Json(stage.into()))
        .ok_or(ServiceError::NotFound(NO_CAPTCHA_STAGE))
}

async fn write_captcha_stage(
    state: AppState,
    principal: crate::auth::Principal,
    path: StageId,
    headers: HeaderMap,
    body: Body,
    mode: WriteMode,
) -> Result<Json<CaptchaStageOut>, ServiceError> {
    let input = decode::captcha_stage_input(&headers, body);
    let stage =
        stages::update_captcha_stage(&state.db, &principal, stage_id(path), input, mode).await?;
    Ok(Json(stage.into()))
}

/// PUT: the required fields again; optional ones left out keep their values.
pub async fn replace_captcha_stage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: StageId,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CaptchaStageOut>, ServiceError> {
    write_captcha_stage(state, principal, path, headers, body, WriteMode::Replace).await
}

/// PATCH: only the keys given.
pub async fn update_captcha_stage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: StageId,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CaptchaStageOut>, ServiceError> {
    write_captcha_stage(state, principal, path, headers, body, WriteMode::Patch).await
}

pub async fn delete_captcha_stage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: StageId,
) -> Result<StatusCode, ServiceError> {
    stages::delete_captcha_stage(&state.db, &principal, stage_id(path)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn captcha_stage_used_by(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: StageId,
) -> Result<Json<Vec<UsedByOut>>, ServiceError> {
    let used_by = stages::captcha_stage_used_by(&state.db, &principal, stage_id(path)).await?;
    Ok(Json(used_by.into_iter().map(UsedByOut::from).collect()))
}
