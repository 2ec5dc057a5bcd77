//! The APNs HTTP/2 client for one push certificate (one topic).

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Semaphore;

use crate::cert::PushCertificate;
use crate::error::{PushError, Reason};

/// Apple's production APNs endpoint.
pub const PRODUCTION_URL: &str = "https://api.push.apple.com";
/// Apple's development (sandbox) APNs endpoint.
pub const DEVELOPMENT_URL: &str = "https://api.sandbox.push.apple.com";

/// Longest error body read from APNs; real ones are a few dozen bytes.
const MAX_ERROR_BODY: usize = 4096;

/// Which APNs service to push to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Environment {
    /// [`PRODUCTION_URL`]: MDM push certificates from Apple's Push Certificates Portal use this.
    Production,
    /// [`DEVELOPMENT_URL`].
    Development,
    /// Any other `https://` base URL, such as a [`MockApns`](crate::mock::MockApns) or a proxy.
    Custom(String),
}

impl Environment {
    /// The base URL pushes are sent to (no trailing slash).
    pub fn base_url(&self) -> &str {
        match self {
            Environment::Production => PRODUCTION_URL,
            Environment::Development => DEVELOPMENT_URL,
            Environment::Custom(url) => url.trim_end_matches('/'),
        }
    }
}

/// When APNs may give up on storing a push for an offline device (`apns-expiration`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiration {
    /// `apns-expiration: 0`: deliver now or never.
    Immediately,
    /// Keep it this long after sending.
    After(Duration),
}

/// Settings shared by every [`ApnsClient`] built from them (one per push certificate).
#[derive(Clone, Debug)]
pub struct ApnsConfig {
    environment: Environment,
    trusted_roots_pem: Vec<Vec<u8>>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_in_flight: usize,
    expiration: Option<Expiration>,
}

impl Default for ApnsConfig {
    fn default() -> Self {
        Self::new(Environment::Production)
    }
}

impl ApnsConfig {
    /// Production-ready defaults for `environment`: the platform's trusted roots (on Linux the
    /// system CA store, such as Debian's `ca-certificates`), 10 s to
    /// connect, 30 s per push, at most 1,000 pushes in flight per client (APNs' usual HTTP/2
    /// stream limit), no `apns-expiration` header (APNs then stores the push as long as it
    /// likes).
    pub fn new(environment: Environment) -> Self {
        Self {
            environment,
            trusted_roots_pem: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 1000,
            expiration: None,
        }
    }

    /// The environment pushes go to.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// Trust the CA certificates in `pem` for the server, *instead of* the platform's roots.
    /// Meant for a mock APNs or a test proxy; may be called more than once.
    pub fn trusted_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.trusted_roots_pem.push(pem.into());
        self
    }

    /// Time allowed for TCP and TLS connection set-up.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one push, from sending the request to reading the answer.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Most pushes one client has in flight at once; further pushes wait for a slot. This
    /// bounds memory and keeps a huge fan-out from queueing without limit inside HTTP/2.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// Send `apns-expiration` with every push.
    pub fn expiration(mut self, expiration: Expiration) -> Self {
        self.expiration = Some(expiration);
        self
    }
}

/// Why an [`ApnsClient`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL is not an `https://` URL.
    #[error("invalid APNs base URL {url:?}: {detail}")]
    InvalidBaseUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A trusted root given with [`ApnsConfig::trusted_root_pem`] is not a PEM certificate.
    #[error("invalid trusted root certificate: {0}")]
    InvalidTrustedRoot(String),
    /// The TLS/HTTP client could not be set up with the push certificate.
    #[error("could not set up the APNs HTTP/2 client: {0}")]
    Build(#[source] reqwest::Error),
}

/// The `apns-id` APNs assigned to an accepted push.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApnsId(String);

impl ApnsId {
    /// The id as APNs sent it (a UUID). Empty if the server sent no `apns-id` header, which
    /// APNs always does; the push was accepted all the same.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApnsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ApnsId> for String {
    fn from(id: ApnsId) -> String {
        id.0
    }
}

/// Sends MDM pushes for one push certificate over one multiplexed HTTP/2 connection.
///
/// Cloning is cheap and clones share the connection and the in-flight limit.
#[derive(Clone)]
pub struct ApnsClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    device_url: String,
    topic: String,
    permits: Semaphore,
    request_timeout: Duration,
    expiration: Option<Expiration>,
}

impl fmt::Debug for ApnsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsClient")
            .field("device_url", &self.inner.device_url)
            .field("topic", &self.inner.topic)
            .finish_non_exhaustive()
    }
}

