//! Responses the way NanoMDM (Go's `net/http`) writes them: plain-text errors, sniffed content
//! types, and `encoding/json` output.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderMap, StatusCode};
use serde::Serialize;

/// Go's `http.StatusText` for the statuses this crate answers with (Go keeps some older names
/// than the `http` crate, e.g. "Request Entity Too Large").
pub(crate) fn status_text(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => status.canonical_reason().unwrap_or(""),
    }
}

/// `http.Error(w, text, status)`: `text` plus a newline, as `text/plain; charset=utf-8` with
/// `X-Content-Type-Options: nosniff`.
pub(crate) fn plain_text(status: StatusCode, text: &str) -> Response {
    let mut body = String::with_capacity(text.len().saturating_add(1));
    body.push_str(text);
    body.push('\n');
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `http.Error(w, http.StatusText(status), status)`: the status text as the body.
pub(crate) fn status_error(status: StatusCode) -> Response {
    plain_text(status, status_text(status))
}

/// A 200 (or other status) with `body` and the content type Go's server would have sniffed for
/// it; an empty body gets no content type, as in Go.
pub(crate) fn sniffed(status: StatusCode, body: Bytes) -> Response {
    let content_type = (!body.is_empty()).then(|| sniff_content_type(&body));
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

/// The subset of Go's `http.DetectContentType` that MDM bodies reach: XML (commands, plists),
/// HTML, binary property lists and other binary data, JSON and other text.
pub(crate) fn sniff_content_type(body: &[u8]) -> &'static str {
    let data = body.get(..512).unwrap_or(body);
    let trimmed = data.trim_ascii_start();
    let starts_with_ci = |prefix: &[u8]| {
        trimmed
            .get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    };
    if starts_with_ci(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    for tag in [
        &b"<!DOCTYPE HTML"[..],
        b"<HTML",
        b"<HEAD",
        b"<SCRIPT",
        b"<BODY",
        b"<P",
        b"<!--",
    ] {
        if starts_with_ci(tag)
            && trimmed
                .get(tag.len())
                .is_some_and(|&b| b == b' ' || b == b'>')
        {
            return "text/html; charset=utf-8";
        }
    }
    if data.starts_with(b"%PDF-") {
        return "application/pdf";
    }
    // Go's "binary data" bytes: control characters other than tab, newline, form feed and
    // carriage return (and ESC).
    let is_binary = data
        .iter()
        .any(|&b| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F));
    if is_binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// Serializes like Go's `encoding/json`: `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u…`.
/// With `indent`, tab-indented with a trailing newline (`json.Encoder` + `SetIndent("", "\t")`);
/// without, compact with no newline (`json.Marshal`).
pub(crate) fn go_json<T: Serialize + ?Sized>(value: &T, indent: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let formatter = GoFormatter {
        pretty: indent.then(|| serde_json::ser::PrettyFormatter::with_indent(b"\t")),
    };
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serializing our own plain structs and maps to memory cannot fail.
    #[allow(clippy::expect_used)]
    value
        .serialize(&mut serializer)
        .expect("serializing API JSON to memory cannot fail");
    if indent {
        out.push(b'\n');
    }
    out
}

/// A JSON response as NanoMDM's API writes it: `Content-Type: application/json`, tab-indented,
/// trailing newline.
pub(crate) fn api_json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    let mut response = Response::new(Body::from(go_json(value, true)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `{"error": "<text>"}` as the API's JSON error.
pub(crate) fn api_error(status: StatusCode, text: &str) -> Response {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
    }
    api_json(status, &ErrorBody { error: text })
}

/// Removes the hop-by-hop headers a proxy must not forward (RFC 9110 §7.6.1), including any
/// named in `Connection`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

struct GoFormatter {
    pretty: Option<serde_json::ser::PrettyFormatter<'static>>,
}

macro_rules! delegate {
    ($($name:ident $(($arg:ident: $ty:ty))?;)*) => {
        $(
            fn $name<W: ?Sized + std::io::Write>(&mut self, writer: &mut W $(, $arg: $ty)?) -> std::io::Result<()> {
                match &mut self.pretty {
                    Some(p) => serde_json::ser::Formatter::$name(p, writer $(, $arg)?),
                    None => serde_json::ser::Formatter::$name(&mut serde_json::ser::CompactFormatter, writer $(, $arg)?),
                }
            }
        )*
    };
}

impl serde_json::ser::Formatter for GoFormatter {
    delegate! {
        begin_array;
        end_array;
        begin_array_value(first: bool);
        end_array_value;
        begin_object;
        end_object;
        begin_object_key(first: bool);
        begin_object_value;
        end_object_value;
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            let (done, _) = fragment.split_at_checked(i).unwrap_or_default();
            writer.write_all(done.get(start..).unwrap_or_default().as_bytes())?;
            writer.write_all(escape.as_bytes())?;
            start = i.saturating_add(c.len_utf8());
        }
        writer.write_all(fragment.get(start..).unwrap_or_default().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn json_like_go() {
        #[derive(Serialize)]
        struct S {
            a: &'static str,
            m: BTreeMap<&'static str, u8>,
            e: BTreeMap<&'static str, u8>,
        }
        let s = S {
            a: "<x & y>\u{2028}",
            m: [("k", 1)].into(),
            e: BTreeMap::new(),
        };
        assert_eq!(
            String::from_utf8(go_json(&s, true)).unwrap(),
            "{\n\t\"a\": \"\\u003cx \\u0026 y\\u003e\\u2028\",\n\t\"m\": {\n\t\t\"k\": 1\n\t},\n\t\"e\": {}\n}\n"
        );
        assert_eq!(
            String::from_utf8(go_json(&s, false)).unwrap(),
            "{\"a\":\"\\u003cx \\u0026 y\\u003e\\u2028\",\"m\":{\"k\":1},\"e\":{}}"
        );
    }

    #[test]
    fn sniffing() {
        assert_eq!(
            sniff_content_type(b"  <?xml version"),
            "text/xml; charset=utf-8"
        );
        assert_eq!(
            sniff_content_type(b"bplist00\x00\x01"),
            "application/octet-stream"
        );
        assert_eq!(
            sniff_content_type(b"{\"a\":1}"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            sniff_content_type(b"<html><body>"),
            "text/html; charset=utf-8"
        );
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", "close, x-secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("te", "trailers".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
