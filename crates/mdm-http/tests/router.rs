//! `MdmHttp` as a library: the router mounted inside someone else's axum app over a
//! `MemoryStore`, served with `mdm_http::serve`, and that server's read timeouts.

use std::sync::Arc;
use std::time::Duration;

use mdm_http::{MdmHttp, ServeOptions};
use mdm_service::{MdmService, StackBuilder};
use mdm_signature::{CaPool, CertVerifier};
use mdm_sim::proto::Command;
use mdm_sim::{
    CertPresentation, Channel, Device, DeviceKind, Event, HttpDriver, Identity, KeyKind, MdmClient,
    MdmPayload, TestCa,
};
use mdm_storage::{DynStorage, MemoryStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOPIC: &str = "com.apple.mgmt.External.11111111-2222-3333-4444-555555555555";

struct App {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve_app(ca: &TestCa, options: ServeOptions) -> App {
    let store = DynStorage::new(MemoryStore::new());
    let core = StackBuilder::new(MdmService::new(store.clone()))
        .build()
        .service;
    let verifier: Arc<dyn CertVerifier> = Arc::new(CaPool::from_pem(ca.cert_pem()).unwrap());
    let mdm = MdmHttp::builder(store)
        .mdm(core, verifier)
        .api("library-key")
        .version("v-embedded")
        .build();
    // The user's own application, with the MDM server under a prefix.
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest("/nanomdm", mdm);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(mdm_http::serve(listener, app, options, async {
        let _ = stopped.await;
    }));
    App { base, stop, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounted_under_a_prefix_in_another_app() {
    let ca = TestCa::generate(KeyKind::P256, "library CA").unwrap();
    let app = serve_app(&ca, ServeOptions::default()).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(
        http.get(format!("{}/health", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(
        http.get(format!("{}/nanomdm/version", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "{\"version\":\"v-embedded\"}"
    );

    let mut client = MdmClient::new(
        Device::generate(DeviceKind::UserEnrollment, 3),
        MdmPayload::new(format!("{}/nanomdm/mdm", app.base), TOPIC),
    )
    .with_identity(
        Identity::issue(&ca, KeyKind::P256, "lib").unwrap(),
        CertPresentation::MdmSignature,
    );
    let driver = HttpDriver::new().unwrap();
    client.enroll();
    driver.run(&mut client).await.unwrap();

    let user = client.enroll_id(Channel::User).unwrap().id().to_string();
    let command = Command::build("lib-1", "ProfileList", Default::default());
    let response = http
        .put(format!("{}/nanomdm/v1/enqueue/{user}?nopush=1", app.base))
        .basic_auth("nanomdm", Some("library-key"))
        .body(command.bytes().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    client.check_in(Channel::User);
    let events = driver.run(&mut client).await.unwrap();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Report { next_command: Some(c), .. } if c.bytes() == command.bytes()
    )));

    let _ = app.stop.send(());
    app.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn slow_clients_time_out() {
    let ca = TestCa::generate(KeyKind::P256, "timeout CA").unwrap();
    let mut options = ServeOptions::default();
    options.header_read_timeout = Duration::from_millis(300);
    options.body_read_timeout = Duration::from_millis(300);
    let app = serve_app(&ca, options).await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    // Headers that never finish: the connection is closed.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"PUT /nanomdm/mdm HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "closed after the header timeout");

    // A body that stalls: 408.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"PUT /nanomdm/v1/enqueue/x HTTP/1.1\r\nHost: x\r\nAuthorization: Basic bmFub21kbTpsaWJyYXJ5LWtleQ==\r\nContent-Length: 100\r\n\r\nonly ten b")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
        .await
        .expect("answered after the body timeout")
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.ends_with("Request Timeout\n"), "{text}");

    let _ = app.stop.send(());
    app.task.await.unwrap().unwrap();
}

/// Every path the router serves is in `docs/openapi.yaml`, and the document names no other.
#[test]
fn openapi_lists_the_served_paths() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml"),
    )
    .unwrap();
    let mut documented: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("  /"))
        .filter_map(|l| l.strip_suffix(':'))
        .collect();
    documented.sort_unstable();
    // The routes `MdmHttpBuilder::build` registers, in OpenAPI's template syntax.
    let mut served = [
        "authproxy/{path}",
        "checkin",
        "mdm",
        "migration",
        "v1/commands/{ids}",
        "v1/enqueue/{ids}",
        "v1/enrollments",
        "v1/enrollments/{id}",
        "v1/enrollments/{id}/queue",
        "v1/enrollments/{id}/queue/{command_uuid}",
        "v1/escrowkeyunlock",
        "v1/push/{ids}",
        "v1/pushcert",
        "version",
    ];
    served.sort_unstable();
    assert_eq!(documented, served);
}
