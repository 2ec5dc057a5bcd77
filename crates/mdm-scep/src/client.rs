//! A SCEP client (feature `client`): the requests a device sends and the reading of the
//! server's CertRep. For tests, benchmarks, fuzz seeds and simulated devices; built with the same
//! `cms` and `x509-cert` builders as the server.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier};
use der::asn1::{OctetString, PrintableString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode, EncodingRules, Tag};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};
use x509_cert::attr::Attribute;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::DirectoryString;
use x509_cert::name::Name;
use x509_cert::request::RequestBuilder;
use x509_cert::request::attributes::ChallengePassword;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate};

use crate::envelope::{self, ContentEncryption, Recipient};
use crate::error::{FailInfo, KeyError};
use crate::identity::ScepIdentity;
use crate::keys::{PrivateKey, RawSignature};
use crate::message::{MessageType, PkiMessage, TransactionId, printable_text};
use crate::oid;
use crate::verify::Digest;

/// Why the client could not build a request or read a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A distinguished name does not parse (RFC 4514).
    #[error("invalid subject name")]
    Subject,
    /// A certificate does not decode.
    #[error("malformed certificate")]
    Certificate,
    /// The recipient certificate has no RSA key.
    #[error("the recipient certificate's key is not RSA")]
    RecipientNotRsa,
    /// A key operation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Encoding or building a structure failed.
    #[error("could not build the message")]
    Build,
    /// The reply is not a PKIMessage.
    #[error("malformed reply: {0}")]
    Reply(#[from] crate::MessageError),
    /// The reply is not a CertRep, lacks pkiStatus, or has an unknown one.
    #[error("the reply is not a well-formed CertRep")]
    NotCertRep,
    /// The reply's signature does not verify with the server's certificate.
    #[error("the reply's signature does not verify")]
    ReplySignature,
    /// The reply's envelope could not be opened or holds no certificate.
    #[error("the reply's envelope could not be opened")]
    ReplyEnvelope,
}

impl From<der::Error> for ClientError {
    fn from(_: der::Error) -> Self {
        ClientError::Build
    }
}

impl From<cms::builder::Error> for ClientError {
    fn from(_: cms::builder::Error) -> Self {
        ClientError::Build
    }
}

impl From<x509_cert::builder::Error> for ClientError {
    fn from(_: x509_cert::builder::Error) -> Self {
        ClientError::Build
    }
}

/// The key and certificate a request is signed with: a self-signed certificate for a PKCSReq,
/// the certificate being renewed for a RenewalReq.
pub struct Requester {
    key: PrivateKey,
    cert_der: Vec<u8>,
    cert: Certificate,
}

impl std::fmt::Debug for Requester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requester")
            .field(
                "subject",
                &self.cert.tbs_certificate().subject().to_string(),
            )
            .finish_non_exhaustive()
    }
}

struct SelfSigned(Name);

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.0.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

impl Requester {
    /// A requester with a self-signed certificate for `subject` (RFC 4514, e.g.
    /// `CN=device,O=Example`), valid for a day, as clients make for a PKCSReq.
    pub fn self_signed(key: PrivateKey, subject: &str) -> Result<Self, ClientError> {
        let name = Name::from_str(subject).map_err(|_| ClientError::Subject)?;
        let now = SystemTime::now();
        let validity = Validity::new(
            Time::try_from(now.checked_sub(Duration::from_secs(60)).unwrap_or(now))?,
            Time::try_from(now.checked_add(Duration::from_secs(86_400)).unwrap_or(now))?,
        );
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(key.public_key_der())?;
        let serial = SerialNumber::new(&crate::rng::bytes::<8>().map(|b| b & 0x7f))?;
        let cert = CertificateBuilder::new(SelfSigned(name), serial, validity, spki)?
            .build::<_, RawSignature>(&key.builder_signer())?;
        let cert_der = cert.to_der()?;
        Ok(Self {
            key,
            cert_der,
            cert,
        })
    }

    /// A requester holding an issued certificate (DER), for a RenewalReq.
    pub fn with_certificate(key: PrivateKey, cert_der: Vec<u8>) -> Result<Self, ClientError> {
        let cert = Certificate::from_der(&cert_der).map_err(|_| ClientError::Certificate)?;
        Ok(Self {
            key,
            cert_der,
            cert,
        })
    }

    /// The key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }
}

