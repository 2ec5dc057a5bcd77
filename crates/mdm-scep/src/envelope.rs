//! CMS EnvelopedData: opening a request's envelope (RSA key transport to the server's key,
//! DES/3DES/AES-CBC content) and sealing a reply to the requester's certificate.

use aes::{Aes128, Aes192, Aes256};
use aws_lc_rs::rsa::{Pkcs1PublicEncryptingKey, PublicEncryptingKey};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit,
};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, RecipientIdentifier, RecipientInfo,
};
use der::asn1::{Null, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Tag};
use des::{Des, TdesEde3};
use spki::AlgorithmIdentifierOwned;
use subtle::{Choice, ConditionallySelectable};
use x509_cert::Certificate;
use x509_cert::certificate::{CertificateInner, Profile};

use crate::error::{AlgorithmUse, Refusal};
use crate::identity::ScepIdentity;
use crate::keys::PrivateKey;
use crate::lax::{self, IssuerSerial, KeyTransRecipient};
use crate::oid;
use crate::rng;

/// A content-encryption algorithm of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentEncryption {
    /// Single DES in CBC mode (`desCBC`): broken, but what Go's `pkcs7` package (and so
    /// micromdm's `scepclient` up to v2.1) sends by default. Opened when
    /// [`ServerOptions::accept_single_des`](crate::ServerOptions::accept_single_des) allows it;
    /// never used for a reply.
    DesCbc,
    /// Triple DES (EDE3) in CBC mode.
    DesEde3Cbc,
    /// AES-128 in CBC mode.
    Aes128Cbc,
    /// AES-192 in CBC mode.
    Aes192Cbc,
    /// AES-256 in CBC mode.
    Aes256Cbc,
}

impl ContentEncryption {
    pub(crate) fn from_oid(oid: &der::oid::ObjectIdentifier) -> Option<Self> {
        Some(match *oid {
            oid::DES_CBC => ContentEncryption::DesCbc,
            oid::DES_EDE3_CBC => ContentEncryption::DesEde3Cbc,
            oid::AES128_CBC => ContentEncryption::Aes128Cbc,
            oid::AES192_CBC => ContentEncryption::Aes192Cbc,
            oid::AES256_CBC => ContentEncryption::Aes256Cbc,
            _ => return None,
        })
    }

    /// The algorithm's object identifier.
    pub fn oid(self) -> der::oid::ObjectIdentifier {
        match self {
            ContentEncryption::DesCbc => oid::DES_CBC,
            ContentEncryption::DesEde3Cbc => oid::DES_EDE3_CBC,
            ContentEncryption::Aes128Cbc => oid::AES128_CBC,
            ContentEncryption::Aes192Cbc => oid::AES192_CBC,
            ContentEncryption::Aes256Cbc => oid::AES256_CBC,
        }
    }

    /// The key length in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            ContentEncryption::DesCbc => 8,
            ContentEncryption::DesEde3Cbc => 24,
            ContentEncryption::Aes128Cbc => 16,
            ContentEncryption::Aes192Cbc => 24,
            ContentEncryption::Aes256Cbc => 32,
        }
    }

    /// The block (and IV) length in bytes.
    pub(crate) fn block_len(self) -> usize {
        match self {
            ContentEncryption::DesCbc | ContentEncryption::DesEde3Cbc => 8,
            _ => 16,
        }
    }

    /// The algorithm a reply to a request sealed with `self` is sealed with: the same one,
    /// except that single DES is answered with triple DES.
    pub(crate) fn for_reply(self) -> Self {
        match self {
            ContentEncryption::DesCbc => ContentEncryption::DesEde3Cbc,
            other => other,
        }
    }
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>>
where
    C: BlockCipherDecrypt + KeyInit,
    cbc::Decryptor<C>: KeyIvInit,
{
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
    dec.decrypt_padded_vec::<Pkcs7>(data).ok()
}

fn cbc_encrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>>
where
    C: BlockCipherEncrypt + KeyInit,
    cbc::Encryptor<C>: KeyIvInit,
{
    let enc = cbc::Encryptor::<C>::new_from_slices(key, iv).ok()?;
    Some(enc.encrypt_padded_vec::<Pkcs7>(data))
}

