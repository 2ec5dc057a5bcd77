//! Every payload type of the schema, through the samples the generator made from it
//! (`tests/samples/`: every key, and the required keys only): the sample reads as its typed
//! payload and writes back as the same dictionary, and a profile holding one payload of every
//! type writes a `.mobileconfig` that reads back as the same typed value.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mdm_profiles::plist::{Dictionary, Value};
use mdm_profiles::{AnyPayload, Payload, PayloadScope, Profile, UnknownKeys};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples")
}

/// Every sample, as (file name, payload dictionary with the common keys added).
fn sample_payloads() -> Vec<(String, Dictionary)> {
    let mut names: Vec<String> = std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let mut dict = Value::from_file(samples().join(&name))
                .unwrap()
                .into_dictionary()
                .unwrap();
            dict.insert(
                "PayloadIdentifier".into(),
                format!("com.example.payload{i}").into(),
            );
            dict.insert(
                "PayloadUUID".into(),
                format!("00000000-0000-4000-8000-{i:012}").into(),
            );
            dict.insert("PayloadVersion".into(), Value::Integer(1.into()));
            dict.insert("PayloadDisplayName".into(), name.clone().into());
            (name, dict)
        })
        .collect()
}

#[test]
fn every_payload_type_has_samples() {
    let types: BTreeSet<String> = sample_payloads()
        .iter()
        .map(|(_, d)| d["PayloadType"].as_string().unwrap().to_owned())
        .collect();
    let schema: BTreeSet<String> = AnyPayload::PAYLOAD_TYPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(types, schema);
    assert_eq!(schema.len(), 120);
}

#[test]
fn every_sample_reads_as_its_type_and_writes_back_the_same() {
    for (name, dict) in sample_payloads() {
        let payload = Payload::from_dictionary(&dict, UnknownKeys::Reject, 0)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !matches!(payload.content, AnyPayload::Other { .. }),
            "{name}: not typed"
        );
        assert!(payload.content.availability().is_some(), "{name}");
        assert!(
            AnyPayload::install_of(payload.payload_type()).is_some(),
            "{name}"
        );
        assert_eq!(payload.to_dictionary(), dict, "{name}: typed → plist");
    }
}

#[test]
fn a_profile_of_every_payload_type_round_trips_through_mobileconfig() {
    let mut profile = Profile::new("com.example.everything");
    profile.display_name = Some("Every payload type".into());
    profile.organization = Some("Example".into());
    profile.scope = Some(PayloadScope::System);
    profile.removal_disallowed = Some(false);
    profile.duration_until_removal = Some(86400.5);
    profile.consent_text = Some([("default".to_owned(), "Install?".to_owned())].into());
    for (name, dict) in sample_payloads() {
        profile.payloads.push(
            Payload::from_dictionary(&dict, UnknownKeys::Reject, 0)
                .unwrap_or_else(|e| panic!("{name}: {e}")),
        );
    }
    assert_eq!(profile.payloads.len(), 240);
    let xml = profile.to_xml();
    assert!(xml.starts_with(b"<?xml"));
    let read = Profile::from_bytes_with(&xml, &Default::default(), UnknownKeys::Reject)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read, profile);

    // The same as a binary property list.
    let mut binary = Vec::new();
    Value::Dictionary(profile.to_dictionary())
        .to_writer_binary(&mut binary)
        .unwrap();
    assert_eq!(Profile::from_bytes(&binary).unwrap(), profile);
}

#[test]
fn install_data_comes_from_the_schema() {
    use mdm_profiles::mdm::Mdm;
    use mdm_profiles::{Install, Os, ProfilePayload};
    // One MDM payload per profile, installable by hand except on watchOS.
    assert!(Mdm::INSTALL.contains(&Install {
        os: Os::Ios,
        multiple: false,
        manual_install: true
    }));
    assert!(Mdm::INSTALL.contains(&Install {
        os: Os::WatchOs,
        multiple: false,
        manual_install: false
    }));
    assert_eq!(AnyPayload::install_of("com.apple.mdm"), Some(Mdm::INSTALL));
    assert_eq!(AnyPayload::install_of("com.example.custom"), None);
}

#[test]
fn unknown_payload_types_and_keys() {
    let mut dict = Dictionary::new();
    dict.insert("PayloadType".into(), "com.example.custom".into());
    dict.insert("PayloadIdentifier".into(), "com.example.custom.1".into());
    dict.insert("PayloadUUID".into(), "A".into());
    dict.insert("PayloadVersion".into(), Value::Integer(1.into()));
    dict.insert("Setting".into(), true.into());
    let payload = Payload::from_dictionary(&dict, UnknownKeys::Reject, 0).unwrap();
    assert_eq!(payload.payload_type(), "com.example.custom");
    assert!(payload.content.availability().is_none());
    assert_eq!(payload.to_dictionary(), dict);

    // A key a newer OS adds to a known type: skipped leniently, refused strictly.
    dict.insert("PayloadType".into(), "com.apple.security.root".into());
    dict.insert("PayloadContent".into(), Value::Data(b"DER".to_vec()));
    assert!(Payload::from_dictionary(&dict, UnknownKeys::Skip, 0).is_ok());
    let error = Payload::from_dictionary(&dict, UnknownKeys::Reject, 3).unwrap_err();
    assert!(error.to_string().contains("PayloadContent[3]"), "{error}");
}

#[test]
fn hostile_profiles_are_errors() {
    for bytes in [
        &b""[..],
        b"<plist><array/></plist>",
        b"<plist><dict><key>PayloadType</key><string>Other</string></dict></plist>",
        b"<plist><dict><key>PayloadType</key><string>Configuration</string></dict></plist>",
        b"<plist><dict><key>PayloadType</key><string>Configuration</string>\
          <key>PayloadIdentifier</key><string>a</string><key>PayloadUUID</key><string>b</string>\
          <key>PayloadVersion</key><integer>1</integer><key>PayloadContent</key>\
          <array><string>x</string></array></dict></plist>",
        b"<plist><dict><key>PayloadType</key><string>Configuration</string>\
          <key>EncryptedPayloadContent</key><data>AAAA</data></dict></plist>",
    ] {
        assert!(Profile::from_bytes(bytes).is_err());
    }
}
