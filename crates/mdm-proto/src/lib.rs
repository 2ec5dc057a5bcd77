//! Apple MDM protocol messages as Rust types.
//!
//! Devices talk to an MDM server with property lists: check-in messages
//! ([`CheckIn`]), command reports on the command channel ([`CommandReport`]) and, from the server,
//! queued commands ([`Command`]). This crate decodes them from XML or binary property lists and keeps
//! the exact bytes beside the decoded value ([`Raw`]), because a server stores, signs over,
//! forwards and returns those bytes unchanged.
//!
//! Decoding untrusted bodies is bounded ([`DecodeLimits`]): a size limit, and a non-recursive
//! parser that counts nesting depth and objects on the same events it builds values from, and
//! keeps only the keys a message reads — the rest of a body is checked and dropped as it streams
//! past, so a report of megabytes costs its bytes and little more. Binary lists that expand
//! through shared references are refused before they are walked.
//!
//! ```
//! use mdm_proto::{CheckIn, Raw};
//!
//! let body = br#"<?xml version="1.0" encoding="UTF-8"?>
//! <plist version="1.0"><dict>
//!   <key>MessageType</key><string>CheckOut</string>
//!   <key>Topic</key><string>com.apple.mgmt.External.0b8d5d2c</string>
//!   <key>UDID</key><string>1C2E9C5B-1234-5678-9ABC-DEF012345678</string>
//! </dict></plist>"#;
//! let check_in: Raw<CheckIn> = CheckIn::decode(&body[..]).unwrap();
//! assert_eq!(check_in.message_type(), "CheckOut");
//! assert_eq!(check_in.enrollment().udid.as_deref(), Some("1C2E9C5B-1234-5678-9ABC-DEF012345678"));
//! assert_eq!(check_in.bytes().as_ref(), &body[..]);
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
// Everything here reads untrusted bytes: no panics, no indexing and no unchecked arithmetic,
// except where a comment proves it cannot fail.
#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod cert_hash;
mod checkin;
mod command;
mod enrollment;
mod error;
mod fields;
mod limits;
mod parse;
pub mod pem;
mod push;
mod raw;
mod report;
mod responses;
mod secret;
mod xml;

pub use cert_hash::{CertHash, InvalidCertHash};
pub use checkin::{
    Authenticate, CheckIn, CheckOut, DeclarativeManagement, GetBootstrapToken, GetToken,
    ReturnToService, SetBootstrapToken, TokenUpdate, UserAuthenticate,
};
pub use command::Command;
pub use enrollment::Enrollment;
pub use error::DecodeError;
pub use limits::DecodeLimits;

/// Decodes a whole untrusted property list (XML or binary) whose top level is a dictionary,
/// within `limits`: for the result keys of a command report, which [`CommandReport`] leaves in
/// the raw bytes. Every value is kept, so [`DecodeLimits::max_kept_values`] bounds its size.
///
/// ```
/// let body = b"<plist><dict><key>QueryResponses</key><dict>\
///     <key>OSVersion</key><string>26.1</string></dict></dict></plist>";
/// let dict = mdm_proto::decode_dictionary(body, &mdm_proto::DecodeLimits::default()).unwrap();
/// let responses = dict["QueryResponses"].as_dictionary().unwrap();
/// assert_eq!(responses["OSVersion"].as_string(), Some("26.1"));
/// ```
pub fn decode_dictionary(
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<plist::Dictionary, DecodeError> {
    parse::dictionary(body, limits, parse::Keep::All)
}
pub use push::PushInfo;
pub use raw::Raw;
pub use report::{CommandReport, ErrorChainEntry, Status};
pub use responses::{BootstrapToken, GetTokenResponse, ReturnToServiceResponse};
pub use secret::{RedactedDebug, Secret};

/// The `Content-Type` of a check-in request; every other request on `/mdm` is on the command
/// channel.
pub const CHECK_IN_CONTENT_TYPE: &str = "application/x-apple-aspen-mdm-checkin";

/// The `Content-Type` devices send command-channel reports with.
pub const COMMAND_CONTENT_TYPE: &str = "application/x-apple-aspen-mdm";

/// The request header carrying the device's detached CMS signature over the body (base64), when
/// its MDM profile sets `SignMessage`: `Mdm-Signature` in Apple's spelling, lowercase here as
/// HTTP/2 and `http::HeaderName` write header names (they are case-insensitive).
pub const MDM_SIGNATURE_HEADER: &str = "mdm-signature";

/// Re-exported so users can build and inspect property-list values (command payloads,
/// `TokenParameters`) with the same version this crate uses.
pub use plist;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
