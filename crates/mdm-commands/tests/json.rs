//! JSON commands, as `POST /v1/commands` receives them: each kind of error names its key path.

use mdm_commands::device_information::QueriesItem;
use mdm_commands::erase_device::ObliterationBehavior;
use mdm_commands::{AnyCommand, DecodeError, command_from_json};

fn error(json: &str) -> DecodeError {
    command_from_json(json.as_bytes()).expect_err(json)
}

fn path(error: &DecodeError) -> String {
    error.path().map(ToString::to_string).unwrap_or_default()
}

#[test]
fn a_command_without_a_uuid_gets_a_version_4_one() {
    let (envelope, plist) =
        command_from_json(br#"{"Command": {"RequestType": "RestartDevice"}}"#).unwrap();
    let uuid = &envelope.command_uuid;
    assert_eq!(uuid.len(), 36);
    assert_eq!(uuid.as_bytes()[14], b'4', "{uuid}");
    assert_eq!(plist.command_uuid, *uuid);
    let (again, _) =
        command_from_json(br#"{"Command": {"RequestType": "RestartDevice"}}"#).unwrap();
    assert_ne!(again.command_uuid, *uuid);
}

#[test]
fn values_take_the_schema_s_types() {
    let (envelope, _) = command_from_json(
        br#"{"CommandUUID": "c1", "Command": {"RequestType": "EraseDevice",
             "PIN": "123456", "ObliterationBehavior": "DoNotObliterate", "PreserveDataPlan": true}}"#,
    )
    .unwrap();
    let AnyCommand::EraseDevice(erase) = envelope.command else {
        panic!()
    };
    assert_eq!(erase.pin.as_deref(), Some("123456"));
    assert_eq!(
        erase.obliteration_behavior,
        Some(ObliterationBehavior::DoNotObliterate)
    );
    // A query this schema does not list is sent as given: Apple adds queries every year.
    let (envelope, plist) = command_from_json(
        br#"{"Command": {"RequestType": "DeviceInformation", "Queries": ["UDID", "FutureQuery"]}}"#,
    )
    .unwrap();
    let AnyCommand::DeviceInformation(info) = envelope.command else {
        panic!()
    };
    assert_eq!(
        info.queries,
        [QueriesItem::Udid, QueriesItem::Other("FutureQuery".into())]
    );
    let payload = plist.payload().unwrap();
    assert_eq!(payload["Queries"].as_array().unwrap().len(), 2);
}

#[test]
fn each_kind_of_error_names_what_and_where() {
    let e = error("{\"Command\": ");
    assert!(matches!(e, DecodeError::Json { line: 1, .. }), "{e}");

    let e = error(r#"[1]"#);
    assert!(matches!(
        e,
        DecodeError::WrongType {
            expected: "a JSON object",
            found: "an array",
            ..
        }
    ));

    let e = error(r#"{"Command": {"RequestType": "MakeCoffee"}}"#);
    assert!(
        matches!(&e, DecodeError::UnknownRequestType(t) if t == "MakeCoffee"),
        "{e}"
    );

    let e = error(r#"{"Command": {}}"#);
    assert!(matches!(e, DecodeError::MissingKey { .. }));
    assert_eq!(path(&e), "Command.RequestType");

    let e = error(r#"{"CommandUUID": 7, "Command": {"RequestType": "RestartDevice"}}"#);
    assert!(matches!(
        e,
        DecodeError::WrongType {
            found: "an integer",
            ..
        }
    ));
    assert_eq!(path(&e), "CommandUUID");

    let e = error(r#"{"Command": {"RequestType": "RestartDevice"}, "Priority": 1}"#);
    assert!(matches!(e, DecodeError::UnknownKey { .. }));
    assert_eq!(path(&e), "Priority");

    let e =
        error(r#"{"Command": {"RequestType": "DeviceInformation", "Queries": [], "Extra": 1}}"#);
    assert!(matches!(e, DecodeError::UnknownKey { .. }));
    assert_eq!(path(&e), "Command.Extra");

    let e = error(r#"{"Command": {"RequestType": "DeviceInformation"}}"#);
    assert!(matches!(e, DecodeError::MissingKey { .. }));
    assert_eq!(path(&e), "Command.Queries");

    let e = error(r#"{"Command": {"RequestType": "DeviceInformation", "Queries": ["UDID", 4]}}"#);
    assert!(matches!(
        e,
        DecodeError::WrongType {
            expected: "a string",
            found: "an integer",
            ..
        }
    ));
    assert_eq!(path(&e), "Command.Queries[1]");

    let e = error(
        r#"{"Command": {"RequestType": "EraseDevice", "ObliterationBehavior": "Sometimes"}}"#,
    );
    assert!(
        matches!(&e, DecodeError::NotAllowed { value, allowed, .. }
            if value == "Sometimes" && allowed.len() == 4),
        "{e}"
    );
    assert_eq!(path(&e), "Command.ObliterationBehavior");

    let e = error(r#"{"Command": {"RequestType": "InstallProfile", "Payload": "not base64"}}"#);
    assert!(matches!(e, DecodeError::InvalidBase64 { .. }));
    assert_eq!(path(&e), "Command.Payload");

    let e = error(
        r#"{"Command": {"RequestType": "Settings", "Settings": [
             {"Item": "DeviceName", "DeviceName": "Lab 4"},
             {"Item": "Wallpaper", "Image": "AAE=", "Where": 4}]}}"#,
    );
    assert!(matches!(e, DecodeError::NotAllowed { .. }));
    assert_eq!(path(&e), "Command.Settings[1].Where");

    let e = error(r#"{"Command": {"RequestType": "Settings", "Settings": [{"Item": "Coffee"}]}}"#);
    assert!(matches!(e, DecodeError::NotAllowed { .. }));
    assert_eq!(path(&e), "Command.Settings[0].Item");

    let e = error(r#"{"Command": {"RequestType": "DeviceLock", "PIN": null}}"#);
    assert!(matches!(e, DecodeError::WrongType { found: "null", .. }));
    assert_eq!(path(&e), "Command.PIN");
}

#[test]
fn limits_bound_the_parsed_tree_before_it_is_built() {
    use mdm_commands::CommandEnvelope;
    use mdm_commands::plist::Value;
    use mdm_proto::DecodeLimits;

    let limits = DecodeLimits::default().max_objects(64);
    let many = format!(
        r#"{{"Command": {{"RequestType": "DeviceInformation", "Queries": [{}]}}}}"#,
        vec!["0"; 100].join(",")
    );
    let e = CommandEnvelope::from_json_with(many.as_bytes(), &limits).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::Plist(mdm_proto::DecodeError::TooManyObjects { limit: 64 })
        ),
        "{e}"
    );
    // Separators inside strings (escaped quotes included) are not values.
    let quoted = r#"{"Command": {"RequestType": "DeviceLock", "Message": "a,b:[{\",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"}}"#;
    let envelope = CommandEnvelope::from_json_with(quoted.as_bytes(), &limits).unwrap();
    let payload = envelope.to_plist().payload().unwrap();
    assert!(matches!(&payload["Message"], Value::String(s) if s.starts_with("a,b:[{\",")));
    let e =
        CommandEnvelope::from_json_with(quoted.as_bytes(), &limits.max_body_bytes(10)).unwrap_err();
    assert!(matches!(
        e,
        DecodeError::Plist(mdm_proto::DecodeError::TooLarge { limit: 10, .. })
    ));
}
