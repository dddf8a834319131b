//! GraphQL's fast path for plain selections.
//!
//! async-graphql resolves every output field as its own future and collects each object into a
//! map before serializing: for a page of 100 stages with their flows that is thousands of
//! futures, and most of a GraphQL list's cost (BENCHMARKS.md). A selection made only of fields
//! (no fragment spreads, no directives, no arguments; inline fragments only on the object's own
//! type) whose values the object already holds is answered here, directly from the value, with
//! what async-graphql would give; anything else falls back to the derived resolvers. Each
//! `#[api_object]` with a GraphQL name implements [`PlainObject`]; [`Plain`] wraps a value so
//! that a resolver returns it through this path. `tests/api/graphql.rs` checks both paths agree.

use std::borrow::Cow;

use async_graphql::parser::types::{Field, Selection};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::enum_value;
use async_graphql::{
    ContextSelectionSet, EnumType, Name, OutputType, Positioned, ScalarType, ServerResult, Value,
};
use indexmap::IndexMap;
use uuid::Uuid;

use super::Choice;

/// An output object whose plain selections can be answered from its value.
pub trait PlainObject {
    /// Its GraphQL type name (`__typename`, inline fragments).
    const TYPE_NAME: &'static str;

    /// The value of one selected field, or `None` when it needs a resolver.
    fn plain_field(
        &self,
        name: &str,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> Option<Value>;

    /// The whole selection of `ctx`, or `None` when any part of it needs a resolver.
    fn plain_object(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value> {
        let mut map = IndexMap::with_capacity(ctx.item.node.items.len());
        self.plain_into(ctx, &mut map)?;
        Some(Value::Object(map))
    }

    /// Adds the selection of `ctx` to `map`, following inline fragments on the object's type.
    fn plain_into(
        &self,
        ctx: &ContextSelectionSet<'_>,
        map: &mut IndexMap<Name, Value>,
    ) -> Option<()> {
        for selection in &ctx.item.node.items {
            match &selection.node {
                Selection::Field(field)
                    if field.node.directives.is_empty() && field.node.arguments.is_empty() =>
                {
                    let value = self.plain_field(field.node.name.node.as_str(), ctx, field)?;
                    map.insert(field.node.response_key().node.clone(), value);
                }
                Selection::InlineFragment(fragment)
                    if fragment.node.directives.is_empty()
                        && fragment
                            .node
                            .type_condition
                            .as_ref()
                            .is_none_or(|condition| {
                                condition.node.on.node.as_str() == Self::TYPE_NAME
                            }) =>
                {
                    self.plain_into(&ctx.with_selection_set(&fragment.node.selection_set), map)?;
                }
                _ => return None,
            }
        }
        Some(())
    }
}

/// The fields an object resolves in code (relations loaded apart): `None` unless an object
/// answers some of them from data it already holds.
pub trait PlainRelations {
    fn plain_relation(
        &self,
        _name: &str,
        _ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> Option<Value> {
        None
    }
}

/// A field value as async-graphql would render it.
pub trait PlainValue {
    fn plain_value(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> Option<Value>;
}

macro_rules! plain_scalar {
    ($($ty:ty => |$v:ident| $value:expr),* $(,)?) => {$(
        impl PlainValue for $ty {
            fn plain_value(&self, _: &ContextSelectionSet<'_>, _: &Positioned<Field>) -> Option<Value> {
                let $v = self;
                Some($value)
            }
        }
    )*};
}

plain_scalar!(
    String => |v| Value::String(v.clone()),
    &'static str => |v| Value::String((*v).to_string()),
    bool => |v| Value::Boolean(*v),
    f64 => |v| v.to_value(),
    i32 => |v| Value::Number((*v).into()),
    u64 => |v| Value::Number((*v).into()),
    Uuid => |v| v.to_value(),
);

impl<C: Choice + EnumType> PlainValue for C {
    fn plain_value(&self, _: &ContextSelectionSet<'_>, _: &Positioned<Field>) -> Option<Value> {
        Some(enum_value(*self))
    }
}

impl<T: PlainListItem> PlainValue for Vec<T> {
    fn plain_value(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> Option<Value> {
        T::plain_list(self, ctx, field)
    }
}

/// What a list holds: scalars render as they are, objects by their selection.
pub trait PlainListItem: Sized {
    fn plain_list(
        items: &[Self],
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> Option<Value>;
}

impl PlainListItem for Uuid {
    fn plain_list(
        items: &[Self],
        _: &ContextSelectionSet<'_>,
        _: &Positioned<Field>,
    ) -> Option<Value> {
        Some(Value::List(
            items.iter().map(ScalarType::to_value).collect(),
        ))
    }
}

/// The objects of a list, each by the field's selection set.
pub fn plain_objects<T: PlainObject>(
    items: &[T],
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
) -> Option<Value> {
    let field_ctx = ctx.with_field(field);
    let child = field_ctx.with_selection_set(&field.node.selection_set);
    items
        .iter()
        .map(|item| item.plain_object(&child))
        .collect::<Option<Vec<_>>>()
        .map(Value::List)
}

/// One object by the field's selection set.
pub fn plain_child<T: PlainObject>(
    item: &T,
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
) -> Option<Value> {
    let field_ctx = ctx.with_field(field);
    item.plain_object(&field_ctx.with_selection_set(&field.node.selection_set))
}

/// A value resolved through the plain path when its selection allows, else through its own
/// derived resolvers. It is the same GraphQL type as `T`.
pub struct Plain<T>(pub T);

impl<T: PlainObject + OutputType> OutputType for Plain<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        match self.0.plain_object(ctx) {
            Some(value) => Ok(value),
            None => self.0.resolve(ctx, field).await,
        }
    }
}
