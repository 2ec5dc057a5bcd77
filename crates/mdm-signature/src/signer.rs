//! Signing `Mdm-Signature` headers as devices do (feature `signer`).
//!
//! For tests, benchmarks and the device simulator: a [`SigningIdentity`] (certificate and private
//! key) produces the detached CMS SignedData that Apple devices put in `Mdm-Signature`. The default
//! [`SignOptions`] give exactly the shape real devices send — BER with indefinite lengths around
//! the envelope, SHA-1, no signed attributes, the signer named by issuer and serial number, its
//! certificate embedded — and the options reach the other shapes a verifier must handle (DER,
//! SHA-256, signed attributes in any order) and must refuse (attached content, several signers, no
//! certificate).
//!
//! Keys: RSA (any size aws-lc-rs loads; SHA-1 signing goes through the `rsa` crate because
//! aws-lc-rs signs RSA with SHA-2 only) and ECDSA P-256/P-384 with any of the four digests.

// A test-side builder (feature `signer`): it encodes what its caller asks for and parses no
// untrusted bytes, so the crate's no-panic lints on untrusted input do not apply here.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::SystemTime;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, RsaKeyPair};
use base64::Engine;
use der::Encode;

use crate::algorithm::{KeyType, oid};
use crate::ber::{tag, write_length};
use crate::{DigestAlgorithm, Error, IdentityCertificate};

