//! Trust: the CA pool's path building and the verified-chain cache.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::{BODY, days, fixture, now, pki};
use mdm_signature::signer::{SignOptions, SigningIdentity};
use mdm_signature::test_pki::{self, KeyKind, LeafConstraints, LeafRequest, LeafUsage, TestCa};
use mdm_signature::{
    CaEvidence, CaPool, CachedVerifier, CertVerifier, ChainError, Error, IdentityCertificate,
    VerifiedChain, verify_mdm_signature,
};

fn pool(roots: &[&TestCa]) -> CaPool {
    let pem: String = roots.iter().map(|ca| ca.cert_pem()).collect();
    CaPool::from_pem(pem).unwrap()
}

fn untrusted(err: Error) -> ChainError {
    match err {
        Error::UntrustedChain(reason) => reason,
        other => panic!("expected UntrustedChain, got {other:?}"),
    }
}

#[test]
fn device_certificates_chain_to_their_root() {
    let p = pki();
    let pool = pool(&[&p.root]);
    for identity in [&p.rsa, &p.p256, &p.p384] {
        let cert = verify_mdm_signature(identity.mdm_signature(BODY).unwrap(), BODY).unwrap();
        let chain = pool.verify_cert(&cert, now()).unwrap();
        assert_eq!(chain.path.len(), 2);
        assert_eq!(chain.path[0], cert);
        assert_eq!(chain.path[1], *p.root.certificate());
        assert_eq!(
            chain.not_after,
            cert.not_after().min(p.root.certificate().not_after())
        );
        assert!(chain.holds_at(now()));
    }
}

#[test]
fn expired_and_not_yet_valid_certificates() {
    let p = pki();
    let pool = pool(&[&p.root]);
    let cert = p.rsa.certificate();
    let after = cert.not_after() + Duration::from_secs(1);
    assert_eq!(
        pool.verify_cert(cert, after).unwrap_err(),
        Error::CertificateExpired {
            not_after: cert.not_after()
        }
    );
    let before = cert.not_before() - Duration::from_secs(1);
    assert_eq!(
        pool.verify_cert(cert, before).unwrap_err(),
        Error::CertificateNotYetValid {
            not_before: cert.not_before()
        }
    );
    // An identity that expired last month: refused now, accepted at a time inside its validity
    // (and its CA's).
    let old_root = TestCa::generate_with_validity(
        KeyKind::P256,
        "Old Root",
        now() - days(500),
        now() + days(500),
    )
    .unwrap();
    let pool = crate::pool(&[&old_root]);
    let expired = old_root
        .issue(
            &LeafRequest::new(KeyKind::P256, "expired")
                .validity(now() - days(400), now() - days(30)),
        )
        .unwrap();
    let cert = verify_mdm_signature(expired.mdm_signature(BODY).unwrap(), BODY).unwrap();
    assert!(matches!(
        pool.verify_cert(&cert, now()),
        Err(Error::CertificateExpired { .. })
    ));
    pool.verify_cert(&cert, now() - days(100)).unwrap();
}

#[test]
fn untrusted_root() {
    let p = pki();
    let err = pool(&[&p.other_root])
        .verify_cert(p.rsa.certificate(), now())
        .unwrap_err();
    match untrusted(err) {
        ChainError::UnknownIssuer { issuer, .. } => assert!(issuer.contains("Test Device Root")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        CaPool::new().verify_cert(p.rsa.certificate(), now()),
        Err(Error::UntrustedChain(_))
    ));
}

#[test]
fn a_root_with_the_same_name_but_another_key_is_not_the_issuer() {
    let p = pki();
    let impostor = TestCa::generate(KeyKind::P256, "Test Device Root").unwrap();
    let reason = untrusted(
        pool(&[&impostor])
            .verify_cert(p.rsa.certificate(), now())
            .unwrap_err(),
    );
    assert!(
        matches!(reason, ChainError::BadSignature { .. }),
        "{reason}"
    );
}

