//! Simulated Apple devices for testing and load-testing MDM servers.
//!
//! What NanoMDM's test enrollments and its `mdmb` benchmark tool do, as a library:
//!
//! * [`TestCa`] and [`Identity`]: a CA that issues device identity certificates (RSA-2048 or
//!   P-256), or identities loaded from PEM. Give the server [`TestCa::cert_pem`] as the CA
//!   it trusts for device identities.
//! * [`Device`]: a device of each enrollment type ([`DeviceKind`]) with realistic keys — model,
//!   OS version, serial number, topic, random push token and magic, unlock token — and its
//!   [`Channel`]s, each resolving to the enrollment id a server files it under.
//! * [`MdmClient`]: the device's MDM client as a state machine without I/O. It produces
//!   [`Request`]s (method, URL, headers including `Content-Type` and `Mdm-Signature`, body) and
//!   consumes [`Response`]s: enroll (`Authenticate`, `TokenUpdate`), check in, answer commands
//!   ([`Answer`]), re-enroll, check out. Every command of Apple's schema is answered with a
//!   report that decodes to the command's typed response in `mdm-commands`.
//! * `HttpDriver` (feature `http`, on by default): sends those requests with `reqwest`, and
//!   enrolls a device as a real one does (`HttpDriver::enroll_with_profile`: the enrollment
//!   profile, SCEP with its challenge, then Authenticate and TokenUpdate with the issued
//!   identity).
//!
//! Signing is a separate step ([`MdmClient::build_request`] then [`MdmClient::sign`]), so a load
//! generator can sign requests ahead of time and send clones of them.
//!
//! ```
//! use mdm_sim::{Channel, Device, DeviceKind, Event, MdmClient, MdmPayload, Response};
//! use mdm_sim::proto::{Command, CommandReport, Status};
//!
//! let device = Device::generate(DeviceKind::MacOs, 7);
//! let payload = MdmPayload::new("https://mdm.example/mdm", "com.apple.mgmt.External.x");
//! let mut client = MdmClient::new(device, payload);
//!
//! // Wake the device: it reports Idle and the server answers with a command.
//! client.check_in(Channel::Device);
//! let idle = client.poll_request()?.unwrap();
//! assert_eq!(CommandReport::decode(idle.body().clone())?.status, Status::Idle);
//! let command = Command::build("6b2f…", "ProfileList", Default::default());
//! let event = client.handle_response(Response::new(200, command.bytes().clone()))?;
//! assert!(matches!(event, Event::Report { next_command: Some(_), .. }));
//!
//! // It answers the command on its next request.
//! let answer = client.poll_request()?.unwrap();
//! let report = CommandReport::decode(answer.body().clone())?;
//! assert_eq!(report.status, Status::Acknowledged);
//! assert_eq!(report.command_uuid.as_deref(), Some("6b2f…"));
//! client.handle_response(Response::new(200, ""))?;
//! assert!(client.is_idle());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod client;
mod device;
#[cfg(feature = "http")]
mod enroll;
mod error;
#[cfg(feature = "http")]
mod http;
mod identity;
mod message;
mod request;
mod results;

pub use client::{Answer, Event, MdmClient};
pub use device::{Channel, Device, DeviceKind, PushCredentials, User};
#[cfg(feature = "http")]
pub use enroll::EnrollError;
pub use error::Error;
#[cfg(feature = "http")]
pub use http::{DriverError, HttpDriver, HttpDriverBuilder};
pub use identity::{CertHeaderEncoding, CertPresentation, Identity};
pub use mdm_signature::test_pki::{KeyKind, TestCa};
pub use message::{Message, Report};
pub use request::{
    CHECK_IN_CONTENT_TYPE, COMMAND_CONTENT_TYPE, MDM_SIGNATURE, MdmPayload, Request, Response,
};

/// The protocol types the simulator builds and reads, re-exported so tests decode with the same
/// version.
pub use mdm_proto as proto;
/// The signature crate, for [`signer::SignOptions`](mdm_signature::signer::SignOptions) and
/// verifying what a simulated device sends.
pub use mdm_signature as signature;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
