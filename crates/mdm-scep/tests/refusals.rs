//! PKIOperation outcomes without HTTP: issuance, every refusal and its failInfo, and what is not
//! a PKIMessage at all.

mod common;

use std::time::{Duration, SystemTime};

use common::{CHALLENGE, Pki, block_on, device, pkcs_req, post, read};
use der::{Decode, Encode};
use mdm_scep::client::{self, CertRepStatus, RequestOptions, Requester};
use mdm_scep::x509_cert::Certificate;
use mdm_scep::{
    ChallengeRefusal, ContentEncryption, FailInfo, KeyAlgorithm, MessageError, Method,
    OneTimeChallenges, Outcome, PrivateKey, Refusal, RequestError, ScepError, ServerOptions,
    StaticChallenge,
};

fn refusal_of(outcome: &Outcome) -> &Refusal {
    match outcome {
        Outcome::Refused(r) => &r.refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn issued(status: &CertRepStatus) -> Certificate {
    match status {
        CertRepStatus::Issued(certs) => Certificate::from_der(&certs[0]).unwrap(),
        other => panic!("expected a certificate, got {other:?}"),
    }
}

#[test]
fn pkcs_req_is_issued_with_every_content_encryption() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    for alg in [
        ContentEncryption::DesCbc,
        ContentEncryption::DesEde3Cbc,
        ContentEncryption::Aes128Cbc,
        ContentEncryption::Aes192Cbc,
        ContentEncryption::Aes256Cbc,
    ] {
        let dev = device("dev-enc");
        let req = pkcs_req(
            &pki,
            &dev,
            "dev-enc",
            Some(CHALLENGE),
            &RequestOptions::default().content_encryption(alg),
        );
        let resp = post(&scep, &req.message, SystemTime::now()).unwrap();
        assert!(
            matches!(resp.outcome, Outcome::Issued { .. }),
            "{alg:?}: {:?}",
            resp.outcome
        );
        let rep = read(&pki, &dev, &resp);
        assert_eq!(rep.transaction_id, req.transaction_id);
        assert_eq!(rep.recipient_nonce, req.sender_nonce);
        let cert = issued(&rep.status);
        assert_eq!(
            cert.tbs_certificate().subject().to_string(),
            "CN=dev-enc,O=Rootstock Devices"
        );
    }
}

#[test]
fn issued_certificate_has_the_client_profile() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let dev = device("profile");
    let req = pkcs_req(
        &pki,
        &dev,
        "profile",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    let rep = read(
        &pki,
        &dev,
        &post(&scep, &req.message, SystemTime::now()).unwrap(),
    );
    let cert = issued(&rep.status);
    let tbs = cert.tbs_certificate();
    assert_eq!(
        tbs.issuer(),
        pki.ca.certificate().tbs_certificate().subject()
    );
    assert_eq!(
        tbs.subject_public_key_info().to_der().unwrap(),
        dev.key().public_key_der()
    );
    use mdm_scep::x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
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
    let req2 = pkcs_req(
        &pki,
        &dev,
        "profile",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    let rep2 = read(
        &pki,
        &dev,
        &post(&scep, &req2.message, SystemTime::now()).unwrap(),
    );
    assert_ne!(
        tbs.serial_number(),
        issued(&rep2.status).tbs_certificate().serial_number()
    );
    assert_eq!(tbs.serial_number().as_bytes().len(), 16);
}

#[test]
fn wrong_and_missing_challenges_are_bad_request() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let dev = device("wrong");
    for (challenge, why) in [
        (Some("not the secret"), ChallengeRefusal::Wrong),
        (None, ChallengeRefusal::Missing),
    ] {
        let req = pkcs_req(&pki, &dev, "wrong", challenge, &RequestOptions::default());
        let resp = post(&scep, &req.message, SystemTime::now()).unwrap();
        assert_eq!(refusal_of(&resp.outcome), &Refusal::Challenge(why));
        let rep = read(&pki, &dev, &resp);
        assert_eq!(rep.status, CertRepStatus::Failed(FailInfo::BadRequest));
        assert_eq!(rep.recipient_nonce, req.sender_nonce);
        assert_eq!(rep.transaction_id, req.transaction_id);
    }
}

#[test]
fn one_time_challenge_is_consumed_and_bound_to_its_request() {
    let pki = Pki::rsa();
    let scep = pki.scep(
        OneTimeChallenges::new(Duration::from_secs(600)),
        ServerOptions::default(),
    );
    let challenge = scep.challenge_policy().issue();
    let dev = device("otc");
    let req = pkcs_req(
        &pki,
        &dev,
        "otc",
        Some(&challenge),
        &RequestOptions::default(),
    );
    let first = post(&scep, &req.message, SystemTime::now()).unwrap();
    assert!(matches!(first.outcome, Outcome::Issued { .. }));
    // The same request again (a client that lost the reply): still admitted.
    let again = post(&scep, &req.message, SystemTime::now()).unwrap();
    assert!(matches!(again.outcome, Outcome::Issued { .. }));
    // Another request (another key) presenting the used challenge: refused.
    let other = device("otc-2");
    let req2 = pkcs_req(
        &pki,
        &other,
        "otc-2",
        Some(&challenge),
        &RequestOptions::default(),
    );
    let resp = post(&scep, &req2.message, SystemTime::now()).unwrap();
    assert_eq!(
        refusal_of(&resp.outcome),
        &Refusal::Challenge(ChallengeRefusal::AlreadyUsed)
    );
    assert_eq!(
        read(&pki, &other, &resp).status,
        CertRepStatus::Failed(FailInfo::BadRequest)
    );
    // An unknown challenge, and an expired one.
    let req3 = pkcs_req(
        &pki,
        &other,
        "otc-2",
        Some("0123456789abcdef0123456789abcdef"),
        &RequestOptions::default(),
    );
    let resp = post(&scep, &req3.message, SystemTime::now()).unwrap();
    assert_eq!(
        refusal_of(&resp.outcome),
        &Refusal::Challenge(ChallengeRefusal::Wrong)
    );
    let stale = scep.challenge_policy().issue();
    let req4 = pkcs_req(
        &pki,
        &other,
        "otc-2",
        Some(&stale),
        &RequestOptions::default(),
    );
    let later = SystemTime::now() + Duration::from_secs(601);
    let resp = post(&scep, &req4.message, later).unwrap();
    assert_eq!(
        refusal_of(&resp.outcome),
        &Refusal::Challenge(ChallengeRefusal::Expired)
    );
}

#[test]
fn csr_signed_by_another_key_is_bad_message_check() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let dev = device("forged");
    // A request for the device's key, signed by another key.
    let other = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let csr = client::csr(&other, "CN=forged", Some(CHALLENGE)).unwrap();
    let mut req = mdm_scep::x509_cert::request::CertReq::from_der(&csr).unwrap();
    req.info.public_key =
        mdm_scep::x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(dev.key().public_key_der())
            .unwrap();
    let forged = req.to_der().unwrap();
    let msg =
        client::pki_request(&dev, &pki.exchange_der, &forged, &RequestOptions::default()).unwrap();
    let resp = post(&scep, &msg.message, SystemTime::now()).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::CsrSignature);
    assert_eq!(
        read(&pki, &dev, &resp).status,
        CertRepStatus::Failed(FailInfo::BadMessageCheck)
    );

    // A sound request for another key than the one signing the message.
    let csr = client::csr(&other, "CN=forged", Some(CHALLENGE)).unwrap();
    let msg =
        client::pki_request(&dev, &pki.exchange_der, &csr, &RequestOptions::default()).unwrap();
    let resp = post(&scep, &msg.message, SystemTime::now()).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::SignerKeyMismatch);
    assert_eq!(
        read(&pki, &dev, &resp).status,
        CertRepStatus::Failed(FailInfo::BadMessageCheck)
    );
}

