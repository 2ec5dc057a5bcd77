//! Serving a router over HTTP/1.1 with the limits NanoMDM lacks: a header read timeout, a
//! deadline for a whole request body, and a graceful shutdown.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How [`serve`] treats connections.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeOptions {
    /// How long a client may take to send a request's headers (from connecting, or from the end
    /// of the previous request on a kept-alive connection). Default 30 s.
    pub header_read_timeout: Duration,
    /// Time allowed to send a whole request body, counted from when the handler starts reading
    /// it; a body not complete by then fails with [`BodyTimeout`] (the crate's handlers answer
    /// 408 and close the connection). A deadline, not an idle timeout: a client trickling a byte
    /// at a time cannot hold a request open longer. Default 60 s.
    pub body_read_timeout: Duration,
    /// How long requests in flight may take to finish after shutdown begins. Default 30 s.
    pub shutdown_grace: Duration,
    /// Largest request head (request line and headers) accepted, in bytes; a larger one gets
    /// `431`. Default 1 MiB, as Go's server, so an API call naming some 28,000 enrollment ids in
    /// its path fits. A request target longer than hyper takes (64 KiB) reaches the router with
    /// its path cut after a `/` (see [`serve`]).
    pub max_header_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            max_header_bytes: 1024 * 1024,
        }
    }
}

impl ServeOptions {
    /// Sets [`header_read_timeout`](Self::header_read_timeout).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`body_read_timeout`](Self::body_read_timeout).
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets [`shutdown_grace`](Self::shutdown_grace).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`max_header_bytes`](Self::max_header_bytes).
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish (up to [`ServeOptions::shutdown_grace`]) and returns.
///
/// Each request carries the client's address as [`ConnectInfo`]`<`[`std::net::SocketAddr`]`>`.
///
/// Request targets may be as long as [`ServeOptions::max_header_bytes`] allows, although
/// `http::Uri` holds at most 64 KiB: a longer one reaches the router as a stand-in, its path cut
/// after its last `/` within the first 4 KiB and no query, with the rest in the request's
/// extensions. This crate's handlers read the whole target; a route of your own sees the
/// stand-in. (Connections that send a `Transfer-Encoding` body or upgrade are not followed past
/// that request, and their later over-long targets get `414`.)
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let body_timeout = options.body_read_timeout;
        let (stream, targets) =
            crate::target::rewrite_long_targets(stream, options.max_header_bytes);
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let mut request = request.map(|body| Body::new(DeadlineBody::new(body, body_timeout)));
            request.extensions_mut().insert(ConnectInfo(remote));
            let refusal = targets.attach(&mut request).err();
            let router = router.clone();
            async move {
                match refusal {
                    Some(refusal) => Ok(refusal.response()),
                    None => router.oneshot(request).await,
                }
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout)
            .max_buf_size(options.max_header_bytes.max(8192))
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "shutting down: waiting for requests in flight"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(options.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
    Ok(())
}

/// The error a request body served by [`serve`] fails with when it has not arrived whole within
/// [`ServeOptions::body_read_timeout`]. It reaches handlers inside an [`axum::Error`] (find it
/// in the source chain); the crate's own handlers answer it with 408.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {timeout:?}")]
pub struct BodyTimeout {
    timeout: Duration,
}

impl BodyTimeout {
    /// The time the body was allowed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// A request body that must arrive whole within `timeout` of the first attempt to read it.
/// Unlike a per-read timeout, data arriving does not push the deadline back.
struct DeadlineBody {
    inner: Incoming,
    timeout: Duration,
    /// Set on the first read.
    deadline: Option<Instant>,
    /// Armed the first time the body has to wait for data, so a body that is already buffered
    /// costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    expired: bool,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        DeadlineBody {
            inner,
            timeout,
            deadline: None,
            sleep: None,
            expired: false,
        }
    }

    fn timed_out(&self) -> axum::BoxError {
        Box::new(BodyTimeout {
            timeout: self.timeout,
        })
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.expired {
            // Never `None`: that would pass a truncated body off as a complete one.
            return Poll::Ready(Some(Err(this.timed_out())));
        }
        let timeout = this.timeout;
        let deadline = *this.deadline.get_or_insert_with(|| deadline_after(timeout));
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired = true;
                Poll::Ready(Some(Err(this.timed_out())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.expired && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The address a `listen` flag names: Go's `:9000` means every interface.
fn listen_address(listen: &str) -> String {
    match listen.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => listen.to_owned(),
    }
}

/// Binds a NanoMDM `-listen` address: `host:port`, `[v6]:port`, or Go's `:port` for every
/// interface.
pub async fn bind(listen: &str) -> std::io::Result<TcpListener> {
    if let Some(port) = listen.strip_prefix(':') {
        // Go's `:port` listens on every address, IPv6 included; fall back to IPv4 where IPv6 is
        // unavailable.
        if let Ok(listener) = TcpListener::bind(format!("[::]:{port}")).await {
            return Ok(listener);
        }
    }
    TcpListener::bind(listen_address(listen)).await
}

/// `timeout` from now; an operator's timeout too long for the clock means about no deadline.
fn deadline_after(timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(timeout.min(CENTURY)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_listen_addresses() {
        assert_eq!(super::listen_address(":9000"), "0.0.0.0:9000");
        assert_eq!(super::listen_address("127.0.0.1:0"), "127.0.0.1:0");
    }
}