/// Why a signing identity could not be loaded, made or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The certificate is unreadable (or, for PEM, absent).
    #[error(transparent)]
    Certificate(#[from] Error),
    /// The PEM text holds no `PRIVATE KEY` (PKCS#8) block.
    #[error("no PEM PRIVATE KEY (PKCS#8) block")]
    NoPrivateKey,
    /// The private key does not load.
    #[error("private key: {0}")]
    InvalidKey(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The private key is not the certificate's.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// The signer is to be named by subject key identifier, and its certificate has none.
    #[error("the certificate has no subject key identifier")]
    NoSubjectKeyId,
    /// The key refused to sign (the scheme is named).
    #[error("{0} signing failed")]
    Signing(&'static str),
    /// A signingTime that cannot be encoded.
    #[error("signingTime: {0}")]
    SigningTime(der::Error),
    /// Making a certificate or key failed (`test_pki`).
    #[error("certificate generation: {0}")]
    Generate(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl SignerError {
    fn invalid_key(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        SignerError::InvalidKey(Box::new(e))
    }
}

/// A device identity that can sign: its certificate and private key.
pub struct SigningIdentity {
    cert: IdentityCertificate,
    key_pkcs8: Vec<u8>,
    key: SigningKey,
}

enum SigningKey {
    Rsa {
        key: RsaKeyPair,
        /// The same key for SHA-1 signatures.
        legacy: Box<rsa::RsaPrivateKey>,
    },
    Ecdsa {
        curve: KeyType,
        /// The key loaded for the curve's own digest (P-256/SHA-256, P-384/SHA-384); other digests
        /// are signed through it (see [`SigningIdentity::sign_digest`]).
        key: EcdsaKeyPair,
    },
}

impl SigningIdentity {
    /// Loads a certificate (DER) and its private key (PKCS#8 DER).
    pub fn from_der(
        cert_der: impl Into<Vec<u8>>,
        key_pkcs8: impl Into<Vec<u8>>,
    ) -> Result<Self, SignerError> {
        let cert = IdentityCertificate::from_der(cert_der)?;
        let key_pkcs8 = key_pkcs8.into();
        let key = match cert.public_key().key_type() {
            KeyType::Rsa => {
                use rsa::pkcs8::DecodePrivateKey;
                SigningKey::Rsa {
                    key: RsaKeyPair::from_pkcs8(&key_pkcs8).map_err(SignerError::invalid_key)?,
                    legacy: Box::new(
                        rsa::RsaPrivateKey::from_pkcs8_der(&key_pkcs8)
                            .map_err(SignerError::invalid_key)?,
                    ),
                }
            }
            curve @ (KeyType::EcP256 | KeyType::EcP384) => {
                let alg = if curve == KeyType::EcP256 {
                    &sig::ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &sig::ECDSA_P384_SHA384_ASN1_SIGNING
                };
                SigningKey::Ecdsa {
                    curve,
                    key: EcdsaKeyPair::from_pkcs8(alg, &key_pkcs8)
                        .map_err(SignerError::invalid_key)?,
                }
            }
        };
        let identity = SigningIdentity {
            cert,
            key_pkcs8,
            key,
        };
        identity.check_key_matches()?;
        Ok(identity)
    }

    /// Loads a PEM certificate and a PEM PKCS#8 private key (`PRIVATE KEY`).
    pub fn from_pem(
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<Self, SignerError> {
        let cert = IdentityCertificate::from_pem(cert_pem)?;
        let key = crate::pem::blocks(key_pem.as_ref())
            .find(|b| matches!(b, Ok(b) if b.label == "PRIVATE KEY") || b.is_err())
            .ok_or(SignerError::NoPrivateKey)??;
        Self::from_der(cert.der().to_vec(), key.der)
    }

    /// The certificate.
    pub fn certificate(&self) -> &IdentityCertificate {
        &self.cert
    }

    /// The private key as PKCS#8 DER.
    pub fn key_pkcs8_der(&self) -> &[u8] {
        &self.key_pkcs8
    }

    /// The private key as PEM (`PRIVATE KEY`, PKCS#8).
    pub fn key_pem(&self) -> String {
        crate::pem::encode("PRIVATE KEY", &self.key_pkcs8)
    }

    /// The certificate as PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.to_pem()
    }

    /// The `Mdm-Signature` header value for `body`, as a device sends it: base64 of
    /// [`SigningIdentity::sign`] with [`SignOptions::default`].
    pub fn mdm_signature(&self, body: &[u8]) -> Result<String, SignerError> {
        self.mdm_signature_with(body, &SignOptions::default())
    }

    /// The `Mdm-Signature` header value for `body` with the given options.
    pub fn mdm_signature_with(
        &self,
        body: &[u8],
        options: &SignOptions,
    ) -> Result<String, SignerError> {
        Ok(base64::engine::general_purpose::STANDARD.encode(self.sign(body, options)?))
    }

    /// A CMS ContentInfo (SignedData) over `body`, detached unless the options say otherwise.
    pub fn sign(&self, body: &[u8], options: &SignOptions) -> Result<Vec<u8>, SignerError> {
        sign(&[self], body, options)
    }

    /// Signs a digest computed with `alg`.
    fn sign_digest(
        &self,
        alg: DigestAlgorithm,
        d: &digest::Digest,
    ) -> Result<Vec<u8>, SignerError> {
        let failed = SignerError::Signing;
        match &self.key {
            SigningKey::Rsa { key, legacy } => {
                if alg == DigestAlgorithm::Sha1 {
                    let mut digest_info = SHA1_DIGEST_INFO_PREFIX.to_vec();
                    digest_info.extend_from_slice(d.as_ref());
                    return legacy
                        .sign(rsa::Pkcs1v15Sign::new_unprefixed(), &digest_info)
                        .map_err(|_| failed("RSA SHA-1"));
                }
                let encoding: &'static dyn sig::RsaEncoding = match alg {
                    DigestAlgorithm::Sha256 => &sig::RSA_PKCS1_SHA256,
                    DigestAlgorithm::Sha384 => &sig::RSA_PKCS1_SHA384,
                    _ => &sig::RSA_PKCS1_SHA512,
                };
                let mut out = vec![0u8; key.public_modulus_len()];
                key.sign_digest(encoding, d, &mut out)
                    .map_err(|_| failed("RSA"))?;
                Ok(out)
            }
            SigningKey::Ecdsa { curve, key } => {
                // ECDSA signs the hash as an integer e taken from its leftmost bits, up to the
                // curve's size (SEC 1 §4.1.3 step 5). A shorter hash left-padded with zeros to the
                // curve's digest length gives the same e, and a longer one truncated to it gives
                // the same e too, so every digest can go through the key loaded for the curve's
                // own digest.
                let (len, own) = match curve {
                    KeyType::EcP256 => (32, &digest::SHA256),
                    _ => (48, &digest::SHA384),
                };
                let bytes = d.as_ref();
                let mut adjusted = vec![0u8; len];
                if bytes.len() <= len {
                    adjusted[len - bytes.len()..].copy_from_slice(bytes);
                } else {
                    adjusted.copy_from_slice(&bytes[..len]);
                }
                let d = digest::Digest::import_less_safe(&adjusted, own)
                    .map_err(|_| failed("digest length"))?;
                let signature = key.sign_digest(&d).map_err(|_| failed("ECDSA"))?;
                Ok(signature.as_ref().to_vec())
            }
        }
    }

    fn signature_algorithm(&self, alg: DigestAlgorithm) -> der::asn1::ObjectIdentifier {
        use DigestAlgorithm::*;
        match (&self.key, alg) {
            (SigningKey::Rsa { .. }, Sha1) => oid::SHA1_WITH_RSA,
            (SigningKey::Rsa { .. }, Sha256) => oid::SHA256_WITH_RSA,
            (SigningKey::Rsa { .. }, Sha384) => oid::SHA384_WITH_RSA,
            (SigningKey::Rsa { .. }, Sha512) => oid::SHA512_WITH_RSA,
            (SigningKey::Ecdsa { .. }, Sha1) => oid::ECDSA_WITH_SHA1,
            (SigningKey::Ecdsa { .. }, Sha256) => oid::ECDSA_WITH_SHA256,
            (SigningKey::Ecdsa { .. }, Sha384) => oid::ECDSA_WITH_SHA384,
            (SigningKey::Ecdsa { .. }, Sha512) => oid::ECDSA_WITH_SHA512,
        }
    }

    /// Refuses a key that does not belong to the certificate (a mix-up that would otherwise show
    /// up later as a puzzling BadSignature).
    fn check_key_matches(&self) -> Result<(), SignerError> {
        let d = DigestAlgorithm::Sha256.digest(b"key check");
        let signature = self.sign_digest(DigestAlgorithm::Sha256, &d)?;
        let scheme = match self.key {
            SigningKey::Rsa { .. } => crate::algorithm::Scheme::RsaPkcs1,
            SigningKey::Ecdsa { .. } => crate::algorithm::Scheme::Ecdsa,
        };
        self.cert
            .public_key()
            .verify(scheme, DigestAlgorithm::Sha256, &d, &signature)
            .map_err(|_| SignerError::KeyMismatch)
    }
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

/// DigestInfo for SHA-1 up to the hash (RFC 8017 §9.2 note 1).
const SHA1_DIGEST_INFO_PREFIX: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];

/// How the CMS is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// Indefinite lengths on ContentInfo, its `[0]`, SignedData and encapContentInfo, definite
    /// elsewhere: byte for byte the layout of the signatures captured from devices.
    #[default]
    Ber,
    /// Definite lengths everywhere.
    Der,
}

/// How the signer names its certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SignerIdentifier {
    /// IssuerAndSerialNumber (what devices use; SignerInfo version 1).
    #[default]
    IssuerAndSerialNumber,
    /// `[0]` SubjectKeyIdentifier (SignerInfo version 3). The certificate must carry the
    /// extension.
    SubjectKeyIdentifier,
}

/// Signed attributes to include (devices include none).
#[derive(Clone, Debug, Default)]
pub struct SignedAttributes {
    /// The signingTime attribute, if any.
    pub signing_time: Option<SystemTime>,
    /// Encode the attributes in the reverse of DER's SET OF order, as signers that do not sort
    /// them do. A verifier must check the signature over the attributes as sent.
    pub unsorted: bool,
}

/// What to sign and how. The default is what a device sends.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// The digest algorithm (default SHA-1, as devices use).
    pub digest: DigestAlgorithm,
    /// BER (default) or DER.
    pub layout: Layout,
    /// Signed attributes, or `None` for a signature over the body itself (default).
    pub signed_attributes: Option<SignedAttributes>,
    /// How the signer is identified.
    pub signer_identifier: SignerIdentifier,
    /// Embed each signer's certificate (default true).
    pub embed_signer_certificate: bool,
    /// More certificates (DER) to embed, e.g. an intermediate.
    pub extra_certificates: Vec<Vec<u8>>,
    /// Embed the body in the CMS (an attached signature, which verifiers must refuse).
    pub attach_content: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            digest: DigestAlgorithm::Sha1,
            layout: Layout::Ber,
            signed_attributes: None,
            signer_identifier: SignerIdentifier::IssuerAndSerialNumber,
            embed_signer_certificate: true,
            extra_certificates: Vec::new(),
            attach_content: false,
        }
    }
}

