//! NanoMDM's API: `/v1/pushcert`, `/v1/push/`, `/v1/enqueue/`, `/v1/escrowkeyunlock`, and the
//! unauthenticated `/version`; and ours: `/v1/commands/` (JSON commands).

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::header::{CONTENT_TYPE, HeaderValue};
use mdm_proto::DecodeLimits;
use mdm_service::Enqueuer;
use mdm_storage::DynStorage;
use url::Url;

mod commands;
mod escrow;
mod push;
mod pushcert;
mod result;

pub(crate) use commands::commands;
pub use commands::{CommandBodyError, CommandBodyErrorKind};
pub use escrow::ESCROW_KEY_UNLOCK_URL;
pub(crate) use escrow::escrow_key_unlock;
pub(crate) use push::{addressable, enqueue, push};
pub use pushcert::PushCertInfo;
pub(crate) use pushcert::push_cert;
pub use result::{ApiResult, EnrollmentResult};

/// What the API handlers share.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub store: DynStorage,
    pub enqueuer: Enqueuer<DynStorage>,
    pub limits: DecodeLimits,
    pub escrow_url: Url,
    pub escrow_timeout: Duration,
}

/// `/version`: `{"version":"…"}`, compact with no trailing newline, any method, no
/// authentication (NanoMDM's version handler; the version is not JSON-escaped there either, but
/// here it is, so a quote in it cannot break the document).
pub(crate) fn version_response(version: &str) -> Response {
    let body = format!(
        "{{\"version\":{}}}",
        serde_json::to_string(version).unwrap_or_else(|_| "\"\"".into())
    );
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
