//! `Mdm-Signature` verification: a detached CMS SignedData over the request body.

use std::time::{Duration, SystemTime};

use base64::Engine;

use crate::algorithm::{self, DigestAlgorithm, oid, oid_text};
use crate::ber::{self, Reader, Tlv, tag};
use crate::certificate::RawParts;
use crate::{AlgorithmMismatch, Asn1Problem, Error, IdentityCertificate, SignedAttributesError};

/// Options for [`verify_mdm_signature_with`].
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    clock_skew: Duration,
    max_header_len: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            clock_skew: Duration::from_secs(5 * 60),
            max_header_len: 64 * 1024,
        }
    }
}

impl VerifyOptions {
    /// How far a signingTime attribute may lie outside the certificate's validity (default five
    /// minutes: device clocks drift, and a certificate issued seconds ago may have a notBefore a
    /// little ahead of the device's clock).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// The longest header accepted, in bytes of base64 (default 64 KiB; a device's header is
    /// about 1.7 KB, a header carrying a chain a few KB).
    pub fn max_header_len(mut self, max: usize) -> Self {
        self.max_header_len = max;
        self
    }
}

/// Verifies an `Mdm-Signature` header over `body` and returns the signer's certificate.
///
/// Same as [`verify_mdm_signature_with`] with [`VerifyOptions::default`].
pub fn verify_mdm_signature(
    header: impl AsRef<[u8]>,
    body: &[u8],
) -> Result<IdentityCertificate, Error> {
    verify_mdm_signature_with(header, body, &VerifyOptions::default())
}

/// Verifies an `Mdm-Signature` header over `body` and returns the signer's certificate.
///
/// The header is base64 of a CMS ContentInfo holding a SignedData, BER or DER (Apple devices send
/// indefinite lengths). It must be detached (the body is the signed content), have exactly one
/// signer, and embed the signer's certificate, which is found by issuer and serial number or by
/// subject key identifier. Without signed attributes (what devices send) the signature is over
/// the body; with them, their messageDigest must equal the body's digest, the signature is over
/// the attributes, and a signingTime must lie inside the certificate's validity (± the clock
/// skew).
///
/// This checks the signature only. Whether the certificate is trusted, and valid now, is the
/// job of a [`crate::CertVerifier`] such as [`crate::CaPool`]; certificates embedded in the CMS
/// besides the signer's are ignored, never trusted.
pub fn verify_mdm_signature_with(
    header: impl AsRef<[u8]>,
    body: &[u8],
    options: &VerifyOptions,
) -> Result<IdentityCertificate, Error> {
    let der = decode_header(header.as_ref(), options.max_header_len)?;
    let signed = SignedData::parse(&der, Content::Detached)?;
    let signer = signed.signer_certificate()?;
    signed.verify(&signer, body, options)?;
    Ok(signer)
}

/// Verifies a CMS SignedData that carries its content (a signed configuration profile, DER or
/// BER) and returns the content and the signer's certificate.
///
/// The same checks as [`verify_mdm_signature_with`], over the embedded content instead of a
/// request body: one signer, its certificate embedded, the signature (and any signed
/// attributes) over the content. Whether the signer is trusted is the caller's to check with a
/// [`crate::CertVerifier`].
pub fn verify_signed_content(
    der: &[u8],
    options: &VerifyOptions,
) -> Result<(Vec<u8>, IdentityCertificate), Error> {
    let signed = SignedData::parse(der, Content::Attached)?;
    let signer = signed.signer_certificate()?;
    let content = signed.content.as_deref().ok_or(Error::NoContent)?;
    signed.verify(&signer, content, options)?;
    Ok((content.to_vec(), signer))
}

/// Whether a SignedData must carry its content.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Content {
    /// `Mdm-Signature`: the body is the content, and embedded content is refused.
    Detached,
    /// A signed profile: the content is embedded.
    Attached,
}

/// Trims and base64-decodes a header value.
pub(crate) fn decode_header(header: &[u8], max: usize) -> Result<Vec<u8>, Error> {
    let header = header.trim_ascii();
    if header.is_empty() {
        return Err(Error::EmptyHeader);
    }
    if header.len() > max {
        return Err(Error::HeaderTooLong {
            len: header.len(),
            max,
        });
    }
    Ok(crate::pem::LENIENT_BASE64.decode(header)?)
}

/// The parts of a SignedData that verification uses, borrowed from the decoded header.
struct SignedData<'a> {
    /// eContentType's OID contents.
    content_type: &'a [u8],
    /// eContent, when the SignedData is attached.
    content: Option<std::borrow::Cow<'a, [u8]>>,
    certificates: Vec<&'a [u8]>,
    signer: SignerInfo<'a>,
}

