//! The crate's one error type.

use std::time::SystemTime;

/// Why a signature, a certificate header or a certificate chain was refused.
///
/// Each variant is a case a caller (or an operator reading a log line) can act on. The MDM server
/// answers every one of them with HTTP 400 (never 401: a device may unenroll on 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The header (or certificate header) was empty.
    #[error("header is empty")]
    EmptyHeader,

    /// The header is longer than the configured limit (see [`crate::VerifyOptions::max_header_len`]).
    #[error("header is {len} bytes long, the limit is {max}")]
    HeaderTooLong {
        /// The header's length in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },

    /// The header is not valid base64.
    #[error("invalid base64: {0}")]
    Base64(#[from] base64::DecodeError),

    /// The bytes are not the ASN.1 structure expected at this point (truncated, wrong tag, bad
    /// length, trailing data, ...).
    #[error("malformed {what}: {detail}")]
    Asn1 {
        /// The structure being read, e.g. `"SignerInfo"`.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },

    /// The CMS ContentInfo carries something other than SignedData (content type OID given).
    #[error("CMS content is not SignedData but {0}")]
    NotSignedData(String),

    /// The SignedData embeds its content. Mdm-Signature must be detached: the signed content is
    /// the HTTP body, and a signature carrying its own content could vouch for other bytes.
    #[error("CMS SignedData is not detached: it embeds content")]
    NotDetached,

    /// The SignedData has not exactly one SignerInfo (the number found is given).
    #[error("CMS SignedData has {0} signers, exactly one is required")]
    SignerCount(usize),

    /// No certificate embedded in the SignedData matches the signer's identifier
    /// (issuer and serial number, or subject key identifier).
    #[error("the signer's certificate is not among the embedded certificates")]
    SignerCertificateNotFound,

    /// A certificate did not parse as X.509.
    #[error("invalid certificate: {0}")]
    Certificate(String),

    /// A digest, signature or public-key algorithm that this crate does not verify
    /// (its OID, or a name for a combination, is given).
    #[error("unsupported {what} algorithm {oid}")]
    UnsupportedAlgorithm {
        /// Which algorithm slot: `"digest"`, `"signature"`, `"public key"`, `"curve"`.
        what: &'static str,
        /// The OID, dotted, or a description of the unsupported combination.
        oid: String,
    },

    /// The signature algorithm names a different digest than the signer's digest algorithm
    /// (e.g. `sha256WithRSAEncryption` with a SHA-1 digest), or a different key type than the
    /// certificate's key.
    #[error("algorithm mismatch: {0}")]
    AlgorithmMismatch(String),

    /// The signed attributes are malformed or incomplete (missing or repeated messageDigest,
    /// contentType not id-data, ...).
    #[error("invalid signed attributes: {0}")]
    SignedAttributes(String),

    /// The messageDigest signed attribute does not equal the digest of the body: the signature
    /// was made over other bytes.
    #[error("messageDigest attribute does not match the body's digest")]
    MessageDigestMismatch,

    /// The signature does not verify with the signer certificate's public key.
    #[error("signature does not verify with the signer certificate's key")]
    BadSignature,

    /// The signingTime signed attribute lies outside the certificate's validity (allowing the
    /// configured clock skew).
    #[error(
        "signingTime {} is outside the certificate's validity {} .. {}",
        fmt_time(*signing_time),
        fmt_time(*not_before),
        fmt_time(*not_after)
    )]
    SigningTimeOutsideValidity {
        /// The signingTime attribute.
        signing_time: SystemTime,
        /// The certificate's notBefore.
        not_before: SystemTime,
        /// The certificate's notAfter.
        not_after: SystemTime,
    },

    /// The certificate's notAfter has passed.
    #[error("certificate expired at {}", fmt_time(*not_after))]
    CertificateExpired {
        /// The certificate's notAfter.
        not_after: SystemTime,
    },

    /// The certificate's notBefore has not been reached yet.
    #[error("certificate is not valid before {}", fmt_time(*not_before))]
    CertificateNotYetValid {
        /// The certificate's notBefore.
        not_before: SystemTime,
    },

    /// The certificate's extended key usage does not allow TLS client authentication.
    #[error("certificate's extended key usage does not allow client authentication")]
    NotClientAuth,

    /// The certificate is a certificate authority's, not a device identity (the evidence is
    /// given). A CA's key signs certificates; a device never needs one, and accepting it would
    /// let whoever holds a CA key (the `-ca` root's, or an intermediate's) be any device without
    /// issuing anything. Refused whatever path the certificate came by (`Mdm-Signature` signer
    /// or proxy header), and before any path is built.
    #[error("a CA certificate is not a device identity: {0}")]
    CaCertificate(CaEvidence),

    /// No chain from the certificate to a trusted root could be built (the reason is given).
    #[error("untrusted certificate chain: {0}")]
    UntrustedChain(String),

    /// A certificate header from a TLS-terminating proxy is malformed (the reason is given): bad
    /// percent escape, no PEM block, missing RFC 9440 colons, ...
    #[error("invalid certificate header: {0}")]
    CertificateHeader(String),

    /// PEM input held no CERTIFICATE block.
    #[error("no PEM CERTIFICATE block found")]
    NoCertificate,

    /// A private key could not be loaded or used (signer feature).
    #[error("private key: {0}")]
    Key(String),
}

/// What shows that a certificate offered as a device identity is a CA's
/// ([`Error::CaCertificate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaEvidence {
    /// Its basicConstraints extension asserts cA.
    BasicConstraints,
    /// Its key usage includes keyCertSign, with or without basicConstraints. RFC 5280 §4.2.1.3
    /// allows that bit only together with cA, so such a certificate is a CA certificate missing
    /// its basicConstraints (or contradicting them); either way its key is declared to sign
    /// certificates, which a device identity never does.
    KeyCertSign,
    /// It is a version 1 or 2 certificate (which cannot carry basicConstraints, so cannot say
    /// it is not a CA) that the CA pool holds as a root or intermediate: a CA by configuration.
    PoolCertificate,
}

impl std::fmt::Display for CaEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CaEvidence::BasicConstraints => "basicConstraints asserts cA",
            CaEvidence::KeyCertSign => "key usage includes keyCertSign",
            CaEvidence::PoolCertificate => {
                "a version 1 or 2 certificate the CA pool holds as a root or intermediate"
            }
        })
    }
}

/// Formats a time as RFC 3339 UTC for error messages, without a date-time dependency.
pub(crate) fn fmt_time(t: SystemTime) -> String {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => match der::DateTime::from_unix_duration(d) {
            Ok(dt) => dt.to_string(),
            Err(_) => format!("{}s after the epoch", d.as_secs()),
        },
        Err(_) => "before 1970".to_owned(),
    }
}

impl Error {
    pub(crate) fn asn1(what: &'static str, detail: impl Into<String>) -> Self {
        Error::Asn1 {
            what,
            detail: detail.into(),
        }
    }
}
