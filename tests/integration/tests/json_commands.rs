//! `POST /v1/commands/<ids>`: JSON commands typed by Apple's schema, end to end — what a
//! simulated device receives is byte for byte the property list the typed command builds, and
//! its answer decodes to the command's typed response, for every command of the schema; a wrong
//! body is a 400 naming the key and enqueues nothing; the answer is `/v1/enqueue/`'s.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use mdm_commands::plist::{Dictionary, Value};
use mdm_commands::{AnyCommand, AnyResponse, CommandEnvelope};
use mdm_http::{ApiResult, CommandBodyError};
use mdm_sim::proto::{Command, CommandReport, Raw, Status};
use mdm_sim::{Channel, DeviceKind, Event, MdmClient};
use reqwest::{Method, StatusCode};
use rootstock_integration_tests::harness::*;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/mdm-commands/tests/samples")
}

/// A sample JSON command with its `CommandUUID` replaced (or removed, with `None`).
fn sample_json(name: &str, command_uuid: Option<&str>) -> Vec<u8> {
    let path = samples().join(format!("{name}.json"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut json: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let top = json.as_object_mut().unwrap();
    match command_uuid {
        Some(uuid) => top.insert("CommandUUID".into(), uuid.into()),
        None => top.remove("CommandUUID"),
    };
    serde_json::to_vec(&json).unwrap()
}

/// The generator's property list of a sample's payload.
fn sample_payload(name: &str) -> Dictionary {
    let path = samples().join(format!("{name}.plist"));
    Value::from_file(&path)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .into_dictionary()
        .unwrap()
}

async fn post(h: &Harness, targets: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    h.api(Method::POST, &format!("/v1/commands/{targets}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn api_result(response: reqwest::Response) -> (StatusCode, ApiResult, String) {
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    let result = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, result, text)
}

/// Posts `json`, which must be refused with 400; returns the error body.
async fn refused(h: &Harness, target: &str, json: &str) -> CommandBodyError {
    let response = post(h, target, json.to_owned()).await;
    assert_eq!(response.status(), 400, "{json}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Has the device check in and answer what it gets until nothing is queued; returns the
/// commands it received and the bodies of its reports on them (not `Idle`), as sent.
async fn exchange(h: &Harness, client: &mut MdmClient) -> (Vec<Raw<Command>>, Vec<Bytes>) {
    client.check_in(Channel::Device);
    let (mut received, mut bodies) = (Vec::new(), Vec::new());
    while let Some(request) = client.poll_request().unwrap() {
        let report = CommandReport::decode(request.body().clone()).unwrap();
        if report.status != Status::Idle {
            bodies.push(request.body().clone());
        }
        let response = h.driver.send(&request).await.unwrap();
        if let Event::Report {
            next_command: Some(command),
            ..
        } = client.handle_response(response).unwrap()
        {
            received.push(command);
        }
    }
    (received, bodies)
}

/// The commands the device received on checking in.
async fn drain(h: &Harness, client: &mut MdmClient) -> Vec<Raw<Command>> {
    exchange(h, client).await.0
}

/// The device's reports on the commands it received on checking in.
async fn answers(h: &Harness, client: &mut MdmClient) -> Vec<Bytes> {
    exchange(h, client).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_reaches_the_device_as_the_typed_command_builds_it() {
    let mut h = Harness::start(&[]).await;
    let mut client = h.enrolled(DeviceKind::MacOs).await;
    let device = id(&client, Channel::Device);
    let mut sent = 0;
    for request_type in AnyCommand::REQUEST_TYPES {
        for suffix in ["", ".minimal"] {
            let name = format!("{request_type}{suffix}");
            let uuid = format!("json-{name}");
            let body = sample_json(&name, Some(&uuid));
            let expected = CommandEnvelope::from_json(&body).unwrap().to_plist();

            let (status, result, _) =
                api_result(post(&h, &format!("{device}?nopush=1"), body).await).await;
            assert_eq!(status, 200, "{name}: {result:?}");
            assert_eq!(result.command_uuid, uuid);
            assert_eq!(result.request_type, *request_type);
            assert!(result.no_push);

            let (received, answered) = exchange(&h, &mut client).await;
            assert_eq!(received.len(), 1, "{name}");
            // The simulated device answers with a report of the command's typed response.
            let answer = AnyResponse::decode(request_type, answered[0].clone())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                answer.value().report().status,
                Status::Acknowledged,
                "{name}"
            );
            assert!(answer.value().result_plist().is_some(), "{name}");
            // Byte for byte what the typed command builds, whose payload is the generator's.
            assert_eq!(received[0].bytes(), expected.bytes(), "{name}");
            let mut payload = received[0].payload().unwrap();
            assert_eq!(
                payload.remove("RequestType"),
                Some(Value::String((*request_type).into()))
            );
            assert_eq!(payload, sample_payload(&name), "{name}");
            sent += 1;
        }
    }
    assert_eq!(sent, 2 * AnyCommand::REQUEST_TYPES.len());

    // Without a CommandUUID the server makes one, and answers with it.
    let body = sample_json("DeviceInformation", None);
    let (status, result, _) = api_result(post(&h, &format!("{device}?nopush=1"), body).await).await;
    assert_eq!(status, 200, "{result:?}");
    assert_eq!(result.command_uuid.len(), 36);
    let received = drain(&h, &mut client).await;
    assert_eq!(received[0].command_uuid, result.command_uuid);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_answer_decodes_to_the_typed_response() {
    let mut h = Harness::start(&[]).await;
    let mut client = h.enrolled(DeviceKind::Ios).await;
    let device = id(&client, Channel::Device);
    let body = br#"{"CommandUUID": "ask-1", "Command": {"RequestType": "DeviceInformation",
        "Queries": ["DeviceName", "OSVersion", "SerialNumber"]}}"#;
    let (status, _, _) = api_result(post(&h, &format!("{device}?nopush=1"), &body[..]).await).await;
    assert_eq!(status, 200);
    let answered = answers(&h, &mut client).await;
    assert_eq!(answered.len(), 1);
    let decoded = AnyResponse::decode("DeviceInformation", answered[0].clone()).unwrap();
    let AnyResponse::DeviceInformation(response) = decoded.value() else {
        panic!("{:?}", decoded.value());
    };
    assert_eq!(*response.status(), Status::Acknowledged);
    let answers = response.result().unwrap().query_responses.as_ref().unwrap();
    assert!(answers.device_name.is_some());
    assert!(answers.os_version.is_some());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_bodies_are_400_naming_the_key_and_enqueue_nothing() {
    let mut h = Harness::start(&["-body-limit", "64k"]).await;
    assert_eq!(h.upload_push_cert().await.status(), 200);
    let mut client = h.enrolled(DeviceKind::Ios).await;
    let device = id(&client, Channel::Device);
    let pushes = h.mock.push_count();

    let cases: &[(&str, &str, Option<&str>)] = &[
        ("{\"Command\": ", "invalid_json", None),
        (
            r#"{"Command": {"RequestType": "MakeCoffee"}}"#,
            "unknown_request_type",
            Some("Command.RequestType"),
        ),
        (
            r#"{"Command": {"RequestType": "DeviceLock", "Colour": "red"}}"#,
            "unknown_key",
            Some("Command.Colour"),
        ),
        (
            r#"{"Command": {"RequestType": "DeviceInformation", "Queries": ["UDID", 4]}}"#,
            "wrong_type",
            Some("Command.Queries[1]"),
        ),
        (
            r#"{"Command": {"RequestType": "InstallProfile"}}"#,
            "missing_key",
            Some("Command.Payload"),
        ),
        (
            r#"{"Command": {"RequestType": "Settings", "Settings": [
                {"Item": "DeviceName", "DeviceName": "Lab 4"},
                {"Item": "Wallpaper", "Image": "AAE=", "Where": 4}]}}"#,
            "not_allowed",
            Some("Command.Settings[1].Where"),
        ),
        (
            r#"{"Command": {"RequestType": "InstallProfile", "Payload": "not base64!"}}"#,
            "invalid_base64",
            Some("Command.Payload"),
        ),
        (
            r#"{"Command": {"RequestType": "DeviceInformation", "Queries": []}, "Extra": 1}"#,
            "unknown_key",
            Some("Extra"),
        ),
    ];
    for (json, kind, key_path) in cases {
        let error = refused(&h, &device, json).await;
        assert_eq!(error.kind.as_str(), *kind, "{json}: {error:?}");
        assert_eq!(error.key_path.as_deref(), *key_path, "{json}: {error:?}");
        if let Some(path) = key_path {
            assert!(error.error.contains(path), "{error:?}");
        }
    }
    let coffee = refused(&h, &device, r#"{"Command": {"RequestType": "MakeCoffee"}}"#).await;
    assert_eq!(coffee.value.as_deref(), Some("MakeCoffee"));
    let settings = refused(
        &h,
        &device,
        r#"{"Command": {"RequestType": "EraseDevice", "ObliterationBehavior": "Sometimes"}}"#,
    )
    .await;
    assert_eq!(settings.value.as_deref(), Some("Sometimes"));
    assert_eq!(settings.allowed.len(), 4);

    // A bad date, on a top-level `<date>` key of a command. The schema this crate is
    // generated from has none (only reports carry dates), so this runs when one is added;
    // `mdm-commands`' codec tests cover the error itself.
    if let Some((name, key)) = a_date_key() {
        let mut json: serde_json::Value =
            serde_json::from_slice(&sample_json(&name, None)).unwrap();
        json["Command"][&key] = "yesterday".into();
        let error = refused(&h, &device, &json.to_string()).await;
        assert_eq!(error.kind.as_str(), "invalid_date", "{error:?}");
        assert_eq!(error.key_path, Some(format!("Command.{key}")));
        assert_eq!(error.value.as_deref(), Some("yesterday"));
    }

    // Over the body limit: 413, as on /v1/enqueue.
    let big = format!(
        r#"{{"Command": {{"RequestType": "InstallProfile", "Payload": "{}"}}}}"#,
        "A".repeat(70_000)
    );
    assert_eq!(post(&h, &device, big).await.status(), 413);
    // Only POST; the API key is required.
    let response = h
        .api(Method::PUT, &format!("/v1/commands/{device}"))
        .body(sample_json("RestartDevice", None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let response = h
        .http
        .post(h.url(&format!("/v1/commands/{device}")))
        .body(sample_json("RestartDevice", None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Nothing was enqueued or pushed.
    assert!(drain(&h, &mut client).await.is_empty());
    assert_eq!(h.mock.push_count(), pushes);
    h.stop().await;
}

/// A command key the schema types `<date>`, found in the generator's samples (a JSON string
/// that parses as RFC 3339 where the property list has a `<date>`).
fn a_date_key() -> Option<(String, String)> {
    for request_type in AnyCommand::REQUEST_TYPES {
        let payload = sample_payload(request_type);
        for (key, value) in &payload {
            if matches!(value, Value::Date(_)) {
                return Some(((*request_type).to_owned(), key.clone()));
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_is_enqueue_s_with_pushes_and_per_id_status() {
    let mut h = Harness::start(&[]).await;
    assert_eq!(h.upload_push_cert().await.status(), 200);
    let mut a = h.enrolled(DeviceKind::Ios).await;
    let mut b = h.enrolled(DeviceKind::Ios).await;
    let (ida, idb) = (id(&a, Channel::Device), id(&b, Channel::Device));
    let pushes = h.mock.push_count();

    // The same command both ways: the same JSON answer, but for the CommandUUID.
    let json = |uuid: &str| {
        format!(r#"{{"CommandUUID": "{uuid}", "Command": {{"RequestType": "ProfileList"}}}}"#)
    };
    let plist = |uuid: &str| {
        CommandEnvelope::from_json(json(uuid).as_bytes())
            .unwrap()
            .to_plist()
            .bytes()
            .clone()
    };
    for query in ["", "?nopush=1"] {
        let targets = format!("{ida},{idb},not-enrolled{query}");
        let (s1, mut r1, _) =
            api_result(post(&h, &targets, json(&format!("c{query}"))).await).await;
        let (s2, mut r2, _) =
            api_result(h.enqueue(&targets, plist(&format!("e{query}"))).await).await;
        assert_eq!(s1, 207, "{r1:?}");
        assert_eq!(s2, s1);
        assert!(r1.status["not-enrolled"].command_error.is_some());
        assert_eq!(r1.no_push, !query.is_empty());
        // The same answer but for the CommandUUID and the apns-ids of the pushes.
        assert_eq!(r1.command_uuid, format!("c{query}"));
        r2.command_uuid.clone_from(&r1.command_uuid);
        for result in [&mut r1, &mut r2] {
            for (id, entry) in &mut result.status {
                let pushed = id != "not-enrolled" && query.is_empty();
                assert_eq!(!entry.push_result.is_empty(), pushed, "{id}: {entry:?}");
                entry.push_result.clear();
            }
        }
        assert_eq!(r1, r2);
    }
    // Two pushes per id without nopush (one per call), none with it.
    assert_eq!(h.mock.push_count(), pushes + 4);
    // Every id unknown: 500.
    let (status, _, _) = api_result(post(&h, "nope1,nope2", json("all-bad")).await).await;
    assert_eq!(status, 500);
    // A duplicate CommandUUID is a global error, as on /v1/enqueue.
    let (status, result, _) = api_result(post(&h, &ida, json("c")).await).await;
    assert_eq!(status, 500);
    assert!(result.command_error.is_some());

    // Each device got the four commands, byte for byte as built.
    for client in [&mut a, &mut b] {
        let received = drain(&h, client).await;
        let uuids: Vec<_> = received.iter().map(|c| c.command_uuid.clone()).collect();
        assert_eq!(uuids, ["c", "e", "c?nopush=1", "e?nopush=1"]);
        assert_eq!(received[0].bytes(), &plist("c"));
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_of_every_request_type_come_back() {
    // The queue accepts the JSON API's commands like any other: a device answers each one.
    let mut h = Harness::start(&[]).await;
    let mut client = h.enrolled(DeviceKind::MacOs).await;
    let device = id(&client, Channel::Device);
    for request_type in ["SecurityInfo", "ProfileList", "CertificateList"] {
        let body = sample_json(&format!("{request_type}.minimal"), Some(request_type));
        let (status, _, _) = api_result(post(&h, &format!("{device}?nopush=1"), body).await).await;
        assert_eq!(status, 200);
        let answered = answers(&h, &mut client).await;
        assert_eq!(answered.len(), 1);
        let report = CommandReport::decode(answered[0].clone()).unwrap();
        assert_eq!(report.status, Status::Acknowledged, "{request_type}");
        assert_eq!(report.command_uuid.as_deref(), Some(request_type));
        AnyResponse::decode(request_type, answered[0].clone()).unwrap();
    }
    h.stop().await;
}
