//! Moves a client's requests over HTTP with `reqwest`.

use std::time::Duration;

use crate::{Error, Event, MdmClient, Request, Response};

/// The largest response body read from a server; the rest is refused, not buffered.
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Why an HTTP exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The HTTP client could not be built (bad TLS root, TLS backend failure).
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    /// The request did not get a response: connection refused, TLS failure, timeout, bad URL.
    /// (The reason is in the source chain: reqwest's own message does not say it.)
    #[error("request to {url} failed")]
    Transport {
        /// The URL the request went to.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The response body is larger than the driver reads.
    #[error("response from {url} is over {MAX_RESPONSE_BYTES} bytes")]
    ResponseTooLarge {
        /// The URL the request went to.
        url: String,
    },
    /// The device refused or could not build the exchange (see [`Error`]).
    #[error(transparent)]
    Device(#[from] Error),
    /// Enrolling from a profile failed ([`HttpDriver::enroll_with_profile`]).
    #[error(transparent)]
    Enroll(#[from] crate::enroll::EnrollError),
}

/// Sends [`Request`]s to the URL they name and returns [`Response`]s, over HTTP/1.1 or HTTPS.
/// Cheap to clone; clones share connections.
#[derive(Clone, Debug)]
pub struct HttpDriver {
    pub(crate) http: reqwest::Client,
}

/// Settings for an [`HttpDriver`].
#[derive(Clone, Debug)]
pub struct HttpDriverBuilder {
    roots_pem: Vec<Vec<u8>>,
    timeout: Duration,
}

impl HttpDriverBuilder {
    /// Trusts the CA certificates in `pem` for HTTPS servers, instead of the platform's roots.
    pub fn trust_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots_pem.push(pem.into());
        self
    }

    /// The limit for one whole exchange (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the driver.
    pub fn build(self) -> Result<HttpDriver, DriverError> {
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Loopback test servers must not be sent through a proxy from the environment.
            .no_proxy();
        if !self.roots_pem.is_empty() {
            let mut roots = Vec::new();
            for pem in &self.roots_pem {
                roots.extend(
                    reqwest::Certificate::from_pem_bundle(pem).map_err(DriverError::Build)?,
                );
            }
            builder = builder.tls_certs_only(roots);
        }
        Ok(HttpDriver {
            http: builder.build().map_err(DriverError::Build)?,
        })
    }
}

impl HttpDriver {
    /// A driver with default settings: platform roots, 30 s timeout.
    pub fn new() -> Result<Self, DriverError> {
        Self::builder().build()
    }

    /// Settings for a driver.
    pub fn builder() -> HttpDriverBuilder {
        HttpDriverBuilder {
            roots_pem: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Sends one request and reads the response.
    pub async fn send(&self, request: &Request) -> Result<Response, DriverError> {
        let transport = |source| DriverError::Transport {
            url: request.url().to_owned(),
            source,
        };
        let mut response = self
            .http
            .request(request.method(), request.url())
            .headers(request.headers().clone())
            .body(request.body().clone())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(DriverError::ResponseTooLarge {
                    url: request.url().to_owned(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response::new(status, body))
    }

    /// Runs one exchange of `client`: takes its next request, sends it, and hands it the
    /// response. `None` when the client has nothing to send.
    ///
    /// When the request does not get a response the client forgets it and what it had queued
    /// ([`MdmClient::abort`]), as a device gives up until its next wake-up.
    pub async fn exchange(&self, client: &mut MdmClient) -> Option<Result<Event, DriverError>> {
        let request = match client.poll_request() {
            Ok(Some(request)) => request,
            Ok(None) => return None,
            Err(e) => return Some(Err(e.into())),
        };
        match self.send(&request).await {
            Ok(response) => Some(client.handle_response(response).map_err(Into::into)),
            Err(e) => {
                client.abort();
                Some(Err(e))
            }
        }
    }

    /// Runs exchanges until `client` has nothing left to send (enrollment done, every command
    /// answered), returning what happened. Stops at the first error.
    pub async fn run(&self, client: &mut MdmClient) -> Result<Vec<Event>, DriverError> {
        let mut events = Vec::new();
        while let Some(event) = self.exchange(client).await {
            events.push(event?);
        }
        Ok(events)
    }
}
