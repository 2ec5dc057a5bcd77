//! The inspection API over a `MemoryStore` and over SQLite (`/v1/enrollments…`, `GET /v1/commands/<uuid>`):
//! every endpoint, paging, filters, the errors, command results as JSON, and that no answer
//! carries a secret.

use std::sync::Mutex;
use std::time::SystemTime;

use axum::body::Body;
use base64::Engine;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use mdm_http::MdmHttp;
use mdm_storage::conformance::fixtures::{self, Device};
use mdm_storage::mdm_proto::{CommandReport, Status};
use mdm_storage::{
    CheckInStore, CommandQueue, DynStorage, EnrollId, EnrollmentFilter, EnrollmentId,
    EnrollmentPage, InspectionStore, MemoryStore, QueuedCommand, StorageError, StoredCommand,
    StoredEnrollment,
};
use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "inspect-key";

struct Api {
    router: axum::Router,
    store: DynStorage,
    /// Every body answered, for the secrets check.
    bodies: Mutex<Vec<String>>,
    /// The SQLite database's directory, kept as long as the store.
    _dir: Option<tempfile::TempDir>,
}

struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    location: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `error` of a JSON error answer with this status.
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.content_type.as_deref(), Some("application/json"));
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

impl Api {
    fn new() -> Self {
        Self::over(DynStorage::new(MemoryStore::new()), None)
    }

    /// The API over a fresh SQLite database.
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions::new(dir.path().join("inspect.sqlite"));
        let store = SqliteStore::open(&options).await.unwrap();
        Self::over(DynStorage::new(store), Some(dir))
    }

    fn over(store: DynStorage, dir: Option<tempfile::TempDir>) -> Self {
        let router = MdmHttp::builder(store.clone()).api(KEY).build();
        Api {
            router,
            store,
            bodies: Mutex::default(),
            _dir: dir,
        }
    }

    async fn call(&self, method: Method, uri: &str, auth: bool) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if auth {
            let credentials =
                base64::engine::general_purpose::STANDARD.encode(format!("nanomdm:{KEY}"));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (status, content_type, location) = (
            response.status(),
            header("content-type"),
            header("location"),
        );
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(bytes.to_vec()).unwrap();
        self.bodies.lock().unwrap().push(body.clone());
        Answer {
            status,
            content_type,
            location,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, true).await
    }

    async fn delete(&self, uri: &str) -> Answer {
        self.call(Method::DELETE, uri, true).await
    }

    async fn get_json(&self, uri: &str) -> Value {
        let answer = self.get(uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
        answer.json()
    }
}

/// Three devices (one with a space in its UDID), two user channels on the first, one device
/// checked out.
async fn enrolled(api: &Api) -> (Device, EnrollId, EnrollId) {
    let store = &api.store;
    let d1 = Device::new("D1");
    for device in [&d1, &Device::new("D2"), &Device::new("D3 with space")] {
        device.enroll(store).await;
    }
    let users = [d1.user("U1"), d1.user("U2")];
    for user in &users {
        user.token_update_with(store).await;
    }
    store.disable(&Device::new("D2").id).await.unwrap();
    let [u1, u2] = users;
    (d1, u1.id, u2.id)
}

