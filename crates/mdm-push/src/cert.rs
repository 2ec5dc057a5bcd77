//! The MDM push certificate: a PEM certificate and its unencrypted private key.
//!
//! Apple issues one push certificate per MDM vendor customer. Its Subject UID attribute is the APNs
//! topic (`com.apple.mgmt.External.<uuid>`) that devices enrolled with it listen on, so the topic
//! is read from the certificate rather than configured separately.

use std::fmt;
use std::time::SystemTime;

use der::asn1::ObjectIdentifier;
use der::{Decode as _, Encode as _, Tag, Tagged as _};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use x509_cert::Certificate;

/// Subject attribute `userId` (RFC 4519 `uid`), where Apple puts the push topic.
const USER_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");

/// Every MDM push topic starts with this; other Apple push certificates (apps, VoIP, Wallet) do
/// not wake MDM clients.
pub const MDM_TOPIC_PREFIX: &str = "com.apple.mgmt";

/// Why a push certificate and key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushCertError {
    /// The input is not PEM text (not UTF-8, or a block is not terminated or not base64).
    #[error("invalid PEM: {0}")]
    InvalidPem(String),
    /// No `CERTIFICATE` block was found.
    #[error("no CERTIFICATE PEM block found")]
    NoCertificate,
    /// No private key block was found.
    #[error(
        "no private key PEM block found (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
    )]
    NoPrivateKey,
    /// The private key is password-protected; it must be decrypted before it is stored.
    #[error(
        "the private key is encrypted; store it unencrypted (for example `openssl pkey -in key.pem -out key-plain.pem`)"
    )]
    EncryptedKey,
    /// More than one distinct private key was supplied, so which one to use is ambiguous.
    #[error("more than one distinct private key PEM block found")]
    MultipleKeys,
    /// The certificate is not a valid DER-encoded X.509 certificate.
    #[error("the certificate is not valid X.509: {0}")]
    InvalidCertificate(String),
    /// The private key could not be loaded (malformed, or an unsupported algorithm).
    #[error("the private key cannot be used: {0}")]
    InvalidKey(String),
    /// The private key does not belong to the (first) certificate.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// The certificate subject has no UID attribute, so it is not an APNs push certificate.
    #[error(
        "the certificate subject has no UID (push topic); is this an APNs MDM push certificate?"
    )]
    NoTopic,
    /// The subject UID is not an MDM topic (it does not start with `com.apple.mgmt`).
    #[error("the certificate topic {0:?} is not an MDM push topic (expected com.apple.mgmt…)")]
    NotMdmTopic(String),
}

