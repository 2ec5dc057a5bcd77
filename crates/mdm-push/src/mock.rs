//! A mock APNs: a real HTTP/2 server over TLS on loopback that demands a client certificate.
//!
//! It checks each push the way APNs does (method, path, token, topic against the client
//! certificate's UID, push type, expiration, body), records it, and answers with an `apns-id` or
//! with whatever APNs error it is told to. It owns a test CA that signs both its server
//! certificate and the push certificates it hands out, so a client built from
//! [`MockApns::config`] and [`MockApns::issue_push_certificate`] talks to it with full TLS
//! verification on both sides.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mdm_push::mock::MockApns;
//! use mdm_push::{ApnsClient, PushCertificate};
//!
//! let mock = MockApns::start().await?;
//! let issued = mock.issue_push_certificate("com.apple.mgmt.External.test")?;
//! let cert = PushCertificate::from_pem(&issued.cert_pem, &issued.key_pem)?;
//! let client = ApnsClient::new(&cert, &mock.config())?;
//! client.push(&[0xab; 32], "magic").await?;
//! assert_eq!(mock.pushes()[0].push_magic, "magic");
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use h2::RecvStream;
use h2::server::SendResponse;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, DnValue, ExtendedKeyUsagePurpose,
    IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::client::{ApnsConfig, Environment};
use crate::error::Reason;

/// Largest body the mock reads; APNs allows 4 KiB for non-VoIP payloads.
const MAX_PAYLOAD: usize = 4096;

/// Why the mock could not start or issue a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// Binding the loopback listener failed.
    #[error("mock APNs could not listen on loopback: {0}")]
    Io(#[from] io::Error),
    /// Generating a test certificate failed.
    #[error("mock APNs could not generate a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// Setting up TLS failed (for example an invalid extra client CA).
    #[error("mock APNs TLS set-up failed: {0}")]
    Tls(String),
}

/// A push certificate and key issued by the mock's test CA, as PEM.
#[derive(Clone)]
pub struct IssuedCertificate {
    /// The certificate, with Subject UID = the topic.
    pub cert_pem: String,
    /// Its PKCS#8 private key.
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate").finish_non_exhaustive()
    }
}

/// One push the mock accepted (validated successfully), in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedPush {
    /// The device token from the path, lowercase hex.
    pub token_hex: String,
    /// The `apns-topic` header.
    pub topic: String,
    /// The `mdm` value of the body.
    pub push_magic: String,
    /// The `apns-expiration` header, if sent.
    pub expiration: Option<u64>,
    /// The `apns-id` the mock answered with.
    pub apns_id: String,
    /// Which TLS connection it arrived on (1 = first accepted).
    pub connection: usize,
}

/// How the mock answers a valid push.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockReply {
    /// 200 with an `apns-id`.
    Success,
    /// APNs' status for `reason` with `{"reason": …}`, plus `timestamp` (milliseconds) when set.
    Reject {
        /// The reason to send.
        reason: Reason,
        /// For `Unregistered`: since when the token is invalid.
        timestamp: Option<SystemTime>,
    },
    /// Any status and raw body, for answers APNs would never give.
    Raw {
        /// HTTP status.
        status: u16,
        /// Body bytes.
        body: Vec<u8>,
    },
    /// Never answer (the stream stays open until the connection closes), to exercise timeouts.
    Hold,
}

impl MockReply {
    /// Rejects with `reason` at APNs' status for it.
    pub fn reject(reason: Reason) -> Self {
        MockReply::Reject {
            reason,
            timestamp: None,
        }
    }

    /// 410 `Unregistered` with a timestamp.
    pub fn unregistered(since: SystemTime) -> Self {
        MockReply::Reject {
            reason: Reason::Unregistered,
            timestamp: Some(since),
        }
    }
}

/// How the mock ends a connection when told to with [`MockApns::disconnect_after`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnect {
    /// Drop the TCP connection without answering anything still in flight.
    Abrupt,
    /// Send HTTP/2 GOAWAY with this error code, then close. The GOAWAY names the last stream
    /// the server received, so requests already sent see the connection end; requests the
    /// client had queued are replayed on a new connection by the HTTP stack. For a GOAWAY that
    /// the client's requests see as such, use [`MockApns::goaway_next_connection`].
    GoAway(u32),
}