#[test]
fn intermediate_given_only_inside_the_cms_is_not_trusted() {
    let p = pki();
    let device = &p.via_intermediate;
    let opts = SignOptions {
        extra_certificates: vec![p.intermediate.certificate().der().to_vec()],
        ..SignOptions::default()
    };
    let cert = verify_mdm_signature(device.mdm_signature_with(BODY, &opts).unwrap(), BODY).unwrap();
    assert_eq!(cert, *device.certificate());
    let reason = untrusted(pool(&[&p.root]).verify_cert(&cert, now()).unwrap_err());
    match reason {
        ChainError::UnknownIssuer { issuer, .. } => {
            assert!(issuer.contains("Test Device Intermediate"))
        }
        other => panic!("{other:?}"),
    }

    // Configured as an intermediate, the same certificate completes the path.
    let with_intermediate = pool(&[&p.root])
        .with_intermediates_pem(p.intermediate.cert_pem())
        .unwrap();
    let chain = with_intermediate.verify_cert(&cert, now()).unwrap();
    assert_eq!(chain.path.len(), 3);
    assert_eq!(chain.path[1], *p.intermediate.certificate());

    // An intermediate alone, without its root, is not a trust anchor.
    let only_intermediate = CaPool::new()
        .with_intermediates_pem(p.intermediate.cert_pem())
        .unwrap();
    assert!(matches!(
        only_intermediate.verify_cert(&cert, now()),
        Err(Error::UntrustedChain(_))
    ));
}

#[test]
fn sha1_signed_chain_verifies() {
    // Root and device certificate signed with sha1WithRSAEncryption (made by OpenSSL, as Apple's
    // older device CAs sign), and ECDSA devices under the same root.
    let pool = CaPool::from_pem(fixture("openssl/sha1-root.pem")).unwrap();
    for leaf in [
        "openssl/sha1-leaf.pem",
        "openssl/p256-leaf.pem",
        "openssl/p384-leaf.pem",
    ] {
        let cert = IdentityCertificate::from_pem(fixture(leaf)).unwrap();
        let chain = pool
            .verify_cert(&cert, now())
            .unwrap_or_else(|e| panic!("{leaf}: {e}"));
        assert_eq!(chain.path.len(), 2);
    }
    // Through a signature made with the SHA-1 device identity.
    let identity = SigningIdentity::from_pem(
        fixture("openssl/sha1-leaf.pem"),
        fixture("openssl/sha1-leaf.key"),
    )
    .unwrap();
    let cert = verify_mdm_signature(identity.mdm_signature(BODY).unwrap(), BODY).unwrap();
    pool.verify_cert(&cert, now()).unwrap();
}

#[test]
fn extended_key_usage_must_allow_client_auth() {
    let p = pki();
    let pool = pool(&[&p.root]);
    let server = p
        .root
        .issue(&LeafRequest::new(KeyKind::P256, "server").usage(LeafUsage::ServerAuthOnly))
        .unwrap();
    assert_eq!(
        pool.verify_cert(server.certificate(), now()).unwrap_err(),
        Error::NotClientAuth
    );
    let any = p
        .root
        .issue(&LeafRequest::new(KeyKind::P256, "no-eku").usage(LeafUsage::NoExtendedKeyUsage))
        .unwrap();
    pool.verify_cert(any.certificate(), now()).unwrap();
}

#[test]
fn an_issuer_that_is_not_a_ca_is_refused() {
    let p = pki();
    // Use a device identity as if it were a CA.
    let fake_ca = TestCa::from_pem(&p.p256.cert_pem(), &p.p256.key_pem()).unwrap();
    let victim = fake_ca
        .issue(&LeafRequest::new(KeyKind::P256, "victim"))
        .unwrap();
    let pool = pool(&[&p.root])
        .with_intermediates_pem(p.p256.cert_pem())
        .unwrap();
    let reason = untrusted(pool.verify_cert(victim.certificate(), now()).unwrap_err());
    assert!(matches!(reason, ChainError::NotCa { .. }), "{reason}");
}

