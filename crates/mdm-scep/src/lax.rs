//! CMS structures that carry a requester's certificate serial number, declared with `der`'s
//! derive like `cms` declares them, but with the serial number as a plain INTEGER.
//!
//! `cms` names certificates by `x509-cert`'s `SerialNumber`, which enforces RFC 5280's limit of 20
//! octets. A CA's serial numbers keep to it; the self-signed certificates SCEP clients make up
//! for a PKCSReq need not, and certmonger's have 32 octets. A request signed with one must still
//! decode (its SignerInfo and certificates), and the reply must still be encrypted to it (its
//! KeyTransRecipientInfo): these types are used there, `cms`'s everywhere else.

use cms::content_info::CmsVersion;
use cms::enveloped_data::EncryptedContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedAttributes, UnsignedAttributes};
use der::asn1::{Int, OctetString, SetOfVec};
use der::{Any, Choice, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::certificate::{CertificateInner, Profile, Raw};
use x509_cert::name::Name;

/// A certificate read without RFC 5280's serial-number limit.
pub(crate) type LaxCertificate = CertificateInner<Raw>;

/// `IssuerAndSerialNumber` (RFC 5652 §10.2.4) with any serial number.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct IssuerSerial {
    pub(crate) issuer: Name,
    pub(crate) serial_number: Int,
}

impl IssuerSerial {
    /// The issuer and serial number of `cert`.
    pub(crate) fn of<P: Profile>(cert: &CertificateInner<P>) -> Result<Self, der::Error> {
        Ok(Self {
            issuer: cert.tbs_certificate().issuer().clone(),
            serial_number: Int::new(cert.tbs_certificate().serial_number().as_bytes())?,
        })
    }

    /// Whether this names `cert`.
    pub(crate) fn names<P: Profile>(&self, cert: &CertificateInner<P>) -> bool {
        self.issuer == *cert.tbs_certificate().issuer()
            && self.serial_number.as_bytes() == cert.tbs_certificate().serial_number().as_bytes()
    }
}

/// `SignerIdentifier` (RFC 5652 §5.3).
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub(crate) enum SignerId {
    IssuerAndSerialNumber(IssuerSerial),
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    SubjectKeyIdentifier(OctetString),
}

/// `SignerInfo` (RFC 5652 §5.3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SignerInfo {
    pub(crate) version: CmsVersion,
    pub(crate) sid: SignerId,
    pub(crate) digest_alg: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub(crate) signed_attrs: Option<SignedAttributes>,
    pub(crate) signature_algorithm: AlgorithmIdentifierOwned,
    pub(crate) signature: OctetString,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub(crate) unsigned_attrs: Option<UnsignedAttributes>,
}

/// `SignedData` (RFC 5652 §5.1), certificates and signer infos left encoded.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SignedData {
    pub(crate) version: CmsVersion,
    pub(crate) digest_algorithms: SetOfVec<AlgorithmIdentifierOwned>,
    pub(crate) encap_content_info: EncapsulatedContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub(crate) certificates: Option<SetOfVec<Any>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub(crate) crls: Option<SetOfVec<Any>>,
    pub(crate) signer_infos: SetOfVec<Any>,
}

/// `KeyTransRecipientInfo` (RFC 5652 §6.2.1), version 0: the recipient by issuer and serial.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct KeyTransRecipient {
    pub(crate) version: CmsVersion,
    pub(crate) rid: IssuerSerial,
    pub(crate) key_enc_alg: AlgorithmIdentifierOwned,
    pub(crate) enc_key: OctetString,
}

/// `EnvelopedData` (RFC 5652 §6.1) without originator info or unprotected attributes, its
/// recipient infos encoded.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct EnvelopedData {
    pub(crate) version: CmsVersion,
    pub(crate) recip_infos: SetOfVec<Any>,
    pub(crate) encrypted_content: EncryptedContentInfo,
}