#[test]
fn unsupported_algorithms_are_bad_alg() {
    let pki = Pki::rsa();
    let dev = device("alg");
    // SHA-224 as the signer's digest.
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let sha224 = der::oid::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.4");
    let req = pkcs_req(
        &pki,
        &dev,
        "alg",
        Some(CHALLENGE),
        &RequestOptions::default().digest(sha224),
    );
    let resp = post(&scep, &req.message, SystemTime::now()).unwrap();
    assert!(matches!(
        refusal_of(&resp.outcome),
        Refusal::UnsupportedAlgorithm(mdm_scep::AlgorithmUse::Digest, oid) if *oid == sha224
    ));
    assert_eq!(
        read(&pki, &dev, &resp).status,
        CertRepStatus::Failed(FailInfo::BadAlg)
    );
    // Single DES on a server that refuses it.
    let strict = pki.scep(
        StaticChallenge::new(CHALLENGE),
        ServerOptions::default().accept_single_des(false),
    );
    let req = pkcs_req(
        &pki,
        &dev,
        "alg",
        Some(CHALLENGE),
        &RequestOptions::default().content_encryption(ContentEncryption::DesCbc),
    );
    let resp = post(&strict, &req.message, SystemTime::now()).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::SingleDes);
    assert_eq!(
        read(&pki, &dev, &resp).status,
        CertRepStatus::Failed(FailInfo::BadAlg)
    );
}

