//! The JSON documents of the `DeclarativeManagement` check-in endpoints, from Apple's
//! `declarative/protocol` schema: the tokens response, the declaration-items response and the
//! status report.
//!
//! These are the documents as they travel. A server builds the first two from an
//! [`EffectiveDeclarations`](crate::EffectiveDeclarations) and reads status reports with
//! [`parse_status_report`](crate::parse_status_report), which is bounded; a client (a simulated
//! device) reads the first two and writes the third with these types and `serde_json`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::token::ServerToken;

/// The answer to the `tokens` endpoint, also the `Data` of a `DeclarativeManagement` command:
/// `{"SyncTokens": {"DeclarationsToken": …, "Timestamp": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensResponse {
    /// The synchronization tokens.
    #[serde(rename = "SyncTokens")]
    pub sync_tokens: SyncTokens,
}

/// The synchronization tokens of a [`TokensResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncTokens {
    /// The declarations token: changes whenever the set of declarations or any of their
    /// server tokens changes, which makes the device fetch the declaration items.
    #[serde(rename = "DeclarationsToken")]
    pub declarations_token: String,
    /// When the tokens were made, RFC 3339 in UTC to the second (`2026-12-07T22:46:05Z`), as
    /// KMFDDM writes it; see [`rfc3339_utc`].
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
}

/// The answer to the `declaration-items` endpoint: every declaration the device should hold,
/// by category, and the declarations token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclarationItemsResponse {
    /// The declarations, one list per category. All four lists are always present (Apple's
    /// schema requires them), empty or not.
    #[serde(rename = "Declarations")]
    pub declarations: ManifestDeclarationItems,
    /// The same declarations token as the tokens response for this set of declarations.
    #[serde(rename = "DeclarationsToken")]
    pub declarations_token: String,
}

/// The four lists of a [`DeclarationItemsResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDeclarationItems {
    /// `com.apple.activation.*` declarations.
    #[serde(rename = "Activations")]
    pub activations: Vec<ManifestDeclaration>,
    /// `com.apple.asset.*` declarations.
    #[serde(rename = "Assets")]
    pub assets: Vec<ManifestDeclaration>,
    /// `com.apple.configuration.*` declarations.
    #[serde(rename = "Configurations")]
    pub configurations: Vec<ManifestDeclaration>,
    /// `com.apple.management.*` declarations.
    #[serde(rename = "Management")]
    pub management: Vec<ManifestDeclaration>,
}

/// One declaration in the declaration-items document: what the device compares with what it
/// holds to decide whether to fetch it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDeclaration {
    /// The declaration's identifier.
    #[serde(rename = "Identifier")]
    pub identifier: String,
    /// The declaration's current server token.
    #[serde(rename = "ServerToken")]
    pub server_token: ServerToken,
}

/// The `Data` of a `status` check-in as a device writes it.
///
/// A server reads reports with [`parse_status_report`](crate::parse_status_report), which is
/// bounded and flattens them the way KMFDDM stores them; this type is for writing reports (a
/// simulated device) and for reading trusted ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The status items, nested by the words of their names
    /// (`device.operating-system.version` is `{"device":{"operating-system":{"version":…}}}`).
    /// Required by Apple's schema, absent from some reports in practice.
    #[serde(rename = "StatusItems", default)]
    pub status_items: Map<String, Value>,
    /// Errors for status items the device could not report. Required by Apple's schema.
    #[serde(rename = "Errors", default)]
    pub errors: Vec<ReportedError>,
    /// `true` when the report holds every status item and every array item in full (a
    /// "safety sync", about daily), so the server may replace what it holds (iOS 17,
    /// macOS 14).
    #[serde(
        rename = "FullReport",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub full_report: Option<bool>,
}

/// An entry of a status report's `Errors`: a status item the device could not report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportedError {
    /// The status item's name, e.g. `device.operating-system.version`.
    #[serde(rename = "StatusItem")]
    pub status_item: String,
    /// Why.
    #[serde(rename = "Reasons", default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<StatusErrorReason>>,
}

/// A reason in a [`ReportedError`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusErrorReason {
    /// The error code.
    #[serde(rename = "Code")]
    pub code: String,
    /// A description of the error.
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Further details.
    #[serde(rename = "Details", default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Map<String, Value>>,
}

/// Seconds since the Unix epoch as RFC 3339 in UTC to the second (`1970-01-01T00:00:00Z`), the
/// form of [`SyncTokens::timestamp`]. Years past 9999 are clamped to the last second of 9999.
pub fn rfc3339_utc(unix_seconds: u64) -> String {
    // 9999-12-31T23:59:59Z
    const MAX: u64 = 253_402_300_799;
    let secs = unix_seconds.min(MAX);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01 (never negative here).
/// Every intermediate stays far inside `u64` for the clamped range.
#[allow(clippy::arithmetic_side_effects)]
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_796_683_565), "2026-12-07T22:46:05Z");
        assert_eq!(rfc3339_utc(u64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn status_report_reads_and_writes_apple_keys() {
        let json = r#"{"StatusItems":{"device":{"model":{"family":"iPhone"}}},"Errors":[{"StatusItem":"test.error-value","Reasons":[{"Code":"Error.Test","Description":"d","Details":{"k":1}}]}],"FullReport":true}"#;
        let report: StatusReport = serde_json::from_str(json).unwrap();
        assert_eq!(report.full_report, Some(true));
        assert_eq!(report.errors[0].status_item, "test.error-value");
        let back: Value = serde_json::to_value(&report).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(json).unwrap());
    }
}
