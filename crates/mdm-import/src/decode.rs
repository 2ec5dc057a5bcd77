//! Decoders for the values NanoMDM's key-value storage writes, one per kind of value. Each takes
//! the file's bytes as found and either returns the value or says what is wrong with them; none
//! panics, whatever the bytes (the `filekv_values` fuzz target holds them to that).

use bytes::Bytes;
use mdm_proto::{CertHash, CheckIn, Command, CommandReport, DecodeError, Raw};

/// What is wrong with a stored value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value is empty where NanoMDM never writes an empty one (a truncated file).
    #[error("is empty")]
    Empty,
    /// Text that is not UTF-8.
    #[error("is not UTF-8 text")]
    NotUtf8,
    /// A number that is not the decimal digits NanoMDM writes, or is out of range.
    #[error("is not a decimal number in range: {0:?}")]
    NotDecimal(String),
    /// A certificate hash that is not 64 hex digits.
    #[error("is not a hex SHA-256 certificate hash: {0:?}")]
    NotCertHash(String),
    /// A property list that does not decode (truncated, or not a property list at all).
    #[error("does not decode as a property list: {0}")]
    Plist(#[source] DecodeError),
    /// A check-in of another message type than the key holds.
    #[error("is a {found} check-in, where a {expected} is stored")]
    WrongMessageType {
        /// What the key holds in NanoMDM.
        expected: &'static str,
        /// What the value is.
        found: &'static str,
    },
    /// A check-in or report whose enrollment (or command) is not the one its key names.
    #[error("belongs to {found:?}, not to {expected:?} named by the key")]
    WrongOwner {
        /// The id (or CommandUUID) the key names.
        expected: String,
        /// The one inside the value.
        found: String,
    },
    /// A PEM value that does not start with a PEM header.
    #[error("is not PEM (no \"-----BEGIN\" header)")]
    NotPem,
}

/// Non-empty UTF-8 text: ids, topics, push magic, enrollment types, queue pointers, statuses.
pub fn decode_text(value: &[u8]) -> Result<&str, ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    std::str::from_utf8(value).map_err(|_| ValueError::NotUtf8)
}

/// A non-negative decimal as NanoMDM writes it with `strconv`: digits only, no sign or spaces.
fn decode_decimal(value: &[u8]) -> Result<u64, ValueError> {
    let text = decode_text(value)?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotDecimal(text.chars().take(40).collect()));
    }
    text.parse()
        .map_err(|_| ValueError::NotDecimal(text.chars().take(40).collect()))
}

/// A time (`last_seen_at`, `enrolled_at`): microseconds since the Unix epoch, in decimal.
pub fn decode_micros(value: &[u8]) -> Result<i64, ValueError> {
    let n = decode_decimal(value)?;
    i64::try_from(n).map_err(|_| ValueError::NotDecimal(n.to_string()))
}

/// A TokenUpdate tally (`tok_tal`), in decimal.
pub fn decode_tally(value: &[u8]) -> Result<u32, ValueError> {
    let n = decode_decimal(value)?;
    u32::try_from(n).map_err(|_| ValueError::NotDecimal(n.to_string()))
}

/// A certificate hash (`cert_hash` values, `hash_cert` key names): hex SHA-256.
pub fn decode_cert_hash(value: &[u8]) -> Result<CertHash, ValueError> {
    let text = decode_text(value)?;
    text.parse()
        .map_err(|_| ValueError::NotCertHash(text.chars().take(80).collect()))
}

