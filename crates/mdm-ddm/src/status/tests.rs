use super::*;
use serde_json::json;

const MACOS_REPORT: &[u8] = include_bytes!("../../tests/fixtures/status-report-macos.json");

fn value<'a>(report: &'a ParsedStatusReport, path: &str) -> Vec<&'a str> {
    report
        .values
        .iter()
        .filter(|v| v.path == path)
        .map(|v| v.value.as_text())
        .collect()
}

#[test]
fn reads_a_full_report() {
    let report = parse_status_report(MACOS_REPORT).unwrap();
    assert_eq!(report.full_report, Some(true));

    let ids: Vec<(&str, DeclarationCategory)> = report
        .declarations
        .iter()
        .map(|d| (d.identifier.as_str(), d.category))
        .collect();
    use DeclarationCategory::*;
    assert_eq!(
        ids,
        [
            ("com.example.activation.passcode", Activation),
            ("com.example.activation.beta", Activation),
            ("com.example.passcode", Configuration),
            ("com.example.mail", Configuration),
            ("com.example.org-info", Management),
        ]
    );
    let mail = &report.declarations[3];
    assert!(!mail.active);
    assert_eq!(mail.validity(), DeclarationValidity::Invalid);
    assert_eq!(mail.server_token, "ffeeddccbbaa99887766554433221100");
    assert_eq!(
        mail.reasons.as_ref().unwrap()[0]["code"],
        json!("Error.MissingAssets")
    );
    // Inactive but valid (a predicate that is false) is not an error, as in KMFDDM.
    assert!(!report.declarations[1].is_error());

    // Errors: the invalid configuration, then the report's own.
    assert_eq!(report.errors.len(), 2);
    assert_eq!(
        report.errors[0].path,
        ".StatusItems.management.declarations.configurations"
    );
    assert_eq!(
        report.errors[0].error["identifier"],
        json!("com.example.mail")
    );
    assert_eq!(report.errors[1].path, ".Errors");
    assert_eq!(
        report.errors[1].error["StatusItem"],
        json!("device.operating-system.supplemental.build-version")
    );

    // Values, flattened the way KMFDDM stores them.
    assert_eq!(value(&report, ".StatusItems.device.model.family"), ["Mac"]);
    assert_eq!(
        value(&report, ".StatusItems.device.operating-system.version"),
        ["15.1"]
    );
    let mut payloads = value(
        &report,
        ".StatusItems.management.client-capabilities.supported-payloads.declarations.configurations",
    );
    payloads.sort_unstable();
    assert_eq!(
        payloads,
        [
            "com.apple.configuration.account.mail",
            "com.apple.configuration.passcode.settings"
        ]
    );
    let versions: Vec<&StatusValue> = report
        .values
        .iter()
        .filter(|v| v.path == ".StatusItems.management.client-capabilities.supported-versions")
        .collect();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].container, ValueContainer::Array);
    assert_eq!(versions[0].value.value_type(), "string");
    // null gives nothing; the declaration statuses are not values.
    assert!(
        value(
            &report,
            ".StatusItems.device.operating-system.supplemental.extra-version"
        )
        .is_empty()
    );
    assert!(
        report
            .values
            .iter()
            .all(|v| !v.path.starts_with(".StatusItems.management.declarations"))
    );
    assert!(
        report
            .values
            .iter()
            .all(|v| v.path.starts_with(".StatusItems.device.")
                || v.path.starts_with(".StatusItems.management."))
    );
    // Status items KMFDDM does not flatten are listed.
    let mut unhandled = report.unhandled_paths.clone();
    unhandled.sort_unstable();
    assert_eq!(unhandled, [".StatusItems.passcode", ".StatusItems.test"]);
}

#[test]
fn declaration_status_serializes_like_kmfddm() {
    let report = parse_status_report(MACOS_REPORT).unwrap();
    let first = serde_json::to_value(&report.declarations[0]).unwrap();
    assert_eq!(
        first,
        json!({
            "identifier": "com.example.activation.passcode",
            "active": true,
            "valid": "valid",
            "server-token": "5f0b6a3e9d2c41a7b8e0c3d2f1a49b7e",
            "ManifestType": "activations"
        })
    );
    let with_reasons = serde_json::to_value(&report.declarations[3]).unwrap();
    assert_eq!(
        with_reasons["ReasonsJSON"][0]["code"],
        json!("Error.MissingAssets")
    );
}

