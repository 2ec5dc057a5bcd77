//! `Mdm-Signature` verification: the shapes devices send, the shapes a verifier must accept, and
//! every way a signature must be refused, each with its error.

mod common;

use std::time::Duration;

use common::{BODY, b64, days, fixture, fixture_text, now, pki};
use mdm_signature::signer::{
    self, Layout, SignOptions, SignedAttributes, SignerError, SignerIdentifier, SigningIdentity,
};
use mdm_signature::{
    Asn1Problem, DigestAlgorithm, Error, VerifyOptions, cert_hash, verify_mdm_signature,
    verify_mdm_signature_with, verify_signed_content,
};

fn options(
    digest: DigestAlgorithm,
    layout: Layout,
    attrs: Option<SignedAttributes>,
) -> SignOptions {
    SignOptions {
        digest,
        layout,
        signed_attributes: attrs,
        ..SignOptions::default()
    }
}

fn sign(identity: &SigningIdentity, options: &SignOptions) -> String {
    identity.mdm_signature_with(BODY, options).unwrap()
}

// --- Signatures captured from devices (NanoMDM's cryptoutil test vectors) ---

#[test]
fn verifies_the_signature_captured_from_a_device() {
    let header = fixture_text("nanomdm-device-2.sig");
    let body = fixture("nanomdm-device-2.plist");
    let cert = verify_mdm_signature(&header, &body).unwrap();
    // The device's SCEP certificate: empty subject, serial 0x22, issued by the SCEP CA.
    assert_eq!(cert.subject(), "");
    assert_eq!(cert.serial_hex(), "22");
    assert_eq!(cert.issuer(), "CN=ca,OU=SCEP CA,O=scep,C=US");
    assert_eq!(
        cert.cert_hash().to_string(),
        "9704ca2f1ea3ea1eaaebd5013b0803d920e813ccf0d4b7d8808499a15f6a4716"
    );
    assert_eq!(cert.cert_hash(), cert_hash(cert.der()));
}

#[test]
fn device_captures_are_ber_sha1_without_signed_attributes() {
    use base64::Engine;
    for name in ["nanomdm-device-1.sig", "nanomdm-device-2.sig"] {
        let der = base64::engine::general_purpose::STANDARD
            .decode(fixture_text(name).trim())
            .unwrap();
        // ContentInfo, its [0] and SignedData all have indefinite lengths.
        assert_eq!(&der[..2], &[0x30, 0x80], "{name}");
        assert_eq!(&der[13..17], &[0xa0, 0x80, 0x30, 0x80], "{name}");
        // Ends with their end-of-contents octets.
        assert_eq!(&der[der.len() - 6..], &[0; 6], "{name}");
    }
}

#[test]
fn device_capture_over_another_body_is_a_bad_signature() {
    let body = fixture("nanomdm-device-2.plist");
    // The first capture has no body of its own: it parses, its signer is found, and its
    // signature does not cover this body.
    let err = verify_mdm_signature(fixture_text("nanomdm-device-1.sig"), &body).unwrap_err();
    assert_eq!(err, Error::BadSignature);
    let mut tampered = body.clone();
    tampered[body.len() / 2] ^= 1;
    let err = verify_mdm_signature(fixture_text("nanomdm-device-2.sig"), &tampered).unwrap_err();
    assert_eq!(err, Error::BadSignature);
}

#[test]
fn the_signer_default_is_the_device_layout() {
    use base64::Engine;
    // An RSA SHA-1 signature from our signer starts byte for byte like a device's, up to the
    // certificates (whose length differs).
    let ours = pki().rsa.sign(BODY, &SignOptions::default()).unwrap();
    let device = base64::engine::general_purpose::STANDARD
        .decode(fixture_text("nanomdm-device-2.sig").trim())
        .unwrap();
    let prefix = 48; // up to the certificates' [0] tag
    assert_eq!(&ours[..prefix], &device[..prefix]);
    assert_eq!(ours[prefix], 0xa0);
    assert_eq!(&ours[ours.len() - 6..], &[0; 6]);
    verify_mdm_signature(b64(&ours), BODY).unwrap();
}

// --- Shapes that must verify ---