#[test]
fn tampering_is_bad_message_check() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let dev = device("tamper");
    let req = pkcs_req(
        &pki,
        &dev,
        "tamper",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    // The signature is the message's last bytes.
    let mut sig = req.message.clone();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    let resp = post(&scep, &sig, SystemTime::now()).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::BadSignature);
    // A byte of the signed content (the envelope's ciphertext, just before the certificates).
    let cert_at = find(&req.message, dev.certificate_der()).unwrap();
    let mut content = req.message.clone();
    content[cert_at - 10] ^= 1;
    let resp = post(&scep, &content, SystemTime::now()).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::MessageDigestMismatch);
    assert_eq!(
        read(&pki, &dev, &resp).status,
        CertRepStatus::Failed(FailInfo::BadMessageCheck)
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn envelope_for_someone_else_is_bad_cert_id() {
    let pki = Pki::rsa();
    let other = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let dev = device("lost");
    let req = pkcs_req(
        &other,
        &dev,
        "lost",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    let resp = post(&scep, &req.message, SystemTime::now()).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::NotARecipient);
    assert_eq!(
        read(&pki, &dev, &resp).status,
        CertRepStatus::Failed(FailInfo::BadCertId)
    );
}

#[test]
fn renewal_signed_by_an_issued_certificate_succeeds() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let dev = device("renew");
    let req = pkcs_req(
        &pki,
        &dev,
        "renew",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    let rep = read(
        &pki,
        &dev,
        &post(&scep, &req.message, SystemTime::now()).unwrap(),
    );
    let CertRepStatus::Issued(certs) = rep.status else {
        panic!()
    };
    let key = PrivateKey::from_pkcs8_der(&dev.key().to_pkcs8_der().unwrap()).unwrap();
    let enrolled = Requester::with_certificate(key, certs[0].clone()).unwrap();

    // Renewal, same key, no challenge.
    let csr = client::csr(enrolled.key(), "CN=renew,O=Rootstock Devices", None).unwrap();
    let msg = client::pki_request(
        &enrolled,
        &pki.exchange_der,
        &csr,
        &RequestOptions::renewal(),
    )
    .unwrap();
    let resp = post(&scep, &msg.message, SystemTime::now()).unwrap();
    assert!(
        matches!(resp.outcome, Outcome::Issued { .. }),
        "{:?}",
        resp.outcome
    );
    let renewed = issued(&read(&pki, &enrolled, &resp).status);
    assert_ne!(renewed.to_der().unwrap(), certs[0]);

    // Renewal with a new key (rekey), signed by the old certificate.
    let new_key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let csr = client::csr(&new_key, "CN=renew,O=Rootstock Devices", None).unwrap();
    let msg = client::pki_request(
        &enrolled,
        &pki.exchange_der,
        &csr,
        &RequestOptions::renewal(),
    )
    .unwrap();
    let resp = post(&scep, &msg.message, SystemTime::now()).unwrap();
    let rekeyed = issued(&read(&pki, &enrolled, &resp).status);
    assert_eq!(
        rekeyed
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap(),
        new_key.public_key_der()
    );

    // The same renewal after the old certificate expired: badTime.
    let later = SystemTime::now() + Duration::from_secs(400 * 86_400);
    let resp = post(&scep, &msg.message, later).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::CertificateExpired);
    assert_eq!(
        read(&pki, &enrolled, &resp).status,
        CertRepStatus::Failed(FailInfo::BadTime)
    );

    // A policy that allows no renewals.
    let no_renewals = pki.scep(
        StaticChallenge::new(CHALLENGE).allow_renewal(false),
        ServerOptions::default(),
    );
    let resp = post(&no_renewals, &msg.message, SystemTime::now()).unwrap();
    assert_eq!(
        refusal_of(&resp.outcome),
        &Refusal::Challenge(ChallengeRefusal::RenewalNotAllowed)
    );
}

