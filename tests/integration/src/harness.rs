//! The reference server started in-process on an ephemeral loopback port, simulated devices,
//! a mock APNs and small upstream servers (webhook receiver, DM server, auth-proxy target).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mdm_push::mock::MockApns;
use mdm_sim::proto::{Command, Raw};
use mdm_sim::{
    CertPresentation, Channel, Device, DeviceKind, Event, HttpDriver, Identity, KeyKind, MdmClient,
    MdmPayload, TestCa,
};
use rootstock_server::{self as server, Invocation};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TOPIC: &str = "com.apple.mgmt.External.7d2f5c1e-4b3a-4c8d-9e6f-0a1b2c3d4e5f";
pub const API_KEY: &str = "e2e-api-key";

/// A running server.
pub struct Running {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Starts the server with this command line and environment.
    pub async fn start(args: Vec<String>, env: HashMap<String, String>) -> Running {
        let flags = match server::parse(args, &env).expect("flags parse") {
            Invocation::Run(flags) => flags,
            other => panic!("not a run: {other:?}"),
        };
        let server = server::start(&flags).await.expect("server starts");
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Running {
            base: format!("http://{addr}"),
            stop: Some(stop),
            task,
        }
    }

    /// Shuts down gracefully and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// A device CA, a mock APNs, a temporary directory, and a server using all three.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub ca: TestCa,
    pub mock: MockApns,
    pub server: Running,
    pub http: reqwest::Client,
    pub driver: HttpDriver,
    seed: u64,
}

impl Harness {
    /// The server with NanoMDM's usual command line (SQLite in a temp dir) plus `extra`.
    pub async fn start(extra: &[&str]) -> Harness {
        let ca = TestCa::generate(KeyKind::P256, "e2e device CA").unwrap();
        Harness::start_with_ca(ca, extra).await
    }

    /// The server trusting `ca` for device identities.
    pub async fn start_with_ca(ca: TestCa, extra: &[&str]) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mock = MockApns::start().await.unwrap();
        let server = Running::start(base_args(&dir, &ca, &mock, extra), HashMap::new()).await;
        Harness {
            dir,
            ca,
            mock,
            server,
            http: http_client(),
            driver: HttpDriver::new().unwrap(),
            seed: 0,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    /// An identity from the harness CA.
    pub fn identity(&self, name: &str) -> Identity {
        Identity::issue(&self.ca, KeyKind::P256, name).unwrap()
    }

    /// A new simulated device pointed at `/mdm`, signing with `Mdm-Signature`.
    pub fn client(&mut self, kind: DeviceKind) -> MdmClient {
        self.client_with(kind, CertPresentation::MdmSignature)
    }

    pub fn client_with(&mut self, kind: DeviceKind, presentation: CertPresentation) -> MdmClient {
        self.seed += 1;
        device_client(&self.ca, kind, self.seed, self.url("/mdm"), presentation)
    }

    /// A new simulated device of `kind`, enrolled (see [`Harness::enroll`]).
    pub async fn enrolled(&mut self, kind: DeviceKind) -> MdmClient {
        self.enrolled_with(kind, CertPresentation::MdmSignature)
            .await
    }

    pub async fn enrolled_with(
        &mut self,
        kind: DeviceKind,
        presentation: CertPresentation,
    ) -> MdmClient {
        let mut client = self.client_with(kind, presentation);
        self.enroll(&mut client).await;
        client
    }

    /// Enrolls `client` and checks it worked.
    pub async fn enroll(&self, client: &mut MdmClient) {
        client.enroll();
        self.driver.run(client).await.expect("enrollment accepted");
        for channel in client.device().channels().collect::<Vec<_>>() {
            assert!(client.is_enrolled(channel));
        }
    }

    /// Has `client` check in on `channel` (an Idle report) and returns what happened; the
    /// commands it was handed are [`delivered`].
    pub async fn check_in(&self, client: &mut MdmClient, channel: Channel) -> Vec<Event> {
        client.check_in(channel);
        self.driver.run(client).await.unwrap()
    }

    /// An API request with the right credentials.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        api_request(&self.http, &self.server.base, API_KEY, method, path)
    }

