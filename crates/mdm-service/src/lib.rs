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
//! | [`MdmTraceLayer`] | a `tracing` span per request with the request id and enrollment id |
//! | [`DumpLayer`] | writes raw requests and responses to a writer (`-dump`) |
//! | [`CertAuthLayer`] | binds identity certificates to device channels and enforces the binding |
//! | [`WebhookLayer`] | MicroMDM-compatible webhook events, delivered in the background |
//!
//! [`StackBuilder`] composes them in NanoMDM's order, with room for layers of your own at named
//! [`StackPosition`]s. Nothing here parses HTTP: the service is usable without a network (the
//! HTTP adapter is `mdm-http`). The outbound calls some features make (webhooks, Declarative
//! Management forwarding, APNs pushes through [`Enqueuer`]) use an HTTP client.
//!
//! A core with a layer of its own — here one that refuses a device by its enrollment id, with
//! the status and JSON body Apple's enrollment service uses — answering a device with no HTTP in
//! between:
//!
//! ```
//! use mdm_proto::CheckIn;
//! use mdm_service::{MdmError, MdmRequest, MdmService, StackBuilder, StackPosition};
//! use mdm_storage::MemoryStore;
//! use tower::{ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A block list as a tower layer: refuse one device before certauth runs.
//! let block_list = tower::layer::layer_fn(|inner: mdm_service::BoxMdmService| {
//!     service_fn(move |request: MdmRequest| {
//!         let inner = inner.clone();
//!         async move {
//!             if request.enroll_id.id() == "BLOCKED-UDID" {
//!                 let body = serde_json::json!({"code": "com.apple.unrecognized.device"});
//!                 return Err(MdmError::refused_json(403, &body));
//!             }
//!             inner.oneshot(request).await
//!         }
//!     })
//! });
//! let store = std::sync::Arc::new(MemoryStore::new());
//! let stack = StackBuilder::new(MdmService::new(store))
//!     .layer(StackPosition::BeforeCertAuth, block_list)
//!     .build();
//!
//! let body = b"<plist><dict><key>MessageType</key><string>Authenticate</string>\
//!     <key>Topic</key><string>com.apple.mgmt.External.1</string>\
//!     <key>UDID</key><string>BLOCKED-UDID</string></dict></plist>";
//! let request = MdmRequest::check_in(CheckIn::decode(&body[..]).unwrap()).unwrap();
//! let refused = stack.service.oneshot(request).await.unwrap_err();
//! assert_eq!(refused.status(), 403);
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod certauth;
mod core;
mod declarative;
mod dump;
mod error;
mod get_token;
mod hmac_sig;
pub mod metrics;
mod push;
mod request;
mod retention;
mod stack;
mod trace;
mod user_authenticate;
mod webhook;

pub use certauth::{CertAuth, CertAuthError, CertAuthLayer, DEFAULT_ASSOCIATION_CACHE};
pub use core::MdmService;
pub use declarative::{
    DeclarativeManagementError, DeclarativeManagementForwarder, DeclarativeManagementHandler,
};
pub use dump::{Dump, DumpLayer};
pub use error::{MdmError, Refusal};
pub use get_token::{GetTokenError, GetTokenHandler, GetTokenMux, StaticToken};
pub use metrics::{Metrics, MetricsLayer};
pub use push::{Enqueued, Enqueuer, PushFailure, PushResults, Pusher};
pub use request::{DeviceIdentity, MdmMessage, MdmRequest, MdmResponse, MessageKind, RequestId};
pub use retention::RetentionSweep;
pub use stack::{BoxMdmService, Stack, StackBuilder, StackPosition};
pub use trace::{MdmTrace, MdmTraceLayer};
pub use user_authenticate::UserAuthenticatePolicy;
pub use webhook::{Webhook, WebhookConfig, WebhookEvent, WebhookLayer, WebhookWorker};

/// Takes the inner service that `poll_ready` readied, leaving a clone in its place for the next
/// call: the ready one moves into the response future. This is tower's pattern for a layer whose
/// response future calls the inner service (see tower's "Be careful when cloning inner services"):
/// the clone left behind has not been polled ready, the one taken has.
///
/// ```
/// # use std::task::{Context, Poll};
/// # use mdm_service::{MdmError, MdmRequest, MdmResponse};
/// # use futures_util::future::BoxFuture;
/// #[derive(Clone)]
/// struct Audit<S>(S);
///
/// impl<S> tower::Service<MdmRequest> for Audit<S>
/// where
///     S: tower::Service<MdmRequest, Response = MdmResponse, Error = MdmError> + Clone + Send + 'static,
///     S::Future: Send,
/// {
///     type Response = MdmResponse;
///     type Error = MdmError;
///     type Future = BoxFuture<'static, Result<MdmResponse, MdmError>>;
///
///     fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), MdmError>> {
///         self.0.poll_ready(cx)
///     }
///
///     fn call(&mut self, request: MdmRequest) -> Self::Future {
///         let mut inner = mdm_service::take_ready(&mut self.0);
///         Box::pin(async move {
///             let id = request.enroll_id.clone();
///             let response = inner.call(request).await;
///             println!("{id}: {}", response.is_ok());
///             response
///         })
///     }
/// }
/// ```
pub fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
