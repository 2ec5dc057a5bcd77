//! Reliability: clients that send slowly or too much, and upstream servers (webhook receiver,
//! Declarative Management server) that never answer, do not tie the server up. Devices sent to
//! the server meanwhile are answered as usual.
//!
//! Assertions are about order (a device finished while the slow clients were still waiting),
//! never about how fast anything was; the only time bounds are generous ones that turn a hang
//! into a failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mdm_http::{MdmHttp, ServeOptions};
use mdm_service::{DeclarativeManagementForwarder, MdmService, StackBuilder};
use mdm_signature::{CaPool, CertVerifier};
use mdm_sim::proto::Command;
use mdm_sim::{
    CertPresentation, Channel, DeviceKind, DriverError, Event, HttpDriver, KeyKind, MdmClient,
    Message, TestCa,
};
use mdm_storage::{DynStorage, MemoryStore};
use rootstock_integration_tests::harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The longest any slow client or hanging upstream is waited for before the test calls it a
/// hang. Far above every timeout configured below.
const HANG: Duration = Duration::from_secs(60);

/// How often a trickler sends its next byte.
const TRICKLE: Duration = Duration::from_millis(150);

/// The declared length of a trickled body: at [`TRICKLE`] a byte, 150 s to send.
const TRICKLED_LENGTH: usize = 1000;

/// How many slow clients hold connections open at once.
const SLOW_CLIENTS: usize = 4;

/// A request head for `/mdm` that makes the server read the body at once (an `Mdm-Signature`
/// header means the certificate is in the body's signature), without a body.
fn mdm_head(extra: &str) -> String {
    format!(
        "PUT /mdm HTTP/1.1\r\nHost: rootstock\r\nMdm-Signature: c2lnbmF0dXJl\r\n\
         Content-Type: application/x-apple-aspen-mdm-checkin\r\n{extra}\r\n"
    )
}

fn host_port(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// What a slow client saw.
#[derive(Debug)]
struct SlowOutcome {
    /// Bytes sent after the request head (body bytes, or the unfinished header's bytes).
    sent: usize,
    /// The response, if any, as text.
    response: String,
    /// From before connecting until the server answered or closed the connection.
    elapsed: Duration,
}

/// Connects, sends `head`, then one byte of `filler` every [`TRICKLE`] (at most `max` bytes)
/// until the server answers or closes; then reads what is left. Reports on `progress` after
/// its first byte and counts itself in `answered` as soon as the server reacts.
async fn trickle(
    addr: String,
    head: String,
    max: usize,
    progress: mpsc::Sender<()>,
    answered: Arc<AtomicUsize>,
) -> SlowOutcome {
    let started = Instant::now();
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let mut ticks = tokio::time::interval(TRICKLE);
    let mut sent = 0;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                match read {
                    Ok(n) if n > 0 => response.extend_from_slice(&buf[..n]),
                    _ => {} // closed (or reset)
                }
                break;
            }
            _ = ticks.tick(), if sent < max => {
                if writer.write_all(b"a").await.is_err() {
                    continue; // the server is gone: the read above reports it
                }
                sent += 1;
                if sent == 1 {
                    let _ = progress.send(()).await;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    answered.fetch_add(1, Ordering::SeqCst);
    // The rest of the response, up to the server closing the connection.
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    SlowOutcome {
        sent,
        response: String::from_utf8_lossy(&response).into_owned(),
        elapsed,
    }
}

/// Starts `count` tricklers and waits until each has sent its first byte.
async fn start_tricklers(
    addr: &str,
    head: &str,
    max: usize,
    count: usize,
) -> (Vec<tokio::task::JoinHandle<SlowOutcome>>, Arc<AtomicUsize>) {
    let answered = Arc::new(AtomicUsize::new(0));
    let (progress, mut started) = mpsc::channel(count);
    let tasks = (0..count)
        .map(|_| {
            tokio::spawn(trickle(
                addr.to_owned(),
                head.to_owned(),
                max,
                progress.clone(),
                answered.clone(),
            ))
        })
        .collect();
    for _ in 0..count {
        tokio::time::timeout(HANG, started.recv())
            .await
            .expect("tricklers connect and send")
            .unwrap();
    }
    (tasks, answered)
}

async fn finish(task: tokio::task::JoinHandle<SlowOutcome>) -> SlowOutcome {
    tokio::time::timeout(HANG, task)
        .await
        .expect("the server answers or closes a slow client")
        .unwrap()
}

/// Sends `request` over a new connection and reads the response until the server closes.
async fn raw_exchange(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(HANG, read)
        .await
        .expect("the server answers and closes");
    String::from_utf8_lossy(&response).into_owned()
}

fn closes_connection(response: &str) -> bool {
    response
        .to_ascii_lowercase()
        .contains("\r\nconnection: close\r\n")
}

/// Enrolls `client`, queues a command for it through the API (no push), and has it fetch and
/// acknowledge that command: Authenticate, TokenUpdate, Idle and a command report.
async fn round_trip(
    driver: &HttpDriver,
    base: &str,
    api_key: &str,
    client: &mut MdmClient,
    uuid: &str,
) {
    client.enroll();
    driver.run(client).await.expect("enrollment accepted");
    assert!(client.is_enrolled(Channel::Device));
    let id = client.enroll_id(Channel::Device).unwrap().id().to_string();
    let command = Command::build(uuid, "ProfileList", Default::default());
    let response = http_client()
        .put(format!("{base}/v1/enqueue/{id}?nopush=1"))
        .basic_auth("nanomdm", Some(api_key))
        .body(command.bytes().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    client.check_in(Channel::Device);
    let events = driver.run(client).await.expect("command round trip");
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Report { next_command: Some(c), .. } if c.bytes() == command.bytes()
        )),
        "{events:?}"
    );
}