#[test]
fn partial_reports_are_normal() {
    let only_version =
        br#"{"StatusItems":{"device":{"operating-system":{"version":"18.2"}}},"Errors":[]}"#;
    let report = parse_status_report(only_version).unwrap();
    assert!(report.declarations.is_empty());
    assert!(report.errors.is_empty());
    assert_eq!(report.values.len(), 1);
    assert_eq!(report.values[0].container, ValueContainer::Object);
    assert_eq!(report.full_report, None);

    let only_declarations = br#"{"StatusItems":{"management":{"declarations":{"configurations":[{"identifier":"c","active":true,"valid":"valid","server-token":"t"}]}}}}"#;
    let report = parse_status_report(only_declarations).unwrap();
    assert_eq!(report.declarations.len(), 1);
    assert!(report.values.is_empty());

    assert_eq!(
        parse_status_report(b"{}").unwrap(),
        ParsedStatusReport::default()
    );
}

#[test]
fn arrays_of_objects_flatten_with_member_paths() {
    let json = br#"{"StatusItems":{"management":{"x":[{"a":1,"b":[true,false]},[2.5]]}}}"#;
    let report = parse_status_report(json).unwrap();
    let flat: Vec<(&str, &str, &str, &str)> = report
        .values
        .iter()
        .map(|v| {
            (
                v.path.as_str(),
                v.container.as_str(),
                v.value.value_type(),
                v.value.as_text(),
            )
        })
        .collect();
    assert_eq!(
        flat,
        [
            (".StatusItems.management.x.a", "object", "number", "1"),
            (".StatusItems.management.x.b", "array", "boolean", "true"),
            (".StatusItems.management.x.b", "array", "boolean", "false"),
            (".StatusItems.management.x", "array", "number", "2.5"),
        ]
    );
}

#[test]
fn refusals_are_precise() {
    let cases: &[(&[u8], &str)] = &[
        (b"[]", "the report"),
        (br#"{"StatusItems":[]}"#, ".StatusItems"),
        (br#"{"Errors":{}}"#, ".Errors"),
        (br#"{"FullReport":"yes"}"#, ".FullReport"),
        (
            br#"{"StatusItems":{"management":{"declarations":[]}}}"#,
            ".StatusItems.management.declarations",
        ),
        (
            br#"{"StatusItems":{"management":{"declarations":{"assets":{}}}}}"#,
            ".StatusItems.management.declarations.assets",
        ),
        (
            br#"{"StatusItems":{"management":{"declarations":{"assets":[1]}}}}"#,
            ".StatusItems.management.declarations.assets[0]",
        ),
        (
            br#"{"StatusItems":{"management":{"declarations":{"assets":[{"identifier":"a","active":"yes"}]}}}}"#,
            ".StatusItems.management.declarations.assets[0].active",
        ),
    ];
    for (json, path) in cases {
        match parse_status_report(json) {
            Err(StatusReportError::WrongValueType { path: p, .. }) => assert_eq!(&p, path),
            other => panic!("{}: {other:?}", String::from_utf8_lossy(json)),
        }
    }
    assert!(matches!(
        parse_status_report(
            br#"{"StatusItems":{"management":{"declarations":{"assets":[{"identifier":"","active":true}]}}}}"#
        ),
        Err(StatusReportError::DeclarationWithoutIdentifier { path }) if path == ".StatusItems.management.declarations.assets[0]"
    ));
    assert!(matches!(
        parse_status_report(b"{\"StatusItems\":"),
        Err(StatusReportError::Json(_))
    ));
}

#[test]
fn limits_hold() {
    let deep = format!(
        r#"{{"StatusItems":{{"device":{}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(matches!(
        parse_status_report(deep.as_bytes()),
        Err(StatusReportError::TooDeep { limit: 64, .. })
    ));

    let small = StatusReportLimits {
        max_bytes: 10,
        ..StatusReportLimits::default()
    };
    assert!(matches!(
        parse_status_report_with(MACOS_REPORT, &small),
        Err(StatusReportError::TooLarge { limit: 10, .. })
    ));

    // A long key over a long array would repeat the key once per element.
    let key = "k".repeat(100_000);
    let elements = vec!["1"; 100_000].join(",");
    let amplifying = format!(r#"{{"StatusItems":{{"device":{{"{key}":[{elements}]}}}}}}"#);
    assert!(matches!(
        parse_status_report(amplifying.as_bytes()),
        Err(StatusReportError::FlattenedTooLarge { .. })
    ));
}
