//! The device identity certificate: DER bytes, the parsed certificate, and its hash.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use aws_lc_rs::digest;
use der::Decode;
use x509_cert::Certificate;

use crate::algorithm::PublicKey;
use crate::ber::{Reader, Tlv, tag};
use mdm_proto::CertHash;

use crate::{Asn1Problem, CertificateError, Error};

/// The certificate hash the certificate binding uses: the SHA-256 of the DER (shown as lowercase
/// hex).
///
/// This is the key of NanoMDM's `cert_auth_associations` table; the same certificate must give
/// the same hash whether it came from `Mdm-Signature` or from a proxy header.
pub fn cert_hash(der: &[u8]) -> CertHash {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest::digest(&digest::SHA256, der).as_ref());
    CertHash::from_bytes(bytes)
}

/// An X.509 certificate as this crate hands it out: the exact DER it arrived as, the parsed
/// certificate, and its [`cert_hash`]. Cloning is cheap (the data is shared).
///
/// Equality and hashing compare the DER bytes (through their SHA-256).
#[derive(Clone)]
pub struct IdentityCertificate {
    inner: Arc<Inner>,
}

struct Inner {
    der: Box<[u8]>,
    cert: Certificate,
    sha256: [u8; 32],
    not_before: SystemTime,
    not_after: SystemTime,
    // Byte ranges into `der`, for the checks that need the bytes as they were signed.
    tbs: Range<usize>,
    issuer: Range<usize>,
    subject: Range<usize>,
    serial: Range<usize>,
    signature_algorithm: Range<usize>,
    signature: Range<usize>,
    key: PublicKey,
}