/// Configures a [`MockApns`] before it starts.
#[derive(Debug, Default)]
pub struct MockApnsBuilder {
    extra_client_cas: Vec<String>,
    max_concurrent_streams: Option<u32>,
    record: Option<bool>,
}

impl MockApnsBuilder {
    /// Also accept client certificates issued by this CA (PEM), e.g. a test's own push CA.
    pub fn trust_client_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.extra_client_cas.push(pem.into());
        self
    }

    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` (default 1,000, like APNs).
    pub fn max_concurrent_streams(mut self, max: u32) -> Self {
        self.max_concurrent_streams = Some(max);
        self
    }

    /// Whether to keep every accepted push for [`MockApns::pushes`] (default true). Benchmarks
    /// turn it off; [`MockApns::push_count`] counts either way.
    pub fn record_pushes(mut self, record: bool) -> Self {
        self.record = Some(record);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<MockApns, MockError> {
        MockApns::start_with(self).await
    }
}

#[derive(Default)]
struct Replies {
    default: Option<MockReply>,
    by_token: HashMap<String, MockReply>,
}

#[derive(Default)]
struct Shared {
    record: bool,
    pushes: Mutex<Vec<RecordedPush>>,
    push_count: AtomicU64,
    request_count: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    connections: AtomicUsize,
    handshake_failures: AtomicUsize,
    next_id: AtomicU64,
    replies: Mutex<Replies>,
    /// (requests total at which to disconnect, how).
    disconnect: Mutex<Option<(u64, Disconnect)>>,
    /// GOAWAY (error code, reason) for the next connection's first request.
    goaway_next_connection: Mutex<Option<(u32, Reason)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running mock APNs. Dropping it stops the server and closes its connections.
pub struct MockApns {
    addr: SocketAddr,
    ca_pem: String,
    ca: Arc<CertifiedIssuer<'static, KeyPair>>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for MockApns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockApns")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for MockApns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockApns {
    /// Starts a mock with default settings.
    pub async fn start() -> Result<MockApns, MockError> {
        MockApnsBuilder::default().start().await
    }

    /// Configure before starting.
    pub fn builder() -> MockApnsBuilder {
        MockApnsBuilder::default()
    }

    async fn start_with(builder: MockApnsBuilder) -> Result<MockApns, MockError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Rootstock mock APNs test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

        let server_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut server_params = CertificateParams::new(vec!["localhost".to_owned()])?;
        server_params
            .subject_alt_names
            .push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
        server_params
            .distinguished_name
            .push(DnType::CommonName, "mock APNs");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &ca)?;

        let mut client_roots = rustls::RootCertStore::empty();
        client_roots
            .add(ca.der().clone())
            .map_err(|e| MockError::Tls(e.to_string()))?;
        for pem in &builder.extra_client_cas {
            let certs = pem_certs(pem)?;
            if certs.is_empty() {
                return Err(MockError::Tls("extra client CA has no certificate".into()));
            }
            for der in certs {
                client_roots
                    .add(der)
                    .map_err(|e| MockError::Tls(e.to_string()))?;
            }
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
                .build()
                .map_err(|e| MockError::Tls(e.to_string()))?;
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| MockError::Tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![server_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .map_err(|e| MockError::Tls(e.to_string()))?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            record: builder.record.unwrap_or(true),
            ..Shared::default()
        });
        let settings = ServerSettings {
            max_concurrent_streams: builder.max_concurrent_streams.unwrap_or(1000),
        };
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone(), settings));

        Ok(MockApns {
            addr,
            ca_pem: ca.pem(),
            ca: Arc::new(ca),
            shared,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>`, for [`Environment::Custom`].
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The test CA (PEM) that signed the server certificate and issued push certificates.
    pub fn ca_certificate_pem(&self) -> &str {
        &self.ca_pem
    }

    /// An [`ApnsConfig`] pointing at this mock and trusting its CA.
    pub fn config(&self) -> ApnsConfig {
        ApnsConfig::new(Environment::Custom(self.base_url())).trusted_root_pem(self.ca_pem.clone())
    }

    /// Issues a push certificate for `topic` (Subject UID) from the mock's CA, valid from an
    /// hour ago for a year.
    pub fn issue_push_certificate(&self, topic: &str) -> Result<IssuedCertificate, MockError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("APSP:{topic}"));
        params.distinguished_name.push(
            DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
            DnValue::Utf8String(topic.into()),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(3600)).into();
        params.not_after = (now + Duration::from_secs(365 * 24 * 3600)).into();
        let cert = params.signed_by(&key, &self.ca)?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Answer every valid push with `reply` (until changed); per-token replies win.
    pub fn set_reply(&self, reply: MockReply) {
        lock(&self.shared.replies).default = Some(reply);
    }

    /// Answer valid pushes to this device token with `reply`.
    pub fn set_reply_for_token(&self, token: &[u8], reply: MockReply) {
        lock(&self.shared.replies)
            .by_token
            .insert(hex::encode(token), reply);
    }

    /// Back to answering every valid push with success.
    pub fn clear_replies(&self) {
        *lock(&self.shared.replies) = Replies::default();
    }

    /// Once `requests` more requests have arrived (counted over all connections), end the
    /// connection that received the last of them in the given way, leaving that request and
    /// any others still in flight on it unanswered. Fires once.
    pub fn disconnect_after(&self, requests: u64, how: Disconnect) {
        let at = self.shared.request_count.load(Ordering::SeqCst) + requests.max(1);
        *lock(&self.shared.disconnect) = Some((at, how));
    }

    /// Answer the next connection's first request with HTTP/2 GOAWAY (last stream id 0, the
    /// error `code`, `{"reason": …}` as debug data) and close it, as APNs does when it will not
    /// serve a connection. Nothing on that connection is processed. Fires once.
    pub fn goaway_next_connection(&self, code: u32, reason: Reason) {
        *lock(&self.shared.goaway_next_connection) = Some((code, reason));
    }

    /// Every push accepted so far (empty when recording is off).
    pub fn pushes(&self) -> Vec<RecordedPush> {
        lock(&self.shared.pushes).clone()
    }

    /// How many valid pushes arrived, whatever they were answered with.
    pub fn push_count(&self) -> u64 {
        self.shared.push_count.load(Ordering::SeqCst)
    }

    /// How many TLS connections completed the handshake (with an accepted client certificate).
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The most requests the mock was handling at the same moment (across all connections).
    pub fn max_concurrent_requests(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many TLS handshakes failed, e.g. for a client certificate from an unknown CA.
    pub fn handshake_failures(&self) -> usize {
        self.shared.handshake_failures.load(Ordering::SeqCst)
    }
}