#[test]
fn valid_signatures_in_every_supported_shape() {
    let p = pki();
    let attr_sets = [
        None,
        Some(SignedAttributes::default()),
        Some(SignedAttributes {
            signing_time: Some(now()),
            unsorted: false,
        }),
    ];
    for identity in [&p.rsa, &p.p256] {
        for digest in [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256] {
            for layout in [Layout::Ber, Layout::Der] {
                for attrs in &attr_sets {
                    let opts = options(digest, layout, attrs.clone());
                    let cert = verify_mdm_signature(sign(identity, &opts), BODY)
                        .unwrap_or_else(|e| panic!("{opts:?}: {e}"));
                    assert_eq!(cert, *identity.certificate(), "{opts:?}");
                }
            }
        }
    }
}

#[test]
fn every_digest_with_every_key() {
    let p = pki();
    for identity in [&p.rsa, &p.p256, &p.p384] {
        for digest in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            for attrs in [None, Some(SignedAttributes::default())] {
                let opts = options(digest, Layout::Der, attrs);
                verify_mdm_signature(sign(identity, &opts), BODY)
                    .unwrap_or_else(|e| panic!("{identity:?} {opts:?}: {e}"));
            }
        }
    }
}

#[test]
fn signed_attributes_not_in_der_order_verify_as_sent() {
    let p = pki();
    let attrs = |unsorted| SignedAttributes {
        signing_time: Some(now()),
        unsorted,
    };
    for layout in [Layout::Ber, Layout::Der] {
        for digest in [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256] {
            let sorted = sign(&p.rsa, &options(digest, layout, Some(attrs(false))));
            let unsorted = sign(&p.rsa, &options(digest, layout, Some(attrs(true))));
            assert_ne!(sorted, unsorted);
            // A verifier that re-sorted the attributes would compute other bytes and fail here.
            verify_mdm_signature(&unsorted, BODY).unwrap();
            verify_mdm_signature(&sorted, BODY).unwrap();
        }
    }
}

#[test]
fn signer_named_by_subject_key_identifier() {
    let opts = SignOptions {
        signer_identifier: SignerIdentifier::SubjectKeyIdentifier,
        ..SignOptions::default()
    };
    let cert = verify_mdm_signature(sign(&pki().p256, &opts), BODY).unwrap();
    assert_eq!(cert, *pki().p256.certificate());
}

#[test]
fn header_whitespace_is_trimmed() {
    let header = format!("  {}\r\n", pki().rsa.mdm_signature(BODY).unwrap());
    verify_mdm_signature(header, BODY).unwrap();
}

