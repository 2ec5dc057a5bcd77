//! Every command of the schema, through the samples the generator made from it
//! (`tests/samples/`): JSON to typed value to property list must give the generator's property
//! list, the property list must decode to the same typed value, and every report — with keys
//! the schema does not know in each dictionary — must decode, as XML and as a binary list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mdm_commands::plist::{Dictionary, Value};
use mdm_commands::{AnyCommand, AnyResponse, CommandEnvelope, command_from_json};
use mdm_proto::Status;

const UUID: &str = "9D3E5F1A-6B2C-4D8E-A0F7-1C2B3A4D5E6F";
const UNKNOWN_KEY: &str = "UnknownKeyFromNewerOS";

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(samples().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn dictionary(bytes: &[u8]) -> Dictionary {
    Value::from_reader(std::io::Cursor::new(bytes))
        .unwrap()
        .into_dictionary()
        .unwrap()
}

/// The request types that have a sample with `suffix`.
fn with_samples(suffix: &str) -> BTreeSet<String> {
    std::fs::read_dir(samples())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(suffix)
                .filter(|rt| !rt.contains('.'))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn every_command_has_samples() {
    let all: BTreeSet<String> = AnyCommand::REQUEST_TYPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(all.len(), 66);
    assert_eq!(with_samples(".json"), all);
    assert_eq!(with_samples(".minimal.json"), all);
    assert_eq!(with_samples(".response.plist").len(), 35);
}

#[test]
fn json_commands_become_the_schema_plist_and_round_trip() {
    for request_type in AnyCommand::REQUEST_TYPES {
        for suffix in ["", ".minimal"] {
            let sample = format!("{request_type}{suffix}");
            let json = read(&format!("{sample}.json"));
            let expected = dictionary(&read(&format!("{sample}.plist")));

            // JSON → typed → the plist a server queues.
            let (envelope, queued) =
                command_from_json(&json).unwrap_or_else(|e| panic!("{sample}: {e}"));
            assert_eq!(queued.command_uuid, UUID, "{sample}");
            assert_eq!(queued.request_type, *request_type, "{sample}");
            assert_eq!(envelope.command.request_type(), *request_type);
            let mut command = dictionary(queued.bytes())["Command"]
                .as_dictionary()
                .unwrap()
                .clone();
            assert_eq!(
                command.remove("RequestType"),
                Some(Value::String(request_type.to_string()))
            );
            assert_eq!(command, expected, "{sample}: JSON → plist");

            // plist → typed, the same value.
            let back = CommandEnvelope::from_plist(queued.bytes().clone())
                .unwrap_or_else(|e| panic!("{sample}: {e}"));
            assert_eq!(back, envelope, "{sample}: plist → typed");
            assert_eq!(
                AnyCommand::from_plist(queued.bytes().clone()).unwrap(),
                envelope.command
            );
            let mut with_type = expected.clone();
            with_type.insert(
                "RequestType".into(),
                Value::String(request_type.to_string()),
            );
            assert_eq!(
                AnyCommand::from_dictionary(&with_type).unwrap(),
                envelope.command,
                "{sample}"
            );

            // Availability is the command's.
            assert_eq!(
                Some(envelope.command.availability()),
                AnyCommand::availability_of(request_type)
            );
        }
    }
}

/// `value` without `UnknownKeyFromNewerOS` anywhere.
fn without_unknown_keys(value: &Value) -> Value {
    match value {
        Value::Dictionary(dict) => Value::Dictionary(
            dict.iter()
                .filter(|(k, _)| *k != UNKNOWN_KEY)
                .map(|(k, v)| (k.clone(), without_unknown_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_unknown_keys).collect()),
        other => other.clone(),
    }
}

#[test]
fn reports_with_unknown_keys_decode_as_xml_and_binary() {
    for request_type in with_samples(".response.plist") {
        let xml = read(&format!("{request_type}.response.plist"));
        let mut expected = dictionary(&xml);
        for envelope_key in ["CommandUUID", "Status", "UDID"] {
            expected.remove(envelope_key);
        }
        let expected = without_unknown_keys(&Value::Dictionary(expected));

        let mut binary = Vec::new();
        Value::Dictionary(dictionary(&xml))
            .to_writer_binary(&mut binary)
            .unwrap();
        for body in [xml.clone(), binary] {
            let response = AnyResponse::decode(&request_type, body.clone())
                .unwrap_or_else(|e| panic!("{request_type}: {e}"));
            assert_eq!(response.bytes().as_ref(), &body[..]);
            assert_eq!(response.request_type(), request_type);
            let report = response.report();
            assert_eq!(report.status, Status::Acknowledged);
            assert_eq!(report.command_uuid.as_deref(), Some(UUID));
            assert_eq!(
                report.enrollment.udid.as_deref(),
                Some("00008030-001A2B3C4D5E6F70")
            );
            assert_eq!(
                response.result_plist(),
                Some(expected.clone()),
                "{request_type}: typed result written back"
            );
        }
    }
}

#[test]
fn reports_that_are_not_acknowledged_have_no_result() {
    for request_type in AnyCommand::REQUEST_TYPES {
        let body = format!(
            "<plist version=\"1.0\"><dict><key>CommandUUID</key><string>{UUID}</string>\
             <key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>12021</integer>\
             <key>ErrorDomain</key><string>MCMDMErrorDomain</string></dict></array>\
             <key>Status</key><string>Error</string>\
             <key>UDID</key><string>00008030-001A2B3C4D5E6F70</string></dict></plist>"
        );
        let response = AnyResponse::decode(request_type, body.into_bytes())
            .unwrap_or_else(|e| panic!("{request_type}: {e}"));
        assert_eq!(response.report().status, Status::Error);
        assert_eq!(response.report().error_chain[0].error_code, Some(12021));
        assert_eq!(response.result_plist(), None, "{request_type}");
    }
}
