//! The certificate and RSA key SCEP exchanges use: requests are encrypted to it and replies
//! signed with it. The CA's own when the CA key is RSA, otherwise a registration authority's.

use std::sync::Arc;

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use crate::error::ConfigError;
use crate::keys::PrivateKey;
use crate::pem;

/// The certificates of a PEM text, in order (DER and decoded).
pub(crate) fn certificates_from_pem(
    text: &str,
) -> Result<Vec<(Vec<u8>, Certificate)>, ConfigError> {
    let mut out = Vec::new();
    for block in pem::blocks(text) {
        let block = block?;
        if block.label == "CERTIFICATE" {
            let cert = Certificate::from_der(&block.der).map_err(ConfigError::Certificate)?;
            out.push((block.der, cert));
        }
    }
    Ok(out)
}

/// The subject key identifier extension's value, if the certificate has one.
pub(crate) fn subject_key_id<P: x509_cert::certificate::Profile>(
    cert: &x509_cert::certificate::CertificateInner<P>,
) -> Option<Vec<u8>> {
    cert.tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, ski)| ski.0.as_bytes().to_vec())
}

/// Checks that `key` is the private half of `cert`'s public key.
pub(crate) fn check_key_matches(cert: &Certificate, key: &PrivateKey) -> Result<(), ConfigError> {
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(ConfigError::Certificate)?;
    if spki == key.public_key_der() {
        Ok(())
    } else {
        Err(ConfigError::KeyMismatch)
    }
}

/// The certificate and RSA private key of SCEP's message exchange: clients encrypt requests to
/// this certificate (RSA key transport) and the server signs its CertReps with this key.
///
/// With an RSA CA this is the CA itself ([`FileCa::scep_identity`](crate::FileCa::scep_identity));
/// with an ECDSA CA it is a registration authority (RA) certificate with an RSA key, which
/// GetCACert then returns beside the CA certificate. Give the certificate the key usages
/// `digitalSignature` and `keyEncipherment`: OpenSSL-based clients (certmonger) refuse a CertRep
/// signed by a certificate whose key usage lacks `digitalSignature`.
///
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct ScepIdentity {
    inner: Arc<IdentityInner>,
}

struct IdentityInner {
    cert_der: Vec<u8>,
    cert: Certificate,
    ski: Option<Vec<u8>>,
    key: PrivateKey,
}

impl std::fmt::Debug for ScepIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScepIdentity")
            .field(
                "subject",
                &self.inner.cert.tbs_certificate().subject().to_string(),
            )
            .finish_non_exhaustive()
    }
}

impl ScepIdentity {
    /// An identity from a certificate (DER) and its RSA private key.
    pub fn new(cert_der: Vec<u8>, key: PrivateKey) -> Result<Self, ConfigError> {
        let cert = Certificate::from_der(&cert_der).map_err(ConfigError::Certificate)?;
        if !key.can_decrypt() {
            return Err(ConfigError::ExchangeKeyNotRsa);
        }
        check_key_matches(&cert, &key)?;
        Ok(Self {
            inner: Arc::new(IdentityInner {
                ski: subject_key_id(&cert),
                cert_der,
                cert,
                key,
            }),
        })
    }

    /// An identity from a PEM text holding the certificate (the first `CERTIFICATE` block) and
    /// its RSA private key.
    pub fn from_pem(text: &str) -> Result<Self, ConfigError> {
        let (der, _) = certificates_from_pem(text)?
            .into_iter()
            .next()
            .ok_or(ConfigError::NoCertificate)?;
        let key = PrivateKey::from_pem(text)?;
        Self::new(der, key)
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.inner.cert
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.inner.cert_der
    }

    pub(crate) fn key(&self) -> &PrivateKey {
        &self.inner.key
    }

    pub(crate) fn subject_key_id(&self) -> Option<&[u8]> {
        self.inner.ski.as_deref()
    }
}
