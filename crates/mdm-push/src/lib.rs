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
//! * [`Pusher`]: pushes to enrollment ids via the storage traits, one client per topic, rebuilt
//!   when the stored certificate changes.
//! * `mock::MockApns` (feature `mock`): a loopback HTTP/2 TLS server that behaves like APNs, for
//!   tests and benchmarks.
//!
//! Apple's hosts are only defaults ([`Environment`]); any base URL can be targeted.

#![deny(missing_docs)]

mod cert;
mod client;
mod error;
#[cfg(feature = "mock")]
pub mod mock;
mod pusher;

pub use cert::{MDM_TOPIC_PREFIX, PushCertError, PushCertificate};
pub use client::{
    ApnsClient, ApnsConfig, ApnsId, ClientError, DEVELOPMENT_URL, Environment, Expiration,
    PRODUCTION_URL,
};
pub use error::{PushError, Reason};
pub use pusher::{PushFailure, PushResults, Pusher};
