//! `/v1/push/<ids>` and `/v1/enqueue/<ids>`.

use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use mdm_proto::{Command, Raw};
use mdm_push::PushError;
use mdm_service::{PushFailure, PushResults};
use mdm_storage::{EnrollmentId, StorageError};

use super::{ApiResult, ApiState};
use crate::body::read_body;
use crate::mdm::query_params;
use crate::response::api_json;
use crate::{mux, target};

/// Whether `/v1/enqueue/<id>` and `/v1/push/<id>` can name the enrollment `id`: it is at most
/// [`MAX_ENROLLMENT_ID_BYTES`](crate::MAX_ENROLLMENT_ID_BYTES) long, has no `,` (ids are split
/// on it, `%2C` included, as in NanoMDM), and makes a clean path (no empty, `.` or `..`
/// segment, which the mux would redirect away). Any other character can be percent-encoded.
pub(crate) fn addressable(id: &str) -> bool {
    if id.is_empty() || id.len() > crate::MAX_ENROLLMENT_ID_BYTES || id.contains(',') {
        return false;
    }
    let path = [&b"/v1/enqueue/"[..], id.as_bytes()].concat();
    mux::clean_path(&path) == path
}

/// The enrollment ids in a path: what follows `prefix`, percent-decoded, split on `,` with
/// nothing trimmed or removed (NanoMDM's `PathIDGetter`).
pub(crate) fn path_ids(path: &str, prefix: &str) -> Result<Vec<EnrollmentId>, String> {
    let rest = path.strip_prefix(prefix).unwrap_or_default();
    let decoded = mux::percent_decode(rest.as_bytes())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| "getting enrollment ids: invalid URL escape in path".to_owned())?;
    if decoded.is_empty() {
        return Err("getting enrollment ids: empty path".into());
    }
    Ok(decoded.split(',').map(EnrollmentId::from).collect())
}

/// `/v1/push/<ids>`: wakes the enrollments. The body is ignored.
pub(crate) async fn push(State(api): State<ApiState>, request: Request) -> Response {
    let mut result = ApiResult::default();
    let ids = match path_ids(
        &target::path(request.uri(), request.extensions()),
        "/v1/push/",
    ) {
        Ok(ids) => ids,
        Err(e) => {
            result.push_error = Some(e);
            return respond(&result, 0);
        }
    };
    api.push_into(&ids, &mut result).await;
    respond(&result, ids.len())
}

