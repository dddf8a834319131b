//! The query and mutation roots: each resolver converts its arguments, calls the use case and
//! converts the result. Objects are returned through the plain path (`Plain`), and every object
//! a response shows is registered with the request's batch loader for the relations below it.

use async_graphql::{Context, EmptySubscription, Object, SDLExportOptions, Schema};
use uuid::Uuid;

use super::error::IntoGraphql;
use super::loaders::Relations;
use super::scalars::UuidSpecifiedBy;
use super::types::{CaptchaVerification, PageObject};
use crate::auth::Principal;
use crate::bindings::{
    self, BindingFilter, FlowStageBinding, FlowStageBindingCreateInput, FlowStageBindingUpdateInput,
};
use crate::db::Db;
use crate::error::{ErrorTree, FieldErrors, ServiceError};
use crate::executor::verify::Verifier;
use crate::flows::{
    self, DeniedAction, Designation, Flow, FlowCreateInput, FlowFilter, FlowKey, FlowUpdateInput,
};
use crate::limits::{MAX_GRAPHQL_DEPTH, MAX_GRAPHQL_OBJECTS};
use crate::object::plain::Plain;
use crate::object::{Choice, WriteMode};
use crate::pagination::{PageNumber, PageRequest, PageSize};
use crate::stages::{
    self, CaptchaStage, CaptchaStageCreateInput, CaptchaStageUpdateInput, StageFilter,
};

pub type ApiSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// What a resolver needs from the request: the database and the authenticated caller.
pub struct RequestContext {
    pub db: Db,
    pub principal: Principal,
}

fn request<'a>(ctx: &Context<'a>) -> &'a RequestContext {
    ctx.data_unchecked::<RequestContext>()
}

fn relations<'a>(ctx: &Context<'a>) -> &'a Relations {
    ctx.data_unchecked::<Relations>()
}

/// Builds the schema; needs no database (the SDL export runs without one).
pub fn build_schema() -> ApiSchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .register_output_type::<UuidSpecifiedBy>()
        .limit_depth(MAX_GRAPHQL_DEPTH)
        .limit_complexity(MAX_GRAPHQL_OBJECTS)
        .finish()
}

/// The SDL that `schema.graphql` holds and `GET /graphql/schema.graphql` serves: custom
/// scalars carry `@specifiedBy`, which codegen tools read.
pub fn sdl(schema: &ApiSchema) -> String {
    schema.sdl_with_options(SDLExportOptions::new().include_specified_by())
}

/// The cost of a paged field: the page object, and `pageSize` times what each item selects
/// (`child_complexity` counts one item and the pagination block).
pub fn page_cost(page_size: Option<i32>, child_complexity: usize) -> usize {
    let size = page_request(None, page_size).page_size() as usize;
    1usize.saturating_add(size.saturating_mul(child_complexity))
}

fn page_request(page: Option<i32>, page_size: Option<i32>) -> PageRequest {
    PageRequest {
        number: page.map_or(PageNumber::Number(1), |n| PageNumber::Number(n.into())),
        size: page_size.map_or(PageSize::Default, |n| PageSize::Requested(n.into())),
    }
}

fn text<C: Choice>(choice: Option<C>) -> Option<String> {
    choice.map(|c| c.value().to_string())
}

/// Whether the selection below the current field asks for `path`.
fn selects(ctx: &Context<'_>, path: &[&str]) -> bool {
    path.iter()
        .fold(ctx.look_ahead(), |at, name| at.field(name))
        .exists()
}

/// Registers flows for their relations and, when the selection asks for their stages or
/// bindings, loads those now, so that the plain path can answer them.
async fn show_flows(ctx: &Context<'_>, flows: &[Flow], below: &[&str]) {
    let relations = relations(ctx);
    relations.register_flows(flows);
    let Some(first) = flows.first() else {
        return;
    };
    let asks = |name: &str| selects(ctx, &[below, &[name]].concat());
    // A missing permission is reported by the field's own resolver, not here.
    if asks("stages") {
        let _ = relations.stages_of(first.pk).await;
    } else if asks("stageBindings") {
        let _ = relations.bindings_of(first.pk).await;
    }
}

