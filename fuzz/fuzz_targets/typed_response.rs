//! Typed decoding of arbitrary bytes as a report of every command: never a panic, and what it
//! accepts agrees with `mdm-proto`.
//!
//! Properties, for each `RequestType`: decoding keeps the bytes; a result is present exactly
//! when the report is `Acknowledged`; the envelope is the one `mdm-proto` decodes from the same
//! bytes (so typed decoding accepts nothing `mdm-proto` refuses); and the result writes back as
//! a property list that decodes to the same result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_commands::codec::{UnknownKeys, from_value};
use mdm_commands::{AnyCommand, AnyResponse};
use mdm_proto::{CommandReport, DecodeLimits, Status};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default().max_body_bytes(4 << 20);
    let envelope = CommandReport::decode_with(data.to_vec(), &limits);
    for request_type in AnyCommand::REQUEST_TYPES {
        let Ok(response) = AnyResponse::decode_with(request_type, data.to_vec(), &limits) else {
            continue;
        };
        assert_eq!(response.bytes().as_ref(), data);
        assert_eq!(response.request_type(), *request_type);
        let report = response.report();
        let Ok(envelope) = &envelope else {
            panic!("{request_type}: typed decoding accepted a report mdm-proto refuses");
        };
        assert_eq!(report, envelope.value(), "{request_type}: envelopes differ");
        let result = response.result_plist();
        assert_eq!(result.is_some(), report.status == Status::Acknowledged);
        if let Some(result) = result {
            // The result written back decodes to itself.
            let again = AnyResponse::decode_with(request_type, rebuild(&result), &limits)
                .expect("a written-back result decodes");
            assert_eq!(again.result_plist(), Some(result.clone()), "{request_type}");
            let _ = from_value::<mdm_commands::plist::Value>(&result, UnknownKeys::Skip);
        }
    }
});

/// An acknowledged report holding `result`'s keys.
fn rebuild(result: &mdm_commands::plist::Value) -> Vec<u8> {
    let mut dict = result.as_dictionary().cloned().unwrap_or_default();
    dict.insert("Status".into(), "Acknowledged".into());
    dict.insert("CommandUUID".into(), "fuzz".into());
    let mut body = Vec::new();
    mdm_commands::plist::Value::Dictionary(dict)
        .to_writer_xml(&mut body)
        .expect("a decoded result holds no UID");
    body
}
