//! What the server holds, end to end: simulated devices enroll with the reference server, the
//! API lists them, shows a device's queue, takes commands out of it, and gives back what the
//! device answered — as JSON through the API, and as the command's typed response through the
//! storage API — and `-command-retention` deletes answered commands on its own.

use std::time::Duration;

use mdm_commands::AnyResponse;
use mdm_sim::{Channel, DeviceKind, MdmClient};
use mdm_storage::{DeliveryState, InspectionStore};
use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
use reqwest::{Method, StatusCode};
use rootstock_integration_tests::harness::*;
use serde_json::Value;

async fn json(h: &Harness, method: Method, path: &str) -> (StatusCode, Value) {
    let response = h.call(method, path).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, value)
}

/// Percent-encodes an enrollment id for a path segment (user channel ids hold ':').
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

async fn post_json(h: &Harness, targets: &str, body: &str) -> StatusCode {
    h.api(Method::POST, &format!("/v1/commands/{targets}"))
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
}

fn device_information(uuid: &str) -> String {
    format!(
        r#"{{"CommandUUID": "{uuid}", "Command": {{"RequestType": "DeviceInformation",
            "Queries": ["DeviceName", "OSVersion", "SerialNumber"]}}}}"#
    )
}

/// Lists every enrollment through the API, `limit` at a time.
async fn list_ids(h: &Harness, query: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = format!("/v1/enrollments?limit={limit}{query}");
    loop {
        let (status, page) = json(h, Method::GET, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let enrollments = page["enrollments"].as_array().unwrap();
        assert!(enrollments.len() <= limit);
        ids.extend(
            enrollments
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/enrollments?limit={limit}{query}&cursor={cursor}"),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollments_queues_and_answers_through_the_api() {
    let mut h = Harness::start(&[]).await;
    let mut mac = h.enrolled(DeviceKind::MacOs).await;
    let phone = h.enrolled(DeviceKind::Ios).await;
    let mac_id = id(&mac, Channel::Device);
    let mac_user = id(&mac, Channel::User);
    let phone_id = id(&phone, Channel::Device);

    // The list, a page at a time, and its filters.
    let mut all = list_ids(&h, "", 1).await;
    all.sort();
    let mut expected = vec![mac_id.clone(), mac_user.clone(), phone_id.clone()];
    expected.sort();
    assert_eq!(all, expected);
    assert_eq!(list_ids(&h, "&type=User", 10).await, [mac_user.as_str()]);
    let mut devices = list_ids(&h, "&type=Device", 10).await;
    devices.sort();
    let mut expected_devices = vec![mac_id.clone(), phone_id.clone()];
    expected_devices.sort();
    assert_eq!(devices, expected_devices);
    let mac_device = format!("&device_id={}", segment(&mac_id));
    assert_eq!(list_ids(&h, &mac_device, 10).await.len(), 2);

    // One enrollment, its fields, and no secrets anywhere.
    let (status, user) = json(
        &h,
        Method::GET,
        &format!("/v1/enrollments/{}", segment(&mac_user)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["id"], mac_user.as_str());
    assert_eq!(user["type"], "User");
    assert_eq!(user["device_id"], mac_id.as_str());
    assert_eq!(user["enabled"], true);
    assert!(
        user["last_seen_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{user}"
    );
    let (status, _) = json(&h, Method::GET, "/v1/enrollments/NOBODY").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = json(&h, Method::GET, "/v1/enrollments?limit=1000").await;
    let listed = listed.to_string();
    for channel in [Channel::Device, Channel::User] {
        let push = mac.device().push(channel).unwrap();
        assert!(!listed.contains(&push.push_magic), "push magic in the list");
        assert!(
            !listed.contains(&hex::encode(&push.token)),
            "push token in the list"
        );
    }

    // A command waits in the queue, next first; one can be taken out.
    for uuid in ["insp-1", "insp-2"] {
        let status = post_json(&h, &format!("{mac_id}?nopush=1"), &device_information(uuid)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let queue_path = format!("/v1/enrollments/{}/queue", segment(&mac_id));
    let (status, queue) = json(&h, Method::GET, &queue_path).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let uuids: Vec<&str> = queue["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(uuids, ["insp-1", "insp-2"]);
    assert_eq!(queue["commands"][0]["status"], "queued");
    assert_eq!(queue["commands"][0]["request_type"], "DeviceInformation");
    let (status, _) = json(&h, Method::DELETE, &format!("{queue_path}/insp-2")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = json(&h, Method::DELETE, &format!("{queue_path}/insp-2")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not queued there any more");

    // The device answers; its answer comes back as JSON, and as the typed response.
    let events = h.check_in(&mut mac, Channel::Device).await;
    let received: Vec<String> = delivered(&events)
        .iter()
        .map(|c| c.command_uuid.clone())
        .collect();
    assert_eq!(received, ["insp-1"], "the removed command is not delivered");
    let (status, queue) = json(&h, Method::GET, &queue_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(queue["commands"].as_array().unwrap().len(), 0);

    let (status, record) = json(&h, Method::GET, "/v1/commands/insp-1").await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["request_type"], "DeviceInformation");
    let answer = &record["enrollments"][&mac_id];
    assert_eq!(answer["status"], "Acknowledged", "{record}");
    assert_eq!(answer["result"]["CommandUUID"], "insp-1");
    assert_eq!(answer["result"]["Status"], "Acknowledged");
    let device_name = answer["result"]["QueryResponses"]["DeviceName"].clone();
    assert!(device_name.is_string(), "{record}");
    let (status, _) = json(&h, Method::GET, "/v1/commands/insp-nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let store = SqliteStore::open(&SqliteOptions::new(h.dir.path().join("db.sqlite")))
        .await
        .unwrap();
    let stored = store.command("insp-1").await.unwrap().unwrap();
    let delivery = stored
        .deliveries
        .iter()
        .find(|d| d.id.as_str() == mac_id)
        .unwrap();
    assert_eq!(
        delivery.state,
        DeliveryState::Reported(mdm_sim::proto::Status::Acknowledged)
    );
    let report = delivery.report.clone().unwrap();
    let typed = AnyResponse::decode(&stored.request_type, report).unwrap();
    let AnyResponse::DeviceInformation(response) = &*typed else {
        panic!("not a DeviceInformation response: {typed:?}");
    };
    let answers = response
        .result()
        .and_then(|r| r.query_responses.as_ref())
        .unwrap();
    assert_eq!(answers.device_name.as_deref(), device_name.as_str());
    store.close().await;

    // Clearing the whole queue.
    let status = post_json(
        &h,
        &format!("{mac_id}?nopush=1"),
        &device_information("insp-3"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = json(&h, Method::DELETE, &queue_path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(delivered(&h.check_in(&mut mac, Channel::Device).await).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_retention_deletes_answered_commands() {
    let mut h = Harness::start(&["-command-retention", "1s"]).await;
    let mut phone: MdmClient = h.enrolled(DeviceKind::Ios).await;
    let phone_id = id(&phone, Channel::Device);
    for uuid in ["keep-answered", "keep-waiting"] {
        let status = post_json(
            &h,
            &format!("{phone_id}?nopush=1"),
            &device_information(uuid),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // The device answers the first, then NotNow is not in play: take the second out of the
    // device's hands by not checking in again.
    phone.check_in(Channel::Device);
    let request = phone.poll_request().unwrap().unwrap();
    let response = h.driver.send(&request).await.unwrap();
    phone.handle_response(response).unwrap();
    let request = phone.poll_request().unwrap().unwrap();
    let response = h.driver.send(&request).await.unwrap();
    phone.handle_response(response).unwrap();
    // Now "keep-answered" is answered and "keep-waiting" was handed out, unanswered.

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = json(&h, Method::GET, "/v1/commands/keep-answered").await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention never ran"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, record) = json(&h, Method::GET, "/v1/commands/keep-waiting").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a command still queued is kept: {record}"
    );
    assert_eq!(record["enrollments"][&phone_id]["status"], "queued");
    h.stop().await;
}
