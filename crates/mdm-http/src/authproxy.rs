//! `/authproxy/`: a reverse proxy for requests that devices (or apps on them) authenticate with
//! their MDM identity, passing the enrollment id to the upstream in `X-Enrollment-ID`.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::HeaderValue;
use http::{HeaderName, StatusCode};
use http_body_util::Limited;
use mdm_service::RequestId;
use mdm_storage::{CertAuthStore, DynStorage};
use url::Url;

use crate::cert::{MDM_SIGNATURE, VerifiedCert};
use crate::response::{plain_text, status_error, strip_hop_by_hop};

/// The header carrying the device-channel enrollment id to the upstream.
pub const X_ENROLLMENT_ID: HeaderName = HeaderName::from_static("x-enrollment-id");
/// The header carrying the request id to the upstream.
pub const X_TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");

#[derive(Clone)]
pub(crate) struct AuthProxyState {
    pub store: DynStorage,
    pub target: Url,
    pub client: reqwest::Client,
    pub body_limit: usize,
}

pub(crate) async fn auth_proxy(State(state): State<AuthProxyState>, request: Request) -> Response {
    // NanoMDM answers an unknown certificate with the text of 401 and the status 400: a device
    // must never see a 401.
    let unauthorized = || plain_text(StatusCode::BAD_REQUEST, "Unauthorized");
    let Some(VerifiedCert(cert)) = request.extensions().get::<VerifiedCert>().cloned() else {
        return unauthorized();
    };
    let enrollment_id = match state
        .store
        .enrollment_from_cert_hash(&cert.cert_hash())
        .await
    {
        Ok(Some(id)) => id,
        Ok(None) => {
            tracing::info!("authproxy: certificate not bound to an enrollment");
            return unauthorized();
        }
        Err(e) => {
            tracing::warn!(error = %e, "authproxy: looking up the certificate failed");
            return status_error(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };

    let (parts, body) = request.into_parts();
    let rest = parts
        .uri
        .path()
        .strip_prefix("/authproxy/")
        .unwrap_or_default();
    let url = upstream_url(&state.target, rest, parts.uri.query());

    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(http::header::HOST);
    headers.remove(MDM_SIGNATURE);
    headers.remove(X_ENROLLMENT_ID);
    headers.remove(X_TRACE_ID);
    if let Ok(value) = HeaderValue::from_str(&enrollment_id) {
        headers.insert(X_ENROLLMENT_ID, value);
    }
    if let Some(id) = parts.extensions.get::<RequestId>()
        && let Ok(value) = HeaderValue::from_str(id.as_str())
    {
        headers.insert(X_TRACE_ID, value);
    }
    if let Some(ConnectInfo(remote)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        forwarded_for(&mut headers, remote);
    }

    let body = Body::new(Limited::new(body, state.body_limit)).into_data_stream();
    let upstream = state
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::warn!(error = %e, "authproxy: upstream request failed");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    strip_hop_by_hop(&mut headers);
    let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Go's `singleJoiningSlash` of the target's path and the rest of the request path, with the
/// target's query and the request's joined by `&`.
fn upstream_url(target: &Url, rest: &str, query: Option<&str>) -> Url {
    let mut url = target.clone();
    let base = target.path();
    let path = match (base.ends_with('/'), rest.starts_with('/')) {
        (true, true) => format!("{base}{}", &rest[1..]),
        (false, false) => format!("{base}/{rest}"),
        _ => format!("{base}{rest}"),
    };
    url.set_path(&path);
    let query = match (target.query().filter(|q| !q.is_empty()), query) {
        (Some(t), Some(q)) if !q.is_empty() => Some(format!("{t}&{q}")),
        (Some(t), _) => Some(t.to_owned()),
        (None, q) => q.map(str::to_owned),
    };
    url.set_query(query.as_deref());
    url
}

/// Appends the client's address to `X-Forwarded-For`, as Go's reverse proxy does.
fn forwarded_for(headers: &mut http::HeaderMap, remote: &SocketAddr) {
    let ip = remote.ip().to_string();
    let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {ip}"),
        None => ip,
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert("x-forwarded-for", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_go() {
        let t = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            upstream_url(&t("http://h"), "foo/bar", Some("x=1")).as_str(),
            "http://h/foo/bar?x=1"
        );
        assert_eq!(
            upstream_url(&t("http://h/base/"), "foo", None).as_str(),
            "http://h/base/foo"
        );
        assert_eq!(
            upstream_url(&t("http://h/base"), "foo", None).as_str(),
            "http://h/base/foo"
        );
        assert_eq!(
            upstream_url(&t("http://h/b?k=v"), "", Some("x=1")).as_str(),
            "http://h/b/?k=v&x=1"
        );
    }
}
