//! Building a custom server from the crates, as an embedder does: a layer of one's own in the
//! standard stack (refusing with a status and body of its choosing, beside dump and webhook), the
//! routes merged into an application with its own fallback, and enqueueing from code through the
//! same `Enqueuer` the API uses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use mdm_http::{MdmHttp, PathCleanLayer, RequestLogLayer, ServeOptions};
use mdm_push::mock::MockApns;
use mdm_service::{
    BoxMdmService, Enqueuer, MdmError, MdmRequest, MdmResponse, MdmService, StackBuilder,
    StackPosition, WebhookConfig,
};
use mdm_signature::{CaPool, CertVerifier};
use mdm_sim::proto::Command;
use mdm_sim::{
    CertPresentation, Channel, Device, DeviceKind, Event, HttpDriver, Identity, KeyKind, MdmClient,
    MdmPayload, TestCa,
};
use mdm_storage::{DynStorage, EnrollmentId, MemoryStore};

const TOPIC: &str = "com.apple.mgmt.External.0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/// A block list: requests from the listed device channels are answered as Apple's enrollment
/// service answers an unknown device, 403 with a JSON code.
#[derive(Clone)]
struct BlockListLayer(Arc<Vec<EnrollmentId>>);

impl<S> tower::Layer<S> for BlockListLayer {
    type Service = BlockList<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BlockList {
            blocked: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
struct BlockList<S> {
    blocked: Arc<Vec<EnrollmentId>>,
    inner: S,
}

impl<S> tower::Service<MdmRequest> for BlockList<S>
where
    S: tower::Service<MdmRequest, Response = MdmResponse, Error = MdmError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = MdmResponse;
    type Error = MdmError;
    type Future = BoxFuture<'static, Result<MdmResponse, MdmError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), MdmError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MdmRequest) -> Self::Future {
        if self.blocked.contains(request.enroll_id.device_channel_id()) {
            let refusal = MdmError::refused_json(
                403,
                &serde_json::json!({"code": "com.apple.unrecognized.device"}),
            );
            return Box::pin(std::future::ready(Err(refusal)));
        }
        let mut inner = mdm_service::take_ready(&mut self.inner);
        Box::pin(async move { inner.call(request).await })
    }
}

/// Counts the requests it sees.
#[derive(Clone, Default)]
struct CountLayer(Arc<AtomicUsize>);

impl<S> tower::Layer<S> for CountLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            count: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
struct Counted<S> {
    count: Arc<AtomicUsize>,
    inner: S,
}

impl<S: tower::Service<MdmRequest>> tower::Service<MdmRequest> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MdmRequest) -> S::Future {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.call(request)
    }
}

/// A sink the dump writes into.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Embedded {
    base: String,
    store: DynStorage,
    ca: TestCa,
    driver: HttpDriver,
}

impl Embedded {
    fn client(&self, seed: u64) -> MdmClient {
        let device = Device::generate(DeviceKind::Ios, seed);
        let id = device.enroll_id(Channel::Device).unwrap().id().to_string();
        let identity = Identity::issue(&self.ca, KeyKind::P256, &id).unwrap();
        MdmClient::new(
            device,
            MdmPayload::new(format!("{}/nanomdm/mdm", self.base), TOPIC),
        )
        .with_identity(identity, CertPresentation::MdmSignature)
    }
}