/// A PKCS #10 request (DER) for `key`'s public key and `subject` (RFC 4514), with the
/// challenge password if one is given, signed with `key`.
pub fn csr(
    key: &PrivateKey,
    subject: &str,
    challenge: Option<&str>,
) -> Result<Vec<u8>, ClientError> {
    let name = Name::from_str(subject).map_err(|_| ClientError::Subject)?;
    let mut builder = RequestBuilder::new(name)?;
    if let Some(pw) = challenge {
        let value = match PrintableString::new(pw) {
            Ok(p) => DirectoryString::PrintableString(p),
            Err(_) => DirectoryString::Utf8String(pw.to_owned()),
        };
        builder.add_attribute(&ChallengePassword(value))?;
    }
    let req = builder.build::<_, RawSignature>(&key.builder_signer())?;
    Ok(req.to_der()?)
}

/// How [`pki_request`] builds a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestOptions {
    /// PKCSReq (default) or RenewalReq.
    pub message_type: MessageType,
    /// The envelope's content encryption (default AES-128-CBC).
    pub content_encryption: ContentEncryption,
    /// The signer's digest algorithm (default SHA-256; any of SHA-1, SHA-224, SHA-256, SHA-384,
    /// SHA-512 is written, whether or not a server accepts it). The signature itself is always
    /// RSA or ECDSA with SHA-256.
    pub digest: ObjectIdentifier,
    /// The transaction id (default: hex SHA-256 of the request's public key).
    pub transaction_id: Option<String>,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            message_type: MessageType::PkcsReq,
            content_encryption: ContentEncryption::Aes128Cbc,
            digest: oid::SHA256,
            transaction_id: None,
        }
    }
}

impl RequestOptions {
    /// A RenewalReq.
    pub fn renewal() -> Self {
        Self {
            message_type: MessageType::RenewalReq,
            ..Self::default()
        }
    }

    /// Sets [`RequestOptions::content_encryption`].
    pub fn content_encryption(mut self, alg: ContentEncryption) -> Self {
        self.content_encryption = alg;
        self
    }

    /// Sets [`RequestOptions::digest`].
    pub fn digest(mut self, digest: ObjectIdentifier) -> Self {
        self.digest = digest;
        self
    }
}

/// A built request.
#[derive(Debug, Clone)]
pub struct PkiRequest {
    /// The PKIMessage (DER), the body of a POST PKIOperation.
    pub message: Vec<u8>,
    /// Its transaction id.
    pub transaction_id: String,
    /// Its sender nonce.
    pub sender_nonce: Vec<u8>,
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, der::Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// Builds a PKIMessage carrying `csr` (DER), encrypted to `recipient` (the server's RA or CA
/// certificate, DER) and signed by `requester`.
pub fn pki_request(
    requester: &Requester,
    recipient: &[u8],
    csr: &[u8],
    options: &RequestOptions,
) -> Result<PkiRequest, ClientError> {
    let recipient = Certificate::from_der(recipient).map_err(|_| ClientError::Certificate)?;
    let recipient = Recipient::new(&recipient).ok_or(ClientError::RecipientNotRsa)?;
    let envelope = envelope::seal(csr, &recipient, options.content_encryption)
        .map_err(|_| ClientError::Build)?;

    let transaction_id = match &options.transaction_id {
        Some(id) => id.clone(),
        None => {
            let req = x509_cert::request::CertReq::from_der(csr).map_err(|_| ClientError::Build)?;
            let spki = req.info.public_key.to_der()?;
            hex::encode_upper(Digest::Sha256.digest(&spki))
        }
    };
    let sender_nonce = crate::rng::bytes::<16>().to_vec();

    let eci = EncapsulatedContentInfo {
        econtent_type: oid::DATA,
        econtent: Some(Any::new(Tag::OctetString, envelope)?),
    };
    let cert = &requester.cert;
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate().issuer().clone(),
        serial_number: cert.tbs_certificate().serial_number().clone(),
    });
    let digest = AlgorithmIdentifierOwned {
        oid: options.digest,
        parameters: None,
    };
    let mut signer_info = SignerInfoBuilder::new(sid, digest.clone(), &eci, None)?;
    let tid = TransactionId::printable(&transaction_id)?;
    signer_info.add_signed_attribute(attribute(oid::SCEP_TRANSACTION_ID, tid.value().clone())?)?;
    let message_type = options.message_type.number().to_string();
    signer_info.add_signed_attribute(attribute(
        oid::SCEP_MESSAGE_TYPE,
        Any::encode_from(&PrintableString::new(&message_type)?)?,
    )?)?;
    signer_info.add_signed_attribute(attribute(
        oid::SCEP_SENDER_NONCE,
        Any::new(Tag::OctetString, sender_nonce.clone())?,
    )?)?;
    let mut builder = SignedDataBuilder::new(&eci);
    builder.add_digest_algorithm(digest)?;
    builder.add_certificate(CertificateChoices::Certificate(cert.clone()))?;
    builder.add_signer_info::<_, RawSignature>(signer_info, &requester.key.builder_signer())?;
    Ok(PkiRequest {
        message: builder.build()?.to_der()?,
        transaction_id,
        sender_nonce,
    })
}