/// A parsed MDM push certificate with its private key, ready to build an [`ApnsClient`].
///
/// [`ApnsClient`]: crate::ApnsClient
pub struct PushCertificate {
    topic: String,
    not_before: SystemTime,
    not_after: SystemTime,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for PushCertificate {
    fn clone(&self) -> Self {
        Self {
            topic: self.topic.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

// The private key must never end up in logs, so `Debug` is written by hand.
impl fmt::Debug for PushCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushCertificate")
            .field("topic", &self.topic)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl PushCertificate {
    /// Parses a certificate and its unencrypted private key from PEM.
    ///
    /// The blocks of both inputs are read together, so either may hold both the certificate and
    /// the key (a "glued" PEM file, as NanoMDM's `/v1/pushcert` accepts); passing the same bundle
    /// twice works too. The first certificate is the push certificate, any further distinct
    /// certificates are sent as its chain. Keys may be PKCS#8 (`PRIVATE KEY`), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`); encrypted keys are refused. Text outside
    /// PEM blocks (such as OpenSSL's "Bag Attributes") is ignored.
    pub fn from_pem(
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<Self, PushCertError> {
        let mut blocks = pem_blocks(cert_pem.as_ref())?;
        blocks.extend(pem_blocks(key_pem.as_ref())?);
        Self::from_blocks(blocks)
    }

    /// Parses one PEM input that holds both the certificate and its private key.
    pub fn from_pem_bundle(pem: impl AsRef<[u8]>) -> Result<Self, PushCertError> {
        Self::from_blocks(pem_blocks(pem.as_ref())?)
    }

    fn from_blocks(blocks: Vec<PemBlock>) -> Result<Self, PushCertError> {
        let mut chain: Vec<CertificateDer<'static>> = Vec::new();
        let mut key: Option<PrivateKeyDer<'static>> = None;
        for block in blocks {
            let this_key = match block.label.as_str() {
                "CERTIFICATE" => {
                    if !chain.iter().any(|c| c.as_ref() == block.der.as_slice()) {
                        chain.push(CertificateDer::from(block.der));
                    }
                    continue;
                }
                "ENCRYPTED PRIVATE KEY" => return Err(PushCertError::EncryptedKey),
                _ if block.encrypted => return Err(PushCertError::EncryptedKey),
                "PRIVATE KEY" => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(block.der)),
                "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(block.der)),
                "EC PRIVATE KEY" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(block.der)),
                // Parameters, CSRs, public keys and the like are not ours to judge.
                _ => continue,
            };
            match &key {
                Some(existing) if existing.secret_der() != this_key.secret_der() => {
                    return Err(PushCertError::MultipleKeys);
                }
                Some(_) => {}
                None => key = Some(this_key),
            }
        }
        let leaf_der = chain.first().ok_or(PushCertError::NoCertificate)?;
        let key = key.ok_or(PushCertError::NoPrivateKey)?;

        let leaf = Certificate::from_der(leaf_der.as_ref())
            .map_err(|e| PushCertError::InvalidCertificate(e.to_string()))?;
        let tbs = leaf.tbs_certificate();
        let topic = subject_uid(&leaf)?.ok_or(PushCertError::NoTopic)?;
        if !topic.starts_with(MDM_TOPIC_PREFIX) {
            return Err(PushCertError::NotMdmTopic(topic));
        }
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| PushCertError::InvalidCertificate(e.to_string()))?;
        check_key_matches(&key, &spki)?;

        Ok(Self {
            topic,
            not_before: tbs.validity().not_before.to_system_time(),
            not_after: tbs.validity().not_after.to_system_time(),
            chain,
            key,
        })
    }

    /// The APNs topic: the certificate's Subject UID, `com.apple.mgmt…`.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Start of the certificate's validity period.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of the certificate's validity period; APNs refuses the certificate after it.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Whether `now` is past [`not_after`](Self::not_after).
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now > self.not_after
    }

    /// DER of the push certificate itself (the first certificate).
    pub fn certificate_der(&self) -> &[u8] {
        self.chain[0].as_ref()
    }

    /// The certificate chain and key as one normalized PEM document (certificates first), the
    /// form `reqwest::Identity::from_pem` reads.
    pub(crate) fn identity_pem(&self) -> Vec<u8> {
        let mut out = String::new();
        for cert in &self.chain {
            out.push_str(&mdm_proto::pem::encode("CERTIFICATE", cert.as_ref()));
        }
        let label = match &self.key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        out.push_str(&mdm_proto::pem::encode(label, self.key.secret_der()));
        out.into_bytes()
    }
}

/// The Subject UID of a DER certificate, for the mock's check of `apns-topic`.
#[cfg(feature = "mock")]
pub(crate) fn topic_of_der(der: &[u8]) -> Option<String> {
    let cert = Certificate::from_der(der).ok()?;
    subject_uid(&cert).ok().flatten()
}

/// Reads the first Subject UID attribute as text.
fn subject_uid(cert: &Certificate) -> Result<Option<String>, PushCertError> {
    let Some(atv) = cert
        .tbs_certificate()
        .subject()
        .iter()
        .find(|atv| atv.oid == USER_ID)
    else {
        return Ok(None);
    };
    let value = &atv.value;
    // Apple encodes the UID as UTF8String; the other string types a CA might pick are ASCII
    // subsets, so they decode the same way.
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            std::str::from_utf8(value.value())
                .map(|s| Some(s.to_owned()))
                .map_err(|_| PushCertError::InvalidCertificate("subject UID is not text".into()))
        }
        other => Err(PushCertError::InvalidCertificate(format!(
            "subject UID has unexpected type {other}"
        ))),
    }
}

/// Loads the key with the same crypto provider the TLS client uses and compares its public key
/// with the certificate's, so a mismatched pair fails here instead of at the first TLS handshake.
fn check_key_matches(key: &PrivateKeyDer<'static>, cert_spki: &[u8]) -> Result<(), PushCertError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| PushCertError::InvalidKey(e.to_string()))?;
    match signing_key.public_key() {
        Some(spki) if spki.as_ref() != cert_spki => Err(PushCertError::KeyMismatch),
        // A provider that cannot report the public key leaves the check to the TLS handshake.
        _ => Ok(()),
    }
}

