//! The Rootstock reference server: NanoMDM v0.9's command line and environment on top of
//! `mdm-http`'s [`MdmHttp`] router, so an operator can swap it in for NanoMDM unchanged.
//!
//! ```text
//! server -api KEY -ca ca.pem -listen 127.0.0.1:9000 -storage sqlite -storage-dsn db.sqlite
//! NANOMDM_API=KEY NANOMDM_CA=ca.pem NANOMDM_STORAGE=sqlite … server
//! server --dev        # first run: creates a development CA and API key, never for production
//! ```
//!
//! ```
//! use std::collections::HashMap;
//! use rootstock_server::{Invocation, parse};
//!
//! let args = ["-api", "s3cret", "-ca", "ca.pem", "-storage", "inmem", "-metrics"];
//! let Invocation::Run(flags) = parse(args.map(String::from).to_vec(), &HashMap::new()).unwrap()
//! else {
//!     unreachable!("a command line that runs the server")
//! };
//! assert!(flags.metrics);
//! // The API key and the HMAC keys never print.
//! assert!(!format!("{flags:?}").contains("s3cret"));
//! ```
//!
//! [`main`] is the whole program (what the `rootstock-server` binary and `examples/server.rs`
//! call); [`parse`], [`start`] and [`Server::run`] are its steps, for running the server
//! in-process (tests, embedding). It is a crate of its own, apart from the `mdm-http` library,
//! so that the library does not carry flags, logging setup and every database driver.
//!
//! Differences from NanoMDM, all additive: the default storage is SQLite (`nanomdm.sqlite` in
//! the working directory) since NanoMDM's `filekv` is not provided; request bodies are limited
//! (`-body-limit`, 413 over it), header and body reads time out (`-header-timeout`,
//! `-body-timeout`); SIGTERM and SIGINT shut down gracefully; logs are structured and carry a
//! request id; APNs and the escrow-unlock upstream can be redirected (`-apns-url`,
//! `-apns-root-ca`, `-escrow-url`).

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use http::HeaderName;
use mdm_push::{ApnsConfig, Environment};
use mdm_service::{
    DeclarativeManagementForwarder, GetTokenMux, MdmService, MdmTraceLayer, RetentionSweep,
    StackBuilder, UserAuthenticatePolicy, WebhookConfig, WebhookWorker,
};
use mdm_signature::{CaPool, CachedVerifier, CertVerifier};
use mdm_storage::DynStorage;
use tokio::net::TcpListener;
use tower::Layer;
use tower::util::BoxCloneSyncService;
use url::Url;

use mdm_http::{MdmHttp, ServeOptions};

mod dev;
mod enroll;
mod flags;
mod storage;

pub use dev::DevError;
pub use flags::{ENV_PREFIX, FlagError, Flags, Invocation, env_name, parse, usage};
pub use storage::{
    ImportTarget, StorageSetupError, StorageSpec, open_import_storage, open_storage, storage_specs,
};

/// The version `-version` prints and `/version` reports.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// The SQLite database used when no storage is named (outside `-dev`).
pub const DEFAULT_SQLITE_PATH: &str = "nanomdm.sqlite";