fn ids(page: &Value) -> Vec<String> {
    page["enrollments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `null`, or RFC 3339 in UTC: `2026-12-07T16:56:00Z`, maybe with a fraction of a second.
fn is_rfc3339_or_null(v: &Value) -> bool {
    let Some(s) = v.as_str() else {
        return v.is_null();
    };
    let Some(rest) = s.strip_suffix('Z') else {
        return false;
    };
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, "0"));
    let shape = whole.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    shape
        && whole.len() == 19
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

#[tokio::test]
async fn lists_enrollments_a_page_at_a_time() {
    lists_enrollments_a_page_at_a_time_over(Api::new()).await;
}

#[tokio::test]
async fn lists_enrollments_a_page_at_a_time_on_sqlite() {
    lists_enrollments_a_page_at_a_time_over(Api::sqlite().await).await;
}

async fn lists_enrollments_a_page_at_a_time_over(api: Api) {
    enrolled(&api).await;
    let all = ["D1", "D1:U1", "D1:U2", "D2", "D3 with space"];

    let page = api.get_json("/v1/enrollments").await;
    assert_eq!(ids(&page), all);
    assert_eq!(page["next_cursor"], Value::Null);

    // Two at a time: three pages, each cursor leading to the next.
    let mut seen = Vec::new();
    let mut uri = "/v1/enrollments?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = api.get_json(&uri).await;
        pages += 1;
        let page_ids = ids(&page);
        assert!(page_ids.len() <= 2);
        seen.extend(page_ids);
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert!(
                    cursor
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                );
                uri = format!("/v1/enrollments?limit=2&cursor={cursor}");
            }
            None => break,
        }
        assert!(pages < 10, "the cursor must move on");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, all);

    // The record: NanoMDM's type names, the device channel, RFC 3339 times, no secrets.
    let user = &page["enrollments"][1];
    assert_eq!(user["id"], "D1:U1");
    assert_eq!(user["type"], "User");
    assert_eq!(user["device_id"], "D1");
    assert_eq!(user["enabled"], true);
    let device = &page["enrollments"][0];
    assert_eq!(device["type"], "Device");
    assert_eq!(device["device_id"], "D1");
    assert_eq!(device["serial_number"], "SND1");
    let keys: Vec<&str> = device
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "id",
        "type",
        "device_id",
        "enabled",
        "serial_number",
        "last_seen_at",
        "created_at",
        "updated_at",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);
    for e in page["enrollments"].as_array().unwrap() {
        for time in ["last_seen_at", "created_at", "updated_at"] {
            assert!(is_rfc3339_or_null(&e[time]), "{time}: {}", e[time]);
        }
    }
    // Keys in the documented order, as written.
    let body = api.get("/v1/enrollments?limit=1").await.body;
    let positions: Vec<usize> = [
        "id",
        "type",
        "device_id",
        "enabled",
        "serial_number",
        "last_seen_at",
        "created_at",
        "updated_at",
    ]
    .iter()
    .map(|key| body.find(&format!("\"{key}\"")).unwrap())
    .collect();
    assert!(positions.is_sorted(), "{body}");
}

#[tokio::test]
async fn filters() {
    filters_over(Api::new()).await;
}

#[tokio::test]
async fn filters_on_sqlite() {
    filters_over(Api::sqlite().await).await;
}