#[test]
fn renewal_signed_by_a_foreign_or_self_signed_certificate_is_bad_cert_id() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    // Self-signed (a PKCSReq signer) posing as a renewal.
    let dev = device("sneaky");
    let csr = client::csr(dev.key(), "CN=sneaky", None).unwrap();
    let msg =
        client::pki_request(&dev, &pki.exchange_der, &csr, &RequestOptions::renewal()).unwrap();
    let resp = post(&scep, &msg.message, SystemTime::now()).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::NotIssuedHere);
    assert_eq!(
        read(&pki, &dev, &resp).status,
        CertRepStatus::Failed(FailInfo::BadCertId)
    );
    // Issued by another CA with the same name.
    let other = Pki::rsa();
    let other_scep = other.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let req = pkcs_req(
        &other,
        &dev,
        "sneaky",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    let rep = read(
        &other,
        &dev,
        &post(&other_scep, &req.message, SystemTime::now()).unwrap(),
    );
    let CertRepStatus::Issued(certs) = rep.status else {
        panic!()
    };
    let key = PrivateKey::from_pkcs8_der(&dev.key().to_pkcs8_der().unwrap()).unwrap();
    let foreign = Requester::with_certificate(key, certs[0].clone()).unwrap();
    let msg = client::pki_request(
        &foreign,
        &pki.exchange_der,
        &csr,
        &RequestOptions::renewal(),
    )
    .unwrap();
    let resp = post(&scep, &msg.message, SystemTime::now()).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::NotIssuedHere);
}

#[test]
fn ecdsa_ca_issues_through_an_rsa_ra() {
    let pki = Pki::ecdsa_with_ra();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let cacert = block_on(scep.handle_http(
        Method::Get,
        Some("operation=GetCACert"),
        b"",
        SystemTime::now(),
    ))
    .unwrap();
    assert_eq!(cacert.content_type, "application/x-x509-ca-ra-cert");
    let certs = client::degenerate_certificates(&cacert.body).unwrap();
    assert_eq!(certs.len(), 2);
    assert!(certs.contains(&pki.exchange_der));
    let dev = device("ec");
    let req = pkcs_req(
        &pki,
        &dev,
        "ec",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    let rep = read(
        &pki,
        &dev,
        &post(&scep, &req.message, SystemTime::now()).unwrap(),
    );
    let cert = issued(&rep.status);
    assert_eq!(
        cert.signature_algorithm().oid,
        der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2")
    );
}

#[test]
fn rsa_ca_answers_get_ca_cert_with_one_der_certificate() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let r = block_on(scep.handle_http(
        Method::Get,
        Some("operation=GetCACert&message=0"),
        b"",
        SystemTime::now(),
    ))
    .unwrap();
    assert_eq!(r.content_type, "application/x-x509-ca-cert");
    assert_eq!(r.body, pki.exchange_der);
    let caps = block_on(scep.handle_http(
        Method::Get,
        Some("operation=GetCACaps"),
        b"",
        SystemTime::now(),
    ))
    .unwrap();
    assert_eq!(
        String::from_utf8(caps.body).unwrap(),
        "Renewal\nSHA-1\nSHA-256\nAES\nDES3\nSCEPStandard\nPOSTPKIOperation"
    );
}