#[test]
fn signatures_made_by_openssl_verify() {
    // OpenSSL 3 `cms -sign` outputs (see tests/fixtures/README.md): DER with its usual signed
    // attributes (contentType, signingTime, messageDigest, S/MIME capabilities), without
    // attributes and with absent digest parameters, and ECDSA with SHA-1 and SHA-512, including
    // P-384 with SHA-1, which aws-lc-rs has no algorithm for and which is verified through the
    // zero-padded digest.
    let body = fixture("openssl/body.plist");
    for (name, subject) in [
        ("openssl/openssl-rsa-sha256-attrs.p7s", "CN=sha1-device"),
        ("openssl/openssl-rsa-sha1-noattr.p7s", "CN=sha1-device"),
        (
            "openssl/openssl-p256-sha1-attrs.p7s",
            "CN=ec-device-prime256v1",
        ),
        (
            "openssl/openssl-p384-sha1-noattr.p7s",
            "CN=ec-device-secp384r1",
        ),
        (
            "openssl/openssl-p384-sha512-attrs.p7s",
            "CN=ec-device-secp384r1",
        ),
    ] {
        let header = b64(&fixture(name));
        let cert = verify_mdm_signature(&header, &body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(cert.subject(), subject, "{name}");
        let mut other = body.clone();
        other.push(b'\n');
        let err = verify_mdm_signature(&header, &other).unwrap_err();
        assert!(
            matches!(err, Error::BadSignature | Error::MessageDigestMismatch),
            "{name}: {err}"
        );
    }
}

#[test]
fn signing_with_a_pem_identity_round_trips() {
    // The SHA-1 device certificate and key made by OpenSSL, loaded from PEM and used by our signer.
    let identity = SigningIdentity::from_pem(
        fixture("openssl/sha1-leaf.pem"),
        fixture("openssl/sha1-leaf.key"),
    )
    .unwrap();
    let cert = verify_mdm_signature(identity.mdm_signature(BODY).unwrap(), BODY).unwrap();
    assert_eq!(cert.subject(), "CN=sha1-device");
    // And through our own PEM export.
    let again = SigningIdentity::from_pem(identity.cert_pem(), identity.key_pem()).unwrap();
    verify_mdm_signature(again.mdm_signature(BODY).unwrap(), BODY).unwrap();
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let p = pki();
    let err = SigningIdentity::from_der(
        p.p256.certificate().der().to_vec(),
        p.via_intermediate.key_pkcs8_der().to_vec(),
    )
    .unwrap_err();
    assert!(matches!(err, SignerError::KeyMismatch), "{err}");
}

// --- Signatures that must be refused, each with its error ---

#[test]
fn message_digest_not_matching_the_body() {
    for layout in [Layout::Ber, Layout::Der] {
        let opts = options(
            DigestAlgorithm::Sha256,
            layout,
            Some(SignedAttributes::default()),
        );
        let header = sign(&pki().rsa, &opts);
        let err = verify_mdm_signature(&header, b"another body").unwrap_err();
        assert_eq!(err, Error::MessageDigestMismatch);
    }
}

#[test]
fn wrong_body_without_signed_attributes() {
    for identity in [&pki().rsa, &pki().p256] {
        let header = identity.mdm_signature(BODY).unwrap();
        let err = verify_mdm_signature(&header, &BODY[1..]).unwrap_err();
        assert_eq!(err, Error::BadSignature);
        let err = verify_mdm_signature(&header, b"").unwrap_err();
        assert_eq!(err, Error::BadSignature);
    }
}

#[test]
fn corrupted_signature() {
    let p = pki();
    // DER: the signature value is the last thing in the encoding.
    for attrs in [None, Some(SignedAttributes::default())] {
        let mut der = p
            .rsa
            .sign(BODY, &options(DigestAlgorithm::Sha256, Layout::Der, attrs))
            .unwrap();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        assert_eq!(
            verify_mdm_signature(b64(&der), BODY).unwrap_err(),
            Error::BadSignature
        );
    }
    // BER: it is followed by three end-of-contents markers.
    let mut ber = p.rsa.sign(BODY, &SignOptions::default()).unwrap();
    let at = ber.len() - 7;
    ber[at] ^= 0x80;
    assert_eq!(
        verify_mdm_signature(b64(&ber), BODY).unwrap_err(),
        Error::BadSignature
    );
}

#[test]
fn two_signers_and_no_signer() {
    let p = pki();
    let both = signer::sign(&[&p.rsa, &p.p256], BODY, &SignOptions::default()).unwrap();
    assert_eq!(
        verify_mdm_signature(b64(&both), BODY).unwrap_err(),
        Error::SignerCount(2)
    );
    let none = signer::sign(&[], BODY, &SignOptions::default()).unwrap();
    assert_eq!(
        verify_mdm_signature(b64(&none), BODY).unwrap_err(),
        Error::SignerCount(0)
    );
}

#[test]
fn attached_content_is_refused() {
    for layout in [Layout::Ber, Layout::Der] {
        let opts = SignOptions {
            attach_content: true,
            layout,
            ..SignOptions::default()
        };
        let header = sign(&pki().rsa, &opts);
        assert_eq!(
            verify_mdm_signature(&header, BODY).unwrap_err(),
            Error::NotDetached
        );
        // Even with an empty body: the embedded content is not what the request carries.
        assert_eq!(
            verify_mdm_signature(&header, b"").unwrap_err(),
            Error::NotDetached
        );
    }
}

#[test]
fn attached_ber_signature_from_openssl_is_refused() {
    // `openssl cms -sign -stream`: BER, the body embedded as a constructed OCTET STRING.
    let header = b64(&fixture("openssl/openssl-rsa-sha1-attached-ber.p7s"));
    let body = fixture("openssl/body.plist");
    assert_eq!(
        verify_mdm_signature(&header, &body).unwrap_err(),
        Error::NotDetached
    );
}

#[test]
fn certificate_not_embedded() {
    let p = pki();
    let opts = SignOptions {
        embed_signer_certificate: false,
        ..SignOptions::default()
    };
    let err = verify_mdm_signature(sign(&p.rsa, &opts), BODY).unwrap_err();
    assert_eq!(err, Error::SignerCertificateNotFound);
    // Another certificate from the same issuer is there, but not the signer's serial.
    let opts = SignOptions {
        embed_signer_certificate: false,
        extra_certificates: vec![p.p256.certificate().der().to_vec()],
        ..SignOptions::default()
    };
    let err = verify_mdm_signature(sign(&p.rsa, &opts), BODY).unwrap_err();
    assert_eq!(err, Error::SignerCertificateNotFound);
    // Same by subject key identifier.
    let opts = SignOptions {
        embed_signer_certificate: false,
        signer_identifier: SignerIdentifier::SubjectKeyIdentifier,
        extra_certificates: vec![p.rsa.certificate().der().to_vec()],
        ..SignOptions::default()
    };
    let err = verify_mdm_signature(sign(&p.p256, &opts), BODY).unwrap_err();
    assert_eq!(err, Error::SignerCertificateNotFound);
}

#[test]
fn signing_time_outside_the_certificate_validity() {
    // The device certificates are valid from an hour ago for a year.
    let identity = &pki().rsa;
    let cert = identity.certificate();
    let signed_at = |t| {
        options(
            DigestAlgorithm::Sha256,
            Layout::Der,
            Some(SignedAttributes {
                signing_time: Some(t),
                unsorted: false,
            }),
        )
    };
    for t in [cert.not_before() - days(2), cert.not_after() + days(2)] {
        let err = verify_mdm_signature(sign(identity, &signed_at(t)), BODY).unwrap_err();
        assert!(
            matches!(err, Error::SigningTimeOutsideValidity { .. }),
            "{err}"
        );
    }
    // One minute before notBefore is inside the default five-minute skew, not inside zero skew.
    let header = sign(
        identity,
        &signed_at(cert.not_before() - Duration::from_secs(60)),
    );
    verify_mdm_signature(&header, BODY).unwrap();
    let strict = VerifyOptions::default().clock_skew(Duration::ZERO);
    let err = verify_mdm_signature_with(&header, BODY, &strict).unwrap_err();
    assert!(
        matches!(err, Error::SigningTimeOutsideValidity { .. }),
        "{err}"
    );
}

#[test]
fn expired_certificate_still_has_a_valid_signature() {
    // The signature check is time-independent (devices send no signingTime); the expiry is the
    // chain verifier's to refuse (see tests/chain.rs).
    let p = pki();
    let old = p
        .root
        .issue(
            &mdm_signature::test_pki::LeafRequest::new(
                mdm_signature::test_pki::KeyKind::P256,
                "expired",
            )
            .validity(now() - days(400), now() - days(35)),
        )
        .unwrap();
    let cert = verify_mdm_signature(old.mdm_signature(BODY).unwrap(), BODY).unwrap();
    assert!(matches!(
        cert.check_validity(now()),
        Err(Error::CertificateExpired { .. })
    ));
}

#[test]
fn garbage_and_truncated_base64() {
    assert_eq!(
        verify_mdm_signature("", BODY).unwrap_err(),
        Error::EmptyHeader
    );
    assert_eq!(
        verify_mdm_signature(" \t", BODY).unwrap_err(),
        Error::EmptyHeader
    );
    for garbage in ["not base64!", "MIAG*CSqG", "====", "M"] {
        let err = verify_mdm_signature(garbage, BODY).unwrap_err();
        assert!(matches!(err, Error::Base64(_)), "{garbage}: {err}");
    }
    // Valid base64 of something that is not CMS.
    let err = verify_mdm_signature(b64(b"hello world"), BODY).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Asn1 {
                what: "ContentInfo",
                ..
            }
        ),
        "{err}"
    );

    let header = fixture_text("nanomdm-device-2.sig");
    let header = header.trim();
    // Cut at a multiple of four: valid base64, truncated CMS.
    for len in [4, 100, 1000, header.len() - 4] {
        let err = verify_mdm_signature(&header[..len], BODY).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Asn1 {
                    problem: Asn1Problem::Truncated { .. } | Asn1Problem::UnexpectedEnd,
                    ..
                }
            ),
            "{len}: {err}"
        );
    }
    // Cut elsewhere: base64 with a dangling character.
    let err = verify_mdm_signature(&header[..1001], BODY).unwrap_err();
    assert!(matches!(err, Error::Base64(_)), "{err}");
}