fn pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, MockError> {
    mdm_proto::pem::certificates(pem.as_bytes())
        .map(|der| der.map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MockError::Tls(e.to_string()))
}

#[derive(Clone, Copy)]
struct ServerSettings {
    max_concurrent_streams: u32,
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    settings: ServerSettings,
) {
    // Connection tasks live in this set so that aborting this task (dropping the mock) aborts
    // them too.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                connections.spawn(serve_connection(tcp, acceptor, shared, settings));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Per-connection facts a request handler needs.
struct ConnInfo {
    number: usize,
    /// The client certificate's Subject UID; pushes must name it as `apns-topic`.
    topic: Option<String>,
    /// Woken when this connection is to be dropped.
    close: Notify,
    closing: std::sync::atomic::AtomicBool,
    /// How to drop it, taken from the shared plan by the request that triggered it.
    close_how: Mutex<Option<Disconnect>>,
}

async fn serve_connection(
    tcp: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    settings: ServerSettings,
) {
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        _ => {
            shared.handshake_failures.fetch_add(1, Ordering::SeqCst);
            return;
        }
    };
    let topic = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|der| crate::cert::topic_of_der(der.as_ref()));
    let number = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
    let info = Arc::new(ConnInfo {
        number,
        topic,
        close: Notify::new(),
        closing: Default::default(),
        close_how: Mutex::new(None),
    });

    let goaway = lock(&shared.goaway_next_connection).take();
    if let Some((code, reason)) = goaway {
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            refuse_with_goaway(tls, code, &reason),
        )
        .await;
        return;
    }

    let mut h2 = h2::server::Builder::new();
    h2.max_concurrent_streams(settings.max_concurrent_streams)
        // Generous windows so a burst is not throttled by flow control on loopback.
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24);
    let Ok(mut conn) = h2.handshake::<_, Bytes>(tls).await else {
        return;
    };

    let mut streams = FuturesUnordered::new();
    loop {
        tokio::select! {
            accepted = conn.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    streams.push(handle_stream(request, respond, shared.clone(), info.clone()));
                }
                // The client went away or broke the protocol: this connection is done.
                Some(Err(_)) | None => return,
            },
            Some(()) = streams.next(), if !streams.is_empty() => {}
            () = info.close.notified() => break,
        }
    }
    // Told to disconnect.
    let how = *lock(&info.close_how);
    if let Some(Disconnect::GoAway(code)) = how {
        conn.abrupt_shutdown(h2::Reason::from(code));
        // Drive the connection so the GOAWAY frame is written, but not forever.
        let _ =
            tokio::time::timeout(Duration::from_secs(1), poll_fn(|cx| conn.poll_closed(cx))).await;
        // Closing a socket with unread requests in it sends a TCP RST, which can make the
        // client discard the GOAWAY before reading it. Give the client a moment to read it and
        // hang up first.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Dropping `conn` and the pending streams closes the socket with everything unanswered.
}

