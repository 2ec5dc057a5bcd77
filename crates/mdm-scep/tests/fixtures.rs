//! Requests captured from real clients (see `fixtures/README.md`) decode and pass every check,
//! without the clients installed.

use std::time::{Duration, SystemTime};

use mdm_scep::{
    ContentEncryption, Decoded, EnrollmentRequest, FileCa, IssueOptions, MessageType, ScepIdentity,
    ScepServer, ServerOptions,
};

/// The capture date: certificates in the messages are checked against it, not today.
fn captured() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_640_000) // 2026-12-07
}

fn server() -> ScepServer {
    let ca = FileCa::from_pem(include_str!("fixtures/ca.pem"), IssueOptions::default()).unwrap();
    let ra = ScepIdentity::from_pem(include_str!("fixtures/ra.pem")).unwrap();
    ScepServer::new(ra, &ca.chain(), ServerOptions::default()).unwrap()
}

fn decode(bytes: &[u8]) -> EnrollmentRequest {
    match server().decode(bytes, captured()).unwrap() {
        Decoded::Request(r) => *r,
        Decoded::Refused(r) => panic!("refused: {:?}", r.refusal),
    }
}

#[test]
fn scepclient_pkcs_req() {
    let r = decode(include_bytes!("fixtures/scepclient-pkcsreq.der"));
    assert_eq!(r.message_type, MessageType::PkcsReq);
    assert_eq!(r.content_encryption, ContentEncryption::DesCbc);
    assert_eq!(r.csr.challenge_password(), Some("fixture-challenge"));
    assert!(
        r.csr
            .subject()
            .to_string()
            .contains("CN=scepclient-fixture"),
        "{}",
        r.csr.subject()
    );
    assert!(r.renewal_of.is_none());
}

#[test]
fn scepclient_renewal_req() {
    let r = decode(include_bytes!("fixtures/scepclient-renewalreq.der"));
    assert_eq!(r.message_type, MessageType::RenewalReq);
    // scepclient sends its first request's CSR again, challenge and all.
    assert_eq!(r.csr.challenge_password(), Some("fixture-challenge"));
    let renewed = r.renewal_of.expect("the certificate being renewed");
    assert!(
        renewed
            .tbs_certificate()
            .subject()
            .to_string()
            .contains("CN=scepclient-fixture")
    );
}

#[test]
fn certmonger_pkcs_req() {
    let r = decode(include_bytes!("fixtures/certmonger-pkcsreq.der"));
    assert_eq!(r.message_type, MessageType::PkcsReq);
    assert_eq!(r.csr.challenge_password(), Some("fixture-challenge"));
    assert!(r.csr.subject().to_string().contains("certmonger-fixture"));
    // Its self-signed certificate's serial number has 32 octets, beyond RFC 5280's 20.
    use der::Decode;
    use mdm_scep::x509_cert::certificate::{CertificateInner, Raw};
    let cert = CertificateInner::<Raw>::from_der(&r.signer_certificate).unwrap();
    assert_eq!(cert.tbs_certificate().serial_number().as_bytes().len(), 32);
    assert!(mdm_scep::x509_cert::Certificate::from_der(&r.signer_certificate).is_err());
    assert!(matches!(
        r.content_encryption,
        ContentEncryption::Aes128Cbc | ContentEncryption::Aes256Cbc
    ));
}

#[test]
fn a_renewal_checked_after_its_certificate_expired_is_bad_time() {
    let msg = include_bytes!("fixtures/scepclient-renewalreq.der");
    let later = captured() + Duration::from_secs(2 * 365 * 86_400);
    match server().decode(msg, later).unwrap() {
        Decoded::Refused(r) => assert_eq!(r.refusal, mdm_scep::Refusal::CertificateExpired),
        Decoded::Request(_) => panic!("accepted an expired certificate"),
    }
}
