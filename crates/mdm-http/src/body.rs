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
            BodyError::Read(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        tracing::info!(error = %self, "request body refused");
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
    if declared_length(headers).is_some_and(|len| len > limit as u64) {
        drain(body).await;
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = body;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if is_timeout(&e) {
                BodyError::Timeout
            } else {
                BodyError::Read(e.into())
            }
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total += data.len();
        if total > limit {
            drain(body).await;
            return Err(BodyError::TooLarge { limit });
        }
        chunks.push(data);
    }
    Ok(match chunks.len() {
        // The common case, one chunk, is handed on without a copy.
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = Vec::with_capacity(total);
            for chunk in chunks {
                all.extend_from_slice(&chunk);
            }
            Bytes::from(all)
        }
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
                Some(Ok(frame)) => drained += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
}

/// Whether the error (or one it wraps) is the body deadline of [`crate::serve`] expiring.
fn is_timeout(e: &axum::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = current {
        if e.is::<crate::BodyTimeout>() {
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