impl IdentityCertificate {
    /// Parses a DER-encoded certificate.
    ///
    /// The certificate must be DER (as every certificate is signed in DER); its public key must be
    /// RSA or ECDSA P-256/P-384.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let der: Box<[u8]> = der.into().into_boxed_slice();
        let cert = Certificate::from_der(&der)
            .map_err(|e| Error::Certificate(CertificateError::Der(e)))?;
        let raw = RawParts::read(&der)?;
        let validity = cert.tbs_certificate().validity();
        let sha256 = digest::digest(&digest::SHA256, &der)
            .as_ref()
            .try_into()
            .map_err(|_| Error::asn1("Certificate", Asn1Problem::Invalid("SHA-256 is 32 bytes")))?;
        let at = |part: &[u8]| offset_range(&der, part);
        let (tbs, issuer, subject, serial, signature_algorithm, signature) = (
            at(raw.tbs)?,
            at(raw.issuer)?,
            at(raw.subject)?,
            at(raw.serial)?,
            at(raw.signature_algorithm)?,
            at(raw.signature)?,
        );
        let key = PublicKey::from_spki(&raw.spki)?;
        let inner = Inner {
            not_before: validity.not_before.to_system_time(),
            not_after: validity.not_after.to_system_time(),
            der,
            cert,
            sha256,
            tbs,
            issuer,
            subject,
            serial,
            signature_algorithm,
            signature,
            key,
        };
        Ok(IdentityCertificate {
            inner: Arc::new(inner),
        })
    }

    /// Parses the first `CERTIFICATE` block of PEM text.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        let der = crate::pem::certificates(pem.as_ref())
            .next()
            .ok_or(Error::NoCertificate)??;
        Self::from_der(der)
    }

    /// The certificate's DER bytes, exactly as received.
    pub fn der(&self) -> &[u8] {
        &self.inner.der
    }

    /// The parsed certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.inner.cert
    }

    /// The SHA-256 of the DER (see [`cert_hash`]), computed once when the certificate was read.
    pub fn cert_hash(&self) -> CertHash {
        CertHash::from_bytes(self.inner.sha256)
    }

    /// The raw SHA-256 of the DER.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.inner.sha256
    }

    /// The subject as an RFC 4514 string (e.g. `CN=device,O=Example`); empty for an empty subject.
    pub fn subject(&self) -> String {
        self.inner.cert.tbs_certificate().subject().to_string()
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.inner.cert.tbs_certificate().issuer().to_string()
    }

    /// The serial number as lowercase hex of its DER INTEGER contents.
    pub fn serial_hex(&self) -> String {
        hex::encode(self.serial_bytes())
    }

    /// The start of the validity period (notBefore).
    pub fn not_before(&self) -> SystemTime {
        self.inner.not_before
    }

    /// The end of the validity period (notAfter).
    pub fn not_after(&self) -> SystemTime {
        self.inner.not_after
    }

    /// Checks that `now` lies inside the validity period.
    pub fn check_validity(&self, now: SystemTime) -> Result<(), Error> {
        if now < self.inner.not_before {
            Err(Error::CertificateNotYetValid {
                not_before: self.inner.not_before,
            })
        } else if now > self.inner.not_after {
            Err(Error::CertificateExpired {
                not_after: self.inner.not_after,
            })
        } else {
            Ok(())
        }
    }

    /// Refuses a certificate authority's certificate as a device identity: one whose
    /// basicConstraints assert cA, or whose key usage includes keyCertSign
    /// ([`Error::CaCertificate`]). A malformed or repeated basicConstraints or keyUsage
    /// extension is refused too ([`Error::Certificate`]): what it says cannot be known.
    ///
    /// No basicConstraints at all is accepted, as device certificates commonly have none (both
    /// captured device certificates in the test fixtures carry only keyUsage digitalSignature and
    /// extendedKeyUsage clientAuth). [`crate::CaPool`] calls this before anything else; a
    /// [`crate::CertVerifier`] of your own should call it too.
    pub fn check_end_entity(&self) -> Result<(), Error> {
        use crate::error::CaEvidence;
        use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
        let tbs = self.inner.cert.tbs_certificate();
        match tbs.get_extension::<BasicConstraints>() {
            Ok(Some((_, bc))) if bc.ca => {
                return Err(Error::CaCertificate(CaEvidence::BasicConstraints));
            }
            Ok(_) => {}
            Err(error) => {
                return Err(Error::Certificate(CertificateError::Extension {
                    extension: "basicConstraints",
                    error,
                }));
            }
        }
        match tbs.get_extension::<KeyUsage>() {
            Ok(Some((_, ku))) if ku.key_cert_sign() => {
                Err(Error::CaCertificate(CaEvidence::KeyCertSign))
            }
            Ok(_) => Ok(()),
            Err(error) => Err(Error::Certificate(CertificateError::Extension {
                extension: "keyUsage",
                error,
            })),
        }
    }

    /// The certificate as PEM text.
    pub fn to_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.inner.der)
    }

    /// The bytes at `range`, one of the ranges `from_der` stored. `offset_range` made each of
    /// them from a sub-slice of the same DER and checked it lies inside it, and the DER never
    /// changes, so the `get` always succeeds (the empty fallback is never used).
    pub(crate) fn part(&self, range: &Range<usize>) -> &[u8] {
        self.inner.der.get(range.clone()).unwrap_or_default()
    }
    pub(crate) fn tbs_bytes(&self) -> &[u8] {
        self.part(&self.inner.tbs)
    }
    /// The issuer Name's full DER encoding.
    pub(crate) fn issuer_bytes(&self) -> &[u8] {
        self.part(&self.inner.issuer)
    }
    /// The subject Name's full DER encoding.
    pub(crate) fn subject_bytes(&self) -> &[u8] {
        self.part(&self.inner.subject)
    }
    /// The serial INTEGER's contents.
    pub(crate) fn serial_bytes(&self) -> &[u8] {
        self.part(&self.inner.serial)
    }
    /// The outer signatureAlgorithm OID's contents.
    pub(crate) fn signature_algorithm_oid(&self) -> &[u8] {
        self.part(&self.inner.signature_algorithm)
    }
    /// The outer signature's bits.
    pub(crate) fn signature_bytes(&self) -> &[u8] {
        self.part(&self.inner.signature)
    }
    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.inner.key
    }

    /// The subject key identifier extension's value, if present.
    pub(crate) fn subject_key_id(&self) -> Option<Vec<u8>> {
        use x509_cert::ext::pkix::SubjectKeyIdentifier;
        match self
            .certificate()
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
        {
            Ok(Some((_, ski))) => Some(ski.0.as_bytes().to_vec()),
            _ => None,
        }
    }
}

