//! GraphQL's view of the domain: output objects wrap the domain read models, inputs convert to
//! the domain's inputs. Names are GraphQL's (camelCase, UPPER_CASE enums); values are REST's.

use async_graphql::{Context, Enum, InputObject, Object, OutputType, SimpleObject};
use secrecy::SecretString;
use uuid::Uuid;

use super::error::IntoGraphql;
use super::loaders::FlowStages;
use super::plain::{CaptchaStageObject, FlowObject};
use crate::flows::{self, Flow, FlowInput};
use crate::pagination;
use crate::stages::{self, CaptchaStage, CaptchaStageInput};
use crate::validation::{Choice, Field};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "flows::Designation")]
pub enum FlowDesignation {
    Authentication,
    Authorization,
    Invalidation,
    Enrollment,
    Unenrollment,
    Recovery,
    StageConfiguration,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "flows::PolicyEngineMode")]
pub enum PolicyEngineMode {
    All,
    Any,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "flows::FlowLayout")]
pub enum FlowLayout {
    Stacked,
    ContentLeft,
    ContentRight,
    SidebarLeft,
    SidebarRight,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "flows::DeniedAction")]
pub enum DeniedAction {
    MessageContinue,
    Message,
    Continue,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "stages::UsedByAction")]
pub enum UsedByAction {
    Cascade,
    CascadeMany,
    SetNull,
    SetDefault,
}

// The resolvers of every field; `plain::CaptchaStageObject` answers simple selections
// without them.
/// A captcha stage. It has no private key: that is write-only.
pub struct CaptchaStageFields(pub CaptchaStage);

// Serial: the fields are plain reads, so resolving them one after another costs less than
// scheduling each as a concurrent future (a page of 100 stages has thousands of fields).
#[Object(name = "CaptchaStage", serial)]
impl CaptchaStageFields {
    /// The stage UUID (REST's `pk`).
    #[graphql(complexity = 0)]
    async fn id(&self) -> Uuid {
        self.0.id
    }
    #[graphql(complexity = 0)]
    async fn name(&self) -> &str {
        &self.0.name
    }
    #[graphql(complexity = 0)]
    async fn component(&self) -> &str {
        stages::COMPONENT
    }
    #[graphql(complexity = 0)]
    async fn verbose_name(&self) -> &str {
        stages::VERBOSE_NAME
    }
    #[graphql(complexity = 0)]
    async fn verbose_name_plural(&self) -> &str {
        stages::VERBOSE_NAME_PLURAL
    }
    #[graphql(complexity = 0)]
    async fn meta_model_name(&self) -> &str {
        stages::META_MODEL_NAME
    }
    /// The flows this stage is bound into, one entry per binding.
    #[graphql(complexity = "super::schema::list_cost(child_complexity)")]
    async fn flow_set(&self) -> Vec<FlowObject> {
        self.0.flows().cloned().map(FlowObject::from).collect()
    }
    #[graphql(complexity = 0)]
    async fn public_key(&self) -> &str {
        &self.0.public_key
    }
    #[graphql(complexity = 0)]
    async fn js_url(&self) -> &str {
        &self.0.js_url
    }
    #[graphql(complexity = 0)]
    async fn api_url(&self) -> &str {
        &self.0.api_url
    }
    #[graphql(complexity = 0)]
    async fn interactive(&self) -> bool {
        self.0.interactive
    }
    #[graphql(complexity = 0)]
    async fn score_min_threshold(&self) -> f64 {
        self.0.score_min_threshold
    }
    #[graphql(complexity = 0)]
    async fn score_max_threshold(&self) -> f64 {
        self.0.score_max_threshold
    }
    #[graphql(complexity = 0)]
    async fn error_on_invalid_score(&self) -> bool {
        self.0.error_on_invalid_score
    }
    /// What deleting this stage would affect.
    #[graphql(complexity = "super::schema::list_cost(child_complexity)")]
    async fn used_by(&self) -> Vec<UsedBy> {
        self.0
            .used_by()
            .into_iter()
            .map(|u| UsedBy {
                app: u.app.to_string(),
                model_name: u.model_name.to_string(),
                pk: u.pk,
                name: u.name,
                action: u.action.into(),
            })
            .collect()
    }
}

pub struct FlowFields(pub Flow);

