//! Request paths the way NanoMDM's Go mux takes them: cleaned (`301`) on every route before any
//! handler or authentication, the auth proxy never forwarding outside its base path, request
//! targets as long as Go's 1 MiB head allows, and every enrolled id addressable by the API.
//!
//! Requests whose exact bytes matter go over a raw TCP connection: an HTTP client would resolve
//! `..` and `%2e%2e` itself, and hyper's client takes no URI over 64 KiB.

use bytes::Bytes;
use mdm_http::{ApiResult, MAX_ENROLLMENT_ID_BYTES};
use mdm_sim::proto::Command;
use mdm_sim::{CertPresentation, Channel, Device, DeviceKind, DriverError, MdmClient, MdmPayload};
use rootstock_integration_tests::harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response as it came over the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

fn authority(h: &Harness) -> &str {
    h.server.base.trim_start_matches("http://")
}

fn basic_auth() -> String {
    use base64::Engine;
    let credentials = format!("nanomdm:{API_KEY}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// `method target HTTP/1.1` with `headers` and `body`, exactly these bytes.
fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads one response (the body by its `Content-Length`, or to the end without one).
async fn read_response(stream: &mut TcpStream, buffered: &mut Vec<u8>) -> Raw {
    let head_end = loop {
        if let Some(i) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response: {buffered:?}");
        buffered.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffered[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    buffered.drain(..head_end);
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().unwrap());
    let body = match length {
        Some(length) => {
            while buffered.len() < length {
                let mut chunk = [0u8; 65536];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed inside a body");
                buffered.extend_from_slice(&chunk[..n]);
            }
            buffered.drain(..length).collect()
        }
        None => {
            stream.read_to_end(buffered).await.unwrap();
            std::mem::take(buffered)
        }
    };
    Raw {
        status,
        headers,
        body,
    }
}

/// Sends `bytes` on a new connection and reads one response.
async fn send(authority: &str, bytes: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(authority).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_response(&mut stream, &mut Vec::new()).await
}

async fn get(h: &Harness, method: &str, target: &str) -> Raw {
    send(authority(h), &request(method, target, &[], b"")).await
}

/// Every byte but ASCII letters and digits as `%XX`.
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn command(uuid: &str) -> Bytes {
    Command::build(uuid, "ProfileList", Default::default())
        .bytes()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclean_paths_are_redirected_like_go_on_every_route() {
    let mut h = Harness::start(&[]).await;
    let client = h.enrolled(DeviceKind::Ios).await;
    let device = id(&client, Channel::Device);

    // NanoMDM (Go 1.21 ServeMux): 301 to the cleaned, decoded path, before authentication
    // (none of these carry credentials), query kept; no body for anything but GET.
    for (target, location) in [
        ("/v1/enqueue//X", "/v1/enqueue/X"),
        ("/v1/enqueue/..", "/v1"),
        ("/v1/enqueue/%2e%2e?nopush=1", "/v1?nopush=1"),
        ("/v1/enqueue/a/./b/", "/v1/enqueue/a/b/"),
        ("/v1/enqueue/a%2F%2Fb", "/v1/enqueue/a/b"),
        ("/v1/push/x/../../../mdm", "/mdm"),
        ("//mdm", "/mdm"),
        ("/mdm/.", "/mdm"),
        ("/a/../mdm?", "/mdm"),
        ("/version/..", "/"),
        // Re-encoded as Go encodes a path: `!` and non-ASCII escaped, `,` `:` `@` kept.
        ("/v1/push/./a!%C3%A9,b:c@d", "/v1/push/a%21%C3%A9,b:c@d"),
        // A subtree without its slash, even after cleaning: straight to the subtree.
        ("//v1/push?x=1", "/v1/push/?x=1"),
        ("/v1/enqueue", "/v1/enqueue/"),
    ] {
        let response = get(&h, "PUT", target).await;
        assert_eq!(response.status, 301, "{target}: {response:?}");
        assert_eq!(response.header("location"), Some(location), "{target}");
        assert_eq!(response.header("content-type"), None, "{target}");
        assert!(response.body.is_empty(), "{target}");
    }
    // GET has Go's little HTML body; HEAD its content type only.
    let response = get(&h, "GET", "/v1/push").await;
    assert_eq!(response.status, 301);
    assert_eq!(response.header("location"), Some("/v1/push/"));
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        response.text(),
        "<a href=\"/v1/push/\">Moved Permanently</a>.\n\n"
    );
    let response = get(&h, "GET", "/x/..?a=1&b='x'").await;
    assert_eq!(response.header("location"), Some("/?a=1&b='x'"));
    assert_eq!(
        response.text(),
        "<a href=\"/?a=1&amp;b=&#39;x&#39;\">Moved Permanently</a>.\n\n"
    );
    let response = get(&h, "HEAD", "/v1/push").await;
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );

    // A bad escape: Go's server refuses the request line itself.
    let response = get(&h, "PUT", "/v1/enqueue/a%zz").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.text(), "400 Bad Request");
    assert_eq!(response.header("connection"), Some("close"));
    // `OPTIONS *`.
    let response = get(&h, "OPTIONS", "*").await;
    assert_eq!(response.status, 400);
    assert!(response.body.is_empty());

    // Clean paths reach their handlers: a lone `%2F` stays inside an id, as in NanoMDM.
    let auth = basic_auth();
    let response = send(
        authority(&h),
        &request(
            "PUT",
            "/v1/enqueue/a%2Fb?nopush=1",
            &[("Authorization", &auth)],
            &command("p-1"),
        ),
    )
    .await;
    let result: ApiResult = serde_json::from_slice(&response.body).unwrap();
    assert!(result.status.contains_key("a/b"), "{result:?}");
    let response = send(
        authority(&h),
        &request(
            "PUT",
            &format!("/v1/enqueue/{device}?nopush=1"),
            &[("Authorization", &auth)],
            &command("p-2"),
        ),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_proxy_never_leaves_its_base_path() {
    let (upstream, log) = recording_upstream(200, &[], "upstream").await;
    let target = format!("{upstream}/base/");
    let mut h = Harness::start(&["-auth-proxy-url", &target]).await;
    let client = h.enrolled(DeviceKind::Ios).await;
    let signature = client.identity().unwrap().mdm_signature(b"").unwrap();
    let signed =
        |target: &str| request("GET", target, &[("Mdm-Signature", signature.as_str())], b"");

    // The three requests: redirected by the mux (to paths outside /authproxy/, which
    // are not proxied), never forwarded.
    for (target, location) in [
        ("/authproxy/../admin", "/admin"),
        ("/authproxy/%2e%2e/admin", "/admin"),
        (
            "/authproxy/a/%2E%2E/%2e%2e/internal/secret",
            "/internal/secret",
        ),
        ("/authproxy/a/..%2F..%2Finternal", "/internal"),
        ("/authproxy", "/authproxy/"),
    ] {
        let response = send(authority(&h), &signed(target)).await;
        assert_eq!(response.status, 301, "{target}");
        assert_eq!(response.header("location"), Some(location), "{target}");
    }
    // Clean for Go, but an upstream that decodes twice or takes `\` for `/` could climb out:
    // refused.
    for target in [
        "/authproxy/..%5Cadmin",
        "/authproxy/a%5C..%5C..%5Cadmin",
        "/authproxy/%252e%252e/admin",
        "/authproxy/a/%252e%252e%252f%252e%252e/admin",
    ] {
        let response = send(authority(&h), &signed(target)).await;
        assert_eq!(response.status, 400, "{target}");
        assert_eq!(response.text(), "Bad Request\n", "{target}");
    }
    // What stays inside the base is forwarded as it came.
    let response = send(authority(&h), &signed("/authproxy/a%2Fb/c..d?x=1")).await;
    assert_eq!(response.status, 200);
    let received = wait_for(&log, 1).await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].uri, "/base/a%2Fb/c..d?x=1");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounted_router_redirects_within_its_mount() {
    let store = mdm_storage::DynStorage::new(mdm_storage::MemoryStore::new());
    let router = mdm_http::MdmHttp::builder(store).api("key").build();
    let app = axum::Router::new().nest("/nanomdm", router);
    let base = serve_upstream(app).await;
    let authority = base.trim_start_matches("http://");
    for (target, location) in [
        ("/nanomdm/v1/push", "/nanomdm/v1/push/"),
        ("/nanomdm/v1/enqueue/a/../b?q", "/nanomdm/v1/enqueue/b?q"),
    ] {
        let response = send(authority, &request("PUT", target, &[], b"")).await;
        assert_eq!(response.status, 301, "{target}");
        assert_eq!(response.header("location"), Some(location), "{target}");
    }
}

fn uuid(i: usize) -> String {
    format!("{:08X}-0000-4000-8000-{:012X}", i, i * 7919)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_targets_up_to_a_mebibyte() {
    let mut h = Harness::start(&[]).await;
    let clients = [
        h.enrolled(DeviceKind::Ios).await,
        h.enrolled(DeviceKind::Ios).await,
    ];
    let auth = basic_auth();

    // 20,000 ids (about 740 KB of path; hyper alone stops at 64 KiB): two enrolled, the rest not.
    let mut ids: Vec<String> = (0..19_998).map(uuid).collect();
    ids.insert(7, id(&clients[0], Channel::Device));
    ids.push(id(&clients[1], Channel::Device));
    let target = format!("/v1/enqueue/{}?nopush=1", ids.join(","));
    assert!(target.len() > 700_000);
    let long_enqueue = request(
        "PUT",
        &target,
        &[("Authorization", &auth)],
        &command("long-1"),
    );
    // On one kept-alive connection, pipelined: the long request, then a short one, then the
    // long one again (its body must not be mistaken for a request, nor the next head for body).
    let mut stream = TcpStream::connect(authority(&h)).await.unwrap();
    let mut pipelined = long_enqueue.clone();
    pipelined.extend_from_slice(&request("GET", "/version", &[], b""));
    pipelined.extend_from_slice(&request(
        "PUT",
        &target.replace("nopush=1", "nopush=yes"),
        &[("Authorization", &auth)],
        &command("long-2"),
    ));
    stream.write_all(&pipelined).await.unwrap();
    let mut buffered = Vec::new();
    for (n, command_uuid) in [(0, "long-1"), (1, ""), (2, "long-2")] {
        let response = read_response(&mut stream, &mut buffered).await;
        if n == 1 {
            assert_eq!(response.status, 200);
            assert!(response.text().starts_with("{\"version\""));
            continue;
        }
        assert_eq!(response.status, 207, "{n}: {}", &response.text()[..200]);
        let result: ApiResult = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(result.command_uuid, command_uuid);
        assert!(result.no_push);
        // Every unknown id has its own error; the two enrolled ones none.
        assert_eq!(result.status.len(), 19_998);
        assert!(result.status.contains_key(&uuid(19_997)));
        assert!(!result.status.contains_key(&ids[7]));
    }
    drop(stream);
    for mut client in clients {
        let events = h.check_in(&mut client, Channel::Device).await;
        let delivered: Vec<_> = delivered(&events)
            .into_iter()
            .map(|c| c.command_uuid)
            .collect();
        assert_eq!(delivered, ["long-1", "long-2"]);
    }

    // A long query is the query; a long path is cleaned like any other.
    let response = send(
        authority(&h),
        &request(
            "GET",
            &format!("/v1/push/../version?{}", "x".repeat(100_000)),
            &[],
            b"",
        ),
    )
    .await;
    assert_eq!(response.status, 301);
    assert_eq!(
        response.header("location").map(str::len),
        Some("/v1/version?".len() + 100_000)
    );
    // Characters no URI may hold, past where hyper looked: refused as hyper would.
    let response = send(
        authority(&h),
        &request(
            "GET",
            &format!("/v1/push/{}<>", "a".repeat(70_000)),
            &[],
            b"",
        ),
    )
    .await;
    assert_eq!(response.status, 400);
    // Over the 1 MiB head: 431, as Go's server.
    let response = send(
        authority(&h),
        &request(
            "GET",
            &format!("/v1/push/{}", "a".repeat(1 << 20)),
            &[],
            b"",
        ),
    )
    .await;
    assert_eq!(response.status, 431);
    assert_eq!(response.text(), "431 Request Header Fields Too Large");
    // However the head gets there, all at once included.
    let big = "b".repeat(1 << 20);
    let response = send(
        authority(&h),
        &request("GET", "/version", &[("X-Big", &big)], b""),
    )
    .await;
    assert_eq!(response.status, 431);
    h.stop().await;
}

/// A device of `kind` claiming `udid`.
fn device_with_udid(h: &mut Harness, udid: &str) -> MdmClient {
    let mut device = Device::generate(DeviceKind::Ios, 9000 + udid.len() as u64);
    device.udid = Some(udid.to_owned());
    MdmClient::new(device, MdmPayload::new(h.url("/mdm"), TOPIC)).with_identity(
        h.identity(&format!("udid {}", udid.len())),
        CertPresentation::MdmSignature,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_id_that_enrolls_is_addressable() {
    let mut h = Harness::start(&[]).await;
    assert_eq!(h.upload_push_cert().await.status(), 200);
    let tricky = format!(
        "{}/a%b?c#d e.f:g@h\u{e9}\n\0\u{1b}[31m\u{2028}",
        "U".repeat(100)
    );
    for udid in ["U".repeat(100), tricky, "X".repeat(MAX_ENROLLMENT_ID_BYTES)] {
        let mut client = device_with_udid(&mut h, &udid);
        h.enroll(&mut client).await;
        let path = format!("/v1/enqueue/{}", encode(&udid));
        let response = h
            .enqueue(
                &format!("{}?nopush=1", encode(&udid)),
                command(&format!("a-{}", udid.len())),
            )
            .await;
        assert_eq!(
            response.status(),
            200,
            "{path}: {}",
            response.text().await.unwrap()
        );
        // The inspection API names it too, a `/` in it as `%2F`: the enrollment and its queue.
        let json = |response: reqwest::Response| async move {
            assert_eq!(response.status(), 200);
            serde_json::from_str::<serde_json::Value>(&response.text().await.unwrap()).unwrap()
        };
        let enrollment = format!("/v1/enrollments/{}", encode(&udid));
        let found = json(h.call(reqwest::Method::GET, &enrollment).await).await;
        assert_eq!(found["id"], udid.as_str());
        let queue = json(
            h.call(reqwest::Method::GET, &format!("{enrollment}/queue"))
                .await,
        )
        .await;
        let uuid = format!("a-{}", udid.len());
        assert_eq!(queue["commands"][0]["command_uuid"], uuid.as_str());
        let events = h.check_in(&mut client, Channel::Device).await;
        assert_eq!(delivered(&events).len(), 1, "{udid:?}");
        // What the device answered, under its id.
        let record = json(
            h.call(reqwest::Method::GET, &format!("/v1/commands/{uuid}"))
                .await,
        )
        .await;
        let delivery = &record["enrollments"][udid.as_str()];
        assert_eq!(delivery["status"], "Acknowledged", "{record}");
        assert_eq!(delivery["result"]["UDID"], udid.as_str());
        // And the push names it back.
        let response = h
            .call(
                reqwest::Method::POST,
                &format!("/v1/push/{}", encode(&udid)),
            )
            .await;
        let result: ApiResult = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert!(result.status[&udid].push_error.is_none(), "{result:?}");
    }
    // What the API could not name does not enroll: 400, as a malformed check-in.
    for udid in [
        "X".repeat(MAX_ENROLLMENT_ID_BYTES + 1),
        "a,b".to_owned(),
        "a/../b".to_owned(),
        "a//b".to_owned(),
        "..".to_owned(),
    ] {
        let mut client = device_with_udid(&mut h, &udid);
        client.enroll();
        match h.driver.run(&mut client).await {
            Err(DriverError::Device(mdm_sim::Error::Refused { status, body, .. })) => {
                assert_eq!(
                    (status, &body[..]),
                    (400, &b"Bad Request\n"[..]),
                    "{udid:?}"
                );
            }
            other => panic!("{udid:?} enrolled: {other:?}"),
        }
    }
    h.stop().await;
}