#[test]
fn an_expired_issuer_breaks_the_chain() {
    let short_root = TestCa::generate_with_validity(
        KeyKind::P256,
        "Short-lived Root",
        now() - days(1),
        now() + days(1),
    )
    .unwrap();
    let device = short_root
        .issue(&LeafRequest::new(KeyKind::P256, "outlives-its-root"))
        .unwrap();
    let pool = pool(&[&short_root]);
    pool.verify_cert(device.certificate(), now()).unwrap();
    let reason = untrusted(
        pool.verify_cert(device.certificate(), now() + days(2))
            .unwrap_err(),
    );
    assert!(
        matches!(reason, ChainError::IssuerExpired { .. }),
        "{reason}"
    );
}

#[test]
fn a_ca_loaded_back_from_pem_issues_verifiable_devices() {
    let p = pki();
    let reloaded = TestCa::from_pem(&p.intermediate.cert_pem(), &p.intermediate.key_pem()).unwrap();
    let device = reloaded
        .issue(&LeafRequest::new(KeyKind::Rsa2048, "reloaded"))
        .unwrap();
    let pool = pool(&[&p.root])
        .with_intermediates_pem(p.intermediate.cert_pem())
        .unwrap();
    pool.verify_cert(device.certificate(), now()).unwrap();
}

#[test]
fn a_pinned_self_signed_certificate_is_its_own_root() {
    let pinned = test_pki::self_signed(&LeafRequest::new(KeyKind::P256, "pinned")).unwrap();
    let pool = CaPool::from_pem(pinned.cert_pem()).unwrap();
    let cert = verify_mdm_signature(pinned.mdm_signature(BODY).unwrap(), BODY).unwrap();
    let chain = pool.verify_cert(&cert, now()).unwrap();
    assert_eq!(chain.path.len(), 1);
    // A pinned CA certificate is not: a CA is never a device identity.
    let ca = &pki().other_root;
    assert_eq!(
        crate::pool(&[ca])
            .verify_cert(ca.certificate(), now())
            .unwrap_err(),
        Error::CaCertificate(CaEvidence::BasicConstraints)
    );
}

/// The certificate `ca` signs requests with when its own key is used as a device's.
fn signing_as(ca: &TestCa) -> IdentityCertificate {
    let identity = SigningIdentity::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
    let cert = verify_mdm_signature(identity.mdm_signature(BODY).unwrap(), BODY).unwrap();
    assert_eq!(cert, *ca.certificate());
    cert
}

#[test]
fn the_root_itself_is_not_a_device_identity() {
    let p = pki();
    let err = pool(&[&p.root])
        .verify_cert(&signing_as(&p.root), now())
        .unwrap_err();
    assert_eq!(err, Error::CaCertificate(CaEvidence::BasicConstraints));
    assert_eq!(
        err.to_string(),
        "a CA certificate is not a device identity: basicConstraints asserts cA"
    );
    // Also when the root is configured as an intermediate as well, or only as one.
    let both = pool(&[&p.root])
        .with_intermediates_pem(p.root.cert_pem())
        .unwrap();
    assert_eq!(
        both.verify_cert(p.root.certificate(), now()).unwrap_err(),
        Error::CaCertificate(CaEvidence::BasicConstraints)
    );
}

#[test]
fn an_intermediate_itself_is_not_a_device_identity() {
    let p = pki();
    let cert = signing_as(&p.intermediate);
    // Configured as an intermediate, it has a valid path to the root, and is still refused.
    let configured = pool(&[&p.root])
        .with_intermediates_pem(p.intermediate.cert_pem())
        .unwrap();
    assert_eq!(
        configured.verify_cert(&cert, now()).unwrap_err(),
        Error::CaCertificate(CaEvidence::BasicConstraints)
    );
    // Not configured, it is issued by the root directly: refused for being a CA, not for the path.
    assert_eq!(
        pool(&[&p.root]).verify_cert(&cert, now()).unwrap_err(),
        Error::CaCertificate(CaEvidence::BasicConstraints)
    );
    // The devices it issued are fine.
    configured
        .verify_cert(p.via_intermediate.certificate(), now())
        .unwrap();
}

