//! Reading a request body once, into `Bytes`, within a size limit.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;

use crate::response::status_error;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than the configured limit (HTTP 413).
    #[error("request body is over the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The whole body did not arrive within the time allowed to send it
    /// ([`ServeOptions::body_read_timeout`](crate::ServeOptions::body_read_timeout)) (HTTP 408).
    #[error("timed out reading the request body")]
    Timeout,
    /// The bodies of the requests in flight already hold the whole
    /// [`BodyBudget`](crate::BodyBudget) (HTTP 503, with `Retry-After`).
    #[error("the request bodies in flight hold the whole body budget")]
    Busy,
    /// The connection failed while the body was read (HTTP 500, as NanoMDM answers).
    #[error("reading the request body: {0}")]
    Read(#[source] axum::BoxError),
}

impl BodyError {
    /// The status a client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
            BodyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            BodyError::Read(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        tracing::info!(error = %self, "request body refused");
        if let BodyError::Busy = self {
            return crate::budget::busy();
        }
        let mut response = status_error(self.status());
        if !matches!(self, BodyError::Read(_)) {
            // The rest of the body is not read: the connection cannot carry another request.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// Reads the whole body, refusing it as soon as it is known to exceed `limit` bytes: at once
/// when `Content-Length` says so, otherwise when that many bytes have arrived.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let declared = declared_length(headers);
    if declared.is_some_and(|len| len > limit as u64) {
        drain(body).await;
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = body;
    // The first chunk is kept as it is (the common case, one chunk, is handed on without a
    // copy); from the second on, chunks are copied into one buffer, sized by the declared length
    // when there is one, so a body is held about once, not as chunks plus their concatenation.
    let mut first: Option<Bytes> = None;
    let mut all: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if caused_by::<crate::BodyTimeout>(&e) {
                BodyError::Timeout
            } else if caused_by::<crate::BodyBudgetExhausted>(&e) {
                BodyError::Busy
            } else {
                BodyError::Read(e.into())
            }
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len());
        if total > limit {
            drain(body).await;
            return Err(BodyError::TooLarge { limit });
        }
        match first.take() {
            None if all.is_empty() => first = Some(data),
            None => all.extend_from_slice(&data),
            Some(first) => {
                let expected = declared.and_then(|len| usize::try_from(len).ok());
                all.reserve_exact(expected.unwrap_or(total).max(total));
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
            }
        }
    }
    Ok(match first {
        Some(first) => first,
        None => Bytes::from(all),
    })
}

/// The `Content-Length` a request declares.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The most of a refused body read (and dropped) before answering, as Go's server does: a
/// client still sending when the connection closes may otherwise see a reset instead of the
/// 413. Larger bodies are cut off.
const DRAIN_MAX: usize = 256 * 1024;

/// Reads and drops up to [`DRAIN_MAX`] more bytes of `body`, for at most a second.
pub(crate) async fn drain(mut body: Body) {
    let drain = async {
        let mut drained = 0;
        while drained < DRAIN_MAX {
            match body.frame().await {
                Some(Ok(frame)) => {
                    drained = drained.saturating_add(frame.data_ref().map_or(0, |d| d.len()));
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
}

/// Whether the error, or one it wraps, is a `T`: the body deadline of [`crate::serve`]
/// ([`crate::BodyTimeout`]), or the body budget ([`crate::BodyBudgetExhausted`]).
pub(crate) fn caused_by<T: std::error::Error + 'static>(e: &axum::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits() {
        let headers = HeaderMap::new();
        let ok = read_body(&headers, Body::from("abcd"), 4).await.unwrap();
        assert_eq!(&ok[..], b"abcd");
        let err = read_body(&headers, Body::from("abcde"), 4)
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let mut declared = HeaderMap::new();
        declared.insert(http::header::CONTENT_LENGTH, "5".parse().unwrap());
        let err = read_body(&declared, Body::empty(), 4).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 4 }));
    }
}
