//! Status items: every item of the schema through the generator's sample
//! (`tests/samples/status-items.json`, with keys a newer OS might add), and a status report as a
//! device sends one.

use std::path::Path;

use mdm_ddm::status_items::device_power_battery_health::BatteryHealth;
use mdm_ddm::status_items::management_declarations::Valid;
use mdm_ddm::status_items::{
    DeviceOperatingSystemVersion, DevicePowerBatteryHealth, ManagementDeclarations,
    PasscodeIsCompliant,
};
use mdm_ddm::{MAX_STATUS_ITEM_DEPTH, StatusItem, StatusItemError, StatusItemType};
use serde_json::{Value, json};

fn sample() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples/status-items.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `value` without the sample's `UnknownKeyFromNewerOS` keys.
fn without_unknown_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "UnknownKeyFromNewerOS")
                .map(|(k, v)| (k.clone(), without_unknown_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_unknown_keys).collect()),
        other => other.clone(),
    }
}

#[test]
fn every_status_item_of_the_sample_reads_typed() {
    let sample = sample();
    let status_items = &sample["StatusItems"];
    let items: Vec<StatusItem> = StatusItem::all_in(status_items)
        .into_iter()
        .map(|item| item.unwrap())
        .collect();
    assert_eq!(items.len(), StatusItem::NAMES.len());
    for item in &items {
        assert!(
            !matches!(item, StatusItem::Other { .. }),
            "{} is untyped",
            item.name()
        );
        assert!(StatusItem::availability_of(item.name()).is_some());
        let mut value = status_items;
        for part in item.name().split('.') {
            value = &value[part];
        }
        assert_eq!(
            item.to_json_value(),
            without_unknown_keys(value),
            "{}",
            item.name()
        );
    }
    for name in StatusItem::NAMES {
        let item = StatusItem::from_path(name, status_items).unwrap().unwrap();
        assert_eq!(item.name(), *name);
    }
}

/// A status report as an iPhone on iOS 18 sends it (identifiers changed).
const REPORT: &str = r#"{
  "StatusItems": {
    "device": {
      "identifier": {"serial-number": "F2LXK0L1Q1GC", "udid": "00008120-0012345678901234"},
      "model": {
        "family": "iPhone",
        "identifier": "iPhone16,1",
        "marketing-name": "iPhone 15 Pro",
        "number": "MTQA3"
      },
      "operating-system": {
        "build-version": "22B83",
        "family": "iOS",
        "marketing-name": "iOS 18.1",
        "version": "18.1",
        "supplemental": {"build-version": "22B83", "extra-version": ""}
      },
      "power": {"battery-health": "degraded-but-fine"},
      "future-item": {"enabled": true}
    },
    "management": {
      "client-capabilities": {
        "supported-versions": ["1.0.0"],
        "supported-features": {},
        "supported-payloads": {
          "declarations": {
            "activations": ["com.apple.activation.simple"],
            "assets": ["com.apple.asset.data"],
            "configurations": ["com.apple.configuration.passcode.settings"],
            "management": ["com.apple.management.properties"]
          },
          "status-items": ["device.operating-system.version", "passcode.is-compliant"]
        }
      },
      "declarations": {
        "activations": [
          {"identifier": "act-1", "server-token": "t1", "active": true, "valid": "valid"}
        ],
        "assets": [],
        "configurations": [
          {
            "identifier": "passcode",
            "server-token": "t2",
            "active": false,
            "valid": "invalid",
            "reasons": [
              {
                "code": "Error.ConfigurationCannotBeApplied",
                "description": "Configuration cannot be applied",
                "details": {"Error": "The passcode policy is not allowed"}
              }
            ]
          }
        ],
        "management": []
      }
    },
    "passcode": {"is-compliant": true, "is-present": true}
  },
  "Errors": []
}"#;

#[test]
fn a_status_report_reads_typed_with_unknown_items_kept() {
    let report: Value = serde_json::from_str(REPORT).unwrap();
    let status_items = &report["StatusItems"];
    let items: Vec<StatusItem> = StatusItem::all_in(status_items)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let names: Vec<&str> = items.iter().map(StatusItem::name).collect();
    assert!(names.contains(&"device.operating-system.supplemental.extra-version"));
    assert!(names.contains(&"device.future-item.enabled"), "{names:?}");

    let version = StatusItem::from_path(DeviceOperatingSystemVersion::NAME, status_items)
        .unwrap()
        .unwrap();
    assert_eq!(
        version,
        StatusItem::DeviceOperatingSystemVersion(DeviceOperatingSystemVersion("18.1".into()))
    );
    // A value a newer OS reports is kept, not refused.
    let battery = StatusItem::from_path("device.power.battery-health", status_items)
        .unwrap()
        .unwrap();
    assert_eq!(
        battery,
        StatusItem::DevicePowerBatteryHealth(DevicePowerBatteryHealth(BatteryHealth::Other(
            "degraded-but-fine".into()
        )))
    );
    let Some(StatusItem::ManagementDeclarations(ManagementDeclarations(declarations))) =
        StatusItem::from_path("management.declarations", status_items).unwrap()
    else {
        panic!()
    };
    let configuration = &declarations.configurations.as_ref().unwrap()[0];
    assert_eq!(configuration.identifier.as_deref(), Some("passcode"));
    assert_eq!(configuration.valid, Some(Valid::Invalid));
    let reason = &configuration.reasons.as_ref().unwrap()[0];
    assert_eq!(
        reason.code.as_deref(),
        Some("Error.ConfigurationCannotBeApplied")
    );

    // A typed item on its own, and through serde.
    let compliant = PasscodeIsCompliant::from_json_value(&json!(true)).unwrap();
    assert_eq!(compliant, PasscodeIsCompliant(true));
    assert_eq!(serde_json::to_value(&compliant).unwrap(), json!(true));

    // Absent and unknown names.
    assert_eq!(
        StatusItem::from_path("passcode.is-absent", status_items).unwrap(),
        None
    );
    assert_eq!(
        StatusItem::from_path("device.future-item", status_items).unwrap(),
        Some(StatusItem::Other {
            name: "device.future-item".into(),
            value: json!({"enabled": true})
        })
    );
}

#[test]
fn a_bad_item_is_an_error_of_its_own() {
    let status_items = json!({
        "device": {"operating-system": {"version": 18, "family": "iOS"}},
        "passcode": {"is-compliant": "yes"}
    });
    let items = StatusItem::all_in(&status_items);
    assert_eq!(items.len(), 3);
    let errors: Vec<String> = items
        .iter()
        .filter_map(|item| item.as_ref().err().map(ToString::to_string))
        .collect();
    assert_eq!(
        errors,
        [
            "status item device.operating-system.version: (top level): expected a string, found an integer",
            "status item passcode.is-compliant: (top level): expected a boolean, found a string",
        ]
    );
    assert!(
        items
            .iter()
            .any(|item| matches!(item, Ok(StatusItem::DeviceOperatingSystemFamily(_))))
    );
}

#[test]
fn status_items_that_are_not_a_dictionary_or_nest_too_deep_are_errors() {
    let items = StatusItem::all_in(&json!(["device"]));
    assert!(matches!(
        items.as_slice(),
        [Err(StatusItemError::NotADictionary { name })] if name.is_empty()
    ));
    let mut deep = json!({"leaf": 1});
    for _ in 0..MAX_STATUS_ITEM_DEPTH + 5 {
        deep = json!({ "x": deep });
    }
    let items = StatusItem::all_in(&deep);
    assert!(
        matches!(items.as_slice(), [Err(StatusItemError::TooDeep { .. })]),
        "{items:?}"
    );
}
