//! What GraphQL adds to the declared objects: pages, the `Stage` interface, and the relations
//! resolved through the request's batch loader (`Flow.stages`, `Flow.stageBindings`,
//! `FlowStageBinding.target`, `FlowStageBinding.stage`, `CaptchaStage.usedBy`), with the plain
//! path's answers for relations already loaded.

use async_graphql::parser::types::Field;
use async_graphql::{
    ComplexObject, Context, ContextSelectionSet, Interface, OutputType, Positioned, SimpleObject,
};
use std::sync::Arc;

use uuid::Uuid;

use super::error::IntoGraphql;
use super::loaders::Relations;
use super::schema::RequestContext;
use crate::auth::Permission;
use crate::bindings::FlowStageBinding;
use crate::error::ServiceError;
use crate::flows::Flow;
use crate::object::plain::{
    Json, Plain, PlainList, PlainObject, PlainRelations, in_child_context, plain_child,
    plain_objects,
};
use crate::pagination;
use crate::stages::{self, CaptchaStage};
use crate::used_by::UsedBy;

/// authentik's pagination block; `0` means "none" for `next` and `previous`.
#[derive(SimpleObject)]
pub struct Pagination {
    #[graphql(complexity = 0)]
    pub next: u64,
    #[graphql(complexity = 0)]
    pub previous: u64,
    #[graphql(complexity = 0)]
    pub count: u64,
    #[graphql(complexity = 0)]
    pub current: u64,
    #[graphql(complexity = 0)]
    pub total_pages: u64,
    #[graphql(complexity = 0)]
    pub start_index: u64,
    #[graphql(complexity = 0)]
    pub end_index: u64,
}

impl From<pagination::Pagination> for Pagination {
    fn from(p: pagination::Pagination) -> Self {
        Pagination {
            next: p.next,
            previous: p.previous,
            count: p.count,
            current: p.current,
            total_pages: p.total_pages,
            start_index: p.start_index,
            end_index: p.end_index,
        }
    }
}

// The items go through the plain path (`PlainList`).
/// One page of a list: authentik's pagination block and the page's items.
#[derive(SimpleObject)]
#[graphql(concrete(name = "CaptchaStagePage", params(CaptchaStage)))]
#[graphql(concrete(name = "FlowPage", params(Flow)))]
#[graphql(concrete(name = "FlowStageBindingPage", params(FlowStageBinding)))]
pub struct PageObject<T: PlainObject + OutputType> {
    pub pagination: Pagination,
    pub results: PlainList<T>,
}

impl<T: PlainObject + OutputType> From<pagination::Page<T>> for PageObject<T> {
    fn from(page: pagination::Page<T>) -> Self {
        PageObject {
            pagination: page.pagination.into(),
            results: page.results.into_iter().collect(),
        }
    }
}

/// What a captcha provider said of a token, and authentik's decision on it.
#[derive(SimpleObject)]
pub struct CaptchaVerification {
    /// Whether the token passes the stage (as the flow executor would let it pass).
    #[graphql(complexity = 0)]
    pub passed: bool,
    /// authentik's message when it does not: `Failed to validate token`, `Invalid captcha
    /// response`, or `Invalid captcha response. Retrying may solve this issue.`
    #[graphql(complexity = 0)]
    pub message: Option<String>,
    /// The provider's `success`, when it answered.
    #[graphql(complexity = 0)]
    pub success: Option<bool>,
    #[graphql(complexity = 0)]
    pub score: Option<f64>,
    /// The provider's `error-codes`.
    #[graphql(complexity = 0)]
    pub error_codes: Vec<String>,
    #[graphql(complexity = 0)]
    pub hostname: Option<String>,
    /// The provider's `challenge_ts`.
    #[graphql(complexity = 0)]
    pub challenge_ts: Option<String>,
    #[graphql(complexity = 0)]
    pub action: Option<String>,
}

impl From<crate::executor::verify::Verification> for CaptchaVerification {
    fn from(v: crate::executor::verify::Verification) -> Self {
        CaptchaVerification {
            passed: v.passed,
            message: v.message.map(str::to_string),
            success: v.success(),
            score: v.score(),
            error_codes: v.error_codes(),
            hostname: v.text("hostname"),
            challenge_ts: v.text("challenge_ts"),
            action: v.text("action"),
        }
    }
}

/// A stage of any kind (only captcha stages exist so far): what every stage answers.
#[derive(Interface)]
#[graphql(
    name = "Stage",
    field(name = "id", method = "pk", ty = "&Uuid"),
    field(name = "name", ty = "&String"),
    field(name = "component", ty = "&&'static str"),
    field(name = "flow_set", ty = "&Vec<Flow>")
)]
pub enum StageObject {
    CaptchaStage(CaptchaStage),
}

