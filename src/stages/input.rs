//! The rules of a captcha stage write (create, replace, patch), with authentik's defaults.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbErr};
use secrecy::SecretString;
use uuid::Uuid;

use crate::error::{ErrorTree, FieldErrors};
use crate::flows::{self, FlowInput, FlowItemCheck, ValidFlow};
use crate::limits::{MAX_FLOW_SET_ITEMS, MAX_NAME_CHARS, MAX_TEXT_CHARS};
use crate::validation::{self, Checker, Field, add_message};

/// The writable fields of a captcha stage, in authentik's order (errors are listed in it).
pub const STAGE_FIELDS: &[&str] = &[
    "name",
    "flow_set",
    "public_key",
    "private_key",
    "js_url",
    "api_url",
    "interactive",
    "score_min_threshold",
    "score_max_threshold",
    "error_on_invalid_score",
];

pub const NAME_TAKEN: &str = "stage with this name already exists.";
pub const DEFAULT_JS_URL: &str = "https://www.recaptcha.net/recaptcha/api.js";
pub const DEFAULT_API_URL: &str = "https://www.recaptcha.net/recaptcha/api/siteverify";
pub const DEFAULT_SCORE_MIN_THRESHOLD: f64 = 0.5;
pub const DEFAULT_SCORE_MAX_THRESHOLD: f64 = 1.0;

/// A captcha stage write as a front end read it.
#[derive(Clone, Debug, Default)]
pub struct CaptchaStageInput {
    pub name: Field<String>,
    pub flow_set: Field<Vec<Field<FlowInput>>>,
    pub public_key: Field<String>,
    /// Write-only: never echoed, logged or put in an error message.
    pub private_key: Field<SecretString>,
    pub js_url: Field<String>,
    pub api_url: Field<String>,
    pub interactive: Field<bool>,
    pub score_min_threshold: Field<f64>,
    pub score_max_threshold: Field<f64>,
    pub error_on_invalid_score: Field<bool>,
}

/// How absent keys are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// POST: `name`, `public_key` and `private_key` are required; the rest take defaults.
    Create,
    /// PUT: required as on create; absent optional keys keep their stored values.
    Replace,
    /// PATCH: only the keys given are validated and changed.
    Patch,
}

/// The validated changes: `None` leaves a field as it is (or at its default on create).
#[derive(Clone, Debug, Default)]
pub struct StageChanges {
    pub name: Option<String>,
    pub public_key: Option<String>,
    pub private_key: Option<SecretString>,
    pub js_url: Option<String>,
    pub api_url: Option<String>,
    pub interactive: Option<bool>,
    pub score_min_threshold: Option<f64>,
    pub score_max_threshold: Option<f64>,
    pub error_on_invalid_score: Option<bool>,
    pub flow_set: Option<Vec<ValidFlow>>,
}

/// The outcome of checking a write, before and after the uniqueness rules that need the
/// database.
pub struct StageCheck {
    errors: FieldErrors,
    /// One check per `flow_set` item, when `flow_set` was a list.
    flow_items: Option<Vec<FlowItemCheck>>,
    changes: StageChanges,
}

impl StageCheck {
    pub fn new(input: &CaptchaStageInput, mode: WriteMode) -> Self {
        let required = mode != WriteMode::Patch;
        let mut checker = Checker::default();
        let mut changes = StageChanges {
            name: checker.take(
                "name",
                validation::text(&input.name, required, MAX_NAME_CHARS),
            ),
            public_key: checker.take(
                "public_key",
                validation::text(&input.public_key, required, MAX_TEXT_CHARS),
            ),
            private_key: checker.take(
                "private_key",
                validation::secret_text(&input.private_key, required, MAX_TEXT_CHARS),
            ),
            js_url: checker.take(
                "js_url",
                validation::text(&input.js_url, false, MAX_TEXT_CHARS),
            ),
            api_url: checker.take(
                "api_url",
                validation::text(&input.api_url, false, MAX_TEXT_CHARS),
            ),
            interactive: checker.take("interactive", validation::flag(&input.interactive, false)),
            score_min_threshold: checker.take(
                "score_min_threshold",
                validation::number(&input.score_min_threshold, false),
            ),
            score_max_threshold: checker.take(
                "score_max_threshold",
                validation::number(&input.score_max_threshold, false),
            ),
            error_on_invalid_score: checker.take(
                "error_on_invalid_score",
                validation::flag(&input.error_on_invalid_score, false),
            ),
            flow_set: None,
        };
        let flow_items = match &input.flow_set {
            Field::Absent => None,
            Field::Rejected(tree) => {
                checker.add("flow_set", tree.clone());
                None
            }
            Field::Given(items) if items.len() > MAX_FLOW_SET_ITEMS => {
                checker.add(
                    "flow_set",
                    ErrorTree::non_field(validation::too_many_elements(MAX_FLOW_SET_ITEMS)),
                );
                None
            }
            Field::Given(items) => Some(flows::check_flow_set(items)),
        };
        if let Some(items) = &flow_items {
            changes.flow_set = items.iter().map(|item| item.flow.clone()).collect();
        }
        let errors = checker.finish(()).err().unwrap_or_default();
        StageCheck {
            errors,
            flow_items,
            changes,
        }
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
            && self
                .flow_items
                .iter()
                .flatten()
                .all(FlowItemCheck::is_valid)
    }

    pub fn changes(&self) -> &StageChanges {
        &self.changes
    }

    /// Adds the uniqueness errors: a name used by another stage than `own_stage`, and slugs of
    /// stored flows other than those in `own_slugs` (the flows the stage is bound into).
    pub async fn add_conflicts(
        &mut self,
        conn: &impl ConnectionTrait,
        own_stage: Option<Uuid>,
        own_slugs: &HashSet<String>,
    ) -> Result<(), DbErr> {
        if let Some(name) = &self.changes.name
            && super::store::name_taken(conn, name, own_stage).await?
        {
            add_message(&mut self.errors, STAGE_FIELDS, "name", NAME_TAKEN);
        }
        let Some(items) = &mut self.flow_items else {
            return Ok(());
        };
        let candidates: Vec<String> = items
            .iter()
            .filter_map(|item| item.slug.clone())
            .filter(|slug| !own_slugs.contains(slug))
            .collect();
        let taken = flows::taken_slugs(conn, &candidates).await?;
        for item in items.iter_mut() {
            let already_marked = matches!(
                item.errors.get("slug"),
                Some(ErrorTree::Messages(m)) if m.iter().any(|m| m == flows::SLUG_TAKEN)
            );
            if item.slug.as_ref().is_some_and(|s| taken.contains(s)) && !already_marked {
                item.mark_slug_taken();
            }
        }
        Ok(())
    }

    /// Every error, in field order; `flow_set` items aligned with the input (`{}` when valid).
    pub fn into_errors(self) -> FieldErrors {
        let mut errors = self.errors;
        if let Some(items) = self.flow_items
            && !items.iter().all(FlowItemCheck::is_valid)
        {
            errors.insert(
                "flow_set".to_string(),
                ErrorTree::Items(items.iter().map(FlowItemCheck::to_tree).collect()),
            );
        }
        validation::sort_fields(&mut errors, STAGE_FIELDS);
        errors
    }
}
