//! The reference server end to end: started from NanoMDM's command line on an ephemeral
//! loopback port, driven over real HTTP by simulated devices of every enrollment type (real
//! signatures), with pushes going to a mock APNs over HTTP/2 and TLS.

use std::collections::HashMap;

use base64::Engine;
use bytes::Bytes;
use hmac::Mac;
use mdm_http::{ApiResult, PushCertInfo};
use mdm_push::Reason;
use mdm_push::mock::MockReply;
use mdm_sim::proto::Command;
use mdm_sim::{
    Answer, CertHeaderEncoding, CertPresentation, Channel, DeviceKind, DriverError, Event,
    Identity, KeyKind, MdmClient, MdmPayload, Message, TestCa,
};
use reqwest::Method;
use reqwest::StatusCode;
use rootstock_integration_tests::harness::*;

async fn api_result(response: reqwest::Response) -> (StatusCode, ApiResult, String) {
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "API results are JSON"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.ends_with("}\n"),
        "tab-indented with a newline: {text:?}"
    );
    let result = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, result, text)
}

fn command_xml(uuid: &str, request_type: &str) -> Bytes {
    Command::build(uuid, request_type, Default::default())
        .bytes()
        .clone()
}

fn refused_status(error: DriverError) -> (u16, Bytes) {
    match error {
        DriverError::Device(mdm_sim::Error::Refused { status, body, .. }) => (status, body),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Runs what `client` has queued, which the server must refuse; returns its status and body.
async fn refused(h: &Harness, client: &mut MdmClient) -> (u16, Bytes) {
    refused_status(h.driver.run(client).await.unwrap_err())
}

/// Has `client` try to enroll, which the server must refuse.
async fn refused_enrollment(h: &Harness, client: &mut MdmClient) -> (u16, Bytes) {
    client.enroll();
    refused(h, client).await
}

/// A copy of `request` (built and signed by a simulated device) sent as it is, but with `body`.
async fn replay(request: &mdm_sim::Request, body: impl Into<reqwest::Body>) -> reqwest::Response {
    http_client()
        .put(request.url())
        .headers(request.headers().clone())
        .body(body)
        .send()
        .await
        .unwrap()
}

/// An Authenticate for `client`'s device channel, signed by it.
fn signed_authenticate(client: &MdmClient) -> mdm_sim::Request {
    client
        .sign(
            client
                .build_request(Channel::Device, &Message::Authenticate)
                .unwrap(),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_of_every_enrollment_type() {
    let mut h = Harness::start(&[]).await;

    // Push certificate: NanoMDM's JSON, not_after first.
    let response = h.upload_push_cert().await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let info: PushCertInfo = serde_json::from_str(&text).unwrap();
    assert_eq!(info.topic, TOPIC);
    assert_eq!(
        text,
        format!(
            "{{\n\t\"not_after\": \"{}\",\n\t\"topic\": \"{TOPIC}\"\n}}\n",
            info.not_after
        )
    );
    assert!(info.not_after.ends_with('Z'), "{}", info.not_after);
    let read = h
        .api(Method::GET, &format!("/v1/pushcert?topic={TOPIC}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.text().await.unwrap(), text);

    let mut clients = Vec::new();
    for kind in DeviceKind::ALL {
        clients.push(h.enrolled(kind).await);
    }
    let ids = all_ids(&clients);
    assert_eq!(ids.len(), 7, "4 device channels and 3 user channels");

    // One command to every channel, with a push to each.
    let command = command_xml("lifecycle-1", "ProfileList");
    let (status, result, _) = api_result(h.enqueue(&ids.join(","), command.clone()).await).await;
    assert_eq!(status, 200, "{result:?}");
    assert_eq!(result.command_uuid, "lifecycle-1");
    assert_eq!(result.request_type, "ProfileList");
    assert_eq!(result.status.len(), ids.len());
    for id in &ids {
        let entry = &result.status[id];
        assert!(entry.push_error.is_none(), "{id}: {entry:?}");
        assert!(!entry.push_result.is_empty(), "{id} has an apns-id");
    }
    let pushes = h.mock.pushes();
    assert_eq!(pushes.len(), ids.len());
    for client in &clients {
        for channel in client.device().channels() {
            let creds = client.device().push(channel).unwrap();
            assert!(
                pushes.iter().any(|p| p.token_hex == hex(&creds.token)
                    && p.push_magic == creds.push_magic
                    && p.topic == TOPIC),
                "pushed to {}",
                id(client, channel)
            );
        }
    }

    // Each channel gets the command byte for byte, answers it, and then has nothing queued.
    for client in &mut clients {
        for channel in client.device().channels().collect::<Vec<_>>() {
            let events = h.check_in(client, channel).await;
            let got: Vec<_> = delivered_raw(&events).map(|c| c.bytes().clone()).collect();
            assert_eq!(
                got,
                std::slice::from_ref(&command),
                "{:?}",
                id(client, channel)
            );
            assert!(delivered(&h.check_in(client, channel).await).is_empty());
        }
    }

    // CheckOut disables: no more push info for that device.
    let mac = &mut clients[0];
    mac.check_out();
    h.driver.run(mac).await.unwrap();
    let mac_id = id(mac, Channel::Device);
    let (status, result, _) =
        api_result(h.call(Method::GET, &format!("/v1/push/{mac_id}")).await).await;
    assert_eq!(status, 500);
    assert_eq!(
        result.status[&mac_id].push_error.as_deref(),
        Some("push data missing for id")
    );
    h.stop().await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_ids_push_and_partial_failure() {
    let mut h = Harness::start(&[]).await;
    assert_eq!(h.upload_push_cert().await.status(), 200);
    let mut clients = Vec::new();
    for _ in 0..24 {
        clients.push(h.enrolled(DeviceKind::Ios).await);
    }
    let ids = all_ids(&clients);

    // Enqueue to all 24 with a push to each.
    let (status, result, _) = api_result(
        h.enqueue(&ids.join(","), command_xml("many-1", "DeviceInformation"))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(result.status.len(), 24);
    assert_eq!(h.mock.push_count(), 24);
    for client in &mut clients {
        let events = h.check_in(client, Channel::Device).await;
        assert_eq!(delivered(&events)[0].command_uuid, "many-1");
    }

    // An unknown id among known ones: 207, the unknown one failed to enqueue and to push.
    let targets = format!("{},{},not-enrolled", ids[0], ids[1]);
    let (status, result, _) = api_result(
        h.enqueue(&targets, command_xml("many-2", "ProfileList"))
            .await,
    )
    .await;
    assert_eq!(status, 207, "{result:?}");
    let unknown = &result.status["not-enrolled"];
    assert!(unknown.command_error.is_some());
    assert_eq!(
        unknown.push_error.as_deref(),
        Some("push data missing for id")
    );
    assert!(!result.status[&ids[0]].push_result.is_empty());

    // APNs refusing one device: 207 with NanoMDM's error text and the apns-id kept.
    let bad = clients[1]
        .device()
        .push(Channel::Device)
        .unwrap()
        .token
        .clone();
    h.mock
        .set_reply_for_token(&bad, MockReply::reject(Reason::BadDeviceToken));
    let (status, result, _) = api_result(
        h.call(Method::POST, &format!("/v1/push/{},{}", ids[0], ids[1]))
            .await,
    )
    .await;
    assert_eq!(status, 207);
    let refused = &result.status[&ids[1]];
    assert_eq!(
        refused.push_error.as_deref(),
        Some("push HTTP status: 400: APNs push error: BadDeviceToken")
    );
    assert!(result.status[&ids[0]].push_error.is_none());

    // Every id unknown: 500, no APNs call.
    let before = h.mock.push_count();
    let (status, result, _) = api_result(h.call(Method::GET, "/v1/push/nope1,nope2").await).await;
    assert_eq!(status, 500);
    assert_eq!(result.status.len(), 2);
    assert_eq!(h.mock.push_count(), before);

    // `a,a` with `a` unknown: one failure of two requested ids is 207, as NanoMDM counts.
    let (status, _, _) = api_result(h.call(Method::GET, "/v1/push/dup,dup").await).await;
    assert_eq!(status, 207);

    // nopush (any non-empty value) enqueues without pushing.
    let (status, result, text) = api_result(
        h.enqueue(
            &format!("{}?nopush=0", ids[2]),
            command_xml("many-3", "ProfileList"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert!(result.no_push);
    assert_eq!(
        text,
        "{\n\t\"no_push\": true,\n\t\"command_uuid\": \"many-3\",\n\t\"request_type\": \"ProfileList\"\n}\n"
    );
    assert_eq!(h.mock.push_count(), before);

    // Empty body: push only; with nopush, nothing to do.
    let (status, result, _) = api_result(
        h.call(Method::PUT, &format!("/v1/enqueue/{}", ids[2]))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert!(result.command_uuid.is_empty());
    assert_eq!(h.mock.push_count(), before + 1);
    let (status, _, text) = api_result(
        h.call(Method::PUT, &format!("/v1/enqueue/{}?nopush=1", ids[2]))
            .await,
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        text,
        "{\n\t\"no_push\": true,\n\t\"command_error\": \"must enqueue or push\"\n}\n"
    );

    // A duplicate CommandUUID and a body that is not a command: global errors, 500.
    let (status, result, _) = api_result(
        h.enqueue(&ids[3], command_xml("many-1", "ProfileList"))
            .await,
    )
    .await;
    assert_eq!(status, 500);
    assert!(result.command_error.is_some());
    assert_eq!(result.command_uuid, "many-1");
    let (status, result, _) = api_result(h.enqueue(&ids[3], "not a plist").await).await;
    assert_eq!(status, 500);
    assert!(
        result
            .command_error
            .unwrap()
            .starts_with("decoding command: ")
    );

    // No ids at all.
    let (status, result, _) = api_result(h.call(Method::GET, "/v1/push/").await).await;
    assert_eq!(status, 500);
    assert_eq!(
        result.push_error.as_deref(),
        Some("getting enrollment ids: empty path")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status() {
    let mut h = Harness::start(&["-body-limit", "64k"]).await;
    let http = http_client();

    // No identity at all: 400.
    let mut anonymous = h.client_with(DeviceKind::Ios, CertPresentation::Omitted);
    let (status, body) = refused_enrollment(&h, &mut anonymous).await;
    assert_eq!((status, &body[..]), (400, &b"Bad Request\n"[..]));

    // A signature over other bytes: 400.
    let request = signed_authenticate(&h.client(DeviceKind::Ios));
    // Still a valid property list, but not the bytes that were signed.
    let mut forged = request.body().to_vec();
    forged.push(b'\n');
    let response = replay(&request, forged).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), "Bad Request\n");

    // A valid signature by a certificate from a CA the server does not trust: 400.
    let stranger_ca = TestCa::generate(KeyKind::P256, "someone else").unwrap();
    let stranger = Identity::issue(&stranger_ca, KeyKind::P256, "stranger").unwrap();
    let mut untrusted = h
        .client(DeviceKind::MacOs)
        .with_identity(stranger, CertPresentation::MdmSignature);
    let (status, _) = refused_enrollment(&h, &mut untrusted).await;
    assert_eq!(status, 400);

    // Another device's certificate: the binding refuses it with 500.
    let mut first = h.enrolled(DeviceKind::MacOs).await;
    let stolen = first.identity().unwrap().clone();
    let mut thief = h
        .client(DeviceKind::Ios)
        .with_identity(stolen, CertPresentation::MdmSignature);
    let (status, body) = refused_enrollment(&h, &mut thief).await;
    assert_eq!((status, &body[..]), (500, &b"Internal Server Error\n"[..]));

    // A declined UserAuthenticate: 410 Gone.
    first.queue(
        Channel::User,
        Message::UserAuthenticate {
            digest_response: None,
        },
    );
    let (status, body) = refused(&h, &mut first).await;
    assert_eq!((status, &body[..]), (410, &b"Gone\n"[..]));

    // Not a plist, validly signed: 400.
    let identity = h.identity("garbage");
    let response = http
        .put(h.url("/mdm"))
        .header("Mdm-Signature", identity.mdm_signature(b"garbage").unwrap())
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Over the body limit: 413, signed or not, declared or streamed.
    let big = vec![b'x'; 100 * 1024];
    for signed in [true, false] {
        let mut request = http.put(h.url("/mdm")).body(big.clone());
        if signed {
            request = request.header("Mdm-Signature", identity.mdm_signature(&big).unwrap());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 413, "signed: {signed}");
        assert_eq!(response.text().await.unwrap(), "Request Entity Too Large\n");
    }
    let stream = futures_util::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 8192]))),
    );
    let response = h
        .api(Method::PUT, "/v1/enqueue/x")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // The API without (or with wrong) credentials: 401 with the challenge.
    for auth in [None, Some("wrong")] {
        let mut request = http.get(h.url("/v1/push/x"));
        if let Some(password) = auth {
            request = request.basic_auth("nanomdm", Some(password));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"nanomdm\""
        );
        assert_eq!(response.text().await.unwrap(), "Unauthorized\n");
    }

    // Routing as Go's mux: 404 text, 301 to the subtree, `/version` compact.
    let response = http.get(h.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "404 page not found\n");
    let response = http.put(h.url("//mdm")).send().await.unwrap();
    assert_eq!(response.status(), 301);
    assert_eq!(response.headers()["location"], "/mdm");
    let response = http.get(h.url("/v1/push?x=1")).send().await.unwrap();
    assert_eq!(response.status(), 301);
    assert_eq!(response.headers()["location"], "/v1/push/?x=1");
    let response = http.post(h.url("/version")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.text().await.unwrap(),
        format!("{{\"version\":\"v{}\"}}", env!("CARGO_PKG_VERSION"))
    );

    // Push certificate errors are JSON.
    let response = h
        .api(Method::PUT, "/v1/pushcert")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "{\n\t\"error\": \"tls: failed to find any PEM data in certificate input\"\n}\n"
    );
    let response = h.api(Method::GET, "/v1/pushcert").send().await.unwrap();
    assert_eq!(response.status(), 400);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_a_proxy_header_in_both_formats() {
    let mut h = Harness::start(&["-cert-header", "X-Ssl-Client-Cert"]).await;
    assert_eq!(h.upload_push_cert().await.status(), 200);
    let header = http::HeaderName::from_static("x-ssl-client-cert");
    for encoding in [CertHeaderEncoding::EscapedPem, CertHeaderEncoding::Rfc9440] {
        let mut client = h
            .enrolled_with(
                DeviceKind::MacOs,
                CertPresentation::Header {
                    name: header.clone(),
                    encoding,
                },
            )
            .await;
        let device = id(&client, Channel::Device);
        let uuid = format!("hdr-{encoding:?}");
        let response = h.enqueue(&device, command_xml(&uuid, "ProfileList")).await;
        assert_eq!(response.status(), 200);
        let events = h.check_in(&mut client, Channel::Device).await;
        assert_eq!(delivered(&events)[0].command_uuid, uuid);
    }
    // In header mode an Mdm-Signature alone identifies nobody.
    let mut signing = h.client(DeviceKind::Ios);
    let (status, _) = refused_enrollment(&h, &mut signing).await;
    assert_eq!(status, 400);
    // An unreadable header is no certificate: 400.
    let response = http_client()
        .put(h.url("/mdm"))
        .header("X-Ssl-Client-Cert", ":not base64:")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_check_in_endpoint() {
    let mut h = Harness::start(&["-checkin"]).await;
    // The device follows a profile with a CheckInURL.
    let mut client = repointed(
        &h.client(DeviceKind::MacOs),
        MdmPayload::new(h.url("/mdm"), TOPIC).with_check_in_url(h.url("/checkin")),
    );
    h.enroll(&mut client).await;
    h.check_in(&mut client, Channel::Device).await;
    // A check-in sent to /mdm is read as a command report without Status: 400.
    let request = signed_authenticate(&h.client(DeviceKind::Ios));
    assert!(request.url().ends_with("/mdm"));
    let response = replay(&request, request.body().clone()).await;
    assert_eq!(response.status(), 400);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_to_another_server() {
    // The old server: enrollments of two kinds, then stopped.
    let mut old = Harness::start(&[]).await;
    let mut clients = vec![
        old.client(DeviceKind::MacOs),
        old.client(DeviceKind::UserEnrollment),
    ];
    for client in &mut clients {
        old.enroll(client).await;
    }
    let old_db = old.dir.path().join("db.sqlite");
    let old_dir = std::mem::replace(&mut old.dir, tempfile::tempdir().unwrap());
    let old_ca = TestCa::from_pem(&old.ca.cert_pem(), &old.ca.key_pem()).unwrap();
    old.stop().await;

    // The new server, with /migration, and -retro so devices bind their certificates on their
    // first request to it.
    let new = Harness::start_with_ca(old_ca, &["-migration", "-retro"]).await;
    let http = http_client();
    let unauthenticated = http
        .put(new.url("/migration"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let store = mdm_storage_sql::sqlite::SqliteStore::open(
        &mdm_storage_sql::sqlite::SqliteOptions::new(&old_db),
    )
    .await
    .unwrap();
    let url = url::Url::parse(&new.url("/migration")).unwrap();
    let report = mdm_http::migrate::migrate(&store, &url, API_KEY, &http)
        .await
        .unwrap();
    assert_eq!(
        (report.sent, report.failed),
        (6, 0),
        "2 Authenticate, 2 device and 2 user TokenUpdates"
    );
    drop(old_dir);

    assert_eq!(new.upload_push_cert().await.status(), 200);
    let ids = all_ids(&clients);
    let (status, result, _) = api_result(
        new.enqueue(&ids.join(","), command_xml("moved-1", "ProfileList"))
            .await,
    )
    .await;
    assert_eq!(
        status, 200,
        "every migrated channel can be queued and pushed: {result:?}"
    );
    for client in &mut clients {
        *client = repointed(client, MdmPayload::new(new.url("/mdm"), TOPIC));
        let events = new.check_in(client, Channel::Device).await;
        assert_eq!(delivered(&events)[0].command_uuid, "moved-1");
    }
    new.stop().await;

    // Without -migration there is no such endpoint.
    let plain = Harness::start(&[]).await;
    let response = plain
        .api(Method::PUT, "/migration")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    plain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_proxy_passes_the_enrollment_id() {
    let (upstream, log) = recording_upstream(201, &[("x-upstream", "yes")], "proxied").await;
    let target = format!("{upstream}/base/");
    let mut h = Harness::start(&["-auth-proxy-url", &target]).await;
    let client = h.enrolled(DeviceKind::Ios).await;
    let identity = client.identity().unwrap().clone();
    let http = http_client();

    let response = http
        .post(h.url("/authproxy/foo/bar?x=1"))
        .header("Mdm-Signature", identity.mdm_signature(b"hello").unwrap())
        .header("X-Enrollment-ID", "spoofed")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-upstream"], "yes");
    assert_eq!(response.text().await.unwrap(), "proxied");
    let got = wait_for(&log, 1).await.remove(0);
    assert_eq!(got.method, "POST");
    assert_eq!(got.uri, "/base/foo/bar?x=1");
    assert_eq!(&got.body[..], b"hello");
    assert_eq!(
        got.headers["x-enrollment-id"],
        id(&client, Channel::Device).as_str()
    );
    assert_eq!(got.headers["x-trace-id"].len(), 16);
    assert!(!got.headers.contains_key("mdm-signature"));
    assert_eq!(got.headers["x-forwarded-for"], "127.0.0.1");

    // A trusted certificate bound to no enrollment: NanoMDM's 400 "Unauthorized".
    let unbound = h.identity("never enrolled");
    let response = http
        .get(h.url("/authproxy/x"))
        .header("Mdm-Signature", unbound.mdm_signature(b"").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.text().await.unwrap(), "Unauthorized\n");
    // No certificate at all.
    let response = http.get(h.url("/authproxy/x")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.text().await.unwrap(), "Bad Request\n");
    h.stop().await;
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn hmac_b64(key: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_events_are_delivered() {
    let (upstream, log) = recording_upstream(200, &[], "").await;
    let hook = format!("{upstream}/hook");
    let mut h = Harness::start(&["-webhook-url", &hook, "-webhook-hmac-key", "hook-key"]).await;
    let mut client = h.enrolled(DeviceKind::Ios).await;
    h.check_in(&mut client, Channel::Device).await;

    let events = wait_for(&log, 3).await;
    let mut topics = Vec::new();
    for event in &events {
        assert_eq!(event.uri, "/hook");
        assert_eq!(
            event.headers["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(
            event.headers["x-hmac-signature"],
            hmac_b64(b"hook-key", &event.body).as_str()
        );
        let json: serde_json::Value = serde_json::from_slice(&event.body).unwrap();
        assert_eq!(json["event_id"].as_str().unwrap().len(), 16);
        topics.push(json["topic"].as_str().unwrap().to_owned());
        let inner = json
            .get("checkin_event")
            .or_else(|| json.get("acknowledge_event"))
            .unwrap();
        assert_eq!(inner["ids"]["id"], id(&client, Channel::Device).as_str());
    }
    topics.sort();
    assert_eq!(
        topics,
        ["mdm.Authenticate", "mdm.Connect", "mdm.TokenUpdate"]
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declarative_management_is_forwarded() {
    let (upstream, log) = recording_upstream(200, &[], "{\"SyncTokens\":{}}").await;
    let dm = format!("{upstream}/dm/");
    let mut h = Harness::start(&["-dm", &dm, "-dm-send-hmac-key", "dm-key"]).await;
    let mut client = h.enrolled(DeviceKind::MacOs).await;
    client.queue(
        Channel::Device,
        Message::DeclarativeManagement {
            endpoint: "tokens".into(),
            data: None,
        },
    );
    let events = h.driver.run(&mut client).await.unwrap();
    match &events[..] {
        [Event::CheckIn { body, .. }] => assert_eq!(&body[..], b"{\"SyncTokens\":{}}"),
        other => panic!("{other:?}"),
    }
    let got = wait_for(&log, 1).await.remove(0);
    assert_eq!(
        (got.method.as_str(), got.uri.as_str()),
        ("GET", "/dm/tokens")
    );
    assert_eq!(
        got.headers["x-enrollment-id"],
        id(&client, Channel::Device).as_str()
    );
    assert_eq!(got.headers["x-enrollment-type"], "Device");
    assert_eq!(
        got.headers["x-hmac-signature"],
        hmac_b64(b"dm-key", b"").as_str()
    );
    h.stop().await;

    // A failing DM server is a 500 for the device, without the DM server's text.
    let (upstream, _log) = recording_upstream(503, &[], "dm server secret").await;
    let dm = format!("{upstream}/dm/");
    let mut h = Harness::start(&["-dm", &dm]).await;
    let mut client = h.enrolled(DeviceKind::Ios).await;
    client.queue(
        Channel::Device,
        Message::DeclarativeManagement {
            endpoint: "status".into(),
            data: Some(b"{}".to_vec()),
        },
    );
    let (status, body) = refused(&h, &mut client).await;
    assert_eq!((status, &body[..]), (500, &b"Internal Server Error\n"[..]));
    h.stop().await;
}

fn form_body<'a>(pairs: impl Iterator<Item = &'a (&'a str, &'a str)>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.map(|(k, v)| (*k, *v)))
        .finish()
}

/// `POST /v1/escrowkeyunlock` with `pairs` as the form.
async fn escrow_key_unlock<'a>(
    h: &Harness,
    pairs: impl Iterator<Item = &'a (&'a str, &'a str)>,
) -> reqwest::Response {
    h.api(Method::POST, "/v1/escrowkeyunlock")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(pairs))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escrow_key_unlock_passes_status_body_and_headers() {
    let (upstream, log) = recording_upstream(
        202,
        &[("x-apple-answer", "42"), ("content-type", "text/plain")],
        "unlocked",
    )
    .await;
    let escrow = format!("{upstream}/escrowKeyUnlock");
    let h = Harness::start(&["-escrow-url", &escrow]).await;
    assert_eq!(h.upload_push_cert().await.status(), 200);
    let form = [
        ("serial", "C02XYZ"),
        ("productType", "iPhone16,1"),
        ("orgName", "Example & Co"),
        ("guid", "g-1"),
        ("escrowKey", "k-1"),
        ("imei", "35"),
        ("topic", TOPIC),
    ];
    let response = escrow_key_unlock(&h, form.iter()).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-apple-answer"], "42");
    assert_eq!(response.text().await.unwrap(), "unlocked");
    let got = wait_for(&log, 1).await.remove(0);
    assert_eq!(got.method, "POST");
    assert_eq!(
        got.uri,
        "/escrowKeyUnlock?imei=35&productType=iPhone16%2C1&serial=C02XYZ"
    );
    assert_eq!(
        std::str::from_utf8(&got.body).unwrap(),
        "escrowKey=k-1&guid=g-1&orgName=Example+%26+Co"
    );

    let missing = escrow_key_unlock(&h, [("serial", "x")].iter()).await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.text().await.unwrap(),
        "{\n\t\"error\": \"invalid or missing parameters\"\n}\n"
    );
    let no_topic: Vec<_> = form.iter().filter(|(k, _)| *k != "topic").collect();
    let response = escrow_key_unlock(&h, no_topic.into_iter()).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("empty topic"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::generate(KeyKind::P256, "env CA").unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).unwrap();
    let env: HashMap<String, String> = [
        ("NANOMDM_API", API_KEY.to_owned()),
        ("NANOMDM_CA", ca_path.to_string_lossy().into_owned()),
        ("NANOMDM_LISTEN", "127.0.0.1:0".to_owned()),
        ("NANOMDM_STORAGE", "sqlite".to_owned()),
        (
            "NANOMDM_STORAGE_DSN",
            dir.path().join("env.sqlite").to_string_lossy().into_owned(),
        ),
        ("NANOMDM_UA_ZL_DC", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let server = Running::start(Vec::new(), env).await;
    let http = http_client();
    let version = http
        .get(format!("{}/version", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(version.status(), 200);
    let mut client = device_client(
        &ca,
        DeviceKind::MacOs,
        99,
        format!("{}/mdm", server.base),
        CertPresentation::MdmSignature,
    );
    let driver = mdm_sim::HttpDriver::new().unwrap();
    client.enroll();
    driver.run(&mut client).await.unwrap();
    // NANOMDM_UA_ZL_DC took effect: UserAuthenticate gets the zero-length challenge, not 410.
    client.queue(
        Channel::User,
        Message::UserAuthenticate {
            digest_response: None,
        },
    );
    let events = driver.run(&mut client).await.unwrap();
    match &events[..] {
        [Event::CheckIn { body, .. }] => {
            assert!(
                std::str::from_utf8(body)
                    .unwrap()
                    .contains("DigestChallenge")
            )
        }
        other => panic!("{other:?}"),
    }
    let push = api_request(
        &http,
        &server.base,
        API_KEY,
        Method::GET,
        &format!("/v1/push/{}", id(&client, Channel::Device)),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        push.status(),
        500,
        "no push certificate stored: a per-id error"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_starts_with_nothing_set_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = vec![
        "--dev".to_owned(),
        "--data-dir".to_owned(),
        data.to_string_lossy().into_owned(),
        "--listen=127.0.0.1:0".to_owned(),
    ];
    let flags = match rootstock_server::parse(args, &HashMap::new()).unwrap() {
        rootstock_server::Invocation::Run(flags) => flags,
        other => panic!("{other:?}"),
    };
    let server = rootstock_server::start(&flags).await.unwrap();
    let api_key = server.api_key().unwrap().to_owned();
    assert_eq!(
        std::fs::read_to_string(data.join("api.key"))
            .unwrap()
            .trim(),
        api_key
    );
    assert!(data.join("nanomdm.sqlite").exists());
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    // Devices issued from the CA in the data directory enroll, as `examples/simulate` does.
    let ca = TestCa::from_pem(
        &std::fs::read_to_string(data.join("ca.pem")).unwrap(),
        &std::fs::read_to_string(data.join("ca.key")).unwrap(),
    )
    .unwrap();
    let mut client = device_client(
        &ca,
        DeviceKind::Ios,
        1,
        format!("http://{addr}/mdm"),
        CertPresentation::MdmSignature,
    );
    client.enroll();
    let driver = mdm_sim::HttpDriver::new().unwrap();
    driver.run(&mut client).await.unwrap();
    let response = api_request(
        &http_client(),
        &format!("http://{addr}"),
        &api_key,
        Method::PUT,
        &format!("/v1/enqueue/{}?nopush=1", id(&client, Channel::Device)),
    )
    .body(command_xml("dev-1", "ProfileList"))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    client.answer_next(Answer::Run);
    client.check_in(Channel::Device);
    let events = driver.run(&mut client).await.unwrap();
    assert_eq!(delivered(&events)[0].command_uuid, "dev-1");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_only_server() {
    let h = Harness::start(&["-disable-mdm", "-migration"]).await;
    let http = http_client();
    for path in ["/mdm", "/checkin"] {
        let response = http.put(h.url(path)).body("x").send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    assert_eq!(h.upload_push_cert().await.status(), 200);
    // /migration still reaches the core: an Authenticate is accepted without any certificate.
    let device = mdm_sim::Device::generate(DeviceKind::Ios, 5);
    let client = MdmClient::new(device, MdmPayload::new(h.url("/mdm"), TOPIC));
    let request = client
        .build_request(Channel::Device, &Message::Authenticate)
        .unwrap();
    let response = h
        .api(Method::PUT, "/migration")
        .body(request.body().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intermediate_cas_complete_the_chain() {
    let root = TestCa::generate(KeyKind::P256, "e2e root").unwrap();
    let intermediate = root.intermediate(KeyKind::P256, "e2e issuing CA").unwrap();
    let files = tempfile::tempdir().unwrap();
    let intermediate_pem = files.path().join("intermediate.pem");
    std::fs::write(&intermediate_pem, intermediate.cert_pem()).unwrap();
    let identity =
        || Identity::issue(&intermediate, KeyKind::P256, "issued below the root").unwrap();

    // Without -intermediate the chain stops short of the root: 400.
    let root_copy = TestCa::from_pem(&root.cert_pem(), &root.key_pem()).unwrap();
    let mut h = Harness::start_with_ca(root_copy, &[]).await;
    let mut client = h
        .client(DeviceKind::Ios)
        .with_identity(identity(), CertPresentation::MdmSignature);
    let (status, _) = refused_enrollment(&h, &mut client).await;
    assert_eq!(status, 400);
    h.stop().await;

    // With it, the device enrolls (certificates embedded in Mdm-Signature are never trusted as
    // intermediates; the file is what counts).
    let mut h = Harness::start_with_ca(
        root,
        &["-intermediate", &intermediate_pem.to_string_lossy()],
    )
    .await;
    let mut client = h
        .client(DeviceKind::Ios)
        .with_identity(identity(), CertPresentation::MdmSignature);
    h.enroll(&mut client).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_certificates_are_not_device_identities() {
    // The -ca root and the -intermediate sign with their own keys, as if they were devices: each
    // has a path to the root (NanoMDM's x509.Verify accepts both) and each is refused with 400,
    // never 401.
    let root = TestCa::generate(KeyKind::P256, "e2e root").unwrap();
    let intermediate = root.intermediate(KeyKind::P256, "e2e issuing CA").unwrap();
    let files = tempfile::tempdir().unwrap();
    let intermediate_pem = files.path().join("intermediate.pem");
    std::fs::write(&intermediate_pem, intermediate.cert_pem()).unwrap();
    let as_device = |ca: &TestCa| Identity::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
    let root_identity = as_device(&root);
    let intermediate_identity = as_device(&intermediate);

    let mut h = Harness::start_with_ca(
        root,
        &["-intermediate", &intermediate_pem.to_string_lossy()],
    )
    .await;
    for identity in [root_identity.clone(), intermediate_identity.clone()] {
        let mut client = h
            .client(DeviceKind::Ios)
            .with_identity(identity, CertPresentation::MdmSignature);
        let (status, body) = refused_enrollment(&h, &mut client).await;
        assert_eq!((status, &body[..]), (400, &b"Bad Request\n"[..]));
    }
    // A device the intermediate issued still enrolls.
    let device = Identity::issue(&intermediate, KeyKind::P256, "a device").unwrap();
    let mut client = h
        .client(DeviceKind::Ios)
        .with_identity(device, CertPresentation::MdmSignature);
    h.enroll(&mut client).await;
    h.stop().await;

    // The same refusal when a TLS-terminating proxy passes the CA certificate in a header.
    let root = TestCa::from_pem(&root_identity.cert_pem(), &root_identity.key_pem()).unwrap();
    let mut h = Harness::start_with_ca(root, &["-cert-header", "X-Ssl-Client-Cert"]).await;
    let presentation = CertPresentation::Header {
        name: http::HeaderName::from_static("x-ssl-client-cert"),
        encoding: CertHeaderEncoding::Rfc9440,
    };
    let mut client = h
        .client_with(DeviceKind::MacOs, presentation.clone())
        .with_identity(root_identity, presentation);
    let (status, body) = refused_enrollment(&h, &mut client).await;
    assert_eq!((status, &body[..]), (400, &b"Bad Request\n"[..]));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_api_key_when_asked_and_count_devices() {
    let mut h = Harness::start(&["-metrics", "-metrics-auth"]).await;
    let _device = h.enrolled(DeviceKind::Ios).await;
    let anonymous = h.http.get(h.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let scraped = h.call(Method::GET, "/metrics").await;
    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.unwrap();
    // Servers in this test process share one recorder, so counts are at least this one's.
    let authenticates = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                r#"mdm_requests_total{kind="check_in",message="Authenticate",status="200"}"#,
            )
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(authenticates >= 1.0, "{text}");
    h.stop().await;
}
