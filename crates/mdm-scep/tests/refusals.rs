//! PKIOperation outcomes without HTTP: issuance, every refusal and its failInfo, and what is not
//! a PKIMessage at all.

mod common;

use std::time::{Duration, SystemTime};

use common::{CHALLENGE, Harness, Pki, block_on, device};
use der::{Decode, Encode};
use mdm_scep::client::{self, RequestOptions};
use mdm_scep::x509_cert::Certificate;
use mdm_scep::{
    AlgorithmUse, ChallengeRefusal, ContentEncryption, KeyAlgorithm, MessageError, Method,
    OneTimeChallenges, PrivateKey, Refusal, RequestError, ScepError, ServerOptions,
    StaticChallenge,
};

const ALL_ENCRYPTIONS: [ContentEncryption; 5] = [
    ContentEncryption::DesCbc,
    ContentEncryption::DesEde3Cbc,
    ContentEncryption::Aes128Cbc,
    ContentEncryption::Aes192Cbc,
    ContentEncryption::Aes256Cbc,
];

fn with(alg: ContentEncryption) -> RequestOptions {
    RequestOptions::default().content_encryption(alg)
}

#[test]
fn pkcs_req_is_issued_with_every_content_encryption() {
    let h = Harness::rsa();
    for alg in ALL_ENCRYPTIONS {
        let dev = device("dev-enc");
        let req = h.request(&dev, Some(CHALLENGE), &with(alg));
        let response = h.send(&req.message);
        let rep = common::read(&h.pki, &dev, &response);
        assert_eq!(rep.transaction_id, req.transaction_id, "{alg:?}");
        assert_eq!(rep.recipient_nonce, req.sender_nonce, "{alg:?}");
        let cert = Certificate::from_der(&h.issued(&dev, &req.message)).unwrap();
        assert_eq!(
            cert.tbs_certificate().subject().to_string(),
            "CN=device,O=Rootstock Devices"
        );
    }
}

