//! Certificate authorities: the trait the server issues through, and [`FileCa`], a CA whose
//! certificate and key come from a PEM file.

use std::future::Future;
use std::time::{Duration, SystemTime};

use der::asn1::OctetString;
use der::{Decode, Encode};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, ExtensionReq};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate};

use crate::error::{ConfigError, FailInfo, IssueError};
use crate::identity::{ScepIdentity, certificates_from_pem, check_key_matches, subject_key_id};
use crate::keys::{PrivateKey, RawSignature};
use crate::message::MessageType;
use crate::oid;

/// What a CA is asked to certify.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct IssueRequest<'a> {
    /// PKCSReq or RenewalReq.
    pub message_type: MessageType,
    /// The PKCS #10 request (its self-signature verified, its challenge admitted).
    pub csr: &'a CertReq,
    /// The transaction id.
    pub transaction_id: &'a str,
    /// For a RenewalReq, the certificate being renewed.
    pub renewal_of: Option<&'a Certificate>,
    /// The time of the request.
    pub now: SystemTime,
}

/// Issues certificates.
#[dynosaur::dynosaur(pub DynCertificateAuthority = dyn(box) CertificateAuthority)]
pub trait CertificateAuthority: Send + Sync {
    /// Issues a certificate for `request`; returns it DER-encoded.
    fn issue(
        &self,
        request: &IssueRequest<'_>,
    ) -> impl Future<Output = Result<Vec<u8>, IssueError>> + Send;
}

impl<T: CertificateAuthority + ?Sized> CertificateAuthority for std::sync::Arc<T> {
    fn issue(
        &self,
        request: &IssueRequest<'_>,
    ) -> impl Future<Output = Result<Vec<u8>, IssueError>> + Send {
        (**self).issue(request)
    }
}

/// How [`FileCa`] makes certificates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssueOptions {
    /// How long an issued certificate is valid (default 365 days, micromdm's `-crtvalid`).
    pub validity: Duration,
    /// How far before the time of issue `notBefore` lies, for clients whose clocks are behind
    /// (default 10 minutes, as micromdm).
    pub backdate: Duration,
    /// Whether the subject alternative names a request asks for (in its extensionRequest) are
    /// copied into the certificate (default `true`, as micromdm copies DNS names, e-mail
    /// addresses, IP addresses and URIs).
    pub copy_subject_alt_names: bool,
    /// Whether a RenewalReq must ask for the subject of the certificate it renews (default
    /// `true`): a device renews its own identity and cannot turn it into another's. Refused
    /// with badRequest otherwise.
    pub renewal_keeps_subject: bool,
}

impl Default for IssueOptions {
    fn default() -> Self {
        Self {
            validity: Duration::from_secs(365 * 24 * 60 * 60),
            backdate: Duration::from_secs(600),
            copy_subject_alt_names: true,
            renewal_keeps_subject: true,
        }
    }
}

impl IssueOptions {
    /// Sets [`IssueOptions::validity`].
    pub fn validity(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
    }
}

/// A CA whose certificate and private key (RSA or ECDSA P-256) are read from PEM.
///
/// Issued certificates carry the request's subject and public key, a random 128-bit serial
/// number, the configured validity, `basicConstraints` CA:FALSE, key usage
/// `digitalSignature` + `keyEncipherment`, extended key usage `clientAuth`, subject and
/// authority key identifiers and, by default, the subject alternative names requested.
pub struct FileCa {
    cert_der: Vec<u8>,
    cert: Certificate,
    key: PrivateKey,
    chain: Vec<Vec<u8>>,
    ra: Option<ScepIdentity>,
    options: IssueOptions,
}

