//! A small PKI for tests and the device simulator (feature `signer`).
//!
//! Generate a CA, issue device identity certificates from it, and move both in and out of PEM:
//!
//! ```
//! use mdm_signature::test_pki::{KeyKind, LeafRequest, TestCa};
//! use mdm_signature::{CaPool, CertVerifier, verify_mdm_signature};
//!
//! # fn main() -> Result<(), mdm_signature::signer::SignerError> {
//! let ca = TestCa::generate(KeyKind::P256, "Test Device CA")?;
//! let device = ca.issue(&LeafRequest::new(KeyKind::P256, "device-1"))?;
//!
//! let body = b"<plist>...</plist>";
//! let header = device.mdm_signature_with(body, &Default::default())?;
//! let cert = verify_mdm_signature(&header, body)?;
//! CaPool::from_pem(ca.cert_pem())?.verify_cert(&cert, std::time::SystemTime::now())?;
//! # Ok(())
//! # }
//! ```
//!
//! Keys are generated with aws-lc-rs; RSA-2048 generation takes a noticeable fraction of a
//! second, so tests should share identities rather than make one per case.

// A test-side builder (feature `signer`): it issues what its caller asks for and parses no
// untrusted bytes, so the crate's no-panic lints on untrusted input do not apply here.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};

use crate::IdentityCertificate;
use crate::signer::{SignerError, SigningIdentity};

/// The key a CA or device identity is generated with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA 2048-bit, certificates signed with SHA-256.
    Rsa2048,
    /// ECDSA P-256, certificates signed with SHA-256.
    P256,
    /// ECDSA P-384, certificates signed with SHA-384.
    P384,
}

impl KeyKind {
    fn generate(self) -> Result<KeyPair, SignerError> {
        let alg = match self {
            KeyKind::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
            KeyKind::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        };
        KeyPair::generate_for(alg).map_err(key_err)
    }
}

/// What a device certificate may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LeafUsage {
    /// Extended key usage clientAuth (what SCEP/ACME device identities carry).
    #[default]
    ClientAuth,
    /// No extended key usage extension (counts as any usage).
    NoExtendedKeyUsage,
    /// Extended key usage serverAuth only: not usable as a device identity.
    ServerAuthOnly,
}

/// What a device certificate says about being a certificate authority. Anything but the default
/// makes a certificate that [`crate::CaPool`] refuses as a device identity, for tests of that
/// refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LeafConstraints {
    /// basicConstraints with cA false; key usage digitalSignature and keyEncipherment.
    #[default]
    EndEntity,
    /// basicConstraints with cA true; key usage adds keyCertSign (a CA certificate with a
    /// device's extended key usage).
    Ca,
    /// No basicConstraints; key usage adds keyCertSign.
    KeyCertSignWithoutBasicConstraints,
}

/// The device certificate to issue.
#[derive(Clone, Debug)]
pub struct LeafRequest {
    /// The key to generate.
    pub kind: KeyKind,
    /// The subject common name (devices commonly carry their UDID or a SCEP challenge name).
    pub common_name: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Extended key usage.
    pub usage: LeafUsage,
    /// basicConstraints and keyCertSign.
    pub constraints: LeafConstraints,
}

impl LeafRequest {
    /// A client-auth certificate valid from an hour ago for a year.
    pub fn new(kind: KeyKind, common_name: impl Into<String>) -> Self {
        let now = SystemTime::now();
        LeafRequest {
            kind,
            common_name: common_name.into(),
            not_before: now - Duration::from_secs(60 * 60),
            not_after: now + Duration::from_secs(365 * 24 * 60 * 60),
            usage: LeafUsage::ClientAuth,
            constraints: LeafConstraints::EndEntity,
        }
    }

