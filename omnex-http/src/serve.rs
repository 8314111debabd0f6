//! The accept loop: HTTP/1.1 and HTTP/2 on one port, with the connection limits
//! that keep slow and idle clients from exhausting the server.
//!
//! - at most `max_connections` connections at once; past it the server stops
//!   accepting until one closes (new ones wait in the kernel's backlog);
//! - a client has `header_timeout_ms` to send a request's headers, counted from the
//!   moment the server starts reading them: a slowloris client, and an idle
//!   keep-alive connection, are closed after it;
//! - HTTP/2 connections are pinged and closed when the peer stops answering.

use std::{future::Future, sync::Arc, time::Duration};

use axum::Router;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};

use crate::{ServerOptions, SHUTDOWN_GRACE};

/// Serves `app` on `listener` with the connection limits of `opts` until `shutdown`
/// completes, then stops accepting and lets the requests in flight finish (for at
/// most [`SHUTDOWN_GRACE`]).
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    opts: &ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20))
        .enable_connect_protocol();
    let builder = Arc::new(builder);
    let permits = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // Tells connections still waiting for their first byte that the server stops.
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let service = TowerToHyperService::new(app);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let header_timeout = opts.header_timeout();
        let builder = builder.clone();
        let service = service.clone();
        let graceful_watch = graceful.watcher();
        let mut closing = closing.clone();
        tokio::spawn(async move {
            // The HTTP version is read from the first bytes, before any HTTP timer
            // runs: a client that connects and sends nothing is closed here.
            let mut first = [0u8; 1];
            tokio::select! {
                read = tokio::time::timeout(header_timeout, stream.peek(&mut first)) => match read {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return drop(permit),
                },
                _ = closing.changed() => return drop(permit),
            }
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful_watch.watch(conn);
            // Errors here are the client's: a reset, a timeout, a malformed request.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after the shutdown signal were closed");
        }
    }
    Ok(())
}