/// Signs `body` with every identity in `signers` (one SignerInfo each) into a CMS ContentInfo.
///
/// More than one signer is for testing verifiers, which must refuse it.
pub fn sign(
    signers: &[&SigningIdentity],
    body: &[u8],
    options: &SignOptions,
) -> Result<Vec<u8>, SignerError> {
    let alg = options.digest;
    let body_digest = alg.digest(body);
    let ber = options.layout == Layout::Ber;

    let mut digest_alg_id = Vec::new();
    algorithm_identifier(&mut digest_alg_id, &alg.oid(), true);

    let mut signer_infos = Vec::new();
    for signer in signers {
        signer_infos.extend(signer_info(
            signer,
            alg,
            &body_digest,
            &digest_alg_id,
            options,
        )?);
    }

    let mut certs = Vec::new();
    if options.embed_signer_certificate {
        for signer in signers {
            certs.extend_from_slice(signer.cert.der());
        }
    }
    for extra in &options.extra_certificates {
        certs.extend_from_slice(extra);
    }

    // encapContentInfo
    let mut encap_inner = Vec::new();
    oid_tlv(&mut encap_inner, &oid::DATA);
    if options.attach_content {
        let mut octets = Vec::new();
        crate::ber::write_tlv(&mut octets, tag::OCTET_STRING, body);
        constructed(&mut encap_inner, tag::context(0), &octets, ber);
    }

    // RFC 5652 §5.1: version 3 when a SignerInfo is version 3 (named by subject key identifier).
    let version = match options.signer_identifier {
        SignerIdentifier::SubjectKeyIdentifier => 3,
        SignerIdentifier::IssuerAndSerialNumber => 1,
    };
    let mut sd = Vec::new();
    crate::ber::write_tlv(&mut sd, tag::INTEGER, &[version]);
    crate::ber::write_tlv(&mut sd, tag::SET, &digest_alg_id);
    constructed(&mut sd, tag::SEQUENCE, &encap_inner, ber);
    if !certs.is_empty() {
        crate::ber::write_tlv(&mut sd, tag::context(0), &certs);
    }
    crate::ber::write_tlv(&mut sd, tag::SET, &signer_infos);

    let mut signed_data = Vec::new();
    constructed(&mut signed_data, tag::SEQUENCE, &sd, ber);
    let mut explicit = Vec::new();
    constructed(&mut explicit, tag::context(0), &signed_data, ber);
    let mut ci = Vec::new();
    oid_tlv(&mut ci, &oid::SIGNED_DATA);
    ci.extend_from_slice(&explicit);
    let mut out = Vec::new();
    constructed(&mut out, tag::SEQUENCE, &ci, ber);
    Ok(out)
}