/// Speaks just enough raw HTTP/2 to send a GOAWAY whose last stream id is below the client's
/// first request, which `h2`'s server API cannot do (it always names the last stream it read).
async fn refuse_with_goaway<S>(mut io: S, code: u32, reason: &Reason)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const PREFACE_LEN: usize = 24;
    const HEADERS: u8 = 0x1;
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;

    // Wait for the first HEADERS frame so the request is certainly on the wire before the
    // client reads the GOAWAY.
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
        if has_frame(&received[PREFACE_LEN.min(received.len())..], HEADERS) {
            break;
        }
        if received.len() > 1 << 16 {
            return;
        }
    }

    let debug = error_body(reason, None);
    let mut out = Vec::with_capacity(9 + 9 + 8 + debug.len());
    frame_header(&mut out, 0, SETTINGS);
    frame_header(&mut out, 8 + debug.len(), GOAWAY);
    out.extend_from_slice(&0u32.to_be_bytes()); // last stream id: none processed
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&debug);
    if io.write_all(&out).await.is_err() || io.flush().await.is_err() {
        return;
    }
    // Let the client read it and hang up before the socket closes (see `serve_connection`).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = io.shutdown().await;
}

fn frame_header(out: &mut Vec<u8>, len: usize, kind: u8) {
    let len = (len as u32).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(0); // flags
    out.extend_from_slice(&0u32.to_be_bytes()); // stream 0
}

/// Whether the complete frames at the start of `frames` include one of type `kind`.
fn has_frame(frames: &[u8], kind: u8) -> bool {
    let mut pos = 0;
    while let Some(header) = frames.get(pos..pos + 9) {
        if header[3] == kind {
            return true;
        }
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        pos += 9 + len;
    }
    false
}