struct SignerInfo<'a> {
    sid: SignerId<'a>,
    digest_algorithm: &'a [u8],
    signed_attrs: Option<Tlv<'a>>,
    signature_algorithm: &'a [u8],
    signature: std::borrow::Cow<'a, [u8]>,
}

enum SignerId<'a> {
    IssuerAndSerial { issuer: &'a [u8], serial: &'a [u8] },
    SubjectKeyId(&'a [u8]),
}

impl<'a> SignedData<'a> {
    /// Reads ContentInfo → SignedData (RFC 5652 §3, §5.1), checking the shape as it goes.
    fn parse(der: &'a [u8], expect: Content) -> Result<Self, Error> {
        let mut top = Reader::new(der);
        let content_info = top.expect(tag::SEQUENCE, "ContentInfo")?;
        top.finish("ContentInfo")?;
        let mut ci = content_info.reader();
        let content_type = ci.expect(tag::OID, "ContentInfo.contentType")?;
        if content_type.content != oid::SIGNED_DATA.as_bytes() {
            return Err(Error::NotSignedData(oid_text(content_type.content)));
        }
        let explicit = ci.expect(tag::context(0), "ContentInfo.content")?;
        ci.finish("ContentInfo")?;
        let mut inner = explicit.reader();
        let signed_data = inner.expect(tag::SEQUENCE, "SignedData")?;
        inner.finish("ContentInfo.content")?;

        const SD: &str = "SignedData";
        let mut r = signed_data.reader();
        r.expect(tag::INTEGER, "SignedData.version")?;
        r.expect(tag::SET, "SignedData.digestAlgorithms")?;
        let encap = r.expect(tag::SEQUENCE, "SignedData.encapContentInfo")?;
        let mut e = encap.reader();
        let content_type = e
            .expect(tag::OID, "EncapsulatedContentInfo.eContentType")?
            .content;
        let content = match expect {
            Content::Detached if !e.is_empty() => {
                // eContent is present (even empty): this signature carries its own content.
                return Err(Error::NotDetached);
            }
            Content::Detached => None,
            Content::Attached => {
                let explicit = e.expect(tag::context(0), "EncapsulatedContentInfo.eContent")?;
                e.finish("EncapsulatedContentInfo")?;
                let mut inner = explicit.reader();
                let octets = inner.read("EncapsulatedContentInfo.eContent")?;
                inner.finish("EncapsulatedContentInfo.eContent")?;
                Some(ber::octet_string(
                    &octets,
                    "EncapsulatedContentInfo.eContent",
                )?)
            }
        };
        let mut certificates = Vec::new();
        if let Some(set) = r.optional(tag::context(0), "SignedData.certificates")? {
            let mut certs = set.reader();
            while !certs.is_empty() {
                let choice = certs.read("SignedData.certificates")?;
                // Other CertificateChoices (attribute certificates, ...) cannot be the signer's.
                if choice.tag == tag::SEQUENCE {
                    certificates.push(choice.raw);
                }
            }
        }
        r.optional(tag::context(1), "SignedData.crls")?;
        let signer_infos = r.expect(tag::SET, "SignedData.signerInfos")?;
        r.finish(SD)?;

        let mut infos = signer_infos.reader();
        let mut signers = Vec::with_capacity(1);
        while !infos.is_empty() {
            signers.push(infos.expect(tag::SEQUENCE, "SignerInfo")?);
        }
        let [signer] = signers.as_slice() else {
            return Err(Error::SignerCount(signers.len()));
        };
        let signer = SignerInfo::parse(signer)?;
        Ok(SignedData {
            content_type,
            content,
            certificates,
            signer,
        })
    }

    /// Finds the signer's certificate among the embedded ones (RFC 5652 §5.3 `sid`).
    fn signer_certificate(&self) -> Result<IdentityCertificate, Error> {
        match self.signer.sid {
            SignerId::IssuerAndSerial { issuer, serial } => {
                for der in &self.certificates {
                    // Certificates that do not even parse this far cannot be the signer's.
                    if let Ok((i, s)) = RawParts::issuer_and_serial(der)
                        && i == issuer
                        && minimal_integer(s) == minimal_integer(serial)
                    {
                        return IdentityCertificate::from_der(*der);
                    }
                }
            }
            SignerId::SubjectKeyId(ski) => {
                for der in &self.certificates {
                    if let Ok(cert) = IdentityCertificate::from_der(*der)
                        && cert.subject_key_id().as_deref() == Some(ski)
                    {
                        return Ok(cert);
                    }
                }
            }
        }
        Err(Error::SignerCertificateNotFound)
    }

