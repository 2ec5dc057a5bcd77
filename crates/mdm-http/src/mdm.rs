//! The device endpoints: `/mdm`, `/checkin` and `/migration`. HTTP in, [`MdmRequest`] to the
//! service, [`MdmResponse`] or [`MdmError`] back to HTTP; no protocol decisions here.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use mdm_proto::{CheckIn, CommandReport, DecodeLimits};
use mdm_service::{
    BoxMdmService, DeviceIdentity, MdmError, MdmMessage, MdmRequest, MdmResponse, RequestId,
};
use tower::ServiceExt;

use crate::body::read_body;
use crate::cert::VerifiedCert;
use crate::response::{sniffed, status_error};

pub use mdm_proto::CHECK_IN_CONTENT_TYPE;

/// Which messages an endpoint takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    /// Check-ins when the `Content-Type` says so, command reports otherwise (`/mdm`).
    ByContentType,
    /// Check-ins only (`/checkin`, `/migration`).
    CheckIn,
    /// Command reports only (`/mdm` with `-checkin`).
    Command,
}

#[derive(Clone)]
pub(crate) struct MdmState {
    pub service: BoxMdmService,
    pub channel: Channel,
    pub limits: DecodeLimits,
}

/// Reads, decodes and answers one device request.
pub(crate) async fn handle(State(state): State<MdmState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body, state.limits.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let check_in = match state.channel {
        Channel::CheckIn => true,
        Channel::Command => false,
        Channel::ByContentType => parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(CHECK_IN_CONTENT_TYPE.as_bytes())),
    };
    let message = if check_in {
        CheckIn::decode_with(body, &state.limits).map(MdmMessage::CheckIn)
    } else {
        CommandReport::decode_with(body, &state.limits).map(MdmMessage::Report)
    };
    let message = match message {
        Ok(message) => message,
        Err(e) => return refused(&MdmError::Decode(e)),
    };
    let mut request = match MdmRequest::new(message) {
        Ok(request) => request,
        Err(e) => return refused(&e),
    };
    let span = tracing::Span::current();
    // `?`: the id is the device's to choose; quoted and escaped it cannot forge a log line.
    span.record(
        "enrollment_id",
        tracing::field::debug(request.enroll_id.id()),
    );
    if !crate::api::addressable(request.enroll_id.id().as_str()) {
        // Whatever enrolls must be reachable by `/v1/enqueue/` and `/v1/push/`.
        tracing::info!("device request refused: an enrollment id the API could not name");
        return status_error(StatusCode::BAD_REQUEST);
    }
    span.record(
        "message_type",
        tracing::field::display(request.message.kind()),
    );
    if let Some(VerifiedCert(cert)) = parts.extensions.get::<VerifiedCert>() {
        request = request.with_identity(DeviceIdentity::new(cert.der().to_vec(), cert.cert_hash()));
    }
    if let Some(id) = parts.extensions.get::<RequestId>() {
        request = request.with_request_id(id.clone());
    }
    let request = request.with_params(query_params(crate::target::query(
        &parts.uri,
        &parts.extensions,
    )));
    match state.service.oneshot(request).await {
        Ok(response) => ok_response(response),
        Err(e) => error_response(&e),
    }
}

/// `200` with the service's body (content type sniffed as Go's server does), or empty.
pub(crate) fn ok_response(response: MdmResponse) -> Response {
    match response.body {
        Some(body) => sniffed(StatusCode::OK, body),
        None => StatusCode::OK.into_response(),
    }
}

/// A request refused before it reached the service (which logs its own outcomes).
fn refused(error: &MdmError) -> Response {
    tracing::info!(%error, "device request refused");
    error_response(error)
}

/// The service's error as NanoMDM answers it: the status (`400`, `410` or `500`) and its text.
///
/// NanoMDM appends the DM server's body to the `500` of a failed Declarative Management
/// request; that leaks an upstream's error text to the device and is not copied.
pub(crate) fn error_response(error: &MdmError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match error {
        // A layer's own answer, sent as it chose it.
        MdmError::Refused(refusal) => {
            let mut response = Response::new(Body::from(refusal.body.clone()));
            *response.status_mut() = status;
            if let Some(value) = refusal
                .content_type
                .and_then(|t| http::HeaderValue::from_str(t).ok())
            {
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, value);
            }
            response
        }
        _ => status_error(status),
    }
}

/// URL query parameters, first value per key (Go's `url.Values.Get`), as webhooks report them.
pub(crate) fn query_params(query: Option<&str>) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        params
            .entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_per_key() {
        let p = query_params(Some("a=1&b=x%20y&a=2&c"));
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "x y");
        assert_eq!(p["c"], "");
        assert!(query_params(None).is_empty());
    }
}
