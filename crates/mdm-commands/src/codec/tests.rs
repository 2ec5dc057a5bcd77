use std::collections::BTreeMap;

use mdm_proto::DecodeLimits;
use plist::{Dictionary, Value};

use super::source::Source;
use super::tree::TreeSource;
use super::xml::XmlSource;
use super::*;
use crate::DecodeError;
use crate::settings::{Settings as SettingsCommand, SettingsItem};

fn settings(strict: bool) -> Settings {
    Settings::new(strict, &DecodeLimits::default(), 1 << 20)
}

fn decode_xml<T: Decode>(xml: &str, strict: bool) -> Result<T, DecodeError> {
    let mut source = XmlSource::new(xml.as_bytes());
    decode_from(&mut source, settings(strict))
}

fn decode_json<T: Decode>(json: &str) -> Result<T, DecodeError> {
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut source = TreeSource::new(&json);
    decode_from(&mut source, settings(true))
}

fn decode_from<'a, T: Decode>(
    source: &mut dyn Source<'a>,
    settings: Settings,
) -> Result<T, DecodeError> {
    let mut d = Decoder::new(source, settings);
    let value = d.decode()?;
    d.finish()?;
    Ok(value)
}

fn plist(body: &str) -> String {
    format!("<plist version=\"1.0\">{body}</plist>")
}

