//! `/authproxy/`: a reverse proxy for requests that devices (or apps on them) authenticate with
//! their MDM identity, passing the enrollment id to the upstream in `X-Enrollment-ID`.

use std::borrow::Cow;
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
use crate::target;

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
    let path = target::path(&parts.uri, &parts.extensions);
    let rest = path.strip_prefix("/authproxy/").unwrap_or_default();
    let query = target::query(&parts.uri, &parts.extensions);
    let Some(url) = upstream_url(&state.target, rest, query) else {
        // The mux has already sent `..` and `%2e%2e` segments elsewhere; this is what an upstream
        // that decodes twice or takes `\` for `/` could still read as one.
        tracing::info!(path = ?path, "authproxy: path would leave the upstream's base path");
        return status_error(StatusCode::BAD_REQUEST);
    };

    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(http::header::HOST);
    headers.remove(MDM_SIGNATURE);
    headers.remove(X_ENROLLMENT_ID);
    headers.remove(X_TRACE_ID);
    if let Ok(value) = HeaderValue::from_str(enrollment_id.as_str()) {
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
/// target's query and the request's joined by `&`; `None` if the result could be outside the
/// target's path (see [`may_climb`]).
fn upstream_url(target: &Url, rest: &str, query: Option<&str>) -> Option<Url> {
    if may_climb(rest) {
        return None;
    }
    let mut url = target.clone();
    let base = target.path();
    let path = match (base.ends_with('/'), rest.strip_prefix('/')) {
        (true, Some(rest)) => format!("{base}{rest}"),
        (false, None) => format!("{base}/{rest}"),
        _ => format!("{base}{rest}"),
    };
    // `set_path` resolves dot segments (`%2e` ones included) and takes `\` for `/`: check
    // what it made of the path, not only what went in.
    url.set_path(&path);
    let inside = url.path() == base
        || url
            .path()
            .strip_prefix(base)
            .is_some_and(|tail| base.ends_with('/') || tail.starts_with('/'));
    if !inside {
        return None;
    }
    let query = match (target.query().filter(|q| !q.is_empty()), query) {
        (Some(t), Some(q)) if !q.is_empty() => Some(format!("{t}&{q}")),
        (Some(t), _) => Some(t.to_owned()),
        (None, q) => q.map(str::to_owned),
    };
    url.set_query(query.as_deref());
    Some(url)
}

/// Whether an upstream could read `path` (a request path, still percent-encoded) as climbing out
/// of the directory it is joined to: a `.` or `..` segment, with `/` or `\` as separators,
/// as it is or percent-decoded up to three times (`%2e%2e`, `%252e%252e`, `..%2f`, `..%5c`).
fn may_climb(path: &str) -> bool {
    let dot_segment = |bytes: &[u8]| {
        bytes
            .split(|&b| b == b'/' || b == b'\\')
            .any(|segment| segment == b"." || segment == b"..")
    };
    let mut level = Cow::Borrowed(path.as_bytes());
    for _ in 0..4 {
        if dot_segment(&level) {
            return true;
        }
        // An escape that does not decode is left for the upstream to refuse.
        match percent_decode_lenient(&level) {
            Some(decoded) => level = Cow::Owned(decoded),
            None => return false,
        }
    }
    false
}

/// `bytes` with its valid `%XX` escapes decoded, or `None` if it has none.
fn percent_decode_lenient(bytes: &[u8]) -> Option<Vec<u8>> {
    match std::borrow::Cow::from(percent_encoding::percent_decode(bytes)) {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(decoded) => Some(decoded),
    }
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

    fn t(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn joins_like_go() {
        let joined = |target: &str, rest: &str, query: Option<&str>| {
            upstream_url(&t(target), rest, query).unwrap().to_string()
        };
        assert_eq!(
            joined("http://h", "foo/bar", Some("x=1")),
            "http://h/foo/bar?x=1"
        );
        assert_eq!(joined("http://h/base/", "foo", None), "http://h/base/foo");
        assert_eq!(joined("http://h/base", "foo", None), "http://h/base/foo");
        assert_eq!(
            joined("http://h/b?k=v", "", Some("x=1")),
            "http://h/b/?k=v&x=1"
        );
        // Encoded slashes and dots that climb nowhere are passed on as they are.
        assert_eq!(
            joined("http://h/base/", "a%2Fb", None),
            "http://h/base/a%2Fb"
        );
        assert_eq!(
            joined("http://h/base/", "a..b/.c/%2e%2ex", None),
            "http://h/base/a..b/.c/%2e%2ex"
        );
    }

    #[test]
    fn never_leaves_the_base_path() {
        for rest in [
            "..",
            "../admin",
            "%2e%2e/admin",
            "a/%2E%2E/%2e%2e/internal/secret",
            "a/..%2F..%2Finternal",
            "..%5Cadmin",
            "..\\admin",
            "a\\..\\..\\admin",
            "%252e%252e/admin",
            "%25252e%25252e/admin",
            ".%2e/admin",
            "./x",
            "a/.",
        ] {
            assert!(
                upstream_url(&t("http://h/base/"), rest, None).is_none(),
                "{rest:?} was forwarded"
            );
            assert!(upstream_url(&t("http://h/base"), rest, None).is_none());
        }
    }
}