async fn handle_stream(
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
) {
    let n = shared.request_count.fetch_add(1, Ordering::SeqCst) + 1;
    let _in_flight = InFlight::enter(&shared);
    {
        let mut plan = lock(&shared.disconnect);
        if let Some((at, how)) = *plan
            && n >= at
        {
            *plan = None;
            *lock(&conn.close_how) = Some(how);
            conn.closing.store(true, Ordering::SeqCst);
            conn.close.notify_one();
        }
    }
    if conn.closing.load(Ordering::SeqCst) {
        // Leave it unanswered (dropping `respond` would reset the stream, which is an answer of
        // sorts); the connection's end drops it.
        let _respond = respond;
        return std::future::pending().await;
    }

    let (parts, mut body) = request.into_parts();
    let mut payload = Vec::new();
    let mut too_large = false;
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        if payload.len() + chunk.len() > MAX_PAYLOAD {
            too_large = true;
        } else {
            payload.extend_from_slice(&chunk);
        }
    }
    if conn.closing.load(Ordering::SeqCst) {
        return;
    }

    let apns_id = new_apns_id(&shared, &parts.headers);
    let outcome = validate(&parts, &payload, too_large, conn.topic.as_deref()).map(|push| {
        shared.push_count.fetch_add(1, Ordering::SeqCst);
        let reply = {
            let replies = lock(&shared.replies);
            replies
                .by_token
                .get(&push.token_hex)
                .or(replies.default.as_ref())
                .cloned()
                .unwrap_or(MockReply::Success)
        };
        if shared.record {
            lock(&shared.pushes).push(RecordedPush {
                token_hex: push.token_hex,
                topic: push.topic,
                push_magic: push.push_magic,
                expiration: push.expiration,
                apns_id: apns_id.clone(),
                connection: conn.number,
            });
        }
        reply
    });
    let (status, body) = match outcome {
        Ok(MockReply::Success) => (200, Vec::new()),
        Ok(MockReply::Reject { reason, timestamp }) => {
            (reason.status(), error_body(&reason, timestamp))
        }
        Ok(MockReply::Raw { status, body }) => (status, body),
        Ok(MockReply::Hold) => {
            // Keep `respond` alive so the stream stays open; the connection's end drops this.
            let _respond = respond;
            return std::future::pending().await;
        }
        Err(reason) => (reason.status(), error_body(&reason, None)),
    };

    let mut response = http::Response::builder()
        .status(status)
        .header("apns-id", apns_id);
    if !body.is_empty() {
        response = response.header(http::header::CONTENT_TYPE, "application/json");
    }
    let Ok(response) = response.body(()) else {
        return;
    };
    let end_of_stream = body.is_empty();
    if let Ok(mut send) = respond.send_response(response, end_of_stream)
        && !end_of_stream
    {
        let _ = send.send_data(Bytes::from(body), true);
    }
}

/// Counts a request as in flight until dropped, whichever way the handler ends.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn new_apns_id(shared: &Shared, headers: &http::HeaderMap) -> String {
    // APNs echoes the client's apns-id when it sent one.
    if let Some(id) = headers.get("apns-id").and_then(|v| v.to_str().ok()) {
        return id.to_owned();
    }
    let n = shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    format!("4D4F434B-0000-4000-8000-{n:012X}")
}

fn error_body(reason: &Reason, timestamp: Option<SystemTime>) -> Vec<u8> {
    let mut v = serde_json::json!({ "reason": reason.as_str() });
    if let Some(ms) = timestamp
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
    {
        v["timestamp"] = ms.into();
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

struct ValidPush {
    token_hex: String,
    topic: String,
    push_magic: String,
    expiration: Option<u64>,
}

/// APNs' checks, in roughly the order APNs applies them.
fn validate(
    parts: &http::request::Parts,
    payload: &[u8],
    too_large: bool,
    cert_topic: Option<&str>,
) -> Result<ValidPush, Reason> {
    if parts.method != http::Method::POST {
        return Err(Reason::MethodNotAllowed);
    }
    let token = parts
        .uri
        .path()
        .strip_prefix("/3/device/")
        .ok_or(Reason::BadPath)?;
    if token.is_empty() {
        return Err(Reason::MissingDeviceToken);
    }
    if token.len() % 2 != 0 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Reason::BadDeviceToken);
    }
    for name in ["apns-topic", "apns-push-type", "apns-expiration", "apns-id"] {
        if parts.headers.get_all(name).iter().count() > 1 {
            return Err(Reason::DuplicateHeaders);
        }
    }
    let Some(cert_topic) = cert_topic else {
        return Err(Reason::BadCertificate);
    };
    let topic = header(parts, "apns-topic").ok_or(Reason::MissingTopic)?;
    if topic != cert_topic {
        return Err(Reason::TopicDisallowed);
    }
    if header(parts, "apns-push-type") != Some("mdm") {
        return Err(Reason::InvalidPushType);
    }
    let expiration = match header(parts, "apns-expiration") {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| Reason::BadExpirationDate)?),
    };
    if too_large {
        return Err(Reason::PayloadTooLarge);
    }
    if payload.is_empty() {
        return Err(Reason::PayloadEmpty);
    }
    // APNs does not look inside MDM payloads; the mock does, to catch our own encoding bugs,
    // and answers with a reason APNs never sends.
    let push_magic = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::Object(map) if map.len() == 1 => {
                map.get("mdm").and_then(|m| m.as_str()).map(str::to_owned)
            }
            _ => None,
        })
        .ok_or_else(|| Reason::Other("BadPayload".into()))?;
    Ok(ValidPush {
        token_hex: token.to_ascii_lowercase(),
        topic: topic.to_owned(),
        push_magic,
        expiration,
    })
}

