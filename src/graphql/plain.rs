//! The output types `CaptchaStage` and `Flow`, with a fast path for plain selections.
//!
//! async-graphql resolves every output field as its own future and collects each object into a
//! map before serializing: for a page of 100 stages with their flows that is about 3,900 futures,
//! and most of the GraphQL list's cost (BENCHMARKS.md). A selection made only of fields that
//! are plain reads of the object (no fragments, directives or arguments; no `stages` or
//! `usedBy`) is answered here directly from the domain value, with the values async-graphql
//! would give. Anything else goes through the derived resolvers in `types`, which also register
//! the types in the schema: both paths answer the same, and `tests/api/graphql.rs` checks it.

use std::borrow::Cow;

use async_graphql::parser::types::{Field, Selection};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::enum_value;
use async_graphql::{
    ContextSelectionSet, Name, OutputType, Positioned, ScalarType, ServerResult, Value,
};
use indexmap::IndexMap;

use super::types::{
    CaptchaStageFields, DeniedAction, FlowDesignation, FlowFields, FlowLayout, PolicyEngineMode,
};
use crate::flows::Flow;
use crate::stages::{self, CaptchaStage};

pub struct CaptchaStageObject(CaptchaStageFields);

pub struct FlowObject(FlowFields);

impl From<CaptchaStage> for CaptchaStageObject {
    fn from(stage: CaptchaStage) -> Self {
        CaptchaStageObject(CaptchaStageFields(stage))
    }
}

impl From<Flow> for FlowObject {
    fn from(flow: Flow) -> Self {
        FlowObject(FlowFields(flow))
    }
}

/// The fields of a selection set, when all of them are plain: no fragment, no directive, no
/// argument.
fn plain_fields<'a>(ctx: &ContextSelectionSet<'a>) -> Option<Vec<&'a Positioned<Field>>> {
    ctx.item
        .node
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field)
                if field.node.directives.is_empty() && field.node.arguments.is_empty() =>
            {
                Some(field)
            }
            _ => None,
        })
        .collect()
}

fn object(
    fields: &[&Positioned<Field>],
    mut value_of: impl FnMut(&Positioned<Field>) -> Option<Value>,
) -> Option<Value> {
    let mut map = IndexMap::with_capacity(fields.len());
    for field in fields {
        let key: Name = field.node.response_key().node.clone();
        map.insert(key, value_of(field)?);
    }
    Some(Value::Object(map))
}

/// A flow's plain fields, or `None` when the selection asks for more.
fn flow_value(flow: &Flow, fields: &[&Positioned<Field>]) -> Option<Value> {
    object(fields, |field| {
        Some(match field.node.name.node.as_str() {
            "__typename" => Value::String("Flow".into()),
            "id" => flow.id.to_value(),
            "policybindingmodelPtrId" => flow.policybindingmodel_ptr_id.to_value(),
            "name" => Value::String(flow.name.clone()),
            "slug" => Value::String(flow.slug.clone()),
            "title" => Value::String(flow.title.clone()),
            "designation" => enum_value(FlowDesignation::from(flow.designation)),
            "background" => Value::String(flow.background_url()),
            "policyEngineMode" => enum_value(PolicyEngineMode::from(flow.policy_engine_mode)),
            "compatibilityMode" => Value::Boolean(flow.compatibility_mode),
            "exportUrl" => Value::String(flow.export_url()),
            "layout" => enum_value(FlowLayout::from(flow.layout)),
            "deniedAction" => enum_value(DeniedAction::from(flow.denied_action)),
            _ => return None,
        })
    })
}

/// A stage's plain fields and its flows' (`flowSet`), or `None` when the selection asks for
/// more.
fn stage_value(
    ctx: &ContextSelectionSet<'_>,
    stage: &CaptchaStage,
    fields: &[&Positioned<Field>],
) -> Option<Value> {
    object(fields, |field| {
        Some(match field.node.name.node.as_str() {
            "__typename" => Value::String("CaptchaStage".into()),
            "id" => stage.id.to_value(),
            "name" => Value::String(stage.name.clone()),
            "component" => Value::String(stages::COMPONENT.into()),
            "verboseName" => Value::String(stages::VERBOSE_NAME.into()),
            "verboseNamePlural" => Value::String(stages::VERBOSE_NAME_PLURAL.into()),
            "metaModelName" => Value::String(stages::META_MODEL_NAME.into()),
            "publicKey" => Value::String(stage.public_key.clone()),
            "jsUrl" => Value::String(stage.js_url.clone()),
            "apiUrl" => Value::String(stage.api_url.clone()),
            "interactive" => Value::Boolean(stage.interactive),
            "scoreMinThreshold" => stage.score_min_threshold.to_value(),
            "scoreMaxThreshold" => stage.score_max_threshold.to_value(),
            "errorOnInvalidScore" => Value::Boolean(stage.error_on_invalid_score),
            "flowSet" => {
                let field_ctx = ctx.with_field(field);
                let flow_ctx = field_ctx.with_selection_set(&field.node.selection_set);
                let flow_fields = plain_fields(&flow_ctx)?;
                let flows = stage.flows().map(|flow| flow_value(flow, &flow_fields));
                Value::List(flows.collect::<Option<_>>()?)
            }
            _ => return None,
        })
    })
}

impl OutputType for CaptchaStageObject {
    fn type_name() -> Cow<'static, str> {
        CaptchaStageFields::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        CaptchaStageFields::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let plain = plain_fields(ctx).and_then(|fields| stage_value(ctx, &self.0.0, &fields));
        match plain {
            Some(value) => Ok(value),
            None => self.0.resolve(ctx, field).await,
        }
    }
}

impl OutputType for FlowObject {
    fn type_name() -> Cow<'static, str> {
        FlowFields::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        FlowFields::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let plain = plain_fields(ctx).and_then(|fields| flow_value(&self.0.0, &fields));
        match plain {
            Some(value) => Ok(value),
            None => self.0.resolve(ctx, field).await,
        }
    }
}
