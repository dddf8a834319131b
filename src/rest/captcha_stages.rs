//! The handlers of `/api/v3/stages/captcha/`: each converts the wire request, calls its use case
//! in `stages`, and converts the result back.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use uuid::Uuid;

use super::openapi::{
    CaptchaStageListQuery, GenericErrorResponse, PaginatedCaptchaStageList, ValidationErrorResponse,
};
use super::wire::PaginatedOut;
use super::{Authenticated, Body, Params, PathParam, decode, uuid_path};
use crate::app::AppState;
use crate::error::{NO_CAPTCHA_STAGE, ServiceError};
use crate::object::WriteMode;
use crate::pagination::PageRequest;
use crate::stages::{
    self, CaptchaStage, CaptchaStageInput, CaptchaStagePatchedRequestSchema,
    CaptchaStageRequestSchema, StageFilter, Submitted,
};
use crate::used_by::UsedBy;

/// The stage id of the path; anything but a UUID names nothing (`Not found.`).
fn stage_id(path: PathParam) -> Submitted<Uuid> {
    uuid_path(path)
}

/// The list's query string.
fn list_params(query: Option<String>) -> (StageFilter, PageRequest) {
    let params = Params::parse(query);
    let filter = StageFilter {
        name: params.get("name"),
        public_key: params.get("public_key"),
        search: params.get("search"),
        ordering: params.get("ordering"),
    };
    (filter, params.page_request())
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
) -> Result<Json<PaginatedOut<CaptchaStage>>, ServiceError> {
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
    request_body(content = CaptchaStageRequestSchema, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 201, description = "", body = CaptchaStage),
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
) -> Result<(StatusCode, Json<CaptchaStage>), ServiceError> {
    let input = decode::input(&headers, body, CaptchaStageInput::from_json);
    let stage = stages::create_captcha_stage(&state.db, &principal, input).await?;
    Ok((StatusCode::CREATED, Json(stage)))
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
        (status = 200, description = "", body = CaptchaStage),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn retrieve_captcha_stage(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
) -> Result<Json<CaptchaStage>, ServiceError> {
    stages::find_captcha_stage(&state.db, &principal, stage_id(path))
        .await?
        .map(Json)
        .ok_or(ServiceError::NotFound(NO_CAPTCHA_STAGE))
}

async fn write_captcha_stage(
    state: AppState,
    principal: crate::auth::Principal,
    path: PathParam,
    headers: HeaderMap,
    body: Body,
    mode: WriteMode,
) -> Result<Json<CaptchaStage>, ServiceError> {
    let input = decode::input(&headers, body, CaptchaStageInput::from_json);
    let stage =
        stages::update_captcha_stage(&state.db, &principal, stage_id(path), input, mode).await?;
    Ok(Json(stage))
}

/// Replace a captcha stage; optional keys left out keep their stored values.
#[utoipa::path(
    put,
    path = "/stages/captcha/{stage_uuid}/",
    operation_id = "stages_captcha_update",
    description = "CaptchaStage Viewset",
    tag = "stages",
    params(("stage_uuid" = Uuid, Path, description = "A UUID string identifying this Captcha Stage.")),
    request_body(content = CaptchaStageRequestSchema, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = CaptchaStage),
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
    path: PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CaptchaStage>, ServiceError> {
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
    request_body(content = CaptchaStagePatchedRequestSchema, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = CaptchaStage),
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
    path: PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CaptchaStage>, ServiceError> {
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
    path: PathParam,
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
        (status = 200, description = "", body = Vec<UsedBy>),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn captcha_stage_used_by(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
) -> Result<Json<Vec<UsedBy>>, ServiceError> {
    let used_by = stages::captcha_stage_used_by(&state.db, &principal, stage_id(path)).await?;
    Ok(Json(used_by))
}
