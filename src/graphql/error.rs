//! ServiceError as GraphQL errors: the REST message, a code in `extensions.code`, and for
//! validation the REST error map under `extensions.fieldErrors` with GraphQL's field names.

use async_graphql::{ErrorExtensions, Value};

use crate::error::{ServiceError, rename_fields};

/// The code of a GraphQL error from the service.
pub fn code(err: &ServiceError) -> &'static str {
    match err {
        ServiceError::Validation(_) | ServiceError::InvalidPage => "BAD_USER_INPUT",
        ServiceError::NotAuthenticated | ServiceError::InvalidToken => "UNAUTHENTICATED",
        ServiceError::PermissionDenied => "FORBIDDEN",
        ServiceError::NotFound(_) => "NOT_FOUND",
        ServiceError::BadRequest(_)
        | ServiceError::UnsupportedMediaType(_)
        | ServiceError::PayloadTooLarge(_)
        | ServiceError::UriTooLong(_)
        | ServiceError::HeadersTooLarge(_) => "BAD_REQUEST",
        ServiceError::Unavailable | ServiceError::TimedOut => "SERVICE_UNAVAILABLE",
        ServiceError::Internal
        | ServiceError::UniqueViolation
        | ServiceError::ForeignKeyViolation
        | ServiceError::WriteConflict => "INTERNAL_SERVER_ERROR",
    }
}

/// `flow_set` → `flowSet`: REST's field names as the GraphQL schema spells them.
pub fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        match (c, upper) {
            ('_', _) => upper = true,
            (c, true) => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            (c, false) => out.push(c),
        }
    }
    out
}

pub fn to_graphql(err: ServiceError) -> async_graphql::Error {
    let code = code(&err);
    let field_errors = match &err {
        ServiceError::Validation(fields) => {
            let renamed = rename_fields(fields, &camel_case);
            Some(
                Value::from_json(serde_json::to_value(renamed).unwrap_or_default())
                    .unwrap_or_default(),
            )
        }
        _ => None,
    };
    async_graphql::Error::new(err.to_string()).extend_with(|_, extensions| {
        extensions.set("code", code);
        if let Some(field_errors) = &field_errors {
            extensions.set("fieldErrors", field_errors.clone());
        }
    })
}

/// Converts a service result explicitly: `?` alone would go through `Display` and drop the
/// extensions.
pub trait IntoGraphql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> IntoGraphql<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn camel_case_names() {
        assert_eq!(super::camel_case("flow_set"), "flowSet");
        assert_eq!(super::camel_case("non_field_errors"), "nonFieldErrors");
        assert_eq!(super::camel_case("name"), "name");
    }
}
