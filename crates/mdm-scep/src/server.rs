//! The protocol core, without I/O: what to answer GetCACaps and GetCACert, how to decode and
//! check a PKIOperation, and how to build its CertRep. [`crate::Scep`] drives it with a challenge
//! policy and a CA; use it directly to drive those yourself.

use std::time::SystemTime;

use der::{Decode, Encode, EncodingRules, Tagged};
use x509_cert::Certificate;

use crate::certrep::{self, PkiStatus, ReplyTo};
use crate::csr::Csr;
use crate::envelope::{self, ContentEncryption, Recipient};
use crate::error::{AlgorithmUse, ConfigError, MessageError, Refusal, ServiceError};
use crate::identity::{ScepIdentity, subject_key_id};
use crate::lax::{LaxCertificate, SignerId};
use crate::message::{
    DEFAULT_MAX_MESSAGE_LEN, MessageType, PkiMessage, SignerCheck, TransactionId,
};
use crate::verify;

/// The capabilities micromdm's server advertises, in its order: a client that works with it sees
/// the same list here.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "Renewal",
    "SHA-1",
    "SHA-256",
    "AES",
    "DES3",
    "SCEPStandard",
    "POSTPKIOperation",
];

/// Settings of a [`ScepServer`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The largest PKIMessage accepted, in bytes (default 2 MiB). Larger messages are refused
    /// before anything is decoded.
    pub max_message_len: usize,
    /// Whether a request encrypted with single DES is opened (default `true`: micromdm's
    /// `scepclient` up to v2.1, as Debian ships it, and every client on Go's `pkcs7` defaults
    /// send single DES). When `false` such a request is refused with badAlg. A reply is never
    /// encrypted with single DES: such a request is answered with triple DES.
    pub accept_single_des: bool,
    /// The GetCACaps lines (default [`DEFAULT_CAPABILITIES`]).
    pub capabilities: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            accept_single_des: true,
            capabilities: DEFAULT_CAPABILITIES
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
        }
    }
}

impl ServerOptions {
    /// Sets [`ServerOptions::max_message_len`].
    pub fn max_message_len(mut self, max: usize) -> Self {
        self.max_message_len = max;
        self
    }

    /// Sets [`ServerOptions::accept_single_des`].
    pub fn accept_single_des(mut self, accept: bool) -> Self {
        self.accept_single_des = accept;
        self
    }
}

/// A GetCACert answer.
#[derive(Debug, Clone, Copy)]
pub struct CaCertResponse<'a> {
    /// `application/x-x509-ca-cert` (one DER certificate) or `application/x-x509-ca-ra-cert`
    /// (a degenerate PKCS #7 with the RA and CA certificates).
    pub content_type: &'static str,
    /// The body.
    pub body: &'a [u8],
}

/// The SCEP protocol core: an identity (the certificate requests are encrypted to and replies
/// signed with), the CA certificates GetCACert returns, and the checks of a PKIOperation.
#[derive(Debug, Clone)]
pub struct ScepServer {
    identity: ScepIdentity,
    /// The issuing CA's certificate (renewals must be signed by a certificate it issued).
    issuer: Certificate,
    caps: String,
    ca_cert_content_type: &'static str,
    ca_cert_body: Vec<u8>,
    options: ServerOptions,
}

/// A PKIOperation after decoding: a request whose message checks passed, or a refusal to
/// answer with a CertRep FAILURE.
#[derive(Debug)]
pub enum Decoded {
    /// The message is sound; the challenge policy and the CA decide next.
    Request(Box<EnrollmentRequest>),
    /// The message is refused.
    Refused(RefusedRequest),
}

/// A refused PKIOperation: what to address the CertRep to, and why.
#[derive(Debug, Clone)]
pub struct RefusedRequest {
    /// The request's message type.
    pub message_type: MessageType,
    /// The request's transaction id.
    pub transaction_id: TransactionId,
    /// The request's sender nonce (the reply's recipient nonce).
    pub sender_nonce: Vec<u8>,
    /// Why.
    pub refusal: Refusal,
}

/// A PKCSReq or RenewalReq whose signature, envelope and PKCS #10 self-signature all checked.
#[derive(Debug, Clone)]
pub struct EnrollmentRequest {
    /// PKCSReq or RenewalReq.
    pub message_type: MessageType,
    /// The transaction id.
    pub transaction_id: TransactionId,
    /// The sender nonce.
    pub sender_nonce: Vec<u8>,
    /// The certificate that signed the message (DER): self-signed for a PKCSReq, the
    /// certificate being renewed for a RenewalReq. The reply is encrypted to it.
    pub signer_certificate: Vec<u8>,
    /// For a RenewalReq, the certificate being renewed (this CA issued it; it is valid).
    pub renewal_of: Option<Certificate>,
    /// The certificate request.
    pub csr: Csr,
    /// The request's content encryption (the reply uses the same, triple DES for single DES).
    pub content_encryption: ContentEncryption,
    /// The signer's certificate, decoded.
    pub(crate) signer: LaxCertificate,
}

