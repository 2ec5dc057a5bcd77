//! Typed Apple MDM commands and their responses.
//!
//! Every command of Apple's device-management schema (`mdm/commands`) is a module here, named
//! for its `RequestType`: a struct with the command's payload keys as fields, a struct with the
//! keys of its acknowledged report, the nested types both use, and the command's
//! [`Availability`] (per OS: versions, channels, supervision, User Enrollment). Every command
//! implements [`MdmCommand`], which builds the exact property list a server queues and decodes
//! the device's report into the typed response; [`AnyCommand`] and [`AnyResponse`] cover them
//! all, so code can handle any command without matching on strings.
//!
//! ```
//! use mdm_commands::MdmCommand;
//! use mdm_commands::device_information::{DeviceInformation, QueriesItem};
//!
//! // The command, and the property list a server queues for it.
//! let command = DeviceInformation::new(vec![
//!     QueriesItem::DeviceName,
//!     QueriesItem::OsVersion,
//!     QueriesItem::SerialNumber,
//! ]);
//! let queued = command.build("4f0c2c5e-8e1f-4a39-9a4e-2b8f1e7d6c30");
//! assert_eq!(queued.request_type, "DeviceInformation");
//!
//! // The device's answer, as it arrives on the command channel.
//! let report = br#"<?xml version="1.0" encoding="UTF-8"?>
//! <plist version="1.0"><dict>
//!   <key>CommandUUID</key><string>4f0c2c5e-8e1f-4a39-9a4e-2b8f1e7d6c30</string>
//!   <key>QueryResponses</key><dict>
//!     <key>DeviceName</key><string>Front Desk iPad</string>
//!     <key>OSVersion</key><string>18.1</string>
//!     <key>SerialNumber</key><string>DMPXK0L1Q1GC</string>
//!   </dict>
//!   <key>Status</key><string>Acknowledged</string>
//!   <key>UDID</key><string>00008120-0012345678901234</string>
//! </dict></plist>"#;
//! let response = DeviceInformation::decode_response(&report[..]).unwrap();
//! assert_eq!(response.report.enrollment.udid.as_deref(), Some("00008120-0012345678901234"));
//! let answers = response.result().and_then(|r| r.query_responses.as_ref()).unwrap();
//! assert_eq!(answers.device_name.as_deref(), Some("Front Desk iPad"));
//! // The bytes the device sent stay available, unchanged.
//! assert_eq!(response.bytes().as_ref(), &report[..]);
//! ```
//!
//! # Decoding
//!
//! Reports come from devices, so decoding them is bounded ([`DecodeLimits`]: size, depth,
//! objects, and the decoded value's memory) and never panics. A report is read in one pass over
//! its bytes (XML straight from the body, binary through `plist`'s event reader after
//! `mdm-proto`'s checks); keys the schema does not know — a newer OS's — are skipped, and stay in
//! the raw bytes. Commands, from an operator, are read strictly: an unknown key is an error,
//! because the typed value could not carry it.
//!
//! Commands also come as JSON ([`CommandEnvelope::from_json`], [`command_from_json`]), with
//! Apple's key names; the schema decides each value's property-list type, and every error names
//! its key path ([`DecodeError`]).
//!
//! # Types
//!
//! `<string>` is `String`, `<integer>` `i64`, `<real>` `f64`, `<boolean>` `bool`, `<data>`
//! `Vec<u8>`, `<date>` [`plist::Date`], `<any>` [`plist::Value`]; a dictionary with keys is a
//! struct, one whose keys are names (app identifiers, profile identifiers) a `BTreeMap`, one
//! without keys a [`plist::Dictionary`]; an array whose items are several kinds of dictionary is
//! an enum told apart by its tag (`Settings`' `Item`). An optional key is an `Option`, and so is
//! every key of a report: Apple's schema calls some report keys required that devices leave out
//! (keys sent only for App Store apps, only when the command asked for them, only by a later OS),
//! and a report must not fail to decode for a key its device did not send.
//!
//! A string with a closed list of values is an enum. In a command the list is exact (a value
//! outside it is an error); in a report, and for lists Apple grows every year (`DeviceInformation`
//! queries), the enum has an `Other(String)` variant for values this crate does not know.
//! Integers with a list of values stay `i64`, checked against the list in commands.
//!
//! [`DecodeLimits`]: mdm_proto::DecodeLimits

#![deny(missing_docs)]
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

mod availability;
pub mod codec;
mod command;
mod envelope;
mod error;
#[cfg(feature = "examples")]
mod examples;
mod generated;

pub use availability::{Availability, Mode, Os, Platform, SharedIpad, compare_versions};
pub use command::{MdmCommand, Response};
pub use envelope::{CommandEnvelope, command_from_json};
pub use error::{DecodeError, KeyPath, PathSegment};
pub use generated::*;

/// Re-exported so users can build and read the `<any>`, `<date>` and untyped dictionary values
/// of commands with the version this crate uses.
pub use plist;