#[test]
fn issued_certificate_has_the_client_profile() {
    use mdm_scep::x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
    let h = Harness::rsa();
    let dev = device("profile");
    let der = h.issued(
        &dev,
        &h.request(&dev, Some(CHALLENGE), &RequestOptions::default())
            .message,
    );
    let cert = Certificate::from_der(&der).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(
        tbs.issuer(),
        h.pki.ca.certificate().tbs_certificate().subject()
    );
    assert_eq!(
        tbs.subject_public_key_info().to_der().unwrap(),
        dev.key().public_key_der()
    );
    let (_, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
    assert!(!bc.ca);
    let (_, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
    assert_eq!(
        ku.0,
        KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
    );
    let (_, eku) = tbs.get_extension::<ExtendedKeyUsage>().unwrap().unwrap();
    assert_eq!(
        eku.0,
        vec![der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2")]
    );
    // Random 128-bit serial numbers: two certificates never share one.
    let again = h.issued(
        &dev,
        &h.request(&dev, Some(CHALLENGE), &RequestOptions::default())
            .message,
    );
    let again = Certificate::from_der(&again).unwrap();
    assert_ne!(tbs.serial_number(), again.tbs_certificate().serial_number());
    assert_eq!(tbs.serial_number().as_bytes().len(), 16);
}

#[test]
fn wrong_and_missing_challenges_are_bad_request() {
    let h = Harness::rsa();
    let dev = device("wrong");
    for (challenge, why) in [
        (Some("not the secret"), ChallengeRefusal::Wrong),
        (None, ChallengeRefusal::Missing),
    ] {
        let req = h.request(&dev, challenge, &RequestOptions::default());
        assert_eq!(h.refused(&dev, &req.message), Refusal::Challenge(why));
    }
}

#[test]
fn one_time_challenge_is_consumed_and_bound_to_its_request() {
    let h = Harness::new(
        Pki::rsa(),
        OneTimeChallenges::new(Duration::from_secs(600)),
        ServerOptions::default(),
    );
    let challenge = h.scep.challenge_policy().issue();
    let dev = device("otc");
    let req = h.request(&dev, Some(&challenge), &RequestOptions::default());
    h.issued(&dev, &req.message);
    // The same request again (a client that lost the reply): still admitted.
    h.issued(&dev, &req.message);
    // Another request (another key) presenting the used challenge: refused.
    let other = device("otc-2");
    let req2 = h.request(&other, Some(&challenge), &RequestOptions::default());
    assert_eq!(
        h.refused(&other, &req2.message),
        Refusal::Challenge(ChallengeRefusal::AlreadyUsed)
    );
    // An unknown challenge, and an expired one.
    let req3 = h.request(
        &other,
        Some("0123456789abcdef0123456789abcdef"),
        &RequestOptions::default(),
    );
    assert_eq!(
        h.refused(&other, &req3.message),
        Refusal::Challenge(ChallengeRefusal::Wrong)
    );
    let stale = h.scep.challenge_policy().issue();
    let req4 = h.request(&other, Some(&stale), &RequestOptions::default());
    let later = SystemTime::now() + Duration::from_secs(601);
    assert_eq!(
        h.refused_at(&other, &req4.message, later),
        Refusal::Challenge(ChallengeRefusal::Expired)
    );
}

#[test]
fn csr_signed_by_another_key_is_bad_message_check() {
    let h = Harness::rsa();
    let dev = device("forged");
    // A request for the device's key, signed by another key.
    let other = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let csr = client::csr(&other, "CN=forged", Some(CHALLENGE)).unwrap();
    let mut req = mdm_scep::x509_cert::request::CertReq::from_der(&csr).unwrap();
    req.info.public_key =
        mdm_scep::x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(dev.key().public_key_der())
            .unwrap();
    let forged = req.to_der().unwrap();
    let msg = h.message(&dev, &forged, &RequestOptions::default());
    assert_eq!(h.refused(&dev, &msg), Refusal::CsrSignature);

    // A sound request for another key than the one signing the message.
    let msg = h.message(&dev, &csr, &RequestOptions::default());
    assert_eq!(h.refused(&dev, &msg), Refusal::SignerKeyMismatch);
}

#[test]
fn unsupported_algorithms_are_bad_alg() {
    let h = Harness::rsa();
    let dev = device("alg");
    // SHA-224 as the signer's digest.
    let sha224 = der::oid::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.4");
    let req = h.request(
        &dev,
        Some(CHALLENGE),
        &RequestOptions::default().digest(sha224),
    );
    assert_eq!(
        h.refused(&dev, &req.message),
        Refusal::UnsupportedAlgorithm(AlgorithmUse::Digest, sha224)
    );
    // Single DES on a server that refuses it.
    let strict = Harness::new(
        Pki::rsa(),
        StaticChallenge::new(CHALLENGE),
        ServerOptions::default().accept_single_des(false),
    );
    let req = strict.request(&dev, Some(CHALLENGE), &with(ContentEncryption::DesCbc));
    assert_eq!(strict.refused(&dev, &req.message), Refusal::SingleDes);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn tampering_is_bad_message_check() {
    let h = Harness::rsa();
    let dev = device("tamper");
    let req = h.request(&dev, Some(CHALLENGE), &RequestOptions::default());
    // The signature is the message's last bytes.
    let mut sig = req.message.clone();
    *sig.last_mut().unwrap() ^= 1;
    assert_eq!(h.refused(&dev, &sig), Refusal::BadSignature);
    // A byte of the signed content (the envelope's ciphertext, just before the certificates).
    let cert_at = find(&req.message, dev.certificate_der()).unwrap();
    let mut content = req.message.clone();
    content[cert_at - 10] ^= 1;
    assert_eq!(h.refused(&dev, &content), Refusal::MessageDigestMismatch);
}

#[test]
fn envelope_for_someone_else_is_bad_cert_id() {
    let h = Harness::rsa();
    let other = Pki::rsa();
    let dev = device("lost");
    let req = common::pkcs_req(
        &other,
        &dev,
        "lost",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    assert_eq!(h.refused(&dev, &req.message), Refusal::NotARecipient);
}

#[test]
fn renewal_signed_by_an_issued_certificate_succeeds() {
    let h = Harness::rsa();
    let enrolled = h.enroll("renew");
    // Renewal, same key, no challenge.
    let csr = client::csr(enrolled.key(), "CN=renew,O=Rootstock Devices", None).unwrap();
    let msg = h.message(&enrolled, &csr, &RequestOptions::renewal());
    let renewed = h.issued(&enrolled, &msg);
    assert_ne!(renewed, enrolled.certificate_der());

    // Renewal with a new key (rekey), signed by the old certificate.
    let new_key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let csr = client::csr(&new_key, "CN=renew,O=Rootstock Devices", None).unwrap();
    let msg = h.message(&enrolled, &csr, &RequestOptions::renewal());
    let rekeyed = Certificate::from_der(&h.issued(&enrolled, &msg)).unwrap();
    assert_eq!(
        rekeyed
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap(),
        new_key.public_key_der()
    );

    // A renewal asking for another subject: the CA refuses it.
    let csr = client::csr(enrolled.key(), "CN=someone-else,O=Rootstock Devices", None).unwrap();
    let other = h.message(&enrolled, &csr, &RequestOptions::renewal());
    assert_eq!(
        h.refused(&enrolled, &other),
        Refusal::Ca(mdm_scep::FailInfo::BadRequest)
    );

    // The same renewal after the old certificate expired: badTime.
    let later = SystemTime::now() + Duration::from_secs(400 * 86_400);
    assert_eq!(
        h.refused_at(&enrolled, &msg, later),
        Refusal::CertificateExpired
    );

    // A policy that allows no renewals.
    let no_renewals = Harness {
        scep: h.pki.scep(
            StaticChallenge::new(CHALLENGE).allow_renewal(false),
            ServerOptions::default(),
        ),
        pki: h.pki,
    };
    assert_eq!(
        no_renewals.refused(&enrolled, &msg),
        Refusal::Challenge(ChallengeRefusal::RenewalNotAllowed)
    );
}

#[test]
fn renewal_signed_by_a_foreign_or_self_signed_certificate_is_bad_cert_id() {
    let h = Harness::rsa();
    // Self-signed (a PKCSReq signer) posing as a renewal.
    let dev = device("sneaky");
    let csr = client::csr(dev.key(), "CN=sneaky", None).unwrap();
    let msg = h.message(&dev, &csr, &RequestOptions::renewal());
    assert_eq!(h.refused(&dev, &msg), Refusal::NotIssuedHere);
    // Issued by another CA with the same name.
    let foreign = Harness::rsa().enroll("sneaky");
    let msg = h.message(&foreign, &csr, &RequestOptions::renewal());
    assert_eq!(h.refused(&foreign, &msg), Refusal::NotIssuedHere);
}

#[test]
fn ecdsa_ca_issues_through_an_rsa_ra() {
    let h = Harness::new(
        Pki::ecdsa_with_ra(),
        StaticChallenge::new(CHALLENGE),
        ServerOptions::default(),
    );
    let cacert = block_on(h.scep.handle_http(
        Method::Get,
        Some("operation=GetCACert"),
        b"",
        SystemTime::now(),
    ))
    .unwrap();
    assert_eq!(cacert.content_type, "application/x-x509-ca-ra-cert");
    let certs = client::degenerate_certificates(&cacert.body).unwrap();
    assert_eq!(certs.len(), 2);
    assert!(certs.contains(&h.pki.exchange_der));
    let dev = device("ec");
    let cert = h.issued(
        &dev,
        &h.request(&dev, Some(CHALLENGE), &RequestOptions::default())
            .message,
    );
    let cert = Certificate::from_der(&cert).unwrap();
    assert_eq!(
        cert.signature_algorithm().oid,
        der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2")
    );
}

#[test]
fn rsa_ca_answers_get_ca_cert_with_one_der_certificate() {
    let h = Harness::rsa();
    let get = |q| {
        block_on(
            h.scep
                .handle_http(Method::Get, Some(q), b"", SystemTime::now()),
        )
        .unwrap()
    };
    let r = get("operation=GetCACert&message=0");
    assert_eq!(r.content_type, "application/x-x509-ca-cert");
    assert_eq!(r.body, h.pki.exchange_der);
    let caps = get("operation=GetCACaps");
    assert_eq!(
        String::from_utf8(caps.body).unwrap(),
        "Renewal\nSHA-1\nSHA-256\nAES\nDES3\nSCEPStandard\nPOSTPKIOperation"
    );
}

#[test]
fn get_and_post_forms_carry_the_same_message() {
    use base64::Engine;
    let h = Harness::rsa();
    let dev = device("get");
    let req = h.request(&dev, Some(CHALLENGE), &RequestOptions::default());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&req.message);
    let escaped: String = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let q = format!("operation=PKIOperation&message={escaped}");
    let resp = block_on(
        h.scep
            .handle_http(Method::Get, Some(&q), b"", SystemTime::now()),
    )
    .unwrap();
    assert!(matches!(resp.outcome, mdm_scep::Outcome::Issued { .. }));
}

#[test]
fn truncated_and_oversized_messages_are_http_400() {
    let h = Harness::new(
        Pki::rsa(),
        StaticChallenge::new(CHALLENGE),
        ServerOptions::default().max_message_len(64 * 1024),
    );
    let dev = device("short");
    let req = h.request(&dev, Some(CHALLENGE), &RequestOptions::default());
    let post = |m: &[u8]| common::post(&h.scep, m, SystemTime::now()).unwrap_err();
    // Every truncation is a 400 with a decoding error, never a CertRep, never a panic.
    for len in [1, 2, 10, 100, req.message.len() / 2, req.message.len() - 1] {
        let err = post(&req.message[..len]);
        assert_eq!(err.http_status(), 400, "{len}: {err}");
        assert!(
            matches!(
                err,
                ScepError::Request(RequestError::Message(MessageError::Asn1 { .. }))
            ),
            "{len}: {err:?}"
        );
    }
    let err = post(&vec![0x30; 64 * 1024 + 1]);
    assert!(
        matches!(err, ScepError::Request(RequestError::MessageTooLarge { len, max }) if len == 64 * 1024 + 1 && max == 64 * 1024)
    );
    assert_eq!(err.http_status(), 400);
    assert!(matches!(
        post(b""),
        ScepError::Request(RequestError::MissingMessage)
    ));
}

#[test]
fn undecryptable_key_transport_is_bad_message_check() {
    // An envelope naming the server's certificate whose key transport fails: the one
    // Undecryptable refusal (the envelope module's tests show a broken CBC padding gives the
    // same). The look-alike certificate has the server's issuer and serial and another RSA key
    // (its signature no longer verifies, which a client encrypting to it does not check).
    let h = Harness::rsa();
    let dev = device("oracle");
    let server = Certificate::from_der(&h.pki.exchange_der).unwrap();
    let old_spki = server
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    let other_key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    assert_eq!(
        old_spki.len(),
        other_key.public_key_der().len(),
        "same-size keys"
    );
    let mut lookalike = h.pki.exchange_der.clone();
    let at = find(&lookalike, &old_spki).unwrap();
    lookalike[at..at + old_spki.len()].copy_from_slice(other_key.public_key_der());
    let csr = client::csr(dev.key(), "CN=oracle", Some(CHALLENGE)).unwrap();
    let msg = client::pki_request(&dev, &lookalike, &csr, &RequestOptions::default())
        .unwrap()
        .message;
    assert_eq!(h.refused(&dev, &msg), Refusal::Undecryptable);
}

#[test]
fn hostile_nesting_and_lengths_are_http_400() {
    let h = Harness::rsa();
    const SIGNED_DATA_HEADER: [u8; 13] = [
        0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    // ContentInfo { signedData, [0] { 1 MiB of nested indefinite-length SEQUENCEs } }.
    let mut deep = SIGNED_DATA_HEADER.to_vec();
    deep.extend_from_slice(&[0xa0, 0x80]);
    deep.extend(std::iter::repeat_n([0x30, 0x80], 500_000).flatten());
    // Definite lengths that claim more than there is.
    let mut lying = vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
    lying.extend(std::iter::repeat_n(0x30, 1 << 20));
    // A definite-length constructed OCTET STRING (which takes the BER rewrite) 100,000 deep.
    let mut chunked = SIGNED_DATA_HEADER.to_vec();
    chunked.extend(std::iter::repeat_n([0xa0, 0x80], 100_000).flatten());
    chunked.extend_from_slice(&[0x24, 0x03, 0x04, 0x01, 0x00]);
    for message in [deep, lying, chunked] {
        let err = common::post(&h.scep, &message, SystemTime::now()).unwrap_err();
        assert_eq!(err.http_status(), 400, "{err}");
    }
}
