//! Enrollment with nothing else: the reference server issues identities over SCEP and serves a
//! signed enrollment profile, and simulated devices enroll through both as real devices do.

use std::collections::HashMap;
use std::process::Command;
use std::time::SystemTime;

use mdm_profiles::{CaPool, verify_signed_profile};
use mdm_scep::KeyAlgorithm;
use mdm_sim::{Channel, Device, DeviceKind, DriverError, EnrollError, MdmClient, MdmPayload};
use reqwest::Method;
use rootstock_integration_tests::harness::*;

/// `openssl cms -verify` of a signed profile against `ca_file`: the content it gives.
fn openssl_verify(signed: &[u8], ca_file: &std::path::Path) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("profile.der");
    let output = dir.path().join("profile.xml");
    std::fs::write(&input, signed).unwrap();
    let status = Command::new("openssl")
        .args(["cms", "-verify", "-inform", "DER", "-in"])
        .arg(&input)
        .arg("-CAfile")
        .arg(ca_file)
        .arg("-out")
        .arg(&output)
        .status()
        .expect("openssl is installed");
    assert!(status.success(), "openssl cms -verify refused the profile");
    std::fs::read(output).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_devices_enroll_through_the_profile_and_scep() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = vec![
        "--dev".to_owned(),
        "--data-dir".to_owned(),
        data.to_string_lossy().into_owned(),
        "--listen=127.0.0.1:0".to_owned(),
        "-storage".to_owned(),
        "inmem".to_owned(),
    ];
    let server = Running::start(args, HashMap::new()).await;
    let http = http_client();

    // The profile: signed by a certificate the development CA issued, pointing at this server.
    let response = http
        .get(format!("{}/enroll", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-apple-aspen-config"
    );
    let signed = response.bytes().await.unwrap();
    let ca_pem = std::fs::read_to_string(data.join("ca.pem")).unwrap();
    let pool = CaPool::from_pem(&ca_pem).unwrap();
    let verified = verify_signed_profile(&signed, Some(&pool), SystemTime::now()).unwrap();
    assert_eq!(
        openssl_verify(&signed, &data.join("ca.pem")),
        verified.content
    );
    let enrollment = verified.profile.enrollment().unwrap();
    assert_eq!(enrollment.mdm.server_url, format!("{}/mdm", server.base));
    assert!(enrollment.mdm.topic.starts_with("com.apple.mgmt."));
    let scep = enrollment.scep().unwrap();
    assert_eq!(scep.url, format!("{}/scep", server.base));

    // Devices: the profile, SCEP with its challenge, Authenticate and TokenUpdate.
    let driver = mdm_sim::HttpDriver::new().unwrap();
    for (seed, kind) in [(1, DeviceKind::Ios), (2, DeviceKind::MacOs)] {
        let device = Device::generate(kind, seed);
        let mut client = driver
            .enroll_with_profile(&format!("{}/enroll", server.base), device)
            .await
            .unwrap();
        driver.run(&mut client).await.unwrap();
        for channel in client.device().channels().collect::<Vec<_>>() {
            assert!(client.is_enrolled(channel), "{kind:?} {channel:?}");
        }
        // The identity came from SCEP, issued by the development CA.
        let identity = client.identity().unwrap();
        assert_ne!(identity.certificate().der(), pool_cert_der(&ca_pem));
        assert!(
            pool.verify_cert_now(identity.certificate()),
            "the issued identity chains to the CA"
        );
    }

    // A wrong challenge is refused with a SCEP failure.
    let error = driver
        .scep_identity(
            &scep.url,
            Some("wrong"),
            &Device::generate(DeviceKind::Ios, 3),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, DriverError::Enroll(EnrollError::Refused(_))),
        "{error:?}"
    );
    server.stop().await;
}

