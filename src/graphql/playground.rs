//! The GraphiQL playground page at `GET /graphql`.

use axum::response::Html;

pub async fn page() -> Html<&'static str> {
    Html(include_str!("playground.html"))
}
