//! The server's CPU per command: `POST /v1/commands/<id>` with a JSON command against
//! `PUT /v1/enqueue/<id>` with the property list that JSON command becomes, through the whole
//! router (path cleaning, request log, API key, body read, decode, enqueue into a memory store,
//! the JSON answer), in process, `?nopush=1`, to one enrolled device.
//!
//! ```text
//! cargo bench -p mdm-http --bench json_enqueue
//! ```
//!
//! Each iteration enqueues a new command (a new `CommandUUID`; the bodies are made outside the
//! timed part), so the queue grows as it would on a server that is not answered.
//!
//! Before criterion's wall-clock figures it prints the CPU time per command of this thread
//! (the runtime is single-threaded, so the server's work is all on it), JSON and property list
//! alternating in blocks: the figure other processes on a loaded machine do not inflate. A
//! filter that names no benchmark (`-- only-cpu-figures`) leaves only those figures.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Method, Request};
use mdm_commands::CommandEnvelope;
use mdm_http::MdmHttp;
use mdm_service::{MdmService, StackBuilder};
use mdm_signature::{CaPool, CertVerifier};
use mdm_sim::{Channel, Device, DeviceKind, Identity, KeyKind, MdmClient, MdmPayload, TestCa};
use mdm_storage::{DynStorage, MemoryStore};
use tower::ServiceExt;

const API_KEY: &str = "bench-key";
const TOPIC: &str = "com.apple.mgmt.External.0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/// The commands compared, as JSON with `{uuid}` where the `CommandUUID` goes.
fn commands() -> Vec<(&'static str, String)> {
    let profile = base64_of(&vec![b'x'; 4096]);
    vec![
        (
            "DeviceInformation",
            r#"{"CommandUUID": "{uuid}", "Command": {"RequestType": "DeviceInformation",
                "Queries": ["UDID", "DeviceName", "OSVersion", "BuildVersion", "ModelName",
                "Model", "ProductName", "SerialNumber", "DeviceCapacity",
                "AvailableDeviceCapacity", "IsSupervised", "WiFiMAC", "BluetoothMAC"]}}"#
                .to_owned(),
        ),
        (
            "InstallProfile-4KiB",
            format!(
                r#"{{"CommandUUID": "{{uuid}}", "Command": {{"RequestType": "InstallProfile",
                    "Payload": "{profile}"}}}}"#
            ),
        ),
        (
            "Settings",
            r#"{"CommandUUID": "{uuid}", "Command": {"RequestType": "Settings", "Settings": [
                {"Item": "DeviceName", "DeviceName": "Front Desk iPad"},
                {"Item": "Bluetooth", "Enabled": true},
                {"Item": "TimeZone", "TimeZone": "Europe/Paris"}]}}"#
                .to_owned(),
        ),
    ]
}

fn base64_of(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The router of a server with the API and one enrolled device; the device's id.
fn server(rt: &tokio::runtime::Runtime) -> (Router, String) {
    let ca = TestCa::generate(KeyKind::P256, "bench device CA").unwrap();
    let store = DynStorage::new(MemoryStore::new());
    let core = StackBuilder::new(MdmService::new(store.clone()))
        .build()
        .service;
    let verifier: Arc<dyn CertVerifier> = Arc::new(CaPool::from_pem(ca.cert_pem()).unwrap());
    let router = MdmHttp::builder(store)
        .mdm(core, verifier)
        .api(API_KEY)
        .build();
    let identity = Identity::issue(&ca, KeyKind::P256, "bench device").unwrap();
    let mut client = MdmClient::new(
        Device::generate(DeviceKind::Ios, 1),
        MdmPayload::new("http://bench/mdm", TOPIC),
    )
    .with_identity(identity, mdm_sim::CertPresentation::MdmSignature);
    client.enroll();
    while let Some(request) = client.poll_request().unwrap() {
        let request = request.to_http().unwrap().map(Body::from);
        let response = rt.block_on(router.clone().oneshot(request)).unwrap();
        let status = response.status().as_u16();
        let body = rt
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap();
        client
            .handle_response(mdm_sim::Response::new(status, body))
            .unwrap();
    }
    let id = client.enroll_id(Channel::Device).unwrap().id().to_string();
    (router, id)
}

fn request(method: Method, path: &str, body: Bytes) -> Request<Body> {
    use base64::Engine;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("nanomdm:{API_KEY}"));
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Basic {credentials}"))
        .body(Body::from(body))
        .unwrap()
}

