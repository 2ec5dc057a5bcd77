//! NanoMDM's API: `/v1/pushcert`, `/v1/push/`, `/v1/enqueue/`, `/v1/escrowkeyunlock`, and the
//! unauthenticated `/version`; and ours: `/v1/commands/` (JSON commands, and command results)
//! and `/v1/enrollments` (inspection).

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::response::Response;
use http::header::{CONTENT_TYPE, HeaderValue};
use mdm_proto::DecodeLimits;
use mdm_service::Enqueuer;
use mdm_storage::DynStorage;
use url::Url;

mod commands;
mod escrow;
mod inspect;
mod push;
mod pushcert;
mod result;

pub(crate) use commands::commands;
pub use commands::{CommandBodyError, CommandBodyErrorKind};
pub use escrow::ESCROW_KEY_UNLOCK_URL;
pub(crate) use escrow::escrow_key_unlock;
pub use inspect::{
    CommandRecord, DEFAULT_ENROLLMENTS_PAGE, DeliveryRecord, EnrollmentInfo, EnrollmentList,
    MAX_ENROLLMENTS_PAGE, MAX_QUEUE_LISTED, QueueEntry, QueueList,
};
pub(crate) use inspect::{
    clear_queue, command, enrollment, list_enrollments, queue, remove_queued,
};
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

/// A time as the API writes it: RFC 3339 in UTC (`2026-01-07T04:04:46Z`, with a fraction of a
/// second when there is one).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
