//! Certificate headers from a TLS-terminating proxy (URL-escaped PEM, RFC 9440) and CA-pool PEM of
//! arbitrary input: never a panic, never an internal error; and whatever certificate parses is
//! checked against the CA pool's rule that a CA certificate is never a device identity (see
//! `cert_properties::ca_is_never_a_device`).
#![no_main]

mod cert_properties;

use libfuzzer_sys::fuzz_target;
use mdm_signature::{
    CaPool, IdentityCertificate, certificate_from_escaped_pem, certificate_from_header,
    certificate_from_rfc9440,
};

fuzz_target!(|data: &[u8]| {
    let from_header = certificate_from_header(data);
    for result in [
        certificate_from_escaped_pem(data),
        certificate_from_rfc9440(data),
        IdentityCertificate::from_der(data),
    ] {
        cert_properties::no_internal_error(&result);
        if let Ok(cert) = result {
            cert_properties::ca_is_never_a_device(&cert);
        }
    }
    cert_properties::no_internal_error(&CaPool::from_pem(data));
    if let Ok(cert) = from_header {
        // A certificate read from a header round-trips through PEM to the same bytes.
        let again = IdentityCertificate::from_pem(cert.to_pem()).expect("own PEM parses");
        assert_eq!(again.der(), cert.der());
    }
});
