//! Decoding check-ins and reports shaped like real device traffic.

use mdm_proto::{CheckIn, Command, CommandReport, DecodeError, DecodeLimits, Status};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const TOPIC: &str = "com.apple.mgmt.External.2a5e7d4c-3b1f-4f7e-9c6d-8e1a0b2c3d4e";
const IPAD_UDID: &str = "00008103-000A1C2E3F40801E";

#[test]
fn ipad_authenticate() {
    let body = fixture("ipad_authenticate.plist");
    let check_in = CheckIn::decode(body.clone()).unwrap();
    assert_eq!(check_in.bytes().as_ref(), body.as_slice());
    let CheckIn::Authenticate(auth) = check_in.value() else {
        panic!("not an Authenticate: {check_in:?}");
    };
    assert_eq!(auth.topic, TOPIC);
    assert_eq!(auth.enrollment.udid.as_deref(), Some(IPAD_UDID));
    assert_eq!(auth.serial_number.as_deref(), Some("F9FXK2LJQ1GC"));
    assert_eq!(auth.model.as_deref(), Some("iPad13,16"));
    assert_eq!(auth.imei.as_deref(), Some("35 925406 123456 7"));
    assert_eq!(auth.os_version.as_deref(), Some("18.1"));
}

#[test]
fn mac_authenticate_keeps_non_ascii_device_name() {
    let check_in = CheckIn::decode(fixture("mac_authenticate.plist")).unwrap();
    let CheckIn::Authenticate(auth) = check_in.value() else {
        panic!()
    };
    assert_eq!(auth.device_name.as_deref(), Some("Ada’s MacBook Pro"));
    assert_eq!(
        auth.enrollment.udid.as_deref(),
        Some("5B6A1C2D-8E9F-4A0B-9C1D-2E3F4A5B6C7D")
    );
    assert_eq!(auth.imei, None);
}

#[test]
fn token_update_with_unlock_token_xml_and_binary() {
    for (name, awaiting) in [
        ("ipad_tokenupdate.plist", false),
        ("ipad_tokenupdate_binary.plist", true),
    ] {
        let body = fixture(name);
        let check_in = CheckIn::decode(body.clone()).unwrap();
        assert_eq!(check_in.message_type(), "TokenUpdate");
        assert_eq!(check_in.bytes().as_ref(), body.as_slice(), "{name}");
        let CheckIn::TokenUpdate(tu) = check_in.value() else {
            panic!()
        };
        assert_eq!(tu.push.token.len(), 32, "{name}");
        assert_eq!(tu.push.topic, TOPIC);
        assert_eq!(tu.push.push_magic.len(), 36);
        assert_eq!(
            tu.unlock_token.as_ref().map(|t| t.expose().len()),
            Some(1300),
            "{name}"
        );
        assert_eq!(tu.awaiting_configuration, awaiting, "{name}");
        assert_eq!(tu.enrollment.udid.as_deref(), Some(IPAD_UDID));
    }
}

#[test]
fn user_channel_token_updates() {
    let check_in = CheckIn::decode(fixture("mac_user_tokenupdate.plist")).unwrap();
    let e = check_in.enrollment();
    assert_eq!(
        e.user_id.as_deref(),
        Some("A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D")
    );
    assert_eq!(e.user_short_name.as_deref(), Some("ada"));
    assert_eq!(e.user_long_name.as_deref(), Some("Ada Lovelace"));

    let check_in = CheckIn::decode(fixture("shared_ipad_user_tokenupdate.plist")).unwrap();
    let e = check_in.enrollment();
    assert_eq!(
        e.user_id.as_deref(),
        Some("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")
    );
    assert_eq!(
        e.user_short_name.as_deref(),
        Some("student9@school.example")
    );

    let check_in = CheckIn::decode(fixture("user_enrollment_user_tokenupdate.plist")).unwrap();
    let e = check_in.enrollment();
    assert_eq!(e.udid, None);
    assert_eq!(
        e.enrollment_id.as_deref(),
        Some("8A3E2F4B6C7D9E0F1A2B3C4D5E6F7A8B9C0D1E2F")
    );
    assert_eq!(
        e.enrollment_user_id.as_deref(),
        Some("B7C8D9E0F1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6")
    );

    let check_in = CheckIn::decode(fixture("user_enrollment_authenticate.plist")).unwrap();
    assert_eq!(
        check_in.enrollment().enrollment_id.as_deref(),
        Some("8A3E2F4B6C7D9E0F1A2B3C4D5E6F7A8B9C0D1E2F")
    );
}

