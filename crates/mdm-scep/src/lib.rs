//! A SCEP server (RFC 8894) for Apple MDM enrollment.
//!
//! Devices obtain their identity certificate by SCEP before they first talk to an MDM server:
//! `GetCACaps`, `GetCACert`, then a `PKIOperation` carrying a CMS-signed, CMS-enveloped PKCS #10
//! request with a challenge password. This crate answers all three.
//!
//! * [`ScepServer`] is the protocol core, without I/O: the GetCACaps and GetCACert answers,
//!   decoding and checking a PKIOperation ([`ScepServer::decode`]), and building its CertRep.
//! * [`ChallengePolicy`] decides who may enroll: [`StaticChallenge`] (one shared password) or
//!   [`OneTimeChallenges`] (expiring, consumed on use, bound to the request that used them).
//! * [`CertificateAuthority`] issues: [`FileCa`] is a CA whose certificate and RSA or ECDSA P-256
//!   key come from a PEM file.
//! * [`Scep`] drives the three for requests as an HTTP stack delivers them; with the `axum`
//!   feature, `http::router` serves it.
//!
//! An enrollment, end to end (the device is simulated with the `client` feature):
//!
//! ```
//! use std::time::SystemTime;
//! use mdm_scep::client::{self, CertRepStatus, RequestOptions, Requester};
//! use mdm_scep::{FileCa, IssueOptions, KeyAlgorithm, Method, PrivateKey, Scep};
//! use mdm_scep::{ServerOptions, StaticChallenge};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let ca_pem = client::test_ca_pem(KeyAlgorithm::Rsa2048, "CN=Example CA")?;
//! # let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! # rt.block_on(async {
//! // The server: a CA from a PEM file (certificate and key), one shared challenge.
//! let ca = FileCa::from_pem(&ca_pem, IssueOptions::default())?;
//! let scep = Scep::new(
//!     ca.scep_identity()?,
//!     &ca.chain(),
//!     StaticChallenge::new("a shared secret"),
//!     ca,
//!     ServerOptions::default(),
//! )?;
//! let now = SystemTime::now();
//!
//! // The device fetches the certificate to encrypt to...
//! let ca_cert = scep.handle_http(Method::Get, Some("operation=GetCACert"), b"", now).await?;
//! // ...and sends a PKCSReq: its key, a self-signed certificate, a CSR with the challenge.
//! let device = Requester::self_signed(PrivateKey::generate(KeyAlgorithm::Rsa2048)?, "CN=device")?;
//! let csr = client::csr(device.key(), "CN=device", Some("a shared secret"))?;
//! let request = client::pki_request(&device, &ca_cert.body, &csr, &RequestOptions::default())?;
//! let reply = scep
//!     .handle_http(Method::Post, Some("operation=PKIOperation"), &request.message, now)
//!     .await?;
//! assert_eq!(reply.content_type, "application/x-pki-message");
//!
//! // The CertRep, read as the device reads it: the new certificate, encrypted to its key.
//! let cert_rep = client::read_cert_rep(&reply.body, &device, &ca_cert.body)?;
//! assert!(matches!(cert_rep.status, CertRepStatus::Issued(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok(())
//! # }
//! ```
//!
//! Features: `axum` adds the HTTP adapter (`http`), `client` the client used above (`client`).
//! SCEP clients encrypt to the certificate GetCACert returns, so it must have an RSA key: an RSA
//! CA can be its own exchange identity, an ECDSA CA needs an RSA RA ([`FileCa::with_ra`]);
//! certmonger needs an RA distinct from the CA in any case (see the README).
//!
//! Refusals are CertReps with `pkiStatus` FAILURE and the `failInfo` of [`Refusal::fail_info`];
//! a message that cannot be decoded far enough to address a CertRep is a [`RequestError`] (HTTP
//! 400). Nothing here panics on input.
//!
//! Cryptography: CMS is read and built with RustCrypto's `cms` (BER on input), certificates with
//! `x509-cert`'s builder; RSA and ECDSA operations are aws-lc-rs's; DES, triple DES and AES-CBC
//! are RustCrypto's.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
// No panic on input: everything here reads bytes from the network (PKIMessages, envelopes,
// certificate requests, query strings), so nothing may index, unwrap, panic or do arithmetic that
// can overflow. The unit tests (built only with `cfg(test)`) opt out; the library is checked
// without them.
#![deny(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
#![cfg_attr(
    test,
    allow(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod ber;
mod ca;
mod certrep;
mod challenge;
#[cfg(feature = "client")]
pub mod client;
mod csr;
mod envelope;
mod error;
#[cfg(feature = "axum")]
pub mod http;
mod identity;
mod keys;
mod lax;
mod message;
mod oid;
mod pem;
mod rng;
mod server;
mod service;
mod verify;

pub use ca::{CertificateAuthority, DynCertificateAuthority, FileCa, IssueOptions, IssueRequest};
pub use challenge::{
    ChallengePolicy, ChallengeRequest, DynChallengePolicy, OneTimeChallenges, StaticChallenge,
};
pub use csr::Csr;
pub use envelope::ContentEncryption;
pub use error::{
    AlgorithmUse, BoxError, ChallengeError, ChallengeRefusal, ConfigError, FailInfo, IssueError,
    KeyError, MessageError, PemError, Refusal, RequestError, ScepAttribute, ScepError,
    ServiceError, Structure,
};
pub use identity::ScepIdentity;
pub use keys::{KeyAlgorithm, PrivateKey};
pub use message::{DEFAULT_MAX_MESSAGE_LEN, MessageType, PkiMessage, TransactionId};
pub use server::{
    CaCertResponse, DEFAULT_CAPABILITIES, Decoded, EnrollmentRequest, RefusedRequest, ScepServer,
    ServerOptions,
};
pub use service::{Method, Operation, Outcome, Scep, ScepRequest, ScepResponse};

/// The README's example, compiled as a doctest.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The `x509-cert` crate, whose [`x509_cert::Certificate`] this API hands out.
pub use x509_cert;

/// A test CA for the unit tests, without the `client` feature.
#[cfg(test)]
pub(crate) mod client_test_support {
    use std::sync::OnceLock;

    /// An RSA-2048 CA (certificate and key, PEM), made once per test run.
    pub(crate) fn ca_pem() -> String {
        static PEM: OnceLock<String> = OnceLock::new();
        PEM.get_or_init(|| {
            let key = crate::PrivateKey::generate(crate::KeyAlgorithm::Rsa2048).unwrap();
            crate::ca::self_signed_ca_pem(&key, "CN=Unit Test CA").unwrap()
        })
        .clone()
    }
}