impl std::fmt::Debug for FileCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCa")
            .field(
                "subject",
                &self.cert.tbs_certificate().subject().to_string(),
            )
            .field("key", &self.key)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl FileCa {
    /// Reads a CA from a PEM text: the CA certificate (the first `CERTIFICATE` block), its
    /// private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`), and optionally more
    /// `CERTIFICATE` blocks — the CA's issuers, which GetCACert returns too.
    pub fn from_pem(text: &str, options: IssueOptions) -> Result<Self, ConfigError> {
        let mut certs = certificates_from_pem(text)?.into_iter();
        let (cert_der, cert) = certs.next().ok_or(ConfigError::NoCertificate)?;
        let key = PrivateKey::from_pem(text)?;
        check_key_matches(&cert, &key)?;
        if options.validity.is_zero() {
            return Err(ConfigError::Validity);
        }
        Ok(Self {
            cert_der,
            cert,
            key,
            chain: certs.map(|(der, _)| der).collect(),
            ra: None,
            options,
        })
    }

    /// Reads a CA from separate PEM texts for the certificate(s) and the key.
    pub fn from_pem_parts(
        cert_pem: &str,
        key_pem: &str,
        options: IssueOptions,
    ) -> Result<Self, ConfigError> {
        Self::from_pem(&format!("{cert_pem}\n{key_pem}"), options)
    }

    /// Uses an RA for SCEP's message exchange instead of the CA's own key (needed when the CA
    /// key is ECDSA; see [`ScepIdentity`]).
    pub fn with_ra(mut self, ra: ScepIdentity) -> Self {
        self.ra = Some(ra);
        self
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The CA certificate followed by the issuers read with it (DER): what
    /// [`ScepServer::new`](crate::ScepServer::new) takes as the CA chain.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        std::iter::once(self.cert_der.clone())
            .chain(self.chain.iter().cloned())
            .collect()
    }

    /// The identity of SCEP's message exchange: the RA if one was set, otherwise the CA itself
    /// (whose key must then be RSA).
    pub fn scep_identity(&self) -> Result<ScepIdentity, ConfigError> {
        if let Some(ra) = &self.ra {
            return Ok(ra.clone());
        }
        let key = PrivateKey::from_pkcs8_der(&self.key.to_pkcs8_der()?)?;
        ScepIdentity::new(self.cert_der.clone(), key)
    }

    /// Issues a certificate for `csr` at `now` (synchronous; what
    /// [`CertificateAuthority::issue`] does).
    pub fn issue_now(&self, csr: &CertReq, now: SystemTime) -> Result<Vec<u8>, IssueError> {
        let san = if self.options.copy_subject_alt_names {
            requested_subject_alt_names(csr)
        } else {
            None
        };
        let profile = LeafProfile {
            kind: ProfileKind::Client,
            issuer: self.cert.tbs_certificate().subject().clone(),
            subject: csr.info.subject.clone(),
            issuer_key_id: subject_key_id(&self.cert),
            subject_alt_names: san,
        };
        self.sign(
            profile,
            csr.info.public_key.clone(),
            now,
            self.options.validity,
        )
    }

    /// Issues a registration-authority certificate for `ra_key` (which must be RSA) and
    /// `subject` (RFC 4514), valid for `validity` from `now`: key usage `digitalSignature` +
    /// `keyEncipherment`, no extended key usage (OpenSSL-based clients check a CertRep signer's
    /// extended key usage against S/MIME signing). For pairing an ECDSA CA with an RSA RA.
    pub fn issue_ra_certificate(
        &self,
        ra_key: &PrivateKey,
        subject: &str,
        validity: Duration,
        now: SystemTime,
    ) -> Result<Vec<u8>, IssueError> {
        if !ra_key.can_decrypt() {
            return Err(IssueError::Build);
        }
        let subject =
            <Name as std::str::FromStr>::from_str(subject).map_err(|_| IssueError::Build)?;
        let spki = SubjectPublicKeyInfoOwned::from_der(ra_key.public_key_der())
            .map_err(|_| IssueError::Build)?;
        let profile = LeafProfile {
            kind: ProfileKind::Ra,
            issuer: self.cert.tbs_certificate().subject().clone(),
            subject,
            issuer_key_id: subject_key_id(&self.cert),
            subject_alt_names: None,
        };
        self.sign(profile, spki, now, validity)
    }

    fn sign(
        &self,
        profile: LeafProfile,
        spki: SubjectPublicKeyInfoOwned,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<Vec<u8>, IssueError> {
        let not_before = now.checked_sub(self.options.backdate).unwrap_or(now);
        let not_after = now.checked_add(lifetime).ok_or(IssueError::Build)?;
        let validity = Validity::new(
            Time::try_from(not_before).map_err(|_| IssueError::Build)?,
            Time::try_from(not_after).map_err(|_| IssueError::Build)?,
        );
        let builder = CertificateBuilder::new(profile, random_serial()?, validity, spki)
            .map_err(|_| IssueError::Build)?;
        let cert = builder
            .build::<_, RawSignature>(&self.key.builder_signer())
            .map_err(|_| IssueError::Build)?;
        cert.to_der().map_err(|_| IssueError::Build)
    }
}

impl CertificateAuthority for FileCa {
    async fn issue(&self, request: &IssueRequest<'_>) -> Result<Vec<u8>, IssueError> {
        if let Some(old) = request.renewal_of
            && self.options.renewal_keeps_subject
            && old.tbs_certificate().subject() != &request.csr.info.subject
        {
            return Err(IssueError::Refused(FailInfo::BadRequest));
        }
        self.issue_now(request.csr, request.now)
    }
}

/// The subjectAltName extension of a request's extensionRequest, if it has one.
fn requested_subject_alt_names(csr: &CertReq) -> Option<Extension> {
    let attr = csr
        .info
        .attributes
        .iter()
        .find(|a| a.oid == oid::EXTENSION_REQUEST)?;
    let value = attr.values.iter().next()?;
    let req = value.decode_as::<Vec<Extension>>().ok().map(ExtensionReq)?;
    req.0
        .into_iter()
        .find(|e| e.extn_id == oid::SUBJECT_ALT_NAME)
        .map(|mut e| {
            e.critical = false;
            e
        })
}

/// A random positive 128-bit serial number (its top bits set so it always takes 16 bytes).
pub(crate) fn random_serial() -> Result<SerialNumber, IssueError> {
    let mut serial = crate::rng::bytes::<16>();
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    SerialNumber::new(&serial).map_err(|_| IssueError::Build)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProfileKind {
    /// A SCEP client (device identity) certificate.
    Client,
    /// A registration authority's certificate.
    Ra,
    /// A self-signed CA certificate (for tests).
    #[cfg(any(test, feature = "client"))]
    Ca,
}

/// The profiles of the certificates this crate makes.
struct LeafProfile {
    kind: ProfileKind,
    issuer: Name,
    subject: Name,
    issuer_key_id: Option<Vec<u8>>,
    subject_alt_names: Option<Extension>,
}

impl LeafProfile {
    fn is_ca(&self) -> bool {
        #[cfg(any(test, feature = "client"))]
        if self.kind == ProfileKind::Ca {
            return true;
        }
        false
    }
}

impl BuilderProfile for LeafProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let usage = match self.kind {
            ProfileKind::Client | ProfileKind::Ra => {
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
            }
            // An RSA CA may be SCEP's exchange identity itself, so it may encipher keys too.
            #[cfg(any(test, feature = "client"))]
            ProfileKind::Ca if spk.algorithm.oid == oid::RSA_ENCRYPTION => {
                KeyUsages::KeyCertSign
                    | KeyUsages::CRLSign
                    | KeyUsages::DigitalSignature
                    | KeyUsages::KeyEncipherment
            }
            #[cfg(any(test, feature = "client"))]
            ProfileKind::Ca => {
                KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature
            }
        };
        let mut exts = constraints_and_usage(subject, self.is_ca(), KeyUsage(usage))?;
        if self.kind == ProfileKind::Client {
            exts.push((&ExtendedKeyUsage(vec![oid::CLIENT_AUTH])).to_extension(subject, &exts)?);
        }
        let ski = key_id(&spk);
        exts.push(
            (&SubjectKeyIdentifier(OctetString::new(ski.as_ref())?))
                .to_extension(subject, &exts)?,
        );
        if let Some(id) = &self.issuer_key_id {
            exts.push(
                (&AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(id.as_slice())?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                })
                    .to_extension(subject, &exts)?,
            );
        }
        if let Some(san) = &self.subject_alt_names {
            exts.push(san.clone());
        }
        Ok(exts)
    }
}