/// Serves `service` and `routes`-style MDM routes inside an application of the test's own.
async fn serve(
    service: BoxMdmService,
    store: DynStorage,
    ca: TestCa,
    enqueuer: Enqueuer<DynStorage>,
) -> Embedded {
    let verifier: Arc<dyn CertVerifier> = Arc::new(CaPool::from_pem(ca.cert_pem()).unwrap());
    let routes = MdmHttp::builder(store.clone())
        .mdm(service, verifier)
        .api("embedded-key")
        .enqueuer(enqueuer)
        .build_routes();
    // The application has its own routes and its own fallback, and puts NanoMDM's path
    // cleaning and the request log around all of it.
    let app = axum::Router::new()
        .route("/admin/health", axum::routing::get(|| async { "ok" }))
        .nest("/nanomdm", routes)
        .fallback(|| async { (http::StatusCode::IM_A_TEAPOT, "the app's own fallback") })
        .layer(PathCleanLayer::nanomdm())
        .layer(RequestLogLayer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(mdm_http::serve(
        listener,
        app,
        ServeOptions::default(),
        std::future::pending(),
    ));
    Embedded {
        base,
        store,
        ca,
        driver: HttpDriver::new().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_of_ones_own_answers_403_with_json_beside_dump_and_webhook() {
    let ca = TestCa::generate(KeyKind::P256, "embedding CA").unwrap();
    let store = DynStorage::new(MemoryStore::new());
    let mock = MockApns::start().await.unwrap();
    let enqueuer = Enqueuer::new(store.clone(), mock.config());

    // A webhook receiver counting events.
    let events = Arc::new(AtomicUsize::new(0));
    let seen = events.clone();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async { "" }
        }),
    );
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", hook_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(hook_listener, hook).await });

    let blocked_device = Device::generate(DeviceKind::Ios, 2);
    let blocked_id = blocked_device
        .enroll_id(Channel::Device)
        .unwrap()
        .id()
        .clone();
    let counted = CountLayer::default();
    let sink = Sink::default();
    let stack = StackBuilder::new(MdmService::new(store.clone()))
        .dump(sink.clone())
        .webhook(WebhookConfig::new(hook_url.parse().unwrap()))
        .layer(
            StackPosition::BeforeCertAuth,
            BlockListLayer(Arc::new(vec![blocked_id])),
        )
        .layer(StackPosition::AroundCore, counted.clone())
        .build();
    tokio::spawn(stack.webhook_worker.unwrap().run());
    let app = serve(stack.service, store, ca, enqueuer.clone()).await;

    // A device that is not blocked enrolls; its messages pass every layer.
    let mut allowed = app.client(1);
    allowed.enroll();
    app.driver.run(&mut allowed).await.unwrap();
    assert!(allowed.is_enrolled(Channel::Device));
    assert_eq!(
        counted.0.load(Ordering::SeqCst),
        2,
        "Authenticate, TokenUpdate"
    );

    // The blocked one gets the layer's own answer, status and body.
    let mut blocked = app.client(2);
    blocked.enroll();
    let request = blocked.poll_request().unwrap().unwrap();
    let response = app.driver.send(&request).await.unwrap();
    assert_eq!(response.status, 403);
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["code"], "com.apple.unrecognized.device");
    assert_eq!(
        counted.0.load(Ordering::SeqCst),
        2,
        "refused before the core"
    );

    // Dump and webhook still see what they saw before.
    for _ in 0..500 {
        if events.load(Ordering::SeqCst) >= 2 && !sink.0.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        events.load(Ordering::SeqCst),
        2,
        "one event per accepted message"
    );
    let dumped = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(dumped.contains("<string>TokenUpdate</string>"), "{dumped}");

    // Enqueue from code with the API's own Enqueuer; the device gets the command.
    let id = allowed.enroll_id(Channel::Device).unwrap().id().clone();
    let command = Command::build("from-code", "ProfileList", Default::default());
    let enqueued = enqueuer
        .enqueue(std::slice::from_ref(&id), &command, false)
        .await
        .unwrap();
    assert!(enqueued.not_queued.is_empty());
    allowed.check_in(Channel::Device);
    let delivered: Vec<_> = app
        .driver
        .run(&mut allowed)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Event::Report {
                next_command: Some(command),
                ..
            } => Some(command.command_uuid.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, ["from-code"]);
    let _ = &app.store;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_merge_into_an_app_with_its_own_fallback() {
    let ca = TestCa::generate(KeyKind::P256, "embedding CA").unwrap();
    let store = DynStorage::new(MemoryStore::new());
    let mock = MockApns::start().await.unwrap();
    let enqueuer = Enqueuer::new(store.clone(), mock.config());
    let service = StackBuilder::new(MdmService::new(store.clone()))
        .build()
        .service;
    let app = serve(service, store, ca, enqueuer).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| http.get(format!("{}{path}", app.base)).send();

    let health = get("/admin/health").await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    // Unknown paths reach the application's fallback, not NanoMDM's 404.
    assert_eq!(get("/nowhere").await.unwrap().status(), 418);
    assert_eq!(get("/nanomdm/nowhere").await.unwrap().status(), 418);
    // The MDM routes answer under the prefix.
    let version = get("/nanomdm/version").await.unwrap();
    assert_eq!(version.status(), 200);
    // The path cleaning put around the whole app redirects unclean paths, the app's too.
    let unclean = get("/admin//health").await.unwrap();
    assert_eq!(unclean.status(), 301);
    assert_eq!(unclean.headers()["location"], "/admin/health");
}