/// Why the server did not start. Each message says which flag to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// `-disable-mdm` without `-api`.
    #[error("nothing for server to do: -disable-mdm needs -api")]
    NothingToDo,
    /// No `-ca` (and no `-dev`).
    #[error("must supply CA cert path flag (-ca), or run with -dev")]
    MissingCa,
    /// `-metrics-auth` without an API key to check.
    #[error("-metrics-auth needs -api (the key /metrics asks for)")]
    MetricsAuthWithoutApi,
    /// A PEM file could not be read.
    #[error("reading {flag} file {path:?}: {source}")]
    Read {
        /// The flag naming the file.
        flag: &'static str,
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `-ca` holds no usable certificate.
    #[error("could not append root CA(s) from {path:?}: {source}")]
    Ca {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: mdm_signature::Error,
    },
    /// `-intermediate` holds no usable certificate.
    #[error("could not append intermediate CA(s) from {path:?}: {source}")]
    Intermediate {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: mdm_signature::Error,
    },
    /// A URL flag is not a valid absolute URL.
    #[error("invalid {flag} URL {value:?}: {source}")]
    Url {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
        /// Why.
        #[source]
        source: url::ParseError,
    },
    /// `-cert-header` is not a valid header name.
    #[error("invalid -cert-header {0:?}: not an HTTP header name")]
    CertHeader(String),
    /// `-dev` could not prepare its data directory.
    #[error(transparent)]
    Dev(#[from] DevError),
    /// The storage flags are wrong or a backend could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageSetupError),
    /// `-scep-ca`, `-scep-challenge` or `-enroll-signer` is wrong.
    #[error("SCEP/enrollment: {0}")]
    Scep(String),
    /// The listen address could not be bound.
    #[error("listening on {address:?}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A server ready to run: storage open, listener bound.
pub struct Server {
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    api_key: Option<String>,
    dev_banner: Option<String>,
    webhook_worker: Option<WebhookWorker>,
    retention: Option<RetentionSweep<DynStorage>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// The address the server listens on (useful with `-listen 127.0.0.1:0`).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The API key in effect (given with `-api`, or the one `-dev` created), if the API is on.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// The router, e.g. to serve it some other way.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight and delivers the
    /// webhook events they queued (for as long as the shutdown grace period allows).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let address = self.listener.local_addr()?;
        tracing::info!(%address, version = VERSION, "listening");
        if let Some(banner) = &self.dev_banner {
            eprintln!("{banner}");
        }
        let webhook = self.webhook_worker.map(|worker| tokio::spawn(worker.run()));
        let retention = self.retention.map(|sweep| tokio::spawn(sweep.run()));
        let grace = self.options.shutdown_grace;
        // Serving drops the router, and with it the webhook's queue: the worker then delivers
        // what is left and ends.
        let served = mdm_http::serve(self.listener, self.router, self.options, shutdown).await;
        if let Some(retention) = retention {
            // A sweep cut short deletes the rest next time; each batch is its own transaction.
            retention.abort();
        }
        if let Some(webhook) = webhook
            && tokio::time::timeout(grace, webhook).await.is_err()
        {
            tracing::warn!("shutdown grace period over; undelivered webhook events dropped");
        }
        served
    }
}

/// The whole server program: parses `args` (without the program name) over `env`, starts, and
/// serves until SIGTERM or SIGINT. Exit status 2 for a bad command line, 1 for a failed start.
pub async fn main(args: Vec<String>, env: HashMap<String, String>) -> ExitCode {
    let flags = match parse(args, &env) {
        Ok(Invocation::Run(flags)) => flags,
        Ok(Invocation::Version) => {
            println!("{VERSION}");
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Help) => {
            eprint!("{}", usage("server", &env));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            eprint!("{}", usage("server", &env));
            return ExitCode::from(2);
        }
    };
    init_logging(flags.debug);
    let server = match start(&flags).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(error = %e, "startup failed");
            return ExitCode::FAILURE;
        }
    };
    match server.run(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "serving failed");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: `info` (or `debug` with `-debug`) unless `RUST_LOG` says otherwise; colours
/// only on a terminal. Does nothing if a subscriber is already installed.
pub fn init_logging(debug: bool) {
    use std::io::IsTerminal;
    let default = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .fmt_fields(escaping_fields())
        .try_init();
}

/// The default field format (`name=value`, strings quoted, the message bare), with every control
/// character in a value escaped: a value that came from a request (an enrollment id, a path, an
/// error quoting either) cannot end the line and forge one of its own, or reach the terminal
/// raw.
pub fn escaping_fields() -> impl for<'writer> tracing_subscriber::fmt::FormatFields<'writer> {
    use std::fmt::Write;
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let mut text = String::new();
        write!(text, "{value:?}")?;
        if field.name() != "message" {
            write!(writer, "{}=", field.name())?;
        }
        for c in text.chars() {
            if c.is_control() {
                write!(writer, "{}", c.escape_default())?;
            } else {
                writer.write_char(c)?;
            }
        }
        Ok(())
    })
    .delimited(" ")
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

fn read_file(flag: &'static str, path: &str) -> Result<Vec<u8>, StartupError> {
    std::fs::read(path).map_err(|source| StartupError::Read {
        flag,
        path: path.to_owned(),
        source,
    })
}

