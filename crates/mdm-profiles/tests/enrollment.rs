//! Enrollment profiles: built, signed, read back as a device reads them, and refused when wrong.

use std::time::SystemTime;

use mdm_profiles::mdm::ServerCapabilitiesItems;
use mdm_profiles::security_acme::{KeyType, SecurityAcme};
use mdm_profiles::{
    ALL_ACCESS_RIGHTS, AnyPayload, EnrollmentError, EnrollmentProfileBuilder, IdentityPayload,
    Profile, ProfileSigner, UnknownKeys, verify_signed_profile,
};
use mdm_signature::test_pki::{KeyKind, LeafRequest, LeafUsage, TestCa};

const TOPIC: &str = "com.apple.mgmt.External.2f8b5e8a-5f0c-4bd7-9e61-52a0f3b2d9a1";

fn builder() -> EnrollmentProfileBuilder {
    EnrollmentProfileBuilder::new(
        "com.example.enroll",
        "https://mdm.example.com/mdm",
        TOPIC,
        IdentityPayload::scep("https://mdm.example.com/scep", "s3cret", "MDM identity"),
    )
}

#[test]
fn a_scep_enrollment_profile_has_ca_identity_and_mdm_payloads_in_order() {
    let profile = builder()
        .check_in_url("https://mdm.example.com/checkin")
        .ca_certificate(b"CA DER".to_vec())
        .organization("Example")
        .build()
        .unwrap();
    let types: Vec<&str> = profile.payloads.iter().map(|p| p.payload_type()).collect();
    assert_eq!(
        types,
        [
            "com.apple.security.root",
            "com.apple.security.scep",
            "com.apple.mdm"
        ]
    );
    // Read back strictly from the .mobileconfig, as a device would.
    let read =
        Profile::from_bytes_with(&profile.to_xml(), &Default::default(), UnknownKeys::Reject)
            .unwrap();
    assert_eq!(read, profile);
    let enrollment = read.enrollment().unwrap();
    assert_eq!(enrollment.mdm.topic, TOPIC);
    assert_eq!(
        enrollment.mdm.identity_certificate_uuid,
        enrollment.identity.uuid
    );
    assert_eq!(enrollment.mdm.sign_message, Some(true));
    assert_eq!(enrollment.mdm.access_rights, Some(ALL_ACCESS_RIGHTS));
    assert_eq!(enrollment.mdm.check_out_when_removed, Some(true));
    assert_eq!(
        enrollment.mdm.check_in_url.as_deref(),
        Some("https://mdm.example.com/checkin")
    );
    let scep = enrollment.scep().unwrap();
    assert_eq!(scep.url, "https://mdm.example.com/scep");
    assert_eq!(scep.challenge.as_deref(), Some("s3cret"));
    assert_eq!(scep.keysize, Some(2048));
    assert!(enrollment.acme().is_none());
    assert_eq!(
        enrollment.ca_certificates().collect::<Vec<_>>(),
        [b"CA DER"]
    );

    // The keys Apple documents, spelled as Apple spells them.
    let xml = String::from_utf8(profile.to_xml()).unwrap();
    for key in [
        "<key>ServerURL</key>",
        "<key>CheckInURL</key>",
        "<key>IdentityCertificateUUID</key>",
        "<key>ServerCapabilities</key>",
        "<string>com.apple.mdm.per-user-connections</string>",
        "<key>Key Type</key>",
        "<key>Key Usage</key>",
        "<key>Challenge</key>",
    ] {
        assert!(xml.contains(key), "{key}");
    }
}

#[test]
fn an_acme_enrollment_profile() {
    let acme = SecurityAcme::new(
        "https://acme.example.com/directory".into(),
        "client-id".into(),
        384,
        KeyType::EcsecPrimeRandom,
        true,
        vec![vec![vec!["CN".into(), "device".into()]]],
    );
    let profile = EnrollmentProfileBuilder::new(
        "com.example.enroll",
        "https://mdm.example.com/mdm",
        TOPIC,
        IdentityPayload::Acme(acme.clone()),
    )
    .server_capabilities(vec![ServerCapabilitiesItems::ComAppleMdmBootstraptoken])
    .build()
    .unwrap();
    let read = Profile::from_bytes(&profile.to_xml()).unwrap();
    let enrollment = read.enrollment().unwrap();
    assert_eq!(enrollment.acme(), Some(&acme));
    assert!(enrollment.scep().is_none());
}

#[test]
fn wrong_settings_are_refused_precisely() {
    let wrong_topic = EnrollmentProfileBuilder::new(
        "id",
        "https://mdm.example.com/mdm",
        "com.example.topic",
        IdentityPayload::scep("https://x/scep", "c", "n"),
    );
    assert_eq!(
        wrong_topic.build().unwrap_err(),
        EnrollmentError::Topic("com.example.topic".into())
    );
    assert!(matches!(
        builder().check_in_url("ftp://x").build(),
        Err(EnrollmentError::Url {
            key: "CheckInURL",
            ..
        })
    ));
    for rights in [0, 2, 128, 8192, -1] {
        assert_eq!(
            builder().access_rights(rights).build().unwrap_err(),
            EnrollmentError::AccessRights(rights)
        );
    }
    assert_eq!(
        Profile::new("x").enrollment().unwrap_err(),
        EnrollmentError::NoMdmPayload
    );
    let mut orphan = builder().build().unwrap();
    orphan
        .payloads
        .retain(|p| !matches!(p.content, AnyPayload::SecurityScep(_)));
    assert!(matches!(
        orphan.enrollment(),
        Err(EnrollmentError::NoIdentityPayload(_))
    ));
}

#[test]
fn a_signed_enrollment_profile_verifies() {
    let root = TestCa::generate(KeyKind::Rsa2048, "Root").unwrap();
    let leaf = root
        .issue(&LeafRequest::new(KeyKind::Rsa2048, "Signer").usage(LeafUsage::NoExtendedKeyUsage))
        .unwrap();
    let signer = ProfileSigner::new(leaf, Vec::new());
    let profile = builder().build().unwrap();
    let signed = signer.sign(&profile).unwrap();
    let verified = verify_signed_profile(&signed, None, SystemTime::now()).unwrap();
    assert_eq!(verified.profile, profile);
}

/// Writes the fuzz target `profile_parse`'s seeds (`fuzz/seeds/profile_parse`).
#[test]
#[ignore = "writes files: run by hand to remake the fuzz seeds"]
fn write_fuzz_seeds() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/profile_parse");
    std::fs::create_dir_all(&dir).unwrap();
    let profile = builder()
        .ca_certificate(b"CA DER".to_vec())
        .build()
        .unwrap();
    std::fs::write(dir.join("enrollment.mobileconfig"), profile.to_xml()).unwrap();
    for (name, kind) in [("rsa", KeyKind::Rsa2048), ("p256", KeyKind::P256)] {
        let root = TestCa::generate(kind, "Root").unwrap();
        let leaf = root
            .issue(&LeafRequest::new(kind, "Signer").usage(LeafUsage::NoExtendedKeyUsage))
            .unwrap();
        let signed = ProfileSigner::new(leaf, vec![root.certificate().der().to_vec()])
            .sign(&profile)
            .unwrap();
        std::fs::write(dir.join(format!("enrollment-signed-{name}.der")), signed).unwrap();
    }
}
