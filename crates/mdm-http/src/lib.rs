//! The HTTP adapter of an Apple MDM server: NanoMDM v0.9's endpoints, status codes and JSON on
//! axum and tower, with no protocol decisions of its own (those are `mdm-service`'s).
//!
//! [`MdmHttp::builder`] assembles an [`axum::Router`] you can serve as it is ([`serve`]) or mount
//! in your own application:
//!
//! | path | what | guarded by |
//! |---|---|---|
//! | `/mdm` | check-ins (by `Content-Type`) and the command channel | device certificate |
//! | `/checkin` | check-ins, when a separate check-in URL is enabled | device certificate |
//! | `/authproxy/…` | reverse proxy with `X-Enrollment-ID` | device certificate + binding |
//! | `/v1/pushcert` | store (`PUT`) or read (`GET ?topic=`) the push certificate | API key |
//! | `/v1/push/<ids>` | push to enrollments | API key |
//! | `/v1/enqueue/<ids>` | enqueue a command and push | API key |
//! | `/v1/commands/<ids>` | `POST` a command as JSON, typed by `mdm-commands`; enqueue and push as `/v1/enqueue/` | API key |
//! | `/v1/commands/<uuid>` | `GET` a command and each enrollment's status and result (the report as JSON) | API key |
//! | `/v1/enrollments` | `GET` enrollments, a page at a time, filtered by type, enabled, serial number, device | API key |
//! | `/v1/enrollments/<id>` | `GET` one enrollment | API key |
//! | `/v1/enrollments/<id>/queue[/<uuid>]` | `GET` its queue; `DELETE` one command or all | API key |
//! | `/v1/escrowkeyunlock` | Apple's escrow key unlock, with the push certificate | API key |
//! | `/migration` | replay check-ins from another server into the core | API key |
//! | `/version` | `{"version":"…"}` | — |
//!
//! The pieces are tower layers, usable on their own: [`ExtractCertLayer`] (the certificate from
//! `Mdm-Signature` or a proxy header), [`VerifyCertLayer`] (chain to the device CAs),
//! [`BasicAuthLayer`] (the API key) and [`RequestLogLayer`] (a request id and a log line per
//! request). Devices are never answered 401: certificate problems are 400, binding problems 500,
//! a declined UserAuthenticate 410, a body over the limit 413.
//!
//! ```
//! use std::sync::Arc;
//!
//! use mdm_http::{MdmHttp, ServeOptions, serve};
//! use mdm_service::{MdmService, StackBuilder};
//! use mdm_signature::{CaPool, CachedVerifier, CertVerifier};
//! use mdm_storage::{DynStorage, MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let ca = mdm_signature::test_pki::TestCa::generate(
//! #     mdm_signature::test_pki::KeyKind::P256, "docs CA")?;
//! # let device_ca_pem = ca.cert_pem();
//! // The store, the MDM core in NanoMDM's stack, and the CAs that issue device identities.
//! let store = DynStorage::new(MemoryStore::new());
//! let core = StackBuilder::new(MdmService::new(store.clone())).build().service;
//! let verifier: Arc<dyn CertVerifier> =
//!     Arc::new(CachedVerifier::new(CaPool::from_pem(device_ca_pem)?, 10_000));
//!
//! let router = MdmHttp::builder(store)
//!     .mdm(core, verifier)
//!     .api("an API key")
//!     .build();
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(serve(listener, router, ServeOptions::default(), async {
//!     let _ = stopped.await;
//! }));
//!
//! let version = reqwest::get(format!("http://{address}/version")).await?.text().await?;
//! assert!(version.starts_with(r#"{"version":"#));
//! let _ = stop.send(());
//! server.await??;
//! # Ok(())
//! # }
//! ```
//!
//! The reference server — NanoMDM's command line and environment variables on top of this
//! router — is the `rootstock-server` crate.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
// Requests are untrusted: no panics, no indexing and no unchecked arithmetic outside tests, except
// where a comment proves it cannot fail.
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

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use axum::routing::{any, delete, get};
use http::{HeaderName, StatusCode};
use mdm_proto::DecodeLimits;
use mdm_push::ApnsConfig;
use mdm_service::{BoxMdmService, Enqueuer};
use mdm_signature::CertVerifier;
use mdm_storage::DynStorage;
use tower::ServiceBuilder;
use url::Url;

mod api;
mod auth;
mod authproxy;
mod body;
mod budget;
mod cert;
mod mdm;
pub mod migrate;
mod mux;
mod request_id;
mod response;
mod serve;
mod target;

pub use api::{
    ApiResult, CommandBodyError, CommandBodyErrorKind, CommandRecord, DEFAULT_ENROLLMENTS_PAGE,
    DeliveryRecord, ESCROW_KEY_UNLOCK_URL, EnrollmentInfo, EnrollmentList, EnrollmentResult,
    MAX_ENROLLMENTS_PAGE, MAX_QUEUE_LISTED, PushCertInfo, QueueEntry, QueueList,
};
pub use auth::{API_USER, BasicAuth, BasicAuthLayer};
pub use authproxy::{X_ENROLLMENT_ID, X_TRACE_ID};
pub use body::BodyError;
pub use budget::{BodyBudget, BodyBudgetExhausted, BudgetedBodies, BudgetedBodiesLayer};
pub use cert::{
    CertSource, ExtractCert, ExtractCertLayer, ExtractedCert, MDM_SIGNATURE, VerifiedCert,
    VerifyCert, VerifyCertLayer,
};
pub use mdm::CHECK_IN_CONTENT_TYPE;
pub use mux::{PathClean, PathCleanLayer};
pub use request_id::{RequestLog, RequestLogLayer};
pub use serve::{BodyTimeout, ServeOptions, bind, serve};

/// The default request body limit: 32 MiB, enough for a large `InstalledApplicationList`.
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The longest enrollment id a device may enroll with, in bytes; a check-in or report with a
/// longer one, or with an id the API could not name in a path (one with a `,`, or with an
/// empty, `.` or `..` path segment), is refused with `400`. Real ids are far shorter (a UDID is
/// 25 to 40 characters, a Shared iPad user channel adds a managed Apple Account), and even
/// percent-encoded throughout, an id this long fits an API request head with room to spare.
pub const MAX_ENROLLMENT_ID_BYTES: usize = 4096;

/// The default [`BodyBudget`]: 256 MiB of request bodies in flight at once, eight of the largest.
pub const DEFAULT_BODY_BUDGET: usize = 256 * 1024 * 1024;

/// Entry point: [`MdmHttp::builder`].
#[derive(Debug)]
pub struct MdmHttp;

impl MdmHttp {
    /// Starts a router over `store` (used by the API, the pusher and the auth proxy). Add the
    /// device endpoints with [`MdmHttpBuilder::mdm`] and the API with [`MdmHttpBuilder::api`];
    /// `/version` is always there.
    pub fn builder(store: DynStorage) -> MdmHttpBuilder {
        MdmHttpBuilder {
            store,
            mdm: None,
            cert_source: CertSource::MdmSignature,
            check_in_endpoint: false,
            api_key: None,
            apns: ApnsConfig::default(),
            enqueuer: None,
            migration: None,
            auth_proxy: None,
            proxy_client: None,
            body_limit: DEFAULT_BODY_LIMIT,
            limits: DecodeLimits::default(),
            body_budget: BodyBudget::new(DEFAULT_BODY_BUDGET),
            version: concat!("v", env!("CARGO_PKG_VERSION")).to_owned(),
            routes: Vec::new(),
            // A constant, tested below.
            #[allow(clippy::expect_used)]
            escrow_url: Url::parse(ESCROW_KEY_UNLOCK_URL).expect("a valid constant URL"),
            escrow_timeout: Duration::from_secs(60),
        }
    }
}

/// Settings for the router; see [`MdmHttp::builder`].
pub struct MdmHttpBuilder {
    store: DynStorage,
    mdm: Option<(BoxMdmService, Arc<dyn CertVerifier>)>,
    cert_source: CertSource,
    check_in_endpoint: bool,
    api_key: Option<String>,
    apns: ApnsConfig,
    enqueuer: Option<Enqueuer<DynStorage>>,
    migration: Option<BoxMdmService>,
    auth_proxy: Option<Url>,
    proxy_client: Option<reqwest::Client>,
    body_limit: usize,
    limits: DecodeLimits,
    body_budget: BodyBudget,
    version: String,
    routes: Vec<Router>,
    escrow_url: Url,
    escrow_timeout: Duration,
}

impl std::fmt::Debug for MdmHttpBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdmHttpBuilder")
            .field("mdm", &self.mdm.is_some())
            .field("cert_source", &self.cert_source)
            .field("check_in_endpoint", &self.check_in_endpoint)
            .field("api", &self.api_key.is_some())
            .field("migration", &self.migration.is_some())
            .field("auth_proxy", &self.auth_proxy)
            .field("body_limit", &self.body_limit)
            .field("limits", &self.limits)
            .field("body_budget", &self.body_budget.bytes())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl MdmHttpBuilder {
    /// Serves devices at `/mdm` with `service` (usually built by [`mdm_service::StackBuilder`]),
    /// trusting device certificates that `verifier` accepts. Without it there are no device
    /// endpoints (NanoMDM `-disable-mdm`).
    pub fn mdm(mut self, service: BoxMdmService, verifier: Arc<dyn CertVerifier>) -> Self {
        self.mdm = Some((service, verifier));
        self
    }

    /// Reads the device certificate from this header, set by a TLS-terminating proxy, instead of
    /// from `Mdm-Signature` (NanoMDM `-cert-header`).
    pub fn cert_header(mut self, name: HeaderName) -> Self {
        self.cert_source = CertSource::Header(name);
        self
    }

    /// Serves check-ins at `/checkin` and only the command channel at `/mdm` (NanoMDM
    /// `-checkin`).
    pub fn check_in_endpoint(mut self, enabled: bool) -> Self {
        self.check_in_endpoint = enabled;
        self
    }

    /// Enables the API, with `api_key` as the Basic-auth password of user `nanomdm` (NanoMDM
    /// `-api`). An empty key leaves the API off, as in NanoMDM.
    pub fn api(mut self, api_key: impl Into<String>) -> Self {
        let key = api_key.into();
        self.api_key = (!key.is_empty()).then_some(key);
        self
    }

    /// Where and how pushes go (default: Apple's production APNs). Tests point this at a
    /// `mdm_push::mock::MockApns`. Not used when [`enqueuer`](Self::enqueuer) gives one.
    pub fn apns(mut self, config: ApnsConfig) -> Self {
        self.apns = config;
        self
    }

    /// The [`Enqueuer`] the API enqueues and pushes with (default: one over the router's store
    /// and [`apns`](Self::apns) settings). Give a clone of your own to enqueue and push from
    /// code as well, with the same APNs connections.
    pub fn enqueuer(mut self, enqueuer: Enqueuer<DynStorage>) -> Self {
        self.enqueuer = Some(enqueuer);
        self
    }

    /// Enables `/migration` (with the API), answering with `core`: the bare core service,
    /// without certificate binding or webhooks (NanoMDM `-migration`).
    pub fn migration(mut self, core: BoxMdmService) -> Self {
        self.migration = Some(core);
        self
    }

    /// Enables `/authproxy/`, forwarding to `target` (NanoMDM `-auth-proxy-url`).
    pub fn auth_proxy(mut self, target: Url) -> Self {
        self.auth_proxy = Some(target);
        self
    }

    /// The HTTP client the auth proxy forwards with (default: no redirects followed, proxies
    /// from the environment).
    pub fn auth_proxy_client(mut self, client: reqwest::Client) -> Self {
        self.proxy_client = Some(client);
        self
    }

    /// The largest request body accepted, in bytes (default [`DEFAULT_BODY_LIMIT`]); larger
    /// ones get 413. It is also the body size the property-list decoder accepts, whatever
    /// [`decode_limits`](Self::decode_limits) says.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How many bytes of request bodies the requests in flight may hold together (default
    /// [`DEFAULT_BODY_BUDGET`]); a request that does not fit gets 503 with `Retry-After`. Pass a
    /// [`BodyBudget`] clone to share one budget between several routers.
    pub fn body_budget(mut self, budget: BodyBudget) -> Self {
        self.body_budget = budget;
        self
    }

    /// Property-list decoding limits (nesting depth, object counts); the body size is
    /// [`body_limit`](Self::body_limit)'s.
    pub fn decode_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds routes of your own (an admin page, `/metrics`): they are served beside the MDM
    /// routes and get what those get — path cleaning, the request log and id, the body budget.
    /// Their paths must not be the MDM routes'.
    pub fn merge(mut self, routes: Router) -> Self {
        self.routes.push(routes);
        self
    }

    /// The version `/version` reports (default `v` + this crate's version).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Where `/v1/escrowkeyunlock` sends requests (default [`ESCROW_KEY_UNLOCK_URL`]).
    pub fn escrow_key_unlock_url(mut self, url: Url) -> Self {
        self.escrow_url = url;
        self
    }

    /// How long `/v1/escrowkeyunlock` waits for Apple (default 60 s).
    pub fn escrow_key_unlock_timeout(mut self, timeout: Duration) -> Self {
        self.escrow_timeout = timeout;
        self
    }

    /// Builds the router. Like NanoMDM's Go mux, it redirects (`301`) a path that is not clean
    /// (`//mdm`, `/a/../mdm`, `/v1/enqueue/%2e%2e`) to its clean form and a subtree without its
    /// slash (`/v1/push`) to the subtree, before any handler or authentication runs; it answers
    /// unknown paths with `404 page not found`; it gives every request an id and a log line
    /// ([`RequestLogLayer`]).
    pub fn build(self) -> Router {
        let (routes, subtrees) = self.assemble();
        routes
            .fallback(not_found)
            .layer(PathCleanLayer::new(subtrees))
            .layer(RequestLogLayer)
    }

    /// Builds the routes alone, for an application router of your own: no fallback (so it
    /// merges into a router that has one), no path cleaning and no request log. Put those around
    /// the whole application, so your routes get them too; [`path_clean_layer`](Self::path_clean_layer)
    /// gives the path cleaning [`build`](Self::build) applies, with these routes' subtrees:
    ///
    /// ```no_run
    /// # fn demo(mdm: mdm_http::MdmHttpBuilder) -> axum::Router {
    /// use mdm_http::RequestLogLayer;
    ///
    /// let path_clean = mdm.path_clean_layer();
    /// axum::Router::new()
    ///     .route("/admin/health", axum::routing::get(|| async { "ok" }))
    ///     .merge(mdm.build_routes())
    ///     .fallback(|| async { (http::StatusCode::NOT_FOUND, "no such page") })
    ///     .layer(path_clean)
    ///     .layer(RequestLogLayer)
    /// # }
    /// ```
    pub fn build_routes(self) -> Router {
        self.assemble().0
    }

    /// The path cleaning [`build`](Self::build) puts around the routes, for an application that
    /// merges [`build_routes`](Self::build_routes) into its own router: Go's mux rules, with the
    /// subtrees these settings serve (`/v1/push/`, `/v1/enqueue/` and `/v1/commands/` with the
    /// API, `/authproxy/` with the auth proxy) redirected to from their slashless paths.
    pub fn path_clean_layer(&self) -> PathCleanLayer {
        PathCleanLayer::new(self.subtrees())
    }

    /// Subtrees whose slashless path Go's mux redirects to them. `/v1/enrollments` is a route of
    /// its own (the list), so, as in Go's mux, it is not redirected to `/v1/enrollments/`.
    fn subtrees(&self) -> Vec<&'static str> {
        let mut subtrees = Vec::new();
        if self.mdm.is_some() && self.auth_proxy.is_some() {
            subtrees.push("/authproxy/");
        }
        if self.api_key.is_some() {
            subtrees.extend(["/v1/push/", "/v1/enqueue/", "/v1/commands/"]);
        }
        subtrees
    }

    /// The routes, with the body budget applied, and the subtrees path cleaning redirects to.
    fn assemble(self) -> (Router, Vec<&'static str>) {
        let mut router = Router::new();
        let subtrees = self.subtrees();
        let body_limit = self.body_limit;
        let limits = self.limits.max_body_bytes(body_limit);
        if let Some((service, verifier)) = self.mdm {
            let device_layers = ServiceBuilder::new()
                .layer(ExtractCertLayer::new(self.cert_source.clone(), body_limit))
                .layer(VerifyCertLayer::new(verifier));
            let endpoint = |channel| {
                any(mdm::handle)
                    .with_state(mdm::MdmState {
                        service: service.clone(),
                        channel,
                        limits,
                    })
                    .layer(device_layers.clone())
            };
            if self.check_in_endpoint {
                router = router
                    .route("/mdm", endpoint(mdm::Channel::Command))
                    .route("/checkin", endpoint(mdm::Channel::CheckIn));
            } else {
                router = router.route("/mdm", endpoint(mdm::Channel::ByContentType));
            }
            if let Some(target) = self.auth_proxy {
                // Fails only if the TLS backend cannot start, at build time, before any request.
                #[allow(clippy::expect_used)]
                let client = self.proxy_client.unwrap_or_else(|| {
                    reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .expect("a client with default TLS settings builds")
                });
                let proxy = any(authproxy::auth_proxy)
                    .with_state(authproxy::AuthProxyState {
                        store: self.store.clone(),
                        target,
                        client,
                        body_limit,
                    })
                    .layer(device_layers);
                router = router
                    .route("/authproxy/", proxy.clone())
                    .route("/authproxy/{*rest}", proxy);
            }
        }
        if let Some(key) = self.api_key {
            let state = api::ApiState {
                store: self.store.clone(),
                enqueuer: self
                    .enqueuer
                    .unwrap_or_else(|| Enqueuer::new(self.store.clone(), self.apns)),
                limits,
                escrow_url: self.escrow_url,
                escrow_timeout: self.escrow_timeout,
            };
            let mut api = Router::new()
                .route("/v1/pushcert", any(api::push_cert))
                .route("/v1/push/", any(api::push))
                .route("/v1/push/{*ids}", any(api::push))
                .route("/v1/enqueue/", any(api::enqueue))
                .route("/v1/enqueue/{*ids}", any(api::enqueue))
                // Ours, not NanoMDM's: `POST` enqueues a JSON command, `GET` reads a command's
                // results (any other method is 405).
                .route("/v1/commands/", get(api::command).post(api::commands))
                .route("/v1/commands/{*ids}", get(api::command).post(api::commands))
                // Ours: inspection. An id is one path segment (a `/` in it is sent as `%2F`).
                .route("/v1/enrollments", get(api::list_enrollments))
                .route("/v1/enrollments/{id}", get(api::enrollment))
                .route(
                    "/v1/enrollments/{id}/queue",
                    get(api::queue).delete(api::clear_queue),
                )
                .route(
                    "/v1/enrollments/{id}/queue/{command_uuid}",
                    delete(api::remove_queued),
                )
                .route("/v1/escrowkeyunlock", any(api::escrow_key_unlock))
                .with_state(state);
            if let Some(core) = self.migration {
                api = api.route(
                    "/migration",
                    any(mdm::handle).with_state(mdm::MdmState {
                        service: core,
                        channel: mdm::Channel::CheckIn,
                        limits,
                    }),
                );
            }
            router = router.merge(api.route_layer(BasicAuthLayer::new(key)));
        } else if self.migration.is_some() {
            tracing::warn!("/migration needs the API (an API key); not enabled");
        }
        for routes in self.routes {
            router = router.merge(routes);
        }
        let version = self.version;
        let routes = router
            .route(
                "/version",
                any(move || std::future::ready(api::version_response(&version))),
            )
            .layer(BudgetedBodiesLayer::new(self.body_budget));
        (routes, subtrees)
    }
}

/// Go's mux for a path no route takes (the path is clean: see [`mux`]).
async fn not_found() -> Response {
    response::plain_text(StatusCode::NOT_FOUND, "404 page not found")
}

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
