use super::*;
use crate::predicate::{PredicateErrorKind, PredicateExpected};
use serde_json::json;

/// `assert_eq!` by `Debug`: a `ValidationError` may hold a `PayloadError`, which has no
/// `PartialEq`.
macro_rules! assert_same {
    ($left:expr, $right:expr $(,)?) => {{
        let right: Result<(), ValidationError> = $right;
        assert_eq!(format!("{:?}", $left), format!("{right:?}"))
    }};
}

fn decl(declaration_type: &str, identifier: &str, payload: Value) -> Declaration {
    let Value::Object(payload) = payload else {
        panic!("payload is an object")
    };
    Declaration::new(declaration_type, identifier, payload).unwrap()
}

fn store() -> BTreeMap<String, Declaration> {
    [
        decl(
            "com.apple.configuration.passcode.settings",
            "cfg.passcode",
            json!({"RequirePasscode": true}),
        ),
        decl(
            "com.apple.configuration.management.test",
            "cfg.test",
            json!({"Echo": "hi"}),
        ),
        decl(
            "com.apple.asset.credential.userpassword",
            "asset.mail-login",
            json!({"Reference": {"DataURL": "https://example.com/a", "ContentType": "application/json"}}),
        ),
        decl(
            "com.apple.asset.credential.certificate",
            "asset.anchor",
            json!({"Reference": {"DataURL": "https://example.com/c"}}),
        ),
        decl(
            "com.apple.management.organization-info",
            "mgmt.org",
            json!({"Name": "Example"}),
        ),
    ]
    .into_iter()
    .map(|d| (d.identifier().to_owned(), d))
    .collect()
}

#[test]
fn activation_with_known_configurations_and_a_good_predicate_passes() {
    let act = decl(
        "com.apple.activation.simple",
        "act",
        json!({
            "StandardConfigurations": ["cfg.passcode", "cfg.test"],
            "Predicate": "@status(device.operating-system.family) == 'iOS'"
        }),
    );
    assert_same!(validate_declaration(&act, &store(), &AnyPayload), Ok(()));
    let slice: Vec<Declaration> = store().into_values().collect();
    assert_same!(
        validate_declaration(&act, slice.as_slice(), &AnyPayload),
        Ok(())
    );
}

#[test]
fn activation_references_are_checked() {
    let act = |configs: Value| {
        decl(
            "com.apple.activation.simple",
            "act",
            json!({"StandardConfigurations": configs}),
        )
    };
    assert_same!(
        validate_declaration(
            &act(json!(["cfg.passcode", "cfg.missing"])),
            &store(),
            &AnyPayload
        ),
        Err(ValidationError::UnknownConfiguration {
            key_path: "StandardConfigurations[1]".into(),
            identifier: "cfg.missing".into()
        })
    );
    assert_same!(
        validate_declaration(&act(json!(["asset.anchor"])), &store(), &AnyPayload),
        Err(ValidationError::NotAConfiguration {
            key_path: "StandardConfigurations[0]".into(),
            identifier: "asset.anchor".into(),
            category: DeclarationCategory::Asset
        })
    );
    assert_same!(
        validate_declaration(&act(json!("cfg.passcode")), &store(), &AnyPayload),
        Err(ValidationError::WrongValueType {
            key_path: "StandardConfigurations".into(),
            expected: "an array of strings"
        })
    );
    assert_same!(
        validate_declaration(&act(json!([1])), &store(), &AnyPayload),
        Err(ValidationError::WrongValueType {
            key_path: "StandardConfigurations[0]".into(),
            expected: "a string"
        })
    );
}

