//! The PKCS #10 request inside a PKIMessage: decoding, its self-signature, its challenge
//! password.

use der::asn1::BmpString;
use der::{Decode, Encode, Header, Reader, SliceReader, Tag, Tagged};
use x509_cert::request::CertReq;

use crate::error::{AlgorithmUse, Refusal};
use crate::oid;
use crate::verify::{self, VerifyError};

/// A PKCS #10 certificate request whose self-signature verified.
#[derive(Debug, Clone)]
pub struct Csr {
    der: Vec<u8>,
    req: CertReq,
    challenge_password: Option<String>,
}

impl Csr {
    /// Decodes a request (DER) and verifies its self-signature.
    pub(crate) fn decode_and_verify(der: Vec<u8>) -> Result<Self, Refusal> {
        let req = CertReq::from_der(&der).map_err(|_| Refusal::MalformedCsr)?;
        // The signature covers the CertificationRequestInfo exactly as the client encoded it.
        let info = first_element(&der).ok_or(Refusal::MalformedCsr)?;
        let signature = req.signature.as_bytes().ok_or(Refusal::MalformedCsr)?;
        verify::verify(&req.info.public_key, &req.algorithm, None, info, signature).map_err(
            |e| match e {
                VerifyError::Unsupported(oid) => {
                    Refusal::UnsupportedAlgorithm(AlgorithmUse::Signature, oid)
                }
                VerifyError::Bad => Refusal::CsrSignature,
            },
        )?;
        let challenge_password = challenge_password(&req)?;
        Ok(Self {
            der,
            req,
            challenge_password,
        })
    }

    /// The request, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The decoded request.
    pub fn request(&self) -> &CertReq {
        &self.req
    }

    /// The requested subject.
    pub fn subject(&self) -> &x509_cert::name::Name {
        &self.req.info.subject
    }

    /// The requested public key, as encoded SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.req.info.public_key.to_der().unwrap_or_default()
    }

    /// The challenge password attribute, if the request has one.
    pub fn challenge_password(&self) -> Option<&str> {
        self.challenge_password.as_deref()
    }
}

/// The first element (full TLV) inside the outer SEQUENCE.
fn first_element(der: &[u8]) -> Option<&[u8]> {
    let mut reader = SliceReader::new(der).ok()?;
    let header = Header::decode(&mut reader).ok()?;
    if header.tag() != Tag::Sequence {
        return None;
    }
    reader.tlv_bytes().ok()
}

/// The challengePassword attribute (a DirectoryString; PrintableString, UTF8String, IA5String
/// and BMPString are read). A repeated or undecodable attribute is a malformed request.
fn challenge_password(req: &CertReq) -> Result<Option<String>, Refusal> {
    let mut found = req
        .info
        .attributes
        .iter()
        .filter(|a| a.oid == oid::CHALLENGE_PASSWORD);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || attr.values.len() != 1 {
        return Err(Refusal::MalformedCsr);
    }
    let value = attr.values.iter().next().ok_or(Refusal::MalformedCsr)?;
    let text = match value.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString => {
            String::from_utf8(value.value().to_vec()).map_err(|_| Refusal::MalformedCsr)?
        }
        Tag::BmpString => value
            .decode_as::<BmpString>()
            .map_err(|_| Refusal::MalformedCsr)?
            .to_string(),
        _ => return Err(Refusal::MalformedCsr),
    };
    Ok(Some(text))
}
