//! HTTP Basic authentication for the API, as NanoMDM: user `nanomdm`, password the API key.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use futures_util::future::BoxFuture;
use http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

use crate::response::status_error;

/// The user name the API expects.
pub const API_USER: &str = "nanomdm";

/// Requires `Authorization: Basic` with user [`API_USER`] and the API key as password.
/// Anything else is `401 Unauthorized` with `WWW-Authenticate: Basic realm="nanomdm"`.
///
/// Both the user and the password are compared in constant time (as SHA-256 digests, so not
/// even the key's length shows), and both comparisons always run, so the response time does not
/// tell which one was wrong.
#[derive(Clone)]
pub struct BasicAuthLayer {
    api_key_digest: Arc<[u8; 32]>,
}

impl std::fmt::Debug for BasicAuthLayer {
    // The key is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthLayer").finish_non_exhaustive()
    }
}

impl BasicAuthLayer {
    /// Requires `api_key` as the password.
    pub fn new(api_key: impl AsRef<[u8]>) -> Self {
        BasicAuthLayer {
            api_key_digest: Arc::new(digest(api_key.as_ref())),
        }
    }

    /// Whether `request` carries the right credentials.
    fn allows<B>(&self, request: &Request<B>) -> bool {
        let Some((user, password)) = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| basic_credentials(v.as_bytes()))
        else {
            return false;
        };
        let user_ok = digest(&user).ct_eq(&digest(API_USER.as_bytes()));
        let password_ok = digest(&password).ct_eq(&*self.api_key_digest);
        bool::from(user_ok & password_ok)
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Decodes `Basic <base64(user:password)>` (scheme case-insensitive, as Go's `BasicAuth`).
fn basic_credentials(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const SCHEME: &[u8] = b"Basic ";
    let (scheme, encoded) = value.split_at_checked(SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let mut parts = decoded.splitn(2, |&b| b == b':');
    Some((parts.next()?.to_vec(), parts.next()?.to_vec()))
}

fn unauthorized() -> Response {
    let mut response = status_error(StatusCode::UNAUTHORIZED);
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"nanomdm\""),
    );
    response
}

impl<S> Layer<S> for BasicAuthLayer {
    type Service = BasicAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BasicAuth {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`BasicAuthLayer`] produces.
#[derive(Clone)]
pub struct BasicAuth<S> {
    layer: BasicAuthLayer,
    inner: S,
}

impl<S> std::fmt::Debug for BasicAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth").finish_non_exhaustive()
    }
}

impl<S> Service<Request<Body>> for BasicAuth<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if self.layer.allows(&request) {
            Box::pin(self.inner.call(request))
        } else {
            tracing::info!("API request without valid credentials");
            Box::pin(std::future::ready(Ok(unauthorized())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(a) = auth {
            r.headers_mut().insert(AUTHORIZATION, a.parse().unwrap());
        }
        r
    }

    fn basic(s: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    #[test]
    fn credentials() {
        let layer = BasicAuthLayer::new("s3cret");
        assert!(layer.allows(&request(Some(&basic("nanomdm:s3cret")))));
        assert!(layer.allows(&request(Some(
            &basic("nanomdm:s3cret").replace("Basic", "bAsIc")
        ))));
        assert!(!layer.allows(&request(Some(&basic("nanomdm:wrong")))));
        assert!(!layer.allows(&request(Some(&basic("admin:s3cret")))));
        assert!(!layer.allows(&request(Some(&basic("nanomdm")))));
        assert!(!layer.allows(&request(Some("Bearer x"))));
        assert!(!layer.allows(&request(None)));
        // A password containing a colon: only the first colon separates.
        let layer = BasicAuthLayer::new("a:b");
        assert!(layer.allows(&request(Some(&basic("nanomdm:a:b")))));
    }
}
