//! The GraphQL front: the same use cases as REST under GraphQL's names. Resolvers only
//! translate; the rules live in `stages`, `flows` and `bindings`.

mod documents;
mod error;
mod http;
mod loaders;
mod playground;
mod scalars;
mod schema;
mod types;

pub use documents::ParsedQueries;
pub use http::http_error;
pub(crate) use http::parse_request;
pub use schema::{ApiSchema, build_schema, sdl};

use axum::Router;
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/graphql", get(playground::page).post(http::execute))
        .route("/graphql/", get(playground::page).post(http::execute))
        .route("/graphql/schema.graphql", get(http::sdl))
        .route("/graphql/assets/{file}", get(playground::asset))
}
