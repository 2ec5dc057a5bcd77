//! Inspection (ours, not NanoMDM's): enrollments, their queues and command results, read from
//! the store's [`InspectionStore`].
//!
//! * `GET /v1/enrollments?limit=&cursor=&type=&enabled=&serial_number=&device_id=`: one page
//!   of enrollments ([`EnrollmentList`]), ordered by id, with an opaque cursor to the next;
//! * `GET /v1/enrollments/<id>`: one enrollment ([`EnrollmentInfo`]);
//! * `GET /v1/enrollments/<id>/queue`: its queue, next command first ([`QueueList`]);
//! * `DELETE /v1/enrollments/<id>/queue/<uuid>`, `DELETE /v1/enrollments/<id>/queue`: remove
//!   one command from its queue, or all of them (`204`);
//! * `GET /v1/commands/<uuid>`: a command and what each enrollment answered
//!   ([`CommandRecord`]), the reports as JSON.
//!
//! Errors are `{"error": "…"}`: `400` naming the query parameter that is wrong, `404` for an
//! unknown enrollment or command, `500` when the store fails. Nothing answered here carries a
//! secret: the store's inspection records hold no push tokens, push magic, unlock or bootstrap
//! tokens, or certificates.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::StatusCode;
use mdm_proto::DecodeLimits;
use mdm_proto::plist::Value;
use mdm_storage::{
    DeliveryState, EnrollType, EnrollmentFilter, EnrollmentId, InspectionStore, QueueState,
    StorageError, StoredEnrollment,
};
use serde::{Deserialize, Serialize};

use super::{ApiState, rfc3339};
use crate::mdm::query_params;
use crate::response::{api_error, api_json};
use crate::{mux, target};

/// The most enrollments one page of `GET /v1/enrollments` holds (`limit`).
pub const MAX_ENROLLMENTS_PAGE: usize = 1000;

/// The page size of `GET /v1/enrollments` without `limit`.
pub const DEFAULT_ENROLLMENTS_PAGE: usize = 100;

/// The most commands `GET /v1/enrollments/<id>/queue` lists: the first ones to be sent. A queue
/// this long is a stuck device; clear it, or remove commands from its head.
pub const MAX_QUEUE_LISTED: usize = 1000;

/// What a cursor starts with: the version of its encoding.
const CURSOR_PREFIX: &str = "e1.";

/// One enrollment, as `GET /v1/enrollments` and `GET /v1/enrollments/<id>` answer (keys in this
/// order; unknown values `null`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnrollmentInfo {
    /// The enrollment id.
    pub id: String,
    /// NanoMDM's type name: `Device`, `User`, `User Enrollment (Device)`, `User Enrollment`,
    /// `Shared iPad`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The device channel's id (a device channel's own).
    pub device_id: String,
    /// Whether the enrollment can be pushed to (false after CheckOut, or after Authenticate until
    /// the next TokenUpdate).
    pub enabled: bool,
    /// The device's serial number, when known.
    pub serial_number: Option<String>,
    /// When it last made a request, RFC 3339 in UTC.
    pub last_seen_at: Option<String>,
    /// When it enrolled, RFC 3339 in UTC.
    pub created_at: Option<String>,
    /// When its enrollment record last changed, RFC 3339 in UTC.
    pub updated_at: Option<String>,
}

impl From<&StoredEnrollment> for EnrollmentInfo {
    fn from(e: &StoredEnrollment) -> Self {
        EnrollmentInfo {
            id: e.id.as_str().to_owned(),
            kind: e.kind.as_str().to_owned(),
            device_id: e.device_id.as_str().to_owned(),
            enabled: e.enabled,
            serial_number: e.serial_number.clone(),
            last_seen_at: e.last_seen_at.and_then(rfc3339),
            created_at: e.created_at.and_then(rfc3339),
            updated_at: e.updated_at.and_then(rfc3339),
        }
    }
}

/// One page of `GET /v1/enrollments`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnrollmentList {
    /// The enrollments, ordered by id.
    pub enrollments: Vec<EnrollmentInfo>,
    /// The `cursor` of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/enrollments/<id>/queue`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueList {
    /// The commands waiting, next to be sent first (at most [`MAX_QUEUE_LISTED`]).
    pub commands: Vec<QueueEntry>,
}

