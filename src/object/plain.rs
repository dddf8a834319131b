//! GraphQL's fast path for plain selections.
//!
//! async-graphql resolves every output field as its own future, collects each object into a map
//! of values and serializes that tree afterwards: for a page of 100 flows with their bindings and
//! stages that is thousands of futures and maps, and most of a GraphQL list's cost
//! (BENCHMARKS.md). A selection made only of fields (no fragment spreads, no directives, no
//! arguments; inline fragments only on the object's own type) whose values the object already
//! holds is answered here instead: written straight as the JSON text async-graphql would give,
//! and handed back as [`Value::Binary`], which `graphql::http` writes into the response as it is.
//! No field of this schema is binary, so a binary value is always such a text. Anything else
//! falls back to the derived resolvers. Each `#[api_object]` with a GraphQL name implements
//! [`PlainObject`]; [`Plain`] wraps a value (and [`PlainList`] a list) so that a resolver returns
//! it through this path. `tests/api/graphql.rs` and `tests/api/flows.rs` check both paths agree.
//!
//! async-graphql merges the answers of fields that share a response key in one selection set; a
//! text cannot be merged. So the path runs only for documents where no selection set repeats a
//! key (`graphql::documents`), marked by [`PlainAnswers`] in the request's data.

use std::borrow::Cow;
use std::io::Write;

use async_graphql::parser::types::{Field, Selection};
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, EnumType, OutputType, Positioned, ServerResult, Value};
use uuid::Uuid;

use super::Choice;

/// In a request's data when its document lets the plain path answer: no selection set in it
/// repeats a response key.
pub struct PlainAnswers;

/// The JSON text a plain answer is written into.
pub type Json = Vec<u8>;

/// A GraphQL name (a response key, a type or enum value name) as a JSON string: GraphQL names
/// are `[_A-Za-z][_0-9A-Za-z]*` (the parser refuses anything else), so nothing needs escaping.
fn write_name(out: &mut Json, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
}

/// Any serializable value as serde_json writes it, which is how async-graphql's values render.
fn write_serde(out: &mut Json, value: &(impl serde::Serialize + ?Sized)) {
    // Writing into a Vec cannot fail, and these values (strings, numbers) always serialize.
    let _ = serde_json::to_writer(out, value);
}

/// An output object whose plain selections can be answered from its value.
pub trait PlainObject {
    /// Its GraphQL type name (`__typename`, inline fragments).
    const TYPE_NAME: &'static str;

    /// Writes the value of one selected field, or gives `None` when it needs a resolver.
    fn plain_field(
        &self,
        name: &str,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Json,
    ) -> Option<()>;

    /// Writes the whole selection of `ctx` as one JSON object, or gives `None` (having written
    /// part of it) when any part needs a resolver.
    fn plain_object(&self, ctx: &ContextSelectionSet<'_>, out: &mut Json) -> Option<()> {
        out.push(b'{');
        let mut first = true;
        self.plain_members(ctx, out, &mut first)?;
        out.push(b'}');
        Some(())
    }

