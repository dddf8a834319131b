//! The rules of one `flow_set` item and of the list as a whole.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use validator::{ValidateLength, ValidateRegex};

use super::{DeniedAction, Designation, FlowLayout, PolicyEngineMode};
use crate::error::{ErrorTree, FieldErrors};
use crate::limits::MAX_TEXT_CHARS;
use crate::validation::{self, Checker, Field, add_message};

/// The writable fields of a flow, in authentik's order (errors are listed in it).
pub const FLOW_FIELDS: &[&str] = &[
    "name",
    "slug",
    "title",
    "designation",
    "policy_engine_mode",
    "compatibility_mode",
    "layout",
    "denied_action",
];

pub const SLUG_TAKEN: &str = "Flow with this slug already exists.";
const SLUG_PATTERN_MESSAGE: &str =
    "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.";
const SLUG_TOO_LONG: &str = "Ensure this field has no more than 50 characters.";
const SLUG_MAX_CHARS: u64 = 50;
static SLUG_PATTERN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[-a-zA-Z0-9_]+$").expect("slug pattern compiles"));

/// One `flow_set` item as a front end read it. Choices are given by their stored spelling.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowInput {
    pub name: Field<String>,
    pub slug: Field<String>,
    pub title: Field<String>,
    pub designation: Field<String>,
    pub policy_engine_mode: Field<String>,
    pub compatibility_mode: Field<bool>,
    pub layout: Field<String>,
    pub denied_action: Field<String>,
}

/// A valid item. Optional fields left out keep a bound flow's stored value, or take the default
/// when the flow is new.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValidFlow {
    pub name: String,
    pub slug: String,
    pub title: String,
    pub designation: Option<Designation>,
    pub policy_engine_mode: Option<PolicyEngineMode>,
    pub compatibility_mode: Option<bool>,
    pub layout: Option<FlowLayout>,
    pub denied_action: Option<DeniedAction>,
}

/// The outcome for one item: its errors (empty when valid), the valid flow, and its slug when
/// the slug itself passed its rules (so that uniqueness can still be checked for it).
#[derive(Clone, Debug, Default)]
pub struct FlowItemCheck {
    pub errors: FieldErrors,
    pub flow: Option<ValidFlow>,
    pub slug: Option<String>,
    /// The front end could not read the item as an object; this is its whole error.
    pub rejected: Option<ErrorTree>,
}

impl FlowItemCheck {
    pub fn mark_slug_taken(&mut self) {
        add_message(&mut self.errors, FLOW_FIELDS, "slug", SLUG_TAKEN);
        self.flow = None;
    }

    pub fn is_valid(&self) -> bool {
        self.flow.is_some()
    }

    /// The item's slot in the aligned error list: `{}` when valid.
    pub fn to_tree(&self) -> ErrorTree {
        self.rejected
            .clone()
            .unwrap_or_else(|| ErrorTree::Fields(self.errors.clone()))
    }
}

fn check_slug(field: &Field<String>) -> Result<String, ErrorTree> {
    // The slug's own length rule (50) reports an over-long slug; `text` only trims and checks.
    let slug = validation::text(field, true, usize::MAX)?.unwrap_or_default();
    let mut messages = Vec::new();
    if !slug.validate_length(None, Some(SLUG_MAX_CHARS), None) {
        messages.push(SLUG_TOO_LONG.to_string());
    }
    if !slug.validate_regex(&*SLUG_PATTERN) {
        messages.push(SLUG_PATTERN_MESSAGE.to_string());
    }
    if messages.is_empty() {
        Ok(slug)
    } else {
        Err(ErrorTree::Messages(messages))
    }
}

fn check_item(input: &FlowInput) -> FlowItemCheck {
    let mut checker = Checker::default();
    let name = checker.take("name", validation::text(&input.name, true, MAX_TEXT_CHARS));
    let slug = check_slug(&input.slug);
    let clean_slug = slug.as_ref().ok().cloned();
    let slug = checker.take("slug", slug);
    let flow = ValidFlow {
        name: name.unwrap_or_default(),
        slug,
        title: checker
            .take(
                "title",
                validation::text(&input.title, true, MAX_TEXT_CHARS),
            )
            .unwrap_or_default(),
        designation: checker.take("designation", validation::choice(&input.designation, true)),
        policy_engine_mode: checker.take(
            "policy_engine_mode",
            validation::choice(&input.policy_engine_mode, false),
        ),
        compatibility_mode: checker.take(
            "compatibility_mode",
            validation::flag(&input.compatibility_mode, false),
        ),
        layout: checker.take("layout", validation::choice(&input.layout, false)),
        denied_action: checker.take(
            "denied_action",
            validation::choice(&input.denied_action, false),
        ),
    };
    match checker.finish(flow) {
        Ok(flow) => FlowItemCheck {
            flow: Some(flow),
            slug: clean_slug,
            ..Default::default()
        },
        Err(errors) => FlowItemCheck {
            errors,
            slug: clean_slug,
            ..Default::default()
        },
    }
}

/// Checks every item of a `flow_set`; a slug that an earlier item already uses is an error on
/// the later item. Uniqueness against stored flows is the caller's (it needs the database).
pub fn check_flow_set(items: &[Field<FlowInput>]) -> Vec<FlowItemCheck> {
    let mut seen = HashSet::new();
    items
        .iter()
        .map(|item| match item {
            Field::Given(input) => {
                let mut check = check_item(input);
                if let Some(slug) = &check.slug
                    && !seen.insert(slug.clone())
                {
                    check.mark_slug_taken();
                }
                check
            }
            Field::Rejected(tree) => FlowItemCheck {
                rejected: Some(tree.clone()),
                ..Default::default()
            },
            Field::Absent => FlowItemCheck {
                rejected: Some(ErrorTree::message(validation::NOT_NULL)),
                ..Default::default()
            },
        })
        .collect()
}
