//! The handlers of `/api/v3/flows/bindings/` (bindings by uuid): each converts the wire request,
//! calls its use case in `bindings`, and converts the result back.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};

use super::openapi::{
    BindingListQuery, GenericErrorResponse, PaginatedFlowStageBindingList, ValidationErrorResponse,
};
use super::wire::PaginatedOut;
use super::{Authenticated, Body, Params, PathParam, decode, uuid_path};
use crate::app::AppState;
use crate::bindings::{
    self, BindingFilter, FlowStageBinding, FlowStageBindingInput,
    FlowStageBindingPatchedRequestSchema, FlowStageBindingRequestSchema, NO_BINDING,
};
use crate::error::ServiceError;
use crate::object::WriteMode;
use crate::used_by::UsedBy;

/// List flow-stage bindings, filtered, ordered and paginated.
#[utoipa::path(
    get,
    path = "/flows/bindings/",
    operation_id = "flows_bindings_list",
    description = "FlowStageBinding Viewset",
    tag = "flows",
    params(BindingListQuery),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = PaginatedFlowStageBindingList),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn list_bindings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<PaginatedOut<FlowStageBinding>>, ServiceError> {
    let params = Params::parse(query);
    let filter = BindingFilter {
        target: params.get("target"),
        stage: params.get("stage"),
        order: params.get("order"),
        evaluate_on_plan: params.get("evaluate_on_plan"),
        re_evaluate_policies: params.get("re_evaluate_policies"),
        policy_engine_mode: params.get("policy_engine_mode"),
        invalid_response_action: params.get("invalid_response_action"),
        fsb_uuid: params.get("fsb_uuid"),
        pbm_uuid: params.get("pbm_uuid"),
        policies: params.get("policies"),
        search: params.get("search"),
        ordering: params.get("ordering"),
    };
    let page =
        bindings::list_bindings(&state.db, &principal, &filter, &params.page_request()).await?;
    Ok(Json(page.into()))
}

/// Bind a stage into a flow.
#[utoipa::path(
    post,
    path = "/flows/bindings/",
    operation_id = "flows_bindings_create",
    description = "FlowStageBinding Viewset",
    tag = "flows",
    request_body(content = FlowStageBindingRequestSchema, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 201, description = "", body = FlowStageBinding),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
pub async fn create_binding(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FlowStageBinding>), ServiceError> {
    let input = decode::input(&headers, body, FlowStageBindingInput::from_json);
    let binding = bindings::create_binding(&state.db, &principal, input).await?;
    Ok((StatusCode::CREATED, Json(binding)))
}

/// Retrieve a binding.
#[utoipa::path(
    get,
    path = "/flows/bindings/{fsb_uuid}/",
    operation_id = "flows_bindings_retrieve",
    description = "FlowStageBinding Viewset",
    tag = "flows",
    params(("fsb_uuid" = Uuid, Path, description = "A UUID string identifying this Flow Stage Binding.")),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = FlowStageBinding),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn retrieve_binding(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
) -> Result<Json<FlowStageBinding>, ServiceError> {
    bindings::find_binding(&state.db, &principal, uuid_path(path))
        .await?
        .map(Json)
        .ok_or(ServiceError::NotFound(NO_BINDING))
}

async fn write_binding(
    state: AppState,
    principal: crate::auth::Principal,
    path: PathParam,
    headers: HeaderMap,
    body: Body,
    mode: WriteMode,
) -> Result<Json<FlowStageBinding>, ServiceError> {
    let input = decode::input(&headers, body, FlowStageBindingInput::from_json);
    let binding =
        bindings::update_binding(&state.db, &principal, uuid_path(path), input, mode).await?;
    Ok(Json(binding))
}

/// Replace a binding; optional keys left out keep their stored values.
#[utoipa::path(
    put,
    path = "/flows/bindings/{fsb_uuid}/",
    operation_id = "flows_bindings_update",
    description = "FlowStageBinding Viewset",
    tag = "flows",
    params(("fsb_uuid" = Uuid, Path, description = "A UUID string identifying this Flow Stage Binding.")),
    request_body(content = FlowStageBindingRequestSchema, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = FlowStageBinding),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
pub async fn replace_binding(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<FlowStageBinding>, ServiceError> {
    write_binding(state, principal, path, headers, body, WriteMode::Replace).await
}

/// Update a binding: PATCH changes only the keys given.
#[utoipa::path(
    patch,
    path = "/flows/bindings/{fsb_uuid}/",
    operation_id = "flows_bindings_partial_update",
    description = "FlowStageBinding Viewset",
    tag = "flows",
    params(("fsb_uuid" = Uuid, Path, description = "A UUID string identifying this Flow Stage Binding.")),
    request_body(content = FlowStageBindingPatchedRequestSchema, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = FlowStageBinding),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
pub async fn update_binding(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<FlowStageBinding>, ServiceError> {
    write_binding(state, principal, path, headers, body, WriteMode::Patch).await
}

/// Delete a binding (its flow and stage stay).
#[utoipa::path(
    delete,
    path = "/flows/bindings/{fsb_uuid}/",
    operation_id = "flows_bindings_destroy",
    description = "FlowStageBinding Viewset",
    tag = "flows",
    params(("fsb_uuid" = Uuid, Path, description = "A UUID string identifying this Flow Stage Binding.")),
    security(("authentik" = [])),
    responses(
        (status = 204, description = "No response body"),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn delete_binding(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
) -> Result<StatusCode, ServiceError> {
    bindings::delete_binding(&state.db, &principal, uuid_path(path)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What deleting the binding would affect: nothing here (a binding has no policies).
#[utoipa::path(
    get,
    path = "/flows/bindings/{fsb_uuid}/used_by/",
    operation_id = "flows_bindings_used_by_list",
    description = "Get a list of all objects that use this object",
    tag = "flows",
    params(("fsb_uuid" = Uuid, Path, description = "A UUID string identifying this Flow Stage Binding.")),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = Vec<UsedBy>),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn binding_used_by(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
) -> Result<Json<Vec<UsedBy>>, ServiceError> {
    Ok(Json(
        bindings::binding_used_by(&state.db, &principal, uuid_path(path)).await?,
    ))
}