fn header<'a>(parts: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    const OK_HEADERS: &[(&str, &str)] = &[
        ("apns-topic", "com.apple.mgmt.X"),
        ("apns-push-type", "mdm"),
    ];

    #[test]
    fn validation_matches_apns_reasons() {
        let body = br#"{"mdm":"m"}"#;
        let t = Some("com.apple.mgmt.X");
        let check = |p: http::request::Parts, body: &[u8]| validate(&p, body, false, t).err();
        assert_eq!(
            check(parts("POST", "/3/device/abcd", OK_HEADERS), body),
            None
        );
        assert_eq!(
            check(parts("GET", "/3/device/abcd", OK_HEADERS), body),
            Some(Reason::MethodNotAllowed)
        );
        assert_eq!(
            check(parts("POST", "/2/device/ab", OK_HEADERS), body),
            Some(Reason::BadPath)
        );
        assert_eq!(
            check(parts("POST", "/3/device/", OK_HEADERS), body),
            Some(Reason::MissingDeviceToken)
        );
        assert_eq!(
            check(parts("POST", "/3/device/xyz1", OK_HEADERS), body),
            Some(Reason::BadDeviceToken)
        );
        assert_eq!(
            check(
                parts("POST", "/3/device/ab", &[("apns-push-type", "mdm")]),
                body
            ),
            Some(Reason::MissingTopic)
        );
        assert_eq!(
            check(
                parts(
                    "POST",
                    "/3/device/ab",
                    &[("apns-topic", "other"), ("apns-push-type", "mdm")]
                ),
                body
            ),
            Some(Reason::TopicDisallowed)
        );
        assert_eq!(
            check(
                parts(
                    "POST",
                    "/3/device/ab",
                    &[
                        ("apns-topic", "com.apple.mgmt.X"),
                        ("apns-push-type", "alert")
                    ]
                ),
                body
            ),
            Some(Reason::InvalidPushType)
        );
        let mut h = OK_HEADERS.to_vec();
        h.push(("apns-expiration", "soon"));
        assert_eq!(
            check(parts("POST", "/3/device/ab", &h), body),
            Some(Reason::BadExpirationDate)
        );
        let mut h = OK_HEADERS.to_vec();
        h.push(("apns-topic", "com.apple.mgmt.X"));
        assert_eq!(
            check(parts("POST", "/3/device/ab", &h), body),
            Some(Reason::DuplicateHeaders)
        );
        assert_eq!(
            check(parts("POST", "/3/device/ab", OK_HEADERS), b""),
            Some(Reason::PayloadEmpty)
        );
        assert_eq!(
            check(parts("POST", "/3/device/ab", OK_HEADERS), br#"{"aps":{}}"#),
            Some(Reason::Other("BadPayload".into()))
        );
        let p = parts("POST", "/3/device/ab", OK_HEADERS);
        assert_eq!(
            validate(&p, body, true, t).err(),
            Some(Reason::PayloadTooLarge)
        );
        assert_eq!(
            validate(&p, body, false, None).err(),
            Some(Reason::BadCertificate)
        );
    }
}
