//! authentik's response shapes, keys in authentik's order.

use serde::Serialize;
use uuid::Uuid;

use crate::flows::Flow;
use crate::pagination::{Page, Pagination};
use crate::stages::{self, CaptchaStage, UsedBy, UsedByAction};
use crate::validation::Choice;

/// CaptchaStage. There is no `private_key`: it is write-only.
#[derive(Serialize)]
pub struct CaptchaStageOut {
    pub pk: Uuid,
    pub name: String,
    pub component: &'static str,
    pub verbose_name: &'static str,
    pub verbose_name_plural: &'static str,
    pub meta_model_name: &'static str,
    pub flow_set: Vec<FlowSetOut>,
    pub public_key: String,
    pub js_url: String,
    pub api_url: String,
    pub interactive: bool,
    pub score_min_threshold: f64,
    pub score_max_threshold: f64,
    pub error_on_invalid_score: bool,
}

impl From<CaptchaStage> for CaptchaStageOut {
    fn from(stage: CaptchaStage) -> Self {
        CaptchaStageOut {
            flow_set: stage.flows().map(FlowSetOut::from).collect(),
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
#[derive(Serialize)]
pub struct FlowSetOut {
    pub pk: Uuid,
    pub policybindingmodel_ptr_id: Uuid,
    pub name: String,
    pub slug: String,
    pub title: String,
    pub designation: &'static str,
    pub background: String,
    pub policy_engine_mode: &'static str,
    pub compatibility_mode: bool,
    pub export_url: String,
    pub layout: &'static str,
    pub denied_action: &'static str,
}

impl From<&Flow> for FlowSetOut {
    fn from(flow: &Flow) -> Self {
        FlowSetOut {
            pk: flow.id,
            policybindingmodel_ptr_id: flow.policybindingmodel_ptr_id,
            name: flow.name.clone(),
            slug: flow.slug.clone(),
            title: flow.title.clone(),
            designation: flow.designation.value(),
            background: flow.background_url(),
            policy_engine_mode: flow.policy_engine_mode.value(),
            compatibility_mode: flow.compatibility_mode,
            export_url: flow.export_url(),
            layout: flow.layout.value(),
            denied_action: flow.denied_action.value(),
        }
    }
}

#[derive(Serialize)]
pub struct PaginationOut {
    pub next: u64,
    pub previous: u64,
    pub count: u64,
    pub current: u64,
    pub total_pages: u64,
    pub start_index: u64,
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

/// Always empty here; authentik's 2025.10 clients require the key.
#[derive(Serialize)]
pub struct Autocomplete {}

#[derive(Serialize)]
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

#[derive(Serialize)]
pub struct UsedByOut {
    pub app: &'static str,
    pub model_name: &'static str,
    pub pk: String,
    pub name: String,
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
