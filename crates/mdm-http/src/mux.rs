//! What Go's `http.ServeMux` does before any handler runs, for every route: NanoMDM v0.9 is built
//! with Go 1.21, whose mux (`ServeMux.Handler` in `net/http/server.go`; kept as the legacy mux
//! in later Go versions) does this to each request:
//!
//! * target `*` (`OPTIONS *`): `400`, empty, `Connection: close`;
//! * the path is percent-decoded (Go's server has already refused an invalid escape with a
//!   plain `400 Bad Request`, no newline, and closed the connection) and cleaned: `path.Clean`
//!   (no empty, `.` or `..` segments) with a trailing slash kept. CONNECT requests are not
//!   cleaned;
//! * if the cleaned path plus `/` is a registered subtree (`/v1/push/`, `/v1/enqueue/`,
//!   `/authproxy/`) that the path itself is not: `301` to that;
//! * else if the cleaned path differs from the decoded one: `301` to the cleaned path.
//!
//! A redirect's `Location` is the path re-encoded the way Go's `url.URL` encodes a path, with
//! the raw query appended when it is not empty and bytes outside ASCII hex-escaped (Go's
//! `http.Redirect`). A `GET` gets `Content-Type: text/html; charset=utf-8` and the body
//! `<a href="…">Moved Permanently</a>.` followed by two newlines, a `HEAD` the content type only,
//! other methods neither. All of it before authentication, as in NanoMDM, where the mux is in
//! front of every handler's middleware.
//!
//! So no handler sees a path with dot segments or empty segments once it is decoded: that is
//! what keeps `/authproxy/..%2F` and `/v1/enqueue/..` away from the auth proxy and the API.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use futures_util::future::Either;
use http::header::{CONNECTION, CONTENT_TYPE, HeaderValue, LOCATION};
use http::{Method, Request, StatusCode, Version};
use tower::{Layer, Service};

use crate::target;

/// NanoMDM's path handling, which Go's `http.ServeMux` does before any handler runs: unclean
/// paths (`//mdm`, `/a/../mdm`, `/v1/enqueue/..`, decoded first) are redirected (`301`) to their
/// clean form, and a subtree without its slash (`/v1/push`) to the subtree. [`MdmHttpBuilder::build`](crate::MdmHttpBuilder::build)
/// applies it; put it around your own application when you merge
/// [`MdmHttpBuilder::build_routes`](crate::MdmHttpBuilder::build_routes) into it.
#[derive(Clone, Debug)]
pub struct PathCleanLayer {
    subtrees: Arc<[&'static str]>,
}

impl PathCleanLayer {
    /// Path cleaning with `subtrees` as the registered subtree patterns (ending in `/`) whose
    /// slashless form redirects to them.
    pub fn new(subtrees: impl IntoIterator<Item = &'static str>) -> Self {
        PathCleanLayer {
            subtrees: subtrees.into_iter().collect(),
        }
    }

    /// NanoMDM's subtrees: `/v1/push/`, `/v1/enqueue/` and `/authproxy/` (not Rootstock's own
    /// `/v1/commands/`: [`MdmHttpBuilder::path_clean_layer`](crate::MdmHttpBuilder::path_clean_layer)
    /// gives the subtrees a router actually serves).
    pub fn nanomdm() -> Self {
        Self::new(["/v1/push/", "/v1/enqueue/", "/authproxy/"])
    }
}

impl<S> Layer<S> for PathCleanLayer {
    type Service = PathClean<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PathClean {
            inner,
            subtrees: self.subtrees.clone(),
        }
    }
}

