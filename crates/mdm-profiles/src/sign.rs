//! CMS signing of profiles (an attached SignedData, as Apple Configurator and MDM servers sign
//! them) and verification of signed ones.
//!
//! The CMS is `mdm-signature`'s, built and read by the same code as `Mdm-Signature`: signing
//! with its signer, attached, in DER with SHA-256 and signed attributes (contentType,
//! messageDigest, signingTime), the signer named by issuer and serial and its chain embedded;
//! verification with its verifier, which reads BER too.

use std::time::SystemTime;

use mdm_commands::install_profile::InstallProfile;
use mdm_proto::DecodeLimits;
use mdm_signature::signer::{
    Layout, SignOptions, SignedAttributes, SignerIdentifier, SigningIdentity,
};
use mdm_signature::{CertVerifier, DigestAlgorithm, IdentityCertificate, VerifyOptions};

use crate::{Profile, SignatureError, UnknownKeys};

/// A certificate, its chain and its private key, which sign profiles.
#[derive(Debug)]
pub struct ProfileSigner {
    identity: SigningIdentity,
    /// The intermediates (DER) embedded beside the signer's certificate, so that a device can
    /// build the path to a root it trusts.
    chain: Vec<Vec<u8>>,
}

impl ProfileSigner {
    /// A signer from an identity and its chain (DER, signer's issuer first).
    pub fn new(identity: SigningIdentity, chain: Vec<Vec<u8>>) -> Self {
        Self { identity, chain }
    }

    /// Reads a PEM text holding the signer's certificate first, then its chain, and its
    /// private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`; RSA or ECDSA P-256).
    pub fn from_pem(text: &str) -> Result<Self, SignatureError> {
        let identity_error = |e: &dyn std::fmt::Display| SignatureError::Identity(e.to_string());
        let mut certs = mdm_proto::pem::certificates(text.as_bytes());
        let cert = certs
            .next()
            .ok_or_else(|| SignatureError::Identity("no certificate".into()))?
            .map_err(|e| identity_error(&e))?;
        let chain = certs
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| identity_error(&e))?;
        // mdm-scep reads the three key encodings; the signer takes PKCS #8.
        let key = mdm_scep::PrivateKey::from_pem(text)
            .and_then(|k| k.to_pkcs8_der())
            .map_err(|e| identity_error(&e))?;
        let identity = SigningIdentity::from_der(cert, key).map_err(|e| identity_error(&e))?;
        Ok(Self::new(identity, chain))
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &IdentityCertificate {
        self.identity.certificate()
    }

    /// Signs a profile: the DER of a CMS ContentInfo (SignedData) holding its `.mobileconfig`.
    pub fn sign(&self, profile: &Profile) -> Result<Vec<u8>, SignatureError> {
        self.sign_bytes(&profile.to_xml(), SystemTime::now())
    }

    /// Signs the bytes of a `.mobileconfig` as they are, with `signing_time` as the
    /// signingTime attribute.
    pub fn sign_bytes(
        &self,
        mobileconfig: &[u8],
        signing_time: SystemTime,
    ) -> Result<Vec<u8>, SignatureError> {
        let options = SignOptions {
            digest: DigestAlgorithm::Sha256,
            layout: Layout::Der,
            signed_attributes: Some(SignedAttributes {
                signing_time: Some(signing_time),
                unsorted: false,
            }),
            signer_identifier: SignerIdentifier::IssuerAndSerialNumber,
            embed_signer_certificate: true,
            extra_certificates: self.chain.clone(),
            attach_content: true,
        };
        self.identity
            .sign(mobileconfig, &options)
            .map_err(|e| SignatureError::Signing(e.to_string()))
    }

    /// An `InstallProfile` command carrying the signed profile.
    pub fn install_command(&self, profile: &Profile) -> Result<InstallProfile, SignatureError> {
        Ok(InstallProfile {
            payload: self.sign(profile)?,
        })
    }
}

/// A verified signed profile.
#[derive(Clone, Debug)]
pub struct SignedProfile {
    /// The profile.
    pub profile: Profile,
    /// The signed `.mobileconfig` bytes.
    pub content: Vec<u8>,
    /// The signer's certificate.
    pub signer: IdentityCertificate,
}

/// Verifies a signed profile (a CMS SignedData with the `.mobileconfig` attached, DER or BER)
/// and reads it.
///
/// The signature is checked against the embedded signer certificate; `verifier`, when given,
/// decides whether that certificate is trusted at `now` (a [`mdm_signature::CaPool`] accepts a
/// signer with no extended key usage or with clientAuth). Without one, the signature is
/// checked but not its signer: say so to whoever relies on it.
pub fn verify_signed_profile(
    der: &[u8],
    verifier: Option<&dyn CertVerifier>,
    now: SystemTime,
) -> Result<SignedProfile, SignatureError> {
    let (content, signer) = mdm_signature::verify_signed_content(der, &VerifyOptions::default())?;
    if let Some(verifier) = verifier {
        verifier
            .verify_cert(&signer, now)
            .map_err(SignatureError::Untrusted)?;
    }
    let profile = Profile::from_bytes_with(&content, &DecodeLimits::default(), UnknownKeys::Skip)?;
    Ok(SignedProfile {
        profile,
        content,
        signer,
    })
}

/// Whether `bytes` look like a property list (XML or binary) rather than CMS.
pub fn is_unsigned(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(b"<") || start.starts_with(b"bplist")
}

/// Reads a profile that may be signed, without checking who signed it: an unsigned one as it
/// is, a signed one after checking its signature. For inspecting profiles, not for trusting
/// them.
pub fn read_any_profile(bytes: &[u8]) -> Result<Profile, SignatureError> {
    if is_unsigned(bytes) {
        Ok(Profile::from_bytes(bytes)?)
    } else {
        verify_signed_profile(bytes, None, SystemTime::now()).map(|s| s.profile)
    }
}
