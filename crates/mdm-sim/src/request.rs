//! HTTP requests as plain values: what a device sends and what it gets back, without I/O.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};

use crate::device::Channel;

pub use mdm_proto::{CHECK_IN_CONTENT_TYPE, COMMAND_CONTENT_TYPE};
/// The header carrying the detached CMS signature over the body
/// ([`mdm_proto::MDM_SIGNATURE_HEADER`]).
pub const MDM_SIGNATURE: HeaderName = HeaderName::from_static(mdm_proto::MDM_SIGNATURE_HEADER);

/// The settings of the enrollment profile's `com.apple.mdm` payload that decide where a device
/// sends what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MdmPayload {
    /// `ServerURL`: where command reports go (and check-ins, without a `CheckInURL`).
    pub server_url: Arc<str>,
    /// `CheckInURL`: where check-ins go, if the profile names one.
    pub check_in_url: Option<Arc<str>>,
    /// `Topic`: the push topic, `com.apple.mgmt.External.<uuid>` (the push certificate's UID).
    pub topic: Arc<str>,
}

impl MdmPayload {
    /// A payload with `ServerURL` (full URL, e.g. `https://mdm.example/mdm`) and `Topic`, and no
    /// `CheckInURL`.
    pub fn new(server_url: impl Into<Arc<str>>, topic: impl Into<Arc<str>>) -> Self {
        Self {
            server_url: server_url.into(),
            check_in_url: None,
            topic: topic.into(),
        }
    }

    /// Sets `CheckInURL`.
    pub fn with_check_in_url(mut self, check_in_url: impl Into<Arc<str>>) -> Self {
        self.check_in_url = Some(check_in_url.into());
        self
    }

    /// The URL check-ins go to: `CheckInURL` if set, else `ServerURL`.
    pub fn check_in_url(&self) -> &Arc<str> {
        self.check_in_url.as_ref().unwrap_or(&self.server_url)
    }
}

/// One HTTP request from a device: always `PUT`, to the check-in or server URL, with a property
/// list body. Cloning is cheap (the body and header values are reference counted), so a load
/// generator can sign a request once and send it many times.
#[derive(Clone, Debug)]
pub struct Request {
    pub(crate) url: Arc<str>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) channel: Channel,
    pub(crate) name: Cow<'static, str>,
}

impl Request {
    pub(crate) fn new(
        url: Arc<str>,
        check_in: bool,
        body: Bytes,
        channel: Channel,
        name: Cow<'static, str>,
    ) -> Self {
        let mut headers = HeaderMap::with_capacity(2);
        let content_type = if check_in {
            CHECK_IN_CONTENT_TYPE
        } else {
            COMMAND_CONTENT_TYPE
        };
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        Self {
            url,
            headers,
            body,
            channel,
            name,
        }
    }

    /// The method: always `PUT`.
    pub fn method(&self) -> Method {
        Method::PUT
    }

    /// The full URL (`ServerURL` or `CheckInURL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers: `Content-Type`, and after signing `Mdm-Signature` or a certificate header.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Mutable headers, to add or break one in a test.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The property-list body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether this is a check-in (`application/x-apple-aspen-mdm-checkin`).
    pub fn is_check_in(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .map(HeaderValue::as_bytes)
            == Some(CHECK_IN_CONTENT_TYPE.as_bytes())
    }

    /// The channel the request comes from.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The check-in's `MessageType` or the report's `Status`, for logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The request as an [`http::Request`], to hand to a `tower` service or another client
    /// without a network.
    pub fn to_http(&self) -> Result<http::Request<Bytes>, http::Error> {
        let mut builder = http::Request::builder().method(Method::PUT).uri(&*self.url);
        if let Some(headers) = builder.headers_mut() {
            headers.extend(self.headers.clone());
        }
        builder.body(self.body.clone())
    }
}

/// What the server answered: the status code and the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body: a command property list, a check-in answer, or empty.
    pub body: Bytes,
}

impl Response {
    /// A response with `status` and `body`.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }
}
