//! authentik's response shapes, keys in authentik's order.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::flows::Flow;
use crate::pagination::{Page, Pagination};
use crate::rest::openapi::{
    DeniedActionEnum, FlowDesignationEnum, FlowLayoutEnum, PolicyEngineModeEnum, UsedByActionEnum,
    number_schema,
};
use crate::stages::{self, CaptchaStage, UsedBy, UsedByAction};
use crate::validation::Choice;

/// CaptchaStage. There is no `private_key`: it is write-only.
///
/// The OpenAPI `required` lists are authentik's, so that generated clients match its own; this
/// service always sends every key.
#[derive(Serialize, ToSchema)]
#[schema(as = CaptchaStage, description = "CaptchaStage Serializer")]
pub struct CaptchaStageOut {
    #[schema(read_only)]
    pub pk: Uuid,
    pub name: String,
    /// Get object type so that we know how to edit the object
    #[schema(read_only)]
    pub component: &'static str,
    /// Return object's verbose_name
    #[schema(read_only)]
    pub verbose_name: &'static str,
    /// Return object's plural verbose_name
    #[schema(read_only)]
    pub verbose_name_plural: &'static str,
    /// Return internal model name
    #[schema(read_only)]
    pub meta_model_name: &'static str,
    #[schema(required = false)]
    pub flow_set: Vec<FlowSetOut>,
    /// Public key, acquired your captcha Provider.
    pub public_key: String,
    #[schema(required = false)]
    pub js_url: String,
    #[schema(required = false)]
    pub api_url: String,
    #[schema(required = false)]
    pub interactive: bool,
    #[schema(required = false)]
    pub score_min_threshold: f64,
    #[schema(required = false)]
    pub score_max_threshold: f64,
    /// When enabled and the received captcha score is outside of the given threshold, the stage will show an error message. When not enabled, the flow will continue, but the data from the captcha will be available in the context for policy decisions
    #[schema(required = false)]
    pub error_on_invalid_score: bool,
}

impl From<CaptchaStage> for CaptchaStageOut {
    fn from(stage: CaptchaStage) -> Self {
        CaptchaStageOut {
            flow_set: stage
                .bindings
                .into_iter()
                .map(|binding| FlowSetOut::from(binding.flow))
                .collect(),
            pk: stage.id,
            name: stage.name,
            component: stages::COMPONENT,
            verbose_name: stages::VERBOSE_NAME,
            verbose_name_plural: stages::VERBOSE_NAME_PLURAL,
            meta_model_name: stages::META_MODEL_NAME,
            public_key: stage.public_key,
            js_url: stage.js_url,
            api_url: stage.api_url,
            interactive: stage.interactive,
            score_min_threshold: stage.score_min_threshold,
            score_max_threshold: stage.score_max_threshold,
            error_on_invalid_score: stage.error_on_invalid_score,
        }
    }
}

/// FlowSet: a flow as it appears inside a stage's `flow_set`.
#[derive(Serialize, ToSchema)]
#[schema(as = FlowSet, description = "Stripped down flow serializer")]
pub struct FlowSetOut {
    #[schema(read_only)]
    pub pk: Uuid,
    #[schema(read_only)]
    pub policybindingmodel_ptr_id: Uuid,
    pub name: String,
    /// Visible in the URL.
    #[schema(max_length = 50, pattern = "^[-a-zA-Z0-9_]+$")]
    pub slug: String,
    /// Shown as the Title in Flow pages.
    pub title: String,
    /// Decides what this Flow is used for. For example, the Authentication flow is redirect to when an un-authenticated user visits authentik.
    #[schema(value_type = FlowDesignationEnum)]
    pub designation: &'static str,
    /// Get the URL to the background image. If the name is /static or starts with http
    /// it is returned as-is
    #[schema(read_only)]
    pub background: String,
    #[schema(value_type = PolicyEngineModeEnum, required = false)]
    pub policy_engine_mode: &'static str,
    /// Enable compatibility mode, increases compatibility with password managers on mobile devices.
    #[schema(required = false)]
    pub compatibility_mode: bool,
    /// Get export URL for flow
    #[schema(read_only)]
    pub export_url: String,
    #[schema(value_type = FlowLayoutEnum, required = false)]
    pub layout: &'static str,
    /// Configure what should happen when a flow denies access to a user.
    #[schema(value_type = DeniedActionEnum, required = false)]
    pub denied_action: &'static str,
}

impl From<Flow> for FlowSetOut {
    fn from(flow: Flow) -> Self {
        FlowSetOut {
            background: flow.background_url(),
            export_url: flow.export_url(),
            pk: flow.id,
            policybindingmodel_ptr_id: flow.policybindingmodel_ptr_id,
            name: flow.name,
            slug: flow.slug,
            title: flow.title,
            designation: flow.designation.value(),
            policy_engine_mode: flow.policy_engine_mode.value(),
            compatibility_mode: flow.compatibility_mode,
            layout: flow.layout.value(),
            denied_action: flow.denied_action.value(),
        }
    }
}

// Every value is a whole number; authentik's schema types them `number`, and so does ours.
#[derive(Serialize, ToSchema)]
#[schema(as = Pagination)]
pub struct PaginationOut {
    #[schema(schema_with = number_schema)]
    pub next: u64,
    #[schema(schema_with = number_schema)]
    pub previous: u64,
    #[schema(schema_with = number_schema)]
    pub count: u64,
    #[schema(schema_with = number_schema)]
    pub current: u64,
    #[schema(schema_with = number_schema)]
    pub total_pages: u64,
    #[schema(schema_with = number_schema)]
    pub start_index: u64,
    #[schema(schema_with = number_schema)]
    pub end_index: u64,
}

impl From<Pagination> for PaginationOut {
    fn from(p: Pagination) -> Self {
        PaginationOut {
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

/// Always empty here; authentik's 2025.10 clients require the key. Its schema (a free-form
/// object) is in `openapi`.
#[derive(Serialize)]
pub struct Autocomplete {}

#[derive(Serialize, ToSchema)]
pub struct PaginatedOut<T> {
    pub pagination: PaginationOut,
    pub results: Vec<T>,
    pub autocomplete: Autocomplete,
}

impl From<Page<CaptchaStage>> for PaginatedOut<CaptchaStageOut> {
    fn from(page: Page<CaptchaStage>) -> Self {
        PaginatedOut {
            pagination: page.pagination.into(),
            results: page
                .results
                .into_iter()
                .map(CaptchaStageOut::from)
                .collect(),
            autocomplete: Autocomplete {},
        }
    }
}

/// A list of all objects referencing the queried object
#[derive(Serialize, ToSchema)]
#[schema(as = UsedBy)]
pub struct UsedByOut {
    pub app: &'static str,
    pub model_name: &'static str,
    pub pk: String,
    pub name: String,
    #[schema(value_type = UsedByActionEnum)]
    pub action: &'static str,
}

impl From<UsedBy> for UsedByOut {
    fn from(used_by: UsedBy) -> Self {
        UsedByOut {
            app: used_by.app,
            model_name: used_by.model_name,
            pk: used_by.pk,
            name: used_by.name,
            action: match used_by.action {
                UsedByAction::Cascade => "cascade",
                UsedByAction::CascadeMany => "cascade_many",
                UsedByAction::SetNull => "set_null",
                UsedByAction::SetDefault => "set_default",
            },
        }
    }
}