    /// Sets the validity period.
    pub fn validity(mut self, not_before: SystemTime, not_after: SystemTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Sets the extended key usage.
    pub fn usage(mut self, usage: LeafUsage) -> Self {
        self.usage = usage;
        self
    }

    /// Sets what the certificate says about being a CA.
    pub fn constraints(mut self, constraints: LeafConstraints) -> Self {
        self.constraints = constraints;
        self
    }

    fn params(&self) -> Result<CertificateParams, SignerError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, self.common_name.as_str());
        params.not_before = self.not_before.into();
        params.not_after = self.not_after.into();
        params.serial_number = Some(random_serial()?);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.is_ca = match self.constraints {
            LeafConstraints::EndEntity => IsCa::ExplicitNoCa,
            LeafConstraints::Ca => IsCa::Ca(BasicConstraints::Unconstrained),
            LeafConstraints::KeyCertSignWithoutBasicConstraints => IsCa::NoCa,
        };
        if self.constraints != LeafConstraints::EndEntity {
            params.key_usages.push(KeyUsagePurpose::KeyCertSign);
        }
        params.extended_key_usages = match self.usage {
            LeafUsage::ClientAuth => vec![ExtendedKeyUsagePurpose::ClientAuth],
            LeafUsage::NoExtendedKeyUsage => Vec::new(),
            LeafUsage::ServerAuthOnly => vec![ExtendedKeyUsagePurpose::ServerAuth],
        };
        Ok(params)
    }
}

/// A self-signed device identity (no CA behind it): trusted only when pinned, by putting its
/// certificate among a [`crate::CaPool`]'s roots.
pub fn self_signed(request: &LeafRequest) -> Result<SigningIdentity, SignerError> {
    let key = request.kind.generate()?;
    let cert = request.params()?.self_signed(&key).map_err(key_err)?;
    SigningIdentity::from_der(cert.der().to_vec(), key.serialize_der())
}

/// A certificate authority that issues device identities (a root, or an intermediate made by
/// [`TestCa::intermediate`]). Clones share the CA's key.
#[derive(Clone)]
pub struct TestCa {
    cert: IdentityCertificate,
    issuer: std::sync::Arc<Issuer<'static, KeyPair>>,
}

impl TestCa {
    /// A self-signed root CA valid from a day ago for ten years.
    pub fn generate(kind: KeyKind, common_name: &str) -> Result<Self, SignerError> {
        let now = SystemTime::now();
        Self::generate_with_validity(
            kind,
            common_name,
            now - Duration::from_secs(24 * 60 * 60),
            now + Duration::from_secs(10 * 365 * 24 * 60 * 60),
        )
    }

    /// A self-signed root CA with the given validity.
    pub fn generate_with_validity(
        kind: KeyKind,
        common_name: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Self, SignerError> {
        let key = kind.generate()?;
        let params = ca_params(common_name, not_before, not_after)?;
        let cert = params.self_signed(&key).map_err(key_err)?;
        Ok(TestCa {
            cert: IdentityCertificate::from_der(cert.der().to_vec())?,
            issuer: std::sync::Arc::new(Issuer::new(params, key)),
        })
    }

    /// An intermediate CA issued by this one, valid as long as this one.
    pub fn intermediate(&self, kind: KeyKind, common_name: &str) -> Result<TestCa, SignerError> {
        let key = kind.generate()?;
        let mut params = ca_params(common_name, self.cert.not_before(), self.cert.not_after())?;
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).map_err(key_err)?;
        Ok(TestCa {
            cert: IdentityCertificate::from_der(cert.der().to_vec())?,
            issuer: std::sync::Arc::new(Issuer::new(params, key)),
        })
    }

    /// Loads a CA from its PEM certificate and PEM private key (PKCS#8, or PKCS#1/SEC1).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, SignerError> {
        let cert = IdentityCertificate::from_pem(cert_pem)?;
        let key = KeyPair::from_pem(key_pem).map_err(key_err)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(key_err)?;
        Ok(TestCa {
            cert,
            issuer: std::sync::Arc::new(issuer),
        })
    }

    /// Issues a device identity certificate with a fresh key.
    pub fn issue(&self, request: &LeafRequest) -> Result<SigningIdentity, SignerError> {
        let key = request.kind.generate()?;
        let mut params = request.params()?;
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).map_err(key_err)?;
        SigningIdentity::from_der(cert.der().to_vec(), key.serialize_der())
    }

    /// The CA's certificate.
    pub fn certificate(&self) -> &IdentityCertificate {
        &self.cert
    }

    /// The CA's certificate as PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.to_pem()
    }

    /// The CA's private key as PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The CA's private key as PKCS#8 DER.
    pub fn key_pkcs8_der(&self) -> Vec<u8> {
        self.issuer.key().serialize_der()
    }
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

fn ca_params(
    common_name: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<CertificateParams, SignerError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// A positive 16-byte serial number.
fn random_serial() -> Result<SerialNumber, SignerError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| SignerError::Generate("the random number generator failed".into()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

fn key_err(e: rcgen::Error) -> SignerError {
    SignerError::Generate(Box::new(e))
}
