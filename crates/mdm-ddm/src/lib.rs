//! Apple's Declarative Device Management (DDM), without I/O.
//!
//! A device under DDM asks its server, over `DeclarativeManagement` check-ins, for a tokens
//! document, the list of its declarations (each with a server token), each declaration it has
//! not seen at its current token, and it reports status. This crate is the protocol and the
//! engine's model of it; storage and HTTP live in `mdm-storage` and `mdm-service`.
//!
//! The engine's model: a [`Declaration`] (type, identifier, payload) has a [`ServerToken`]
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
//! [`PayloadSchema`]), an activation's predicate ([`check_predicate`]) and the configurations
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
mod json;
mod predicate;
mod protocol;
mod status;
mod token;
mod validate;

pub use category::DeclarationCategory;
pub use declaration::{
    Declaration, DeclarationError, DeclarationLimits, MAX_IDENTIFIER_BYTES, MAX_TYPE_BYTES,
    RECOMMENDED_IDENTIFIER_BYTES, parse_declaration_endpoint,
};
pub use effective::{DeclarationItem, DeclarationSet, EffectiveDeclarations};
pub use predicate::{
    MAX_PREDICATE_BYTES, MAX_PREDICATE_DEPTH, PredicateError, PredicateErrorKind,
    PredicateExpected, PredicateFound, check_predicate,
};
pub use protocol::{
    DeclarationItemsResponse, ManifestDeclaration, ManifestDeclarationItems, StatusErrorReason,
    StatusItemError, StatusReport, SyncTokens, TokensResponse, rfc3339_utc,
};
pub use status::{
    DeclarationStatus, DeclarationValidity, ParsedStatusReport, StatusError, StatusReportError,
    StatusReportLimits, StatusScalar, StatusValue, ValueContainer, parse_status_report,
    parse_status_report_with,
};
pub use token::ServerToken;
pub use validate::{
    AnyPayload, AssetReference, DeclarationLookup, PayloadError, PayloadProblem, PayloadSchema,
    ValidationError, asset_references, validate_declaration,
};

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
