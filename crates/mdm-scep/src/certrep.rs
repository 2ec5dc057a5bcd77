//! Building replies with the `cms` builder: CertRep (RFC 8894 §3.3.2) and the degenerate
//! certificates-only SignedData of GetCACert and of a CertRep's envelope.

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::asn1::{PrintableStringRef, SetOfVec};
use der::{Any, Encode, Tag};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use crate::error::FailInfo;
use crate::identity::ScepIdentity;
use crate::keys::RawSignature;
use crate::message::TransactionId;
use crate::oid;

/// The `pkiStatus` of a CertRep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PkiStatus {
    Success,
    Failure(FailInfo),
}

/// A degenerate certificates-only SignedData (a ContentInfo, DER) holding `certs`.
pub(crate) fn degenerate(certs: &[Certificate]) -> Result<Vec<u8>, cms::builder::Error> {
    let eci = EncapsulatedContentInfo {
        econtent_type: oid::DATA,
        econtent: None,
    };
    let mut builder = SignedDataBuilder::new(&eci);
    for cert in certs {
        builder.add_certificate(CertificateChoices::Certificate(cert.clone()))?;
    }
    Ok(builder.build()?.to_der()?)
}

fn attribute(oid: der::oid::ObjectIdentifier, value: Any) -> Result<Attribute, der::Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

fn printable(text: &str) -> Result<Any, der::Error> {
    Any::encode_from(&PrintableStringRef::new(text)?)
}

fn octets(bytes: &[u8]) -> Result<Any, der::Error> {
    Any::new(Tag::OctetString, bytes)
}

/// What a CertRep answers.
pub(crate) struct ReplyTo<'a> {
    pub(crate) transaction_id: &'a TransactionId,
    pub(crate) sender_nonce: &'a [u8],
}

/// A CertRep (a ContentInfo, DER) signed by `identity`.
///
/// `envelope` is the pkcsPKIEnvelope of a success. A failure carries an empty content instead, so
/// that the messageDigest and contentType attributes CMS requires beside signed attributes have
/// something to cover (Go's `pkcs7` and OpenSSL both insist on them). The certificates are the
/// signer's and `also` (a success carries the issued certificate there too, as micromdm's server
/// does, for clients that look for it outside the envelope).
pub(crate) fn cert_rep(
    identity: &ScepIdentity,
    reply_to: &ReplyTo<'_>,
    status: PkiStatus,
    envelope: Option<&[u8]>,
    also: &[Certificate],
) -> Result<Vec<u8>, cms::builder::Error> {
    let eci = EncapsulatedContentInfo {
        econtent_type: oid::DATA,
        econtent: Some(octets(envelope.unwrap_or_default())?),
    };
    let cert = identity.certificate();
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate().issuer().clone(),
        serial_number: cert.tbs_certificate().serial_number().clone(),
    });
    let digest = AlgorithmIdentifierOwned {
        oid: oid::SHA256,
        parameters: None,
    };
    let mut signer_info = SignerInfoBuilder::new(sid, digest.clone(), &eci, None)?;
    signer_info.add_signed_attribute(attribute(
        oid::SCEP_TRANSACTION_ID,
        reply_to.transaction_id.value().clone(),
    )?)?;
    signer_info.add_signed_attribute(attribute(oid::SCEP_MESSAGE_TYPE, printable("3")?)?)?;
    let (status_code, fail_info) = match status {
        PkiStatus::Success => ("0", None),
        PkiStatus::Failure(info) => ("2", Some(info)),
    };
    signer_info.add_signed_attribute(attribute(oid::SCEP_PKI_STATUS, printable(status_code)?)?)?;
    if let Some(info) = fail_info {
        signer_info
            .add_signed_attribute(attribute(oid::SCEP_FAIL_INFO, printable(info.code())?)?)?;
    }
    let nonce: [u8; 16] = crate::rng::bytes();
    signer_info.add_signed_attribute(attribute(oid::SCEP_SENDER_NONCE, octets(&nonce)?)?)?;
    signer_info.add_signed_attribute(attribute(
        oid::SCEP_RECIPIENT_NONCE,
        octets(reply_to.sender_nonce)?,
    )?)?;

    let mut builder = SignedDataBuilder::new(&eci);
    builder.add_digest_algorithm(digest)?;
    builder.add_certificate(CertificateChoices::Certificate(cert.clone()))?;
    for extra in also {
        builder.add_certificate(CertificateChoices::Certificate(extra.clone()))?;
    }
    builder.add_signer_info::<_, RawSignature>(signer_info, &identity.key().builder_signer())?;
    Ok(builder.build()?.to_der()?)
}
