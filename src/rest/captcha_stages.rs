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
use super::openapi::{
    CaptchaStageListQuery, CaptchaStageRequest, GenericErrorResponse, PaginatedCaptchaStageList,
    PatchedCaptchaStageRequest, ValidationErrorResponse,
};
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

/// List captcha stages, filtered, ordered and paginated.
#[utoipa::path(
    get,
    path = "/stages/captcha/",
    operation_id = "stages_captcha_list",
    description = "CaptchaStage Viewset",
    tag = "stages",
    params(CaptchaStageListQuery),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = PaginatedCaptchaStageList),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn list_captcha_stages(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<PaginatedOut<CaptchaStageOut>>, ServiceError> {
    let (filter, request) = list_params(query);
    let page = stages::list_captcha_stages(&state.db, &principal, &filter, &request).await?;
    Ok(Json(page.into()))
}

/// Create a captcha stage, and the flows of its `flow_set`.
#[utoipa::path(
    post,
    path = "/stages/captcha/",
    operation_id = "stages_captcha_create",
    description = "CaptchaStage Viewset",
    tag = "stages",
    request_body(content = CaptchaStageRequest, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 201, description = "", body = CaptchaStageOut),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
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

/// Retrieve a captcha stage.
#[utoipa::path(
    get,
    path = "/stages/captcha/{stage_uuid}/",
    operation_id = "stages_captcha_retrieve",
    description = "CaptchaStage Viewset",
    tag = "stages",
    params(("stage_uuid" = Uuid, Path, description = "A UUID string identifying this Captcha Stage.")),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = CaptchaStageOut),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
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

/// Replace a captcha stage; optional keys left out keep their stored values.
#[utoipa::path(
    put,
    path = "/stages/captcha/{stage_uuid}/",
    operation_id = "stages_captcha_update",
    description = "CaptchaStage Viewset",
    tag = "stages",
    params(("stage_uuid" = Uuid, Path, description = "A UUID string identifying this Captcha Stage.")),
    request_body(content = CaptchaStageRequest, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = CaptchaStageOut),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
pub async fn replace_captcha_stage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: StageId,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CaptchaStageOut>, ServiceError> {
    write_captcha_stage(state, principal, path, headers, body, WriteMode::Replace).await
}

/// Update a captcha stage: PATCH changes only the keys given.
#[utoipa::path(
    patch,
    path = "/stages/captcha/{stage_uuid}/",
    operation_id = "stages_captcha_partial_update",
    description = "CaptchaStage Viewset",
    tag = "stages",
    params(("stage_uuid" = Uuid, Path, description = "A UUID string identifying this Captcha Stage.")),
    request_body(content = PatchedCaptchaStageRequest, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = CaptchaStageOut),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
pub async fn update_captcha_stage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: StageId,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CaptchaStageOut>, ServiceError> {
    write_captcha_stage(state, principal, path, headers, body, WriteMode::Patch).await
}

/// Delete a captcha stage and its bindings (never its flows).
#[utoipa::path(
    delete,
    path = "/stages/captcha/{stage_uuid}/",
    operation_id = "stages_captcha_destroy",
    description = "CaptchaStage Viewset",
    tag = "stages",
    params(("stage_uuid" = Uuid, Path, description = "A UUID string identifying this Captcha Stage.")),
    security(("authentik" = [])),
    responses(
        (status = 204, description = "No response body"),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn delete_captcha_stage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: StageId,
) -> Result<StatusCode, ServiceError> {
    stages::delete_captcha_stage(&state.db, &principal, stage_id(path)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What deleting the stage would affect: its flows and bindings.
#[utoipa::path(
    get,
    path = "/stages/captcha/{stage_uuid}/used_by/",
    operation_id = "stages_captcha_used_by_list",
    description = "Get a list of all objects that use this object",
    tag = "stages",
    params(("stage_uuid" = Uuid, Path, description = "A UUID string identifying this Captcha Stage.")),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = Vec<UsedByOut>),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn captcha_stage_used_by(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: StageId,
) -> Result<Json<Vec<UsedByOut>>, ServiceError> {
    let used_by = stages::captcha_stage_used_by(&state.db, &principal, stage_id(path)).await?;
    Ok(Json(used_by.into_iter().map(UsedByOut::from).collect()))
}