#[test]
fn scalars_read_from_xml_json_and_trees_alike() {
    assert_eq!(
        decode_xml::<String>(&plist("<string>a&amp;b</string>"), true).unwrap(),
        "a&b"
    );
    assert_eq!(
        decode_xml::<i64>(&plist("<integer>-5</integer>"), true).unwrap(),
        -5
    );
    assert_eq!(
        decode_xml::<f64>(&plist("<integer>2</integer>"), true).unwrap(),
        2.0
    );
    assert!(decode_xml::<bool>(&plist("<true/>"), true).unwrap());
    assert_eq!(
        decode_xml::<Vec<u8>>(&plist("<data>AAE=</data>"), true).unwrap(),
        [0, 1]
    );
    assert_eq!(decode_json::<Vec<u8>>(r#""AAE=""#).unwrap(), [0, 1]);
    let date = decode_json::<Date>(r#""2024-10-21T12:30:00Z""#).unwrap();
    assert_eq!(
        decode_xml::<Date>(&plist("<date>2024-10-21T12:30:00Z</date>"), true).unwrap(),
        date
    );
    assert_eq!(decode_json::<f64>("3").unwrap(), 3.0);
}

#[test]
fn wrong_types_name_what_was_expected_and_found() {
    let error = decode_xml::<i64>(&plist("<string>5</string>"), true).unwrap_err();
    assert!(matches!(
        error,
        DecodeError::WrongType {
            expected: "an integer",
            found: "a string",
            ..
        }
    ));
    // Data and dates are strings only in JSON.
    let error = decode_xml::<Vec<u8>>(&plist("<string>AAE=</string>"), true).unwrap_err();
    assert!(matches!(
        error,
        DecodeError::WrongType {
            expected: "data",
            ..
        }
    ));
    let error = decode_json::<Vec<u8>>("1").unwrap_err();
    assert!(matches!(
        error,
        DecodeError::WrongType {
            expected: "a base64 string",
            ..
        }
    ));
    assert!(matches!(
        decode_json::<Vec<u8>>(r#""not base64!""#),
        Err(DecodeError::InvalidBase64 { .. })
    ));
    assert!(matches!(
        decode_json::<Date>(r#""yesterday""#),
        Err(DecodeError::InvalidDate { value, .. }) if value == "yesterday"
    ));
    assert!(matches!(
        decode_json::<i64>("1.5"),
        Err(DecodeError::WrongType {
            expected: "an integer",
            found: "a real",
            ..
        })
    ));
    assert!(matches!(
        decode_json::<Value>(r#"{"a": null}"#),
        Err(DecodeError::WrongType { found: "null", .. })
    ));
    assert!(matches!(
        decode_xml::<i64>(&plist("<integer>18446744073709551615</integer>"), true),
        Err(DecodeError::WrongType {
            expected: "a signed 64-bit integer",
            ..
        })
    ));
}

#[test]
fn any_values_keep_every_plist_type() {
    let xml = plist(
        "<dict><key>a</key><array><integer>1</integer><real>2.5</real><true/>\
         <date>2024-01-02T03:04:05Z</date><data>AAE=</data><dict/></array>\
         <key>b</key><string>x</string></dict>",
    );
    let value: Value = decode_xml(&xml, true).unwrap();
    assert_eq!(value, Value::from_reader_xml(xml.as_bytes()).unwrap());
    let dict: Dictionary = decode_xml(&xml, true).unwrap();
    assert_eq!(dict.len(), 2);
}

#[test]
fn deep_values_are_refused_without_recursion() {
    let depth = 100_000;
    let xml = plist(&format!(
        "{}{}",
        "<array>".repeat(depth),
        "</array>".repeat(depth)
    ));
    for strict in [true, false] {
        assert!(matches!(
            decode_xml::<Value>(&xml, strict),
            Err(DecodeError::Plist(mdm_proto::DecodeError::TooDeep {
                limit: 64
            }))
        ));
    }
    // A skipped key is bounded too: `()` skips every key of a report without a result.
    let xml = plist(&format!(
        "<dict><key>x</key>{}{}</dict>",
        "<array>".repeat(depth),
        "</array>".repeat(depth)
    ));
    assert!(matches!(
        decode_xml::<()>(&xml, false),
        Err(DecodeError::Plist(mdm_proto::DecodeError::TooDeep { .. }))
    ));
}

#[test]
fn objects_and_decoded_memory_are_bounded() {
    let limits = DecodeLimits::default().max_objects(100);
    let xml = plist(&format!("<array>{}</array>", "<true/>".repeat(200)));
    let mut source = XmlSource::new(xml.as_bytes());
    let result: Result<Vec<bool>, _> =
        decode_from(&mut source, Settings::new(false, &limits, xml.len()));
    assert!(matches!(
        result,
        Err(DecodeError::Plist(mdm_proto::DecodeError::TooManyObjects {
            limit: 100
        }))
    ));
    // Many empty dictionaries, each a struct of many fields: the budget stops them.
    let xml = plist(&format!("<array>{}</array>", "<dict/>".repeat(20_000)));
    let mut source = XmlSource::new(xml.as_bytes());
    let result: Result<Vec<crate::device_information::QueryResponses>, _> = decode_from(
        &mut source,
        Settings::new(false, &DecodeLimits::default(), xml.len()),
    );
    assert!(
        matches!(result, Err(DecodeError::TooLargeDecoded { .. })),
        "{result:?}"
    );
}

#[test]
fn strict_decoding_refuses_unknown_keys_and_lenient_skips_them() {
    let xml = plist(
        "<dict><key>Queries</key><array><string>UDID</string></array>\
         <key>Extra</key><dict><key>x</key><array/></dict></dict>",
    );
    let error = decode_xml::<crate::DeviceInformation>(&xml, true).unwrap_err();
    assert!(matches!(&error, DecodeError::UnknownKey { path } if path.to_string() == "Extra"));
    let command: crate::DeviceInformation = decode_xml(&xml, false).unwrap();
    assert_eq!(command.queries.len(), 1);
}

#[test]
fn errors_carry_the_path_of_nested_values() {
    let json = r#"{"Settings": [{"Item": "DeviceName", "DeviceName": "x"},
                                {"Item": "Wallpaper", "Image": "!!", "Where": 1}]}"#;
    let error = decode_json::<SettingsCommand>(json).unwrap_err();
    assert!(
        matches!(&error, DecodeError::InvalidBase64 { .. }),
        "{error}"
    );
    assert_eq!(error.path().unwrap().to_string(), "Settings[1].Image");
    let json = r#"{"Settings": [{"Item": "Wallpaper", "Image": "AA==", "Where": 9}]}"#;
    let error = decode_json::<SettingsCommand>(json).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Settings[0].Where: \"9\" is not one of the allowed values [\"1\", \"2\", \"3\"]"
    );
    let json = r#"{"Settings": [{"Item": "Nope"}]}"#;
    let error = decode_json::<SettingsCommand>(json).unwrap_err();
    assert!(matches!(&error, DecodeError::NotAllowed { value, .. } if value == "Nope"));
    assert_eq!(error.path().unwrap().to_string(), "Settings[0].Item");
    let json = r#"{"Settings": [{"DeviceName": "x"}]}"#;
    let error = decode_json::<SettingsCommand>(json).unwrap_err();
    assert!(
        matches!(&error, DecodeError::MissingKey { path } if path.to_string() == "Settings[0].Item")
    );
    let json = r#"{"Settings": [{"Item": "DeviceName"}]}"#;
    let error = decode_json::<SettingsCommand>(json).unwrap_err();
    assert!(
        matches!(&error, DecodeError::MissingKey { path } if path.to_string() == "Settings[0].DeviceName")
    );
    let json = r#"{"Settings": [{"Item": "DeviceName", "DeviceName": "x", "Other": 1}]}"#;
    let error = decode_json::<SettingsCommand>(json).unwrap_err();
    assert!(
        matches!(&error, DecodeError::UnknownKey { path } if path.to_string() == "Settings[0].Other")
    );
}

#[test]
fn unions_read_from_streams_and_trees_alike() {
    let xml = plist(
        "<dict><key>Settings</key><array>\
         <dict><key>DeviceName</key><string>Lab 4</string><key>Item</key><string>DeviceName</string></dict>\
         <dict><key>Item</key><string>Wallpaper</string><key>Image</key><data>AAE=</data>\
         <key>Where</key><integer>3</integer></dict>\
         </array></dict>",
    );
    let from_xml: SettingsCommand = decode_xml(&xml, true).unwrap();
    assert!(
        matches!(&from_xml.settings[0], SettingsItem::DeviceName(n) if n.device_name == "Lab 4")
    );
    assert!(
        matches!(&from_xml.settings[1], SettingsItem::Wallpaper(w) if w.image == [0, 1] && w.r#where == 3)
    );
    let value = Value::from_reader_xml(xml.as_bytes()).unwrap();
    let from_tree: SettingsCommand = from_value(&value, UnknownKeys::Reject).unwrap();
    assert_eq!(from_tree, from_xml);
    // Written back, the tag comes first and the plist is the same.
    let encoded = from_xml.encode();
    assert_eq!(encoded, value);
    let first = encoded.as_dictionary().unwrap()["Settings"]
        .as_array()
        .unwrap()[0]
        .clone();
    assert_eq!(
        first
            .as_dictionary()
            .unwrap()
            .keys()
            .next()
            .map(String::as_str),
        Some("Item")
    );
}

#[test]
fn maps_and_open_enums_keep_what_they_do_not_know() {
    let xml = plist(
        "<dict><key>com.example.a</key><dict><key>Status</key><string>Managed</string>\
         <key>ManagementFlags</key><integer>1</integer></dict>\
         <key>com.example.b</key><dict><key>Status</key><string>SomethingNew</string>\
         <key>ManagementFlags</key><integer>0</integer></dict></dict>",
    );
    use crate::managed_application_list::{ManagedApplicationItem, Status};
    let map: BTreeMap<String, ManagedApplicationItem> = decode_xml(&xml, false).unwrap();
    assert_eq!(map["com.example.a"].status, Some(Status::Managed));
    assert_eq!(
        map["com.example.b"].status,
        Some(Status::Other("SomethingNew".into()))
    );
    assert_eq!(
        map["com.example.b"].status.as_ref().map(Status::as_str),
        Some("SomethingNew")
    );
}

#[test]
fn trailing_values_and_truncated_documents_are_malformed() {
    assert!(decode_xml::<bool>(&plist("<true/><false/>"), true).is_err());
    assert!(decode_xml::<Vec<bool>>("<plist><array><true/>", true).is_err());
    assert!(decode_xml::<Vec<bool>>("<plist><array><true/></dict></plist>", true).is_err());
}

#[test]
fn skipped_values_are_checked_as_strictly_as_kept_ones() {
    for body in [
        "<dict><key>x</key><dict><key>a</key><key>b</key><true/><true/></dict></dict>",
        "<dict><key>x</key><dict><key>a</key></dict></dict>",
        "<dict><key>x</key><array><dict><true/></dict></array></dict>",
    ] {
        let error = decode_xml::<()>(&plist(body), false).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::Plist(mdm_proto::DecodeError::Malformed(_))
            ),
            "{body}: {error}"
        );
    }
    let fine = "<dict><key>x</key><dict><key>a</key><array><dict/></array><key>b</key><true/></dict></dict>";
    decode_xml::<()>(&plist(fine), false).unwrap();
}

#[test]
fn json_values_round_trip_through_the_codec_form() {
    let json = serde_json::json!({
        "Name": "x",
        "Count": 3,
        "Ratio": 0.5,
        "On": true,
        "Nested": [{"Deep": [[1, 2], {"A": "b"}]}, "s"],
        "Empty": {},
    });
    let value: plist::Value = super::from_json(&json, super::UnknownKeys::Skip).unwrap();
    assert_eq!(super::to_json(&value), json);
    let mut data = plist::Dictionary::new();
    data.insert("Data".into(), plist::Value::Data(vec![1, 2, 3]));
    data.insert(
        "Date".into(),
        plist::Value::Date(plist::Date::from_xml_format("2024-10-21T00:00:00Z").unwrap()),
    );
    assert_eq!(
        super::to_json(&plist::Value::Dictionary(data)),
        serde_json::json!({"Data": "AQID", "Date": "2024-10-21T00:00:00Z"})
    );
    assert_eq!(
        super::to_json(&plist::Value::Real(f64::NAN)),
        serde_json::Value::Null
    );
}

#[test]
fn deep_values_become_json_without_recursion() {
    let mut value = plist::Value::String("leaf".into());
    for _ in 0..100_000 {
        value = plist::Value::Array(vec![value]);
    }
    let mut json = super::to_json(&value);
    let mut depth = 0;
    while let serde_json::Value::Array(mut items) = json {
        json = items.pop().unwrap();
        depth += 1;
    }
    assert_eq!((depth, json), (100_000, serde_json::json!("leaf")));
    // Both are deep; drop them without recursion either.
    std::mem::forget(value);
}
