//! Every declaration type of the schema, through the samples the generator made from it
//! (`tests/samples/declarations/`: every key, and the required keys only): the payload reads as
//! its typed value and writes back as the same JSON. And the errors a bad payload gets.

use std::path::{Path, PathBuf};

use mdm_commands::{DecodeError, Os};
use mdm_ddm::declarations::{
    ActivationSimple, ConfigurationPasscodeSettings, ConfigurationSoftwareupdateSettings,
};
use mdm_ddm::{AnyDeclaration, DeclarationPayload, PayloadError, UnknownKeys};
use serde_json::{Value, json};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples/declarations")
}

fn sample_declarations() -> Vec<(String, Value)> {
    let mut names: Vec<String> = std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(samples().join(&name)).unwrap();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

#[test]
fn every_sample_reads_as_its_type_and_writes_back_the_same_json() {
    let samples = sample_declarations();
    assert_eq!(samples.len(), 2 * AnyDeclaration::DECLARATION_TYPES.len());
    for (name, declaration) in &samples {
        let declaration_type = declaration["Type"].as_str().unwrap();
        assert!(name.starts_with(declaration_type), "{name}");
        let payload = &declaration["Payload"];
        let typed = AnyDeclaration::from_json_value(declaration_type, payload)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(typed.declaration_type(), declaration_type);
        assert_eq!(&typed.to_json_value(), payload, "{name}");
        assert!(AnyDeclaration::availability_of(declaration_type).is_some());
        // The same through the payload's text.
        let text = serde_json::to_vec(payload).unwrap();
        assert_eq!(
            AnyDeclaration::from_json(declaration_type, &text).unwrap(),
            typed
        );
    }
}

#[test]
fn every_declaration_type_has_samples() {
    let samples = sample_declarations();
    for declaration_type in AnyDeclaration::DECLARATION_TYPES {
        for suffix in [".json", ".minimal.json"] {
            let file = format!("{declaration_type}{suffix}");
            assert!(samples.iter().any(|(name, _)| *name == file), "{file}");
        }
    }
}

#[test]
fn a_typed_declaration_knows_its_type_and_availability() {
    assert_eq!(
        ConfigurationPasscodeSettings::DECLARATION_TYPE,
        "com.apple.configuration.passcode.settings"
    );
    let ios = ConfigurationPasscodeSettings::AVAILABILITY
        .on(Os::Ios)
        .unwrap();
    assert_eq!(ios.introduced, Some("15.0"));
    // macOS allows supervised and local enrollments only, system and user scopes.
    let macos = ConfigurationPasscodeSettings::AVAILABILITY
        .on(Os::MacOs)
        .unwrap();
    assert!(macos.supervised);
    assert_eq!(macos.user_enrollment, mdm_commands::Mode::Forbidden);
    assert_eq!(
        (macos.device_channel, macos.user_channel),
        (Some(true), Some(true))
    );
    assert!(!ConfigurationPasscodeSettings::AVAILABILITY.supports(Os::TvOs, "18.0"));

    let payload = ConfigurationPasscodeSettings {
        minimum_length: Some(6),
        require_passcode: Some(true),
        ..Default::default()
    };
    let json = payload.to_json_value();
    assert_eq!(json, json!({"RequirePasscode": true, "MinimumLength": 6}));
    let any = AnyDeclaration::from(payload.clone());
    assert_eq!(
        any.declaration_type(),
        ConfigurationPasscodeSettings::DECLARATION_TYPE
    );
    assert_eq!(
        ConfigurationPasscodeSettings::from_json_value(&json).unwrap(),
        payload
    );
    // serde goes through the same schema.
    assert_eq!(serde_json::to_value(&payload).unwrap(), json);
    let read: ConfigurationPasscodeSettings = serde_json::from_value(json).unwrap();
    assert_eq!(read, payload);
    let error =
        serde_json::from_value::<ConfigurationPasscodeSettings>(json!({"MinimumLength": "six"}))
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        "MinimumLength: expected an integer, found a string"
    );
}

#[test]
fn an_unknown_type_is_named() {
    let error =
        AnyDeclaration::from_json_value("com.apple.configuration.future", &json!({})).unwrap_err();
    assert!(
        matches!(&error, PayloadError::UnknownType(t) if t == "com.apple.configuration.future")
    );
    assert_eq!(
        error.to_string(),
        "unknown declaration type \"com.apple.configuration.future\""
    );
    assert!(matches!(
        AnyDeclaration::from_json("com.apple.configuration.future", b"{"),
        Err(PayloadError::UnknownType(_))
    ));
}

fn invalid(declaration_type: &str, payload: Value) -> (PayloadError, String) {
    let error = AnyDeclaration::from_json_value(declaration_type, &payload).unwrap_err();
    let path = error.path().map(ToString::to_string).unwrap_or_default();
    (error, path)
}