fn decrypt_content(alg: ContentEncryption, key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    match alg {
        ContentEncryption::DesCbc => cbc_decrypt::<Des>(key, iv, data),
        ContentEncryption::DesEde3Cbc => cbc_decrypt::<TdesEde3>(key, iv, data),
        ContentEncryption::Aes128Cbc => cbc_decrypt::<Aes128>(key, iv, data),
        ContentEncryption::Aes192Cbc => cbc_decrypt::<Aes192>(key, iv, data),
        ContentEncryption::Aes256Cbc => cbc_decrypt::<Aes256>(key, iv, data),
    }
}

/// Whether `rid` names `cert` (by issuer and serial number, or by subject key identifier).
pub(crate) fn names_certificate(
    rid: &RecipientIdentifier,
    cert: &Certificate,
    ski: Option<&[u8]>,
) -> bool {
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(ias) => {
            ias.issuer == *cert.tbs_certificate().issuer()
                && ias.serial_number == *cert.tbs_certificate().serial_number()
        }
        RecipientIdentifier::SubjectKeyIdentifier(id) => {
            ski.is_some_and(|ski| ski == id.0.as_bytes())
        }
    }
}

/// What an opened envelope held.
pub(crate) struct Opened {
    pub(crate) content: Vec<u8>,
    pub(crate) algorithm: ContentEncryption,
}

/// Opens the EnvelopedData (a ContentInfo, BER) of a request with the server's key.
///
/// No padding oracle: whatever fails after the recipient and the algorithms are known — the RSA
/// key transport, its PKCS #1 padding, the recovered key's length, the CBC decryption or its
/// padding — ends in the one [`Refusal::Undecryptable`]. A failed key transport is replaced by a
/// random key before decryption goes on (implicit rejection), so every path does the same work.
pub(crate) fn open(
    envelope: &[u8],
    identity: &ScepIdentity,
    accept_single_des: bool,
) -> Result<Opened, Refusal> {
    let env = match decode_enveloped_data(envelope) {
        Err(Some(e)) if crate::ber::is_noncanonical(&e) => {
            // A definite-length constructed string (Go's pkcs7 writes the encrypted content so).
            let rewritten =
                crate::ber::indefinite_constructed(envelope).ok_or(Refusal::MalformedEnvelope)?;
            decode_enveloped_data(&rewritten).map_err(|_| Refusal::MalformedEnvelope)?
        }
        other => other.map_err(|_| Refusal::MalformedEnvelope)?,
    };

    let ktri = env
        .recip_infos
        .0
        .iter()
        .find_map(|ri| match ri {
            RecipientInfo::Ktri(k)
                if names_certificate(&k.rid, identity.certificate(), identity.subject_key_id()) =>
            {
                Some(k)
            }
            _ => None,
        })
        .ok_or(Refusal::NotARecipient)?;
    if ktri.key_enc_alg.oid != oid::RSA_ENCRYPTION {
        return Err(Refusal::UnsupportedAlgorithm(
            AlgorithmUse::KeyTransport,
            ktri.key_enc_alg.oid,
        ));
    }

    let eci = &env.encrypted_content;
    let alg_oid = eci.content_enc_alg.oid;
    let algorithm = ContentEncryption::from_oid(&alg_oid).ok_or(Refusal::UnsupportedAlgorithm(
        AlgorithmUse::ContentEncryption,
        alg_oid,
    ))?;
    if algorithm == ContentEncryption::DesCbc && !accept_single_des {
        return Err(Refusal::SingleDes);
    }
    let iv = eci
        .content_enc_alg
        .parameters
        .as_ref()
        .and_then(|p| {
            p.decode_as_encoding::<OctetString>(der::EncodingRules::Ber)
                .ok()
        })
        .filter(|iv| iv.as_bytes().len() == algorithm.block_len())
        .ok_or(Refusal::MalformedEnvelope)?;
    let ciphertext = eci
        .encrypted_content
        .as_ref()
        .ok_or(Refusal::MalformedEnvelope)?;

    let key = recover_key(identity.key(), ktri.enc_key.as_bytes(), algorithm.key_len());
    let content = decrypt_content(algorithm, &key, iv.as_bytes(), ciphertext.as_bytes())
        .ok_or(Refusal::Undecryptable)?;
    Ok(Opened { content, algorithm })
}