#[test]
fn a_ca_certificate_issued_by_the_root_as_a_device_is_refused() {
    let p = pki();
    let pool = pool(&[&p.root]);
    // cA true, with the clientAuth extended key usage a device identity has.
    let ca_leaf = p
        .root
        .issue(&LeafRequest::new(KeyKind::P256, "ca-leaf").constraints(LeafConstraints::Ca))
        .unwrap();
    let cert = verify_mdm_signature(ca_leaf.mdm_signature(BODY).unwrap(), BODY).unwrap();
    assert_eq!(
        pool.verify_cert(&cert, now()).unwrap_err(),
        Error::CaCertificate(CaEvidence::BasicConstraints)
    );
    // And through a proxy header: the same verifier, the same refusal.
    let from_header = mdm_signature::certificate_from_header(format!(
        ":{}:",
        common::b64(ca_leaf.certificate().der())
    ))
    .unwrap();
    assert_eq!(
        pool.verify_cert(&from_header, now()).unwrap_err(),
        Error::CaCertificate(CaEvidence::BasicConstraints)
    );
    // A CachedVerifier in front changes nothing (and keeps no failure).
    let cached = CachedVerifier::new(crate::pool(&[&p.root]), 10);
    assert!(matches!(
        cached.verify_cert(&cert, now()),
        Err(Error::CaCertificate(_))
    ));
    assert!(cached.is_empty());
}

#[test]
fn key_cert_sign_without_basic_constraints_is_refused() {
    let p = pki();
    let leaf = p
        .root
        .issue(
            &LeafRequest::new(KeyKind::P256, "cert-signer")
                .constraints(LeafConstraints::KeyCertSignWithoutBasicConstraints),
        )
        .unwrap();
    assert_eq!(
        leaf.certificate().check_end_entity().unwrap_err(),
        Error::CaCertificate(CaEvidence::KeyCertSign)
    );
    assert_eq!(
        pool(&[&p.root])
            .verify_cert(leaf.certificate(), now())
            .unwrap_err(),
        Error::CaCertificate(CaEvidence::KeyCertSign)
    );
}

#[test]
fn device_certificates_are_end_entities() {
    let p = pki();
    for identity in [&p.rsa, &p.p256, &p.p384, &p.via_intermediate] {
        identity.certificate().check_end_entity().unwrap();
    }
    // No basicConstraints at all (the captured device certificate: keyUsage digitalSignature,
    // extendedKeyUsage clientAuth only) is a device certificate.
    let captured = verify_mdm_signature(
        common::fixture_text("nanomdm-device-2.sig"),
        &fixture("nanomdm-device-2.plist"),
    )
    .unwrap();
    captured.check_end_entity().unwrap();
    // basicConstraints cA false, from OpenSSL.
    let openssl = IdentityCertificate::from_pem(fixture("openssl/sha1-leaf.pem")).unwrap();
    openssl.check_end_entity().unwrap();
}

#[test]
fn a_version_1_root_is_a_ca_by_configuration() {
    // A v1 certificate carries no extensions, so it cannot say it is a CA; held by the pool as
    // a root, it is one.
    let pool = CaPool::from_pem(fixture("openssl/v1-root.pem")).unwrap();
    let root = IdentityCertificate::from_pem(fixture("openssl/v1-root.pem")).unwrap();
    root.check_end_entity().unwrap();
    assert_eq!(
        pool.verify_cert(&root, now()).unwrap_err(),
        Error::CaCertificate(CaEvidence::PoolCertificate)
    );
    let as_intermediate = CaPool::new()
        .with_intermediates_pem(fixture("openssl/v1-root.pem"))
        .unwrap();
    assert_eq!(
        as_intermediate.verify_cert(&root, now()).unwrap_err(),
        Error::CaCertificate(CaEvidence::PoolCertificate)
    );
    // The devices it issued still chain to it.
    let device = IdentityCertificate::from_pem(fixture("openssl/v1-root-leaf.pem")).unwrap();
    assert_eq!(pool.verify_cert(&device, now()).unwrap().path.len(), 2);
}

#[test]
fn pem_input_errors() {
    assert_eq!(
        CaPool::from_pem("no certificates").unwrap_err(),
        Error::NoCertificate
    );
    assert!(matches!(
        CaPool::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        Err(Error::Certificate(_))
    ));
}

/// Counts the calls that reach the real verifier.
struct Counting {
    inner: CaPool,
    calls: AtomicUsize,
}