/// One command in a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueEntry {
    /// Its `CommandUUID`.
    pub command_uuid: String,
    /// Its `RequestType`.
    pub request_type: String,
    /// `queued`, or `not_now` when the enrollment answered `NotNow` (it is sent again).
    pub status: String,
    /// When it was enqueued, RFC 3339 in UTC.
    pub created_at: Option<String>,
}

/// `GET /v1/commands/<uuid>`: a command and every enrollment's part in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandRecord {
    /// Its `CommandUUID`.
    pub command_uuid: String,
    /// Its `RequestType`.
    pub request_type: String,
    /// When it was enqueued, RFC 3339 in UTC.
    pub created_at: Option<String>,
    /// By enrollment id: the enrollments it is queued for or was answered by. An enrollment
    /// whose queue was cleared before it answered is not listed.
    pub enrollments: BTreeMap<String, DeliveryRecord>,
}

/// What one enrollment did with a command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryRecord {
    /// `queued`; `not_now` (answered `NotNow`, still queued); or the `Status` of its report
    /// once it is no longer queued: `Acknowledged`, `Error`, `CommandFormatError`, or `NotNow`
    /// for a command removed from the queue after a `NotNow`.
    pub status: String,
    /// When that last changed, RFC 3339 in UTC.
    pub updated_at: Option<String>,
    /// The enrollment's last report on the command, the whole property list as JSON: `<data>`
    /// as base64, `<date>` as RFC 3339, integers and reals as numbers (a real that is not
    /// finite as `null`). `null` before any report.
    pub result: Option<serde_json::Value>,
    /// Why a stored report could not be shown as JSON (over the decode limits, or not a
    /// property list); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_error: Option<String>,
}

/// A page cursor for `GET /v1/enrollments`: the id the next page starts after, base64url
/// without padding behind a version prefix. Clients treat it as opaque.
pub(crate) fn encode_cursor(after: &EnrollmentId) -> String {
    format!("{CURSOR_PREFIX}{}", URL_SAFE_NO_PAD.encode(after.as_str()))
}

/// The id a cursor names, or `None` for anything [`encode_cursor`] did not make.
pub(crate) fn decode_cursor(cursor: &str) -> Option<EnrollmentId> {
    let encoded = cursor.strip_prefix(CURSOR_PREFIX)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let id = String::from_utf8(bytes).ok()?;
    (!id.is_empty()).then(|| EnrollmentId::from(id))
}

/// What `GET /v1/enrollments` was asked for.
#[derive(Debug, PartialEq)]
struct ListQuery {
    filter: EnrollmentFilter,
    after: Option<EnrollmentId>,
    limit: usize,
}

/// Reads `GET /v1/enrollments`' query: the text of a `400` naming the parameter when one is
/// wrong. Unknown parameters are ignored; an empty value is the same as none.
fn list_query(query: Option<&str>) -> Result<ListQuery, String> {
    let params = query_params(query);
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let limit = match get("limit") {
        None => DEFAULT_ENROLLMENTS_PAGE,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_ENROLLMENTS_PAGE).contains(&n) => n,
            _ => {
                return Err(format!(
                    "invalid limit {text:?}: must be an integer from 1 to {MAX_ENROLLMENTS_PAGE}"
                ));
            }
        },
    };
    let after = match get("cursor") {
        None => None,
        Some(text) => Some(decode_cursor(text).ok_or_else(|| {
            format!("invalid cursor {text:?}: pass the next_cursor of a previous page unchanged")
        })?),
    };
    let kind = match get("type") {
        None => None,
        Some(text) => Some(text.parse::<EnrollType>().map_err(|_| {
            let names: Vec<&str> = EnrollType::ALL.iter().map(|t| t.as_str()).collect();
            format!("invalid type {text:?}: must be one of {names:?}")
        })?),
    };
    let enabled = match get("enabled") {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(text) => {
            return Err(format!(
                "invalid enabled {text:?}: must be true, false, 1 or 0"
            ));
        }
    };
    Ok(ListQuery {
        filter: EnrollmentFilter {
            kind,
            enabled,
            serial_number: get("serial_number").map(str::to_owned),
            device_id: get("device_id").map(EnrollmentId::from),
        },
        after,
        limit,
    })
}