impl ApnsClient {
    /// Builds a client that authenticates with `cert` and pushes to its topic. No connection is
    /// made until the first push.
    pub fn new(cert: &PushCertificate, config: &ApnsConfig) -> Result<Self, ClientError> {
        let base = config.environment.base_url();
        let url = reqwest::Url::parse(base).map_err(|e| ClientError::InvalidBaseUrl {
            url: base.to_owned(),
            detail: e.to_string(),
        })?;
        if url.scheme() != "https" {
            return Err(ClientError::InvalidBaseUrl {
                url: base.to_owned(),
                detail: "APNs needs https (TLS carries the push certificate)".into(),
            });
        }

        let identity =
            reqwest::Identity::from_pem(&cert.identity_pem()).map_err(ClientError::Build)?;
        let mut builder = reqwest::Client::builder()
            // Without prior knowledge a cold burst opens one TLS connection per request before
            // ALPN has told the pool that the connection can be shared.
            .http2_prior_knowledge()
            .identity(identity)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // Dead connections are otherwise only noticed when a push times out.
            .http2_keep_alive_interval(Duration::from_secs(60))
            .http2_keep_alive_timeout(Duration::from_secs(20))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if !config.trusted_roots_pem.is_empty() {
            let mut roots = Vec::new();
            for pem in &config.trusted_roots_pem {
                let certs = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| ClientError::InvalidTrustedRoot(e.to_string()))?;
                if certs.is_empty() {
                    // Trusting nothing would fail every handshake with a confusing error.
                    return Err(ClientError::InvalidTrustedRoot(
                        "no CERTIFICATE block in the PEM".into(),
                    ));
                }
                roots.extend(certs);
            }
            builder = builder.tls_certs_only(roots);
        }
        let http = builder.build().map_err(ClientError::Build)?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                device_url: format!("{}/3/device/", base.trim_end_matches('/')),
                topic: cert.topic().to_owned(),
                permits: Semaphore::new(config.max_in_flight),
                request_timeout: config.request_timeout,
                expiration: config.expiration,
            }),
        })
    }

    /// The topic every push of this client is sent to.
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// Wakes one device: `POST /3/device/<hex token>` with `{"mdm":"<push magic>"}`.
    ///
    /// Returns APNs' `apns-id` on success. Every failure, including anything malformed the
    /// network sends, comes back as a [`PushError`].
    pub async fn push(&self, token: &[u8], push_magic: &str) -> Result<ApnsId, PushError> {
        let inner = &*self.inner;
        // The semaphore is never closed, so acquiring only waits.
        let _permit = inner
            .permits
            .acquire()
            .await
            .map_err(|_| PushError::InvalidRequest("client is shut down".into()))?;

        let mut url = String::with_capacity(inner.device_url.len() + token.len() * 2);
        url.push_str(&inner.device_url);
        url.push_str(&hex::encode(token));
        let body = mdm_payload(push_magic);

        let mut request = inner
            .http
            .post(url)
            .header("apns-push-type", "mdm")
            .header("apns-topic", &inner.topic)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(expiration) = inner.expiration {
            request = request.header("apns-expiration", expiration_header(expiration));
        }

        let response = request
            .send()
            .await
            .map_err(|e| classify(e, inner.request_timeout))?;
        let status = response.status();
        let apns_id = response
            .headers()
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status == http::StatusCode::OK {
            return Ok(ApnsId(apns_id.unwrap_or_default()));
        }
        let body = read_bounded(response)
            .await
            .map_err(|e| classify(e, inner.request_timeout))?;
        Err(rejection(status.as_u16(), &body, apns_id))
    }
}

/// `{"mdm":"<magic>"}` with the magic JSON-escaped.
fn mdm_payload(push_magic: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(push_magic.len() + 12);
    body.extend_from_slice(b"{\"mdm\":");
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut body, push_magic);
    body.push(b'}');
    body
}

fn expiration_header(expiration: Expiration) -> String {
    match expiration {
        Expiration::Immediately => "0".to_owned(),
        Expiration::After(d) => {
            let at = SystemTime::now() + d;
            let secs = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            secs.to_string()
        }
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ERROR_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_ERROR_BODY {
            break;
        }
    }
    Ok(body)
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    reason: String,
    #[serde(default)]
    timestamp: Option<u64>,
}

