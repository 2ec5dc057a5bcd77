//! The Apple MDM core as a [`tower::Service`], and the layers a NanoMDM-compatible server puts
//! around it.
//!
//! A request is an [`MdmRequest`]: the decoded check-in or command report with its raw bytes,
//! the device identity certificate the transport verified (if any), the URL query parameters and
//! the resolved enrollment id. The core ([`MdmService`]) makes the protocol decisions and calls
//! the storage traits of `mdm-storage`; everything cross-cutting is a [`tower::Layer`]:
//!
//! | layer | does |
//! |---|---|
//! | [`TraceLayer`] | a `tracing` span per request with the request id and enrollment id |
//! | [`DumpLayer`] | writes raw requests and responses to a writer (`-dump`) |
//! | [`CertAuthLayer`] | binds identity certificates to device channels and enforces the binding |
//! | [`WebhookLayer`] | MicroMDM-compatible webhook events, delivered in the background |
//!
//! [`nanomdm_stack`] composes them in NanoMDM's order. Nothing here parses HTTP: the service is
//! usable without a network (the HTTP adapter is `mdm-http`). The outbound calls some features
//! make (webhooks, Declarative Management forwarding) use an HTTP client.

#![deny(missing_docs)]

mod certauth;
mod core;
mod declarative;
mod dump;
mod error;
mod get_token;
mod hmac_sig;
mod request;
mod stack;
mod trace;
mod user_authenticate;
mod webhook;

pub use certauth::{CertAuthError, CertAuthLayer, CertAuthService};
pub use core::MdmService;
pub use declarative::{
    DeclarativeManagement, DeclarativeManagementError, DeclarativeManagementForwarder,
};
pub use dump::{DumpLayer, DumpService};
pub use error::MdmError;
pub use get_token::{GetTokenError, GetTokenHandler, GetTokenMux, StaticToken};
pub use request::{DeviceIdentity, MdmMessage, MdmRequest, MdmResponse, RequestId};
pub use stack::{BoxMdmService, NanoMdmOptions, nanomdm_stack};
pub use trace::{TraceLayer, TraceService};
pub use user_authenticate::UserAuthenticatePolicy;
pub use webhook::{WebhookConfig, WebhookEvent, WebhookLayer, WebhookService};

/// Takes the inner service that `poll_ready` readied, leaving a clone in its place for the next
/// call: the ready one moves into the response future (tower's pattern for services whose
/// futures outlive `call`).
fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}