fn parse_url(flag: &'static str, value: &str) -> Result<Url, StartupError> {
    Url::parse(value).map_err(|source| StartupError::Url {
        flag,
        value: value.to_owned(),
        source,
    })
}

/// Starts the server the flags describe, in NanoMDM's order: `-disable-mdm`/`-api`, `-ca`,
/// `-intermediate`, storage, Declarative Management, routes, listen. Must run inside a tokio
/// runtime.
pub async fn start(flags: &Flags) -> Result<Server, StartupError> {
    if flags.disable_mdm && flags.api.expose().is_empty() && !flags.dev {
        return Err(StartupError::NothingToDo);
    }
    let dev = if flags.dev {
        tracing::warn!("development mode (-dev): never use it in production");
        Some(dev::prepare(
            Path::new(&flags.data_dir),
            flags.api.expose(),
        )?)
    } else {
        None
    };
    let api_key = dev
        .as_ref()
        .map_or(flags.api.expose().clone(), |d| d.api_key.clone());

    // SCEP: a CA of its own (-scep-ca), or -dev's device CA.
    let scep_pem = match (&dev, flags.scep_ca.as_str()) {
        (_, path) if !path.is_empty() => Some((
            path.to_owned(),
            String::from_utf8_lossy(&read_file("-scep-ca", path)?).into_owned(),
        )),
        (Some(dev), _) => Some((
            dev.ca_cert.to_string_lossy().into_owned(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&read_file("-ca", &dev.ca_cert.to_string_lossy())?),
                String::from_utf8_lossy(&read_file("-ca", &dev.ca_key.to_string_lossy())?),
            ),
        )),
        (None, _) => None,
    };
    let scep_challenge = match (&dev, flags.scep_challenge.expose().as_str()) {
        (Some(_), "") => dev::random_hex(16)?,
        (_, challenge) => challenge.to_owned(),
    };
    let scep = match &scep_pem {
        Some((path, pem)) => Some(enroll::scep_router(path, pem, &scep_challenge)?),
        None => None,
    };

    let ca_path = match (&dev, flags.ca.as_str()) {
        (_, path) if !path.is_empty() => Some(path.to_owned()),
        (Some(dev), _) => Some(dev.ca_cert.to_string_lossy().into_owned()),
        // The SCEP CA alone: the identities it issues are the ones to trust.
        (None, _) if !flags.scep_ca.is_empty() => None,
        (None, _) => return Err(StartupError::MissingCa),
    };
    let mut pool = match &ca_path {
        Some(ca_path) => {
            CaPool::from_pem(read_file("-ca", ca_path)?).map_err(|source| StartupError::Ca {
                path: ca_path.clone(),
                source,
            })?
        }
        None => CaPool::new(),
    };
    if !flags.scep_ca.is_empty()
        && let Some((_, ca_der)) = &scep
    {
        // Identities issued by /scep are trusted at once, whatever -ca names.
        pool.add_roots_pem(mdm_proto::pem::encode("CERTIFICATE", ca_der))
            .map_err(|source| StartupError::Ca {
                path: flags.scep_ca.clone(),
                source,
            })?;
    }
    if !flags.intermediate.is_empty() {
        pool = pool
            .with_intermediates_pem(read_file("-intermediate", &flags.intermediate)?)
            .map_err(|source| StartupError::Intermediate {
                path: flags.intermediate.clone(),
                source,
            })?;
    }
    let verifier: Arc<dyn CertVerifier> = Arc::new(CachedVerifier::new(pool, 10_000));

    let default_db = dev.as_ref().map_or_else(
        || PathBuf::from(DEFAULT_SQLITE_PATH),
        |d| d.database.clone(),
    );
    let specs = storage_specs(
        &flags.storage,
        &flags.storage_dsn,
        &flags.storage_options,
        &default_db,
    )?;
    let store = open_storage(&specs).await?;

    let mut core = MdmService::new(store.clone())
        .get_token(GetTokenMux::new())
        .user_authenticate(if flags.ua_zl_dc {
            UserAuthenticatePolicy::ZeroLengthDigestChallenge
        } else {
            UserAuthenticatePolicy::Decline
        });
    if !flags.dm.is_empty() {
        let base = parse_url("-dm", &flags.dm)?;
        if !base.path().ends_with('/') {
            tracing::warn!(
                dm = %base,
                "the -dm URL has no trailing slash: the device's Endpoint replaces its last path segment"
            );
        }
        let mut forwarder = DeclarativeManagementForwarder::new(base);
        if !flags.dm_send_hmac_key.expose().is_empty() {
            forwarder = forwarder.send_hmac_key(flags.dm_send_hmac_key.expose().as_bytes());
        }
        if !flags.dm_recv_hmac_key.expose().is_empty() {
            forwarder = forwarder.recv_hmac_key(flags.dm_recv_hmac_key.expose().as_bytes());
        }
        core = core.declarative_management(forwarder);
    }
    let webhook = if flags.webhook_url.is_empty() {
        None
    } else {
        let mut config = WebhookConfig::new(parse_url("-webhook-url", &flags.webhook_url)?);
        if !flags.webhook_hmac_key.expose().is_empty() {
            config.hmac_key = Some(flags.webhook_hmac_key.expose().as_bytes().to_vec());
        }
        Some(config)
    };
    let migration_core = BoxCloneSyncService::new(MdmTraceLayer.layer(core.clone()));
    let mut stack = StackBuilder::new(core).retro(flags.retro);
    if flags.dump {
        stack = stack.dump(std::io::stdout());
    }
    if let Some(webhook) = webhook {
        stack = stack.webhook(webhook);
    }
    let stack = stack.build();

    let mut apns = if flags.apns_url.is_empty() {
        ApnsConfig::new(Environment::Production)
    } else {
        ApnsConfig::new(Environment::Custom(flags.apns_url.clone()))
    };
    if !flags.apns_root_ca.is_empty() {
        apns = apns.trusted_root_pem(read_file("-apns-root-ca", &flags.apns_root_ca)?);
    }

    let retention = flags
        .command_retention
        .map(|keep_for| RetentionSweep::new(store.clone(), keep_for));
    let mut builder = MdmHttp::builder(store)
        .api(api_key.clone())
        .apns(apns)
        .body_limit(flags.body_limit)
        .body_budget(mdm_http::BodyBudget::new(flags.body_budget))
        .version(VERSION);
    if !flags.disable_mdm {
        builder = builder
            .mdm(stack.service, verifier)
            .check_in_endpoint(flags.checkin);
        if !flags.cert_header.is_empty() {
            let name = HeaderName::try_from(flags.cert_header.as_str())
                .map_err(|_| StartupError::CertHeader(flags.cert_header.clone()))?;
            builder = builder.cert_header(name);
        }
        if !flags.auth_proxy_url.is_empty() {
            builder = builder.auth_proxy(parse_url("-auth-proxy-url", &flags.auth_proxy_url)?);
        }
    }
    if flags.migration {
        builder = builder.migration(migration_core);
    }
    if flags.metrics {
        let render = metrics_handle();
        let mut route = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || std::future::ready(render.render())),
        );
        if flags.metrics_auth {
            if api_key.is_empty() {
                return Err(StartupError::MetricsAuthWithoutApi);
            }
            route = route.route_layer(mdm_http::BasicAuthLayer::new(api_key.clone()));
        }
        builder = builder.merge(route);
    }
    if !flags.escrow_url.is_empty() {
        builder = builder.escrow_key_unlock_url(parse_url("-escrow-url", &flags.escrow_url)?);
    }
    let push_topic = Arc::new(std::sync::RwLock::new(None));
    let mut enroll_config = None;
    if let Some((scep_router, scep_ca)) = scep {
        builder = builder.merge(scep_router);
        if !flags.server_url.is_empty() || dev.is_some() {
            let signer = match (&dev, flags.enroll_signer.as_str()) {
                (_, path) if !path.is_empty() => Some(
                    mdm_profiles::ProfileSigner::from_pem(&String::from_utf8_lossy(&read_file(
                        "-enroll-signer",
                        path,
                    )?))
                    .map_err(|e| StartupError::Scep(format!("-enroll-signer {path:?}: {e}")))?,
                ),
                (Some(setup), _) => Some(dev::enroll_signer(setup)?),
                (None, _) => None,
            };
            if !flags.server_url.is_empty() {
                parse_url("-server-url", &flags.server_url)?;
            }
            // The profile builder refuses such a topic at each request; say so once, at start.
            if !flags.enroll_topic.is_empty() && !flags.enroll_topic.starts_with("com.apple.mgmt.")
            {
                return Err(StartupError::Scep(format!(
                    "-enroll-topic {:?} is not a push topic (com.apple.mgmt.…)",
                    flags.enroll_topic
                )));
            }
            let config = Arc::new(enroll::EnrollConfig {
                base_url: std::sync::OnceLock::new(),
                check_in: flags.checkin,
                challenge: scep_challenge.clone(),
                scep_ca,
                signer,
                topic: push_topic.clone(),
                fallback_topic: match flags.enroll_topic.as_str() {
                    "" => dev.as_ref().map(|_| dev::PUSH_TOPIC.to_owned()),
                    topic => Some(topic.to_owned()),
                },
            });
            if !flags.server_url.is_empty() {
                let _ = config
                    .base_url
                    .set(flags.server_url.trim_end_matches('/').to_owned());
            }
            builder = builder.merge(enroll::enroll_router(config.clone()));
            enroll_config = Some(config);
        }
    } else if !flags.server_url.is_empty()
        || !flags.enroll_signer.is_empty()
        || !flags.enroll_topic.is_empty()
    {
        return Err(StartupError::Scep(
            "-server-url, -enroll-signer and -enroll-topic serve /enroll, which needs -scep-ca"
                .into(),
        ));
    }
    let router = builder
        .build()
        .layer(axum::middleware::from_fn(move |request, next| {
            enroll::remember_push_topic(push_topic.clone(), request, next)
        }));

    let listen = match (&flags.listen, &dev) {
        (Some(listen), _) => listen.clone(),
        // A development server answers this machine only, unless told otherwise.
        (None, Some(_)) => "127.0.0.1:9000".to_owned(),
        (None, None) => ":9000".to_owned(),
    };
    let listener = mdm_http::bind(&listen)
        .await
        .map_err(|source| StartupError::Listen {
            address: listen.clone(),
            source,
        })?;
    let dev_banner = match &dev {
        Some(setup) => {
            let local = listener
                .local_addr()
                .map_err(|source| StartupError::Listen {
                    address: listen.clone(),
                    source,
                })?;
            let host = if local.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                local.ip().to_string()
            };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            let base_url = format!("http://{host}:{}", local.port());
            if let Some(config) = &enroll_config {
                let _ = config.base_url.set(base_url.clone());
            }
            Some(dev::banner(setup, &base_url, &scep_challenge))
        }
        None => None,
    };
    Ok(Server {
        listener,
        router,
        options: ServeOptions::default()
            .header_read_timeout(flags.header_timeout)
            .body_read_timeout(flags.body_timeout)
            .shutdown_grace(flags.shutdown_timeout),
        api_key: (!api_key.is_empty()).then_some(api_key),
        dev_banner,
        webhook_worker: stack.webhook_worker,
        retention,
    })
}

/// The process's Prometheus recorder, installed the first time a server asks for metrics: the
/// `metrics` facade has one global recorder, so servers started in one process (tests) share it.
fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn a_field_from_a_request_cannot_forge_a_log_line() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .fmt_fields(super::escaping_fields())
            .finish();
        let forged = "UDID\n2026-12-07T00:00:00Z  INFO forged: request status=200\0\x1b[2J";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("http", enrollment_id = %forged);
            let _entered = span.enter();
            tracing::info!(error = %forged, path = ?forged, "refused: {forged}");
        });
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(log.matches('\n').count(), 1, "{log}");
        assert!(log.ends_with('\n'));
        assert!(!log.contains(['\0', '\x1b']), "{log:?}");
        // Display values and the message are escaped, not dropped.
        assert!(log.contains(r"enrollment_id=UDID\n2026"), "{log}");
        assert!(log.contains(r"error=UDID\n2026"), "{log}");
        assert!(log.contains(r"refused: UDID\n2026"), "{log}");
        assert!(log.contains(r"status=200\u{0}\u{1b}[2J"), "{log}");
    }
}

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
