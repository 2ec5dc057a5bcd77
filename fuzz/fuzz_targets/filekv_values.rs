//! The decoders for values in NanoMDM's `filekv` directory (`mdm_import::decode`), on
//! arbitrary bytes: never a panic, and what they accept is what NanoMDM writes.
//!
//! The first byte picks the decoder (its value modulo 8); the rest is the file's content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_import::decode;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, value)) = data.split_first() else {
        return;
    };
    match mode % 8 {
        0 => {
            if let Ok(n) = decode::decode_tally(value) {
                // Digits only, so the number prints back to the same text up to leading zeros.
                assert!(value.iter().all(u8::is_ascii_digit));
                let text = String::from_utf8_lossy(value);
                let digits = text.trim_start_matches('0');
                assert_eq!(n.to_string(), if digits.is_empty() { "0" } else { digits });
            }
        }
        1 => {
            if let Ok(n) = decode::decode_micros(value) {
                assert!(n >= 0);
            }
        }
        2 => {
            if let Ok(hash) = decode::decode_cert_hash(value) {
                assert_eq!(
                    hash.to_string(),
                    String::from_utf8_lossy(value).to_lowercase()
                );
            }
        }
        3 => {
            if let Ok(text) = decode::decode_text(value) {
                assert!(!text.is_empty());
            }
        }
        4 => {
            for expected in ["Authenticate", "TokenUpdate", "UserAuthenticate"] {
                if let Ok(check_in) = decode::decode_check_in(value, expected) {
                    assert_eq!(check_in.bytes().as_ref(), value);
                }
            }
        }
        5 => {
            if let Ok(command) = decode::decode_command(value, "fuzz") {
                assert_eq!(command.bytes().as_ref(), value);
                assert_eq!(command.command_uuid, "fuzz");
            }
        }
        6 => {
            if let Ok(report) = decode::decode_report(value, "fuzz") {
                assert_eq!(report.command_uuid.as_deref(), Some("fuzz"));
            }
        }
        _ => {
            if let Ok(pem) = decode::decode_pem(value) {
                assert!(pem.trim_start().starts_with("-----BEGIN"));
            }
        }
    }
});