    /// Checks the signature (and signed attributes) over `body` with `cert`'s key.
    fn verify(
        &self,
        cert: &IdentityCertificate,
        body: &[u8],
        options: &VerifyOptions,
    ) -> Result<(), Error> {
        let s = &self.signer;
        let digest_alg = DigestAlgorithm::from_oid(s.digest_algorithm).ok_or_else(|| {
            Error::UnsupportedAlgorithm {
                what: "digest",
                oid: oid_text(s.digest_algorithm),
            }
        })?;
        let (scheme, named_digest) = algorithm::signature_algorithm(s.signature_algorithm)?;
        if let Some(named) = named_digest
            && named != digest_alg
        {
            return Err(Error::AlgorithmMismatch(AlgorithmMismatch::Digest {
                signature_algorithm: oid_text(s.signature_algorithm),
                named,
                signer: digest_alg,
            }));
        }
        let body_digest = digest_alg.digest(body);
        let Some(attrs) = &s.signed_attrs else {
            return cert
                .public_key()
                .verify(scheme, digest_alg, &body_digest, &s.signature);
        };

        let attributes = SignedAttributes::parse(attrs)?;
        // RFC 5652 §11.1: a contentType attribute must name the eContentType.
        if let Some(ct) = attributes.content_type
            && ct != self.content_type
        {
            return Err(Error::SignedAttributes(
                SignedAttributesError::ContentTypeMismatch {
                    attribute: oid_text(ct),
                    content: oid_text(self.content_type),
                },
            ));
        }
        if attributes.message_digest != body_digest.as_ref() {
            return Err(Error::MessageDigestMismatch);
        }
        // RFC 5652 §5.4: the signature covers the attributes' DER with an explicit SET OF tag in
        // place of the [0] IMPLICIT tag, in the order the signer sent them.
        let mut signed = Vec::with_capacity(attrs.raw.len());
        ber::reencode(attrs, tag::SET, &mut signed)?;
        let signed_digest = digest_alg.digest(&signed);
        cert.public_key()
            .verify(scheme, digest_alg, &signed_digest, &s.signature)?;

        if let Some(signing_time) = attributes.signing_time {
            let skew = options.clock_skew;
            let (not_before, not_after) = (cert.not_before(), cert.not_after());
            let too_early = not_before
                .checked_sub(skew)
                .is_some_and(|earliest| signing_time < earliest);
            let too_late = not_after
                .checked_add(skew)
                .is_some_and(|latest| signing_time > latest);
            if too_early || too_late {
                return Err(Error::SigningTimeOutsideValidity {
                    signing_time,
                    not_before,
                    not_after,
                });
            }
        }
        Ok(())
    }
}

impl<'a> SignerInfo<'a> {
    /// Reads a SignerInfo (RFC 5652 §5.3).
    fn parse(tlv: &Tlv<'a>) -> Result<Self, Error> {
        const SI: &str = "SignerInfo";
        let mut r = tlv.reader();
        r.expect(tag::INTEGER, "SignerInfo.version")?;
        let sid = match r.peek_tag() {
            Some(tag::SEQUENCE) => {
                let ias = r.read("SignerInfo.sid")?;
                let mut i = ias.reader();
                let issuer = i.expect(tag::SEQUENCE, "IssuerAndSerialNumber.issuer")?.raw;
                let serial = i
                    .expect(tag::INTEGER, "IssuerAndSerialNumber.serialNumber")?
                    .content;
                i.finish("IssuerAndSerialNumber")?;
                SignerId::IssuerAndSerial { issuer, serial }
            }
            Some(t) if t == tag::context_primitive(0) => {
                SignerId::SubjectKeyId(r.read("SignerInfo.sid")?.content)
            }
            _ => {
                return Err(Error::asn1(
                    "SignerInfo.sid",
                    Asn1Problem::Invalid(
                        "neither IssuerAndSerialNumber nor [0] SubjectKeyIdentifier",
                    ),
                ));
            }
        };
        let digest = r.expect(tag::SEQUENCE, "SignerInfo.digestAlgorithm")?;
        let (digest_algorithm, _) =
            algorithm::read_algorithm(&digest, "SignerInfo.digestAlgorithm")?;
        let signed_attrs = r.optional(tag::context(0), "SignerInfo.signedAttrs")?;
        let sig_alg = r.expect(tag::SEQUENCE, "SignerInfo.signatureAlgorithm")?;
        let (signature_algorithm, _) =
            algorithm::read_algorithm(&sig_alg, "SignerInfo.signatureAlgorithm")?;
        let signature = r.read("SignerInfo.signature")?;
        let signature = ber::octet_string(&signature, "SignerInfo.signature")?;
        r.optional(tag::context(1), "SignerInfo.unsignedAttrs")?;
        r.finish(SI)?;
        Ok(SignerInfo {
            sid,
            digest_algorithm,
            signed_attrs,
            signature_algorithm,
            signature,
        })
    }
}

