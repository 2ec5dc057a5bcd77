//! Full Mdm-Signature verification against one raw RSA-2048 verification, in the same run.
//!
//! `cargo bench -p mdm-signature --features signer --bench verify`
//!
//! * `full/sha1-ber` — what the server does per request for the shape devices send (BER, SHA-1, no
//!   signed attributes): base64 → CMS → signer lookup → certificate parse → signature check, then
//!   the chain check through a warm [`CachedVerifier`].
//! * `full/sha256-der-attrs` — the same with SHA-256, DER and signed attributes (two digests).
//! * `raw/rsa2048-sha1` and `raw/rsa2048-sha256` — one aws-lc-rs RSA PKCS#1 v1.5 verification of
//!   the same body, the public key parsed from its SubjectPublicKeyInfo bytes each time (what one
//!   verification costs a caller holding only the certificate).
//! * `raw/rsa2048-sha1-parsed-key` — the same with the key parsed beforehand: the floor.
//! * `chain/cold` — a CA-pool chain check without the cache, for scale.
//! * `parts/*` — the pieces of the overhead: certificate parse (x509-cert, the raw parts and the
//!   SHA-256 hash), base64, the body's SHA-1, the RSA key parse.

use std::hint::black_box;
use std::time::SystemTime;

use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey};
use criterion::{Criterion, criterion_group, criterion_main};
use mdm_signature::signer::{Layout, SignOptions, SignedAttributes};
use mdm_signature::test_pki::{KeyKind, LeafRequest, TestCa};
use mdm_signature::{CaPool, CachedVerifier, CertVerifier, DigestAlgorithm, verify_mdm_signature};

/// A ~2 KB check-in body.
fn body() -> Vec<u8> {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n\
         \t<key>MessageType</key>\n\t<string>TokenUpdate</string>\n\t<key>PushMagic</key>\n\
         \t<string>0B6AF3B5-8E63-4E4B-9E5B-2B2A4D7B1D1F</string>\n\t<key>Token</key>\n\t<data>\n",
    );
    while body.len() < 1900 {
        body.push_str("\tQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n");
    }
    body.push_str("\t</data>\n");
    while body.len() < 2048 - "</dict>\n</plist>\n".len() {
        body.push(' ');
    }
    body.truncate(2048 - "</dict>\n</plist>\n".len());
    body.push_str("</dict>\n</plist>\n");
    body.into_bytes()
}

fn bench(c: &mut Criterion) {
    let ca = TestCa::generate(KeyKind::Rsa2048, "Bench Device CA").expect("CA");
    let device = ca
        .issue(&LeafRequest::new(KeyKind::Rsa2048, "bench-device"))
        .expect("device identity");
    let body = body();
    assert_eq!(body.len(), 2048);

    let sha1_ber = device.sign(&body, &SignOptions::default()).expect("sign");
    let sha1_header = base64_encode(&sha1_ber);
    let sha256_header = device
        .mdm_signature_with(
            &body,
            &SignOptions {
                digest: DigestAlgorithm::Sha256,
                layout: Layout::Der,
                signed_attributes: Some(SignedAttributes::default()),
                ..SignOptions::default()
            },
        )
        .expect("sign");
    let sha256_der = device
        .sign(
            &body,
            &SignOptions {
                digest: DigestAlgorithm::Sha256,
                layout: Layout::Der,
                ..SignOptions::default()
            },
        )
        .expect("sign");

    let verifier = CachedVerifier::new(CaPool::from_pem(ca.cert_pem()).expect("pool"), 1024);
    let now = SystemTime::now();
    // Warm the chain cache, and check everything verifies before timing it.
    let cert = verify_mdm_signature(&sha1_header, &body).expect("verifies");
    verifier.verify_cert(&cert, now).expect("trusted");
    verify_mdm_signature(&sha256_header, &body).expect("verifies");

    // The raw pieces: the certificate's SubjectPublicKeyInfo and the signatures over the body
    // (the last 256 bytes of a DER SignedData without attributes; in the BER layout they are
    // followed by three end-of-contents markers).
    let spki = device
        .certificate()
        .certificate()
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let sig_sha1 = sha1_ber[sha1_ber.len() - 6 - 256..sha1_ber.len() - 6].to_vec();
    let sig_sha256 = sha256_der[sha256_der.len() - 256..].to_vec();
    UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        &spki,
    )
    .verify(&body, &sig_sha1)
    .expect("raw SHA-1 verifies");
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &spki)
        .verify(&body, &sig_sha256)
        .expect("raw SHA-256 verifies");

    let mut group = c.benchmark_group("mdm-signature");
    group.bench_function("full/sha1-ber", |b| {
        b.iter(|| {
            let cert = verify_mdm_signature(black_box(&sha1_header), black_box(&body)).unwrap();
            verifier.verify_cert(&cert, now).unwrap();
            cert
        })
    });
    group.bench_function("full/sha256-der-attrs", |b| {
        b.iter(|| {
            let cert = verify_mdm_signature(black_box(&sha256_header), black_box(&body)).unwrap();
            verifier.verify_cert(&cert, now).unwrap();
            cert
        })
    });
    group.bench_function("raw/rsa2048-sha1", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                black_box(&spki),
            )
            .verify(black_box(&body), black_box(&sig_sha1))
            .unwrap()
        })
    });
    group.bench_function("raw/rsa2048-sha256", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, black_box(&spki))
                .verify(black_box(&body), black_box(&sig_sha256))
                .unwrap()
        })
    });
    let parsed = ParsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        &spki,
    )
    .expect("key");
    group.bench_function("raw/rsa2048-sha1-parsed-key", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(&body), black_box(&sig_sha1))
                .unwrap()
        })
    });
    let cert_der = device.certificate().der().to_vec();
    group.bench_function("parts/certificate-parse", |b| {
        b.iter(|| {
            mdm_signature::IdentityCertificate::from_der(black_box(cert_der.as_slice())).unwrap()
        })
    });
    group.bench_function("parts/base64-decode", |b| {
        use base64::Engine;
        b.iter(|| {
            base64::engine::general_purpose::STANDARD
                .decode(black_box(&sha1_header))
                .unwrap()
        })
    });
    group.bench_function("parts/sha1-body", |b| {
        b.iter(|| {
            aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                black_box(&body),
            )
        })
    });
    group.bench_function("parts/parse-rsa-key", |b| {
        b.iter(|| {
            ParsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                black_box(&spki),
            )
            .unwrap()
        })
    });
    let pool = CaPool::from_pem(ca.cert_pem()).expect("pool");
    group.bench_function("chain/cold", |b| {
        b.iter(|| pool.verify_cert(black_box(&cert), now).unwrap())
    });
    group.finish();
}

fn base64_encode(der: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

criterion_group!(benches, bench);
criterion_main!(benches);
