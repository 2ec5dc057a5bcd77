//! `/scep` and `/enroll`: the server issues device identities itself (`-scep-ca`,
//! `-scep-challenge`) and serves the enrollment profile that points devices at them
//! (`-server-url`, signed with `-enroll-signer`).
//!
//! The profile is built per request, because its push topic is the stored push certificate's,
//! which `PUT /v1/pushcert` can change while the server runs: the topic of the last certificate
//! uploaded here is remembered (a store lists no topics to read it back from).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use mdm_profiles::{EnrollmentProfileBuilder, IdentityPayload, ProfileSigner};
use mdm_scep::{
    FileCa, IssueOptions, KeyAlgorithm, PrivateKey, Scep, ScepIdentity, ServerOptions,
    StaticChallenge,
};

use crate::StartupError;

/// The `Content-Type` Apple devices install a profile from.
const PROFILE_CONTENT_TYPE: &str = "application/x-apple-aspen-config";

/// How long the RA certificate made for an ECDSA SCEP CA is valid (remade at every start).
const RA_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The SCEP service for the CA in `ca_pem`, and the CA certificate (PEM) to trust.
pub(crate) fn scep_router(
    path: &str,
    ca_pem: &str,
    challenge: &str,
) -> Result<(Router, Vec<u8>), StartupError> {
    let config = |e: &dyn std::fmt::Display| StartupError::Scep(format!("{path:?}: {e}"));
    if challenge.is_empty() {
        return Err(StartupError::Scep(
            "-scep-ca needs -scep-challenge (the password devices enroll with)".into(),
        ));
    }
    let mut ca = FileCa::from_pem(ca_pem, IssueOptions::default()).map_err(|e| config(&e))?;
    let identity = match ca.scep_identity() {
        Ok(identity) => identity,
        // An ECDSA CA cannot decrypt requests: SCEP clients encrypt to an RSA registration
        // authority, made here and issued by the CA.
        Err(_) => {
            let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).map_err(|e| config(&e))?;
            let der = ca
                .issue_ra_certificate(&key, "CN=Rootstock SCEP RA", RA_VALIDITY, SystemTime::now())
                .map_err(|e| config(&e))?;
            let ra = ScepIdentity::new(der, key).map_err(|e| config(&e))?;
            ca = ca.with_ra(ra.clone());
            ra
        }
    };
    let ca_der = ca.chain().into_iter().next().unwrap_or_default();
    let chain = ca.chain();
    let scep = Scep::new(
        identity,
        &chain,
        StaticChallenge::new(challenge),
        ca,
        ServerOptions::default(),
    )
    .map_err(|e| config(&e))?;
    let router = Router::new().nest_service("/scep", mdm_scep::http::router(Arc::new(scep)));
    Ok((router, ca_der))
}

/// What `/enroll` builds its profile from.
pub(crate) struct EnrollConfig {
    /// The public base URL, without a trailing slash (`-server-url`, or `-dev`'s once bound).
    pub base_url: std::sync::OnceLock<String>,
    /// Whether check-ins have their own endpoint (`-checkin`).
    pub check_in: bool,
    pub challenge: String,
    /// The SCEP CA (DER), included so the device trusts what it is issued.
    pub scep_ca: Vec<u8>,
    pub signer: Option<ProfileSigner>,
    /// The topic of the push certificate last uploaded through `/v1/pushcert`.
    pub topic: Arc<RwLock<Option<String>>>,
    /// The topic to use before any push certificate is uploaded (`-dev`).
    pub fallback_topic: Option<String>,
}

impl EnrollConfig {
    /// The enrollment profile as served: signed DER, or XML without a signer.
    fn profile(&self) -> Result<Vec<u8>, (StatusCode, String)> {
        let topic = self
            .topic
            .read()
            .ok()
            .and_then(|t| t.clone())
            .or_else(|| self.fallback_topic.clone())
            .ok_or((
                StatusCode::SERVICE_UNAVAILABLE,
                "no push certificate yet: upload one to /v1/pushcert (or start with -enroll-topic)"
                    .to_owned(),
            ))?;
        let base = self.base_url.get().ok_or((
            StatusCode::SERVICE_UNAVAILABLE,
            "the server's public URL is not known (-server-url)".to_owned(),
        ))?;
        let mut builder = EnrollmentProfileBuilder::new(
            "com.rootstock.enrollment",
            format!("{base}/mdm"),
            topic,
            IdentityPayload::scep(
                format!("{base}/scep"),
                &self.challenge,
                "Rootstock MDM identity",
            ),
        )
        .display_name("Rootstock MDM enrollment")
        .ca_certificate(self.scep_ca.clone());
        if self.check_in {
            builder = builder.check_in_url(format!("{base}/checkin"));
        }
        let internal =
            |e: &dyn std::fmt::Display| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let profile = builder.build().map_err(|e| internal(&e))?;
        match &self.signer {
            Some(signer) => signer.sign(&profile).map_err(|e| internal(&e)),
            None => Ok(profile.to_xml()),
        }
    }
}

/// `GET /enroll`.
pub(crate) fn enroll_router(config: Arc<EnrollConfig>) -> Router {
    Router::new().route(
        "/enroll",
        axum::routing::get(move || {
            let config = config.clone();
            async move {
                match config.profile() {
                    Ok(body) => (
                        [
                            (header::CONTENT_TYPE, PROFILE_CONTENT_TYPE),
                            (
                                header::CONTENT_DISPOSITION,
                                "attachment; filename=\"enroll.mobileconfig\"",
                            ),
                        ],
                        body,
                    )
                        .into_response(),
                    Err((status, message)) => {
                        tracing::warn!(%message, "enrollment profile not served");
                        (status, message).into_response()
                    }
                }
            }
        }),
    )
}

/// Remembers the topic of every push certificate `PUT /v1/pushcert` stores.
pub(crate) async fn remember_push_topic(
    topic: Arc<RwLock<Option<String>>>,
    request: Request,
    next: Next,
) -> Response {
    let upload = request.method() != Method::GET
        && request.method() != Method::HEAD
        && request.uri().path() == "/v1/pushcert";
    let response = next.run(request).await;
    if !upload || response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    // The answer is a small JSON object ({"not_after", "topic"}).
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(info) = serde_json::from_slice::<mdm_http::PushCertInfo>(&bytes)
        && let Ok(mut slot) = topic.write()
    {
        *slot = Some(info.topic);
    }
    Response::from_parts(parts, Body::from(bytes))
}
