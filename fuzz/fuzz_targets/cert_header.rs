//! Certificate headers from a TLS-terminating proxy (URL-escaped PEM, RFC 9440) and CA-pool PEM of
//! arbitrary input: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_signature::{
    CaPool, IdentityCertificate, certificate_from_escaped_pem, certificate_from_header,
    certificate_from_rfc9440,
};

fuzz_target!(|data: &[u8]| {
    let from_header = certificate_from_header(data);
    let _ = certificate_from_escaped_pem(data);
    let _ = certificate_from_rfc9440(data);
    let _ = IdentityCertificate::from_der(data);
    let _ = CaPool::from_pem(data);
    if let Ok(cert) = from_header {
        // A certificate read from a header round-trips through PEM to the same bytes.
        let again = IdentityCertificate::from_pem(cert.to_pem()).expect("own PEM parses");
        assert_eq!(again.der(), cert.der());
    }
});