/// Registers bindings for their stage and flow and, when the selection asks for the stage,
/// loads it now for the plain path.
async fn show_bindings(ctx: &Context<'_>, bindings: &[FlowStageBinding], below: &[&str]) {
    let relations = relations(ctx);
    relations.register_bindings(bindings);
    if let Some(first) = bindings.first()
        && selects(ctx, &[below, &["stage"]].concat())
    {
        let _ = relations.stage(first.stage).await;
    }
}

fn show_stages<'a>(ctx: &Context<'_>, stages: impl IntoIterator<Item = &'a CaptchaStage>) {
    relations(ctx).register_stages(stages);
}

const RESULTS: &[&str] = &["results"];
const HERE: &[&str] = &[];

pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// One captcha stage; `null` when there is none with this id.
    async fn captcha_stage(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Option<Plain<CaptchaStage>>> {
        let RequestContext { db, principal } = request(ctx);
        let stage = stages::find_captcha_stage(db, principal, Ok(id))
            .await
            .gql()?;
        show_stages(ctx, &stage);
        Ok(stage.map(Plain))
    }

    /// A page of captcha stages, with REST's list semantics (`ordering` is its comma list).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "page_cost(page_size, child_complexity)")]
    async fn captcha_stages(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        public_key: Option<String>,
        search: Option<String>,
        ordering: Option<String>,
        page: Option<i32>,
        page_size: Option<i32>,
    ) -> async_graphql::Result<PageObject<CaptchaStage>> {
        let RequestContext { db, principal } = request(ctx);
        let filter = StageFilter {
            name,
            public_key,
            search,
            ordering,
        };
        let page =
            stages::list_captcha_stages(db, principal, &filter, &page_request(page, page_size))
                .await
                .gql()?;
        show_stages(ctx, &page.results);
        Ok(page.into())
    }

    /// One flow, by `slug` or by `id` (exactly one of the two); `null` when there is none.
    async fn flow(
        &self,
        ctx: &Context<'_>,
        slug: Option<String>,
        id: Option<Uuid>,
    ) -> async_graphql::Result<Option<Plain<Flow>>> {
        let RequestContext { db, principal } = request(ctx);
        let key = match (slug, id) {
            (Some(slug), None) => Ok(FlowKey::Slug(slug)),
            (None, Some(id)) => Ok(FlowKey::Id(id)),
            _ => Err(ServiceError::Validation(FieldErrors::from([(
                "non_field_errors".to_string(),
                ErrorTree::message("Give exactly one of slug and id."),
            )]))),
        };
        let flow = flows::find_flow(db, principal, key).await.gql()?;
        show_flows(ctx, flow.as_slice(), HERE).await;
        Ok(flow.map(Plain))
    }

    /// A page of flows, with REST's filters, search and ordering (by slug, then name).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "page_cost(page_size, child_complexity)")]
    async fn flows(
        &self,
        ctx: &Context<'_>,
        flow_uuid: Option<Uuid>,
        name: Option<String>,
        slug: Option<String>,
        designation: Option<Designation>,
        denied_action: Option<DeniedAction>,
        search: Option<String>,
        ordering: Option<String>,
        page: Option<i32>,
        page_size: Option<i32>,
    ) -> async_graphql::Result<PageObject<Flow>> {
        let RequestContext { db, principal } = request(ctx);
        let filter = FlowFilter {
            flow_uuid: flow_uuid.map(|id| id.to_string()),
            name,
            slug,
            designation: text(designation),
            denied_action: text(denied_action),
            search,
            ordering,
        };
        let page = flows::page_of_flows(
            db,
            principal,
            &filter,
            &page_request(page, page_size),
            relations(ctx).flow_columns(),
        )
        .await
        .gql()?;
        show_flows(ctx, &page.results, RESULTS).await;
        Ok(page.into())
    }

    /// One binding; `null` when there is none with this id.
    async fn flow_stage_binding(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Option<Plain<FlowStageBinding>>> {
        let RequestContext { db, principal } = request(ctx);
        let binding = bindings::find_binding(db, principal, Ok(id)).await.gql()?;
        show_bindings(ctx, binding.as_slice(), HERE).await;
        Ok(binding.map(Plain))
    }

    /// A page of bindings, by order unless `ordering` says otherwise.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "page_cost(page_size, child_complexity)")]
    async fn flow_stage_bindings(
        &self,
        ctx: &Context<'_>,
        target: Option<Uuid>,
        stage: Option<Uuid>,
        order: Option<i32>,
        search: Option<String>,
        ordering: Option<String>,
        page: Option<i32>,
        page_size: Option<i32>,
    ) -> async_graphql::Result<PageObject<FlowStageBinding>> {
        let RequestContext { db, principal } = request(ctx);
        let filter = BindingFilter {
            target: target.map(|id| id.to_string()),
            stage: stage.map(|id| id.to_string()),
            order: order.map(|order| order.to_string()),
            search,
            ordering,
            ..Default::default()
        };
        let page = bindings::list_bindings(db, principal, &filter, &page_request(page, page_size))
            .await
            .gql()?;
        show_bindings(ctx, &page.results, RESULTS).await;
        Ok(page.into())
    }
}

pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Creates a captcha stage, and with `flowSet` new flows it is bound into (order 0).
    async fn create_captcha_stage(
        &self,
        ctx: &Context<'_>,
        input: CaptchaStageCreateInput,
    ) -> async_graphql::Result<Plain<CaptchaStage>> {
        let RequestContext { db, principal } = request(ctx);
        let stage = stages::create_captcha_stage(db, principal, Ok(input.into()))
            .await
            .gql()?;
        show_stages(ctx, [&stage]);
        Ok(Plain(stage))
    }

    /// Changes the fields given (REST's PATCH).
    async fn update_captcha_stage(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: CaptchaStageUpdateInput,
    ) -> async_graphql::Result<Plain<CaptchaStage>> {
        let RequestContext { db, principal } = request(ctx);
        let stage =
            stages::update_captcha_stage(db, principal, Ok(id), Ok(input.into()), WriteMode::Patch)
                .await
                .gql()?;
        show_stages(ctx, [&stage]);
        Ok(Plain(stage))
    }

    /// Replaces the stage (REST's PUT): optional fields left out keep their values.
    async fn replace_captcha_stage(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: CaptchaStageCreateInput,
    ) -> async_graphql::Result<Plain<CaptchaStage>> {
        let RequestContext { db, principal } = request(ctx);
        let stage = stages::update_captcha_stage(
            db,
            principal,
            Ok(id),
            Ok(input.into()),
            WriteMode::Replace,
        )
        .await
        .gql()?;
        show_stages(ctx, [&stage]);
        Ok(Plain(stage))
    }

    /// Deletes the stage and its bindings (never flows); returns its id.
    async fn delete_captcha_stage(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Uuid> {
        let RequestContext { db, principal } = request(ctx);
        stages::delete_captcha_stage(db, principal, Ok(id))
            .await
            .gql()
    }

    /// Creates a flow.
    async fn create_flow(
        &self,
        ctx: &Context<'_>,
        input: FlowCreateInput,
    ) -> async_graphql::Result<Plain<Flow>> {
        let RequestContext { db, principal } = request(ctx);
        let flow = flows::create_flow(db, principal, Ok(input.into()))
            .await
            .gql()?;
        show_flows(ctx, std::slice::from_ref(&flow), HERE).await;
        Ok(Plain(flow))
    }

    /// Changes the fields given of the flow called `slug` (REST's PATCH).
    async fn update_flow(
        &self,
        ctx: &Context<'_>,
        slug: String,
        input: FlowUpdateInput,
    ) -> async_graphql::Result<Plain<Flow>> {
        let RequestContext { db, principal } = request(ctx);
        let flow = flows::update_flow(
            db,
            principal,
            Ok(FlowKey::Slug(slug)),
            Ok(input.into()),
            WriteMode::Patch,
        )
        .await
        .gql()?;
        show_flows(ctx, std::slice::from_ref(&flow), HERE).await;
        Ok(Plain(flow))
    }

    /// Replaces the flow called `slug` (REST's PUT); it keeps its id and bindings.
    async fn replace_flow(
        &self,
        ctx: &Context<'_>,
        slug: String,
        input: FlowCreateInput,
    ) -> async_graphql::Result<Plain<Flow>> {
        let RequestContext { db, principal } = request(ctx);
        let flow = flows::update_flow(
            db,
            principal,
            Ok(FlowKey::Slug(slug)),
            Ok(input.into()),
            WriteMode::Replace,
        )
        .await
        .gql()?;
        show_flows(ctx, std::slice::from_ref(&flow), HERE).await;
        Ok(Plain(flow))
    }

    /// Deletes the flow and its bindings (never a stage); returns its id.
    async fn delete_flow(&self, ctx: &Context<'_>, slug: String) -> async_graphql::Result<Uuid> {
        let RequestContext { db, principal } = request(ctx);
        flows::delete_flow(db, principal, Ok(FlowKey::Slug(slug)))
            .await
            .gql()
    }

    /// Binds a stage into a flow at an order.
    async fn create_flow_stage_binding(
        &self,
        ctx: &Context<'_>,
        input: FlowStageBindingCreateInput,
    ) -> async_graphql::Result<Plain<FlowStageBinding>> {
        let RequestContext { db, principal } = request(ctx);
        let binding = bindings::create_binding(db, principal, Ok(input.into()))
            .await
            .gql()?;
        show_bindings(ctx, std::slice::from_ref(&binding), HERE).await;
        Ok(Plain(binding))
    }

    /// Changes the fields given of a binding (REST's PATCH).
    async fn update_flow_stage_binding(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: FlowStageBindingUpdateInput,
    ) -> async_graphql::Result<Plain<FlowStageBinding>> {
        let RequestContext { db, principal } = request(ctx);
        let binding =
            bindings::update_binding(db, principal, Ok(id), Ok(input.into()), WriteMode::Patch)
                .await
                .gql()?;
        show_bindings(ctx, std::slice::from_ref(&binding), HERE).await;
        Ok(Plain(binding))
    }

    /// Checks a captcha token with a stage's provider (its siteverify, with its private key),
    /// for applications that embed a widget themselves: the same call and decision as the flow
    /// executor's. Needs the permission to view captcha stages.
    async fn verify_captcha(
        &self,
        ctx: &Context<'_>,
        stage_id: Uuid,
        token: String,
        remote_ip: Option<String>,
    ) -> async_graphql::Result<CaptchaVerification> {
        let RequestContext { db, principal } = request(ctx);
        let remote_ip = match remote_ip.as_deref().map(str::parse::<std::net::IpAddr>) {
            None => None,
            Some(Ok(ip)) => Some(ip),
            Some(Err(_)) => {
                return Err(ServiceError::Validation(FieldErrors::from([(
                    "remote_ip".to_string(),
                    ErrorTree::message("Enter a valid IPv4 or IPv6 address."),
                )])))
                .gql();
            }
        };
        let verifier = ctx.data_unchecked::<Verifier>();
        crate::executor::verify_captcha(db, principal, verifier, stage_id, &token, remote_ip)
            .await
            .map(CaptchaVerification::from)
            .gql()
    }

    /// Deletes a binding (its flow and stage stay); returns its id.
    async fn delete_flow_stage_binding(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Uuid> {
        let RequestContext { db, principal } = request(ctx);
        bindings::delete_binding(db, principal, Ok(id)).await.gql()
    }
}
