//! Shared test PKI and fixtures. Keys are generated once per test binary: RSA generation is slow.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use mdm_signature::signer::SigningIdentity;
use mdm_signature::test_pki::{KeyKind, LeafRequest, TestCa};

pub const BODY: &[u8] =
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\
    \t<key>MessageType</key>\n\t<string>Authenticate</string>\n\t<key>UDID</key>\n\
    \t<string>00008030-000A1C2E3E90802E</string>\n</dict>\n</plist>\n";

pub struct Pki {
    /// RSA root that issued `rsa`, `p256` and `p384`.
    pub root: TestCa,
    /// A P-256 intermediate under `root`, which issued `via_intermediate`.
    pub intermediate: TestCa,
    /// A root nobody trusts.
    pub other_root: TestCa,
    pub rsa: SigningIdentity,
    pub p256: SigningIdentity,
    pub p384: SigningIdentity,
    pub via_intermediate: SigningIdentity,
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let root = TestCa::generate(KeyKind::Rsa2048, "Test Device Root").unwrap();
        let intermediate = root
            .intermediate(KeyKind::P256, "Test Device Intermediate")
            .unwrap();
        let other_root = TestCa::generate(KeyKind::P256, "Someone Else's Root").unwrap();
        let rsa = root
            .issue(&LeafRequest::new(KeyKind::Rsa2048, "rsa-device"))
            .unwrap();
        let p256 = root
            .issue(&LeafRequest::new(KeyKind::P256, "p256-device"))
            .unwrap();
        let p384 = root
            .issue(&LeafRequest::new(KeyKind::P384, "p384-device"))
            .unwrap();
        let via_intermediate = intermediate
            .issue(&LeafRequest::new(
                KeyKind::P256,
                "device-under-intermediate",
            ))
            .unwrap();
        Pki {
            root,
            intermediate,
            other_root,
            rsa,
            p256,
            p384,
            via_intermediate,
        }
    })
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

pub fn b64(der: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

pub fn days(n: u64) -> Duration {
    Duration::from_secs(n * 24 * 60 * 60)
}

pub fn now() -> SystemTime {
    SystemTime::now()
}
