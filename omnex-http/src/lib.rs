//! # omnex-http
//!
//! The REST API of Omnex (`/api/v1`), a thin adapter over [`omnex_core::Omnex`]:
//! each handler extracts its input, makes one core call and returns JSON. Errors
//! are `application/problem+json` with the stable codes of `docs/errors.md`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let omnex = omnex_core::Omnex::open(omnex_core::Config::default()).await?;
//! let app = omnex_http::router(omnex);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! omnex_http::serve(listener, app, omnex_http::shutdown_signal()).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::{future::Future, sync::Arc};

use axum::{
    extract::DefaultBodyLimit,
    http::{header, HeaderValue},
    middleware::{from_fn, from_fn_with_state},
    Router,
};
use omnex_core::Omnex;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    cors::{AllowOrigin, Any, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};

mod auth;
pub mod config;
mod error;
mod layers;
mod limits;
mod openapi;
mod routes;
mod serve;
mod tokens;

pub use crate::{
    config::{JwtProvider, ServerOptions},
    error::{ApiError, Problem},
    openapi::{openapi_json, ApiDoc},
    serve::serve_with,
};

/// The API with default options (no API key, 1 MiB bodies, 30 s timeout).
pub fn router(omnex: Omnex) -> Router {
    router_with(omnex, &ServerOptions::default())
}

/// The API with these options: `/api/v1` routes, health and docs, and every layer
/// (request id, logs and metrics, API key, rate limit, timeout, body limit, CORS,
/// compression, panic catching).
pub fn router_with(omnex: Omnex, opts: &ServerOptions) -> Router {
    let auth = crate::auth::Auth {
        omnex: omnex.clone(),
        bootstrap: opts.api_key().map(Arc::<str>::from),
        tokens: crate::tokens::Tokens::new(opts),
    };
    let mut api = Router::new()
        .merge(routes::contexts::routes())
        .merge(routes::memories::routes())
        .merge(routes::access::routes())
        .merge(routes::events::routes())
        .merge(routes::jobs::routes());
    if opts.rate_limit > 0 {
        api = api.layer(from_fn_with_state(
            Arc::new(crate::layers::RateLimit::new(opts.rate_limit)),
            crate::layers::rate_limit,
        ));
    }
    let key_limits = (opts.key_rate_limit > 0)
        .then(|| crate::limits::KeyLimits::new(opts.key_rate_limit, opts.rate_limit_redis.clone()));
    if let Some(limits) = &key_limits {
        api = api.layer(from_fn_with_state(
            limits.clone(),
            crate::limits::limit_callers,
        ));
    }
    let api = api.layer(from_fn_with_state(auth.clone(), crate::auth::authenticate));
    let metrics = crate::layers::Metrics::get();
    // MCP over streamable HTTP: the same tools as `omnex mcp`, with the same keys;
    // each tool call runs for the principal of its request.
    let mcp = omnex_mcp::OmnexMcp::new(omnex.clone(), omnex_mcp::DefaultScope::default());
    let mut mcp = Router::new().nest_service(
        "/mcp",
        omnex_mcp::http_service(mcp, opts.addr.ip().is_loopback()),
    );
    if let Some(limits) = key_limits {
        mcp = mcp.layer(from_fn_with_state(limits, crate::limits::limit_callers));
    }
    let mcp = mcp.layer(from_fn_with_state(auth, crate::auth::authenticate));
    Router::new()
        .nest("/api/v1", api)
        .merge(mcp)
        .merge(routes::health::routes())
        .merge(openapi::routes(opts.api_key().is_some()))
        .merge(routes::health::metrics_route(metrics))
        .fallback(crate::layers::not_found)
        .method_not_allowed_fallback(crate::layers::method_not_allowed)
        .with_state(omnex)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(from_fn(crate::layers::observe))
                .layer(CatchPanicLayer::custom(crate::layers::panic_response))
                .layer(cors(&opts.cors_origins))
                .layer(CompressionLayer::new())
                .layer(from_fn(crate::layers::problem_for_bare_errors))
                .layer(from_fn_with_state(
                    opts.request_timeout(),
                    crate::layers::timeout,
                ))
                .layer(DefaultBodyLimit::max(opts.body_limit)),
        )
}

fn cors(origins: &[String]) -> CorsLayer {
    // Listed rather than `*`: browsers never let `*` cover `Authorization`.
    let layer = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([header::HeaderName::from_static("x-request-id")]);
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}

/// How long requests in flight may take to finish after a shutdown signal;
/// long-lived streams (MCP event streams) are cut after it.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `app` with the default connection limits (see [`serve_with`]) until
/// `shutdown` completes, then stops accepting and lets the requests in flight finish
/// (for at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, &ServerOptions::default(), shutdown).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
