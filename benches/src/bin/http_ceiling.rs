//! The ceiling of the HTTP load benchmark: a minimal axum JSON handler (no
//! storage, no layers), measured in the same run and with the same client as
//! `omnex serve`.
//!
//! Usage: `http_ceiling 127.0.0.1:18090`, then `GET /json`.

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use axum::{routing::get, Json, Router};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    // About the size and shape of a context response.
    let body = json!({
        "id": "01a21701-4f4e-77ed-8ba9-43acd220dcdf",
        "namespace": "bench",
        "key": "settings",
        "value": {"theme": "dark", "language": "en", "notifications": true},
        "tags": ["ui"],
        "created_at": "2026-11-26T08:38:11.534077Z",
        "updated_at": "2026-11-26T08:38:11.534077Z",
        "version": 1
    });
    let app = Router::new().route(
        "/json",
        get(move || {
            let body = body.clone();
            async move { Json::<Value>(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ceiling listening on http://{addr}");
    axum::serve(listener, app).await
}
