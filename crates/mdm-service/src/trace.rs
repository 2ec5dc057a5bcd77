use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tracing::Instrument;

use crate::{MdmError, MdmRequest, MdmResponse};

/// Runs each request in a `tracing` span carrying its request id, enrollment id, enrollment type
/// and message kind, and logs how it ended: errors at `warn` (500s) or `info` (400s, 410s),
/// successes at `debug`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MdmTraceLayer;

impl<S> tower::Layer<S> for MdmTraceLayer {
    type Service = MdmTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MdmTrace { inner }
    }
}

/// The service [`MdmTraceLayer`] produces.
#[derive(Clone, Debug)]
pub struct MdmTrace<S> {
    inner: S,
}

impl<S> tower::Service<MdmRequest> for MdmTrace<S>
where
    S: tower::Service<MdmRequest, Response = MdmResponse, Error = MdmError>,
    S::Future: Send + 'static,
{
    type Response = MdmResponse;
    type Error = MdmError;
    type Future = BoxFuture<'static, Result<MdmResponse, MdmError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MdmRequest) -> Self::Future {
        let span = tracing::info_span!(
            "mdm",
            request_id = %request.request_id,
            // `?`: the id is the device's to choose; quoted and escaped it cannot forge a log line.
            enrollment_id = ?request.enroll_id.id(),
            enrollment_type = request.enroll_id.kind().as_str(),
            message = %request.message.kind(),
        );
        let future = self.inner.call(request);
        Box::pin(
            async move {
                let result = future.await;
                match &result {
                    Ok(response) => tracing::debug!(body = response.body.is_some(), "answered"),
                    Err(e) if e.status() >= 500 => {
                        tracing::warn!(error = %e, status = e.status(), "failed")
                    }
                    Err(e) => tracing::info!(error = %e, status = e.status(), "refused"),
                }
                result
            }
            .instrument(span),
        )
    }
}