    /// Sends a bodiless API request.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.api(method, path).send().await.unwrap()
    }

    /// `PUT /v1/enqueue/{targets}` with `body`; `targets` is the comma-separated ids,
    /// optionally followed by a query such as `?nopush=1`.
    pub async fn enqueue(
        &self,
        targets: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.api(reqwest::Method::PUT, &format!("/v1/enqueue/{targets}"))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Uploads a push certificate for [`TOPIC`] issued by the mock APNs.
    pub async fn upload_push_cert(&self) -> reqwest::Response {
        let issued = self.mock.issue_push_certificate(TOPIC).unwrap();
        self.api(reqwest::Method::PUT, "/v1/pushcert")
            .body(format!("{}{}", issued.cert_pem, issued.key_pem))
            .send()
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// `-api KEY -ca ca.pem -listen 127.0.0.1:0 -storage sqlite -storage-dsn db.sqlite`, APNs at
/// the mock, then `extra`.
pub fn base_args(
    dir: &tempfile::TempDir,
    ca: &TestCa,
    mock: &MockApns,
    extra: &[&str],
) -> Vec<String> {
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).unwrap();
    let apns_root = dir.path().join("apns-root.pem");
    std::fs::write(&apns_root, mock.ca_certificate_pem()).unwrap();
    let mut args: Vec<String> = [
        "-api",
        API_KEY,
        "-ca",
        &ca_path.to_string_lossy(),
        "-listen",
        "127.0.0.1:0",
        "-storage",
        "sqlite",
        "-storage-dsn",
        &dir.path().join("db.sqlite").to_string_lossy(),
        "--apns-url",
        &mock.base_url(),
        "--apns-root-ca",
        &apns_root.to_string_lossy(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// A simulated device of `kind` (`seed` makes it unique) for the MDM endpoint at `mdm_url`,
/// with a new identity from `ca` presented as `presentation`.
pub fn device_client(
    ca: &TestCa,
    kind: DeviceKind,
    seed: u64,
    mdm_url: String,
    presentation: CertPresentation,
) -> MdmClient {
    let identity = Identity::issue(ca, KeyKind::P256, &format!("device {seed}")).unwrap();
    MdmClient::new(
        Device::generate(kind, seed),
        MdmPayload::new(mdm_url, TOPIC),
    )
    .with_identity(identity, presentation)
}

/// The same device and identity as `client`, following `payload` (another server or check-in
/// URL) instead.
pub fn repointed(client: &MdmClient, payload: MdmPayload) -> MdmClient {
    let identity = client.identity().unwrap().clone();
    let mut client = MdmClient::new(client.device().clone(), client.payload().clone())
        .with_identity(identity, CertPresentation::MdmSignature);
    client.set_payload(payload);
    client
}

/// An API request to the server at `base` with `api_key` as the password.
pub fn api_request(
    http: &reqwest::Client,
    base: &str,
    api_key: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    http.request(method, format!("{base}{path}"))
        .basic_auth("nanomdm", Some(api_key))
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn id(client: &MdmClient, channel: Channel) -> String {
    client.enroll_id(channel).unwrap().id().to_string()
}

/// Every channel id of `clients`.
pub fn all_ids(clients: &[MdmClient]) -> Vec<String> {
    clients
        .iter()
        .flat_map(|c| c.device().channels().map(move |ch| id(c, ch)))
        .collect()
}

/// The commands handed out in `events`.
pub fn delivered(events: &[Event]) -> Vec<Command> {
    delivered_raw(events).map(|c| c.value().clone()).collect()
}

/// The commands handed out in `events`, as the server sent them.
pub fn delivered_raw(events: &[Event]) -> impl Iterator<Item = &Raw<Command>> {
    events.iter().filter_map(|e| match e {
        Event::Report {
            next_command: Some(c),
            ..
        } => Some(c),
        _ => None,
    })
}

/// Serves `router` on an ephemeral loopback port; returns `http://127.0.0.1:<port>`.
pub async fn serve_upstream(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// What an upstream server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

pub type Log = Arc<Mutex<Vec<Received>>>;

/// An upstream answering every request with `status`, `headers` and `body`, recording what it
/// got.
pub async fn recording_upstream(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    reply: &'static str,
) -> (String, Log) {
    let log: Log = Arc::default();
    let handler_log = log.clone();
    let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let log = handler_log.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            log.lock().unwrap().push(Received {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                headers: parts.headers,
                body,
            });
            let mut response = axum::response::Response::new(axum::body::Body::from(reply));
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            for (k, v) in headers {
                response
                    .headers_mut()
                    .insert(*k, http::HeaderValue::from_static(v));
            }
            response
        }
    });
    (serve_upstream(router).await, log)
}

/// Waits (up to 10 s) until `log` holds at least `n` entries.
pub async fn wait_for(log: &Log, n: usize) -> Vec<Received> {
    for _ in 0..200 {
        {
            let entries = log.lock().unwrap();
            if entries.len() >= n {
                return entries.clone();
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let entries = log.lock().unwrap().clone();
    panic!(
        "waited for {n} requests, got {}: {entries:?}",
        entries.len()
    );
}