struct PemBlock {
    label: String,
    /// An encrypted key (its body is ciphertext, and `der` empty).
    encrypted: bool,
    der: Vec<u8>,
}

/// The blocks of `input`, with every label kept so encrypted keys can be recognised and refused
/// by name (general-purpose readers silently skip labels they do not know).
fn pem_blocks(input: &[u8]) -> Result<Vec<PemBlock>, PushCertError> {
    std::str::from_utf8(input)
        .map_err(|_| PushCertError::InvalidPem("the input is not UTF-8 text".into()))?;
    let invalid = |e: mdm_proto::pem::PemError| PushCertError::InvalidPem(e.to_string());
    mdm_proto::pem::sections(input)
        .map(|section| {
            let section = section.map_err(invalid)?;
            let encrypted = section.is_encrypted();
            let der = if encrypted {
                Vec::new()
            } else {
                section.decode().map_err(invalid)?
            };
            Ok(PemBlock {
                label: section.label,
                encrypted,
                der,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

    const TOPIC: &str = "com.apple.mgmt.External.0d2b7f3c-6d6e-4a54-8c55-5f6f0c3d9a11";

    fn self_signed(
        uid: Option<&str>,
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> (String, KeyPair) {
        let key = KeyPair::generate_for(alg).unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "APSP:test");
        if let Some(uid) = uid {
            params.distinguished_name.push(
                DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
                DnValue::Utf8String(uid.into()),
            );
        }
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key)
    }

    #[test]
    fn reads_topic_and_expiry_from_pkcs8_pair() {
        let (cert, key) = self_signed(Some(TOPIC), &rcgen::PKCS_ECDSA_P256_SHA256);
        let pc = PushCertificate::from_pem(&cert, key.serialize_pem()).unwrap();
        assert_eq!(pc.topic(), TOPIC);
        assert!(pc.not_after() > pc.not_before());
        // rcgen's default validity ends in 4096, so it is not expired now.
        assert!(!pc.is_expired_at(SystemTime::now()));
        assert!(pc.is_expired_at(pc.not_after() + std::time::Duration::from_secs(1)));
        assert!(!format!("{pc:?}").contains("PRIVATE"));
    }

    #[test]
    fn accepts_sec1_ec_key() {
        let (cert, key) = self_signed(Some(TOPIC), &rcgen::PKCS_ECDSA_P256_SHA256);
        let sec1 = sec1_from_pkcs8_p256(&key.serialize_der());
        let mut pem = String::new();
        pem.push_str(&mdm_proto::pem::encode("EC PRIVATE KEY", &sec1));
        let pc = PushCertificate::from_pem(&cert, &pem).unwrap();
        assert_eq!(pc.topic(), TOPIC);
        assert!(
            String::from_utf8(pc.identity_pem())
                .unwrap()
                .contains("BEGIN EC PRIVATE KEY")
        );
    }

    #[test]
    fn accepts_pkcs1_rsa_key() {
        let (cert, key) = self_signed(Some(TOPIC), &rcgen::PKCS_RSA_SHA256);
        let pkcs1 = pkcs1_from_pkcs8(&key.serialize_der());
        let mut pem = String::new();
        pem.push_str(&mdm_proto::pem::encode("RSA PRIVATE KEY", &pkcs1));
        let pc = PushCertificate::from_pem(&cert, &pem).unwrap();
        assert_eq!(pc.topic(), TOPIC);
    }

    #[test]
    fn accepts_glued_bundle_in_any_order_with_noise() {
        let (cert, key) = self_signed(Some(TOPIC), &rcgen::PKCS_ECDSA_P256_SHA256);
        let bundle = format!(
            "Bag Attributes\n    friendlyName: APSP\n{}\nsubject=/UID=x\n{}",
            key.serialize_pem(),
            cert
        );
        assert_eq!(
            PushCertificate::from_pem_bundle(&bundle).unwrap().topic(),
            TOPIC
        );
        // NanoMDM's API hands the same glued body in as both halves.
        assert_eq!(
            PushCertificate::from_pem(&bundle, &bundle).unwrap().topic(),
            TOPIC
        );
        let crlf = bundle.replace('\n', "\r\n");
        assert_eq!(
            PushCertificate::from_pem_bundle(&crlf).unwrap().topic(),
            TOPIC
        );
    }

    #[test]
    fn refuses_encrypted_keys() {
        let (cert, _) = self_signed(Some(TOPIC), &rcgen::PKCS_ECDSA_P256_SHA256);
        let pkcs8_encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(
            PushCertificate::from_pem(&cert, pkcs8_encrypted),
            Err(PushCertError::EncryptedKey)
        ));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nnot base64 at all!!\n-----END RSA PRIVATE KEY-----\n";
        let err = PushCertificate::from_pem(&cert, legacy).unwrap_err();
        assert!(matches!(err, PushCertError::EncryptedKey));
        assert!(err.to_string().contains("encrypted"));
    }

    #[test]
    fn refuses_non_mdm_and_missing_topics() {
        let (cert, key) = self_signed(Some("com.example.app"), &rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(matches!(
            PushCertificate::from_pem(&cert, key.serialize_pem()),
            Err(PushCertError::NotMdmTopic(t)) if t == "com.example.app"
        ));
        let (cert, key) = self_signed(None, &rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(matches!(
            PushCertificate::from_pem(&cert, key.serialize_pem()),
            Err(PushCertError::NoTopic)
        ));
    }

    #[test]
    fn refuses_mismatched_missing_and_ambiguous_keys() {
        let (cert, _) = self_signed(Some(TOPIC), &rcgen::PKCS_ECDSA_P256_SHA256);
        let other = KeyPair::generate().unwrap();
        assert!(matches!(
            PushCertificate::from_pem(&cert, other.serialize_pem()),
            Err(PushCertError::KeyMismatch)
        ));
        assert!(matches!(
            PushCertificate::from_pem(&cert, ""),
            Err(PushCertError::NoPrivateKey)
        ));
        assert!(matches!(
            PushCertificate::from_pem("", other.serialize_pem()),
            Err(PushCertError::NoCertificate)
        ));
        let third = KeyPair::generate().unwrap();
        let two_keys = format!("{}{}", other.serialize_pem(), third.serialize_pem());
        assert!(matches!(
            PushCertificate::from_pem(&cert, two_keys),
            Err(PushCertError::MultipleKeys)
        ));
    }

    #[test]
    fn reports_malformed_pem() {
        let (cert, key) = self_signed(Some(TOPIC), &rcgen::PKCS_ECDSA_P256_SHA256);
        let truncated = &cert[..cert.len() - 30];
        assert!(matches!(
            PushCertificate::from_pem(truncated, key.serialize_pem()),
            Err(PushCertError::InvalidPem(_))
        ));
        let garbage = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            PushCertificate::from_pem(garbage, key.serialize_pem()),
            Err(PushCertError::InvalidPem(_))
        ));
        let not_x509 = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            PushCertificate::from_pem(not_x509, key.serialize_pem()),
            Err(PushCertError::InvalidCertificate(_))
        ));
        assert!(matches!(
            PushCertificate::from_pem([0xff, 0xfe], key.serialize_pem()),
            Err(PushCertError::InvalidPem(_))
        ));
    }

    #[test]
    fn identity_pem_round_trips() {
        let (cert, key) = self_signed(Some(TOPIC), &rcgen::PKCS_ECDSA_P256_SHA256);
        let pc = PushCertificate::from_pem(&cert, key.serialize_pem()).unwrap();
        let again = PushCertificate::from_pem_bundle(pc.identity_pem()).unwrap();
        assert_eq!(again.certificate_der(), pc.certificate_der());
        assert_eq!(again.topic(), TOPIC);
    }

    // --- DER surgery to produce PKCS#1 and SEC1 keys from rcgen's PKCS#8 output. ---

    /// PKCS#8 `PrivateKeyInfo { version, algorithm, privateKey OCTET STRING }`: the octet string
    /// holds the PKCS#1 RSAPrivateKey.
    fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
        use der::asn1::{AnyRef, OctetStringRef};
        #[derive(der::Sequence)]
        struct Info<'a> {
            version: u8,
            algorithm: AnyRef<'a>,
            private_key: &'a OctetStringRef,
        }
        let info = Info::from_der(pkcs8).unwrap();
        assert_eq!(info.version, 0);
        let _ = info.algorithm;
        info.private_key.as_bytes().to_vec()
    }

    /// For EC keys the PKCS#8 octet string holds an ECPrivateKey (SEC1) without the curve
    /// parameters; rustls accepts that form as SEC1 too.
    fn sec1_from_pkcs8_p256(pkcs8: &[u8]) -> Vec<u8> {
        pkcs1_from_pkcs8(pkcs8)
    }
}