/// Decodes an EnvelopedData ContentInfo (BER); `Err(None)` when it is another content type.
fn decode_enveloped_data(bytes: &[u8]) -> Result<EnvelopedData, Option<der::Error>> {
    let info = ContentInfo::from_ber(bytes).map_err(Some)?;
    if info.content_type != oid::ENVELOPED_DATA {
        return Err(None);
    }
    info.content
        .decode_as_encoding::<EnvelopedData>(der::EncodingRules::Ber)
        .map_err(Some)
}

/// The content-encryption key from the key transport, or a random key of the same length when
/// the transport fails in any way (chosen without a branch on the outcome).
fn recover_key(key: &PrivateKey, encrypted_key: &[u8], key_len: usize) -> Vec<u8> {
    let mut fallback = vec![0; key_len];
    rng::fill(&mut fallback);
    let decrypted = key.decrypt_pkcs1(encrypted_key);
    let valid = Choice::from(u8::from(
        decrypted.as_ref().is_some_and(|d| d.len() == key_len),
    ));
    let decrypted = decrypted.unwrap_or_default();
    fallback
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let d = decrypted.get(i).copied().unwrap_or(0);
            u8::conditional_select(f, &d, valid)
        })
        .collect()
}

/// The reply's recipient: its issuer and serial number, and its RSA key for the key transport
/// (aws-lc-rs, PKCS #1 v1.5).
pub(crate) struct Recipient {
    rid: IssuerSerial,
    key: Pkcs1PublicEncryptingKey,
}

impl Recipient {
    /// `cert` as a recipient; `None` unless its key is RSA.
    pub(crate) fn new<P: Profile>(cert: &CertificateInner<P>) -> Option<Self> {
        let spki = cert.tbs_certificate().subject_public_key_info();
        if spki.algorithm.oid != oid::RSA_ENCRYPTION {
            return None;
        }
        let key = PublicEncryptingKey::from_der(&spki.to_der().ok()?).ok()?;
        Some(Self {
            rid: IssuerSerial::of(cert).ok()?,
            key: Pkcs1PublicEncryptingKey::new(key).ok()?,
        })
    }
}

/// Seals `content` for `recipient` as an EnvelopedData ContentInfo (DER): a random key and IV,
/// CBC with PKCS #7 padding, the key transported with RSA PKCS #1 v1.5.
///
/// Built from the `cms` types except the recipient info, which names the recipient by a serial
/// number of any length (see [`crate::lax`]); the `cms` builder's recipient type cannot.
pub(crate) fn seal(
    content: &[u8],
    recipient: &Recipient,
    algorithm: ContentEncryption,
) -> Result<Vec<u8>, SealError> {
    let mut key = vec![0; algorithm.key_len()];
    rng::fill(&mut key);
    let mut iv = vec![0; algorithm.block_len()];
    rng::fill(&mut iv);
    let encrypted = match algorithm {
        ContentEncryption::DesCbc => cbc_encrypt::<Des>(&key, &iv, content),
        ContentEncryption::DesEde3Cbc => cbc_encrypt::<TdesEde3>(&key, &iv, content),
        ContentEncryption::Aes128Cbc => cbc_encrypt::<Aes128>(&key, &iv, content),
        ContentEncryption::Aes192Cbc => cbc_encrypt::<Aes192>(&key, &iv, content),
        ContentEncryption::Aes256Cbc => cbc_encrypt::<Aes256>(&key, &iv, content),
    }
    .ok_or(SealError)?;
    let mut wrapped = vec![0; recipient.key.ciphertext_size()];
    let wrapped = recipient
        .key
        .encrypt(&key, &mut wrapped)
        .map_err(|_| SealError)?
        .to_vec();
    key.fill(0);
    let ktri = KeyTransRecipient {
        version: CmsVersion::V0,
        rid: recipient.rid.clone(),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(Null.into()),
        },
        enc_key: OctetString::new(wrapped)?,
    };
    let env = lax::EnvelopedData {
        version: CmsVersion::V0,
        recip_infos: SetOfVec::try_from(vec![Any::encode_from(&ktri)?])?,
        encrypted_content: EncryptedContentInfo {
            content_type: oid::DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: algorithm.oid(),
                parameters: Some(Any::new(Tag::OctetString, iv)?),
            },
            encrypted_content: Some(OctetString::new(encrypted)?),
        },
    };
    let info = ContentInfo {
        content_type: oid::ENVELOPED_DATA,
        content: Any::encode_from(&env)?,
    };
    Ok(info.to_der()?)
}

