//! Algorithm identifiers and signature verification with aws-lc-rs.
//!
//! aws-lc-rs is already in the workspace (rustls, rcgen), verifies RSA-2048 in about the time ring
//! does, keeps SHA-1 RSA and ECDSA for legacy use, and can pre-parse a public key once per
//! certificate ([`ParsedPublicKey`]), which the hot path relies on.

use std::sync::OnceLock;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    self as sig, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm,
};
use der::asn1::ObjectIdentifier;

use crate::ber::{Tlv, tag};
use crate::{AlgorithmMismatch, Asn1Problem, Error};

/// OIDs used by this crate, as their DER contents octets.
pub(crate) mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    #[cfg(feature = "signer")]
    pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");

    pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");

    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
}

/// Renders OID contents octets as dotted text for error messages.
pub(crate) fn oid_text(content: &[u8]) -> String {
    match ObjectIdentifier::from_bytes(content) {
        Ok(oid) => oid.to_string(),
        Err(_) => format!("(invalid OID {})", hex::encode(content)),
    }
}

/// A message digest algorithm, as named by a CMS signer's `digestAlgorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// SHA-1: what most Apple devices use for Mdm-Signature.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    pub(crate) fn from_oid(content: &[u8]) -> Option<Self> {
        [
            (oid::SHA1, DigestAlgorithm::Sha1),
            (oid::SHA256, DigestAlgorithm::Sha256),
            (oid::SHA384, DigestAlgorithm::Sha384),
            (oid::SHA512, DigestAlgorithm::Sha512),
        ]
        .into_iter()
        .find(|(o, _)| o.as_bytes() == content)
        .map(|(_, d)| d)
    }

    #[cfg(feature = "signer")]
    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            DigestAlgorithm::Sha1 => oid::SHA1,
            DigestAlgorithm::Sha256 => oid::SHA256,
            DigestAlgorithm::Sha384 => oid::SHA384,
            DigestAlgorithm::Sha512 => oid::SHA512,
        }
    }

    pub(crate) fn aws(self) -> &'static digest::Algorithm {
        match self {
            DigestAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            DigestAlgorithm::Sha256 => &digest::SHA256,
            DigestAlgorithm::Sha384 => &digest::SHA384,
            DigestAlgorithm::Sha512 => &digest::SHA512,
        }
    }

    /// Computes the digest of `data`.
    pub(crate) fn digest(self, data: &[u8]) -> digest::Digest {
        digest::digest(self.aws(), data)
    }

    /// The algorithm's common name (`"SHA-1"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha1 => "SHA-1",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha384 => "SHA-384",
            DigestAlgorithm::Sha512 => "SHA-512",
        }
    }
}

/// The public-key half of a signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    RsaPkcs1,
    Ecdsa,
}

/// Maps a signature algorithm OID to its scheme and, when the OID names one, its digest.
///
/// `rsaEncryption` (and `id-ecPublicKey`, which some signers put there) name no digest: CMS then
/// takes the signer's digest algorithm (RFC 3370 §3.2).
pub(crate) fn signature_algorithm(
    content: &[u8],
) -> Result<(Scheme, Option<DigestAlgorithm>), Error> {
    use DigestAlgorithm::*;
    let table = [
        (oid::RSA_ENCRYPTION, Scheme::RsaPkcs1, None),
        (oid::SHA1_WITH_RSA, Scheme::RsaPkcs1, Some(Sha1)),
        (oid::SHA256_WITH_RSA, Scheme::RsaPkcs1, Some(Sha256)),
        (oid::SHA384_WITH_RSA, Scheme::RsaPkcs1, Some(Sha384)),
        (oid::SHA512_WITH_RSA, Scheme::RsaPkcs1, Some(Sha512)),
        (oid::EC_PUBLIC_KEY, Scheme::Ecdsa, None),
        (oid::ECDSA_WITH_SHA1, Scheme::Ecdsa, Some(Sha1)),
        (oid::ECDSA_WITH_SHA256, Scheme::Ecdsa, Some(Sha256)),
        (oid::ECDSA_WITH_SHA384, Scheme::Ecdsa, Some(Sha384)),
        (oid::ECDSA_WITH_SHA512, Scheme::Ecdsa, Some(Sha512)),
    ];
    table
        .into_iter()
        .find(|(o, _, _)| o.as_bytes() == content)
        .map(|(_, s, d)| (s, d))
        .ok_or_else(|| Error::UnsupportedAlgorithm {
            what: "signature",
            oid: oid_text(content),
        })
}

/// Reads an AlgorithmIdentifier, returning the OID's contents octets (parameters are not needed
/// for the algorithms accepted here; they must be absent or NULL, or an OID for EC keys).
pub(crate) fn read_algorithm<'a>(
    tlv: &Tlv<'a>,
    what: &'static str,
) -> Result<(&'a [u8], Option<Tlv<'a>>), Error> {
    let mut r = tlv.reader();
    let oid = r.expect(tag::OID, what)?;
    let params = if r.is_empty() {
        None
    } else {
        Some(r.read(what)?)
    };
    r.finish(what)?;
    Ok((oid.content, params))
}

/// A public key's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyType {
    Rsa,
    EcP256,
    EcP384,
}

impl KeyType {
    fn scheme(self) -> Scheme {
        match self {
            KeyType::Rsa => Scheme::RsaPkcs1,
            KeyType::EcP256 | KeyType::EcP384 => Scheme::Ecdsa,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::EcP256 => "ECDSA P-256",
            KeyType::EcP384 => "ECDSA P-384",
        }
    }
}