fn signer_info(
    signer: &SigningIdentity,
    alg: DigestAlgorithm,
    body_digest: &digest::Digest,
    digest_alg_id: &[u8],
    options: &SignOptions,
) -> Result<Vec<u8>, SignerError> {
    let mut si = Vec::new();
    let sid_kind = options.signer_identifier;
    crate::ber::write_tlv(
        &mut si,
        tag::INTEGER,
        &[if sid_kind == SignerIdentifier::SubjectKeyIdentifier {
            3
        } else {
            1
        }],
    );
    match sid_kind {
        SignerIdentifier::IssuerAndSerialNumber => {
            let mut ias = signer.cert.issuer_bytes().to_vec();
            crate::ber::write_tlv(&mut ias, tag::INTEGER, signer.cert.serial_bytes());
            crate::ber::write_tlv(&mut si, tag::SEQUENCE, &ias);
        }
        SignerIdentifier::SubjectKeyIdentifier => {
            let ski = signer
                .cert
                .subject_key_id()
                .ok_or(SignerError::NoSubjectKeyId)?;
            crate::ber::write_tlv(&mut si, tag::context_primitive(0), &ski);
        }
    }
    si.extend_from_slice(digest_alg_id);

    let signature = match &options.signed_attributes {
        None => signer.sign_digest(alg, body_digest)?,
        Some(attrs) => {
            let mut encoded = Vec::new();
            let mut content_type = Vec::new();
            let mut value = Vec::new();
            oid_tlv(&mut value, &oid::DATA);
            attribute(&mut content_type, &oid::CONTENT_TYPE, &value);
            encoded.push(content_type);

            let mut message_digest = Vec::new();
            let mut value = Vec::new();
            crate::ber::write_tlv(&mut value, tag::OCTET_STRING, body_digest.as_ref());
            attribute(&mut message_digest, &oid::MESSAGE_DIGEST, &value);
            encoded.push(message_digest);

            if let Some(t) = attrs.signing_time {
                let time = x509_cert::time::Time::try_from(t)
                    .and_then(|t| t.to_der())
                    .map_err(SignerError::SigningTime)?;
                let mut signing_time = Vec::new();
                attribute(&mut signing_time, &oid::SIGNING_TIME, &time);
                encoded.push(signing_time);
            }
            // DER orders SET OF elements by their encodings.
            encoded.sort();
            if attrs.unsorted {
                encoded.reverse();
            }
            let set: Vec<u8> = encoded.concat();
            let mut as_set = Vec::new();
            crate::ber::write_tlv(&mut as_set, tag::SET, &set);
            let signature = signer.sign_digest(alg, &alg.digest(&as_set))?;
            crate::ber::write_tlv(&mut si, tag::context(0), &set);
            signature
        }
    };
    let mut sig_alg = Vec::new();
    // RSA with a NULL parameter, ECDSA without (RFC 4055 §5, RFC 5758 §3.2).
    let is_rsa = matches!(signer.key, SigningKey::Rsa { .. });
    algorithm_identifier(&mut sig_alg, &signer.signature_algorithm(alg), is_rsa);
    si.extend_from_slice(&sig_alg);
    crate::ber::write_tlv(&mut si, tag::OCTET_STRING, &signature);

    let mut out = Vec::new();
    crate::ber::write_tlv(&mut out, tag::SEQUENCE, &si);
    Ok(out)
}