/// `/v1/enqueue/<ids>[?nopush=1]`: enqueues the command in the body for every id, then pushes
/// to them; with an empty body, only pushes.
pub(crate) async fn enqueue(State(api): State<ApiState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let target = match EnqueueTarget::from_parts(&parts, "/v1/enqueue/") {
        Ok(target) => target,
        Err(e) => return EnqueueTarget::refuse(e),
    };
    let body = match read_body(&parts.headers, body, api.limits.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    if body.is_empty() {
        let mut result = ApiResult::default();
        if target.no_push {
            result.no_push = true;
            result.command_error = Some("must enqueue or push".into());
        } else {
            api.push_into(&target.ids, &mut result).await;
        }
        return respond(&result, target.ids.len());
    }
    let command = match Command::decode_with(body, &api.limits) {
        Ok(command) => command,
        Err(e) => {
            // NanoMDM echoes the whole body after the parse error; the error alone says enough.
            let result = ApiResult {
                command_error: Some(format!("decoding command: {e}")),
                ..ApiResult::default()
            };
            return respond(&result, target.ids.len());
        }
    };
    api.enqueue_and_respond(&target, &command).await
}

/// Where an enqueue goes: the enrollment ids of the path and whether to push (`?nopush=`), read
/// the same way for `/v1/enqueue/` and `/v1/commands/`.
pub(crate) struct EnqueueTarget {
    pub(crate) ids: Vec<EnrollmentId>,
    pub(crate) no_push: bool,
}

impl EnqueueTarget {
    /// Reads the target from a request under `prefix`. The error is the text NanoMDM answers a
    /// path without ids with; [`EnqueueTarget::refuse`] makes the response.
    pub(crate) fn from_parts(parts: &Parts, prefix: &str) -> Result<Self, String> {
        // NanoMDM: any non-empty value disables the push, `nopush=0` included.
        let no_push = query_params(target::query(&parts.uri, &parts.extensions))
            .get("nopush")
            .is_some_and(|v| !v.is_empty());
        let ids = path_ids(&target::path(&parts.uri, &parts.extensions), prefix)?;
        Ok(Self { ids, no_push })
    }

    /// NanoMDM's answer to a path without ids: `500` with `command_error`.
    pub(crate) fn refuse(error: String) -> Response {
        let result = ApiResult {
            command_error: Some(error),
            ..ApiResult::default()
        };
        respond(&result, 0)
    }
}

impl ApiState {
    /// Enqueues `command` for the target's ids, pushes unless told not to, and answers with
    /// NanoMDM's `APIResult`: the one code path of `/v1/enqueue/` and `/v1/commands/`.
    pub(crate) async fn enqueue_and_respond(
        &self,
        target: &EnqueueTarget,
        command: &Raw<Command>,
    ) -> Response {
        let mut result = ApiResult {
            command_uuid: command.command_uuid.clone(),
            request_type: command.request_type.clone(),
            ..ApiResult::default()
        };
        match self
            .enqueuer
            .enqueue(&target.ids, command, !target.no_push)
            .await
        {
            Ok(enqueued) => {
                for (id, error) in enqueued.not_queued {
                    result.entry(id.as_str()).command_error = Some(error.to_string());
                }
                match enqueued.pushed {
                    Some(pushed) => record_pushes(pushed, &mut result),
                    None => result.no_push = true,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, command_uuid = %command.command_uuid, "enqueue failed");
                result.command_error = Some(e.to_string());
            }
        }
        respond(&result, target.ids.len())
    }
}

fn respond(result: &ApiResult, requested: usize) -> Response {
    api_json(result.status_code(requested), result)
}

impl ApiState {
    /// Pushes to `ids`, recording each id's `push_result` / `push_error` in `result`.
    pub(crate) async fn push_into(&self, ids: &[EnrollmentId], result: &mut ApiResult) {
        record_pushes(self.enqueuer.push(ids).await, result);
    }
}

/// Records each id's `push_result` / `push_error` in `result`, or the push as a whole failing.
fn record_pushes(pushed: Result<PushResults, StorageError>, result: &mut ApiResult) {
    match pushed {
        Ok(results) => {
            for (id, outcome) in results {
                let entry = result.entry(id.as_str());
                match outcome {
                    Ok(apns_id) => entry.push_result = apns_id.as_str().to_owned(),
                    Err(failure) => {
                        if let Some(apns_id) = rejected_apns_id(&failure) {
                            entry.push_result = apns_id.to_owned();
                        }
                        entry.push_error = Some(push_error_text(&failure));
                    }
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading push info failed");
            result.push_error = Some(format!("push storage: {e}"));
        }
    }
}

/// NanoMDM's texts for the push errors clients are known to look for; our own otherwise.
fn push_error_text(failure: &PushFailure) -> String {
    match failure {
        PushFailure::NoPushInfo => "push data missing for id".into(),
        PushFailure::Push(e) => match &**e {
            PushError::Rejected {
                status,
                reason,
                timestamp,
                ..
            } => {
                let mut text = format!("push HTTP status: {status}: APNs push error: {reason}");
                if let Some(ms) = timestamp
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis())
                {
                    text.push_str(&format!(": timestamp {ms}"));
                }
                text
            }
            PushError::UnexpectedResponse { status, detail } => {
                format!("push HTTP status: {status}: {detail}")
            }
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

fn rejected_apns_id(failure: &PushFailure) -> Option<&str> {
    match failure {
        PushFailure::Push(e) => match &**e {
            PushError::Rejected {
                apns_id: Some(id), ..
            } => Some(id),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_like_nanomdm() {
        assert_eq!(path_ids("/v1/push/a,b", "/v1/push/").unwrap(), ["a", "b"]);
        assert_eq!(
            path_ids("/v1/push/a%2Cb,,c%3Ad/e", "/v1/push/").unwrap(),
            ["a", "b", "", "c:d/e"]
        );
        assert_eq!(path_ids("/v1/push/a,a", "/v1/push/").unwrap(), ["a", "a"]);
        assert_eq!(
            path_ids("/v1/push/", "/v1/push/").unwrap_err(),
            "getting enrollment ids: empty path"
        );
        assert!(path_ids("/v1/push/%zz", "/v1/push/").is_err());
    }

    #[test]
    fn addressable_ids() {
        for id in [
            "00008101-000A1B2C3D4E001E",
            "5B6A1C2D-8E9F-4A0B-9C1D-2E3F4A5B6C7D:user@example.com",
            "a/b",
            "a/",
            "...",
            "a?b#c%d e\n\0",
            &"x".repeat(crate::MAX_ENROLLMENT_ID_BYTES),
        ] {
            assert!(addressable(id), "{id:?}");
        }
        for id in [
            "",
            "a,b",
            "/a",
            "a//b",
            "a/./b",
            "a/../b",
            ".",
            "..",
            "../a",
            "a/..",
            &"x".repeat(crate::MAX_ENROLLMENT_ID_BYTES + 1),
        ] {
            assert!(!addressable(id), "{id:?}");
        }
    }

    #[test]
    fn push_errors_keep_nanomdm_texts() {
        assert_eq!(
            push_error_text(&PushFailure::NoPushInfo),
            "push data missing for id"
        );
        let rejected = PushFailure::from(PushError::Rejected {
            status: 410,
            reason: mdm_push::Reason::Unregistered,
            timestamp: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1234)),
            apns_id: Some("ID".into()),
        });
        assert_eq!(
            push_error_text(&rejected),
            "push HTTP status: 410: APNs push error: Unregistered: timestamp 1234"
        );
        assert_eq!(rejected_apns_id(&rejected), Some("ID"));
    }
}
