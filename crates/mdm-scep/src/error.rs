//! The crate's errors: each enum is one stage, each variant a case a caller can act on.

use der::oid::ObjectIdentifier;

/// A boxed error from a pluggable backend (a challenge store, a remote CA).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a PEM text could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// A `-----BEGIN` line has no matching `-----END` line.
    #[error("PEM block without its END line")]
    Unterminated,
    /// The text between the lines is not base64.
    #[error("PEM block is not valid base64")]
    Base64,
    /// The block has RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`): an encrypted legacy key.
    #[error("PEM block has headers (an encrypted legacy key?)")]
    Headers,
}

/// Why a private key could not be loaded, generated or used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM text holds no private key block.
    #[error("no private key found")]
    NoKey,
    /// The key is encrypted (`ENCRYPTED PRIVATE KEY`); decrypt it first.
    #[error("the private key is encrypted")]
    Encrypted,
    /// The key is not an RSA or P-256 key this crate can use, or its encoding is broken.
    #[error("unsupported or malformed private key")]
    Unsupported,
    /// The PEM text is malformed.
    #[error("private key PEM: {0}")]
    Pem(#[from] PemError),
    /// Key generation failed.
    #[error("key generation failed")]
    Generate,
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

/// Why a CA, an RA or a server could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The PEM text holds no `CERTIFICATE` block.
    #[error("no certificate found")]
    NoCertificate,
    /// The PEM text is malformed.
    #[error("certificate PEM: {0}")]
    Pem(#[from] PemError),
    /// A certificate does not decode.
    #[error("malformed certificate: {0}")]
    Certificate(der::Error),
    /// The private key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// SCEP clients encrypt their requests to this key with RSA key transport, so it must be an
    /// RSA key. With an ECDSA CA, configure an RSA RA certificate.
    #[error("the key requests are encrypted to must be RSA (use an RSA RA with an ECDSA CA)")]
    ExchangeKeyNotRsa,
    /// A validity period is zero or too long to represent.
    #[error("invalid certificate validity")]
    Validity,
}

/// A SCEP HTTP request that cannot be served at all; an HTTP adapter answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// There is no `operation` query parameter.
    #[error("no operation parameter")]
    MissingOperation,
    /// The `operation` is not a SCEP operation.
    #[error("unknown operation")]
    UnknownOperation,
    /// The operation exists in SCEP but this server does not offer it (`GetNextCACert`).
    #[error("operation {0} is not supported")]
    UnsupportedOperation(crate::Operation),
    /// The operation needs a different HTTP method (PKIOperation is GET or POST, the others GET).
    #[error("operation {0} does not accept this method")]
    MethodNotAllowed(crate::Operation),
    /// A GET PKIOperation has no `message` parameter, or a POST an empty body.
    #[error("no message")]
    MissingMessage,
    /// The `message` parameter is not percent-encoded base64.
    #[error("the message parameter is not URL-escaped base64")]
    MessageEncoding,
    /// The message is longer than the limit.
    #[error("the message is {len} bytes long, the limit is {max}")]
    MessageTooLarge {
        /// The message's length in bytes (at least; reading stopped there).
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The PKIMessage cannot be decoded far enough to answer it with a CertRep.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// The part of a PKIMessage that failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Structure {
    /// The outer CMS ContentInfo.
    ContentInfo,
    /// The SignedData.
    SignedData,
    /// The SignerInfo.
    SignerInfo,
}

impl std::fmt::Display for Structure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Structure::ContentInfo => "ContentInfo",
            Structure::SignedData => "SignedData",
            Structure::SignerInfo => "SignerInfo",
        })
    }
}

/// A SCEP signed attribute a request must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScepAttribute {
    /// `messageType`.
    MessageType,
    /// `transactionID`.
    TransactionId,
    /// `senderNonce`.
    SenderNonce,
}

impl std::fmt::Display for ScepAttribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScepAttribute::MessageType => "messageType",
            ScepAttribute::TransactionId => "transactionID",
            ScepAttribute::SenderNonce => "senderNonce",
        })
    }
}

/// A PKIMessage too broken to be answered with a CertRep: without a signer's transactionID and
/// senderNonce there is nothing to address a reply to. An HTTP adapter answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The message is empty.
    #[error("empty PKIMessage")]
    Empty,
    /// The message is longer than the limit.
    #[error("PKIMessage is {len} bytes long, the limit is {max}")]
    TooLarge {
        /// The message's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A structure does not decode (truncated, wrong tag, bad length, trailing bytes, ...).
    #[error("malformed {what}: {error}")]
    Asn1 {
        /// Which structure.
        what: Structure,
        /// The decoder's error.
        error: der::Error,
    },
    /// The ContentInfo holds something other than SignedData (its content type is given).
    #[error("PKIMessage is not SignedData but {0}")]
    NotSignedData(ObjectIdentifier),
    /// The SignedData has not exactly one signer (the number is given).
    #[error("PKIMessage has {0} signers, exactly one is required")]
    SignerCount(usize),
    /// The signer has no signed attributes, so no SCEP attributes.
    #[error("PKIMessage signer has no signed attributes")]
    NoSignedAttributes,
    /// A SCEP attribute is missing.
    #[error("PKIMessage has no {0} attribute")]
    MissingAttribute(ScepAttribute),
    /// A SCEP attribute is repeated, has not one value, or its value is not of its type.
    #[error("PKIMessage has a malformed {0} attribute")]
    MalformedAttribute(ScepAttribute),
}