fn attribute(out: &mut Vec<u8>, attr_type: &der::asn1::ObjectIdentifier, value: &[u8]) {
    let mut inner = Vec::new();
    oid_tlv(&mut inner, attr_type);
    crate::ber::write_tlv(&mut inner, tag::SET, value);
    crate::ber::write_tlv(out, tag::SEQUENCE, &inner);
}

fn oid_tlv(out: &mut Vec<u8>, oid: &der::asn1::ObjectIdentifier) {
    crate::ber::write_tlv(out, tag::OID, oid.as_bytes());
}

fn algorithm_identifier(out: &mut Vec<u8>, oid: &der::asn1::ObjectIdentifier, null_params: bool) {
    let mut inner = Vec::new();
    oid_tlv(&mut inner, oid);
    if null_params {
        inner.extend_from_slice(&[tag::NULL, 0]);
    }
    crate::ber::write_tlv(out, tag::SEQUENCE, &inner);
}

/// Writes a constructed value, with an indefinite length in the BER layout.
fn constructed(out: &mut Vec<u8>, t: u8, content: &[u8], indefinite: bool) {
    out.push(t);
    if indefinite {
        out.push(0x80);
        out.extend_from_slice(content);
        out.extend_from_slice(&[0, 0]);
    } else {
        write_length(out, content.len());
        out.extend_from_slice(content);
    }
}