#[test]
fn trailing_data_after_the_content_info() {
    let mut der = pki().rsa.sign(BODY, &SignOptions::default()).unwrap();
    der.extend_from_slice(&[0x05, 0x00]);
    let err = verify_mdm_signature(b64(&der), BODY).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Asn1 {
                what: "ContentInfo",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn header_over_the_limit() {
    let header = pki().rsa.mdm_signature(BODY).unwrap();
    let small = VerifyOptions::default().max_header_len(100);
    let err = verify_mdm_signature_with(&header, BODY, &small).unwrap_err();
    assert_eq!(
        err,
        Error::HeaderTooLong {
            len: header.len(),
            max: 100
        }
    );
}

#[test]
fn content_that_is_not_signed_data() {
    // ContentInfo { id-data, [0] { OCTET STRING "x" } }
    let der = [
        0x30, 0x12, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0, 0x05,
        0x04, 0x03, 0x78, 0x78, 0x78,
    ];
    let err = verify_mdm_signature(b64(&der), BODY).unwrap_err();
    assert_eq!(err, Error::NotSignedData("1.2.840.113549.1.7.1".into()));
}

/// Replaces every occurrence of `from` by `to` (same length).
fn patch(der: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= der.len() {
        if &der[i..i + from.len()] == from {
            der[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    n
}

#[test]
fn signature_algorithm_naming_another_digest() {
    // sha1WithRSAEncryption → sha256WithRSAEncryption, digest algorithm left at SHA-1.
    let mut der = pki().rsa.sign(BODY, &SignOptions::default()).unwrap();
    let sha1_with_rsa = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05,
    ];
    let mut sha256_with_rsa = sha1_with_rsa;
    sha256_with_rsa[10] = 0x0b;
    assert_eq!(patch(&mut der, &sha1_with_rsa, &sha256_with_rsa), 1);
    let err = verify_mdm_signature(b64(&der), BODY).unwrap_err();
    assert!(matches!(err, Error::AlgorithmMismatch(_)), "{err}");
}

#[test]
fn unsupported_digest_algorithm() {
    // SHA-1 (1.3.14.3.2.26) → 1.3.14.3.2.27, which nobody defines as a digest here.
    let mut der = pki().p256.sign(BODY, &SignOptions::default()).unwrap();
    let sha1 = [0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a];
    let mut other = sha1;
    other[6] = 0x1b;
    assert_eq!(patch(&mut der, &sha1, &other), 2);
    let err = verify_mdm_signature(b64(&der), BODY).unwrap_err();
    assert_eq!(
        err,
        Error::UnsupportedAlgorithm {
            what: "digest",
            oid: "1.3.14.3.2.27".into()
        }
    );
}

#[test]
fn errors_say_what_went_wrong() {
    // The messages operators read in logs and from the verify-signature example.
    assert_eq!(
        Error::SignerCount(2).to_string(),
        "CMS SignedData has 2 signers, exactly one is required"
    );
    assert_eq!(
        Error::NotDetached.to_string(),
        "CMS SignedData is not detached: it embeds content"
    );
    let err = verify_mdm_signature(b64(b"\x30\x05\x06\x03"), BODY).unwrap_err();
    assert_eq!(err.to_string(), "malformed ContentInfo: truncated SEQUENCE");
    assert_eq!(
        err,
        Error::Asn1 {
            what: "ContentInfo",
            problem: Asn1Problem::Truncated { tag: 0x30 }
        }
    );
}

// --- Attached signatures (signed profiles): `verify_signed_content` ---

#[test]
fn attached_signatures_give_their_content() {
    for layout in [Layout::Ber, Layout::Der] {
        for attrs in [None, Some(SignedAttributes::default())] {
            let opts = SignOptions {
                attach_content: true,
                layout,
                ..options(DigestAlgorithm::Sha256, layout, attrs)
            };
            let der = pki().rsa.sign(BODY, &opts).unwrap();
            let (content, signer) = verify_signed_content(&der, &VerifyOptions::default()).unwrap();
            assert_eq!(content, BODY);
            assert_eq!(signer.der(), pki().rsa.certificate().der());
        }
    }
    // `openssl cms -sign -stream`: BER, the content as a constructed OCTET STRING.
    let der = fixture("openssl/openssl-rsa-sha1-attached-ber.p7s");
    let (content, _) = verify_signed_content(&der, &VerifyOptions::default()).unwrap();
    assert_eq!(content, fixture("openssl/body.plist"));
}

#[test]
fn detached_signatures_are_not_signed_content() {
    let der = pki().rsa.sign(BODY, &SignOptions::default()).unwrap();
    let error = verify_signed_content(&der, &VerifyOptions::default()).unwrap_err();
    assert!(error.to_string().contains("eContent"), "{error}");
}