/// A SCEP `failInfo` (RFC 8894 §3.2.1.4): why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailInfo {
    /// Unrecognized or unsupported algorithm.
    BadAlg,
    /// Integrity check (signature verification) failed.
    BadMessageCheck,
    /// Transaction not permitted or supported.
    BadRequest,
    /// The message time was not sufficiently close to the system time.
    BadTime,
    /// No certificate could be identified matching the provided criteria.
    BadCertId,
}

impl FailInfo {
    /// The value carried in the `failInfo` attribute (`"0"` .. `"4"`).
    pub fn code(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "0",
            FailInfo::BadMessageCheck => "1",
            FailInfo::BadRequest => "2",
            FailInfo::BadTime => "3",
            FailInfo::BadCertId => "4",
        }
    }

    /// Reads a `failInfo` value.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "0" => FailInfo::BadAlg,
            "1" => FailInfo::BadMessageCheck,
            "2" => FailInfo::BadRequest,
            "3" => FailInfo::BadTime,
            "4" => FailInfo::BadCertId,
            _ => return None,
        })
    }
}

impl std::fmt::Display for FailInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailInfo::BadAlg => "badAlg",
            FailInfo::BadMessageCheck => "badMessageCheck",
            FailInfo::BadRequest => "badRequest",
            FailInfo::BadTime => "badTime",
            FailInfo::BadCertId => "badCertId",
        })
    }
}

/// An algorithm slot of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlgorithmUse {
    /// The signer's digest algorithm.
    Digest,
    /// The signer's (or the CSR's) signature algorithm.
    Signature,
    /// The key-transport algorithm of the envelope's recipient.
    KeyTransport,
    /// The envelope's content-encryption algorithm.
    ContentEncryption,
}

impl std::fmt::Display for AlgorithmUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlgorithmUse::Digest => "digest",
            AlgorithmUse::Signature => "signature",
            AlgorithmUse::KeyTransport => "key transport",
            AlgorithmUse::ContentEncryption => "content encryption",
        })
    }
}

/// Why a decodable request was refused; the answer is a CertRep with `pkiStatus` FAILURE and the
/// [`failInfo`](Refusal::fail_info) this maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The messageType is not PKCSReq or RenewalReq (CertPoll, GetCert, GetCRL, CertRep or an
    /// unknown number). badRequest.
    #[error("unsupported messageType {0}")]
    UnsupportedMessageType(crate::MessageType),
    /// An algorithm this server does not accept (slot and OID given). badAlg.
    #[error("unsupported {0} algorithm {1}")]
    UnsupportedAlgorithm(AlgorithmUse, ObjectIdentifier),
    /// The envelope uses single DES and the server refuses it
    /// ([`ServerOptions::accept_single_des`](crate::ServerOptions::accept_single_des)). badAlg.
    #[error("single DES content encryption is refused")]
    SingleDes,
    /// The requester's certificate has no RSA key, so the reply cannot be encrypted to it.
    /// badAlg.
    #[error("the requester's certificate key is not RSA")]
    RequesterKeyNotRsa,
    /// No certificate in the message matches the signer's identifier. badMessageCheck.
    #[error("the signer's certificate is not in the message")]
    SignerCertificateNotFound,
    /// The signer's certificate or public key does not decode. badMessageCheck.
    #[error("the signer's certificate is malformed")]
    MalformedSignerCertificate,
    /// The messageDigest attribute is missing or does not match the content. badMessageCheck.
    #[error("messageDigest does not match the content")]
    MessageDigestMismatch,
    /// The signature over the signed attributes does not verify. badMessageCheck.
    #[error("the message signature does not verify")]
    BadSignature,
    /// The signed content is not an EnvelopedData. badMessageCheck.
    #[error("the signed content is not a decodable EnvelopedData")]
    MalformedEnvelope,
    /// No recipient of the envelope is this server's certificate. badCertId.
    #[error("the envelope is not encrypted to this server's certificate")]
    NotARecipient,
    /// The envelope could not be opened: the key transport, the decryption or its padding
    /// failed. Which of these is deliberately not told (no padding oracle). badMessageCheck.
    #[error("the envelope could not be decrypted")]
    Undecryptable,
    /// The envelope's content is not a PKCS #10 request. badMessageCheck.
    #[error("the envelope does not hold a PKCS #10 request")]
    MalformedCsr,
    /// The request's self-signature does not verify. badMessageCheck.
    #[error("the PKCS #10 request's signature does not verify")]
    CsrSignature,
    /// PKCSReq: the message is signed with another key than the request's. badMessageCheck.
    #[error("the message is not signed with the requested key")]
    SignerKeyMismatch,
    /// RenewalReq: the signer's certificate was not issued by this CA. badCertId.
    #[error("the renewal is not signed with a certificate this CA issued")]
    NotIssuedHere,
    /// RenewalReq: the signer's certificate is expired or not yet valid. badTime.
    #[error("the renewal certificate is outside its validity")]
    CertificateExpired,
    /// The challenge policy refused the request. badRequest.
    #[error("challenge refused: {0}")]
    Challenge(ChallengeRefusal),
    /// The CA refused the request (the failInfo it chose is given).
    #[error("the CA refused the request ({0})")]
    Ca(FailInfo),
}

