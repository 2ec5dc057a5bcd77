//! JSON commands (the body of `POST /v1/commands`) from arbitrary bytes: never a panic, and
//! what is accepted round-trips.
//!
//! Properties: an accepted command builds its property list (no value JSON can give breaks the
//! XML writer), that property list decodes to the same typed command, and the `CommandUUID` is
//! the one given or a new one; every error that concerns a value names its key path.
//!
//! The entry point is the server's: `mdm-http`'s `/v1/commands` handler calls
//! `CommandEnvelope::from_json_with` with the router's decode limits, which are these defaults
//! unless the operator changes the body limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_commands::{CommandEnvelope, DecodeError};
use mdm_proto::DecodeLimits;

fuzz_target!(|data: &[u8]| {
    match CommandEnvelope::from_json_with(data, &DecodeLimits::default()) {
        Ok(envelope) => {
            assert!(!envelope.command_uuid.is_empty());
            let plist = envelope.to_plist();
            assert_eq!(plist.request_type, envelope.command.request_type());
            let back = CommandEnvelope::from_plist(plist.bytes().clone())
                .expect("the plist of an accepted command decodes");
            assert_eq!(back, envelope);
        }
        Err(
            error @ (DecodeError::UnknownKey { .. }
            | DecodeError::MissingKey { .. }
            | DecodeError::WrongType { .. }
            | DecodeError::NotAllowed { .. }
            | DecodeError::InvalidBase64 { .. }
            | DecodeError::InvalidDate { .. }),
        ) => {
            assert!(error.path().is_some());
            assert!(!error.to_string().is_empty());
        }
        Err(_) => {}
    }
});