#[test]
fn a_missing_required_key_is_named() {
    let (error, path) = invalid(
        ActivationSimple::DECLARATION_TYPE,
        json!({"Predicate": "TRUEPREDICATE"}),
    );
    assert_eq!(path, "StandardConfigurations");
    assert!(matches!(
        error,
        PayloadError::Invalid {
            error: DecodeError::MissingKey { .. },
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "com.apple.activation.simple payload: StandardConfigurations: missing required key"
    );
}

#[test]
fn a_wrong_type_is_named_with_its_path() {
    let (error, path) = invalid(
        ConfigurationPasscodeSettings::DECLARATION_TYPE,
        json!({"MinimumLength": "six"}),
    );
    assert_eq!(path, "MinimumLength");
    assert!(matches!(
        error,
        PayloadError::Invalid {
            error: DecodeError::WrongType {
                expected: "an integer",
                found: "a string",
                ..
            },
            ..
        }
    ));
    // Inside arrays, by index.
    let (_, path) = invalid(
        ActivationSimple::DECLARATION_TYPE,
        json!({"StandardConfigurations": ["a", 2]}),
    );
    assert_eq!(path, "StandardConfigurations[1]");
    // The payload itself.
    let (error, path) = invalid(ActivationSimple::DECLARATION_TYPE, json!(["a"]));
    assert_eq!(path, "(top level)");
    assert!(
        error.to_string().contains("expected a dictionary"),
        "{error}"
    );
}

#[test]
fn a_value_outside_a_closed_list_is_named_with_the_allowed_values() {
    let (error, path) = invalid(
        ConfigurationSoftwareupdateSettings::DECLARATION_TYPE,
        json!({"AutomaticActions": {"Download": "Sometimes"}}),
    );
    assert_eq!(path, "AutomaticActions.Download");
    let PayloadError::Invalid {
        error: DecodeError::NotAllowed { value, allowed, .. },
        ..
    } = error
    else {
        panic!("{error:?}")
    };
    assert_eq!(value, "Sometimes");
    assert_eq!(allowed, ["Allowed", "AlwaysOn", "AlwaysOff"]);
}

#[test]
fn keys_a_newer_os_adds_are_skipped_and_the_known_ones_kept() {
    let payload = json!({
        "MinimumLength": 8,
        "RequirePasscodeOnWristDetection": true,
        "FutureSetting": {"Nested": [1, 2, 3]},
    });
    let typed =
        AnyDeclaration::from_json_value(ConfigurationPasscodeSettings::DECLARATION_TYPE, &payload)
            .unwrap();
    assert_eq!(typed.to_json_value(), json!({"MinimumLength": 8}));
    // Refused when asked, by path.
    let error = AnyDeclaration::from_json_value_with(
        ConfigurationPasscodeSettings::DECLARATION_TYPE,
        &json!({"MinimumLength": 8, "MinimumLenght": 9}),
        UnknownKeys::Reject,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "com.apple.configuration.passcode.settings payload: MinimumLenght: unknown key"
    );
}

#[test]
fn a_payload_that_is_not_json_is_located() {
    let error = AnyDeclaration::from_json(
        ConfigurationPasscodeSettings::DECLARATION_TYPE,
        b"{\"MinimumLength\": }",
    )
    .unwrap_err();
    assert!(
        matches!(error, PayloadError::Json { line: 1, .. }),
        "{error:?}"
    );
    // Deep nesting is refused by the parser, not by the stack.
    let deep = format!(
        "{{\"FutureSetting\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let error = AnyDeclaration::from_json(
        ConfigurationPasscodeSettings::DECLARATION_TYPE,
        deep.as_bytes(),
    )
    .unwrap_err();
    assert!(matches!(error, PayloadError::Json { .. }), "{error:?}");
}

#[test]
fn the_assets_a_configuration_names_are_found_by_the_schema() {
    let payload = json!({
        "TaskType": "com.example.task",
        "ExecutableAssetReference": "asset-exe",
        "LaunchdConfigurations": [
            {"FileAssetReference": "asset-plist-1", "Context": "agent"},
            {"FileAssetReference": "asset-plist-2", "Context": "daemon"}
        ]
    });
    let declaration = AnyDeclaration::from_json_value(
        "com.apple.configuration.services.background-tasks",
        &payload,
    )
    .unwrap();
    let references: Vec<(String, String, Vec<&str>)> = declaration
        .asset_references()
        .into_iter()
        .map(|(identifier, key)| (identifier, key.path.join("."), key.asset_types.to_vec()))
        .collect();
    assert_eq!(
        references,
        [
            (
                "asset-exe".to_owned(),
                "ExecutableAssetReference".to_owned(),
                vec!["com.apple.asset.data"]
            ),
            (
                "asset-plist-1".to_owned(),
                "LaunchdConfigurations.*.FileAssetReference".to_owned(),
                vec!["com.apple.asset.data"]
            ),
            (
                "asset-plist-2".to_owned(),
                "LaunchdConfigurations.*.FileAssetReference".to_owned(),
                vec!["com.apple.asset.data"]
            ),
        ]
    );
    // Arrays of identifiers.
    let watch = AnyDeclaration::from_json_value(
        "com.apple.configuration.watch.enrollment",
        &json!({"EnrollmentProfileURL": "https://mdm.example.com/watch", "AnchorCertificateAssetReferences": ["ca-1", "ca-2"]}),
    )
    .unwrap();
    let identifiers: Vec<String> = watch
        .asset_references()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(identifiers, ["ca-1", "ca-2"]);
    // Every sample configuration that has reference keys names its assets.
    for declaration_type in AnyDeclaration::DECLARATION_TYPES {
        let keys = AnyDeclaration::asset_references_of(declaration_type).unwrap();
        assert!(
            keys.iter()
                .all(|k| !k.asset_types.is_empty() && !k.path.is_empty())
        );
    }
    assert_eq!(
        AnyDeclaration::asset_references_of("com.apple.configuration.future"),
        None
    );
}
