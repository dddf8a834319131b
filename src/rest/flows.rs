//! The handlers of `/api/v3/flows/instances/` (flows by slug): each converts the wire request,
//! calls its use case in `flows`, and converts the result back.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};

use super::openapi::{
    FlowListQuery, GenericErrorResponse, PaginatedFlowList, ValidationErrorResponse,
};
use super::wire::PaginatedOut;
use super::{Authenticated, Body, Params, PathParam, decode};
use crate::app::AppState;
use crate::error::{NOT_FOUND, ServiceError};
use crate::flows::{
    self, Flow, FlowFilter, FlowInput, FlowKey, FlowPatchedRequestSchema, FlowRequestSchema,
    NO_FLOW,
};
use crate::object::WriteMode;
use crate::stages::Submitted;
use crate::used_by::UsedBy;

/// The flow a path names, by slug.
fn flow_key(path: PathParam) -> Submitted<FlowKey> {
    path.map(|Path(slug)| FlowKey::Slug(slug))
        .map_err(|_| ServiceError::NotFound(NOT_FOUND))
}

/// List flows, filtered, ordered and paginated.
#[utoipa::path(
    get,
    path = "/flows/instances/",
    operation_id = "flows_instances_list",
    description = "Flow Viewset",
    tag = "flows",
    params(FlowListQuery),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = PaginatedFlowList),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn list_flows(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<PaginatedOut<Flow>>, ServiceError> {
    let params = Params::parse(query);
    let filter = FlowFilter {
        flow_uuid: params.get("flow_uuid"),
        name: params.get("name"),
        slug: params.get("slug"),
        designation: params.get("designation"),
        denied_action: params.get("denied_action"),
        search: params.get("search"),
        ordering: params.get("ordering"),
    };
    let page = flows::list_flows(&state.db, &principal, &filter, &params.page_request()).await?;
    Ok(Json(page.into()))
}

/// Create a flow.
#[utoipa::path(
    post,
    path = "/flows/instances/",
    operation_id = "flows_instances_create",
    description = "Flow Viewset",
    tag = "flows",
    request_body(content = FlowRequestSchema, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 201, description = "", body = Flow),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
pub async fn create_flow(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Flow>), ServiceError> {
    let input = decode::input(&headers, body, FlowInput::from_json);
    let flow = flows::create_flow(&state.db, &principal, input).await?;
    Ok((StatusCode::CREATED, Json(flow)))
}

/// Retrieve a flow.
#[utoipa::path(
    get,
    path = "/flows/instances/{slug}/",
    operation_id = "flows_instances_retrieve",
    description = "Flow Viewset",
    tag = "flows",
    params(("slug" = String, Path, description = "Visible in the URL.")),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = Flow),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn retrieve_flow(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
) -> Result<Json<Flow>, ServiceError> {
    flows::find_flow(&state.db, &principal, flow_key(path))
        .await?
        .map(Json)
        .ok_or(ServiceError::NotFound(NO_FLOW))
}

async fn write_flow(
    state: AppState,
    principal: crate::auth::Principal,
    path: PathParam,
    headers: HeaderMap,
    body: Body,
    mode: WriteMode,
) -> Result<Json<Flow>, ServiceError> {
    let input = decode::input(&headers, body, FlowInput::from_json);
    let flow = flows::update_flow(&state.db, &principal, flow_key(path), input, mode).await?;
    Ok(Json(flow))
}

/// Replace a flow; optional keys left out keep their stored values.
#[utoipa::path(
    put,
    path = "/flows/instances/{slug}/",
    operation_id = "flows_instances_update",
    description = "Flow Viewset",
    tag = "flows",
    params(("slug" = String, Path, description = "Visible in the URL.")),
    request_body(content = FlowRequestSchema, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = Flow),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
pub async fn replace_flow(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Flow>, ServiceError> {
    write_flow(state, principal, path, headers, body, WriteMode::Replace).await
}

/// Update a flow: PATCH changes only the keys given.
#[utoipa::path(
    patch,
    path = "/flows/instances/{slug}/",
    operation_id = "flows_instances_partial_update",
    description = "Flow Viewset",
    tag = "flows",
    params(("slug" = String, Path, description = "Visible in the URL.")),
    request_body(content = FlowPatchedRequestSchema, content_type = "application/json"),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = Flow),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
        (status = 413, response = GenericErrorResponse),
        (status = 415, response = GenericErrorResponse),
    )
)]
pub async fn update_flow(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Flow>, ServiceError> {
    write_flow(state, principal, path, headers, body, WriteMode::Patch).await
}

/// Delete a flow and its bindings (never a stage).
#[utoipa::path(
    delete,
    path = "/flows/instances/{slug}/",
    operation_id = "flows_instances_destroy",
    description = "Flow Viewset",
    tag = "flows",
    params(("slug" = String, Path, description = "Visible in the URL.")),
    security(("authentik" = [])),
    responses(
        (status = 204, description = "No response body"),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn delete_flow(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
) -> Result<StatusCode, ServiceError> {
    flows::delete_flow(&state.db, &principal, flow_key(path)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What deleting the flow would affect: its bindings and the stages bound into it.
#[utoipa::path(
    get,
    path = "/flows/instances/{slug}/used_by/",
    operation_id = "flows_instances_used_by_list",
    description = "Get a list of all objects that use this object",
    tag = "flows",
    params(("slug" = String, Path, description = "Visible in the URL.")),
    security(("authentik" = [])),
    responses(
        (status = 200, description = "", body = Vec<UsedBy>),
        (status = 400, response = ValidationErrorResponse),
        (status = 403, response = GenericErrorResponse),
        (status = 404, response = GenericErrorResponse),
    )
)]
pub async fn flow_used_by(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    path: PathParam,
) -> Result<Json<Vec<UsedBy>>, ServiceError> {
    Ok(Json(
        flows::flow_used_by(&state.db, &principal, flow_key(path)).await?,
    ))
}