async fn harness_round_trip(h: &mut Harness, uuid: &str) {
    let mut client = h.client(DeviceKind::Ios);
    round_trip(&h.driver, &h.server.base, API_KEY, &mut client, uuid).await;
}

/// Bodies trickled a byte at a time get 408 once the whole-body deadline passes, long before
/// they are complete, and a device is served while they are connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_get_408_at_the_deadline_and_do_not_block_devices() {
    let body_timeout = Duration::from_secs(2);
    let mut h = Harness::start(&["-body-timeout", "2s", "-shutdown-timeout", "2s"]).await;
    let addr = host_port(&h.server.base);
    let head = mdm_head(&format!("Content-Length: {TRICKLED_LENGTH}\r\n"));
    let (tricklers, answered) = start_tricklers(&addr, &head, TRICKLED_LENGTH, SLOW_CLIENTS).await;

    harness_round_trip(&mut h, "trickle-1").await;
    assert_eq!(
        answered.load(Ordering::SeqCst),
        0,
        "the device finished while every trickler was still sending"
    );

    for trickler in tricklers {
        let outcome = finish(trickler).await;
        assert!(outcome.response.starts_with("HTTP/1.1 408 "), "{outcome:?}");
        assert!(
            outcome.response.ends_with("\r\n\r\nRequest Timeout\n"),
            "{outcome:?}"
        );
        assert!(closes_connection(&outcome.response), "{outcome:?}");
        // Answered before the body was complete, and not before the deadline (which starts
        // after the client connected).
        assert!(outcome.sent < TRICKLED_LENGTH, "{outcome:?}");
        assert!(outcome.elapsed >= body_timeout, "{outcome:?}");
    }

    // And the server goes on serving.
    harness_round_trip(&mut h, "trickle-2").await;
    h.stop().await;
}

