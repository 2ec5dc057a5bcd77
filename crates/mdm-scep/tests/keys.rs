//! CA files as OpenSSL writes them: PKCS #1 and SEC 1 keys beside `openssl req -x509`
//! certificates load and issue; keys this crate cannot use are refused precisely. Made with
//! `openssl genrsa -traditional`, `openssl ecparam -genkey -noout`, `openssl genpkey -algorithm
//! ed25519`, `openssl genrsa [-traditional] -aes128` and `openssl req -x509` (see
//! `fixtures/keys`).

use std::time::SystemTime;

use der::{Decode, Encode};
use mdm_scep::client;
use mdm_scep::x509_cert::Certificate;
use mdm_scep::x509_cert::request::CertReq;
use mdm_scep::{
    ConfigError, FileCa, IssueOptions, KeyAlgorithm, KeyError, PrivateKey, ScepIdentity,
};

const RSA_PKCS1: &str = include_str!("fixtures/keys/rsa-pkcs1.pem");
const EC_SEC1: &str = include_str!("fixtures/keys/ec-sec1.pem");
const RSA_CA: &str = include_str!("fixtures/keys/rsa-ca.pem");
const EC_CA: &str = include_str!("fixtures/keys/ec-ca.pem");

fn issue_with(ca: &FileCa) -> Certificate {
    let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let csr = client::csr(&key, "CN=device", None).unwrap();
    let der = ca
        .issue_now(&CertReq::from_der(&csr).unwrap(), SystemTime::now())
        .unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    assert_eq!(
        cert.tbs_certificate().issuer(),
        ca.certificate().tbs_certificate().subject()
    );
    cert
}

#[test]
fn openssl_rsa_ca_with_a_pkcs1_key_issues_and_is_its_own_exchange_identity() {
    let ca = FileCa::from_pem(&format!("{RSA_CA}{RSA_PKCS1}"), IssueOptions::default()).unwrap();
    issue_with(&ca);
    ca.scep_identity().unwrap();
}

#[test]
fn openssl_ec_ca_with_a_sec1_key_issues_but_needs_an_ra() {
    let ca = FileCa::from_pem_parts(EC_CA, EC_SEC1, IssueOptions::default()).unwrap();
    let cert = issue_with(&ca);
    assert_eq!(
        cert.signature_algorithm().oid.to_string(),
        "1.2.840.10045.4.3.2"
    );
    assert_eq!(
        ca.scep_identity().unwrap_err(),
        ConfigError::ExchangeKeyNotRsa
    );
    // An RSA RA it issues makes it usable.
    let ra_key = PrivateKey::from_pem(RSA_PKCS1).unwrap();
    let ra = ca
        .issue_ra_certificate(
            &ra_key,
            "CN=RA",
            std::time::Duration::from_secs(86_400),
            SystemTime::now(),
        )
        .unwrap();
    let ca = ca.with_ra(ScepIdentity::new(ra.clone(), ra_key).unwrap());
    assert_eq!(ca.scep_identity().unwrap().certificate_der(), ra);
}

#[test]
fn unusable_keys_are_refused_precisely() {
    assert_eq!(
        PrivateKey::from_pem(include_str!("fixtures/keys/rsa-encrypted.pem")).unwrap_err(),
        KeyError::Encrypted
    );
    assert_eq!(
        PrivateKey::from_pem(include_str!("fixtures/keys/rsa-legacy-encrypted.pem")).unwrap_err(),
        KeyError::Encrypted
    );
    assert_eq!(
        PrivateKey::from_pem(include_str!("fixtures/keys/ed25519.pem")).unwrap_err(),
        KeyError::Unsupported
    );
    assert_eq!(PrivateKey::from_pem(RSA_CA).unwrap_err(), KeyError::NoKey);
    // A CA certificate with somebody else's key.
    assert_eq!(
        FileCa::from_pem(&format!("{RSA_CA}{EC_SEC1}"), IssueOptions::default()).unwrap_err(),
        ConfigError::KeyMismatch
    );
    assert_eq!(
        FileCa::from_pem(RSA_PKCS1, IssueOptions::default()).unwrap_err(),
        ConfigError::NoCertificate
    );
    assert_eq!(
        FileCa::from_pem(
            &format!("{RSA_CA}{RSA_PKCS1}"),
            IssueOptions::default().validity(std::time::Duration::ZERO)
        )
        .unwrap_err(),
        ConfigError::Validity
    );
}

#[test]
fn validity_is_what_the_options_say() {
    let days = |d: u64| std::time::Duration::from_secs(d * 86_400);
    let ca = FileCa::from_pem(
        &format!("{RSA_CA}{RSA_PKCS1}"),
        IssueOptions::default().validity(days(30)),
    )
    .unwrap();
    let cert = issue_with(&ca);
    let v = cert.tbs_certificate().validity();
    let lifetime = v
        .not_after
        .to_system_time()
        .duration_since(v.not_before.to_system_time())
        .unwrap();
    // 30 days, plus the 10-minute backdating.
    assert_eq!(lifetime.as_secs(), days(30).as_secs() + 600);
    assert!(cert.to_der().is_ok());
}
