use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use mdm_enrollment::{EnrollId, enroll_id};
use mdm_proto::{CertHash, CheckIn, CommandReport, Enrollment, Raw, Status};
use mdm_storage::ReportOutcome;

use crate::MdmError;

/// A request id: 16 lowercase hex characters, as NanoMDM's trace ids. It names the request in
/// logs and is the `event_id` of its webhook event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh random id.
    pub fn random() -> Self {
        let mut bytes = [0u8; 8];
        // The id only has to be unlikely to repeat; if the OS source fails, a clock-derived id
        // still names the request.
        if getrandom::fill(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default();
            bytes = nanos.to_be_bytes();
        }
        RequestId(hex::encode(bytes))
    }

    /// An id chosen by the caller (e.g. from an incoming `X-Request-ID`, or fixed in tests).
    pub fn from_string(id: impl Into<String>) -> Self {
        RequestId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The device identity certificate that authenticated a request, as the transport verified it
/// (from `Mdm-Signature` or a proxy header): its DER and the hash the certificate binding uses.
///
/// The transport computed the hash when it read the certificate (`mdm-signature`'s
/// `IdentityCertificate::cert_hash`); it is carried, not computed again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    der: Bytes,
    hash: CertHash,
}

impl DeviceIdentity {
    /// A verified certificate: its DER and the SHA-256 of that DER.
    pub fn new(der: impl Into<Bytes>, hash: CertHash) -> Self {
        DeviceIdentity {
            der: der.into(),
            hash,
        }
    }

    /// The certificate, DER.
    pub fn der(&self) -> &Bytes {
        &self.der
    }

    /// The SHA-256 of the DER (shown as lowercase hex).
    pub fn hash(&self) -> &CertHash {
        &self.hash
    }
}

/// What a device sent: a check-in, or a command-channel report.
#[derive(Clone, Debug, PartialEq)]
pub enum MdmMessage {
    /// A check-in message.
    CheckIn(Raw<CheckIn>),
    /// A command report (or `Idle`) on the command channel.
    Report(Raw<CommandReport>),
}

impl MdmMessage {
    /// The enrollment keys of the message.
    pub fn enrollment(&self) -> &Enrollment {
        match self {
            MdmMessage::CheckIn(c) => c.enrollment(),
            MdmMessage::Report(r) => &r.enrollment,
        }
    }

    /// The exact bytes the device sent.
    pub fn bytes(&self) -> &Bytes {
        match self {
            MdmMessage::CheckIn(c) => c.bytes(),
            MdmMessage::Report(r) => r.bytes(),
        }
    }

    /// What kind of message this is: a check-in's `MessageType` or a report's `Status`.
    pub fn kind(&self) -> MessageKind<'_> {
        match self {
            MdmMessage::CheckIn(c) => MessageKind::CheckIn(c.message_type()),
            MdmMessage::Report(r) => MessageKind::Report(&r.status),
        }
    }
}

/// A message's kind ([`MdmMessage::kind`]). Check-in types and report statuses are told apart by
/// the variant; `Display` gives the bare name (`Authenticate`, `Idle`), as logs show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind<'a> {
    /// A check-in, by its `MessageType`.
    CheckIn(&'static str),
    /// A command-channel report, by its `Status`.
    Report(&'a Status),
}

impl MessageKind<'_> {
    /// The check-in's `MessageType` or the report's `Status`.
    pub fn as_str(&self) -> &str {
        match self {
            MessageKind::CheckIn(message_type) => message_type,
            MessageKind::Report(status) => status.as_str(),
        }
    }
}

impl fmt::Display for MessageKind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request from a device to the MDM service.
#[derive(Clone, Debug)]
pub struct MdmRequest {
    /// The decoded message with its raw bytes.
    pub message: MdmMessage,
    /// The channel the message comes from.
    pub enroll_id: EnrollId,
    /// The verified identity certificate, if the transport had one.
    pub identity: Option<DeviceIdentity>,
    /// URL query parameters (first value per key), as webhooks report them.
    pub params: BTreeMap<String, String>,
    /// The request's id.
    pub request_id: RequestId,
}

impl MdmRequest {
    /// A request for a decoded message: resolves its enrollment id (a message naming no device
    /// is a bad request) and gives it a fresh request id.
    pub fn new(message: MdmMessage) -> Result<Self, MdmError> {
        let enroll_id = enroll_id(message.enrollment())?;
        Ok(MdmRequest {
            message,
            enroll_id,
            identity: None,
            params: BTreeMap::new(),
            request_id: RequestId::random(),
        })
    }

    /// A check-in request.
    pub fn check_in(check_in: Raw<CheckIn>) -> Result<Self, MdmError> {
        Self::new(MdmMessage::CheckIn(check_in))
    }

    /// A command-channel request.
    pub fn report(report: Raw<CommandReport>) -> Result<Self, MdmError> {
        Self::new(MdmMessage::Report(report))
    }

    /// Sets the verified identity certificate.
    pub fn with_identity(mut self, identity: DeviceIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Sets the URL query parameters.
    pub fn with_params(mut self, params: BTreeMap<String, String>) -> Self {
        self.params = params;
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, request_id: RequestId) -> Self {
        self.request_id = request_id;
        self
    }
}

/// The service's answer: a body (the next command, a bootstrap token, a DM response …) or an
/// empty 200.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MdmResponse {
    /// The body, `None` for an empty response.
    pub body: Option<Bytes>,
    /// For a command report: what storing it did (the command was final, not now, not queued
    /// at all …), for layers that count or log it.
    pub report_outcome: Option<ReportOutcome>,
}

impl MdmResponse {
    /// An empty response.
    pub fn empty() -> Self {
        MdmResponse::default()
    }

    /// A response with a body.
    pub fn with_body(body: impl Into<Bytes>) -> Self {
        MdmResponse {
            body: Some(body.into()),
            report_outcome: None,
        }
    }

    /// Records what storing the command report did.
    pub fn report_outcome(mut self, outcome: ReportOutcome) -> Self {
        self.report_outcome = Some(outcome);
        self
    }
}