/// The signed attributes verification looks at.
struct SignedAttributes<'a> {
    message_digest: &'a [u8],
    content_type: Option<&'a [u8]>,
    signing_time: Option<SystemTime>,
}

impl<'a> SignedAttributes<'a> {
    fn parse(attrs: &Tlv<'a>) -> Result<Self, Error> {
        const WHAT: &str = "SignedAttributes";
        let mut message_digest = None;
        let mut signing_time = None;
        let mut content_type = None;
        let mut r = attrs.reader();
        while !r.is_empty() {
            let attr = r.expect(tag::SEQUENCE, WHAT)?;
            let mut a = attr.reader();
            let attr_type = a.expect(tag::OID, "Attribute.attrType")?.content;
            let values = a.expect(tag::SET, "Attribute.attrValues")?;
            a.finish("Attribute")?;
            // The three attributes checked here are single-valued (RFC 5652 §11).
            let single = |name: &'static str| -> Result<Tlv<'a>, Error> {
                let mut v = values.reader();
                let value = v.read(WHAT)?;
                if !v.is_empty() {
                    return Err(Error::SignedAttributes(
                        SignedAttributesError::MultipleValues(name),
                    ));
                }
                Ok(value)
            };
            // Only the attributes read here are checked for repeats: a second messageDigest or
            // signingTime could otherwise be the one a different verifier reads. (Checking every
            // type would cost quadratic time on hostile input, for attributes nobody reads.)
            let repeated =
                |name: &'static str| Error::SignedAttributes(SignedAttributesError::Repeated(name));
            if attr_type == oid::MESSAGE_DIGEST.as_bytes() {
                if message_digest.is_some() {
                    return Err(repeated("messageDigest"));
                }
                let value = single("messageDigest")?;
                if value.tag != tag::OCTET_STRING {
                    return Err(Error::SignedAttributes(SignedAttributesError::WrongType(
                        "messageDigest",
                    )));
                }
                message_digest = Some(value.content);
            } else if attr_type == oid::CONTENT_TYPE.as_bytes() {
                if content_type.is_some() {
                    return Err(repeated("contentType"));
                }
                let value = single("contentType")?;
                if value.tag != tag::OID {
                    return Err(Error::SignedAttributes(SignedAttributesError::WrongType(
                        "contentType",
                    )));
                }
                content_type = Some(value.content);
            } else if attr_type == oid::SIGNING_TIME.as_bytes() {
                if signing_time.is_some() {
                    return Err(repeated("signingTime"));
                }
                signing_time = Some(parse_time(&single("signingTime")?)?);
            }
        }
        let message_digest = message_digest.ok_or(Error::SignedAttributes(
            SignedAttributesError::Missing("messageDigest"),
        ))?;
        Ok(SignedAttributes {
            message_digest,
            content_type,
            signing_time,
        })
    }
}

