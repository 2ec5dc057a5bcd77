//! Device identity for Apple MDM: which device sent this request, and should it be trusted?
//!
//! Every MDM request is authenticated by the device identity certificate, which reaches the
//! server in one of two ways:
//!
//! * the `Mdm-Signature` header: base64 of a detached CMS SignedData over the body, signed with the
//!   identity (when the MDM profile sets `SignMessage`) — [`verify_mdm_signature`];
//! * a header set by a TLS-terminating proxy that checked the client certificate: URL-escaped PEM
//!   (nginx `$ssl_client_escaped_cert`) or RFC 9440 — [`certificate_from_header`].
//!
//! Either way the result is an [`IdentityCertificate`] (the DER, the parsed certificate and its
//! [`cert_hash`], the key of the certificate binding), which a [`CertVerifier`] then checks
//! against the CAs that issue device identities: [`CaPool`], usually behind a
//! [`CachedVerifier`].
//!
//! ```no_run
//! use std::time::SystemTime;
//! use mdm_signature::{CaPool, CachedVerifier, CertVerifier, verify_mdm_signature};
//!
//! # fn main() -> Result<(), mdm_signature::Error> {
//! # let (ca_pem, header, body) = ("", "", b"".as_slice());
//! let verifier = CachedVerifier::new(CaPool::from_pem(ca_pem)?, 10_000);
//! // for each request:
//! let cert = verify_mdm_signature(header, body)?;
//! verifier.verify_cert(&cert, SystemTime::now())?;
//! println!("device certificate {}", cert.cert_hash());
//! # Ok(())
//! # }
//! ```
//!
//! Everything here is pure computation: no I/O, no clock reads except where a function says so
//! (times are parameters), and no panics on untrusted input.
//!
//! The `signer` feature adds [`signer`] (detached CMS in the layouts devices send) and
//! [`test_pki`] (a CA that issues device identities), for tests and the device simulator.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
// No panic on untrusted input: every module here reads bytes from the network (headers, CMS,
// certificates, PEM), so none may index, unwrap, panic or do arithmetic that can overflow. Where
// something provably cannot fail it is kept with an `#[allow]` and a comment proving it. The
// test-side builders (`signer`, `test_pki`) and the `#[cfg(test)]` modules opt out.
#![deny(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod algorithm;
mod ber;
mod cache;
mod certificate;
mod chain;
mod error;
mod header;
mod pem;
mod signature;

#[cfg(feature = "signer")]
pub mod signer;
#[cfg(feature = "signer")]
pub mod test_pki;

pub use algorithm::DigestAlgorithm;
pub use cache::CachedVerifier;
pub use certificate::{IdentityCertificate, cert_hash};
pub use chain::{CaPool, CertVerifier, VerifiedChain};
pub use error::{
    AlgorithmMismatch, Asn1Problem, CaEvidence, CertificateError, ChainError, Error, HeaderError,
    SignedAttributesError,
};
pub use header::{
    MAX_CERTIFICATE_HEADER_LEN, certificate_from_escaped_pem, certificate_from_header,
    certificate_from_rfc9440,
};
pub use signature::{
    VerifyOptions, verify_mdm_signature, verify_mdm_signature_with, verify_signed_content,
};

/// The `x509-cert` crate, whose [`x509_cert::Certificate`] [`IdentityCertificate::certificate`]
/// returns.
pub use x509_cert;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