impl EnrollmentRequest {
    /// The request refused with `refusal`.
    pub fn refuse(&self, refusal: Refusal) -> RefusedRequest {
        RefusedRequest {
            message_type: self.message_type,
            transaction_id: self.transaction_id.clone(),
            sender_nonce: self.sender_nonce.clone(),
            refusal,
        }
    }
}

impl ScepServer {
    /// A server exchanging messages as `identity`, for the CA whose certificate chain is
    /// `ca_chain` (DER, the issuing CA first, then its issuers; may be empty when `identity` is
    /// the CA itself).
    pub fn new(
        identity: ScepIdentity,
        ca_chain: &[Vec<u8>],
        options: ServerOptions,
    ) -> Result<Self, ConfigError> {
        let chain = ca_chain
            .iter()
            .map(|der| Certificate::from_der(der).map_err(ConfigError::Certificate))
            .collect::<Result<Vec<_>, _>>()?;
        let issuer = chain
            .first()
            .cloned()
            .unwrap_or_else(|| identity.certificate().clone());
        let identity_is_ca = chain.len() <= 1 && issuer == *identity.certificate();
        let (ca_cert_content_type, ca_cert_body) = if identity_is_ca {
            (
                "application/x-x509-ca-cert",
                identity.certificate_der().to_vec(),
            )
        } else {
            let mut certs = vec![identity.certificate().clone()];
            certs.extend(chain.into_iter().filter(|c| c != identity.certificate()));
            let body = certrep::degenerate(&certs).map_err(|_| ConfigError::NoCertificate)?;
            ("application/x-x509-ca-ra-cert", body)
        };
        Ok(Self {
            caps: options.capabilities.join("\n"),
            identity,
            issuer,
            ca_cert_content_type,
            ca_cert_body,
            options,
        })
    }

    /// The options.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// The identity.
    pub fn identity(&self) -> &ScepIdentity {
        &self.identity
    }

    /// The GetCACaps answer (`text/plain`).
    pub fn ca_caps(&self) -> &str {
        &self.caps
    }

