//! Apple's Declarative Device Management (DDM), without I/O.
//!
//! A device under DDM asks its server, over `DeclarativeManagement` check-ins, for a tokens
//! document, the list of its declarations (each with a server token), each declaration it has
//! not seen at its current token, and it reports status. This crate is the protocol and the
//! engine's model of it; storage and HTTP live in `mdm-storage` and `mdm-service`.
//!
//! # Declarations and status items
//!
//! Every declaration type of Apple's schema (`declarative/declarations`: activations, assets,
//! configurations, management) is a module of [`declarations`], named for its `Type` less
//! `com.apple.` (`com.apple.configuration.passcode.settings` is
//! [`declarations::ConfigurationPasscodeSettings`]): a struct with the keys of the
//! declaration's `Payload` as fields, the nested types they use, the type string
//! (`DECLARATION_TYPE`) and the schema's [`Availability`] (per OS: versions, and who may use it —
//! the schema's allowed enrollments and scopes as supervision, User Enrollment and channels).
//! [`AnyDeclaration`] covers them all. Every status item of `declarative/status` is a module of
//! [`status_items`] with a type named for the item (`device.operating-system.version` is
//! [`status_items::DeviceOperatingSystemVersion`], a newtype over its `String`), and
//! [`StatusItem`] covers them all.
//!
//! A declaration is checked against its type's schema before it is stored:
//! [`AnyDeclaration::from_json_value`] (or [`AnyDeclaration::from_json`] from the payload's
//! text) refuses an unknown type, a missing required key, a value of the wrong JSON type and a
//! value outside a closed list, each a [`PayloadError`] naming the key path. Keys the schema
//! does not define are skipped, not refused — a newer OS adds keys, and the device is the judge
//! of those — so the typed value writes back the same JSON for the keys it knows; store the
//! declaration's own JSON, not the typed value's. ([`AnyDeclaration::from_json_value_with`] and
//! [`UnknownKeys::Reject`] refuse them instead, to catch a misspelt key.) The keys through
//! which a configuration names its assets are the schema's too
//! ([`AnyDeclaration::asset_references`], [`AssetReference`]), for checking that they exist.
//!
//! ```
//! use mdm_ddm::declarations::ConfigurationPasscodeSettings;
//! use mdm_ddm::{AnyDeclaration, DeclarationPayload};
//! use serde_json::json;
//!
//! let payload = json!({"MinimumLength": 6, "RequireComplexPasscode": true});
//! let declaration =
//!     AnyDeclaration::from_json_value("com.apple.configuration.passcode.settings", &payload)?;
//! let AnyDeclaration::ConfigurationPasscodeSettings(passcode) = &declaration else {
//!     unreachable!()
//! };
//! assert_eq!(passcode.minimum_length, Some(6));
//! assert_eq!(declaration.to_json_value(), payload);
//!
//! let error = ConfigurationPasscodeSettings::from_json_value(&json!({"MinimumLength": "6"}))
//!     .unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "com.apple.configuration.passcode.settings payload: MinimumLength: \
//!      expected an integer, found a string"
//! );
//! # Ok::<(), mdm_ddm::PayloadError>(())
//! ```
//!
//! Status items arrive nested by their dotted names in a status report's `StatusItems`.
//! [`StatusItem::from_path`] reads one by name, [`StatusItem::all_in`] reads them all, each
//! typed or, for an item this schema does not define, kept as [`StatusItem::Other`]; a value
//! that does not read is a [`StatusItemError`] of that item alone. Status values are read as
//! leniently as command reports: unknown keys are skipped and a value outside a list is kept
//! (`Other(String)` variants), since devices report what their OS knows.
//!
//! ```
//! use mdm_ddm::StatusItem;
//! use mdm_ddm::status_items::DeviceOperatingSystemVersion;
//! use serde_json::json;
//!
//! let status_items = json!({"device": {"operating-system": {"version": "18.1"}}});
//! let version = StatusItem::from_path("device.operating-system.version", &status_items)?;
//! assert_eq!(
//!     version,
//!     Some(StatusItem::DeviceOperatingSystemVersion(DeviceOperatingSystemVersion(
//!         "18.1".into()
//!     )))
//! );
//! # Ok::<(), mdm_ddm::StatusItemError>(())
//! ```
//!
//! The types read and write JSON with Apple's key names through `mdm-commands`' codec, which
//! the commands and profile payloads share, and implement `serde`'s traits the same way (so
//! deserializing one checks it too). Among the schema's types, `<data>` is `Vec<u8>` (base64
//! in JSON), `<date>` [`plist::Date`] (an RFC 3339 string), `<any>` [`plist::Value`], and a
//! dictionary without keys [`plist::Dictionary`].
//!
//! # The engine's model
//!
//! A [`Declaration`] (type, identifier, payload) has a [`ServerToken`]
//! derived from its content and a touch count alone, so it is the same on every server and
//! after every restart, and a device never fetches an unchanged declaration again. Enrollments
//! are assigned [`DeclarationSet`]s; the union of an enrollment's sets, as
//! [`DeclarationItem`]s, is its [`EffectiveDeclarations`], which builds the `tokens` and
//! `declaration-items` documents ([`TokensResponse`], [`DeclarationItemsResponse`]) around one
//! order-independent `DeclarationsToken`; [`Declaration::document`] is what
//! `declaration/<category>/<identifier>` answers.
//!
//! Devices report status; [`parse_status_report`] reads a report, bounded, into declaration
//! statuses, errors and flattened values the way KMFDDM stores them. Before a declaration is
//! stored, [`validate_declaration`] checks its payload against its type's schema (through a
//! [`PayloadSchema`], [`AppleSchema`] for Apple's), an activation's predicate ([`check_predicate`]) and the configurations
//! and assets it refers to.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
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

mod category;
mod declaration;
mod effective;
mod generated;
mod json;
mod predicate;
mod protocol;
mod status;
mod token;
mod typed;
mod validate;

pub use category::DeclarationCategory;
pub use declaration::{
    Declaration, DeclarationError, DeclarationLimits, MAX_IDENTIFIER_BYTES, MAX_TYPE_BYTES,
    RECOMMENDED_IDENTIFIER_BYTES, parse_declaration_endpoint,
};
pub use effective::{DeclarationItem, DeclarationSet, EffectiveDeclarations};
pub use generated::declarations::AnyDeclaration;
pub use generated::status_items::StatusItem;
pub use generated::{declarations, status_items};
pub use mdm_commands::codec::UnknownKeys;
pub use mdm_commands::{Availability, DecodeError, KeyPath};
pub use predicate::{
    MAX_PREDICATE_BYTES, MAX_PREDICATE_DEPTH, PredicateError, PredicateErrorKind,
    PredicateExpected, PredicateFound, check_predicate,
};
pub use protocol::{
    DeclarationItemsResponse, ManifestDeclaration, ManifestDeclarationItems, ReportedError,
    StatusErrorReason, StatusReport, SyncTokens, TokensResponse, rfc3339_utc,
};
pub use status::{
    DeclarationStatus, DeclarationValidity, ParsedStatusReport, StatusError, StatusReportError,
    StatusReportLimits, StatusScalar, StatusValue, ValueContainer, parse_status_report,
    parse_status_report_with,
};
pub use token::ServerToken;
pub use typed::{
    AssetReference, DeclarationPayload, MAX_STATUS_ITEM_DEPTH, PayloadError, StatusItemError,
    StatusItemType,
};
pub use validate::{
    AnyPayload, AppleSchema, DeclarationLookup, NamedAsset, PayloadSchema, ValidationError,
    named_assets, validate_declaration,
};

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
