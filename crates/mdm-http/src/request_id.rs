//! A request id and a log line for every HTTP request.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use futures_util::future::BoxFuture;
use http::Request;
use mdm_service::RequestId;
use tower::{Layer, Service};
use tracing::Instrument;

/// Gives each request a [`RequestId`] (in its extensions; an id already there is kept), runs it
/// in a `tracing` span `http` carrying the id, method and path (and, for device requests, the
/// enrollment id and message type), and logs its status and duration when it completes.
///
/// The MDM handlers pass the id on to the service, so the service's logs and the webhook's
/// `event_id` carry the same id. Like NanoMDM's trace id it is never sent to the client.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLogLayer;

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLog { inner }
    }
}

/// The service [`RequestLogLayer`] produces.
#[derive(Clone, Debug)]
pub struct RequestLog<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for RequestLog<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let id = request
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::random);
        request.extensions_mut().insert(id.clone());
        // The path is recorded with `?` (quoted, control characters escaped), so that it cannot
        // start a log line of its own whatever the subscriber. (A method is a token: no
        // control characters.)
        let span = tracing::info_span!(
            "http",
            request_id = %id,
            method = %request.method(),
            path = ?crate::target::path(request.uri(), request.extensions()),
            // Filled in by the device endpoints once the body is decoded.
            enrollment_id = tracing::field::Empty,
            message_type = tracing::field::Empty,
        );
        let start = Instant::now();
        let future = self.inner.call(request);
        Box::pin(
            async move {
                let response = future.await;
                if let Ok(response) = &response {
                    tracing::info!(
                        status = response.status().as_u16(),
                        elapsed = ?start.elapsed(),
                        "request"
                    );
                }
                response
            }
            .instrument(span),
        )
    }
}
