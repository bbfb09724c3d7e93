//! The HTTP server loop: axum's router on hyper's HTTP/1 connections, with the limits
//! `axum::serve` does not have.
//!
//! `axum::serve` sets no timer on its connections, so a client that opens a connection and
//! sends nothing, or sends its headers a byte a minute, holds it for ever, and enough such
//! clients make the server unreachable. Here every connection gets hyper's header-read
//! timeout (which hyper also applies while a kept-alive connection waits for its next
//! request, so it is the idle timeout too), and at most `max_connections` are open at once:
//! the accept loop waits for a free slot, leaving further clients in the kernel's backlog
//! instead of spending memory on them. Request handling time is bounded separately by the
//! router's timeout layer.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time allowed for a request's headers, and for an idle kept-alive connection.
    pub header_timeout: Duration,
}

/// Largest request head (request line and headers) read before refusing.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return Ok(()),
            },
            () = &mut shutdown => return Ok(()),
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(ConnectInfo(addr));
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(MAX_HEAD_BYTES.max(8192));
            if let Err(e) = b.serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
}
