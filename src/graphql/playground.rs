//! The GraphiQL playground at `GET /graphql`, and its scripts and styles at
//! `GET /graphql/assets/{file}`. Everything comes from the binary: the page works offline.
//!
//! The assets are GraphiQL's and React's UMD builds from npm, committed under
//! `assets/graphiql/` with their licences (`assets/graphiql/update.sh` refreshes them).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// File name, content type, contents. The names carry the version, so a browser may keep them
/// for good: a new version is a new URL.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql-3.9.0.min.js",
        JS,
        include_bytes!("../../assets/graphiql/graphiql-3.9.0.min.js"),
    ),
    (
        "graphiql-3.9.0.min.css",
        CSS,
        include_bytes!("../../assets/graphiql/graphiql-3.9.0.min.css"),
    ),
    (
        "react-18.3.1.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react-18.3.1.production.min.js"),
    ),
    (
        "react-dom-18.3.1.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react-dom-18.3.1.production.min.js"),
    ),
];

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub async fn page() -> Response {
    (
        // The page names the asset versions, so it must not outlive a new binary.
        [(header::CACHE_CONTROL, "no-cache")],
        Html(include_str!("playground.html")),
    )
        .into_response()
}

pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, IMMUTABLE),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "Not found.").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    /// Every asset the page links to is served, and nothing it links to is remote.
    #[test]
    fn page_links_only_served_assets() {
        let page = include_str!("playground.html");
        for (name, _, body) in ASSETS {
            assert!(
                page.contains(&format!("\"/graphql/assets/{name}\"")),
                "{name}"
            );
            assert!(!body.is_empty());
        }
        let linked = page.matches("/graphql/assets/").count();
        assert_eq!(linked, ASSETS.len());
        assert!(!page.contains("//cdn") && !page.contains("https://"));
    }
}