/// Turns a non-200 answer into a typed error.
pub(crate) fn rejection(status: u16, body: &[u8], apns_id: Option<String>) -> PushError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => PushError::Rejected {
            status,
            reason: Reason::parse(&parsed.reason),
            timestamp: parsed
                .timestamp
                .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
            apns_id,
        },
        Err(e) => {
            let excerpt = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            PushError::UnexpectedResponse {
                status,
                detail: format!("no APNs error JSON ({e}): {excerpt:?}"),
            }
        }
    }
}

/// Maps a transport failure to what a caller can act on. The interesting cause (an HTTP/2
/// GOAWAY, a TLS alert) sits several layers down reqwest's error chain.
fn classify(err: reqwest::Error, request_timeout: Duration) -> PushError {
    enum Kind {
        GoAway(String),
        Reset(String),
        Tls,
    }
    if err.is_timeout() {
        return PushError::Timeout(request_timeout);
    }
    if err.is_builder() {
        return PushError::InvalidRequest(err.to_string());
    }
    let mut kind = None;
    let mut next: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(e) = next {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            let code = h2
                .reason()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "no code".to_owned());
            if h2.is_go_away() {
                kind = Some(Kind::GoAway(code));
                break;
            }
            if h2.is_reset() && h2.is_remote() {
                kind = Some(Kind::Reset(code));
                break;
            }
        }
        if e.is::<rustls::Error>() {
            kind = Some(Kind::Tls);
            break;
        }
        // rustls reports failures (a certificate it rejects, an alert from the peer) as
        // `InvalidData` I/O errors, sometimes with only the text left; HTTP/2 protocol errors
        // are `h2::Error`s, so on this stack `InvalidData` means TLS.
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
        {
            kind = Some(Kind::Tls);
        }
        next = next_cause(e);
    }
    let err = err.without_url();
    let detail = root_cause(&err);
    match kind {
        Some(Kind::GoAway(code)) => PushError::GoAway { code },
        Some(Kind::Reset(code)) => PushError::StreamReset { code },
        Some(Kind::Tls) => PushError::Tls {
            detail,
            source: err,
        },
        None if err.is_connect() => PushError::Connect {
            detail,
            source: err,
        },
        None => PushError::ConnectionLost {
            detail,
            source: err,
        },
    }
}

/// The next error down a chain, looking inside `io::Error`s (whose `source` skips the error
/// they wrap).
fn next_cause<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    match e.downcast_ref::<std::io::Error>() {
        Some(io) => io
            .get_ref()
            .map(|inner| inner as &(dyn std::error::Error + 'static)),
        None => e.source(),
    }
}

/// The innermost message of an error chain: "received fatal alert: UnknownCA" says more than
/// reqwest's "error sending request".
fn root_cause(err: &reqwest::Error) -> String {
    let mut last: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = next_cause(last) {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_escaped_json() {
        let body = mdm_payload("a\"b\\c\u{1}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["mdm"], "a\"b\\c\u{1}");
        assert_eq!(mdm_payload("X"), br#"{"mdm":"X"}"#);
    }

    #[test]
    fn rejection_parses_reason_and_timestamp() {
        let e = rejection(
            410,
            br#"{"reason":"Unregistered","timestamp":1700000000000}"#,
            Some("id".into()),
        );
        match e {
            PushError::Rejected {
                status,
                reason,
                timestamp,
                apns_id,
            } => {
                assert_eq!(status, 410);
                assert_eq!(reason, Reason::Unregistered);
                assert_eq!(
                    timestamp,
                    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000))
                );
                assert_eq!(apns_id.as_deref(), Some("id"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejection_without_json_is_unexpected_not_a_panic() {
        for body in [
            &b""[..],
            b"<html>bad gateway</html>",
            b"{\"reason\":5}",
            &[0xff; 300],
        ] {
            assert!(matches!(
                rejection(502, body, None),
                PushError::UnexpectedResponse { status: 502, .. }
            ));
        }
    }

    #[test]
    fn environments_have_distinct_urls() {
        assert_eq!(Environment::Production.base_url(), PRODUCTION_URL);
        assert_eq!(Environment::Development.base_url(), DEVELOPMENT_URL);
        assert_eq!(
            Environment::Custom("https://127.0.0.1:9/".into()).base_url(),
            "https://127.0.0.1:9"
        );
    }

    #[test]
    fn expiration_header_values() {
        assert_eq!(expiration_header(Expiration::Immediately), "0");
        let v: u64 = expiration_header(Expiration::After(Duration::from_secs(3600)))
            .parse()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(v > now && v <= now + 3601);
    }
}