/// The `500` for a store that failed.
fn storage_failed(what: &str, e: &StorageError) -> Response {
    tracing::warn!(error = %e, "{what} failed");
    api_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{what}: {e}"))
}

/// `204 No Content`.
fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /v1/enrollments`.
pub(crate) async fn list_enrollments(State(api): State<ApiState>, request: Request) -> Response {
    let query = match list_query(target::query(request.uri(), request.extensions())) {
        Ok(query) => query,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, &e),
    };
    let page = match api
        .store
        .list_enrollments(&query.filter, query.after.as_ref(), query.limit)
        .await
    {
        Ok(page) => page,
        Err(e) => return storage_failed("listing enrollments", &e),
    };
    let list = EnrollmentList {
        enrollments: page.enrollments.iter().map(EnrollmentInfo::from).collect(),
        next_cursor: page.next_after.as_ref().map(encode_cursor),
    };
    api_json(StatusCode::OK, &list)
}

/// The percent-decoded path segments after `prefix`: `/v1/enrollments/a%2Fb/queue` is
/// `["a/b", "queue"]`. `None` when a segment is not UTF-8 (no enrollment or command has such
/// an id) or the path is not under `prefix`.
fn path_segments(request: &Request, prefix: &str) -> Option<Vec<String>> {
    let path = target::path(request.uri(), request.extensions());
    let rest = path.strip_prefix(prefix)?;
    rest.split('/')
        .map(|segment| {
            mux::percent_decode(segment.as_bytes()).and_then(|bytes| String::from_utf8(bytes).ok())
        })
        .collect()
}

/// The enrollment id of a `/v1/enrollments/<id>…` path.
fn path_enrollment(request: &Request) -> Option<EnrollmentId> {
    path_segments(request, "/v1/enrollments/")?
        .into_iter()
        .next()
        .filter(|id| !id.is_empty())
        .map(EnrollmentId::from)
}

fn unknown_enrollment(id: Option<&EnrollmentId>) -> Response {
    let text = match id {
        Some(id) => format!("unknown enrollment {:?}", id.as_str()),
        None => "unknown enrollment".to_owned(),
    };
    api_error(StatusCode::NOT_FOUND, &text)
}

/// Whether the store knows `id`: `Err` is the response to give instead.
async fn known_enrollment(
    api: &ApiState,
    id: Option<&EnrollmentId>,
) -> Result<StoredEnrollment, Response> {
    let Some(id) = id else {
        return Err(unknown_enrollment(None));
    };
    match api.store.enrollment(id).await {
        Ok(Some(enrollment)) => Ok(enrollment),
        Ok(None) => Err(unknown_enrollment(Some(id))),
        Err(e) => Err(storage_failed("reading the enrollment", &e)),
    }
}

/// `GET /v1/enrollments/<id>`.
pub(crate) async fn enrollment(State(api): State<ApiState>, request: Request) -> Response {
    let id = path_enrollment(&request);
    match known_enrollment(&api, id.as_ref()).await {
        Ok(enrollment) => api_json(StatusCode::OK, &EnrollmentInfo::from(&enrollment)),
        Err(response) => response,
    }
}

/// `GET /v1/enrollments/<id>/queue`.
pub(crate) async fn queue(State(api): State<ApiState>, request: Request) -> Response {
    let id = path_enrollment(&request);
    let enrollment = match known_enrollment(&api, id.as_ref()).await {
        Ok(enrollment) => enrollment,
        Err(response) => return response,
    };
    let commands = match api
        .store
        .queued_commands(&enrollment.id, MAX_QUEUE_LISTED)
        .await
    {
        Ok(commands) => commands,
        Err(e) => return storage_failed("reading the queue", &e),
    };
    let list = QueueList {
        commands: commands
            .into_iter()
            .map(|c| QueueEntry {
                command_uuid: c.command_uuid,
                request_type: c.request_type,
                status: queue_status(c.state).to_owned(),
                created_at: c.created_at.and_then(rfc3339),
            })
            .collect(),
    };
    api_json(StatusCode::OK, &list)
}

fn queue_status(state: QueueState) -> &'static str {
    match state {
        QueueState::NotNow => "not_now",
        // `Queued`, and any state a later store adds: still waiting.
        _ => "queued",
    }
}

/// `DELETE /v1/enrollments/<id>/queue`: `204`, or `404` for an unknown enrollment.
pub(crate) async fn clear_queue(State(api): State<ApiState>, request: Request) -> Response {
    let id = path_enrollment(&request);
    let enrollment = match known_enrollment(&api, id.as_ref()).await {
        Ok(enrollment) => enrollment,
        Err(response) => return response,
    };
    match api.store.clear_enrollment_queue(&enrollment.id).await {
        Ok(removed) => {
            tracing::info!(id = %enrollment.id, removed, "cleared queue");
            no_content()
        }
        Err(e) => storage_failed("clearing the queue", &e),
    }
}

/// `DELETE /v1/enrollments/<id>/queue/<uuid>`: `204`, or `404` when the command is not queued
/// for the enrollment.
pub(crate) async fn remove_queued(State(api): State<ApiState>, request: Request) -> Response {
    let segments = path_segments(&request, "/v1/enrollments/").unwrap_or_default();
    let (Some(id), Some(uuid)) = (segments.first(), segments.get(2)) else {
        return api_error(StatusCode::NOT_FOUND, "command not queued");
    };
    let id = EnrollmentId::from(id.as_str());
    match api.store.remove_queued_command(&id, uuid).await {
        Ok(true) => {
            tracing::info!(id = %id, command_uuid = %uuid, "removed queued command");
            no_content()
        }
        Ok(false) => api_error(
            StatusCode::NOT_FOUND,
            &format!(
                "command {uuid:?} is not queued for enrollment {:?}",
                id.as_str()
            ),
        ),
        Err(e) => storage_failed("removing the command", &e),
    }
}

/// `GET /v1/commands/<uuid>`. The UUID is the whole rest of the path, percent-decoded: a
/// comma-separated list is just a UUID no command has.
pub(crate) async fn command(State(api): State<ApiState>, request: Request) -> Response {
    let path = target::path(request.uri(), request.extensions());
    let uuid = path
        .strip_prefix("/v1/commands/")
        .and_then(|rest| mux::percent_decode(rest.as_bytes()))
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default();
    let unknown = || api_error(StatusCode::NOT_FOUND, &format!("unknown command {uuid:?}"));
    if uuid.is_empty() {
        return unknown();
    }
    let stored = match api.store.command(&uuid).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return unknown(),
        Err(e) => return storage_failed("reading the command", &e),
    };
    // Every value of a report is shown, so every value is kept: the object limit bounds them.
    let limits = api.limits.max_kept_values(api.limits.max_objects);
    let enrollments = stored
        .deliveries
        .iter()
        .map(|delivery| {
            let status = match &delivery.state {
                DeliveryState::Queued => "queued".to_owned(),
                DeliveryState::NotNow => "not_now".to_owned(),
                DeliveryState::Reported(status) => status.as_str().to_owned(),
                // A state a later store adds: shown as still waiting.
                _ => "queued".to_owned(),
            };
            let (result, result_error) = match delivery
                .report
                .as_deref()
                .map(|raw| report_json(raw, &limits))
            {
                None => (None, None),
                Some(Ok(json)) => (Some(json), None),
                Some(Err(e)) => (None, Some(e)),
            };
            let record = DeliveryRecord {
                status,
                updated_at: delivery.updated_at.and_then(rfc3339),
                result,
                result_error,
            };
            (delivery.id.as_str().to_owned(), record)
        })
        .collect();
    let record = CommandRecord {
        command_uuid: stored.command_uuid,
        request_type: stored.request_type,
        created_at: stored.created_at.and_then(rfc3339),
        enrollments,
    };
    api_json(StatusCode::OK, &record)
}

/// A stored report as JSON, decoded within `limits`; the error text when it cannot be.
pub(crate) fn report_json(raw: &[u8], limits: &DecodeLimits) -> Result<serde_json::Value, String> {
    let dict = mdm_proto::decode_dictionary(raw, limits)
        .map_err(|e| format!("the stored report does not decode: {e}"))?;
    Ok(serde_json::Value::Object(
        dict.iter()
            .map(|(key, value)| (key.clone(), plist_json(value)))
            .collect(),
    ))
}

/// One property-list value as JSON. Recursion is bounded by the decode limits' depth.
fn plist_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::Array(items) => Json::Array(items.iter().map(plist_json).collect()),
        Value::Dictionary(dict) => Json::Object(
            dict.iter()
                .map(|(key, value)| (key.clone(), plist_json(value)))
                .collect(),
        ),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Data(bytes) => Json::String(STANDARD.encode(bytes)),
        Value::Date(date) => rfc3339(SystemTime::from(*date)).map_or(Json::Null, Json::String),
        Value::Real(r) => serde_json::Number::from_f64(*r).map_or(Json::Null, Json::Number),
        Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
            (Some(n), _) => Json::from(n),
            (None, Some(n)) => Json::from(n),
            (None, None) => Json::Null,
        },
        Value::String(s) => Json::String(s.clone()),
        Value::Uid(uid) => Json::from(uid.get()),
        // A value kind a later `plist` adds.
        _ => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        for id in ["A", "UDID-1:user 2", "é/ü,x"] {
            let cursor = encode_cursor(&EnrollmentId::from(id));
            assert!(cursor.starts_with("e1."));
            assert!(!cursor.contains('='), "{cursor}");
            assert_eq!(decode_cursor(&cursor).unwrap().as_str(), id);
        }
        for bad in ["", "e1.", "A", "e1.!!", "e2.QQ", "e1.QQ=", "e1.gA"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn list_query_parameters() {
        let q = list_query(None).unwrap();
        assert_eq!(q.limit, DEFAULT_ENROLLMENTS_PAGE);
        assert_eq!(q.filter, EnrollmentFilter::default());
        assert_eq!(q.after, None);

        let q = list_query(Some(
            "limit=5&type=User+Enrollment+(Device)&enabled=0&serial_number=SN1&device_id=D%3A1&x=y",
        ))
        .unwrap();
        assert_eq!(q.limit, 5);
        assert_eq!(q.filter.kind, Some(EnrollType::UserEnrollmentDevice));
        assert_eq!(q.filter.enabled, Some(false));
        assert_eq!(q.filter.serial_number.as_deref(), Some("SN1"));
        assert_eq!(q.filter.device_id.as_ref().map(|d| d.as_str()), Some("D:1"));

        // Empty values are as good as absent.
        assert_eq!(
            list_query(Some("limit=&cursor=&type=&enabled=")).unwrap(),
            list_query(None).unwrap()
        );
        for (query, parameter) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=-1", "limit"),
            ("limit=ten", "limit"),
            ("limit=99999999999999999999999", "limit"),
            ("cursor=zzz", "cursor"),
            ("type=Phone", "type"),
            ("type=device", "type"),
            ("enabled=yes", "enabled"),
        ] {
            let e = list_query(Some(query)).unwrap_err();
            assert!(
                e.starts_with(&format!("invalid {parameter} ")),
                "{query}: {e}"
            );
        }
        assert_eq!(list_query(Some("limit=1000")).unwrap().limit, 1000);
    }

    #[test]
    fn plist_values_as_json() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>Data</key><data>AAEC/w==</data>
<key>When</key><date>2026-01-02T03:04:05Z</date>
<key>Int</key><integer>-7</integer>
<key>Big</key><integer>18446744073709551615</integer>
<key>Real</key><real>1.5</real>
<key>Yes</key><true/>
<key>List</key><array><string>a</string><dict><key>k</key><integer>1</integer></dict></array>
</dict></plist>"#;
        let json = report_json(xml, &DecodeLimits::default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "Data": "AAEC/w==",
                "When": "2026-01-02T03:04:05Z",
                "Int": -7,
                "Big": 18446744073709551615u64,
                "Real": 1.5,
                "Yes": true,
                "List": ["a", {"k": 1}],
            })
        );
        let shallow = DecodeLimits::default().max_depth(1);
        assert!(report_json(xml, &shallow).is_err());
        assert!(report_json(b"not a plist", &DecodeLimits::default()).is_err());
    }
}
