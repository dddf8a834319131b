//! Where the schema's custom scalars are specified, for frontend tooling: `@specifiedBy` in the
//! SDL and `specifiedByURL` in introspection. `UUID` is the only custom scalar.
//!
//! `UUID` is async-graphql's own scalar for `uuid::Uuid`, whose URL is RFC 4122 on the old
//! `http://tools.ietf.org` host. A scalar's URL cannot be set from outside, so
//! [`UuidSpecifiedBy`], registered with the schema, rewrites it in the registry: the resolvers
//! keep `uuid::Uuid` everywhere.

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};
use uuid::Uuid;

/// RFC 4122, which defines the UUID's string form that the `UUID` scalar takes and gives.
pub const UUID_SPECIFIED_BY: &str = "https://datatracker.ietf.org/doc/html/rfc4122";

/// The scalar's description (async-graphql's links to the same RFC over http).
const UUID_DESCRIPTION: &str = "A UUID as a string in RFC 4122's form, lowercase in responses: \
    `3f0c7a9e-5b1d-4c55-9a0e-0d6f1d2b7c11`.";

/// The `UUID` scalar itself (same name, same values); registering it sets its
/// `specifiedByURL` to [`UUID_SPECIFIED_BY`] and its description.
pub struct UuidSpecifiedBy(pub Uuid);

impl OutputType for UuidSpecifiedBy {
    fn type_name() -> Cow<'static, str> {
        <Uuid as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        let name = <Uuid as OutputType>::create_type_info(registry);
        if let Some(MetaType::Scalar {
            specified_by_url,
            description,
            ..
        }) = registry.types.get_mut(&*Self::type_name())
        {
            *specified_by_url = Some(UUID_SPECIFIED_BY.to_string());
            *description = Some(UUID_DESCRIPTION.to_string());
        }
        name
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        self.0.resolve(ctx, field).await
    }
}