#[test]
fn a_bad_predicate_is_refused_with_its_position() {
    let act = decl(
        "com.apple.activation.simple",
        "act",
        json!({"StandardConfigurations": ["cfg.test"], "Predicate": "@status(device.model.family) == "}),
    );
    let error = validate_declaration(&act, &store(), &AnyPayload).unwrap_err();
    match &error {
        ValidationError::Predicate(p) => {
            assert_eq!(p.offset, 32);
            assert!(matches!(
                p.kind,
                PredicateErrorKind::Expected {
                    expected: PredicateExpected::Expression,
                    ..
                }
            ));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "Payload.Predicate: predicate refused at byte 32: expected an expression, found the end of the predicate"
    );
    let not_a_string = decl(
        "com.apple.activation.simple",
        "act",
        json!({"StandardConfigurations": [], "Predicate": true}),
    );
    assert!(matches!(
        validate_declaration(&not_a_string, &store(), &AnyPayload),
        Err(ValidationError::WrongValueType { key_path, .. }) if key_path == "Predicate"
    ));
}

#[test]
fn asset_references_follow_the_naming_rule() {
    let mail = decl(
        "com.apple.configuration.account.mail",
        "cfg.mail",
        json!({
            "UserIdentityAssetReference": "asset.mail-login",
            "IncomingServer": {"ServerType": "IMAP", "AuthenticationCredentialsAssetReference": "asset.mail-login"},
            "OutgoingServer": {"AuthenticationCredentialsAssetReference": "asset.missing"},
            "Items": [{"FileAssetReference": "asset.anchor"}],
            "AnchorCertificateAssetReferences": ["asset.anchor", "asset.mail-login"],
            "NotAReference": "asset.nothing"
        }),
    );
    let refs: Vec<(String, &str)> = named_assets(&mail)
        .unwrap()
        .into_iter()
        .map(|r| (r.key_path, r.identifier))
        .collect();
    let mut sorted = refs.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            (
                "AnchorCertificateAssetReferences[0]".to_owned(),
                "asset.anchor"
            ),
            (
                "AnchorCertificateAssetReferences[1]".to_owned(),
                "asset.mail-login"
            ),
            (
                "IncomingServer.AuthenticationCredentialsAssetReference".to_owned(),
                "asset.mail-login"
            ),
            ("Items[0].FileAssetReference".to_owned(), "asset.anchor"),
            (
                "OutgoingServer.AuthenticationCredentialsAssetReference".to_owned(),
                "asset.missing"
            ),
            ("UserIdentityAssetReference".to_owned(), "asset.mail-login"),
        ]
    );
    assert_same!(
        validate_declaration(&mail, &store(), &AnyPayload),
        Err(ValidationError::UnknownAsset {
            key_path: "OutgoingServer.AuthenticationCredentialsAssetReference".into(),
            identifier: "asset.missing".into()
        })
    );
    let wrong_kind = decl(
        "com.apple.configuration.security.certificate",
        "cfg.cert",
        json!({"CredentialAssetReference": "cfg.passcode"}),
    );
    assert_same!(
        validate_declaration(&wrong_kind, &store(), &AnyPayload),
        Err(ValidationError::NotAnAsset {
            key_path: "CredentialAssetReference".into(),
            identifier: "cfg.passcode".into(),
            category: DeclarationCategory::Configuration
        })
    );
    let not_a_string = decl(
        "com.apple.configuration.security.certificate",
        "cfg.cert",
        json!({"CredentialAssetReference": {"x": 1}}),
    );
    assert!(matches!(
        validate_declaration(&not_a_string, &store(), &AnyPayload),
        Err(ValidationError::WrongValueType { key_path, .. }) if key_path == "CredentialAssetReference"
    ));
    // Assets and management declarations refer to nothing.
    let asset = decl(
        "com.apple.asset.data",
        "a",
        json!({"FooAssetReference": "missing"}),
    );
    assert_eq!(named_assets(&asset).unwrap(), []);
    assert_same!(validate_declaration(&asset, &store(), &AnyPayload), Ok(()));
}

#[test]
fn apple_schema_checks_payloads() {
    // Missing its required StandardConfigurations.
    let bad = decl("com.apple.activation.simple", "act", json!({}));
    let error = validate_declaration(&bad, &store(), &AppleSchema).unwrap_err();
    assert!(
        matches!(&error, ValidationError::Payload(PayloadError::Invalid { error, .. })
            if error.path().map(ToString::to_string).as_deref() == Some("StandardConfigurations")),
        "{error:?}"
    );
    let good = decl(
        "com.apple.activation.simple",
        "act",
        json!({"StandardConfigurations": ["cfg.passcode"]}),
    );
    assert!(validate_declaration(&good, &store(), &AppleSchema).is_ok());
    let unknown = decl("com.apple.configuration.future", "f", json!({}));
    assert!(matches!(
        validate_declaration(&unknown, &store(), &AppleSchema),
        Err(ValidationError::Payload(PayloadError::UnknownType(_)))
    ));
    // AnyPayload lets both through to the other checks.
    assert!(validate_declaration(&unknown, &store(), &AnyPayload).is_ok());
}

/// The naming rule of `named_assets` is Apple's schema's: every key the schema says names
/// assets ends in `AssetReference` or `AssetReferences`.
#[test]
fn the_asset_naming_rule_is_the_schemas() {
    let mut keys = 0;
    for declaration_type in AnyDeclaration::DECLARATION_TYPES {
        for reference in AnyDeclaration::asset_references_of(declaration_type).unwrap_or_default() {
            let key = reference.path.iter().rev().find(|s| **s != "*").unwrap();
            assert!(
                key.ends_with("AssetReference") || key.ends_with("AssetReferences"),
                "{declaration_type}: {key}"
            );
            keys += 1;
        }
    }
    assert!(keys > 5, "the schema names asset keys ({keys})");
}