impl Refusal {
    /// The `failInfo` this refusal is answered with.
    pub fn fail_info(&self) -> FailInfo {
        match self {
            Refusal::UnsupportedMessageType(_) | Refusal::Challenge(_) => FailInfo::BadRequest,
            Refusal::UnsupportedAlgorithm(..)
            | Refusal::SingleDes
            | Refusal::RequesterKeyNotRsa => FailInfo::BadAlg,
            Refusal::SignerCertificateNotFound
            | Refusal::MalformedSignerCertificate
            | Refusal::MessageDigestMismatch
            | Refusal::BadSignature
            | Refusal::MalformedEnvelope
            | Refusal::Undecryptable
            | Refusal::MalformedCsr
            | Refusal::CsrSignature
            | Refusal::SignerKeyMismatch => FailInfo::BadMessageCheck,
            Refusal::NotARecipient | Refusal::NotIssuedHere => FailInfo::BadCertId,
            Refusal::CertificateExpired => FailInfo::BadTime,
            Refusal::Ca(info) => *info,
        }
    }
}

/// Why a challenge policy refused a request (answered with failInfo badRequest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeRefusal {
    /// The request carries no challenge password.
    #[error("no challenge password")]
    Missing,
    /// The challenge password is not one this policy knows.
    #[error("wrong challenge password")]
    Wrong,
    /// The one-time challenge has expired.
    #[error("the challenge has expired")]
    Expired,
    /// The one-time challenge was already used by another request.
    #[error("the challenge was already used")]
    AlreadyUsed,
    /// The policy does not allow renewals.
    #[error("renewal is not allowed")]
    RenewalNotAllowed,
}

/// Why a challenge policy did not accept a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The request is refused (a CertRep FAILURE, badRequest).
    #[error(transparent)]
    Refused(#[from] ChallengeRefusal),
    /// The policy could not decide (its store is unreachable); an HTTP adapter answers 503.
    #[error("challenge policy unavailable")]
    Unavailable(#[source] BoxError),
}

/// Why a CA did not issue a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The CA refuses the request (a CertRep FAILURE with this failInfo).
    #[error("refused ({0})")]
    Refused(FailInfo),
    /// The CA could not decide now (a remote CA is unreachable); an HTTP adapter answers 503.
    #[error("CA unavailable")]
    Unavailable(#[source] BoxError),
    /// The certificate could not be built or signed; an HTTP adapter answers 500.
    #[error("the certificate could not be built")]
    Build,
}

/// Why the server could not answer a request it decoded: a backend failure, not the client's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The challenge policy is unavailable (HTTP 503).
    #[error("challenge policy unavailable")]
    ChallengeUnavailable(#[source] BoxError),
    /// The CA is unavailable (HTTP 503).
    #[error("CA unavailable")]
    CaUnavailable(#[source] BoxError),
    /// The CA failed to build the certificate (HTTP 500).
    #[error("the CA failed to build the certificate")]
    Issue,
    /// The CA returned bytes that are not a certificate (HTTP 500).
    #[error("the CA returned a malformed certificate")]
    IssuedCertificate,
    /// The reply could not be built or signed (HTTP 500).
    #[error("the CertRep could not be built")]
    Reply,
}

/// Everything a SCEP request can end in other than a response: what an HTTP adapter maps to a
/// status code ([`ScepError::http_status`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScepError {
    /// The request is malformed (HTTP 400).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A backend failed (HTTP 500 or 503).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ScepError {
    /// The HTTP status an adapter answers with: 400 for a malformed request, 503 for an
    /// unavailable backend, 500 for a failure to build the answer.
    pub fn http_status(&self) -> u16 {
        match self {
            ScepError::Request(_) => 400,
            ScepError::Service(
                ServiceError::ChallengeUnavailable(_) | ServiceError::CaUnavailable(_),
            ) => 503,
            ScepError::Service(_) => 500,
        }
    }
}

impl From<MessageError> for ScepError {
    fn from(e: MessageError) -> Self {
        ScepError::Request(RequestError::Message(e))
    }
}
