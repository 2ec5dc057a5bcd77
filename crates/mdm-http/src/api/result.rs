//! NanoMDM's `APIResult` JSON for `/v1/push` and `/v1/enqueue`, and its status-code rule.

use std::collections::BTreeMap;

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// The result of a push or enqueue call, as NanoMDM's `APIResult` (keys in this order; empty
/// ones omitted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiResult {
    /// Per enrollment id: its push result or error, its enqueue error. Only ids that were pushed
    /// to or failed to enqueue appear. Sorted by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status: BTreeMap<String, EnrollmentResult>,
    /// Pushes were disabled for this call (`?nopush=…`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_push: bool,
    /// Pushing failed as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_error: Option<String>,
    /// Enqueueing failed as a whole (nothing was enqueued, nothing pushed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_error: Option<String>,
    /// `CommandUUID` of the enqueued command.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command_uuid: String,
    /// `RequestType` of the enqueued command.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_type: String,
}

/// One enrollment id's part of an [`ApiResult`] (NanoMDM's `EnrollmentResult`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnrollmentResult {
    /// Why the push to this id failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_error: Option<String>,
    /// APNs' `apns-id` for the push (also on a refused push when APNs sent one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub push_result: String,
    /// Why the command was not enqueued for this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_error: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ApiResult {
    /// The status NanoMDM answers with: `500` on a global error; otherwise, counting the ids
    /// with an error against the `requested` ids (duplicates included), `200` when none failed,
    /// `500` when all did, `207 Multi-Status` when some did.
    pub fn status_code(&self, requested: usize) -> StatusCode {
        if self.push_error.is_some() || self.command_error.is_some() {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        let failed = self
            .status
            .values()
            .filter(|r| r.push_error.is_some() || r.command_error.is_some())
            .count();
        if failed == 0 {
            StatusCode::OK
        } else if failed < requested {
            StatusCode::MULTI_STATUS
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    pub(crate) fn entry(&mut self, id: &str) -> &mut EnrollmentResult {
        self.status.entry(id.to_owned()).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::go_json;

    #[test]
    fn status_rule() {
        let mut r = ApiResult::default();
        assert_eq!(r.status_code(2), StatusCode::OK);
        r.entry("a").push_result = "x".into();
        assert_eq!(r.status_code(2), StatusCode::OK);
        r.entry("b").push_error = Some("push data missing for id".into());
        assert_eq!(r.status_code(2), StatusCode::MULTI_STATUS);
        assert_eq!(r.status_code(1), StatusCode::INTERNAL_SERVER_ERROR);
        // `a,a` with `a` unknown: one failed entry, two requested ids.
        let mut dup = ApiResult::default();
        dup.entry("a").push_error = Some("e".into());
        assert_eq!(dup.status_code(2), StatusCode::MULTI_STATUS);
        r.command_error = Some("boom".into());
        assert_eq!(r.status_code(5), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn json_shape() {
        let mut r = ApiResult {
            command_uuid: "c1".into(),
            request_type: "ProfileList".into(),
            ..Default::default()
        };
        r.entry("ID2").push_error = Some("push data missing for id".into());
        r.entry("ID1").push_result = "8B16".into();
        assert_eq!(
            String::from_utf8(go_json(&r, true)).unwrap(),
            "{\n\t\"status\": {\n\t\t\"ID1\": {\n\t\t\t\"push_result\": \"8B16\"\n\t\t},\n\t\t\"ID2\": {\n\t\t\t\"push_error\": \"push data missing for id\"\n\t\t}\n\t},\n\t\"command_uuid\": \"c1\",\n\t\"request_type\": \"ProfileList\"\n}\n"
        );
        let nothing = ApiResult {
            no_push: true,
            command_error: Some("must enqueue or push".into()),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(go_json(&nothing, true)).unwrap(),
            "{\n\t\"no_push\": true,\n\t\"command_error\": \"must enqueue or push\"\n}\n"
        );
    }
}
