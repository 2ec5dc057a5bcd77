//! `X-Hmac-Signature`: standard base64 of HMAC-SHA256 over the exact body, as NanoMDM signs
//! webhooks and Declarative Management requests.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) const HEADER: &str = "X-Hmac-Signature";

pub(crate) fn sign(key: &[u8], body: &[u8]) -> String {
    STANDARD.encode(mac(key, body).finalize().into_bytes())
}

/// Constant-time check of a base64 signature header against the body.
pub(crate) fn verify(key: &[u8], body: &[u8], signature_b64: &str) -> bool {
    match STANDARD.decode(signature_b64.trim()) {
        Ok(signature) => mac(key, body).verify_slice(&signature).is_ok(),
        Err(_) => false,
    }
}

fn mac(key: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies() {
        // RFC 4231 test case 2, base64 of the expected MAC.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &sig));
        assert!(!verify(b"other", b"what do ya want for nothing?", &sig));
        assert!(!verify(
            b"Jefe",
            b"what do ya want for nothing?",
            "not base64!"
        ));
    }
}