/// Request heads that never finish (slowloris) are cut off by the header timeout, and a device
/// is served while they are connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_headers_are_cut_off_and_do_not_block_devices() {
    let header_timeout = Duration::from_secs(2);
    let mut h = Harness::start(&["-header-timeout", "2s", "-shutdown-timeout", "2s"]).await;
    let addr = host_port(&h.server.base);
    // A header line that never ends: one more byte of its value every tick, without limit.
    let head = "PUT /mdm HTTP/1.1\r\nHost: rootstock\r\nX-Slow: ".to_owned();
    let (slowloris, closed) = start_tricklers(&addr, &head, usize::MAX, SLOW_CLIENTS).await;

    harness_round_trip(&mut h, "slowloris-1").await;
    assert_eq!(
        closed.load(Ordering::SeqCst),
        0,
        "the device finished while every slow header was still being sent"
    );

    for client in slowloris {
        let outcome = finish(client).await;
        // Closed, maybe after an error status; never a request that reached a handler.
        assert!(
            outcome.response.is_empty() || outcome.response.starts_with("HTTP/1.1 4"),
            "{outcome:?}"
        );
        assert!(outcome.elapsed >= header_timeout, "{outcome:?}");
    }

    harness_round_trip(&mut h, "slowloris-2").await;
    h.stop().await;
}

/// Bodies over `-body-limit` get 413: a declared `Content-Length` at once, without the body
/// ever being sent; a chunked body once the limit is crossed. The server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_and_the_server_carries_on() {
    let mut h = Harness::start(&["-body-limit", "4096"]).await;
    let addr = host_port(&h.server.base);

    // Headers only: the 100 000 bytes declared are never sent.
    let response = raw_exchange(&addr, mdm_head("Content-Length: 100000\r\n").as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
    assert!(
        response.ends_with("\r\n\r\nRequest Entity Too Large\n"),
        "{response}"
    );
    assert!(closes_connection(&response), "{response}");

    // The same on the API, behind its authentication.
    let api_head = format!(
        "PUT /v1/enqueue/some-id HTTP/1.1\r\nHost: rootstock\r\n\
         Authorization: Basic {}\r\nContent-Length: 100000\r\n\r\n",
        base64_basic("nanomdm", API_KEY)
    );
    let response = raw_exchange(&addr, api_head.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");

    // Chunked, no length declared: 8 KiB in 1 KiB chunks.
    let mut chunked = mdm_head("Transfer-Encoding: chunked\r\n").into_bytes();
    for _ in 0..8 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b'a'; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let response = raw_exchange(&addr, &chunked).await;
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
    assert!(closes_connection(&response), "{response}");

    // A chunked body that crosses the limit and then stalls, never finished.
    let mut stalled = mdm_head("Transfer-Encoding: chunked\r\n").into_bytes();
    stalled.extend_from_slice(b"1400\r\n");
    stalled.extend_from_slice(&[b'a'; 0x1400]);
    let response = raw_exchange(&addr, &stalled).await;
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");

    harness_round_trip(&mut h, "oversized-1").await;
    h.stop().await;
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// A server that accepts connections, reads whatever it is sent and never answers. Returns its
/// base URL and the number of connections it has accepted.
async fn silent_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), accepted)
}

