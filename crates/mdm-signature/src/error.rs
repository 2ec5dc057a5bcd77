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
    #[error("malformed {what}: {problem}")]
    Asn1 {
        /// The structure being read, e.g. `"SignerInfo"`.
        what: &'static str,
        /// What was wrong with it.
        problem: Asn1Problem,
    },

    /// The CMS ContentInfo carries something other than SignedData (content type OID given).
    #[error("CMS content is not SignedData but {0}")]
    NotSignedData(String),

    /// The SignedData embeds its content. Mdm-Signature must be detached: the signed content is
    /// the HTTP body, and a signature carrying its own content could vouch for other bytes.
    #[error("CMS SignedData is not detached: it embeds content")]
    NotDetached,

    /// An attached signature (a signed profile) embeds no content.
    #[error("CMS SignedData embeds no content")]
    NoContent,

    /// The SignedData has not exactly one SignerInfo (the number found is given).
    #[error("CMS SignedData has {0} signers, exactly one is required")]
    SignerCount(usize),

    /// No certificate embedded in the SignedData matches the signer's identifier
    /// (issuer and serial number, or subject key identifier).
    #[error("the signer's certificate is not among the embedded certificates")]
    SignerCertificateNotFound,

    /// A certificate did not parse as X.509.
    #[error("invalid certificate: {0}")]
    Certificate(CertificateError),

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
    AlgorithmMismatch(AlgorithmMismatch),

    /// The signed attributes are malformed or incomplete (missing or repeated messageDigest,
    /// contentType not id-data, ...).
    #[error("invalid signed attributes: {0}")]
    SignedAttributes(SignedAttributesError),

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

    /// No chain from the certificate to a trusted root could be built. When several paths were
    /// tried, the reason the first one failed.
    #[error("untrusted certificate chain: {0}")]
    UntrustedChain(ChainError),

    /// A certificate header from a TLS-terminating proxy, or PEM text, is malformed.
    #[error("invalid certificate header: {0}")]
    CertificateHeader(HeaderError),

    /// PEM input held no CERTIFICATE block.
    #[error("no PEM CERTIFICATE block found")]
    NoCertificate,
}

/// What was wrong with a piece of ASN.1 ([`Error::Asn1`]). Tags are the identifier octet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Asn1Problem {
    /// The data ends where a value should start.
    #[error("unexpected end of data")]
    UnexpectedEnd,
    /// End-of-contents octets where a value should start.
    #[error("unexpected end-of-contents octets")]
    UnexpectedEndOfContents,
    /// A tag in the high tag number form, which nothing in CMS or X.509 uses.
    #[error("high tag number form (0x{tag:02x}) not supported")]
    HighTagNumber {
        /// The identifier octet.
        tag: u8,
    },
    /// An indefinite length on a primitive value.
    #[error("indefinite length on primitive {}", tag_name(*tag))]
    IndefinitePrimitive {
        /// The identifier octet.
        tag: u8,
    },
    /// More nested indefinite lengths (or re-encoded levels) than the reader follows.
    #[error("more than {max} nested levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A length of more octets than the reader takes (or than fit this platform's `usize`).
    #[error("length of {octets} octets not supported")]
    LengthTooLong {
        /// How many length octets the value declares.
        octets: usize,
    },
    /// The value's length octets, contents or end-of-contents run past the end of the data.
    #[error("truncated {}", tag_name(*tag))]
    Truncated {
        /// The identifier octet of the value that is cut short.
        tag: u8,
    },
    /// A value with another tag than the structure has at this point.
    #[error("expected {}, found {}", tag_name(*expected), tag_name(*found))]
    WrongTag {
        /// The tag the structure has here.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// Bytes after the last value of a structure.
    #[error("{bytes} bytes of trailing data")]
    TrailingData {
        /// How many.
        bytes: usize,
    },
    /// The value breaks a rule of its structure (named).
    #[error("{0}")]
    Invalid(&'static str),
    /// A length the reader had already checked against the input runs past it: a bug in this
    /// crate (the branch stands where an index could have panicked), never a property of the
    /// input. Please report it.
    #[error("internal error: a checked length runs past the input")]
    LengthPastInput,
}

/// Why a certificate did not parse ([`Error::Certificate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// Not a DER X.509 certificate.
    #[error("{0}")]
    Der(der::Error),
    /// An extension this crate reads (named) is malformed.
    #[error("bad {extension}: {error}")]
    Extension {
        /// The extension, e.g. `"basicConstraints"`.
        extension: &'static str,
        /// Why it does not parse.
        error: der::Error,
    },
}

/// Algorithms that do not go together ([`Error::AlgorithmMismatch`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlgorithmMismatch {
    /// The signature algorithm names another digest than the signer's digest algorithm.
    #[error(
        "signature algorithm {signature_algorithm} names {named:?}, the signer's digest is {signer:?}"
    )]
    Digest {
        /// The signature algorithm, dotted OID.
        signature_algorithm: String,
        /// The digest it names.
        named: crate::DigestAlgorithm,
        /// The signer's digest algorithm.
        signer: crate::DigestAlgorithm,
    },
    /// A signature scheme for another kind of key than the certificate holds.
    #[error("{signature} signature with a certificate holding an {key} key")]
    KeyType {
        /// The signature's scheme: `"RSA"` or `"ECDSA"`.
        signature: &'static str,
        /// The certificate's key: `"RSA"`, `"EC P-256"`, `"EC P-384"`.
        key: &'static str,
    },
    /// A digest of the wrong length for its algorithm.
    #[error("a {len}-byte digest given as {algorithm:?}")]
    DigestLength {
        /// The digest's length.
        len: usize,
        /// The algorithm it was given as.
        algorithm: crate::DigestAlgorithm,
    },
}

