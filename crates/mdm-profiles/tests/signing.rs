//! Signed profiles: RSA and ECDSA signers with an intermediate in the chain; our verifier and
//! OpenSSL's `cms -verify` both accept them, and refuse tampering.

use std::process::Command;
use std::time::SystemTime;

use mdm_profiles::security_root::SecurityRoot;
use mdm_profiles::{
    CaPool, Payload, Profile, ProfileSigner, SignatureError, SigningIdentity, is_unsigned,
    read_any_profile, verify_signed_profile,
};
use mdm_signature::test_pki::{KeyKind, LeafRequest, LeafUsage, TestCa};

fn profile() -> Profile {
    let mut profile = Profile::new("com.example.signed");
    profile.display_name = Some("Signed".into());
    profile.payloads.push(Payload::new(
        "com.example.signed.root",
        SecurityRoot::new(b"certificate".to_vec()),
    ));
    profile
}

/// A root, an intermediate, and a signer issued by the intermediate, all of `kind`.
fn pki(kind: KeyKind) -> (TestCa, TestCa, SigningIdentity) {
    let root = TestCa::generate(kind, "Example Root").unwrap();
    let intermediate = root.intermediate(kind, "Example Intermediate").unwrap();
    // No extended key usage: OpenSSL's S/MIME signing check and CaPool both accept it.
    let leaf = intermediate
        .issue(&LeafRequest::new(kind, "Profile Signer").usage(LeafUsage::NoExtendedKeyUsage))
        .unwrap();
    (root, intermediate, leaf)
}

fn openssl_verifies(signed: &[u8], root_pem: &str) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signed.der"), signed).unwrap();
    std::fs::write(dir.path().join("root.pem"), root_pem).unwrap();
    let status = Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            "signed.der",
            "-CAfile",
            "root.pem",
            "-out",
            "content",
        ])
        .status()
        .expect("openssl is installed");
    status
        .success()
        .then(|| std::fs::read(dir.path().join("content")).unwrap())
}

#[test]
fn rsa_and_ecdsa_signed_profiles_verify_here_and_with_openssl() {
    for kind in [KeyKind::Rsa2048, KeyKind::P256, KeyKind::P384] {
        let (root, intermediate, leaf) = pki(kind);
        let signer = if kind == KeyKind::P384 {
            // mdm-scep's key reader takes RSA and P-256; a P-384 identity is built directly.
            ProfileSigner::new(leaf, vec![intermediate.certificate().der().to_vec()])
        } else {
            let pem = format!(
                "{}{}{}",
                leaf.cert_pem(),
                intermediate.cert_pem(),
                leaf.key_pem()
            );
            ProfileSigner::from_pem(&pem).unwrap()
        };
        let profile = profile();
        let signed = signer.sign(&profile).unwrap();
        assert!(!is_unsigned(&signed));

        let pool = CaPool::from_pem(root.cert_pem())
            .unwrap()
            .with_intermediates_pem(intermediate.cert_pem())
            .unwrap();
        let verified = verify_signed_profile(&signed, Some(&pool), SystemTime::now())
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(verified.profile, profile);
        assert_eq!(verified.content, profile.to_xml());
        assert_eq!(verified.signer.der(), signer.certificate().der());
        assert_eq!(read_any_profile(&signed).unwrap(), profile);

        // OpenSSL builds the chain from the embedded intermediate to the root it is given.
        let content = openssl_verifies(&signed, &root.cert_pem())
            .unwrap_or_else(|| panic!("{kind:?}: openssl cms -verify refused the profile"));
        assert_eq!(content, profile.to_xml());

        // Another root: the signature holds, the signer is not trusted.
        let other = TestCa::generate(kind, "Other Root").unwrap();
        let pool = CaPool::from_pem(other.cert_pem()).unwrap();
        assert!(matches!(
            verify_signed_profile(&signed, Some(&pool), SystemTime::now()),
            Err(SignatureError::Untrusted(_))
        ));

        // One byte of the content changed: refused here and by OpenSSL.
        let at = signed
            .windows(b"<string>Signed<".len())
            .position(|w| w == b"<string>Signed<")
            .unwrap();
        let mut tampered = signed.clone();
        tampered[at + 8] ^= 1;
        assert!(matches!(
            verify_signed_profile(&tampered, None, SystemTime::now()),
            Err(SignatureError::Verify(_))
        ));
        assert!(openssl_verifies(&tampered, &root.cert_pem()).is_none());
    }
}

#[test]
fn signed_install_profile_commands_carry_the_cms() {
    let (_, intermediate, leaf) = pki(KeyKind::P256);
    let signer = ProfileSigner::new(leaf, vec![intermediate.certificate().der().to_vec()]);
    let command = signer.install_command(&profile()).unwrap();
    let verified = verify_signed_profile(&command.payload, None, SystemTime::now()).unwrap();
    assert_eq!(verified.profile, profile_without_uuids(&verified.profile));
    assert_eq!(profile().install_command().payload[..5], *b"<?xml");
}

/// Profiles carry random UUIDs; this one is compared by everything else.
fn profile_without_uuids(read: &Profile) -> Profile {
    let mut expected = profile();
    expected.uuid = read.uuid.clone();
    expected.payloads[0].uuid = read.payloads[0].uuid.clone();
    expected
}

#[test]
fn hostile_signed_profiles_are_errors() {
    for bytes in [&b""[..], b"\x30\x00", b"\x30\x80\x00\x00", &[0x30; 64]] {
        assert!(verify_signed_profile(bytes, None, SystemTime::now()).is_err());
    }
    // A detached signature (an Mdm-Signature) is not a signed profile.
    let (_, _, leaf) = pki(KeyKind::P256);
    let detached = leaf.sign(b"body", &Default::default()).unwrap();
    assert!(matches!(
        verify_signed_profile(&detached, None, SystemTime::now()),
        Err(SignatureError::Verify(mdm_signature::Error::Asn1 { .. }))
            | Err(SignatureError::Verify(mdm_signature::Error::NoContent))
    ));
}