/// Waits until `counter` reaches `n`.
async fn wait_for_count(counter: &AtomicUsize, n: usize, what: &str) {
    let wait = async {
        while counter.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(HANG, wait)
        .await
        .unwrap_or_else(|_| panic!("{what}: {} of {n}", counter.load(Ordering::SeqCst)));
}

/// With a webhook receiver and a DM server that accept connections and never answer
/// (`-webhook-url`, `-dm`), devices still enroll and fetch commands: webhook events are sent
/// from a queue the devices do not wait on, and a DM check-in in flight holds up only itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_webhook_and_dm_servers_do_not_slow_devices() {
    let (hook, hook_connections) = silent_upstream().await;
    let (dm, dm_connections) = silent_upstream().await;
    let hook = format!("{hook}/hook");
    let dm = format!("{dm}/dm/");
    let mut h =
        Harness::start(&["-webhook-url", &hook, "-dm", &dm, "-shutdown-timeout", "1s"]).await;

    // A DM check-in waiting on the DM server (which gets 30 s, the default).
    let mut dm_device = h.client(DeviceKind::MacOs);
    h.enroll(&mut dm_device).await;
    dm_device.queue(
        Channel::Device,
        Message::DeclarativeManagement {
            endpoint: "tokens".into(),
            data: None,
        },
    );
    let driver = h.driver.clone();
    let dm_check_in = tokio::spawn(async move { driver.run(&mut dm_device).await });
    wait_for_count(&dm_connections, 1, "the DM server is called").await;

    // Each device: Authenticate, TokenUpdate, Idle, Acknowledged, four webhook events; more
    // than the 16 deliveries let hang at once, so events also wait in the queue.
    for n in 0..5 {
        harness_round_trip(&mut h, &format!("hanging-{n}")).await;
    }
    wait_for_count(&hook_connections, 1, "webhook deliveries are attempted").await;
    assert!(
        !dm_check_in.is_finished(),
        "devices were served while the DM check-in was still waiting"
    );

    dm_check_in.abort();
    h.stop().await;
}

/// A DM server that never answers: the device's DeclarativeManagement check-in ends with
/// NanoMDM's 500 for a failed DM call once the forwarder's timeout passes, and other devices
/// are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_dm_call_ends_in_500_at_the_forwarder_timeout() {
    let (dm, dm_connections) = silent_upstream().await;
    let forwarder = DeclarativeManagementForwarder::new(format!("{dm}/dm/").parse().unwrap())
        .timeout(Duration::from_secs(3));

    // The library stack (the reference server's `-dm` always allows 30 s).
    let ca = TestCa::generate(KeyKind::P256, "dm timeout CA").unwrap();
    let store = DynStorage::new(MemoryStore::new());
    let core = MdmService::new(store.clone()).declarative_management(forwarder);
    let core = StackBuilder::new(core).build().service;
    let verifier: Arc<dyn CertVerifier> = Arc::new(CaPool::from_pem(ca.cert_pem()).unwrap());
    let app = MdmHttp::builder(store)
        .mdm(core, verifier)
        .api(API_KEY)
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mdm_http::serve(
        listener,
        app,
        ServeOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let device = |seed: u64| {
        device_client(
            &ca,
            DeviceKind::MacOs,
            seed,
            format!("{base}/mdm"),
            CertPresentation::MdmSignature,
        )
    };
    let driver = HttpDriver::new().unwrap();

    let mut dm_device = device(1);
    dm_device.enroll();
    driver.run(&mut dm_device).await.unwrap();
    dm_device.queue(
        Channel::Device,
        Message::DeclarativeManagement {
            endpoint: "status".into(),
            data: Some(b"{}".to_vec()),
        },
    );
    let dm_driver = driver.clone();
    let dm_check_in = tokio::spawn(async move { dm_driver.run(&mut dm_device).await });
    wait_for_count(&dm_connections, 1, "the DM server is called").await;

    let mut other = device(2);
    round_trip(&driver, &base, API_KEY, &mut other, "dm-hang-1").await;
    assert!(
        !dm_check_in.is_finished(),
        "another device was served while the DM check-in was waiting"
    );

    // The server answers the device itself (the driver's own timeout is 30 s, far later).
    let result = tokio::time::timeout(HANG, dm_check_in)
        .await
        .expect("the DM check-in ends")
        .unwrap();
    match result {
        Err(DriverError::Device(mdm_sim::Error::Refused { status, body, .. })) => {
            assert_eq!((status, &body[..]), (500, &b"Internal Server Error\n"[..]));
        }
        other => panic!("expected a 500 from the server, got {other:?}"),
    }

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