fn check_in_xml(keys: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>{keys}</dict></plist>"#
    )
    .into_bytes()
}

#[test]
fn every_message_type_decodes() {
    let udid = "<key>UDID</key><string>X</string>";
    let cases = [
        (
            "Authenticate",
            format!("<key>Topic</key><string>t</string>{udid}"),
        ),
        (
            "TokenUpdate",
            format!(
                "<key>Topic</key><string>t</string><key>PushMagic</key><string>m</string><key>Token</key><data>AQI=</data>{udid}"
            ),
        ),
        ("CheckOut", udid.to_string()),
        (
            "UserAuthenticate",
            format!(
                "<key>UserID</key><string>u</string><key>DigestResponse</key><string>d</string>{udid}"
            ),
        ),
        (
            "SetBootstrapToken",
            format!("<key>BootstrapToken</key><data>AQI=</data>{udid}"),
        ),
        (
            "GetBootstrapToken",
            format!("<key>AwaitingConfiguration</key><true/>{udid}"),
        ),
        (
            "DeclarativeManagement",
            format!("<key>Endpoint</key><string>tokens</string>{udid}"),
        ),
        (
            "GetToken",
            format!(
                "<key>TokenServiceType</key><string>com.apple.maid</string><key>TokenParameters</key><dict><key>PhoneUDID</key><string>p</string></dict>{udid}"
            ),
        ),
        ("ReturnToService", udid.to_string()),
    ];
    for (message_type, keys) in cases {
        let body = check_in_xml(&format!(
            "<key>MessageType</key><string>{message_type}</string>{keys}"
        ));
        let check_in = CheckIn::decode(body).unwrap_or_else(|e| panic!("{message_type}: {e}"));
        assert_eq!(check_in.message_type(), message_type);
        assert_eq!(check_in.enrollment().udid.as_deref(), Some("X"));
    }
    let body = check_in_xml(
        "<key>MessageType</key><string>GetToken</string><key>TokenServiceType</key><string>com.apple.maid</string>\
         <key>TokenParameters</key><dict><key>PhoneUDID</key><string>p</string></dict>",
    );
    let CheckIn::GetToken(gt) = CheckIn::decode(body).unwrap().into_parts().0 else {
        panic!()
    };
    assert_eq!(gt.token_service_type, "com.apple.maid");
    assert_eq!(
        gt.token_parameters
            .unwrap()
            .get("PhoneUDID")
            .and_then(|v| v.as_string()),
        Some("p")
    );
}

#[test]
fn set_bootstrap_token_without_token_clears_it() {
    let body = check_in_xml(
        "<key>MessageType</key><string>SetBootstrapToken</string><key>UDID</key><string>X</string>",
    );
    let CheckIn::SetBootstrapToken(m) = CheckIn::decode(body).unwrap().into_parts().0 else {
        panic!()
    };
    assert_eq!(m.bootstrap_token, None);
}

#[test]
fn errors_name_the_problem() {
    let err = |keys: &str| CheckIn::decode(check_in_xml(keys)).unwrap_err();
    assert!(matches!(
        err("<key>UDID</key><string>X</string>"),
        DecodeError::MissingKey("MessageType")
    ));
    assert!(matches!(
        err("<key>MessageType</key><string>Bogus</string>"),
        DecodeError::UnknownMessageType(t) if t == "Bogus"
    ));
    assert!(matches!(
        err(
            "<key>MessageType</key><string>TokenUpdate</string><key>Topic</key><string>t</string><key>PushMagic</key><string>m</string>"
        ),
        DecodeError::MissingKey("Token")
    ));
    assert!(matches!(
        err(
            "<key>MessageType</key><string>TokenUpdate</string><key>Topic</key><string>t</string><key>PushMagic</key><string>m</string><key>Token</key><string>AQI=</string>"
        ),
        DecodeError::WrongType {
            key: "Token",
            expected: "data"
        }
    ));
    assert!(matches!(
        err(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>X</string><key>Topic</key><string></string>"
        ),
        DecodeError::MissingKey("Topic")
    ));
    assert!(matches!(
        err("<key>MessageType</key><integer>1</integer>"),
        DecodeError::WrongType {
            key: "MessageType",
            ..
        }
    ));
    assert!(matches!(
        CheckIn::decode(&b"<plist><array/></plist>"[..]),
        Err(DecodeError::NotADictionary)
    ));
    assert!(matches!(
        CheckIn::decode(&b"not a plist"[..]),
        Err(DecodeError::MalformedXml { offset: 11, .. })
    ));
    let truncated = &fixture("ipad_authenticate.plist")[..400];
    assert!(matches!(
        CheckIn::decode(truncated.to_vec()),
        Err(DecodeError::Malformed("a container is never closed"))
    ));
    let truncated = &fixture("ipad_tokenupdate_binary.plist")[..900];
    assert!(CheckIn::decode(truncated.to_vec()).is_err());
}