fn request<'a>(ctx: &Context<'a>) -> &'a RequestContext {
    ctx.data_unchecked::<RequestContext>()
}

fn relations<'a>(ctx: &Context<'a>) -> &'a Relations {
    ctx.data_unchecked::<Relations>()
}

#[ComplexObject]
impl CaptchaStage {
    /// What deleting this stage would affect.
    #[graphql(complexity = "crate::limits::graphql_list_cost(child_complexity)")]
    async fn used_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<UsedBy>> {
        let RequestContext { db, principal } = request(ctx);
        stages::captcha_stage_used_by(db, principal, Ok(self.pk))
            .await
            .gql()
    }
}

impl PlainRelations for CaptchaStage {}

#[ComplexObject]
impl Flow {
    /// The stages bound into this flow, by binding order (batched across a whole response).
    #[graphql(complexity = "crate::limits::graphql_list_cost(child_complexity)")]
    async fn stages(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StageObject>> {
        let relations = relations(ctx);
        let stages = relations.stages_of(self.pk).await.gql()?;
        relations.register_stages(stages.iter().map(|stage| &**stage));
        Ok(stages
            .into_iter()
            .map(|stage| StageObject::CaptchaStage(Arc::unwrap_or_clone(stage)))
            .collect())
    }

    /// This flow's bindings, by order (batched across a whole response).
    #[graphql(complexity = "crate::limits::graphql_list_cost(child_complexity)")]
    async fn stage_bindings(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<PlainList<FlowStageBinding>> {
        let relations = relations(ctx);
        let bindings = relations.bindings_of(self.pk).await.gql()?;
        relations.register_bindings(bindings.iter());
        Ok(bindings.iter().cloned().collect())
    }
}

/// `stages` and `stageBindings` through the plain path, when the batch holding them is loaded
/// already (a root resolver preloads it when the selection asks for it) and the caller may see
/// them; otherwise their resolvers answer (and report a missing permission).
impl PlainRelations for Flow {
    fn plain_relation(
        &self,
        name: &str,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Json,
    ) -> Option<()> {
        let relations = ctx.data_opt::<Relations>()?;
        let principal = &ctx.data_opt::<RequestContext>()?.principal;
        match name {
            "stageBindings" if principal.may(Permission::ViewFlowStageBinding) => {
                let bindings = relations.loaded_bindings(self.pk)?;
                plain_objects(bindings.iter(), ctx, field, out)
            }
            "stages" if principal.may(Permission::ViewCaptchaStage) => {
                let bindings = relations.loaded_bindings(self.pk)?;
                in_child_context(ctx, field, |child| {
                    out.push(b'[');
                    let mut first = true;
                    for binding in bindings.iter() {
                        // A binding whose stage is gone shows no stage, as `stages` resolves it.
                        if let Some(stage) = relations.loaded_stage(binding.stage)? {
                            if !std::mem::take(&mut first) {
                                out.push(b',');
                            }
                            stage.plain_object(child, out)?;
                        }
                    }
                    out.push(b']');
                    Some(())
                })
            }
            _ => None,
        }
    }
}

#[ComplexObject]
impl FlowStageBinding {
    /// The flow the stage is bound into.
    async fn target(&self, ctx: &Context<'_>) -> async_graphql::Result<Plain<Flow>> {
        relations(ctx)
            .flow(self.target)
            .await
            .and_then(|flow| flow.ok_or(ServiceError::NotFound(crate::flows::NO_FLOW)))
            .map(Plain)
            .gql()
    }

    /// The bound stage, shown to whoever may view the binding.
    async fn stage(&self, ctx: &Context<'_>) -> async_graphql::Result<StageObject> {
        let relations = relations(ctx);
        let stage = relations
            .stage(self.stage)
            .await
            .and_then(|stage| stage.ok_or(ServiceError::NotFound(crate::error::NO_CAPTCHA_STAGE)))
            .gql()?;
        relations.register_stages([&*stage]);
        Ok(StageObject::CaptchaStage(Arc::unwrap_or_clone(stage)))
    }
}

/// `stage` through the plain path when the bound stage is loaded already.
impl PlainRelations for FlowStageBinding {
    fn plain_relation(
        &self,
        name: &str,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Json,
    ) -> Option<()> {
        match name {
            "stage" => {
                let stage = ctx.data_opt::<Relations>()?.loaded_stage(self.stage)??;
                plain_child(&*stage, ctx, field, out)
            }
            _ => None,
        }
    }
}
