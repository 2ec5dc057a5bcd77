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
/// second when there is one); `None` outside the years 1 to 9999, which RFC 3339 cannot write (a
/// device's binary property list can hold any date).
pub(crate) fn rfc3339(t: SystemTime) -> Option<String> {
    use time::OffsetDateTime;
    // `OffsetDateTime::from(SystemTime)` panics out of its range; these checked steps do not.
    let at = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => OffsetDateTime::UNIX_EPOCH.checked_add(after.try_into().ok()?)?,
        Err(before) => {
            OffsetDateTime::UNIX_EPOCH.checked_sub(before.duration().try_into().ok()?)?
        }
    };
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::rfc3339;

    #[test]
    fn times_outside_rfc3339_are_none_not_a_panic() {
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(rfc3339(epoch).as_deref(), Some("1970-01-01T00:00:00Z"));
        let fraction = epoch + Duration::from_millis(1_767_758_686_250);
        assert_eq!(
            rfc3339(fraction).as_deref(),
            Some("2026-01-07T04:04:46.25Z")
        );
        let before = epoch - Duration::from_secs(86_400);
        assert_eq!(rfc3339(before).as_deref(), Some("1969-12-31T00:00:00Z"));
        let far = Duration::from_secs(400_000 * 365 * 86_400);
        assert_eq!(rfc3339(epoch + far), None);
        assert_eq!(rfc3339(epoch - far), None);
    }
}