fn pool_cert_der(pem: &str) -> Vec<u8> {
    mdm_proto::pem::certificates(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
}

trait VerifyNow {
    fn verify_cert_now(&self, cert: &mdm_signature::IdentityCertificate) -> bool;
}

impl VerifyNow for CaPool {
    fn verify_cert_now(&self, cert: &mdm_signature::IdentityCertificate) -> bool {
        use mdm_signature::CertVerifier;
        self.verify_cert(cert, SystemTime::now()).is_ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scep_ca_and_a_signer_serve_enrollment_with_the_stored_push_topic() {
    let files = tempfile::tempdir().unwrap();
    // An RSA SCEP CA of its own, beside the harness's device CA (-ca).
    let scep_ca = files.path().join("scep-ca.pem");
    std::fs::write(
        &scep_ca,
        mdm_scep::client::test_ca_pem(KeyAlgorithm::Rsa2048, "CN=SCEP CA").unwrap(),
    )
    .unwrap();
    let signer_ca = mdm_sim::TestCa::generate(mdm_sim::KeyKind::Rsa2048, "Signer CA").unwrap();
    let intermediate = signer_ca
        .intermediate(mdm_sim::KeyKind::Rsa2048, "Signer Intermediate")
        .unwrap();
    let leaf = intermediate
        .issue(
            &mdm_signature::test_pki::LeafRequest::new(mdm_sim::KeyKind::Rsa2048, "Profile signer")
                .usage(mdm_signature::test_pki::LeafUsage::NoExtendedKeyUsage),
        )
        .unwrap();
    let signer = files.path().join("signer.pem");
    std::fs::write(
        &signer,
        format!(
            "{}{}{}",
            leaf.cert_pem(),
            intermediate.cert_pem(),
            leaf.key_pem()
        ),
    )
    .unwrap();
    let signer_root = files.path().join("signer-root.pem");
    std::fs::write(&signer_root, signer_ca.cert_pem()).unwrap();

    let h = Harness::start(&[
        "-scep-ca",
        &scep_ca.to_string_lossy(),
        "-scep-challenge",
        "s3cret",
        "-enroll-signer",
        &signer.to_string_lossy(),
        "-server-url",
        "https://mdm.example.com/",
        "-checkin",
    ])
    .await;

    // No push certificate yet: no topic for the profile.
    let response = h.http.get(h.url("/enroll")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(h.upload_push_cert().await.status(), 200);
    let response = h.http.get(h.url("/enroll")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let signed = response.bytes().await.unwrap();
    let content = openssl_verify(&signed, &signer_root);
    let verified = verify_signed_profile(&signed, None, SystemTime::now()).unwrap();
    assert_eq!(content, verified.content);
    let enrollment = verified.profile.enrollment().unwrap();
    assert_eq!(enrollment.mdm.topic, TOPIC);
    assert_eq!(enrollment.mdm.server_url, "https://mdm.example.com/mdm");
    assert_eq!(
        enrollment.mdm.check_in_url.as_deref(),
        Some("https://mdm.example.com/checkin")
    );
    let scep = enrollment.scep().unwrap();
    assert_eq!(scep.url, "https://mdm.example.com/scep");
    assert_eq!(scep.challenge.as_deref(), Some("s3cret"));

    // An identity from /scep is trusted at once, though -ca names another CA.
    let device = Device::generate(DeviceKind::Ios, 9);
    let identity = h
        .driver
        .scep_identity(&h.url("/scep"), Some("s3cret"), &device)
        .await
        .unwrap();
    {
        use mdm_signature::CertVerifier;
        let pool = CaPool::from_pem(std::fs::read(&scep_ca).unwrap()).unwrap();
        pool.verify_cert(identity.certificate(), SystemTime::now())
            .expect("the identity chains to the SCEP CA");
    }
    // -checkin: check-ins have their own endpoint.
    let payload = MdmPayload::new(h.url("/mdm"), TOPIC).with_check_in_url(h.url("/checkin"));
    let mut client = MdmClient::new(device, payload)
        .with_identity(identity, mdm_sim::CertPresentation::MdmSignature);
    h.enroll(&mut client).await;
    let response = h
        .api(Method::GET, &format!("/v1/pushcert?topic={TOPIC}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(client.is_enrolled(Channel::Device));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_topic_names_the_topic_until_a_push_certificate_is_uploaded() {
    let files = tempfile::tempdir().unwrap();
    let scep_ca = files.path().join("scep-ca.pem");
    std::fs::write(
        &scep_ca,
        mdm_scep::client::test_ca_pem(KeyAlgorithm::Rsa2048, "CN=SCEP CA").unwrap(),
    )
    .unwrap();
    // As after a restart: the store may hold a push certificate, but this process has seen no
    // upload, so only the flag can name the topic.
    let h = Harness::start(&[
        "-scep-ca",
        &scep_ca.to_string_lossy(),
        "-scep-challenge",
        "s3cret",
        "-server-url",
        "https://mdm.example.com",
        "-enroll-topic",
        "com.apple.mgmt.External.from-flag",
    ])
    .await;
    let topic_served = |body: &[u8]| {
        mdm_profiles::Profile::from_bytes(body)
            .unwrap()
            .enrollment()
            .unwrap()
            .mdm
            .topic
            .clone()
    };
    let response = h.http.get(h.url("/enroll")).send().await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "no signer: the profile is served unsigned"
    );
    assert_eq!(
        topic_served(&response.bytes().await.unwrap()),
        "com.apple.mgmt.External.from-flag"
    );
    // An uploaded certificate's topic wins over the flag.
    assert_eq!(h.upload_push_cert().await.status(), 200);
    let response = h.http.get(h.url("/enroll")).send().await.unwrap();
    assert_eq!(topic_served(&response.bytes().await.unwrap()), TOPIC);
    h.stop().await;
}
