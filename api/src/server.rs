//! The HTTP server: HTTP/1.1 over TCP with limits a hostile or careless
//! client cannot outlast.
//!
//! - A connection gets at most `header_timeout` to send a complete request
//!   head, when it opens and again between keep-alive requests: half-sent
//!   headers and idle keep-alive connections are closed after it.
//! - At most `max_connections` connections are served at once; more wait
//!   in the listen backlog until one closes, so memory stays bounded
//!   however many sockets are opened.
//! - A request (reading its body and answering it) gets at most the
//!   router's own timeout (`TimeoutLayer` in [`crate::app`]).
//! - Every body is read in full before its handler runs
//!   ([`crate::middleware::body_cap`]), so a handler that ignores its body
//!   never leaves bytes that would end a keep-alive connection under the
//!   next request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Limits of the HTTP server (`nestogy --help` names their variables).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets the
/// connections finish the requests they are in and closes them.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => log_end(r, peer),
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    log_end(conn.await, peer);
                }
            }
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    // Wait for every connection to finish (each holds a permit).
    let _ = permits
        .acquire_many(limits.max_connections.max(1) as u32)
        .await;
    Ok(())
}

fn log_end(r: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(e) = r
        && !e.is_incomplete_message()
    {
        tracing::debug!(error = %e, %peer, "connection ended");
    }
}
