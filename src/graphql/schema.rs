//! The query and mutation roots: each resolver converts its arguments, calls the use case in
//! `stages` and converts the result.

use async_graphql::{Context, EmptySubscription, Object, Schema};
use uuid::Uuid;

use super::error::IntoGraphql;
use super::loaders::FlowStages;
use super::plain::{CaptchaStageObject, FlowObject};
use super::types::{CreateCaptchaStageInput, PageObject, UpdateCaptchaStageInput};
use crate::auth::Principal;
use crate::db::Db;
use crate::flows::Flow;
use crate::limits::{GRAPHQL_EXPECTED_LIST_SIZE, MAX_GRAPHQL_DEPTH, MAX_GRAPHQL_OBJECTS};
use crate::pagination::{PageNumber, PageRequest, PageSize};
use crate::stages::{self, CaptchaStage, StageFilter, WriteMode};

pub type ApiSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// What a resolver needs from the request: the database and the authenticated caller.
pub struct RequestContext {
    pub db: Db,
    pub principal: Principal,
}

fn request<'a>(ctx: &Context<'a>) -> &'a RequestContext {
    ctx.data_unchecked::<RequestContext>()
}

/// Registers the flows a response will show, so that their `stages` load in one batch; only
/// when the query asks for `stages` at `path` below the current field.
fn show_flows<'a>(ctx: &Context<'_>, path: &[&str], flows: impl IntoIterator<Item = &'a Flow>) {
    let selection = path
        .iter()
        .fold(ctx.look_ahead(), |at, name| at.field(name));
    if selection.exists() {
        ctx.data_unchecked::<FlowStages>()
            .register(flows.into_iter().map(|flow| flow.id));
    }
}

fn show_stages<'a>(
    ctx: &Context<'_>,
    path: &[&str],
    stages: impl IntoIterator<Item = &'a CaptchaStage>,
) {
    show_flows(ctx, path, stages.into_iter().flat_map(CaptchaStage::flows));
}

/// Where `Flow.stages` sits below a field returning a stage, a page of stages, a flow, a page
/// of flows.
const STAGE_FLOWS: &[&str] = &["flowSet", "stages"];
const PAGE_FLOWS: &[&str] = &["results", "flowSet", "stages"];
const FLOW: &[&str] = &["stages"];
const FLOW_PAGE: &[&str] = &["results", "stages"];

/// Builds the schema; needs no database (the SDL export runs without one).
pub fn build_schema() -> ApiSchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .limit_depth(MAX_GRAPHQL_DEPTH)
        .limit_complexity(MAX_GRAPHQL_OBJECTS)
        .finish()
}

/// The cost of a paged field: the page object, and `pageSize` times what each item selects
/// (`child_complexity` counts one item and the pagination block).
pub fn page_cost(page_size: Option<i32>, child_complexity: usize) -> usize {
    let size = page_request(None, page_size).page_size() as usize;
    1usize.saturating_add(size.saturating_mul(child_complexity))
}

/// The cost of a nested list of objects: its expected length times one item.
pub fn list_cost(child_complexity: usize) -> usize {
    GRAPHQL_EXPECTED_LIST_SIZE.saturating_mul(1usize.saturating_add(child_complexity))
}

fn page_request(page: Option<i32>, page_size: Option<i32>) -> PageRequest {
    PageRequest {
        number: page.map_or(PageNumber::Number(1), |n| PageNumber::Number(n.into())),
        size: page_size.map_or(PageSize::Default, |n| PageSize::Requested(n.into())),
    }
}

pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// One captcha stage; `null` when there is none with this id.
    async fn captcha_stage(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Option<CaptchaStageObject>> {
        let RequestContext { db, principal } = request(ctx);
        let stage = stages::find_captcha_stage(db, principal, Ok(id))
            .await
            .gql()?;
        show_stages(ctx, STAGE_FLOWS, &stage);
        Ok(stage.map(CaptchaStageObject::from))
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
    ) -> async_graphql::Result<PageObject<CaptchaStageObject>> {
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
        show_stages(ctx, PAGE_FLOWS, &page.results);
        Ok(page.into())
    }

    /// One flow by slug; `null` when there is none.
    async fn flow(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<Option<FlowObject>> {
        let RequestContext { db, principal } = request(ctx);
        let flow = stages::find_flow(db, principal, &slug).await.gql()?;
        show_flows(ctx, FLOW, &flow);
        Ok(flow.map(FlowObject::from))
    }

    /// A page of flows by slug; `search` matches name, slug, title and designation.
    #[graphql(complexity = "page_cost(page_size, child_complexity)")]
    async fn flows(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        page: Option<i32>,
        page_size: Option<i32>,
    ) -> async_graphql::Result<PageObject<FlowObject>> {
        let RequestContext { db, principal } = request(ctx);
        let page = stages::list_flows(
            db,
            principal,
            search.as_deref(),
            &page_request(page, page_size),
        )
        .await
        .gql()?;
        show_flows(ctx, FLOW_PAGE, &page.results);
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
        input: CreateCaptchaStageInput,
    ) -> async_graphql::Result<CaptchaStageObject> {
        let RequestContext { db, principal } = request(ctx);
        let stage = stages::create_captcha_stage(db, principal, Ok(input.into()))
            .await
            .gql()?;
        show_stages(ctx, STAGE_FLOWS, [&stage]);
        Ok(CaptchaStageObject::from(stage))
    }

    /// Changes the fields given (REST's PATCH).
    async fn update_captcha_stage(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateCaptchaStageInput,
    ) -> async_graphql::Result<CaptchaStageObject> {
        let RequestContext { db, principal } = request(ctx);
        let stage =
            stages::update_captcha_stage(db, principal, Ok(id), Ok(input.into()), WriteMode::Patch)
                .await
                .gql()?;
        show_stages(ctx, STAGE_FLOWS, [&stage]);
        Ok(CaptchaStageObject::from(stage))
    }

    /// Replaces the stage (REST's PUT): optional fields left out keep their values.
    async fn replace_captcha_stage(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: CreateCaptchaStageInput,
    ) -> async_graphql::Result<CaptchaStageObject> {
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
        show_stages(ctx, STAGE_FLOWS, [&stage]);
        Ok(CaptchaStageObject::from(stage))
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
}