/// What a CertRep says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertRepStatus {
    /// Issued: the certificates of the envelope (DER), the new certificate first.
    Issued(Vec<Vec<u8>>),
    /// Refused with this failInfo.
    Failed(FailInfo),
    /// Pending (manual approval).
    Pending,
}

/// A CertRep read by [`read_cert_rep`].
#[derive(Debug, Clone)]
pub struct CertRep {
    /// The transaction id it answers.
    pub transaction_id: String,
    /// The recipient nonce (the request's sender nonce).
    pub recipient_nonce: Vec<u8>,
    /// The status.
    pub status: CertRepStatus,
}

/// Reads a CertRep: checks its signature with `server_certificate` (DER), reads its status and,
/// on success, opens the envelope with the requester's key.
pub fn read_cert_rep(
    reply: &[u8],
    requester: &Requester,
    server_certificate: &[u8],
) -> Result<CertRep, ClientError> {
    let msg = PkiMessage::decode(reply, crate::DEFAULT_MAX_MESSAGE_LEN)?;
    if msg.message_type != MessageType::CertRep {
        return Err(ClientError::NotCertRep);
    }
    let server = Certificate::from_der(server_certificate).map_err(|_| ClientError::Certificate)?;
    let content = msg
        .verify_signer(server.tbs_certificate().subject_public_key_info())
        .map_err(|_| ClientError::ReplySignature)?;

    let text = |oid| -> Option<String> {
        msg.signed_attribute(oid)
            .ok()
            .flatten()
            .and_then(printable_text)
            .map(str::to_owned)
    };
    let status = match text(oid::SCEP_PKI_STATUS).as_deref() {
        Some("0") => {
            let identity = ScepIdentity::new(
                requester.cert_der.clone(),
                PrivateKey::from_pkcs8_der(&requester.key.to_pkcs8_der()?)?,
            )
            .map_err(|_| ClientError::ReplyEnvelope)?;
            let opened = envelope::open(&content, &identity, true)
                .map_err(|_| ClientError::ReplyEnvelope)?;
            CertRepStatus::Issued(degenerate_certificates(&opened.content)?)
        }
        Some("2") => CertRepStatus::Failed(
            text(oid::SCEP_FAIL_INFO)
                .as_deref()
                .and_then(FailInfo::from_code)
                .ok_or(ClientError::NotCertRep)?,
        ),
        Some("3") => CertRepStatus::Pending,
        _ => return Err(ClientError::NotCertRep),
    };
    let recipient_nonce = msg
        .signed_attribute(oid::SCEP_RECIPIENT_NONCE)
        .ok()
        .flatten()
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .map(|o| o.into_bytes().into_vec())
        .ok_or(ClientError::NotCertRep)?;
    Ok(CertRep {
        transaction_id: msg.transaction_id.as_str().into_owned(),
        recipient_nonce,
        status,
    })
}

/// The certificates (DER) of a degenerate certificates-only SignedData (a ContentInfo): the
/// body of GetCACert's `application/x-x509-ca-ra-cert` answer, or an opened CertRep envelope.
pub fn degenerate_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ClientError> {
    let info = ContentInfo::from_ber(bytes).map_err(|_| ClientError::ReplyEnvelope)?;
    let sd = info
        .content
        .decode_as_encoding::<SignedData>(EncodingRules::Ber)
        .map_err(|_| ClientError::ReplyEnvelope)?;
    let certs = sd
        .certificates
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(cert) => cert.to_der().ok(),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if certs.is_empty() {
        return Err(ClientError::ReplyEnvelope);
    }
    Ok(certs)
}

/// A self-signed CA for tests: its certificate and PKCS #8 key as one PEM text, as
/// [`FileCa::from_pem`](crate::FileCa::from_pem) reads. Valid for ten years from an hour ago;
/// `basicConstraints` CA:TRUE, key usage `keyCertSign`, `cRLSign`, `digitalSignature` and, for
/// RSA, `keyEncipherment` (so the CA can be SCEP's exchange identity itself).
pub fn test_ca_pem(algorithm: crate::KeyAlgorithm, subject: &str) -> Result<String, ClientError> {
    let key = PrivateKey::generate(algorithm)?;
    crate::ca::self_signed_ca_pem(&key, subject).map_err(|_| ClientError::Build)
}