async fn filters_over(api: Api) {
    enrolled(&api).await;
    let list = |query: &'static str| {
        let api = &api;
        async move { ids(&api.get_json(&format!("/v1/enrollments?{query}")).await) }
    };
    assert_eq!(list("type=Device").await, ["D1", "D2", "D3 with space"]);
    assert_eq!(list("type=User").await, ["D1:U1", "D1:U2"]);
    assert!(list("type=Shared+iPad").await.is_empty());
    assert!(list("type=User%20Enrollment%20(Device)").await.is_empty());
    assert_eq!(list("enabled=false").await, ["D2"]);
    assert_eq!(list("enabled=0").await, ["D2"]);
    assert_eq!(list("enabled=true").await.len(), 4);
    assert_eq!(list("enabled=1").await.len(), 4);
    assert_eq!(list("serial_number=SND2").await, ["D2"]);
    assert_eq!(list("device_id=D1").await, ["D1", "D1:U1", "D1:U2"]);
    assert_eq!(list("device_id=D1&type=User&limit=1").await, ["D1:U1"]);
    assert_eq!(list("device_id=D3%20with%20space").await, ["D3 with space"]);
    assert!(list("device_id=nobody").await.is_empty());
    // Unknown parameters are ignored; empty values are as good as none.
    assert_eq!(list("colour=blue&limit=&type=").await.len(), 5);
    // Filters page too.
    let page = api.get_json("/v1/enrollments?type=User&limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = api
        .get_json(&format!(
            "/v1/enrollments?type=User&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(ids(&next), ["D1:U2"]);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    bad_parameters_are_400_naming_the_parameter_over(Api::new()).await;
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter_on_sqlite() {
    bad_parameters_are_400_naming_the_parameter_over(Api::sqlite().await).await;
}

async fn bad_parameters_are_400_naming_the_parameter_over(api: Api) {
    enrolled(&api).await;
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("limit=184467440737095516160", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=e1.%2F%2F", "cursor"),
        ("cursor=e1.", "cursor"),
        ("type=Phone", "type"),
        ("type=device", "type"),
        ("enabled=yes", "enabled"),
        ("enabled=TRUE", "enabled"),
    ] {
        let answer = api.get(&format!("/v1/enrollments?{query}")).await;
        let error = answer.error(StatusCode::BAD_REQUEST);
        assert!(error.contains(parameter), "{query}: {error}");
    }
    assert_eq!(
        api.get("/v1/enrollments?limit=1000").await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/v1/enrollments?limit=1").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_enrollment_by_id_percent_encoded() {
    one_enrollment_by_id_percent_encoded_over(Api::new()).await;
}

#[tokio::test]
async fn one_enrollment_by_id_percent_encoded_on_sqlite() {
    one_enrollment_by_id_percent_encoded_over(Api::sqlite().await).await;
}

async fn one_enrollment_by_id_percent_encoded_over(api: Api) {
    enrolled(&api).await;
    let user = api.get_json("/v1/enrollments/D1%3AU2").await;
    assert_eq!(user["id"], "D1:U2");
    assert_eq!(user["type"], "User");
    let user = api.get_json("/v1/enrollments/D1:U1").await;
    assert_eq!(user["id"], "D1:U1");
    let spaced = api.get_json("/v1/enrollments/D3%20with%20space").await;
    assert_eq!(spaced["id"], "D3 with space");
    assert_eq!(spaced["serial_number"], "SND3 with space");
    let disabled = api.get_json("/v1/enrollments/D2").await;
    assert_eq!(disabled["enabled"], false);

    let error = api
        .get("/v1/enrollments/nobody")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(error.contains("nobody"), "{error}");
    // Not UTF-8 once decoded: no enrollment has such an id.
    api.get("/v1/enrollments/%FF")
        .await
        .error(StatusCode::NOT_FOUND);
    // A `/` in an id is `%2F`; a literal one is another path.
    api.get("/v1/enrollments/D1%2FU1")
        .await
        .error(StatusCode::NOT_FOUND);
    let answer = api.get("/v1/enrollments/D1/U1").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn queues_in_delivery_order_and_removal() {
    queues_in_delivery_order_and_removal_over(Api::new()).await;
}

#[tokio::test]
async fn queues_in_delivery_order_and_removal_on_sqlite() {
    queues_in_delivery_order_and_removal_over(Api::sqlite().await).await;
}

async fn queues_in_delivery_order_and_removal_over(api: Api) {
    let (d1, u1, _) = enrolled(&api).await;
    let store = &api.store;
    for uuid in ["c-1", "c-2", "c-3"] {
        let failed = store
            .enqueue_command(&[d1.id.id().clone()], &fixtures::command(uuid), 0)
            .await
            .unwrap();
        assert!(failed.is_empty());
    }
    store
        .enqueue_command(&[u1.id().clone()], &fixtures::command("u-1"), 0)
        .await
        .unwrap();
    let (report, raw) = fixtures::report(&d1.id, Some("c-1"), Status::NotNow);
    store
        .store_command_report(&d1.id, &report, &raw)
        .await
        .unwrap();

    let queue = api.get_json("/v1/enrollments/D1/queue").await;
    let commands = queue["commands"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = commands
        .iter()
        .map(|c| {
            (
                c["command_uuid"].as_str().unwrap(),
                c["request_type"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("c-1", "DeviceInformation", "not_now"),
            ("c-2", "DeviceInformation", "queued"),
            ("c-3", "DeviceInformation", "queued"),
        ]
    );
    assert!(
        commands
            .iter()
            .all(|c| is_rfc3339_or_null(&c["created_at"]))
    );
    let user_queue = api.get_json("/v1/enrollments/D1%3AU1/queue").await;
    assert_eq!(user_queue["commands"][0]["command_uuid"], "u-1");
    let empty = api.get_json("/v1/enrollments/D2/queue").await;
    assert_eq!(empty, json!({"commands": []}));
    api.get("/v1/enrollments/nobody/queue")
        .await
        .error(StatusCode::NOT_FOUND);

    // One command.
    let removed = api.delete("/v1/enrollments/D1/queue/c-2").await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert!(removed.body.is_empty());
    api.delete("/v1/enrollments/D1/queue/c-2")
        .await
        .error(StatusCode::NOT_FOUND);
    // Queued for another enrollment only: not here.
    api.delete("/v1/enrollments/D1/queue/u-1")
        .await
        .error(StatusCode::NOT_FOUND);
    api.delete("/v1/enrollments/nobody/queue/c-1")
        .await
        .error(StatusCode::NOT_FOUND);
    let queue = api.get_json("/v1/enrollments/D1/queue").await;
    assert_eq!(queue["commands"].as_array().unwrap().len(), 2);

    // The whole queue of this one channel: the user channel keeps its own.
    let cleared = api.delete("/v1/enrollments/D1/queue").await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get_json("/v1/enrollments/D1/queue").await,
        json!({"commands": []})
    );
    assert_eq!(
        api.get_json("/v1/enrollments/D1:U1/queue").await["commands"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Clearing an empty queue is fine; an unknown enrollment is not.
    assert_eq!(
        api.delete("/v1/enrollments/D1/queue").await.status,
        StatusCode::NO_CONTENT
    );
    api.delete("/v1/enrollments/nobody/queue")
        .await
        .error(StatusCode::NOT_FOUND);
    // Other methods: 405.
    assert_eq!(
        api.call(Method::POST, "/v1/enrollments/D1/queue", true)
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        api.call(Method::DELETE, "/v1/enrollments/D1", true)
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

/// A DeviceInformation answer with `<data>`, `<date>`, nested dictionaries and arrays, reals,
/// integers and booleans.
fn rich_report(id: &EnrollId, uuid: &str) -> (CommandReport, Vec<u8>) {
    let raw = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CommandUUID</key><string>{uuid}</string>
	<key>QueryResponses</key>
	<dict>
		<key>DeviceName</key><string>Kim's &lt;iPhone&gt;</string>
		<key>BatteryLevel</key><real>0.75</real>
		<key>AvailableDeviceCapacity</key><integer>52</integer>
		<key>IsSupervised</key><true/>
		<key>LastCloudBackupDate</key><date>2026-11-30T08:15:00Z</date>
		<key>PushToken</key><data>3q2+7w==</data>
		<key>ServiceSubscriptions</key>
		<array>
			<dict><key>Slot</key><string>CTSubscriptionSlotOne</string><key>IsDataPreferred</key><false/></dict>
			<string>second</string>
		</array>
	</dict>
	<key>Status</key><string>Acknowledged</string>
	<key>UDID</key><string>{udid}</string>
</dict>
</plist>
"#,
        udid = id.id().as_str()
    );
    let report = CommandReport::decode(raw.clone().into_bytes())
        .unwrap()
        .into_parts()
        .0;
    (report, raw.into_bytes())
}

#[tokio::test]
async fn command_results_as_json() {
    command_results_as_json_over(Api::new()).await;
}

#[tokio::test]
async fn command_results_as_json_on_sqlite() {
    command_results_as_json_over(Api::sqlite().await).await;
}

async fn command_results_as_json_over(api: Api) {
    let (d1, u1, u2) = enrolled(&api).await;
    let d3 = Device::new("D3 with space");
    let store = &api.store;
    let targets = [
        d1.id.id().clone(),
        u1.id().clone(),
        u2.id().clone(),
        d3.id.id().clone(),
    ];
    store
        .enqueue_command(&targets, &fixtures::command("cmd-1"), 0)
        .await
        .unwrap();

    let fresh = api.get_json("/v1/commands/cmd-1").await;
    assert_eq!(fresh["command_uuid"], "cmd-1");
    assert_eq!(fresh["request_type"], "DeviceInformation");
    assert!(is_rfc3339_or_null(&fresh["created_at"]));
    let enrollments = fresh["enrollments"].as_object().unwrap();
    assert_eq!(enrollments.len(), 4);
    for (_, delivery) in enrollments {
        assert_eq!(delivery["status"], "queued");
        assert_eq!(delivery["result"], Value::Null);
        assert!(is_rfc3339_or_null(&delivery["updated_at"]));
    }

    // D1 acknowledges with a rich answer, U1 says NotNow, U2 reports an error.
    let (report, raw) = rich_report(&d1.id, "cmd-1");
    store
        .store_command_report(&d1.id, &report, &raw)
        .await
        .unwrap();
    let (report, raw) = fixtures::report(&u1, Some("cmd-1"), Status::NotNow);
    store
        .store_command_report(&u1, &report, &raw)
        .await
        .unwrap();
    let (report, raw) = fixtures::report(&u2, Some("cmd-1"), Status::Error);
    store
        .store_command_report(&u2, &report, &raw)
        .await
        .unwrap();

    let record = api.get_json("/v1/commands/cmd-1").await;
    let enrollments = &record["enrollments"];
    assert_eq!(enrollments["D1"]["status"], "Acknowledged");
    assert_eq!(enrollments["D1:U1"]["status"], "not_now");
    assert_eq!(enrollments["D1:U1"]["result"]["Status"], "NotNow");
    assert_eq!(enrollments["D1:U2"]["status"], "Error");
    assert_eq!(enrollments["D1:U2"]["result"]["Status"], "Error");
    assert_eq!(enrollments["D3 with space"]["status"], "queued");
    assert_eq!(
        enrollments["D1"]["result"],
        json!({
            "CommandUUID": "cmd-1",
            "QueryResponses": {
                "DeviceName": "Kim's <iPhone>",
                "BatteryLevel": 0.75,
                "AvailableDeviceCapacity": 52,
                "IsSupervised": true,
                "LastCloudBackupDate": "2026-11-30T08:15:00Z",
                "PushToken": "3q2+7w==",
                "ServiceSubscriptions": [
                    {"Slot": "CTSubscriptionSlotOne", "IsDataPreferred": false},
                    "second"
                ]
            },
            "Status": "Acknowledged",
            "UDID": "D1"
        })
    );
    assert!(is_rfc3339_or_null(&enrollments["D1"]["updated_at"]));
    assert!(enrollments["D1"].get("result_error").is_none());

    // A NotNow'd command removed from the queue shows the report's status.
    assert_eq!(
        api.delete("/v1/enrollments/D1%3AU1/queue/cmd-1")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let record = api.get_json("/v1/commands/cmd-1").await;
    assert_eq!(record["enrollments"]["D1:U1"]["status"], "NotNow");

    // Unknown commands, lists of UUIDs, an empty UUID: 404.
    for uri in [
        "/v1/commands/nope",
        "/v1/commands/cmd-1,cmd-1",
        "/v1/commands/cmd-1%2Ccmd-1",
        "/v1/commands/",
        "/v1/commands/%FF",
    ] {
        api.get(uri).await.error(StatusCode::NOT_FOUND);
    }
    // A UUID with a `/` is the whole rest of the path.
    store
        .enqueue_command(&targets[..1], &fixtures::command("a/b c"), 0)
        .await
        .unwrap();
    assert_eq!(
        api.get_json("/v1/commands/a/b%20c").await["command_uuid"],
        "a/b c"
    );
    // POST on the same path still enqueues JSON commands.
    let answer = api.call(Method::POST, "/v1/commands/D1", true).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["kind"], "invalid_json");
    assert_eq!(
        api.call(Method::PUT, "/v1/commands/cmd-1", true)
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn the_api_key_guards_every_inspection_route() {
    let api = Api::new();
    enrolled(&api).await;
    for (method, uri) in [
        (Method::GET, "/v1/enrollments"),
        (Method::GET, "/v1/enrollments/D1"),
        (Method::GET, "/v1/enrollments/D1/queue"),
        (Method::DELETE, "/v1/enrollments/D1/queue"),
        (Method::DELETE, "/v1/enrollments/D1/queue/x"),
        (Method::GET, "/v1/commands/x"),
    ] {
        let answer = api.call(method.clone(), uri, false).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
    // Without an API key there is no API at all.
    let store = DynStorage::new(MemoryStore::new());
    let router = MdmHttp::builder(store).build();
    let response = router
        .oneshot(Request::get("/v1/enrollments").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn paths_are_cleaned_like_the_other_api_routes() {
    let api = Api::new();
    enrolled(&api).await;
    // `/v1/commands/` is a subtree: its slashless path is redirected to it.
    let answer = api.get("/v1/commands").await;
    assert_eq!(answer.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(answer.location.as_deref(), Some("/v1/commands/"));
    // `/v1/enrollments` is a route of its own; `/v1/enrollments/` is not one.
    assert_eq!(api.get("/v1/enrollments").await.status, StatusCode::OK);
    let answer = api.get("/v1/enrollments/").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body, "404 page not found\n");
    // Unclean paths are redirected to their clean form, query kept.
    let answer = api.get("/v1//enrollments?limit=1").await;
    assert_eq!(answer.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(answer.location.as_deref(), Some("/v1/enrollments?limit=1"));
    let answer = api.get("/v1/enrollments/x/../D1").await;
    assert_eq!(answer.location.as_deref(), Some("/v1/enrollments/D1"));

    // An application merging `build_routes` gets the same redirects from `path_clean_layer`.
    let builder = MdmHttp::builder(api.store.clone()).api(KEY);
    let path_clean = builder.path_clean_layer();
    let app = axum::Router::new()
        .merge(builder.build_routes())
        .layer(path_clean);
    for (path, location) in [
        ("/v1/commands", Some("/v1/commands/")),
        ("/v1/enqueue", Some("/v1/enqueue/")),
        ("/v1/push", Some("/v1/push/")),
        ("/v1/enrollments", None),
    ] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let found = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap());
        assert_eq!(found, location, "{path}");
    }
}

#[tokio::test]
async fn no_answer_carries_a_secret() {
    no_answer_carries_a_secret_over(Api::new()).await;
}

#[tokio::test]
async fn no_answer_carries_a_secret_on_sqlite() {
    no_answer_carries_a_secret_over(Api::sqlite().await).await;
}

async fn no_answer_carries_a_secret_over(api: Api) {
    let (d1, u1, _) = enrolled(&api).await;
    let store = &api.store;
    store
        .enqueue_command(&[d1.id.id().clone()], &fixtures::command("s-1"), 0)
        .await
        .unwrap();
    let (report, raw) = fixtures::report(&d1.id, Some("s-1"), Status::Acknowledged);
    store
        .store_command_report(&d1.id, &report, &raw)
        .await
        .unwrap();
    for uri in [
        "/v1/enrollments",
        "/v1/enrollments?limit=1",
        "/v1/enrollments/D1",
        "/v1/enrollments/D1%3AU1",
        "/v1/enrollments/D1/queue",
        "/v1/commands/s-1",
    ] {
        api.get_json(uri).await;
    }
    let (token_update, _) = d1.token_update();
    let mut secrets = Vec::new();
    for push in [d1.push(), fixtures::push_info(u1.id().as_str())] {
        secrets.push(push.push_magic.clone());
        secrets.push(hex(&push.token));
        secrets.push(base64::engine::general_purpose::STANDARD.encode(&push.token));
    }
    let unlock = token_update.unlock_token.expect("the fixture has one");
    let unlock: &[u8] = unlock.expose();
    secrets.push(base64::engine::general_purpose::STANDARD.encode(unlock));
    secrets.push(hex(unlock));
    secrets.push(String::from_utf8_lossy(unlock).into_owned());
    let bodies = api.bodies.lock().unwrap();
    assert!(bodies.len() >= 6);
    for body in bodies.iter() {
        for secret in &secrets {
            assert!(!body.contains(secret.as_str()), "{secret:?} in {body}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A store whose inspection fails, as a database that went away.
struct Unreachable {
    inner: MemoryStore,
}

mdm_storage::forward_store!(impl[] Unreachable => inner:
    CheckInStore, CommandQueue, BootstrapTokenStore, TokenUpdateTallyStore, PushStore,
    PushCertStore, CertAuthStore, MigrationStore);

fn unreachable() -> StorageError {
    StorageError::backend(std::io::Error::other("connection refused"))
}

impl InspectionStore for Unreachable {
    async fn list_enrollments(
        &self,
        _: &EnrollmentFilter,
        _: Option<&EnrollmentId>,
        _: usize,
    ) -> Result<EnrollmentPage, StorageError> {
        Err(unreachable())
    }

    async fn enrollment(&self, _: &EnrollmentId) -> Result<Option<StoredEnrollment>, StorageError> {
        Err(unreachable())
    }

    async fn queued_commands(
        &self,
        _: &EnrollmentId,
        _: usize,
    ) -> Result<Vec<QueuedCommand>, StorageError> {
        Err(unreachable())
    }

    async fn remove_queued_command(&self, _: &EnrollmentId, _: &str) -> Result<bool, StorageError> {
        Err(unreachable())
    }

    async fn clear_enrollment_queue(&self, _: &EnrollmentId) -> Result<u64, StorageError> {
        Err(unreachable())
    }

    async fn command(&self, _: &str) -> Result<Option<StoredCommand>, StorageError> {
        Err(unreachable())
    }

    async fn delete_answered_commands_batch(
        &self,
        _: SystemTime,
        _: usize,
    ) -> Result<u64, StorageError> {
        Err(unreachable())
    }
}

#[tokio::test]
async fn a_failing_store_is_a_500_with_json() {
    let store = DynStorage::new(Unreachable {
        inner: MemoryStore::new(),
    });
    let api = Api::over(store, None);
    for (method, uri) in [
        (Method::GET, "/v1/enrollments"),
        (Method::GET, "/v1/enrollments/D1"),
        (Method::GET, "/v1/enrollments/D1/queue"),
        (Method::DELETE, "/v1/enrollments/D1/queue"),
        (Method::DELETE, "/v1/enrollments/D1/queue/c-1"),
        (Method::GET, "/v1/commands/c-1"),
    ] {
        let error = api
            .call(method.clone(), uri, true)
            .await
            .error(StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            error.contains("connection refused"),
            "{method} {uri}: {error}"
        );
    }
    // A bad parameter is still the client's error, found before the store is asked.
    api.get("/v1/enrollments?limit=0")
        .await
        .error(StatusCode::BAD_REQUEST);
}