/// A certificate's subject public key, with a parsed copy kept for the digest it was first used
/// with (a device signs with one digest, so later verifications skip the key parse).
#[derive(Debug)]
pub(crate) struct PublicKey {
    key_type: KeyType,
    /// The subjectPublicKey BIT STRING's bits: RSAPublicKey DER, or an uncompressed EC point.
    bits: Vec<u8>,
    parsed: OnceLock<Option<(DigestAlgorithm, ParsedPublicKey)>>,
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo.
    pub(crate) fn from_spki(spki: &Tlv<'_>) -> Result<Self, Error> {
        const WHAT: &str = "SubjectPublicKeyInfo";
        let mut r = spki.reader();
        let alg = r.expect(tag::SEQUENCE, WHAT)?;
        let bits = r.expect(tag::BIT_STRING, WHAT)?;
        r.finish(WHAT)?;
        let (alg_oid, params) = read_algorithm(&alg, WHAT)?;
        let key_type = if alg_oid == oid::RSA_ENCRYPTION.as_bytes() {
            KeyType::Rsa
        } else if alg_oid == oid::EC_PUBLIC_KEY.as_bytes() {
            let curve = params.filter(|p| p.tag == tag::OID).ok_or_else(|| {
                Error::asn1(WHAT, Asn1Problem::Invalid("EC key without a named curve"))
            })?;
            if curve.content == oid::P256.as_bytes() {
                KeyType::EcP256
            } else if curve.content == oid::P384.as_bytes() {
                KeyType::EcP384
            } else {
                return Err(Error::UnsupportedAlgorithm {
                    what: "curve",
                    oid: oid_text(curve.content),
                });
            }
        } else {
            return Err(Error::UnsupportedAlgorithm {
                what: "public key",
                oid: oid_text(alg_oid),
            });
        };
        match bits.content.split_first() {
            Some((0, key)) if !key.is_empty() => Ok(PublicKey {
                key_type,
                bits: key.to_vec(),
                parsed: OnceLock::new(),
            }),
            _ => Err(Error::asn1(
                WHAT,
                Asn1Problem::Invalid("public key BIT STRING is empty or has unused bits"),
            )),
        }
    }

    #[cfg(feature = "signer")]
    pub(crate) fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Verifies `signature` over a message whose digest (by `alg`) is `message_digest`.
    pub(crate) fn verify(
        &self,
        scheme: Scheme,
        alg: DigestAlgorithm,
        message_digest: &digest::Digest,
        signature: &[u8],
    ) -> Result<(), Error> {
        if scheme != self.key_type.scheme() {
            return Err(Error::AlgorithmMismatch(AlgorithmMismatch::KeyType {
                signature: match scheme {
                    Scheme::RsaPkcs1 => "RSA",
                    Scheme::Ecdsa => "ECDSA",
                },
                key: self.key_type.name(),
            }));
        }
        let (verifier, digest) = self.verification(alg, message_digest)?;
        let cached = self.parsed.get_or_init(|| {
            ParsedPublicKey::new(verifier, &self.bits)
                .ok()
                .map(|key| (alg, key))
        });
        let result = match cached {
            Some((cached_alg, key)) if *cached_alg == alg => {
                key.verify_digest_sig(&digest, signature)
            }
            _ => UnparsedPublicKey::new(verifier, &self.bits).verify_digest(&digest, signature),
        };
        result.map_err(|_| Error::BadSignature)
    }

    /// Picks the aws-lc-rs algorithm for this key and digest.
    ///
    /// RSA: the `1024_8192` variants, because devices enrolled through SCEP may hold 1024-bit keys
    /// (Apple's SCEP payload default) and NanoMDM accepts them; SHA-384 has no such variant and
    /// needs 2048 bits. ECDSA: aws-lc-rs has every pairing except P-384 with SHA-1, which is
    /// verified as P-384/SHA-384 over the SHA-1 digest left-padded with zeros — the same integer
    /// `e` that ECDSA derives from a hash shorter than the curve order (SEC 1 §4.1.4 step 5).
    fn verification(
        &self,
        alg: DigestAlgorithm,
        message_digest: &digest::Digest,
    ) -> Result<(&'static dyn VerificationAlgorithm, digest::Digest), Error> {
        use DigestAlgorithm::*;
        let v: &'static dyn VerificationAlgorithm = match (self.key_type, alg) {
            (KeyType::Rsa, Sha1) => &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            (KeyType::Rsa, Sha256) => &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            (KeyType::Rsa, Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (KeyType::Rsa, Sha512) => &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
            (KeyType::EcP256, Sha1) => &sig::ECDSA_P256_SHA1_ASN1,
            (KeyType::EcP256, Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
            (KeyType::EcP256, Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
            (KeyType::EcP256, Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
            (KeyType::EcP384, Sha1) => {
                // Right-aligned in 48 zero octets. `zip` from the end copies at most 48 octets
                // and cannot panic; the length check makes sure it copies the whole digest.
                let sha1 = message_digest.as_ref();
                if sha1.len() != 20 {
                    return Err(Error::AlgorithmMismatch(AlgorithmMismatch::DigestLength {
                        len: sha1.len(),
                        algorithm: DigestAlgorithm::Sha1,
                    }));
                }
                let mut padded = [0u8; 48];
                for (to, from) in padded.iter_mut().rev().zip(sha1.iter().rev()) {
                    *to = *from;
                }
                let digest = digest::Digest::import_less_safe(&padded, &digest::SHA384)
                    .map_err(|_| Error::BadSignature)?;
                return Ok((&sig::ECDSA_P384_SHA384_ASN1, digest));
            }
            (KeyType::EcP384, Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
            (KeyType::EcP384, Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
            (KeyType::EcP384, Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
        };
        Ok((v, *message_digest))
    }
}
