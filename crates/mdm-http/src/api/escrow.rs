//! `/v1/escrowkeyunlock`: asks Apple to unlock an Activation-Locked device, authenticated with
//! the topic's push certificate.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use mdm_push::PushCertificate;
use mdm_storage::PushCertStore;

use super::ApiState;
use crate::body::read_body;
use crate::response::{api_error, strip_hop_by_hop};

/// Apple's escrow key unlock endpoint, the default upstream.
pub const ESCROW_KEY_UNLOCK_URL: &str =
    "https://deviceservices-external.apple.com/deviceservicesworkers/escrowKeyUnlock";

const REQUIRED: [&str; 5] = ["serial", "productType", "orgName", "guid", "escrowKey"];

pub(crate) async fn escrow_key_unlock(State(api): State<ApiState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // As Go's `r.PostForm`: only a form-encoded body of POST, PUT or PATCH is read.
    let is_form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let mut form = BTreeMap::new();
    if is_form && matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
        let body = match read_body(&parts.headers, body, api.limits.max_body_bytes).await {
            Ok(body) => body,
            Err(e) => return e.into_response(),
        };
        for (k, v) in url::form_urlencoded::parse(&body) {
            form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if REQUIRED.iter().any(|name| field(name).is_empty()) {
        return api_error(StatusCode::BAD_REQUEST, "invalid or missing parameters");
    }
    let topic = field("topic");
    if topic.is_empty() {
        return api_error(StatusCode::BAD_REQUEST, "empty topic");
    }
    let client = match client_for(&api, topic).await {
        Ok(client) => client,
        Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };

    // `url.Values.Encode` sorts keys; so does a BTreeMap.
    let mut query = BTreeMap::new();
    for name in ["serial", "productType", "imei", "imei2", "meid"] {
        if !field(name).is_empty() {
            query.insert(name, field(name));
        }
    }
    let form_body: BTreeMap<&str, &str> = ["orgName", "guid", "escrowKey"]
        .into_iter()
        .map(|name| (name, field(name)))
        .collect();
    let mut url = api.escrow_url.clone();
    url.query_pairs_mut().clear().extend_pairs(query);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_body)
        .finish();
    let upstream = client
        .post(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await;
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::warn!(error = %e, "escrow key unlock request failed");
            return api_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
    };
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    let body = match upstream.bytes().await {
        Ok(body) => body,
        Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    tracing::info!(status = status.as_u16(), "escrow key unlock answered");
    // NanoMDM copies the upstream headers after writing the status, so none reach the client;
    // here they do (minus hop-by-hop ones; the length is the body's).
    strip_hop_by_hop(&mut headers);
    headers.remove(http::header::CONTENT_LENGTH);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// A client presenting the topic's push certificate as its TLS identity.
async fn client_for(api: &ApiState, topic: &str) -> Result<reqwest::Client, String> {
    let context = |e: &dyn std::fmt::Display| format!("retrieve push cert for topic: {topic}: {e}");
    let stored = api
        .store
        .retrieve_push_cert(topic)
        .await
        .map_err(|e| context(&e))?
        .ok_or_else(|| context(&"no push certificate stored"))?;
    // Parsing first gives a clear error for an unusable certificate or key.
    PushCertificate::from_pem(&stored.cert_pem, stored.key_pem.expose())
        .map_err(|e| context(&e))?;
    let mut pem = stored.cert_pem.into_bytes();
    pem.push(b'\n');
    pem.extend_from_slice(stored.key_pem.expose().as_bytes());
    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| context(&e))?;
    reqwest::Client::builder()
        .identity(identity)
        .timeout(api.escrow_timeout)
        .build()
        .map_err(|e| e.to_string())
}