/// The reply envelope could not be built.
#[derive(Debug)]
pub(crate) struct SealError;

impl From<der::Error> for SealError {
    fn from(_: der::Error) -> Self {
        SealError
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> ScepIdentity {
        let pem = crate::client_test_support::ca_pem();
        crate::FileCa::from_pem(&pem, Default::default())
            .unwrap()
            .scep_identity()
            .unwrap()
    }

    #[test]
    fn seal_then_open_with_every_algorithm() {
        let id = identity();
        let recipient = Recipient::new(id.certificate()).unwrap();
        for alg in [
            ContentEncryption::DesCbc,
            ContentEncryption::DesEde3Cbc,
            ContentEncryption::Aes128Cbc,
            ContentEncryption::Aes192Cbc,
            ContentEncryption::Aes256Cbc,
        ] {
            let sealed = seal(b"a PKCS #10 request", &recipient, alg).unwrap();
            let opened = open(&sealed, &id, true).unwrap();
            assert_eq!(opened.content, b"a PKCS #10 request");
            assert_eq!(opened.algorithm, alg);
        }
    }

    /// Every way the decryption can fail after the recipient and algorithms are known ends in
    /// the same refusal: a broken key transport, a broken CBC padding, a truncated ciphertext.
    #[test]
    fn decryption_failures_are_indistinguishable() {
        let id = identity();
        let recipient = Recipient::new(id.certificate()).unwrap();
        let sealed = seal(&[7; 40], &recipient, ContentEncryption::Aes128Cbc).unwrap();
        let info = ContentInfo::from_der(&sealed).unwrap();
        let env = info.content.decode_as::<lax::EnvelopedData>().unwrap();

        let reseal = |env: &lax::EnvelopedData| {
            ContentInfo {
                content_type: oid::ENVELOPED_DATA,
                content: Any::encode_from(env).unwrap(),
            }
            .to_der()
            .unwrap()
        };
        // The last ciphertext byte changed: the padding no longer checks (almost always).
        let mut bad_padding = env.clone();
        let mut ct = bad_padding
            .encrypted_content
            .encrypted_content
            .take()
            .unwrap()
            .into_bytes()
            .into_vec();
        let last = ct.len() - 17;
        ct[last] ^= 0x55;
        bad_padding.encrypted_content.encrypted_content = Some(OctetString::new(ct).unwrap());
        // The wrapped key changed: PKCS #1 padding fails, a random key is used instead.
        let mut bad_transport = env.clone();
        let ri = bad_transport.recip_infos.as_slice()[0].clone();
        let mut ktri = ri.decode_as::<KeyTransRecipient>().unwrap();
        let mut wrapped = ktri.enc_key.as_bytes().to_vec();
        wrapped[10] ^= 1;
        ktri.enc_key = OctetString::new(wrapped).unwrap();
        bad_transport.recip_infos =
            SetOfVec::try_from(vec![Any::encode_from(&ktri).unwrap()]).unwrap();
        // A wrapped key that is not even the modulus' length.
        let mut short_transport = env.clone();
        ktri.enc_key = OctetString::new(vec![1; 12]).unwrap();
        short_transport.recip_infos =
            SetOfVec::try_from(vec![Any::encode_from(&ktri).unwrap()]).unwrap();

        for (what, env) in [
            ("padding", bad_padding),
            ("transport", bad_transport),
            ("short transport", short_transport),
        ] {
            assert_eq!(
                open(&reseal(&env), &id, true).err(),
                Some(Refusal::Undecryptable),
                "{what}"
            );
        }
    }

    #[test]
    fn recovered_key_falls_back_to_random_on_failure() {
        let id = identity();
        let a = recover_key(id.key(), &[0; 256], 16);
        let b = recover_key(id.key(), &[0; 256], 16);
        assert_eq!(a.len(), 16);
        assert_ne!(a, b, "a fresh random key each time");
    }
}
