//! Private keys (RSA and ECDSA P-256, held by aws-lc-rs) and the signer that lets the `cms` and
//! `x509-cert` builders sign with them.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{self, Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair as _};
use der::asn1::BitString;
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding,
};

use crate::error::{KeyError, PemError};
use crate::oid;
use crate::pem;

/// A key algorithm [`PrivateKey::generate`] can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ECDSA on NIST P-256.
    EcP256,
}

/// A private key: RSA (2048 to 8192 bits) or ECDSA P-256.
///
/// An RSA key signs (PKCS #1 v1.5 with SHA-256) and decrypts (PKCS #1 v1.5 key transport, as SCEP
/// clients encrypt to the CA); a P-256 key only signs (ECDSA with SHA-256), so it can be a CA's
/// issuing key but not the key SCEP requests are encrypted to.
pub struct PrivateKey {
    inner: KeyInner,
    /// The public key as an encoded SubjectPublicKeyInfo.
    spki: Vec<u8>,
}

enum KeyInner {
    Rsa {
        signing: rsa::KeyPair,
        decrypting: Pkcs1PrivateDecryptingKey,
    },
    EcP256(EcdsaKeyPair),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm_name())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a new key.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let size = match algorithm {
            KeyAlgorithm::Rsa2048 => rsa::KeySize::Rsa2048,
            KeyAlgorithm::Rsa3072 => rsa::KeySize::Rsa3072,
            KeyAlgorithm::Rsa4096 => rsa::KeySize::Rsa4096,
            KeyAlgorithm::EcP256 => {
                let pair = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_ASN1_SIGNING)
                    .map_err(|_| KeyError::Generate)?;
                return Self::from_ec(pair);
            }
        };
        let pair = rsa::KeyPair::generate(size).map_err(|_| KeyError::Generate)?;
        Self::from_rsa(pair)
    }

    /// Reads the first private key of a PEM text: `PRIVATE KEY` (PKCS #8), `RSA PRIVATE KEY`
    /// (PKCS #1) or `EC PRIVATE KEY` (SEC 1, P-256). Other blocks (certificates) are skipped;
    /// an encrypted key (PKCS #8 or legacy PEM encryption) is [`KeyError::Encrypted`].
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        for block in pem::blocks(text) {
            let block = block.map_err(|e| match e {
                // RFC 1421 headers on a key: `Proc-Type: 4,ENCRYPTED`.
                PemError::Headers => KeyError::Encrypted,
                other => KeyError::Pem(other),
            })?;
            match block.label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8_der(&block.der),
                "RSA PRIVATE KEY" => return Self::from_pkcs1_der(&block.der),
                "EC PRIVATE KEY" => return Self::from_sec1_der(&block.der),
                "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
                _ => {}
            }
        }
        Err(KeyError::NoKey)
    }

    /// Reads an unencrypted PKCS #8 `PrivateKeyInfo` (RSA or P-256).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(pair) = rsa::KeyPair::from_pkcs8(der) {
            return Self::from_rsa(pair);
        }
        match EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            Ok(pair) => Self::from_ec(pair),
            Err(_) => Err(KeyError::Unsupported),
        }
    }

    /// Reads a PKCS #1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = rsa::KeyPair::from_der(der).map_err(|_| KeyError::Unsupported)?;
        Self::from_rsa(pair)
    }

    /// Reads a SEC 1 `ECPrivateKey` on P-256.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_private_key_der(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map_err(|_| KeyError::Unsupported)?;
        Self::from_ec(pair)
    }

    fn from_rsa(signing: rsa::KeyPair) -> Result<Self, KeyError> {
        let pkcs8: Pkcs8V1Der<'static> = signing.as_der().map_err(|_| KeyError::Unsupported)?;
        let decrypting =
            PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Unsupported)?;
        let decrypting =
            Pkcs1PrivateDecryptingKey::new(decrypting).map_err(|_| KeyError::Unsupported)?;
        let spki = spki_der(signing.public_key())?;
        Ok(Self {
            inner: KeyInner::Rsa {
                signing,
                decrypting,
            },
            spki,
        })
    }

    fn from_ec(pair: EcdsaKeyPair) -> Result<Self, KeyError> {
        let spki = spki_der(pair.public_key())?;
        Ok(Self {
            inner: KeyInner::EcP256(pair),
            spki,
        })
    }

    /// The public key, as an encoded SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// The key as unencrypted PKCS #8 DER (for writing it to a file).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        let der = match &self.inner {
            KeyInner::Rsa { signing, .. } => {
                let d: Pkcs8V1Der<'static> = signing.as_der().map_err(|_| KeyError::Unsupported)?;
                d.as_ref().to_vec()
            }
            KeyInner::EcP256(pair) => pair
                .to_pkcs8v1()
                .map_err(|_| KeyError::Unsupported)?
                .as_ref()
                .to_vec(),
        };
        Ok(der)
    }

    /// The key as a PEM `PRIVATE KEY` block.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        Ok(pem::encode("PRIVATE KEY", &self.to_pkcs8_der()?))
    }

    /// Whether SCEP requests can be encrypted to this key (it is RSA).
    pub fn can_decrypt(&self) -> bool {
        matches!(self.inner, KeyInner::Rsa { .. })
    }

    pub(crate) fn algorithm_name(&self) -> &'static str {
        match self.inner {
            KeyInner::Rsa { .. } => "RSA",
            KeyInner::EcP256(_) => "ECDSA P-256",
        }
    }

    /// The signature algorithm this key signs with: sha256WithRSAEncryption or
    /// ecdsa-with-SHA256.
    pub(crate) fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self.inner {
            KeyInner::Rsa { .. } => AlgorithmIdentifierOwned {
                oid: oid::SHA256_WITH_RSA,
                parameters: Some(der::asn1::Null.into()),
            },
            KeyInner::EcP256(_) => AlgorithmIdentifierOwned {
                oid: oid::ECDSA_WITH_SHA256,
                parameters: None,
            },
        }
    }

    /// Signs `message` (SHA-256 digest).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.inner {
            KeyInner::Rsa { signing, .. } => {
                let mut out = vec![0; signing.public_modulus_len()];
                signing
                    .sign(&sig::RSA_PKCS1_SHA256, &rng, message, &mut out)
                    .map_err(|_| KeyError::Sign)?;
                Ok(out)
            }
            KeyInner::EcP256(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
        }
    }

    /// PKCS #1 v1.5 decryption of a key-transport ciphertext. `None` for any failure (not RSA,
    /// wrong length, bad padding): callers must not tell these apart.
    pub(crate) fn decrypt_pkcs1(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        let KeyInner::Rsa { decrypting, .. } = &self.inner else {
            return None;
        };
        if ciphertext.len() != decrypting.key_size_bytes() {
            return None;
        }
        let mut out = vec![0; decrypting.min_output_size()];
        let len = decrypting.decrypt(ciphertext, &mut out).ok()?.len();
        out.truncate(len);
        Some(out)
    }

    /// A signer the `cms` and `x509-cert` builders accept.
    pub(crate) fn builder_signer(&self) -> BuilderSigner<'_> {
        BuilderSigner { key: self }
    }
}