/// An INTEGER's contents without redundant leading sign octets, so that a BER signer identifier
/// with a non-minimal serial still names the certificate (issuers are compared byte for byte, as
/// Go's pkcs7 does; serials by value, as it does too).
fn minimal_integer(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes
        && let [second, ..] = rest
    {
        let redundant = (*first == 0x00 && *second < 0x80) || (*first == 0xff && *second >= 0x80);
        if !redundant {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// Reads a UTCTime or GeneralizedTime (RFC 5652 §11.3 `Time`).
fn parse_time(tlv: &Tlv<'_>) -> Result<SystemTime, Error> {
    use der::Decode;
    use der::asn1::{GeneralizedTime, UtcTime};
    let invalid = |e| Error::SignedAttributes(SignedAttributesError::SigningTime(e));
    match tlv.tag {
        tag::UTC_TIME => Ok(UtcTime::from_der(tlv.raw)
            .map_err(invalid)?
            .to_system_time()),
        tag::GENERALIZED_TIME => Ok(GeneralizedTime::from_der(tlv.raw)
            .map_err(invalid)?
            .to_system_time()),
        _ => Err(Error::SignedAttributes(SignedAttributesError::WrongType(
            "signingTime",
        ))),
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;

    /// `[0] IMPLICIT SET OF Attribute` from (OID contents, values) pairs.
    fn attrs(list: &[(&[u8], &[&[u8]])]) -> Vec<u8> {
        let mut set = Vec::new();
        for (oid, values) in list {
            let mut inner = Vec::new();
            ber::write_tlv(&mut inner, tag::OID, oid);
            ber::write_tlv(&mut inner, tag::SET, &values.concat());
            ber::write_tlv(&mut set, tag::SEQUENCE, &inner);
        }
        let mut out = Vec::new();
        ber::write_tlv(&mut out, tag::context(0), &set);
        out
    }

    fn parse(der: &[u8]) -> Result<(Vec<u8>, Option<SystemTime>), Error> {
        let tlv = Reader::new(der).read("test")?;
        SignedAttributes::parse(&tlv).map(|a| (a.message_digest.to_vec(), a.signing_time))
    }

    const DIGEST: &[u8] = &[0x04, 0x03, 1, 2, 3];
    // 2026-01-02 03:04:05 UTC as UTCTime and as GeneralizedTime.
    const UTC: &[u8] = b"\x17\x0d260102030405Z";
    const GENERALIZED: &[u8] = b"\x18\x0f20260102030405Z";

    #[test]
    fn serials_compare_by_value() {
        assert_eq!(minimal_integer(&[0x00, 0x00, 0x22]), &[0x22]);
        assert_eq!(minimal_integer(&[0x00, 0x80]), &[0x00, 0x80]);
        assert_eq!(minimal_integer(&[0xff, 0xff, 0x80]), &[0x80]); // -128
        assert_eq!(minimal_integer(&[0xff, 0x7f]), &[0xff, 0x7f]); // -129
        assert_eq!(minimal_integer(&[]), &[] as &[u8]);
    }

    #[test]
    fn reads_message_digest_and_both_time_forms() {
        let md = oid::MESSAGE_DIGEST.as_bytes();
        let st = oid::SIGNING_TIME.as_bytes();
        for time in [UTC, GENERALIZED] {
            let (digest, t) = parse(&attrs(&[(md, &[DIGEST]), (st, &[time])])).unwrap();
            assert_eq!(digest, [1, 2, 3]);
            let secs = t
                .unwrap()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert_eq!(secs, 1_767_323_045);
        }
        // Unknown attributes are skipped, repeated or not.
        let other: &[u8] = &[0x2a, 0x03];
        let ok = attrs(&[(other, &[b"\x05\x00"]), (other, &[]), (md, &[DIGEST])]);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn refuses_missing_repeated_or_odd_attributes() {
        let md = oid::MESSAGE_DIGEST.as_bytes();
        let st = oid::SIGNING_TIME.as_bytes();
        let ct = oid::CONTENT_TYPE.as_bytes();
        use SignedAttributesError::*;
        let cases: Vec<(Vec<u8>, SignedAttributesError)> = vec![
            (attrs(&[(st, &[UTC])]), Missing("messageDigest")),
            (
                attrs(&[(md, &[DIGEST]), (md, &[DIGEST])]),
                Repeated("messageDigest"),
            ),
            (
                attrs(&[(md, &[DIGEST, DIGEST])]),
                MultipleValues("messageDigest"),
            ),
            (
                attrs(&[(md, &[b"\x02\x01\x01"])]),
                WrongType("messageDigest"),
            ),
            (
                attrs(&[(md, &[DIGEST]), (st, &[UTC]), (st, &[UTC])]),
                Repeated("signingTime"),
            ),
            (
                attrs(&[(md, &[DIGEST]), (st, &[b"\x02\x01\x01"])]),
                WrongType("signingTime"),
            ),
            (
                attrs(&[(md, &[DIGEST]), (ct, &[b"\x05\x00"])]),
                WrongType("contentType"),
            ),
        ];
        for (der, expected) in cases {
            match parse(&der) {
                Err(Error::SignedAttributes(reason)) => assert_eq!(reason, expected),
                other => panic!("{expected}: {other:?}"),
            }
        }
        let bad_time = attrs(&[(md, &[DIGEST]), (st, &[b"\x17\x03abc"])]);
        assert!(matches!(
            parse(&bad_time),
            Err(Error::SignedAttributes(SigningTime(_)))
        ));
        // Not a SEQUENCE inside the set.
        let mut der = Vec::new();
        ber::write_tlv(&mut der, tag::context(0), b"\x05\x00");
        assert!(matches!(parse(&der), Err(Error::Asn1 { .. })));
    }
}
