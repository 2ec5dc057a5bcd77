use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use mdm_proto::DeclarativeManagement as DeclarativeManagementMessage;
use url::Url;

use crate::{MdmRequest, hmac_sig};

/// Why a Declarative Management request could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeclarativeManagementError {
    /// No Declarative Management handler is configured (no `-dm`).
    #[error("no Declarative Management handler")]
    NotConfigured,
    /// The `Endpoint` does not resolve against the base URL.
    #[error("endpoint {endpoint:?} does not resolve against the DM URL: {source}")]
    BadEndpoint {
        /// The device's `Endpoint`.
        endpoint: String,
        /// Why.
        #[source]
        source: url::ParseError,
    },
    /// The DM server could not be reached, or its response not read (including timeouts).
    #[error("DM server request failed: {0}")]
    Request(#[source] reqwest::Error),
    /// The DM server's response lacked a valid `X-Hmac-Signature`.
    #[error("invalid body hash header on the DM server's response")]
    BadResponseSignature,
    /// The DM server answered with a status other than 200.
    #[error("DM server answered HTTP {status}")]
    Status {
        /// The status the DM server answered.
        status: u16,
        /// Its body, for logs.
        body: Bytes,
    },
}

/// Answers DeclarativeManagement check-ins.
pub trait DeclarativeManagementHandler: Send + Sync {
    /// The body to return to the device for `msg`.
    fn declarative_management<'a>(
        &'a self,
        request: &'a MdmRequest,
        msg: &'a DeclarativeManagementMessage,
    ) -> BoxFuture<'a, Result<Bytes, DeclarativeManagementError>>;
}

/// Forwards Declarative Management requests to an HTTP server, as NanoMDM's `-dm`.
///
/// The device's `Endpoint` is resolved against the base URL (RFC 3986: with a base of
/// `http://dm.example/api/`, `status` becomes `http://dm.example/api/status`). A request with
/// `Data` is a `PUT` of that data as JSON, otherwise a `GET`. The enrollment travels in
/// `X-Enrollment-ID`, `X-Enrollment-Type` and (user channels) `X-Enrollment-ParentID`. With a
/// send key, requests carry `X-Hmac-Signature`; with a receive key, responses must.
#[derive(Clone, Debug)]
pub struct DeclarativeManagementForwarder {
    base: Url,
    client: reqwest::Client,
    send_hmac_key: Option<Vec<u8>>,
    recv_hmac_key: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl DeclarativeManagementForwarder {
    /// How long one DM request may take, by default: 30 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A forwarder to `base` whose requests time out after [`Self::DEFAULT_TIMEOUT`].
    pub fn new(base: Url) -> Self {
        let mut forwarder = Self::with_client(base, reqwest::Client::new());
        forwarder.timeout = Some(Self::DEFAULT_TIMEOUT);
        forwarder
    }

    /// A forwarder using a caller-built client (timeouts, proxies, TLS roots). Requests time out
    /// as the client does, unless [`Self::timeout`] is set.
    pub fn with_client(base: Url, client: reqwest::Client) -> Self {
        DeclarativeManagementForwarder {
            base,
            client,
            send_hmac_key: None,
            recv_hmac_key: None,
            timeout: None,
        }
    }

    /// How long one DM request may take, from connecting until the DM server's response body
    /// has arrived; the device's check-in then fails (HTTP 500). Overrides the client's own
    /// timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Signs requests with `X-Hmac-Signature` (NanoMDM `-dm-send-hmac-key`).
    pub fn send_hmac_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.send_hmac_key = Some(key.into());
        self
    }

    /// Requires a valid `X-Hmac-Signature` on responses (NanoMDM `-dm-recv-hmac-key`).
    pub fn recv_hmac_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.recv_hmac_key = Some(key.into());
        self
    }

    async fn forward(
        &self,
        request: &MdmRequest,
        msg: &DeclarativeManagementMessage,
    ) -> Result<Bytes, DeclarativeManagementError> {
        let url = self.base.join(&msg.endpoint).map_err(|source| {
            DeclarativeManagementError::BadEndpoint {
                endpoint: msg.endpoint.clone(),
                source,
            }
        })?;
        let body = msg.data.clone().unwrap_or_default();
        let mut builder = if body.is_empty() {
            self.client.get(url)
        } else {
            self.client
                .put(url)
                .header(http::header::CONTENT_TYPE, "application/json")
        };
        let id = &request.enroll_id;
        builder = builder
            .header("X-Enrollment-ID", id.id().as_str())
            .header("X-Enrollment-Type", id.kind().as_str());
        if let Some(parent) = id.parent() {
            builder = builder.header("X-Enrollment-ParentID", parent.as_str());
        }
        if let Some(key) = &self.send_hmac_key {
            builder = builder.header(hmac_sig::HEADER, hmac_sig::sign(key, &body));
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder
            .body(body)
            .send()
            .await
            .map_err(DeclarativeManagementError::Request)?;
        let status = response.status().as_u16();
        let signature = response
            .headers()
            .get(hmac_sig::HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(DeclarativeManagementError::Request)?;
        if let Some(key) = &self.recv_hmac_key {
            let valid = signature.is_some_and(|s| hmac_sig::verify(key, &body, &s));
            if !valid {
                return Err(DeclarativeManagementError::BadResponseSignature);
            }
        }
        if status != 200 {
            return Err(DeclarativeManagementError::Status { status, body });
        }
        Ok(body)
    }
}

impl DeclarativeManagementHandler for DeclarativeManagementForwarder {
    fn declarative_management<'a>(
        &'a self,
        request: &'a MdmRequest,
        msg: &'a DeclarativeManagementMessage,
    ) -> BoxFuture<'a, Result<Bytes, DeclarativeManagementError>> {
        Box::pin(async move {
            let result = self.forward(request, msg).await;
            if result.is_err() {
                metrics::counter!("mdm_dm_forward_failures_total").increment(1);
            }
            result
        })
    }
}
