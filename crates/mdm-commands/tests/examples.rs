//! The example results (`AnyResponse::example`) of every command: each is a report of its own
//! command that decodes to its typed response, and writes back to the same keys.

use mdm_commands::plist::{Dictionary, Value};
use mdm_commands::{AnyCommand, AnyResponse};

/// An acknowledged report of `keys`.
fn report(keys: Dictionary) -> Vec<u8> {
    let mut report = keys;
    report.insert(
        "CommandUUID".into(),
        Value::String("0E1F2A3B-4C5D-4E6F-8A9B-0C1D2E3F4A5B".into()),
    );
    report.insert("Status".into(), Value::String("Acknowledged".into()));
    report.insert(
        "UDID".into(),
        Value::String("00008030-001A2B3C4D5E6F70".into()),
    );
    let mut xml = Vec::new();
    Value::Dictionary(report).to_writer_xml(&mut xml).unwrap();
    xml
}

#[test]
fn every_command_has_an_example_that_decodes_to_its_response() {
    let mut with_keys = 0;
    for request_type in AnyCommand::REQUEST_TYPES {
        let keys = AnyResponse::example(request_type)
            .unwrap_or_else(|| panic!("{request_type} has no example"));
        if !keys.is_empty() {
            with_keys += 1;
        }
        let decoded = AnyResponse::decode(request_type, report(keys.clone()))
            .unwrap_or_else(|e| panic!("{request_type}: {e}"));
        assert_eq!(decoded.value().request_type(), *request_type);
        // Every key of the example is one the typed response holds.
        assert_eq!(
            decoded.value().result_plist(),
            Some(Value::Dictionary(keys)),
            "{request_type}"
        );
    }
    assert_eq!(with_keys, 35, "the commands with response keys");
    assert!(AnyResponse::example("NotACommand").is_none());
}
