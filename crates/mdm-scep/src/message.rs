//! Reading a PKIMessage (RFC 8894 §3): the CMS SignedData around a request and its SCEP signed
//! attributes. Decoding uses BER rules throughout (clients send BER), and never re-sorts what a
//! signer signed.

use cms::content_info::ContentInfo;
use der::asn1::OctetString;
#[cfg(feature = "client")]
use der::asn1::PrintableStringRef;
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode, EncodingRules, Tag, Tagged};

use crate::error::{MessageError, ScepAttribute, Structure};
use crate::lax::{SignedData, SignerInfo};
use crate::oid;
use crate::verify::{self, Digest, VerifyError};

/// A SCEP `messageType` (RFC 8894 §3.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `3`: a response.
    CertRep,
    /// `17`: a PKCS #10 request authenticated with an existing certificate.
    RenewalReq,
    /// `19`: a PKCS #10 request authenticated with a shared secret (the challenge password).
    PkcsReq,
    /// `20`: polling for a pending request (not served).
    CertPoll,
    /// `21`: retrieving a certificate (not served).
    GetCert,
    /// `22`: retrieving a CRL (not served).
    GetCrl,
    /// Another number.
    Other(u32),
}

impl MessageType {
    /// The number carried in the attribute.
    pub fn number(self) -> u32 {
        match self {
            MessageType::CertRep => 3,
            MessageType::RenewalReq => 17,
            MessageType::PkcsReq => 19,
            MessageType::CertPoll => 20,
            MessageType::GetCert => 21,
            MessageType::GetCrl => 22,
            MessageType::Other(n) => n,
        }
    }

    /// The type carried as `n`.
    pub fn from_number(n: u32) -> Self {
        match n {
            3 => MessageType::CertRep,
            17 => MessageType::RenewalReq,
            19 => MessageType::PkcsReq,
            20 => MessageType::CertPoll,
            21 => MessageType::GetCert,
            22 => MessageType::GetCrl,
            n => MessageType::Other(n),
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            MessageType::CertRep => "CertRep",
            MessageType::RenewalReq => "RenewalReq",
            MessageType::PkcsReq => "PKCSReq",
            MessageType::CertPoll => "CertPoll",
            MessageType::GetCert => "GetCert",
            MessageType::GetCrl => "GetCRL",
            MessageType::Other(_) => "unknown",
        };
        write!(f, "{name} ({})", self.number())
    }
}

/// The `transactionID` of a request, kept as the client encoded it so a reply carries it back
/// byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionId {
    value: Any,
}

impl TransactionId {
    /// The identifier as text (clients send printable text; other bytes are replaced).
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.value.value())
    }

    /// The identifier as it will be sent back.
    pub(crate) fn value(&self) -> &Any {
        &self.value
    }

    /// A transaction id carried as a PrintableString.
    #[cfg(feature = "client")]
    pub(crate) fn printable(id: &str) -> Result<Self, der::Error> {
        let s = PrintableStringRef::new(id)?;
        Ok(Self {
            value: Any::encode_from(&s)?,
        })
    }
}

/// A decoded PKIMessage: its SignedData and the SCEP attributes every message carries. Nothing
/// is verified yet.
#[derive(Debug, Clone)]
pub struct PkiMessage {
    pub(crate) signed_data: SignedData,
    pub(crate) signer: SignerInfo,
    /// The message type.
    pub message_type: MessageType,
    /// The transaction id.
    pub transaction_id: TransactionId,
    /// The sender's nonce.
    pub sender_nonce: Vec<u8>,
}

/// The largest PKIMessage accepted by default: 2 MiB, micromdm's limit.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 2 << 20;

impl PkiMessage {
    /// Decodes a PKIMessage of at most `max_len` bytes (BER).
    pub fn decode(bytes: &[u8], max_len: usize) -> Result<Self, MessageError> {
        if bytes.is_empty() {
            return Err(MessageError::Empty);
        }
        if bytes.len() > max_len {
            return Err(MessageError::TooLarge {
                len: bytes.len(),
                max: max_len,
            });
        }
        let signed_data = match decode_signed_data(bytes) {
            Err(MessageError::Asn1 { error, .. }) if crate::ber::is_noncanonical(&error) => {
                // A definite-length constructed string: read again in the indefinite form.
                match crate::ber::indefinite_constructed(bytes) {
                    Some(rewritten) => decode_signed_data(&rewritten)?,
                    None => {
                        return Err(MessageError::Asn1 {
                            what: Structure::ContentInfo,
                            error,
                        });
                    }
                }
            }
            other => other?,
        };
        let signer = only_signer(&signed_data)?;
        let attrs = signer
            .signed_attrs
            .as_ref()
            .ok_or(MessageError::NoSignedAttributes)?;

        let message_type = {
            let v = single_value(attrs, oid::SCEP_MESSAGE_TYPE, ScepAttribute::MessageType)?;
            let text = printable_text(v)
                .ok_or(MessageError::MalformedAttribute(ScepAttribute::MessageType))?;
            match text.parse::<u32>() {
                Ok(n) => MessageType::from_number(n),
                Err(_) => {
                    return Err(MessageError::MalformedAttribute(ScepAttribute::MessageType));
                }
            }
        };
        let transaction_id = {
            let v = single_value(
                attrs,
                oid::SCEP_TRANSACTION_ID,
                ScepAttribute::TransactionId,
            )?;
            if printable_text(v).is_none_or(str::is_empty) {
                return Err(MessageError::MalformedAttribute(
                    ScepAttribute::TransactionId,
                ));
            }
            TransactionId { value: v.clone() }
        };
        let sender_nonce = {
            let v = single_value(attrs, oid::SCEP_SENDER_NONCE, ScepAttribute::SenderNonce)?;
            let nonce = v
                .decode_as_encoding::<OctetString>(EncodingRules::Ber)
                .map_err(|_| MessageError::MalformedAttribute(ScepAttribute::SenderNonce))?;
            let nonce = nonce.into_bytes().into_vec();
            // RFC 8894: 16 bytes. Accept any short nonce, but not an empty or a huge one.
            if nonce.is_empty() || nonce.len() > 64 {
                return Err(MessageError::MalformedAttribute(ScepAttribute::SenderNonce));
            }
            nonce
        };
        Ok(Self {
            signed_data,
            signer,
            message_type,
            transaction_id,
            sender_nonce,
        })
    }