/// An aws-lc-rs public key as an encoded SubjectPublicKeyInfo.
fn spki_der(key: &impl AsDer<PublicKeyX509Der<'static>>) -> Result<Vec<u8>, KeyError> {
    Ok(key
        .as_der()
        .map_err(|_| KeyError::Unsupported)?
        .as_ref()
        .to_vec())
}

/// A public key as encoded SubjectPublicKeyInfo: the builders' "verifying key".
#[derive(Clone, Debug)]
pub(crate) struct SpkiDer(Vec<u8>);

impl EncodePublicKey for SpkiDer {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::try_from(self.0.as_slice())?)
    }
}

/// A signature as bytes, as the builders want it.
pub(crate) struct RawSignature(Vec<u8>);

impl SignatureBitStringEncoding for RawSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

/// [`PrivateKey`] seen through the `signature`/`spki` traits of the RustCrypto builders.
pub(crate) struct BuilderSigner<'k> {
    key: &'k PrivateKey,
}

impl signature::Keypair for BuilderSigner<'_> {
    type VerifyingKey = SpkiDer;

    fn verifying_key(&self) -> SpkiDer {
        SpkiDer(self.key.spki.clone())
    }
}

impl DynSignatureAlgorithmIdentifier for BuilderSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.key.signature_algorithm())
    }
}

impl signature::Signer<RawSignature> for BuilderSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<RawSignature, signature::Error> {
        self.key
            .sign(msg)
            .map(RawSignature)
            .map_err(|_| signature::Error::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_rsa_and_p256() {
        for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256] {
            let key = PrivateKey::generate(alg).unwrap();
            let pem = key.to_pkcs8_pem().unwrap();
            let back = PrivateKey::from_pem(&pem).unwrap();
            assert_eq!(back.public_key_der(), key.public_key_der());
            assert_eq!(back.can_decrypt(), alg == KeyAlgorithm::Rsa2048);
        }
    }

    #[test]
    fn refuses_what_is_not_a_key() {
        assert!(matches!(
            PrivateKey::from_pem("nothing"),
            Err(KeyError::NoKey)
        ));
        assert!(matches!(
            PrivateKey::from_pkcs8_der(b"\x30\x03\x02\x01\x00"),
            Err(KeyError::Unsupported)
        ));
    }
}
