//! A bound on the request bodies held in memory at once, across all requests.
//!
//! The body limit bounds one request; without this, a handful of clients sending maximum-size
//! bodies at once hold that many times the limit. Each request reserves the bytes it brings —
//! its `Content-Length` before anything is read, or each chunk as it arrives — and gives them
//! back when its response is ready. A request that does not fit gets `503 Service Unavailable`
//! with `Retry-After`, which devices and API clients retry, rather than the server running out of
//! memory.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, StatusCode};
use hyper::body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::body::declared_length;
use crate::response::status_error;

/// The unit of reservation: bodies are counted in KiB, so a budget of terabytes still fits the
/// semaphore's `u32` permit counts per request.
const UNIT: usize = 1024;

/// What a client is told to wait before trying again, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

/// How many request-body bytes the requests in flight may hold together. Cloning shares it.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    semaphore: Arc<Semaphore>,
    bytes: usize,
}

impl BodyBudget {
    /// A budget of `bytes` (rounded up to whole KiB).
    pub fn new(bytes: usize) -> Self {
        let units = units(bytes).min(Semaphore::MAX_PERMITS);
        BodyBudget {
            semaphore: Arc::new(Semaphore::new(units)),
            bytes,
        }
    }

    /// The budget, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes not reserved by any request now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits().saturating_mul(UNIT)
    }

    fn try_reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let units = u32::try_from(units(bytes)).ok()?;
        self.semaphore.clone().try_acquire_many_owned(units).ok()
    }
}

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT)
}

/// Applies a [`BodyBudget`] to the bodies of every request: each request reserves the bytes it
/// brings (its `Content-Length` before anything is read, or each chunk as it arrives) and gives
/// them back when its response is ready; one that does not fit gets `503` with `Retry-After`.
#[derive(Clone, Debug)]
pub struct BudgetedBodiesLayer {
    budget: BodyBudget,
}

impl BudgetedBodiesLayer {
    /// Reserves request bodies from `budget`.
    pub fn new(budget: BodyBudget) -> Self {
        BudgetedBodiesLayer { budget }
    }
}

impl<S> Layer<S> for BudgetedBodiesLayer {
    type Service = BudgetedBodies<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BudgetedBodies {
            inner,
            budget: self.budget.clone(),
        }
    }
}

/// The service [`BudgetedBodiesLayer`] produces.
#[derive(Clone, Debug)]
pub struct BudgetedBodies<S> {
    inner: S,
    budget: BodyBudget,
}

/// The error a request body fails with when the bytes it brings do not fit the budget. The
/// crate's handlers answer it with 503 and `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error("the server holds as many request bodies as it may: try again later")]
pub struct BodyBudgetExhausted;

/// The answer to a request that does not fit the budget.
pub(crate) fn busy() -> Response {
    let mut response = status_error(StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers_mut();
    headers.insert(
        http::header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    // The body is not read: the connection cannot carry another request.
    headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

impl<S> Service<Request<Body>> for BudgetedBodies<S>
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

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // A declared length is reserved whole before the body is read, so an oversized burst is
        // refused without reading any of it; what arrives beyond it is reserved as it arrives.
        let declared = declared_length(request.headers())
            .and_then(|len| usize::try_from(len).ok())
            .unwrap_or(0);
        let held = if declared > 0 {
            match self.budget.try_reserve(declared) {
                Some(permit) => Some(permit),
                None => {
                    tracing::warn!(
                        bytes = declared,
                        budget = self.budget.bytes(),
                        "request body refused: the body budget is spent"
                    );
                    return Box::pin(std::future::ready(Ok(busy())));
                }
            }
        } else {
            None
        };
        let held = Arc::new(Mutex::new(held));
        let request = request.map(|body| {
            Body::new(BudgetedBody {
                inner: body,
                budget: self.budget.clone(),
                held: held.clone(),
                covered: declared,
                seen: 0,
            })
        });
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            // The reservation ends with the response (the body's bytes are dropped by then, or
            // handed to bounded queues of their own).
            drop(held);
            response
        })
    }
}

/// A request body that reserves what it delivers beyond what was reserved for it up front.
struct BudgetedBody {
    inner: Body,
    budget: BodyBudget,
    /// The request's reservation, shared with the service future that releases it.
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    /// Bytes already reserved.
    covered: usize,
    /// Bytes delivered so far.
    seen: usize,
}

impl BudgetedBody {
    fn reserve(&mut self, more: usize) -> Result<(), BodyBudgetExhausted> {
        let permit = self.budget.try_reserve(more).ok_or(BodyBudgetExhausted)?;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(existing) => existing.merge(permit),
            None => *held = Some(permit),
        }
        self.covered = self.covered.saturating_add(more);
        Ok(())
    }
}

impl hyper::body::Body for BudgetedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            this.seen = this.seen.saturating_add(data.len());
            if this.seen > this.covered {
                // Reserve in steps of at least 64 KiB, so a chunked body costs few reservations.
                let more = this.seen.saturating_sub(this.covered).max(64 * UNIT);
                if let Err(e) = this.reserve(more) {
                    tracing::warn!(
                        bytes = this.seen,
                        budget = this.budget.bytes(),
                        "request body refused: the body budget is spent"
                    );
                    return Poll::Ready(Some(Err(axum::Error::new(e))));
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn reservations_are_counted_in_kib_and_given_back() {
        let budget = BodyBudget::new(10 * UNIT);
        let a = budget.try_reserve(4 * UNIT + 1).unwrap();
        assert_eq!(budget.available(), 5 * UNIT);
        assert!(budget.try_reserve(6 * UNIT).is_none());
        drop(a);
        assert_eq!(budget.available(), 10 * UNIT);
    }

    #[tokio::test]
    async fn a_body_beyond_its_reservation_reserves_as_it_arrives() {
        let budget = BodyBudget::new(128 * UNIT);
        let held = Arc::new(Mutex::new(None));
        let chunks: Vec<Result<Frame<Bytes>, Infallible>> = (0..3)
            .map(|_| Ok(Frame::data(Bytes::from(vec![0u8; 60 * UNIT]))))
            .collect();
        let body = BudgetedBody {
            inner: Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(
                chunks,
            ))),
            budget: budget.clone(),
            held: held.clone(),
            covered: 0,
            seen: 0,
        };
        let mut body = Body::new(body);
        // 60 KiB: 64 KiB reserved.
        body.frame().await.unwrap().unwrap();
        assert_eq!(budget.available(), 64 * UNIT);
        // 120 KiB: 64 more.
        body.frame().await.unwrap().unwrap();
        assert_eq!(budget.available(), 0);
        // 180 KiB: over the budget.
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(crate::body::caused_by::<BodyBudgetExhausted>(&err));
        drop(body);
        drop(held);
        assert_eq!(budget.available(), 128 * UNIT);
    }
}