/// The service [`PathCleanLayer`] produces.
#[derive(Clone, Debug)]
pub struct PathClean<S> {
    inner: S,
    subtrees: Arc<[&'static str]>,
}

impl<S> Service<Request<Body>> for PathClean<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        match mux_answer(&request, &self.subtrees) {
            Some(response) => Either::Left(ready(Ok(response))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

/// What Go's mux answers instead of the handler, if anything.
fn mux_answer(request: &Request<Body>, subtrees: &[&str]) -> Option<Response> {
    let uri = request.uri();
    if uri.path() == "*" && uri.authority().is_none() {
        let mut response = empty(StatusCode::BAD_REQUEST);
        if request.version() == Version::HTTP_11 {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        return Some(response);
    }
    let path = target::path(uri, request.extensions());
    let Some(decoded) = percent_decode(path.as_bytes()) else {
        return Some(malformed_request());
    };
    let query = target::query(uri, request.extensions()).filter(|q| !q.is_empty());
    let redirect = |to: &[u8]| Some(moved(request, to, query));
    if request.method() == Method::CONNECT {
        // Not cleaned; only sent on to a subtree.
        if needs_slash(&decoded, subtrees) {
            return redirect(&[&decoded[..], b"/"].concat());
        }
        return None;
    }
    let mut clean = clean_path(&decoded);
    if needs_slash(&clean, subtrees) {
        clean.push(b'/');
        return redirect(&clean);
    }
    if clean != decoded {
        return redirect(&clean);
    }
    None
}

/// Whether `path + "/"` is one of `subtrees` (Go's `shouldRedirectRLocked`).
fn needs_slash(path: &[u8], subtrees: &[&str]) -> bool {
    !path.ends_with(b"/")
        && subtrees
            .iter()
            .any(|subtree| subtree.as_bytes().strip_suffix(b"/") == Some(path) && !path.is_empty())
}

/// Decodes `%XX` escapes, as Go's `url.PathUnescape`; `None` for an invalid escape.
pub(crate) fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    // `percent-encoding` passes a malformed escape through; Go's `PathUnescape` refuses it.
    let well_formed = s.split(|&b| b == b'%').skip(1).all(|after| {
        after
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    well_formed.then(|| percent_encoding::percent_decode(s).collect())
}

/// Go's `cleanPath`: `path.Clean` of a rooted path (no empty, `.` or `..` segments; `..` at the
/// root stays at the root), keeping a trailing slash.
pub(crate) fn clean_path(path: &[u8]) -> Vec<u8> {
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in path.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut clean = Vec::with_capacity(path.len().saturating_add(1));
    for segment in &segments {
        clean.push(b'/');
        clean.extend_from_slice(segment);
    }
    if clean.is_empty() || path.ends_with(b"/") {
        clean.push(b'/');
    }
    clean
}

/// Appends `path` encoded as Go's `url.URL.EscapedPath` encodes a path it has no raw form
/// for: letters, digits, `-_.~` and `$&+,/:;=@` as they are, everything else `%XX`.
pub(crate) fn escape_path(out: &mut String, path: &[u8]) {
    for &b in path {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Go's `http.Redirect(w, r, url, 301)` for a request whose (decoded) path should be `to`.
fn moved(request: &Request<Body>, to: &[u8], query: Option<&str>) -> Response {
    let mut url = mount_prefix(request).into_owned();
    escape_path(&mut url, to);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    let Ok(location) = HeaderValue::try_from(hex_escape_non_ascii(&url)) else {
        // Not reachable: the prefix and query come from a parsed URI, the path is escaped.
        return malformed_request();
    };
    let method = request.method();
    let body = if method == Method::GET {
        Body::from(format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            html_escape(&url)
        ))
    } else {
        Body::empty()
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    let headers = response.headers_mut();
    headers.insert(LOCATION, location);
    if method == Method::GET || method == Method::HEAD {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    response
}

/// Where the router is mounted (`/nanomdm` when nested there in another app), so that a
/// redirect leads back to it; empty at the root.
fn mount_prefix(request: &Request<Body>) -> Cow<'_, str> {
    let path = request.uri().path();
    match request.extensions().get::<axum::extract::OriginalUri>() {
        Some(original) => {
            let original = original.path();
            match original.strip_suffix(path) {
                Some(prefix) if !prefix.is_empty() => Cow::Owned(prefix.to_owned()),
                _ => Cow::Borrowed(""),
            }
        }
        None => Cow::Borrowed(""),
    }
}

/// Go's `hexEscapeNonASCII`: each byte outside ASCII as `%` and two lowercase hex digits.
fn hex_escape_non_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// Go's `htmlEscape` (`&`, `<`, `>`, `"`, `'`).
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// What Go's server writes for a request it cannot parse (an invalid `%` escape in the path):
/// `400 Bad Request` as plain text without a newline, and the connection closed.
fn malformed_request() -> Response {
    let mut response = Response::new(Body::from("400 Bad Request"));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(path: &str) -> String {
        String::from_utf8(clean_path(path.as_bytes())).unwrap()
    }

    #[test]
    fn clean_paths_like_go() {
        assert_eq!(clean("/mdm"), "/mdm");
        assert_eq!(clean("//mdm"), "/mdm");
        assert_eq!(clean("/a/../mdm"), "/mdm");
        assert_eq!(clean("/v1/push/./a/"), "/v1/push/a/");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("//"), "/");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean("/a/."), "/a");
        assert_eq!(clean("/a/.."), "/");
        assert_eq!(clean("/a/b/../"), "/a/");
        assert_eq!(clean("/v1/enqueue//X"), "/v1/enqueue/X");
        assert_eq!(clean("/v1/enqueue/.."), "/v1");
        assert_eq!(clean("/a/.../b"), "/a/.../b");
        assert_eq!(clean(""), "/");
    }

    #[test]
    fn decodes_and_escapes_like_go() {
        assert_eq!(percent_decode(b"/a%2e%2E/%2Fb").unwrap(), b"/a..//b");
        assert!(percent_decode(b"/a%zz").is_none());
        assert!(percent_decode(b"/a%2").is_none());
        assert!(percent_decode(b"/a%").is_none());
        let mut out = String::new();
        escape_path(&mut out, "/a b?c#d%e,f:g@h!é\n".as_bytes());
        assert_eq!(out, "/a%20b%3Fc%23d%25e,f:g@h%21%C3%A9%0A");
        assert_eq!(hex_escape_non_ascii("/a?é"), "/a?%c3%a9");
        assert_eq!(
            html_escape("/a?b=1&c='<\">'"),
            "/a?b=1&amp;c=&#39;&lt;&#34;&gt;&#39;"
        );
    }

    #[test]
    fn slash_redirects_only_for_registered_subtrees() {
        let subtrees = ["/v1/push/", "/authproxy/"];
        assert!(needs_slash(b"/v1/push", &subtrees));
        assert!(!needs_slash(b"/v1/push/", &subtrees));
        assert!(!needs_slash(b"/v1/pus", &subtrees));
        assert!(!needs_slash(b"/v1/enqueue", &subtrees));
        assert!(needs_slash(b"/authproxy", &subtrees));
    }
}
