//! APNs push for Apple MDM.
//!
//! Commands wait in the queue until the device checks in, and a device checks in when APNs wakes
//! it. This crate does the waking:
//!
//! * [`PushCertificate`]: the customer's MDM push certificate and key from PEM, with its topic
//!   (the Subject UID, `com.apple.mgmt.External.<uuid>`) and expiry.
//! * [`ApnsClient`]: HTTP/2 (prior knowledge, one multiplexed connection) over rustls with the
//!   push certificate as client identity; `POST /3/device/<token>` with `{"mdm":"<PushMagic>"}`;
//!   typed errors for every APNs reason and transport failure.
//! * `mock::MockApns` (feature `mock`): a loopback HTTP/2 TLS server that behaves like APNs, for
//!   tests and benchmarks.
//!
//! Apple's hosts are only defaults ([`Environment`]); any base URL can be targeted. The crate knows
//! nothing of enrollments or storage: pushing to enrollment ids (push info and certificates read
//! from storage, a client per topic) is `mdm-service`'s `Pusher`.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod cert;
mod client;
mod error;
#[cfg(feature = "mock")]
pub mod mock;

pub use cert::{MDM_TOPIC_PREFIX, PushCertError, PushCertificate};
pub use client::{
    ApnsClient, ApnsConfig, ApnsId, ClientError, DEVELOPMENT_URL, Environment, Expiration,
    PRODUCTION_URL,
};
pub use error::{PushError, Reason};

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