impl PartialEq for IdentityCertificate {
    fn eq(&self, other: &Self) -> bool {
        self.inner.sha256 == other.inner.sha256
    }
}

impl Eq for IdentityCertificate {}

impl std::hash::Hash for IdentityCertificate {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.sha256.hash(state);
    }
}

impl fmt::Debug for IdentityCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityCertificate")
            .field("subject", &self.subject())
            .field("serial", &self.serial_hex())
            .field("cert_hash", &self.cert_hash())
            .finish()
    }
}

/// The position of `part` (a sub-slice) inside `whole`, checked to be inside it.
fn offset_range(whole: &[u8], part: &[u8]) -> Result<Range<usize>, Error> {
    let outside = || Error::asn1("Certificate", Asn1Problem::LengthPastInput);
    let start = (part.as_ptr() as usize)
        .checked_sub(whole.as_ptr() as usize)
        .ok_or_else(outside)?;
    let range = start..start.checked_add(part.len()).ok_or_else(outside)?;
    match whole.get(range.clone()) {
        Some(found) if std::ptr::eq(found, part) => Ok(range),
        _ => Err(outside()),
    }
}

/// The raw pieces of a certificate that are compared or verified byte for byte.
pub(crate) struct RawParts<'a> {
    pub tbs: &'a [u8],
    pub serial: &'a [u8],
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
    pub spki: Tlv<'a>,
    pub signature_algorithm: &'a [u8],
    pub signature: &'a [u8],
}

impl<'a> RawParts<'a> {
    pub(crate) fn read(der: &'a [u8]) -> Result<Self, Error> {
        const WHAT: &str = "Certificate";
        let mut outer = Reader::new(der);
        let cert = outer.expect(tag::SEQUENCE, WHAT)?;
        outer.finish(WHAT)?;
        let mut r = cert.reader();
        let tbs = r.expect(tag::SEQUENCE, WHAT)?;
        let alg = r.expect(tag::SEQUENCE, WHAT)?;
        let sig = r.expect(tag::BIT_STRING, WHAT)?;
        r.finish(WHAT)?;
        let (alg_oid, _) = crate::algorithm::read_algorithm(&alg, WHAT)?;
        let signature = match sig.content.split_first() {
            Some((0, bits)) => bits,
            _ => {
                return Err(Error::asn1(
                    WHAT,
                    Asn1Problem::Invalid("signature BIT STRING has unused bits"),
                ));
            }
        };
        let head = Self::read_tbs_head(&tbs)?;
        Ok(RawParts {
            tbs: tbs.raw,
            serial: head.serial,
            issuer: head.issuer,
            subject: head.subject,
            spki: head.spki,
            signature_algorithm: alg_oid,
            signature,
        })
    }

    /// Reads just the serial and issuer of a certificate: what a CMS signer identifier names.
    pub(crate) fn issuer_and_serial(der: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), Error> {
        const WHAT: &str = "Certificate";
        let cert = Reader::new(der).expect(tag::SEQUENCE, WHAT)?;
        let tbs = cert.reader().expect(tag::SEQUENCE, WHAT)?;
        let head = Self::read_tbs_head(&tbs)?;
        Ok((head.issuer, head.serial))
    }

    fn read_tbs_head(tbs: &Tlv<'a>) -> Result<TbsHead<'a>, Error> {
        const WHAT: &str = "TBSCertificate";
        let mut r = tbs.reader();
        r.optional(tag::context(0), WHAT)?;
        let serial = r.expect(tag::INTEGER, WHAT)?.content;
        r.expect(tag::SEQUENCE, WHAT)?;
        let issuer = r.expect(tag::SEQUENCE, WHAT)?.raw;
        r.expect(tag::SEQUENCE, WHAT)?;
        let subject = r.expect(tag::SEQUENCE, WHAT)?.raw;
        let spki = r.expect(tag::SEQUENCE, WHAT)?;
        Ok(TbsHead {
            serial,
            issuer,
            subject,
            spki,
        })
    }
}

struct TbsHead<'a> {
    serial: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    spki: Tlv<'a>,
}