#[Object(name = "Flow", serial)]
impl FlowFields {
    #[graphql(complexity = 0)]
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// In authentik the id of the flow's policy-binding parent.
    #[graphql(complexity = 0)]
    async fn policybindingmodel_ptr_id(&self) -> Uuid {
        self.0.policybindingmodel_ptr_id
    }
    #[graphql(complexity = 0)]
    async fn name(&self) -> &str {
        &self.0.name
    }
    #[graphql(complexity = 0)]
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    #[graphql(complexity = 0)]
    async fn title(&self) -> &str {
        &self.0.title
    }
    #[graphql(complexity = 0)]
    async fn designation(&self) -> FlowDesignation {
        self.0.designation.into()
    }
    #[graphql(complexity = 0)]
    async fn background(&self) -> String {
        self.0.background_url()
    }
    #[graphql(complexity = 0)]
    async fn policy_engine_mode(&self) -> PolicyEngineMode {
        self.0.policy_engine_mode.into()
    }
    #[graphql(complexity = 0)]
    async fn compatibility_mode(&self) -> bool {
        self.0.compatibility_mode
    }
    #[graphql(complexity = 0)]
    async fn export_url(&self) -> String {
        self.0.export_url()
    }
    #[graphql(complexity = 0)]
    async fn layout(&self) -> FlowLayout {
        self.0.layout.into()
    }
    #[graphql(complexity = 0)]
    async fn denied_action(&self) -> DeniedAction {
        self.0.denied_action.into()
    }
    /// The captcha stages bound into this flow (batched across a whole response).
    #[graphql(complexity = "super::schema::list_cost(child_complexity)")]
    async fn stages(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CaptchaStageObject>> {
        let batch = ctx.data_unchecked::<FlowStages>();
        let stages = batch.stages_of(self.0.id).await.gql()?;
        Ok(stages.into_iter().map(CaptchaStageObject::from).collect())
    }
}

#[derive(SimpleObject)]
pub struct UsedBy {
    #[graphql(complexity = 0)]
    pub app: String,
    #[graphql(complexity = 0)]
    pub model_name: String,
    #[graphql(complexity = 0)]
    pub pk: String,
    #[graphql(complexity = 0)]
    pub name: String,
    #[graphql(complexity = 0)]
    pub action: UsedByAction,
}

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

/// One page of a list: authentik's pagination block and the page's items.
#[derive(SimpleObject)]
#[graphql(concrete(name = "CaptchaStagePage", params(CaptchaStageObject)))]
#[graphql(concrete(name = "FlowPage", params(FlowObject)))]
pub struct PageObject<T: OutputType> {
    pub pagination: Pagination,
    pub results: Vec<T>,
}

impl<D, T: OutputType + From<D>> From<pagination::Page<D>> for PageObject<T> {
    fn from(page: pagination::Page<D>) -> Self {
        PageObject {
            pagination: page.pagination.into(),
            results: page.results.into_iter().map(T::from).collect(),
        }
    }
}

/// A flow to bind the stage into, matched by slug: created when new, updated when bound.
#[derive(InputObject)]
pub struct FlowSetInput {
    pub name: String,
    pub slug: String,
    pub title: String,
    pub designation: FlowDesignation,
    pub policy_engine_mode: Option<PolicyEngineMode>,
    pub compatibility_mode: Option<bool>,
    pub layout: Option<FlowLayout>,
    pub denied_action: Option<DeniedAction>,
}

fn choice<C: Choice>(value: Option<impl Into<C>>) -> Field<String> {
    value.map(|v| v.into().value().to_string()).into()
}

impl From<FlowSetInput> for Field<FlowInput> {
    fn from(input: FlowSetInput) -> Self {
        Field::Given(FlowInput {
            name: Field::Given(input.name),
            slug: Field::Given(input.slug),
            title: Field::Given(input.title),
            designation: choice::<flows::Designation>(Some(input.designation)),
            policy_engine_mode: choice::<flows::PolicyEngineMode>(input.policy_engine_mode),
            compatibility_mode: input.compatibility_mode.into(),
            layout: choice::<flows::FlowLayout>(input.layout),
            denied_action: choice::<flows::DeniedAction>(input.denied_action),
        })
    }
}

fn flow_set(items: Option<Vec<FlowSetInput>>) -> Field<Vec<Field<FlowInput>>> {
    items
        .map(|items| items.into_iter().map(Field::from).collect())
        .into()
}

/// A new captcha stage (also the whole stage, for `replaceCaptchaStage`).
#[derive(InputObject)]
pub struct CreateCaptchaStageInput {
    pub name: String,
    pub flow_set: Option<Vec<FlowSetInput>>,
    pub public_key: String,
    /// Write-only: it is never returned.
    pub private_key: String,
    pub js_url: Option<String>,
    pub api_url: Option<String>,
    pub interactive: Option<bool>,
    pub score_min_threshold: Option<f64>,
    pub score_max_threshold: Option<f64>,
    pub error_on_invalid_score: Option<bool>,
}

impl From<CreateCaptchaStageInput> for CaptchaStageInput {
    fn from(input: CreateCaptchaStageInput) -> Self {
        UpdateCaptchaStageInput {
            name: Some(input.name),
            flow_set: input.flow_set,
            public_key: Some(input.public_key),
            private_key: Some(input.private_key),
            js_url: input.js_url,
            api_url: input.api_url,
            interactive: input.interactive,
            score_min_threshold: input.score_min_threshold,
            score_max_threshold: input.score_max_threshold,
            error_on_invalid_score: input.error_on_invalid_score,
        }
        .into()
    }
}

/// Changes to a captcha stage: only the fields given (`null` counts as not given).
#[derive(InputObject)]
pub struct UpdateCaptchaStageInput {
    pub name: Option<String>,
    pub flow_set: Option<Vec<FlowSetInput>>,
    pub public_key: Option<String>,
    /// Write-only: it is never returned.
    pub private_key: Option<String>,
    pub js_url: Option<String>,
    pub api_url: Option<String>,
    pub interactive: Option<bool>,
    pub score_min_threshold: Option<f64>,
    pub score_max_threshold: Option<f64>,
    pub error_on_invalid_score: Option<bool>,
}

impl From<UpdateCaptchaStageInput> for CaptchaStageInput {
    fn from(input: UpdateCaptchaStageInput) -> Self {
        CaptchaStageInput {
            name: input.name.into(),
            flow_set: flow_set(input.flow_set),
            public_key: input.public_key.into(),
            private_key: Field::from(input.private_key).map(SecretString::from),
            js_url: input.js_url.into(),
            api_url: input.api_url.into(),
            interactive: input.interactive.into(),
            score_min_threshold: input.score_min_threshold.into(),
            score_max_threshold: input.score_max_threshold.into(),
            error_on_invalid_score: input.error_on_invalid_score.into(),
        }
    }
}