#[test]
fn acknowledged_device_information_report() {
    let body = fixture("device_information_report.plist");
    let report = CommandReport::decode(body.clone()).unwrap();
    assert_eq!(report.status, Status::Acknowledged);
    assert!(report.status.is_final());
    assert_eq!(
        report.command_uuid.as_deref(),
        Some("0f0a7c1e-5d3b-4b8e-a6c1-9e2d4f6a8b0c")
    );
    assert_eq!(report.enrollment.udid.as_deref(), Some(IPAD_UDID));
    assert!(report.error_chain.is_empty());
    // The query responses are not decoded, but kept: they are in the raw bytes.
    assert_eq!(report.bytes().as_ref(), body.as_slice());
}

#[test]
fn error_report_with_error_chain() {
    let report = CommandReport::decode(fixture("error_report.plist")).unwrap();
    assert_eq!(report.status, Status::Error);
    assert_eq!(report.error_chain.len(), 2);
    assert_eq!(report.error_chain[0].error_code, Some(4));
    assert_eq!(
        report.error_chain[0].error_domain.as_deref(),
        Some("MCProfileErrorDomain")
    );
    assert_eq!(report.error_chain[1].us_english_description, None);
}

#[test]
fn idle_and_unusual_statuses() {
    let report = CommandReport::decode(fixture("idle_report.plist")).unwrap();
    assert_eq!(report.status, Status::Idle);
    assert!(!report.status.is_final());
    assert_eq!(report.command_uuid, None);

    let body = check_in_xml(
        "<key>Status</key><string>Acknowledged</string><key>UDID</key><string>X</string>",
    );
    assert!(matches!(
        CommandReport::decode(body),
        Err(DecodeError::MissingKey("CommandUUID"))
    ));
    let body = check_in_xml(
        "<key>Status</key><string>Paused</string><key>CommandUUID</key><string>c</string>",
    );
    let report = CommandReport::decode(body).unwrap();
    assert_eq!(report.status, Status::Other("Paused".into()));
    assert_eq!(report.status.to_string(), "Paused");
    assert!(report.status.is_final());
    let body = check_in_xml(
        "<key>Status</key><string>NotNow</string><key>CommandUUID</key><string>c</string>",
    );
    assert!(!CommandReport::decode(body).unwrap().status.is_final());
}

#[test]
fn command_round_trip_is_byte_exact() {
    let mut payload = mdm_proto::plist::Dictionary::new();
    payload.insert(
        "Queries".into(),
        mdm_proto::plist::Value::Array(vec!["UDID".into(), "OSVersion".into()]),
    );
    let built = Command::build("cmd-1", "DeviceInformation", payload);
    let decoded = Command::decode(built.bytes().clone()).unwrap();
    assert_eq!(decoded.command_uuid, "cmd-1");
    assert_eq!(decoded.request_type, "DeviceInformation");
    assert_eq!(decoded.bytes(), built.bytes());
    let inner = decoded.payload().unwrap();
    assert_eq!(
        inner.get("RequestType").and_then(|v| v.as_string()),
        Some("DeviceInformation")
    );
    assert_eq!(
        inner
            .get("Queries")
            .and_then(|v| v.as_array())
            .map(Vec::len),
        Some(2)
    );

    let no_type = check_in_xml("<key>CommandUUID</key><string>c</string><key>Command</key><dict/>");
    assert!(matches!(
        Command::decode(no_type),
        Err(DecodeError::MissingKey("Command.RequestType"))
    ));
    let no_uuid =
        check_in_xml("<key>Command</key><dict><key>RequestType</key><string>X</string></dict>");
    assert!(matches!(
        Command::decode(no_uuid),
        Err(DecodeError::MissingKey("CommandUUID"))
    ));
}

