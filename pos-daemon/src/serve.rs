//! The HTTP server: axum's router over hyper HTTP/1.1 connections, with what `axum::serve`
//! leaves unset. A client has [`HEADER_READ_TIMEOUT`] to send a request's headers (a connection
//! that sends nothing, or its headers a byte at a time, is closed; so is a keep-alive
//! connection idle that long), and at most `api.max_connections` are open at once (a
//! connection over the limit is closed as soon as it is accepted; those open are served). On shutdown, no
//! connection is accepted and those open finish their requests, for [`SHUTDOWN_GRACE`] at most
//! (an event stream never finishes on its own).

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections are given to finish on shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener`, `max_connections` at once, until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(max_connections));
    let refused = crate::throttle::Throttle::new(Duration::from_secs(60));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most often: wait for some to close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if let Some(held_back) = refused.pass() {
                tracing::warn!(
                    limit = max_connections,
                    held_back,
                    "too many open connections: a new one was closed"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            // A connection closed by the client or by the timeout is not an error of ours.
            let _ = watcher.watch(connection).await;
            drop(slot);
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("connections still open at shutdown were closed");
        }
    }
}
