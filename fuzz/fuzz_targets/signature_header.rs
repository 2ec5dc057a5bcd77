//! Mdm-Signature verification of arbitrary input: never a panic.
//!
//! The first byte picks the mode: even — the rest is CMS bytes, base64-encoded here so the fuzzer
//! works on the BER structure itself (seed it with device signatures, decoded); odd — the rest is
//! the header value as received, base64 and all. The body is fixed: what matters is the parsing
//! and checking before and around the signature. Refusals must never be internal errors, and a
//! signer that verifies must pass the CA-pool property
//! `cert_properties::ca_is_never_a_device`.
#![no_main]

mod cert_properties;

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use mdm_signature::{VerifyOptions, verify_mdm_signature_with};

const BODY: &[u8] = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let options = VerifyOptions::default();
    let header = if mode % 2 == 0 {
        base64::engine::general_purpose::STANDARD
            .encode(rest)
            .into_bytes()
    } else {
        rest.to_vec()
    };
    let verified = verify_mdm_signature_with(&header, BODY, &options);
    cert_properties::no_internal_error(&verified);
    if let Ok(cert) = verified {
        cert_properties::ca_is_never_a_device(&cert);
        // Whatever verified must be a usable certificate.
        let _ = (
            cert.cert_hash(),
            cert.subject(),
            cert.serial_hex(),
            cert.to_pem(),
        );
    }
});