    /// Writes the members of the selection of `ctx`, following inline fragments on the object's
    /// type; `first` says whether no member was written yet.
    fn plain_members(
        &self,
        ctx: &ContextSelectionSet<'_>,
        out: &mut Json,
        first: &mut bool,
    ) -> Option<()> {
        for selection in &ctx.item.node.items {
            match &selection.node {
                Selection::Field(field)
                    if field.node.directives.is_empty() && field.node.arguments.is_empty() =>
                {
                    if !std::mem::take(first) {
                        out.push(b',');
                    }
                    write_name(out, field.node.response_key().node.as_str());
                    out.push(b':');
                    self.plain_field(field.node.name.node.as_str(), ctx, field, out)?;
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
                    let inner = ctx.with_selection_set(&fragment.node.selection_set);
                    self.plain_members(&inner, out, first)?;
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
        _out: &mut Json,
    ) -> Option<()> {
        None
    }
}

/// A field value written as async-graphql would render it.
pub trait PlainValue {
    fn plain_value(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Json,
    ) -> Option<()>;
}

macro_rules! plain_scalar {
    ($($ty:ty => |$v:ident, $out:ident| $write:expr),* $(,)?) => {$(
        impl PlainValue for $ty {
            fn plain_value(
                &self,
                _: &ContextSelectionSet<'_>,
                _: &Positioned<Field>,
                $out: &mut Json,
            ) -> Option<()> {
                let $v = self;
                $write;
                Some(())
            }
        }
    )*};
}

plain_scalar!(
    String => |v, out| write_serde(out, v.as_str()),
    &'static str => |v, out| write_serde(out, *v),
    bool => |v, out| out.extend_from_slice(if *v { b"true" } else { b"false" }),
    // A float that is not finite is `null` here as in async-graphql (`Number::from_f64`).
    f64 => |v, out| write_serde(out, v),
    i32 => |v, out| write_serde(out, v),
    u64 => |v, out| write_serde(out, v),
    Uuid => |v, out| write_uuid(out, v),
);

/// A uuid as async-graphql renders it: hyphenated, lower case.
fn write_uuid(out: &mut Json, uuid: &Uuid) {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let _ = write!(out, "\"{}\"", uuid.hyphenated().encode_lower(&mut text));
}

impl<C: Choice + EnumType> PlainValue for C {
    fn plain_value(
        &self,
        _: &ContextSelectionSet<'_>,
        _: &Positioned<Field>,
        out: &mut Json,
    ) -> Option<()> {
        let item = C::items().iter().find(|item| item.value == *self)?;
        write_name(out, item.name);
        Some(())
    }
}

impl<T: PlainListItem> PlainValue for Vec<T> {
    fn plain_value(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Json,
    ) -> Option<()> {
        T::plain_list(self, ctx, field, out)
    }
}

/// What a list holds: scalars render as they are, objects by their selection.
pub trait PlainListItem: Sized {
    fn plain_list(
        items: &[Self],
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Json,
    ) -> Option<()>;
}

impl PlainListItem for Uuid {
    fn plain_list(
        items: &[Self],
        _: &ContextSelectionSet<'_>,
        _: &Positioned<Field>,
        out: &mut Json,
    ) -> Option<()> {
        write_list(out, items, |out, item| {
            write_uuid(out, item);
            Some(())
        })
    }
}

/// `[` each item `]`, or `None` as soon as one item gives `None`.
pub fn write_list<T>(
    out: &mut Json,
    items: impl IntoIterator<Item = T>,
    mut write_item: impl FnMut(&mut Json, T) -> Option<()>,
) -> Option<()> {
    out.push(b'[');
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_item(out, item)?;
    }
    out.push(b']');
    Some(())
}

/// Runs `write` in the context of the selection set below `field` (a context borrows its
/// parent's, so it cannot be returned).
pub fn in_child_context<R>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    write: impl FnOnce(&ContextSelectionSet<'_>) -> R,
) -> R {
    let field_ctx = ctx.with_field(field);
    write(&field_ctx.with_selection_set(&field.node.selection_set))
}

/// The objects of a list, each by the field's selection set.
pub fn plain_objects<'a, T: PlainObject + 'a>(
    items: impl IntoIterator<Item = &'a T>,
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    out: &mut Json,
) -> Option<()> {
    in_child_context(ctx, field, |child| {
        write_list(out, items, |out, item| item.plain_object(child, out))
    })
}

/// One object by the field's selection set.
pub fn plain_child<T: PlainObject>(
    item: &T,
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    out: &mut Json,
) -> Option<()> {
    in_child_context(ctx, field, |child| item.plain_object(child, out))
}

/// Runs `write` into a new text when the request allows plain answers: the text as a value, or
/// `None` when the request does not or some part needs a resolver.
fn plain_answer(
    ctx: &ContextSelectionSet<'_>,
    objects: usize,
    write: impl FnOnce(&mut Json) -> Option<()>,
) -> Option<Value> {
    ctx.data_opt::<PlainAnswers>()?;
    // Room for the usual object (a flow with two bindings and stages is about 170 bytes), so
    // that a page's text is not copied over and over as it grows.
    let mut out = Json::with_capacity(objects.max(1) * 192);
    write(&mut out)?;
    Some(Value::Binary(out.into()))
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
        match plain_answer(ctx, 1, |out| self.0.plain_object(ctx, out)) {
            Some(value) => Ok(value),
            None => self.0.resolve(ctx, field).await,
        }
    }
}

/// A list answered as one text through the plain path when every item's selection allows, else
/// item by item (each through the plain path where it can). The same GraphQL type as `Vec<T>`.
pub struct PlainList<T>(pub Vec<Plain<T>>);

impl<T> FromIterator<T> for PlainList<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        PlainList(items.into_iter().map(Plain).collect())
    }
}

impl<T: PlainObject + OutputType> OutputType for PlainList<T> {
    fn type_name() -> Cow<'static, str> {
        <Vec<Plain<T>>>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<Plain<T>>>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<Plain<T>>>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let whole = plain_answer(ctx, self.0.len(), |out| {
            write_list(out, &self.0, |out, item| item.0.plain_object(ctx, out))
        });
        match whole {
            Some(value) => Ok(value),
            None => self.0.resolve(ctx, field).await,
        }
    }
}
