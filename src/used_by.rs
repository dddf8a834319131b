//! authentik's `used_by`: the objects that deleting an object would affect, and what the delete
//! does to each. Every resource answers it (`…/{id}/used_by/`, GraphQL `usedBy`).

use crate::choice_enum;
use crate::object::api_object;

choice_enum!(
    /// What deleting the queried object does to this one.
    UsedByAction, graphql "UsedByAction", schema "UsedByActionEnum" {
        Cascade => "cascade",
        CascadeMany => "cascade_many",
        SetNull => "set_null",
        SetDefault => "set_default",
    }
);

/// An object that deleting the queried object would affect.
#[api_object(
    schema = "UsedBy",
    description = "A list of all objects referencing the queried object",
    graphql = "UsedBy"
)]
pub struct UsedBy {
    #[field(read_only)]
    pub app: &'static str,
    #[field(read_only)]
    pub model_name: &'static str,
    #[field(read_only)]
    pub pk: String,
    #[field(read_only)]
    pub name: String,
    #[field(read_only, choice)]
    pub action: UsedByAction,
}

impl crate::object::plain::PlainRelations for UsedBy {}
