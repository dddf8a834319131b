//! The loopback siteverify peer of the executor benchmark: answers every POST, on any path, at
//! once with `{"success": true}` (what reCAPTCHA, hCaptcha and Turnstile answer for a good
//! token), reading and ignoring the form. Stands in for the captcha provider, so that a solve
//! costs the service its own work and one local HTTP round trip, nothing more.
//!
//! Configuration: `LISTEN_ADDR` (default `127.0.0.1:0`, a free port; only loopback addresses);
//! the bound address is printed on stdout. Stops on SIGTERM or Ctrl-C.

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;

const ANSWER: &str = r#"{"success": true}"#;

async fn answer(_form: Bytes) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        ANSWER,
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        return Err(format!("siteverify listens on loopback only, not {addr}").into());
    }
    let app = Router::new()
        .route("/", post(answer))
        .route("/{*path}", post(answer));
    println!("siteverify is serving on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(stages_bench::stopped())
        .await?;
    Ok(())
}
