//! `/v1/pushcert`: upload (any method but GET, as NanoMDM v0.9) and read (`GET ?topic=`, as
//! NanoMDM after v0.9) the MDM push certificate.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use mdm_push::{PushCertError, PushCertificate};
use mdm_storage::PushCertStore;
use serde::{Deserialize, Serialize};

use super::{ApiState, rfc3339};
use crate::body::read_body;
use crate::mdm::query_params;
use crate::response::{api_error, api_json};

/// What `/v1/pushcert` answers: the certificate's expiry and topic, in that order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushCertInfo {
    /// The certificate's notAfter, RFC 3339 in UTC (`2026-01-07T04:04:46Z`).
    pub not_after: String,
    /// The APNs topic (the certificate's Subject UID).
    pub topic: String,
}

pub(crate) async fn push_cert(State(api): State<ApiState>, request: Request) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        read(api, request).await
    } else {
        upload(api, request).await
    }
}

async fn read(api: ApiState, request: Request) -> Response {
    let params = query_params(crate::target::query(request.uri(), request.extensions()));
    let Some(topic) = params.get("topic").filter(|t| !t.is_empty()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "missing required query parameter: topic",
        );
    };
    let stored = match api.store.retrieve_push_cert(topic).await {
        Ok(Some(stored)) => stored,
        // NanoMDM (after v0.9) answers 500 with the SQL "no rows" text; a missing resource
        // is a 404.
        Ok(None) => {
            return api_error(
                StatusCode::NOT_FOUND,
                &format!("no push certificate for topic: {topic}"),
            );
        }
        Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    match PushCertificate::from_pem(&stored.cert_pem, stored.key_pem.expose()) {
        Ok(cert) => api_json(StatusCode::OK, &info(&cert)),
        Err(e) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("stored push certificate: {e}"),
        ),
    }
}

async fn upload(api: ApiState, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body, api.limits.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let (cert_pem, key_pem) = match split_pem(&String::from_utf8_lossy(&body)) {
        Ok(pair) => pair,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, &e),
    };
    let cert = match PushCertificate::from_pem(&cert_pem, &key_pem) {
        Ok(cert) => cert,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, &cert_error_text(&e)),
    };
    if let Err(e) = api
        .store
        .store_push_cert(cert.topic(), &cert_pem, &key_pem)
        .await
    {
        tracing::warn!(error = %e, "storing the push certificate failed");
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    tracing::info!(topic = cert.topic(), "stored push certificate");
    api_json(StatusCode::OK, &info(&cert))
}

fn info(cert: &PushCertificate) -> PushCertInfo {
    PushCertInfo {
        not_after: rfc3339(cert.not_after()).unwrap_or_default(),
        topic: cert.topic().to_owned(),
    }
}

/// The certificate and key PEM blocks of an upload, by NanoMDM's rules: two blocks glued
/// without a newline are separated; `CERTIFICATE` is the certificate (the last one wins);
/// `PRIVATE KEY` or `… PRIVATE KEY` is the key, which must not be encrypted; any other block is
/// an error. Text outside blocks is skipped.
pub(crate) fn split_pem(text: &str) -> Result<(String, String), String> {
    let mut cert = None;
    let mut key = None;
    // A block that does not close ends the reading, as NanoMDM's splitter stops there.
    for section in mdm_proto::pem::sections(text.as_bytes()).map_while(Result::ok) {
        let block = format!("{}\n", String::from_utf8_lossy(section.text));
        let label = section.label.as_str();
        if label == "CERTIFICATE" {
            cert = Some(block);
        } else if label == "PRIVATE KEY" || label.ends_with(" PRIVATE KEY") {
            if section.is_encrypted() {
                return Err("private key PEM appears to be encrypted".into());
            }
            key = Some(block);
        } else {
            return Err(format!("unrecognized PEM type: {label:?}"));
        }
    }
    match (cert, key) {
        (Some(cert), Some(key)) => Ok((cert, key)),
        (None, _) => Err("tls: failed to find any PEM data in certificate input".into()),
        (Some(_), None) => Err("tls: failed to find any PEM data in key input".into()),
    }
}

/// NanoMDM's texts where a client may look for them; our own otherwise.
fn cert_error_text(e: &PushCertError) -> String {
    match e {
        PushCertError::NoTopic => "no APNs Topic found".into(),
        PushCertError::NotMdmTopic(topic) => format!("invalid APNs Topic: {topic:?}"),
        PushCertError::KeyMismatch => "tls: private key does not match public key".into(),
        PushCertError::EncryptedKey => "private key PEM appears to be encrypted".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----";

    #[test]
    fn pem_rules() {
        let (c, k) = split_pem(&format!("junk\n{CERT}\n{KEY}\n")).unwrap();
        assert_eq!(c, format!("{CERT}\n"));
        assert_eq!(k, format!("{KEY}\n"));
        // Glued without a newline.
        assert!(split_pem(&format!("{CERT}{KEY}")).is_ok());
        assert_eq!(
            split_pem("").unwrap_err(),
            "tls: failed to find any PEM data in certificate input"
        );
        assert_eq!(
            split_pem(&format!(
                "{CERT}\n-----BEGIN FOO-----\nx\n-----END FOO-----"
            ))
            .unwrap_err(),
            "unrecognized PEM type: \"FOO\""
        );
        let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nx\n-----END RSA PRIVATE KEY-----";
        assert_eq!(
            split_pem(&format!("{CERT}\n{encrypted}")).unwrap_err(),
            "private key PEM appears to be encrypted"
        );
    }
}
