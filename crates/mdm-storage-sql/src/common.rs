//! What every SQL dialect shares: value encodings (as NanoMDM stores them), error mapping and
//! row-to-type conversions. The dialect modules hold only their SQL.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use mdm_proto::{Command, PushInfo, Raw};
use mdm_storage::StorageError;

/// `command_results.status` of a command the device put off.
pub(crate) const NOT_NOW: &str = "NotNow";

/// How many ids go in one `IN (…)` lookup: far below every dialect's bound-parameter limit,
/// large enough that a push to thousands of ids takes a handful of queries.
pub(crate) const IN_LIST_CHUNK: usize = 500;

/// A sqlx error as a storage error: values that do not decode are [`StorageError::Corrupt`];
/// everything else is the backend's failure.
pub(crate) fn db(e: sqlx::Error) -> StorageError {
    match e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. } => StorageError::Corrupt(e.to_string()),
        e => StorageError::backend(e),
    }
}

/// Whether an insert failed on a unique key (a primary key included).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The device identity certificate as NanoMDM stores it in `devices.identity_cert`: PEM.
pub(crate) fn pem_certificate(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    pem.push_str("-----BEGIN CERTIFICATE-----\n");
    // base64 is ASCII, so 64-byte chunks are whole characters.
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// `devices.bootstrap_token_b64`: standard base64, NULL for none (or an empty token).
pub(crate) fn encode_bootstrap_token(token: Option<&[u8]>) -> Option<String> {
    token.filter(|t| !t.is_empty()).map(|t| STANDARD.encode(t))
}

pub(crate) fn decode_bootstrap_token(b64: &str) -> Result<Vec<u8>, StorageError> {
    STANDARD
        .decode(b64)
        .map_err(|e| StorageError::Corrupt(format!("devices.bootstrap_token_b64: {e}")))
}

/// Push info from an `enrollments` row (`token_hex` is hex, as NanoMDM writes it).
pub(crate) fn push_info(
    topic: String,
    push_magic: String,
    token_hex: &str,
) -> Result<PushInfo, StorageError> {
    let token = PushInfo::token_from_hex(token_hex)
        .map_err(|e| StorageError::Corrupt(format!("enrollments.token_hex: {e}")))?;
    Ok(PushInfo {
        token,
        push_magic,
        topic,
    })
}

/// A queued command as read back: its envelope from the `commands` columns, its bytes exactly
/// as enqueued.
pub(crate) fn command(command_uuid: String, request_type: String, bytes: Vec<u8>) -> Raw<Command> {
    Raw::new(
        Command {
            command_uuid,
            request_type,
        },
        Bytes::from(bytes),
    )
}

/// `enrollments.token_update_tally`, which no statement of ours makes negative.
pub(crate) fn tally(value: i64) -> Result<u32, StorageError> {
    u32::try_from(value)
        .map_err(|_| StorageError::Corrupt(format!("enrollments.token_update_tally is {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_lines_are_64_characters_and_framed() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = pem_certificate(&der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        let body = &lines[1..lines.len() - 1];
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
        assert_eq!(STANDARD.decode(body.concat()).unwrap(), der);
    }

    #[test]
    fn bootstrap_token_round_trips_and_empty_is_none() {
        assert_eq!(encode_bootstrap_token(Some(b"")), None);
        assert_eq!(encode_bootstrap_token(None), None);
        let b64 = encode_bootstrap_token(Some(b"\x00\xfftoken")).unwrap();
        assert_eq!(decode_bootstrap_token(&b64).unwrap(), b"\x00\xfftoken");
        assert!(matches!(
            decode_bootstrap_token("not base64!"),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn corrupt_values_are_reported_not_panicked_on() {
        assert!(matches!(
            push_info("t".into(), "m".into(), "zz"),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(tally(-1), Err(StorageError::Corrupt(_))));
        assert_eq!(tally(3).unwrap(), 3);
    }
}
