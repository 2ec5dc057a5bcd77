//! SCEP issuance throughput: one PKIOperation per iteration, RSA-2048 requester keys.
//!
//! `cargo bench -p mdm-scep --features client --bench issue`
//!
//! * `pkcsreq/rsa2048-ca/aes128` — the whole answer to a PKCSReq from an RSA-2048 requester: the
//!   message decoded, its signature verified, the envelope opened with the CA key (RSA-2048), the
//!   PKCS #10 self-signature verified, the static challenge checked, a certificate issued and
//!   signed, and the CertRep built (the certificate sealed to the requester, the reply signed).
//!   Three RSA-2048 private-key operations, three public-key ones.
//! * `pkcsreq/rsa2048-ca/des-sha1` — the same request in the shape micromdm's `scepclient`
//!   sends (single DES, SHA-1 digest).
//! * `pkcsreq/p256-ca-rsa-ra/aes128` — an ECDSA P-256 CA issuing through an RSA-2048 RA.
//! * `decode/rsa2048-ca` — only the checks (`ScepServer::decode`), no issuance or reply.
//! * `refuse/wrong-challenge` — a request refused after all checks: its CertRep FAILURE.
//!
//! Requests are built once, before timing; the server is the one a real deployment runs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use mdm_scep::client::{self, RequestOptions, Requester};
use mdm_scep::{
    ContentEncryption, FileCa, IssueOptions, KeyAlgorithm, Method, PrivateKey, Scep, ScepIdentity,
    ServerOptions, StaticChallenge,
};

const CHALLENGE: &str = "bench-challenge";

struct Setup {
    scep: Scep<StaticChallenge, Arc<FileCa>>,
    recipient: Vec<u8>,
}

fn setup(ca_alg: KeyAlgorithm) -> Setup {
    let ca_pem = client::test_ca_pem(ca_alg, "CN=Bench CA").unwrap();
    let mut ca = FileCa::from_pem(&ca_pem, IssueOptions::default()).unwrap();
    if ca_alg == KeyAlgorithm::EcP256 {
        let ra_key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        let ra = ca
            .issue_ra_certificate(
                &ra_key,
                "CN=Bench RA",
                std::time::Duration::from_secs(86_400),
                SystemTime::now(),
            )
            .unwrap();
        ca = ca.with_ra(ScepIdentity::new(ra, ra_key).unwrap());
    }
    let ca = Arc::new(ca);
    let identity = ca.scep_identity().unwrap();
    let recipient = identity.certificate_der().to_vec();
    let scep = Scep::new(
        identity,
        &ca.chain(),
        StaticChallenge::new(CHALLENGE),
        ca.clone(),
        ServerOptions::default(),
    )
    .unwrap();
    Setup { scep, recipient }
}

/// `n` PKCSReq messages from distinct RSA-2048 requesters.
fn requests(setup: &Setup, n: usize, challenge: &str, options: &RequestOptions) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
            let cn = format!("CN=bench-device-{i}");
            let dev = Requester::self_signed(key, &cn).unwrap();
            let csr = client::csr(dev.key(), &cn, Some(challenge)).unwrap();
            client::pki_request(&dev, &setup.recipient, &csr, options)
                .unwrap()
                .message
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("scep");
    let sha1 = der::oid::ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    let cases = [
        (
            "pkcsreq/rsa2048-ca/aes128",
            KeyAlgorithm::Rsa2048,
            RequestOptions::default(),
        ),
        (
            "pkcsreq/rsa2048-ca/des-sha1",
            KeyAlgorithm::Rsa2048,
            RequestOptions::default()
                .content_encryption(ContentEncryption::DesCbc)
                .digest(sha1),
        ),
        (
            "pkcsreq/p256-ca-rsa-ra/aes128",
            KeyAlgorithm::EcP256,
            RequestOptions::default(),
        ),
    ];
    for (name, ca_alg, options) in cases {
        let s = setup(ca_alg);
        let msgs = requests(&s, 16, CHALLENGE, &options);
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % msgs.len();
                let r = rt
                    .block_on(s.scep.handle_http(
                        Method::Post,
                        Some("operation=PKIOperation"),
                        &msgs[i],
                        SystemTime::now(),
                    ))
                    .unwrap();
                assert!(matches!(r.outcome, mdm_scep::Outcome::Issued { .. }));
                black_box(r.body)
            })
        });
    }

    let s = setup(KeyAlgorithm::Rsa2048);
    let msgs = requests(&s, 16, CHALLENGE, &RequestOptions::default());
    let mut i = 0;
    group.bench_function("decode/rsa2048-ca", |b| {
        b.iter(|| {
            i = (i + 1) % msgs.len();
            black_box(s.scep.server().decode(&msgs[i], SystemTime::now()).unwrap())
        })
    });
    let wrong = requests(&s, 16, "wrong", &RequestOptions::default());
    group.bench_function("refuse/wrong-challenge", |b| {
        b.iter(|| {
            i = (i + 1) % wrong.len();
            let r = rt
                .block_on(s.scep.handle_http(
                    Method::Post,
                    Some("operation=PKIOperation"),
                    &wrong[i],
                    SystemTime::now(),
                ))
                .unwrap();
            black_box(r.body)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
