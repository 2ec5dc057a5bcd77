//! Signature verification (aws-lc-rs): CMS signer signatures and PKCS #10 self-signatures.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use der::oid::ObjectIdentifier;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::oid;

/// A digest algorithm a signer may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digest {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    pub(crate) fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Some(match *oid {
            oid::SHA1 => Digest::Sha1,
            oid::SHA256 => Digest::Sha256,
            oid::SHA384 => Digest::Sha384,
            oid::SHA512 => Digest::Sha512,
            _ => return None,
        })
    }

    pub(crate) fn digest(self, data: &[u8]) -> digest::Digest {
        let alg = match self {
            Digest::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Digest::Sha256 => &digest::SHA256,
            Digest::Sha384 => &digest::SHA384,
            Digest::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data)
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifyError {
    /// The signature algorithm, the key type or the curve is not one this crate verifies (the
    /// OID that was not understood).
    Unsupported(ObjectIdentifier),
    /// The signature does not verify.
    Bad,
}

enum KeyType {
    Rsa,
    P256,
    P384,
}

fn key_type(spki: &SubjectPublicKeyInfoOwned) -> Result<KeyType, VerifyError> {
    match spki.algorithm.oid {
        oid::RSA_ENCRYPTION => Ok(KeyType::Rsa),
        oid::EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or(VerifyError::Unsupported(oid::EC_PUBLIC_KEY))?;
            match curve {
                oid::SECP256R1 => Ok(KeyType::P256),
                oid::SECP384R1 => Ok(KeyType::P384),
                other => Err(VerifyError::Unsupported(other)),
            }
        }
        other => Err(VerifyError::Unsupported(other)),
    }
}

/// Verifies `signature` over `message` with the public key `spki`.
///
/// `algorithm` is the signature algorithm named beside the signature. PKCS #7-era signers name
/// the key's algorithm there (`rsaEncryption`) and the digest separately: `digest` then supplies
/// the hash.
pub(crate) fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    digest: Option<Digest>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let key = key_type(spki)?;
    let hash = match algorithm.oid {
        oid::SHA1_WITH_RSA | oid::ECDSA_WITH_SHA1 => Digest::Sha1,
        oid::SHA256_WITH_RSA | oid::ECDSA_WITH_SHA256 => Digest::Sha256,
        oid::SHA384_WITH_RSA | oid::ECDSA_WITH_SHA384 => Digest::Sha384,
        oid::SHA512_WITH_RSA | oid::ECDSA_WITH_SHA512 => Digest::Sha512,
        oid::RSA_ENCRYPTION | oid::EC_PUBLIC_KEY => {
            digest.ok_or(VerifyError::Unsupported(algorithm.oid))?
        }
        other => return Err(VerifyError::Unsupported(other)),
    };
    let is_rsa_alg = matches!(
        algorithm.oid,
        oid::SHA1_WITH_RSA
            | oid::SHA256_WITH_RSA
            | oid::SHA384_WITH_RSA
            | oid::SHA512_WITH_RSA
            | oid::RSA_ENCRYPTION
    );
    let alg: &'static dyn VerificationAlgorithm = match (key, is_rsa_alg, hash) {
        // 1024-bit keys: Apple's SCEP payload allows them and devices enrolled long ago hold them.
        (KeyType::Rsa, true, Digest::Sha1) => &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (KeyType::Rsa, true, Digest::Sha256) => {
            &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        }
        (KeyType::Rsa, true, Digest::Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
        (KeyType::Rsa, true, Digest::Sha512) => {
            &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
        }
        (KeyType::P256, false, Digest::Sha1) => &sig::ECDSA_P256_SHA1_ASN1,
        (KeyType::P256, false, Digest::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
        (KeyType::P256, false, Digest::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
        (KeyType::P256, false, Digest::Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
        (KeyType::P384, false, Digest::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
        (KeyType::P384, false, Digest::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
        (KeyType::P384, false, Digest::Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
        // A key of one type with the other type's algorithm, or P-384 with SHA-1.
        _ => return Err(VerifyError::Unsupported(algorithm.oid)),
    };
    let key_bytes = spki.subject_public_key.raw_bytes();
    UnparsedPublicKey::new(alg, key_bytes)
        .verify(message, signature)
        .map_err(|_| VerifyError::Bad)
}