#[test]
fn get_and_post_forms_carry_the_same_message() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let dev = device("get");
    let req = pkcs_req(
        &pki,
        &dev,
        "get",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&req.message);
    let escaped: String = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let q = format!("operation=PKIOperation&message={escaped}");
    let resp = block_on(scep.handle_http(Method::Get, Some(&q), b"", SystemTime::now())).unwrap();
    assert!(matches!(resp.outcome, Outcome::Issued { .. }));
}

#[test]
fn truncated_and_oversized_messages_are_http_400() {
    let pki = Pki::rsa();
    let scep = pki.scep(
        StaticChallenge::new(CHALLENGE),
        ServerOptions::default().max_message_len(64 * 1024),
    );
    let dev = device("short");
    let req = pkcs_req(
        &pki,
        &dev,
        "short",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    // Every truncation is a 400 with a decoding error, never a CertRep, never a panic.
    for len in [1, 2, 10, 100, req.message.len() / 2, req.message.len() - 1] {
        let err = post(&scep, &req.message[..len], SystemTime::now()).unwrap_err();
        assert_eq!(err.http_status(), 400, "{len}: {err}");
        assert!(
            matches!(
                err,
                ScepError::Request(RequestError::Message(MessageError::Asn1 { .. }))
            ),
            "{len}: {err:?}"
        );
    }
    let big = vec![0x30; 64 * 1024 + 1];
    let err = post(&scep, &big, SystemTime::now()).unwrap_err();
    assert!(
        matches!(err, ScepError::Request(RequestError::MessageTooLarge { len, max }) if len == 64 * 1024 + 1 && max == 64 * 1024)
    );
    assert_eq!(err.http_status(), 400);
    let err = post(&scep, b"", SystemTime::now()).unwrap_err();
    assert!(matches!(
        err,
        ScepError::Request(RequestError::MissingMessage)
    ));
}

#[test]
fn undecryptable_key_transport_is_bad_message_check() {
    // An envelope naming the server's certificate whose key transport fails: the one
    // Undecryptable refusal (the envelope module's tests show a broken CBC padding gives the
    // same).
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    let dev = device("oracle");
    // A look-alike of the server's certificate: same issuer and serial, another RSA key (its
    // signature no longer verifies, which a client encrypting to it does not check).
    let server = Certificate::from_der(&pki.exchange_der).unwrap();
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
    let mut lookalike = pki.exchange_der.clone();
    let at = find(&lookalike, &old_spki).unwrap();
    lookalike[at..at + old_spki.len()].copy_from_slice(other_key.public_key_der());
    let csr = client::csr(dev.key(), "CN=oracle", Some(CHALLENGE)).unwrap();
    let msg = client::pki_request(&dev, &lookalike, &csr, &RequestOptions::default()).unwrap();
    let resp = post(&scep, &msg.message, SystemTime::now()).unwrap();
    assert_eq!(refusal_of(&resp.outcome), &Refusal::Undecryptable);
    assert_eq!(
        read(&pki, &dev, &resp).status,
        CertRepStatus::Failed(FailInfo::BadMessageCheck)
    );
}

#[test]
fn hostile_nesting_and_lengths_are_http_400() {
    let pki = Pki::rsa();
    let scep = pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default());
    // ContentInfo { signedData, [0] { 1 MiB of nested indefinite-length SEQUENCEs } }.
    let mut deep = vec![
        0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80,
    ];
    for _ in 0..500_000 {
        deep.extend_from_slice(&[0x30, 0x80]);
    }
    // The same nesting with definite lengths that claim more than there is.
    let mut lying = vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
    lying.extend(std::iter::repeat_n(0x30, 1 << 20));
    // A definite-length constructed OCTET STRING (takes the BER rewrite) nested 100,000 deep.
    let mut chunked = vec![
        0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    for _ in 0..100_000 {
        chunked.extend_from_slice(&[0xa0, 0x80]);
    }
    chunked.extend_from_slice(&[0x24, 0x03, 0x04, 0x01, 0x00]);
    for message in [deep, lying, chunked] {
        let err = post(&scep, &message, SystemTime::now()).unwrap_err();
        assert_eq!(err.http_status(), 400, "{err}");
    }
}