    /// The GetCACert answer.
    pub fn ca_cert(&self) -> CaCertResponse<'_> {
        CaCertResponse {
            content_type: self.ca_cert_content_type,
            body: &self.ca_cert_body,
        }
    }

    /// Decodes and checks a PKIOperation message at time `now`.
    ///
    /// `Err` when the message cannot be answered at all (an HTTP adapter answers 400); a
    /// refusal otherwise carries what its CertRep needs. In order: the SignedData and SCEP
    /// attributes decode; the message type is PKCSReq or RenewalReq; the digest is supported;
    /// the signer's certificate is in the message; messageDigest matches; the signature over
    /// the signed attributes verifies; for a RenewalReq the signer's certificate was issued by
    /// this CA and is valid at `now`; the requester's key is RSA (the reply is encrypted to
    /// it); the envelope is for this server and opens; it holds a PKCS #10 request whose
    /// self-signature verifies; for a PKCSReq that request's key is the signer's.
    pub fn decode(&self, message: &[u8], now: SystemTime) -> Result<Decoded, MessageError> {
        let msg = PkiMessage::decode(message, self.options.max_message_len)?;
        Ok(match self.check(&msg, now) {
            Ok(request) => Decoded::Request(Box::new(request)),
            Err(refusal) => Decoded::Refused(RefusedRequest {
                message_type: msg.message_type,
                transaction_id: msg.transaction_id,
                sender_nonce: msg.sender_nonce,
                refusal,
            }),
        })
    }

    fn check(&self, msg: &PkiMessage, now: SystemTime) -> Result<EnrollmentRequest, Refusal> {
        if !matches!(
            msg.message_type,
            MessageType::PkcsReq | MessageType::RenewalReq
        ) {
            return Err(Refusal::UnsupportedMessageType(msg.message_type));
        }
        let (signer_der, signer_cert) = self.find_signer_certificate(msg)?;
        let content = msg
            .verify_signer(signer_cert.tbs_certificate().subject_public_key_info())
            .map_err(|e| match e {
                SignerCheck::UnsupportedDigest(oid) => {
                    Refusal::UnsupportedAlgorithm(AlgorithmUse::Digest, oid)
                }
                SignerCheck::UnsupportedSignature(oid) => {
                    Refusal::UnsupportedAlgorithm(AlgorithmUse::Signature, oid)
                }
                SignerCheck::MalformedContent => Refusal::MalformedEnvelope,
                SignerCheck::DigestMismatch => Refusal::MessageDigestMismatch,
                SignerCheck::BadSignature => Refusal::BadSignature,
            })?;

        let renewal_of = if msg.message_type == MessageType::RenewalReq {
            Some(self.check_renewal_certificate(&signer_der, now)?)
        } else {
            None
        };
        if Recipient::new(&signer_cert).is_none() {
            return Err(Refusal::RequesterKeyNotRsa);
        }

        let opened = envelope::open(&content, &self.identity, self.options.accept_single_des)?;
        let csr = Csr::decode_and_verify(opened.content)?;
        if msg.message_type == MessageType::PkcsReq {
            let signer_key = signer_cert
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .map_err(|_| Refusal::MalformedSignerCertificate)?;
            if signer_key != csr.public_key_der() {
                return Err(Refusal::SignerKeyMismatch);
            }
        }
        Ok(EnrollmentRequest {
            message_type: msg.message_type,
            transaction_id: msg.transaction_id.clone(),
            sender_nonce: msg.sender_nonce.clone(),
            signer_certificate: signer_der,
            renewal_of,
            csr,
            content_encryption: opened.algorithm,
            signer: signer_cert,
        })
    }

    /// The certificate the signer identifier names, among the message's certificates (DER and
    /// decoded without RFC 5280's serial-number limit).
    fn find_signer_certificate(
        &self,
        msg: &PkiMessage,
    ) -> Result<(Vec<u8>, LaxCertificate), Refusal> {
        let certs = msg
            .signed_data
            .certificates
            .as_ref()
            .ok_or(Refusal::SignerCertificateNotFound)?;
        certs
            .iter()
            .filter(|any| any.tag() == der::Tag::Sequence)
            .find_map(|any| {
                let cert = any
                    .decode_as_encoding::<LaxCertificate>(EncodingRules::Ber)
                    .ok()?;
                let matches = match &msg.signer().sid {
                    SignerId::IssuerAndSerialNumber(id) => id.names(&cert),
                    SignerId::SubjectKeyIdentifier(ski) => {
                        subject_key_id(&cert).is_some_and(|id| id == ski.as_bytes())
                    }
                };
                matches.then(|| Some((any.to_der().ok()?, cert))).flatten()
            })
            .ok_or(Refusal::SignerCertificateNotFound)
    }

    /// A renewal must be signed with a certificate this CA issued that is valid now.
    fn check_renewal_certificate(
        &self,
        der: &[u8],
        now: SystemTime,
    ) -> Result<Certificate, Refusal> {
        let cert = Certificate::from_der(der).map_err(|_| Refusal::NotIssuedHere)?;
        let tbs = cert.tbs_certificate();
        if tbs.issuer() != self.issuer.tbs_certificate().subject() {
            return Err(Refusal::NotIssuedHere);
        }
        let tbs_der = tbs
            .to_der()
            .map_err(|_| Refusal::MalformedSignerCertificate)?;
        let signature = cert
            .signature()
            .as_bytes()
            .ok_or(Refusal::MalformedSignerCertificate)?;
        verify::verify(
            self.issuer.tbs_certificate().subject_public_key_info(),
            cert.signature_algorithm(),
            None,
            &tbs_der,
            signature,
        )
        .map_err(|_| Refusal::NotIssuedHere)?;
        let validity = tbs.validity();
        if now < validity.not_before.to_system_time() || now > validity.not_after.to_system_time() {
            return Err(Refusal::CertificateExpired);
        }
        Ok(cert)
    }

    /// The CertRep SUCCESS for `request`, carrying `issued` (the new certificate, DER)
    /// encrypted to the requester.
    pub fn reply_issued(
        &self,
        request: &EnrollmentRequest,
        issued: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        let cert = Certificate::from_der(issued).map_err(|_| ServiceError::IssuedCertificate)?;
        let inner =
            certrep::degenerate(std::slice::from_ref(&cert)).map_err(|_| ServiceError::Reply)?;
        let recipient = Recipient::new(&request.signer).ok_or(ServiceError::Reply)?;
        let sealed = envelope::seal(&inner, &recipient, request.content_encryption.for_reply())
            .map_err(|_| ServiceError::Reply)?;
        certrep::cert_rep(
            &self.identity,
            &ReplyTo {
                transaction_id: &request.transaction_id,
                sender_nonce: &request.sender_nonce,
            },
            PkiStatus::Success,
            Some(&sealed),
            &[cert],
        )
        .map_err(|_| ServiceError::Reply)
    }

    /// The CertRep FAILURE for a refused request.
    pub fn reply_refused(&self, refused: &RefusedRequest) -> Result<Vec<u8>, ServiceError> {
        certrep::cert_rep(
            &self.identity,
            &ReplyTo {
                transaction_id: &refused.transaction_id,
                sender_nonce: &refused.sender_nonce,
            },
            PkiStatus::Failure(refused.refusal.fail_info()),
            None,
            &[],
        )
        .map_err(|_| ServiceError::Reply)
    }
}
