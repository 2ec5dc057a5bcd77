//! Apple's Declarative Device Management (DDM), without I/O.
//!
//! A device under DDM asks its server, over `DeclarativeManagement` check-ins, for a tokens
//! document, the list of its declarations (each with a server token), each declaration it has
//! not seen at its current token, and it reports status. This crate is the protocol and the
//! engine's model of it; storage and HTTP live in `mdm-storage` and `mdm-service`.

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