/// A self-signed CA certificate for `key` and `subject` (RFC 4514) followed by the key, as one
/// PEM text (for `client::test_ca_pem` and the unit tests).
#[cfg(any(test, feature = "client"))]
pub(crate) fn self_signed_ca_pem(key: &PrivateKey, subject: &str) -> Result<String, IssueError> {
    let name = <Name as std::str::FromStr>::from_str(subject).map_err(|_| IssueError::Build)?;
    let now = SystemTime::now();
    let validity = Validity::new(
        Time::try_from(now.checked_sub(Duration::from_secs(3600)).unwrap_or(now))
            .map_err(|_| IssueError::Build)?,
        Time::try_from(
            now.checked_add(Duration::from_secs(10 * 365 * 86_400))
                .unwrap_or(now),
        )
        .map_err(|_| IssueError::Build)?,
    );
    let spki =
        SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).map_err(|_| IssueError::Build)?;
    let profile = LeafProfile {
        kind: ProfileKind::Ca,
        issuer: name.clone(),
        subject: name,
        issuer_key_id: None,
        subject_alt_names: None,
    };
    let cert = CertificateBuilder::new(profile, random_serial()?, validity, spki)
        .map_err(|_| IssueError::Build)?
        .build::<_, RawSignature>(&key.builder_signer())
        .map_err(|_| IssueError::Build)?;
    let der = cert.to_der().map_err(|_| IssueError::Build)?;
    let key_pem = key.to_pkcs8_pem().map_err(|_| IssueError::Build)?;
    Ok(format!(
        "{}{key_pem}",
        crate::pem::encode("CERTIFICATE", &der)
    ))
}

/// `basicConstraints` (critical) and `keyUsage` (critical) for a certificate of `subject`.
fn constraints_and_usage(
    subject: &Name,
    ca: bool,
    usage: KeyUsage,
) -> Result<Vec<Extension>, der::Error> {
    let constraints = BasicConstraints {
        ca,
        path_len_constraint: None,
    };
    let mut exts = vec![(&constraints).to_extension(subject, &[])?];
    exts.push((&usage).to_extension(subject, &exts)?);
    Ok(exts)
}

/// A subject key identifier: SHA-1 of the public key bits (RFC 5280 §4.2.1.2, method 1).
fn key_id(spk: &SubjectPublicKeyInfoRef<'_>) -> aws_lc_rs::digest::Digest {
    aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        spk.subject_public_key.raw_bytes(),
    )
}