/// Why the signed attributes of a signature were refused ([`Error::SignedAttributes`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignedAttributesError {
    /// A required attribute (named) is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// An attribute (named) appears more than once.
    #[error("{0} appears more than once")]
    Repeated(&'static str),
    /// An attribute (named) has more than one value.
    #[error("{0} has more than one value")]
    MultipleValues(&'static str),
    /// An attribute's (named) value has the wrong type.
    #[error("{0} has a value of the wrong type")]
    WrongType(&'static str),
    /// The contentType attribute differs from the SignedData's eContentType.
    #[error("contentType {attribute} differs from eContentType {content}")]
    ContentTypeMismatch {
        /// The attribute's OID, dotted.
        attribute: String,
        /// The eContentType's OID, dotted.
        content: String,
    },
    /// The signingTime attribute is not a valid time.
    #[error("invalid signingTime: {0}")]
    SigningTime(der::Error),
}

/// Why no chain from a certificate to a trusted root was found ([`Error::UntrustedChain`]).
/// Certificates are named by subject, or by serial when the subject is empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// No certificate in the CA pool has the name of this certificate's issuer.
    #[error("issuer {issuer} of {certificate} is not in the CA pool")]
    UnknownIssuer {
        /// The certificate whose issuer is missing.
        certificate: String,
        /// Its issuer's name.
        issuer: String,
    },
    /// The issuer's signature on a certificate does not verify (with its reason).
    #[error("signature of {certificate} by {issuer} does not verify: {reason}")]
    BadSignature {
        /// The certificate.
        certificate: String,
        /// The issuer whose key was tried.
        issuer: String,
        /// Why verification failed.
        reason: Box<Error>,
    },
    /// An issuer on the path is not valid yet.
    #[error("issuer {issuer} is not valid before {}", fmt_time(*not_before))]
    IssuerNotYetValid {
        /// The issuer.
        issuer: String,
        /// Its notBefore.
        not_before: SystemTime,
    },
    /// An issuer on the path has expired.
    #[error("issuer {issuer} expired at {}", fmt_time(*not_after))]
    IssuerExpired {
        /// The issuer.
        issuer: String,
        /// Its notAfter.
        not_after: SystemTime,
    },
    /// An issuer is not a CA: basicConstraints without cA, a version 3 certificate without
    /// basicConstraints, or a key usage without keyCertSign.
    #[error("issuer {issuer} is not a CA")]
    NotCa {
        /// The issuer.
        issuer: String,
    },
    /// An issuer's pathLenConstraint allows fewer intermediates below it than the path has.
    #[error("issuer {issuer} allows {max} intermediates below it, the path has {below}")]
    PathLen {
        /// The issuer.
        issuer: String,
        /// Its pathLenConstraint.
        max: u8,
        /// The intermediates below it on the path.
        below: usize,
    },
    /// The path would be longer than the verifier follows.
    #[error("path longer than {max} certificates")]
    PathTooLong {
        /// The limit.
        max: usize,
    },
    /// A certificate on the path has a critical extension the verifier does not process.
    #[error("{certificate} has a critical extension {oid} that is not processed")]
    UnhandledCriticalExtension {
        /// The certificate.
        certificate: String,
        /// The extension's OID, dotted.
        oid: String,
    },
    /// An intermediate's extended key usage does not allow client authentication.
    #[error("{certificate}: extended key usage does not allow client authentication")]
    IntermediateNotClientAuth {
        /// The intermediate.
        certificate: String,
    },
    /// An extension of a certificate on the path is malformed.
    #[error("{certificate}: bad {extension}: {error}")]
    BadExtension {
        /// The certificate.
        certificate: String,
        /// The extension.
        extension: &'static str,
        /// Why it does not parse.
        error: der::Error,
    },
    /// The pool holds no path to a trusted root, and no certificate was found to blame.
    #[error("no path to a trusted root")]
    NoPath,
}

/// Why a certificate header or PEM text is malformed ([`Error::CertificateHeader`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A `%` not followed by two hex digits, at this byte offset.
    #[error("invalid percent escape at byte {at}")]
    PercentEscape {
        /// The offset of the `%`.
        at: usize,
    },
    /// No PEM CERTIFICATE block.
    #[error("no PEM CERTIFICATE block")]
    NoPemBlock,
    /// A PEM BEGIN line without its closing dashes.
    #[error("PEM BEGIN line is not closed by -----")]
    UnclosedBegin,
    /// A PEM block without its END line.
    #[error("PEM block has no -----END {label}----- line")]
    MissingEnd {
        /// The block's label.
        label: String,
    },
    /// An RFC 9440 value not of the form `:base64:`.
    #[error("RFC 9440 value must be base64 between two colons (:MIIC...:)")]
    NotRfc9440,
    /// An RFC 9440 value with nothing between its colons.
    #[error("RFC 9440 value holds no certificate")]
    EmptyRfc9440,
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
    pub(crate) fn asn1(what: &'static str, problem: Asn1Problem) -> Self {
        Error::Asn1 { what, problem }
    }
}

fn tag_name(tag: u8) -> String {
    crate::ber::tag_name(tag)
}