/// 5,000 nested arrays must be refused before a recursive parser sees them, even on a small
/// (2 MiB) stack such as a tokio worker's.
#[test]
fn deep_nesting_is_a_clean_error_on_a_small_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let mut body = String::from(
                "<plist><dict><key>MessageType</key><string>Authenticate</string><key>X</key>",
            );
            body.push_str(&"<array>".repeat(5000));
            body.push_str(&"</array>".repeat(5000));
            body.push_str("</dict></plist>");
            let xml = CheckIn::decode(body.into_bytes()).map(|_| ());
            let report = CommandReport::decode(
                format!("<plist>{}</plist>", "<dict><key>a</key>".repeat(5000)).into_bytes(),
            )
            .map(|_| ());
            (xml, report)
        })
        .unwrap();
    let (xml, report) = handle.join().expect("decoding must not overflow the stack");
    let limit = DecodeLimits::default().max_depth;
    assert!(matches!(xml, Err(DecodeError::TooDeep { limit: l }) if l == limit));
    assert!(matches!(report, Err(DecodeError::TooDeep { .. })));
}

/// A body nested 50,000 deep (about 1 MB) in spellings a tag-name scan would miss — a namespace
/// prefix, which the XML reader matches by local name; a binary list; dictionaries under a key no
/// message reads — is refused as too deep on a 2 MiB stack, by every decoder.
#[test]
fn deep_nesting_in_any_spelling_is_refused_on_a_small_stack() {
    const LEVELS: usize = 50_000;
    let wrap = |inner: String| {
        format!(
            "<plist><dict><key>MessageType</key><string>Authenticate</string>\
             <key>Status</key><string>Idle</string><key>X</key>{inner}</dict></plist>"
        )
        .into_bytes()
    };
    let bodies = vec![
        wrap("<p:array>".repeat(LEVELS) + &"</p:array>".repeat(LEVELS)),
        wrap("<plist:dict><key>k</key>".repeat(LEVELS) + &"<true/></plist:dict>".repeat(LEVELS)),
        wrap("<array>".repeat(LEVELS)),
        nested_binary(LEVELS),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            bodies
                .into_iter()
                .map(|body| {
                    let bytes = bytes::Bytes::from(body);
                    [
                        CheckIn::decode(bytes.clone()).map(|_| ()),
                        CommandReport::decode(bytes.clone()).map(|_| ()),
                        Command::decode(bytes).map(|_| ()),
                    ]
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    let results = handle.join().expect("decoding must not overflow the stack");
    for (body, results) in results.iter().enumerate() {
        for result in results {
            assert!(
                matches!(result, Err(DecodeError::TooDeep { limit: 64 })),
                "body {body}: {result:?}"
            );
        }
    }
}

/// A binary property list: a dictionary `{X: [[[…]]]}` with `levels` nested arrays.
fn nested_binary(levels: usize) -> Vec<u8> {
    // Objects: 0 the dictionary, 1 the key "X", 2.. the arrays, each holding the next.
    let count = levels + 2;
    let mut body = b"bplist00".to_vec();
    let mut offsets = Vec::with_capacity(count);
    offsets.push(body.len());
    body.extend([0xD1, 0x00, 0x01, 0x00, 0x02]); // one entry: key ref 1, value ref 2 (u16 refs)
    offsets.push(body.len());
    body.extend([0x51, b'X']);
    for i in 2..count {
        offsets.push(body.len());
        if i + 1 == count {
            body.push(0xA0);
        } else {
            body.push(0xA1);
            body.extend(u16::try_from(i + 1).unwrap().to_be_bytes());
        }
    }
    let table = body.len();
    for offset in &offsets {
        body.extend(u32::try_from(*offset).unwrap().to_be_bytes());
    }
    body.extend([0u8; 6]);
    body.extend([4u8, 2u8]);
    body.extend((count as u64).to_be_bytes());
    body.extend(0u64.to_be_bytes());
    body.extend((table as u64).to_be_bytes());
    body
}

#[test]
fn body_size_limit() {
    let limits = DecodeLimits::default().max_body_bytes(1000);
    let body = fixture("ipad_tokenupdate.plist");
    assert!(matches!(
        CheckIn::decode_with(body.clone(), &limits),
        Err(DecodeError::TooLarge { limit: 1000, .. })
    ));
    assert!(CheckIn::decode_with(body, &DecodeLimits::default()).is_ok());
}
