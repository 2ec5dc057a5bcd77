//! The device identity certificate: extracted from the request, then verified against the CAs,
//! as two tower layers.
//!
//! [`ExtractCertLayer`] finds the certificate (in `Mdm-Signature`, or in a proxy's header) and
//! puts it in the request's extensions as [`ExtractedCert`]; [`VerifyCertLayer`] checks it with
//! a [`CertVerifier`] and records the result as [`VerifiedCert`]. Handlers behind them read
//! [`VerifiedCert`]. Every refusal is `400 Bad Request` — never 401, which may make a device
//! unenroll.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::{HeaderName, Request, StatusCode};
use mdm_signature::{CertVerifier, IdentityCertificate};
use tower::{Layer, Service};

use crate::body::{BodyError, declared_length, drain, read_body};
use crate::response::status_error;

/// The `Mdm-Signature` header ([`mdm_proto::MDM_SIGNATURE_HEADER`]).
pub const MDM_SIGNATURE: HeaderName = HeaderName::from_static(mdm_proto::MDM_SIGNATURE_HEADER);

/// Where the device identity certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertSource {
    /// The `Mdm-Signature` header: a detached CMS signature over the body, verified here
    /// (NanoMDM's default). A request without it continues without a certificate; a signature
    /// that does not verify is refused at once.
    MdmSignature,
    /// A header a TLS-terminating proxy sets after checking the client certificate (NanoMDM
    /// `-cert-header`): RFC 9440 (`:base64-DER:`) or URL-escaped PEM (nginx
    /// `$ssl_client_escaped_cert`). A missing or unreadable header means no certificate.
    Header(HeaderName),
}

/// The certificate [`ExtractCertLayer`] found, before any trust decision.
#[derive(Clone, Debug)]
pub struct ExtractedCert(pub IdentityCertificate);

/// The certificate after [`VerifyCertLayer`] found a path to a trusted CA.
#[derive(Clone, Debug)]
pub struct VerifiedCert(pub IdentityCertificate);

/// Extracts the device certificate into the request's [`ExtractedCert`] extension.
///
/// A `Content-Length` over `body_limit` is `413` at once. With [`CertSource::MdmSignature`]
/// the body is read (up to `body_limit` bytes; over it is `413`) to check the signature, and
/// handed on as the same `Bytes`.
#[derive(Clone, Debug)]
pub struct ExtractCertLayer {
    source: CertSource,
    body_limit: usize,
}

impl ExtractCertLayer {
    /// Extracts from `source`; bodies over `body_limit` bytes are refused with 413.
    pub fn new(source: CertSource, body_limit: usize) -> Self {
        ExtractCertLayer { source, body_limit }
    }
}

impl<S> Layer<S> for ExtractCertLayer {
    type Service = ExtractCert<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExtractCert {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`ExtractCertLayer`] produces.
#[derive(Clone, Debug)]
pub struct ExtractCert<S> {
    layer: ExtractCertLayer,
    inner: S,
}

impl<S> Service<Request<Body>> for ExtractCert<S>
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
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            // A body declared over the limit is refused before anything else looks at it.
            if declared_length(request.headers()).is_some_and(|len| len > layer.body_limit as u64) {
                drain(request.into_body()).await;
                return Ok(BodyError::TooLarge {
                    limit: layer.body_limit,
                }
                .into_response());
            }
            let request = match layer.source {
                CertSource::MdmSignature => match from_signature(request, layer.body_limit).await {
                    Ok(request) => request,
                    Err(response) => return Ok(response),
                },
                CertSource::Header(name) => from_header(request, &name),
            };
            inner.call(request).await
        })
    }
}

async fn from_signature(request: Request<Body>, limit: usize) -> Result<Request<Body>, Response> {
    let header = request
        .headers()
        .get(MDM_SIGNATURE)
        .filter(|v| !v.is_empty())
        .cloned();
    let Some(header) = header else {
        // No signature: carry on without a certificate; verification refuses the request.
        return Ok(request);
    };
    let (mut parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, limit)
        .await
        .map_err(IntoResponse::into_response)?;
    match mdm_signature::verify_mdm_signature(header.as_bytes(), &body) {
        Ok(cert) => {
            parts.extensions.insert(ExtractedCert(cert));
        }
        Err(e) => {
            metrics::counter!("mdm_certificate_refusals_total", "reason" => "signature")
                .increment(1);
            tracing::info!(error = %e, "Mdm-Signature refused");
            tracing::debug!(mdm_signature = ?header, "the refused Mdm-Signature");
            return Err(status_error(StatusCode::BAD_REQUEST));
        }
    }
    // The same bytes go on: the handler reads them again without copying.
    Ok(Request::from_parts(parts, Body::from(body)))
}

fn from_header(mut request: Request<Body>, name: &HeaderName) -> Request<Body> {
    let Some(value) = request.headers().get(name).filter(|v| !v.is_empty()) else {
        return request;
    };
    match mdm_signature::certificate_from_header(value.as_bytes()) {
        Ok(cert) => {
            request.extensions_mut().insert(ExtractedCert(cert));
        }
        // As NanoMDM: an unreadable header is only logged; without a certificate the
        // verification layer refuses the request.
        Err(e) => {
            metrics::counter!("mdm_certificate_refusals_total", "reason" => "header").increment(1);
            tracing::info!(header = %name, error = %e, "certificate header unreadable")
        }
    }
    request
}

/// Verifies the [`ExtractedCert`] with a [`CertVerifier`] (the `-ca` and `-intermediate`
/// pool), recording [`VerifiedCert`]. No certificate, or one that does not verify, is `400`.
#[derive(Clone)]
pub struct VerifyCertLayer {
    verifier: Arc<dyn CertVerifier>,
}

impl std::fmt::Debug for VerifyCertLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCertLayer").finish_non_exhaustive()
    }
}

impl VerifyCertLayer {
    /// Verifies with `verifier` (usually a [`mdm_signature::CachedVerifier`] over a
    /// [`mdm_signature::CaPool`]).
    pub fn new(verifier: Arc<dyn CertVerifier>) -> Self {
        VerifyCertLayer { verifier }
    }
}

impl<S> Layer<S> for VerifyCertLayer {
    type Service = VerifyCert<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyCert {
            verifier: self.verifier.clone(),
            inner,
        }
    }
}

/// The service [`VerifyCertLayer`] produces.
#[derive(Clone)]
pub struct VerifyCert<S> {
    verifier: Arc<dyn CertVerifier>,
    inner: S,
}

impl<S> std::fmt::Debug for VerifyCert<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCert").finish_non_exhaustive()
    }
}

impl<S> Service<Request<Body>> for VerifyCert<S>
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
        let verdict = match request.extensions().get::<ExtractedCert>() {
            None => Err("missing MDM certificate".to_owned()),
            Some(ExtractedCert(cert)) => self
                .verifier
                .verify_cert(cert, SystemTime::now())
                .map(|_| cert.clone())
                .map_err(|e| e.to_string()),
        };
        match verdict {
            Ok(cert) => {
                request.extensions_mut().insert(VerifiedCert(cert));
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(request).await })
            }
            Err(error) => {
                metrics::counter!("mdm_certificate_refusals_total", "reason" => "untrusted")
                    .increment(1);
                tracing::info!(%error, "device certificate refused");
                Box::pin(std::future::ready(Ok(status_error(
                    StatusCode::BAD_REQUEST,
                ))))
            }
        }
    }
}