/// A raw check-in (`auth`, `tok_upd`, `user_auth`, `user_auth_digest`) that must be an
/// `expected` message (`"Authenticate"`, `"TokenUpdate"`, `"UserAuthenticate"`).
pub fn decode_check_in(value: &[u8], expected: &'static str) -> Result<Raw<CheckIn>, ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    let check_in = CheckIn::decode(Bytes::copy_from_slice(value)).map_err(ValueError::Plist)?;
    let found = match check_in.value() {
        CheckIn::Authenticate(_) => "Authenticate",
        CheckIn::TokenUpdate(_) => "TokenUpdate",
        CheckIn::UserAuthenticate(_) => "UserAuthenticate",
        CheckIn::CheckOut(_) => "CheckOut",
        CheckIn::SetBootstrapToken(_) => "SetBootstrapToken",
        _ => "other",
    };
    if found != expected {
        return Err(ValueError::WrongMessageType { expected, found });
    }
    Ok(check_in)
}

/// A queued command's raw plist (`<uuid>.raw`), whose `CommandUUID` must be `uuid`.
pub fn decode_command(value: &[u8], uuid: &str) -> Result<Raw<Command>, ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    let command = Command::decode(Bytes::copy_from_slice(value)).map_err(ValueError::Plist)?;
    if command.command_uuid != uuid {
        return Err(ValueError::WrongOwner {
            expected: uuid.to_owned(),
            found: command.command_uuid.clone(),
        });
    }
    Ok(command)
}

/// A stored command report (`...queueitem.report`), whose `CommandUUID` must be `uuid`.
pub fn decode_report(value: &[u8], uuid: &str) -> Result<Raw<CommandReport>, ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    let report = CommandReport::decode(Bytes::copy_from_slice(value)).map_err(ValueError::Plist)?;
    match report.command_uuid.as_deref() {
        Some(found) if found == uuid => Ok(report),
        found => Err(ValueError::WrongOwner {
            expected: uuid.to_owned(),
            found: found.unwrap_or_default().to_owned(),
        }),
    }
}

/// A PEM certificate or key (`<topic>.pem`, `<topic>.key`).
pub fn decode_pem(value: &[u8]) -> Result<&str, ValueError> {
    let text = decode_text(value)?;
    if !text.trim_start().starts_with("-----BEGIN") {
        return Err(ValueError::NotPem);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_strict() {
        assert_eq!(
            decode_micros(b"1733577600123456").unwrap(),
            1733577600123456
        );
        assert_eq!(decode_tally(b"3").unwrap(), 3);
        assert!(matches!(decode_tally(b""), Err(ValueError::Empty)));
        assert!(matches!(
            decode_tally(b"-1"),
            Err(ValueError::NotDecimal(_))
        ));
        assert!(matches!(
            decode_tally(b"1 "),
            Err(ValueError::NotDecimal(_))
        ));
        assert!(matches!(
            decode_tally(b"99999999999"),
            Err(ValueError::NotDecimal(_))
        ));
        assert!(matches!(
            decode_micros(b"99999999999999999999"),
            Err(ValueError::NotDecimal(_))
        ));
        assert!(matches!(decode_text(b"\xff"), Err(ValueError::NotUtf8)));
    }

    #[test]
    fn hashes_and_pem() {
        let hash = "ab".repeat(32);
        assert_eq!(decode_cert_hash(hash.as_bytes()).unwrap().to_string(), hash);
        assert!(matches!(
            decode_cert_hash(b"xyz"),
            Err(ValueError::NotCertHash(_))
        ));
        assert!(decode_pem(b"-----BEGIN CERTIFICATE-----\n").is_ok());
        assert!(matches!(decode_pem(b"cert"), Err(ValueError::NotPem)));
    }

    #[test]
    fn truncated_plists_are_errors() {
        let command = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CommandUUID</key><string>c1</string><key>Command</key><dict><key>RequestType</key><string>DeviceInformation</string></dict></dict></plist>";
        assert!(decode_command(command, "c1").is_ok());
        assert!(matches!(
            decode_command(command, "c2"),
            Err(ValueError::WrongOwner { .. })
        ));
        assert!(matches!(
            decode_command(&command[..60], "c1"),
            Err(ValueError::Plist(_))
        ));
        assert!(matches!(
            decode_check_in(command, "Authenticate"),
            Err(ValueError::Plist(_))
        ));
    }
}