    /// The one signer.
    pub(crate) fn signer(&self) -> &SignerInfo {
        &self.signer
    }

    /// The encapsulated content's octets (the pkcsPKIEnvelope), if any.
    pub(crate) fn content(&self) -> Option<Result<Vec<u8>, der::Error>> {
        let econtent = self.signed_data.encap_content_info.econtent.as_ref()?;
        Some(
            econtent
                .decode_as_encoding::<OctetString>(EncodingRules::Ber)
                .map(|o| o.into_bytes().into_vec()),
        )
    }

    /// Checks the signer with the public key `spki`: its digest algorithm is supported, the
    /// messageDigest attribute is the digest of the encapsulated content (absent content counts
    /// as empty), and the signature over the signed attributes — re-encoded as the SET they
    /// were signed as, in the order the sender wrote them — verifies. Returns the content.
    pub(crate) fn verify_signer(
        &self,
        spki: &spki::SubjectPublicKeyInfoOwned,
    ) -> Result<Vec<u8>, SignerCheck> {
        let signer = &self.signer;
        let digest = Digest::from_oid(&signer.digest_alg.oid)
            .ok_or(SignerCheck::UnsupportedDigest(signer.digest_alg.oid))?;
        let content = self
            .content()
            .transpose()
            .map_err(|_| SignerCheck::MalformedContent)?
            .unwrap_or_default();
        let claimed = self
            .signed_attribute(oid::MESSAGE_DIGEST)
            .map_err(|()| SignerCheck::DigestMismatch)?
            .and_then(|v| v.decode_as::<OctetString>().ok())
            .ok_or(SignerCheck::DigestMismatch)?;
        if claimed.as_bytes() != digest.digest(&content).as_ref() {
            return Err(SignerCheck::DigestMismatch);
        }
        let signed = signer
            .signed_attrs
            .as_ref()
            .and_then(|a| a.to_der().ok())
            .ok_or(SignerCheck::BadSignature)?;
        verify::verify(
            spki,
            &signer.signature_algorithm,
            Some(digest),
            &signed,
            signer.signature.as_bytes(),
        )
        .map_err(|e| match e {
            VerifyError::Unsupported(oid) => SignerCheck::UnsupportedSignature(oid),
            VerifyError::Bad => SignerCheck::BadSignature,
        })?;
        Ok(content)
    }

    /// The value of a signed attribute other than the SCEP ones (`None` if absent, `Err` if not
    /// single-valued).
    pub(crate) fn signed_attribute(&self, oid: ObjectIdentifier) -> Result<Option<&Any>, ()> {
        let Some(attrs) = self.signer.signed_attrs.as_ref() else {
            return Ok(None);
        };
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        let Some(attr) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() || attr.values.len() != 1 {
            return Err(());
        }
        Ok(attr.values.iter().next())
    }
}

/// Why [`PkiMessage::verify_signer`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignerCheck {
    UnsupportedDigest(ObjectIdentifier),
    MalformedContent,
    DigestMismatch,
    UnsupportedSignature(ObjectIdentifier),
    BadSignature,
}

fn decode_signed_data(bytes: &[u8]) -> Result<SignedData, MessageError> {
    let info = ContentInfo::from_ber(bytes).map_err(|error| MessageError::Asn1 {
        what: Structure::ContentInfo,
        error,
    })?;
    if info.content_type != oid::SIGNED_DATA {
        return Err(MessageError::NotSignedData(info.content_type));
    }
    info.content
        .decode_as_encoding::<SignedData>(EncodingRules::Ber)
        .map_err(|error| MessageError::Asn1 {
            what: Structure::SignedData,
            error,
        })
}

fn only_signer(sd: &SignedData) -> Result<SignerInfo, MessageError> {
    match sd.signer_infos.as_slice() {
        [one] => one
            .decode_as_encoding::<SignerInfo>(EncodingRules::Ber)
            .map_err(|error| MessageError::Asn1 {
                what: Structure::SignerInfo,
                error,
            }),
        other => Err(MessageError::SignerCount(other.len())),
    }
}

fn single_value(
    attrs: &cms::signed_data::SignedAttributes,
    oid: ObjectIdentifier,
    which: ScepAttribute,
) -> Result<&Any, MessageError> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let attr = found.next().ok_or(MessageError::MissingAttribute(which))?;
    if found.next().is_some() || attr.values.len() != 1 {
        return Err(MessageError::MalformedAttribute(which));
    }
    attr.values
        .iter()
        .next()
        .ok_or(MessageError::MalformedAttribute(which))
}

/// The text of a string attribute value: PrintableString as RFC 8894 says, or the UTF8String
/// and IA5String some clients send.
pub(crate) fn printable_text(v: &Any) -> Option<&str> {
    match v.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String => {
            std::str::from_utf8(v.value()).ok()
        }
        _ => None,
    }
}