/// User and system CPU time of this thread, from `/proc/thread-self/stat` (Linux; 0 elsewhere).
fn thread_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    // The fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th of them, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU time per command of JSON and of the property list, in alternating blocks of `block`
/// requests, `rounds` times each.
fn cpu_per_command(
    rt: &tokio::runtime::Runtime,
    router: &Router,
    id: &str,
    template: &str,
    first: u64,
) -> (f64, f64) {
    const BLOCK: u64 = 4000;
    const ROUNDS: u64 = 10;
    let (mut json, mut plist) = (0.0, 0.0);
    for round in 0..ROUNDS {
        for as_json in [true, false] {
            let requests: Vec<_> = (0..BLOCK)
                .map(|i| {
                    let uuid = format!("cpu-{as_json}-{}", first + round * BLOCK + i);
                    let body = template.replace("{uuid}", &uuid);
                    if as_json {
                        request(
                            Method::POST,
                            &format!("/v1/commands/{id}?nopush=1"),
                            Bytes::from(body),
                        )
                    } else {
                        let plist = CommandEnvelope::from_json(body.as_bytes())
                            .unwrap()
                            .to_plist();
                        request(
                            Method::PUT,
                            &format!("/v1/enqueue/{id}?nopush=1"),
                            plist.bytes().clone(),
                        )
                    }
                })
                .collect();
            let started = thread_cpu_seconds();
            for request in requests {
                let response = rt.block_on(router.clone().oneshot(request)).unwrap();
                assert_eq!(response.status(), 200);
            }
            let spent = thread_cpu_seconds() - started;
            if as_json {
                json += spent;
            } else {
                plist += spent;
            }
        }
    }
    let n = (BLOCK * ROUNDS) as f64;
    (json / n, plist / n)
}

fn enqueue(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (router, id) = server(&rt);
    for (i, (name, template)) in commands().into_iter().enumerate() {
        let (json, plist) = cpu_per_command(&rt, &router, &id, &template, i as u64 * 1_000_000);
        println!(
            "CPU per command, {name}: JSON /v1/commands {:.1} µs, plist /v1/enqueue {:.1} µs, \
             ratio {:.2}",
            json * 1e6,
            plist * 1e6,
            json / plist
        );
    }
    let json_path = format!("/v1/commands/{id}?nopush=1");
    let plist_path = format!("/v1/enqueue/{id}?nopush=1");
    let mut group = c.benchmark_group("enqueue");
    let mut n = 0u64;
    for (name, template) in commands() {
        let json_body = |n: u64| Bytes::from(template.replace("{uuid}", &format!("json-{n}")));
        let plist_body = |n: u64| {
            let json = template.replace("{uuid}", &format!("plist-{n}"));
            CommandEnvelope::from_json(json.as_bytes())
                .unwrap()
                .to_plist()
                .bytes()
                .clone()
        };
        let run = |request: Request<Body>| {
            let response = rt.block_on(router.clone().oneshot(request)).unwrap();
            assert_eq!(response.status(), 200);
        };
        group.bench_function(format!("{name}/json /v1/commands"), |b| {
            b.iter_batched(
                || {
                    n += 1;
                    request(Method::POST, &json_path, json_body(n))
                },
                run,
                BatchSize::SmallInput,
            );
        });
        group.bench_function(format!("{name}/plist /v1/enqueue"), |b| {
            b.iter_batched(
                || {
                    n += 1;
                    request(Method::PUT, &plist_path, plist_body(n))
                },
                run,
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, enqueue);
criterion_main!(benches);