impl CertVerifier for Counting {
    fn verify_cert(
        &self,
        cert: &IdentityCertificate,
        now: SystemTime,
    ) -> Result<VerifiedChain, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.verify_cert(cert, now)
    }
}

fn counting(roots: &[&TestCa]) -> Counting {
    Counting {
        inner: pool(roots),
        calls: AtomicUsize::new(0),
    }
}

#[test]
fn the_cache_verifies_a_chain_once() {
    let p = pki();
    let cached = CachedVerifier::new(counting(&[&p.root]), 100);
    let t = now();
    for i in 0..5 {
        let cert = verify_mdm_signature(p.rsa.mdm_signature(BODY).unwrap(), BODY).unwrap();
        cached
            .verify_cert(&cert, t + Duration::from_secs(60 * i))
            .unwrap();
    }
    assert_eq!(cached.inner().calls.load(Ordering::SeqCst), 1);
    cached.verify_cert(p.p256.certificate(), t).unwrap();
    assert_eq!(cached.inner().calls.load(Ordering::SeqCst), 2);
    assert_eq!(cached.len(), 2);
    cached.clear();
    cached.verify_cert(p.p256.certificate(), t).unwrap();
    assert_eq!(cached.inner().calls.load(Ordering::SeqCst), 3);
}

#[test]
fn cache_entries_never_outlive_the_certificate_or_the_max_age() {
    let p = pki();
    let cert = p.rsa.certificate();
    let cached = CachedVerifier::new(counting(&[&p.root]), 100).max_age(Duration::from_secs(600));
    let t = now();
    cached.verify_cert(cert, t).unwrap();
    cached
        .verify_cert(cert, t + Duration::from_secs(599))
        .unwrap();
    assert_eq!(cached.inner().calls.load(Ordering::SeqCst), 1);
    // Past the max age: verified again.
    cached
        .verify_cert(cert, t + Duration::from_secs(601))
        .unwrap();
    assert_eq!(cached.inner().calls.load(Ordering::SeqCst), 2);

    // A long max age still stops at the certificate's notAfter: the expiry is reported, not
    // served from the cache.
    let cached = CachedVerifier::new(counting(&[&p.root]), 100).max_age(days(10_000));
    cached.verify_cert(cert, t).unwrap();
    let err = cached
        .verify_cert(cert, cert.not_after() + Duration::from_secs(1))
        .unwrap_err();
    assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
    // And a time before the chain's validity is not answered from the cache either.
    let err = cached
        .verify_cert(cert, cert.not_before() - Duration::from_secs(1))
        .unwrap_err();
    assert!(matches!(err, Error::CertificateNotYetValid { .. }), "{err}");
}

#[test]
fn the_cache_is_bounded_and_keeps_no_failures() {
    let p = pki();
    let cached = CachedVerifier::new(counting(&[&p.root]), 4);
    let devices: Vec<_> = (0..6)
        .map(|i| {
            p.root
                .issue(&LeafRequest::new(KeyKind::P256, format!("d{i}")))
                .unwrap()
        })
        .collect();
    for d in &devices {
        cached.verify_cert(d.certificate(), now()).unwrap();
        assert!(cached.len() <= 4, "{}", cached.len());
    }
    // The most recent device is still cached.
    let calls = cached.inner().calls.load(Ordering::SeqCst);
    cached.verify_cert(devices[5].certificate(), now()).unwrap();
    assert_eq!(cached.inner().calls.load(Ordering::SeqCst), calls);

    let stranger = CachedVerifier::new(counting(&[&p.other_root]), 4);
    for _ in 0..2 {
        assert!(stranger.verify_cert(p.rsa.certificate(), now()).is_err());
    }
    assert_eq!(stranger.inner().calls.load(Ordering::SeqCst), 2);
    assert!(stranger.is_empty());
}

#[test]
fn a_cloned_ca_issues_identities_the_original_trusts() {
    let ca = TestCa::generate(KeyKind::P256, "Cloned CA").unwrap();
    let clone = ca.clone();
    let device = clone
        .issue(&LeafRequest::new(KeyKind::P256, "from the clone"))
        .unwrap();
    pool(&[&ca])
        .verify_cert(device.certificate(), now())
        .unwrap();
}
