//! Apple MDM protocol messages as Rust types.
//!
//! Devices talk to an MDM server with property lists: check-in messages
//! ([`CheckIn`]), command reports on the command channel ([`CommandReport`]) and, from the server,
//! queued commands ([`Command`]). This crate decodes them from XML or binary property lists and keeps
//! the exact bytes beside the decoded value ([`Raw`]), because a server stores, signs over,
//! forwards and returns those bytes unchanged.
//!
//! Decoding untrusted bodies is bounded ([`DecodeLimits`]): a size limit, and a non-recursive
//! pre-pass that refuses property lists nested too deeply (or, for binary lists, expanding into too
//! many objects) before any recursive parser sees them.
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

#![deny(missing_docs)]

mod checkin;
mod command;
mod enrollment;
mod error;
mod fields;
mod limits;
mod push;
mod raw;
mod report;
mod responses;

pub use checkin::{
    Authenticate, CheckIn, CheckOut, DeclarativeManagement, GetBootstrapToken, GetToken,
    ReturnToService, SetBootstrapToken, TokenUpdate, UserAuthenticate,
};
pub use command::Command;
pub use enrollment::Enrollment;
pub use error::DecodeError;
pub use limits::DecodeLimits;
pub use push::PushInfo;
pub use raw::Raw;
pub use report::{CommandReport, ErrorChain, Status};
pub use responses::{BootstrapToken, GetTokenResponse, ReturnToServiceResponse};

/// Re-exported so users can build and inspect property-list values (command payloads,
/// `TokenParameters`) with the same version this crate uses.
pub use plist;
