//! The composed service driven by simulated devices: real check-ins and reports, signed with
//! real identities and verified before they reach the service, over `MemoryStore` and SQLite.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use mdm_proto::{CheckIn, Command, CommandReport, Status};
use mdm_service::{
    BoxMdmService, DeclarativeManagementForwarder, DeviceIdentity, GetTokenMux, MdmError,
    MdmMessage, MdmRequest, MdmResponse, MdmService, RequestId, StackBuilder, StaticToken,
    UserAuthenticatePolicy, WebhookConfig, WebhookEvent,
};
use mdm_signature::test_pki::{KeyKind, TestCa};
use mdm_sim::{
    Answer, CertPresentation, Channel, Device, DeviceKind, Event, Identity, MdmClient, MdmPayload,
    Message, Response,
};
use mdm_storage::{CertAuthStore, CommandQueue, EnrollmentId, MemoryStore, PushStore, Storage};
use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
use tokio::sync::{Mutex, Notify, mpsc};
use tower::{Service, ServiceExt};

const TOPIC: &str = "com.apple.mgmt.External.2a5e7d4c-3b1f-4f7e-9c6d-8e1a0b2c3d4e";

/// Verifies and decodes a simulated device's request as the HTTP layer will.
fn to_mdm_request(request: &mdm_sim::Request) -> Result<MdmRequest, MdmError> {
    let body = request.body().clone();
    let message = if request.is_check_in() {
        MdmMessage::CheckIn(CheckIn::decode(body.clone())?)
    } else {
        MdmMessage::Report(CommandReport::decode(body.clone())?)
    };
    let mut mdm = MdmRequest::new(message)?;
    if let Some(header) = request.headers().get(mdm_sim::MDM_SIGNATURE) {
        let cert = mdm_signature::verify_mdm_signature(header.as_bytes(), &body)
            .expect("the simulator signs validly");
        mdm = mdm.with_identity(DeviceIdentity::new(cert.der().to_vec(), cert.cert_hash()));
    }
    Ok(mdm)
}

/// Sends everything the client has queued; stops at the first refusal and returns it.
async fn exchange(
    service: &mut BoxMdmService,
    client: &mut MdmClient,
) -> Result<Vec<Event>, MdmError> {
    let mut events = Vec::new();
    while let Some(request) = client.poll_request().unwrap() {
        let result = match to_mdm_request(&request) {
            Ok(mdm) => service.ready().await.unwrap().call(mdm).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(response) => events.push(
                client
                    .handle_response(Response::new(200, response.body.unwrap_or_default()))
                    .unwrap(),
            ),
            Err(e) => {
                client.abort();
                return Err(e);
            }
        }
    }
    Ok(events)
}

struct Fixture {
    ca: TestCa,
    seed: u64,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            ca: TestCa::generate(KeyKind::P256, "Rootstock Test Device CA").unwrap(),
            seed: 0,
        }
    }

    fn identity(&self, name: &str) -> Identity {
        Identity::issue(&self.ca, KeyKind::P256, name).unwrap()
    }

    fn client(&mut self, kind: DeviceKind) -> MdmClient {
        self.seed += 1;
        let device = Device::generate(kind, self.seed);
        let identity = self.identity(&format!("device {}", self.seed));
        MdmClient::new(device, MdmPayload::new("http://127.0.0.1/mdm", TOPIC))
            .with_identity(identity, CertPresentation::MdmSignature)
    }
}

async fn sqlite() -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("db.sqlite")))
        .await
        .unwrap();
    (Arc::new(store), dir)
}

/// Runs `case` once with a `MemoryStore` and once with SQLite.
async fn both<F, Fut>(case: F)
where
    F: Fn(Arc<dyn AnyStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    case(Arc::new(StoreHandle(Arc::new(MemoryStore::new())))).await;
    let (sqlite, _dir) = sqlite().await;
    case(Arc::new(StoreHandle(sqlite))).await;
}

/// The optional parts of the standard stack these tests vary.
#[derive(Default)]
struct Options {
    retro: bool,
    dump: Option<Box<dyn std::io::Write + Send>>,
    webhook: Option<WebhookConfig>,
}

/// The standard stack around `core`; its webhook worker, if any, runs on the test's runtime.
fn stack<S>(core: MdmService<S>, options: Options) -> BoxMdmService
where
    S: Storage + Clone + 'static,
{
    let mut builder = StackBuilder::new(core).retro(options.retro);
    if let Some(dump) = options.dump {
        builder = builder.dump(dump);
    }
    if let Some(webhook) = options.webhook {
        builder = builder.webhook(webhook);
    }
    let stack = builder.build();
    if let Some(worker) = stack.webhook_worker {
        tokio::spawn(worker.run());
    }
    stack.service
}

/// Lets one test body run over either backend.
trait AnyStore: Send + Sync {
    fn stack(
        &self,
        core: fn(mdm_storage::DynStorage) -> MdmService<mdm_storage::DynStorage>,
        options: Options,
    ) -> BoxMdmService;
    fn storage(&self) -> mdm_storage::DynStorage;
}

struct StoreHandle<S>(Arc<S>);

impl<S: Storage + 'static> AnyStore for StoreHandle<S> {
    fn stack(
        &self,
        core: fn(mdm_storage::DynStorage) -> MdmService<mdm_storage::DynStorage>,
        options: Options,
    ) -> BoxMdmService {
        stack(core(self.storage()), options)
    }

    fn storage(&self) -> mdm_storage::DynStorage {
        mdm_storage::DynStorage::from_arc(self.0.clone())
    }
}

fn plain(storage: mdm_storage::DynStorage) -> MdmService<mdm_storage::DynStorage> {
    MdmService::new(storage)
}

fn ids(client: &MdmClient, channel: Channel) -> EnrollmentId {
    client.enroll_id(channel).unwrap().id().clone()
}

async fn enqueue(
    storage: &mdm_storage::DynStorage,
    targets: &[EnrollmentId],
    uuid: &str,
    request_type: &str,
) -> Command {
    let command = Command::build(uuid, request_type, Default::default());
    let failed = storage.enqueue_command(targets, &command, 0).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    command.into_parts().0
}

#[tokio::test]
async fn lifecycle_of_every_enrollment_type() {
    both(|store| async move {
        let mut fx = Fixture::new();
        let storage = store.storage();
        let mut service = store.stack(plain, Options::default());
        for kind in [
            DeviceKind::MacOs,
            DeviceKind::Ios,
            DeviceKind::UserEnrollment,
            DeviceKind::SharedIpad,
        ] {
            let mut client = fx.client(kind);
            client.enroll();
            exchange(&mut service, &mut client).await.unwrap();
            let channels: Vec<Channel> = client.device().channels().collect();
            for &channel in &channels {
                assert!(client.is_enrolled(channel), "{kind:?} {channel:?}");
            }
            let targets: Vec<EnrollmentId> = channels.iter().map(|&c| ids(&client, c)).collect();
            let push = storage.retrieve_push_info(&targets).await.unwrap();
            assert_eq!(
                push.len(),
                targets.len(),
                "{kind:?}: every enrolled channel can be pushed"
            );

            // One command to every channel, delivered byte-exact on each, then gone.
            let uuid = format!("cmd-{kind:?}");
            enqueue(&storage, &targets, &uuid, "ProfileList").await;
            for &channel in &channels {
                client.check_in(channel);
                let events = exchange(&mut service, &mut client).await.unwrap();
                let delivered: Vec<_> = events
                    .iter()
                    .filter_map(|e| match e {
                        Event::Report {
                            next_command: Some(c),
                            ..
                        } => Some(c.command_uuid.clone()),
                        _ => None,
                    })
                    .collect();
                assert_eq!(
                    delivered,
                    std::slice::from_ref(&uuid),
                    "{kind:?} {channel:?}"
                );
                assert!(
                    storage
                        .retrieve_next_command(&client.enroll_id(channel).unwrap(), false)
                        .await
                        .unwrap()
                        .is_none()
                );
            }

            // CheckOut on the device channel disables every channel.
            client.check_out();
            exchange(&mut service, &mut client).await.unwrap();
            assert!(
                storage
                    .retrieve_push_info(&targets)
                    .await
                    .unwrap()
                    .is_empty(),
                "{kind:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn not_now_is_skipped_for_one_answer_then_delivered_again() {
    both(|store| async move {
        let mut fx = Fixture::new();
        let storage = store.storage();
        let mut service = store.stack(plain, Options::default());
        let mut client = fx.client(DeviceKind::Ios);
        client.enroll();
        exchange(&mut service, &mut client).await.unwrap();
        let id = ids(&client, Channel::Device);
        let first = enqueue(&storage, std::slice::from_ref(&id), "first", "DeviceLock").await;
        enqueue(&storage, std::slice::from_ref(&id), "second", "ProfileList").await;

        client.answer_next(Answer::NotNow);
        client.check_in(Channel::Device);
        let events = exchange(&mut service, &mut client).await.unwrap();
        let sequence: Vec<_> = events
            .iter()
            .map(|e| match e {
                Event::Report {
                    status,
                    next_command,
                    ..
                } => (
                    status.clone(),
                    next_command.as_ref().map(|c| c.command_uuid.clone()),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        // NotNow skips every not-now command for that one answer only: once the device answers
        // something else, the command it put off comes back.
        assert_eq!(
            sequence,
            [
                (Status::Idle, Some("first".to_owned())),
                (Status::NotNow, Some("second".to_owned())),
                (Status::Acknowledged, Some("first".to_owned())),
                (Status::Acknowledged, None),
            ]
        );
        match &events[2] {
            Event::Report {
                next_command: Some(c),
                ..
            } => {
                assert_eq!(c.command_uuid, first.command_uuid);
                assert_eq!(
                    c.bytes(),
                    Command::build("first", "DeviceLock", Default::default()).bytes()
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            storage
                .retrieve_next_command(&client.enroll_id(Channel::Device).unwrap(), false)
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn reenrollment_clears_the_queue_and_disables_until_token_update() {
    both(|store| async move {
        let mut fx = Fixture::new();
        let storage = store.storage();
        let mut service = store.stack(plain, Options::default());
        let mut client = fx.client(DeviceKind::MacOs);
        client.enroll();
        exchange(&mut service, &mut client).await.unwrap();
        let targets = vec![ids(&client, Channel::Device), ids(&client, Channel::User)];
        enqueue(&storage, &targets, "stale", "ProfileList").await;
        client.queue(Channel::Device, Message::Authenticate);
        exchange(&mut service, &mut client).await.unwrap();
        assert!(
            storage
                .retrieve_push_info(&targets)
                .await
                .unwrap()
                .is_empty(),
            "disabled until TokenUpdate"
        );
        for id in [
            client.enroll_id(Channel::Device).unwrap(),
            client.enroll_id(Channel::User).unwrap(),
        ] {
            assert!(
                storage
                    .retrieve_next_command(&id, false)
                    .await
                    .unwrap()
                    .is_none(),
                "queue cleared"
            );
        }
        client.queue(Channel::Device, Message::TokenUpdate);
        exchange(&mut service, &mut client).await.unwrap();
        assert_eq!(
            storage.retrieve_push_info(&targets).await.unwrap().len(),
            1,
            "device channel enabled again"
        );
    })
    .await;
}

#[tokio::test]
async fn certificate_binding_refuses_another_devices_certificate() {
    both(|store| async move {
        let mut fx = Fixture::new();
        let mut service = store.stack(plain, Options::default());
        let mut alice = fx.client(DeviceKind::Ios);
        alice.enroll();
        exchange(&mut service, &mut alice).await.unwrap();

        // Another device presenting Alice's certificate cannot enroll with it…
        let mut mallory = MdmClient::new(
            Device::generate(DeviceKind::Ios, 999),
            MdmPayload::new("http://127.0.0.1/mdm", TOPIC),
        )
        .with_identity(
            alice.identity().unwrap().clone(),
            CertPresentation::MdmSignature,
        );
        mallory.enroll();
        let err = exchange(&mut service, &mut mallory).await.unwrap_err();
        assert!(
            matches!(
                err,
                MdmError::CertAuth(mdm_service::CertAuthError::CertReuse)
            ),
            "{err}"
        );
        assert_eq!(err.status(), 500);

        // …and Alice's channel refuses a certificate it was not enrolled with, on check-ins and
        // on the command channel alike.
        let mut swapped = alice
            .clone()
            .with_identity(fx.identity("other"), CertPresentation::MdmSignature);
        swapped.check_in(Channel::Device);
        let err = exchange(&mut service, &mut swapped).await.unwrap_err();
        assert!(
            matches!(
                err,
                MdmError::CertAuth(mdm_service::CertAuthError::NotAssociated)
            ),
            "{err}"
        );

        // Requests with no certificate at all are refused too.
        let mut unsigned = MdmClient::new(
            alice.device().clone(),
            MdmPayload::new("http://127.0.0.1/mdm", TOPIC),
        );
        unsigned.check_in(Channel::Device);
        let err = exchange(&mut service, &mut unsigned).await.unwrap_err();
        assert!(
            matches!(
                err,
                MdmError::CertAuth(mdm_service::CertAuthError::MissingCertificate)
            ),
            "{err}"
        );

        // A re-enrollment with a renewed certificate binds it.
        let mut renewed = alice
            .clone()
            .with_identity(fx.identity("renewed"), CertPresentation::MdmSignature);
        renewed.enroll();
        exchange(&mut service, &mut renewed).await.unwrap();
        renewed.check_in(Channel::Device);
        exchange(&mut service, &mut renewed).await.unwrap();
    })
    .await;
}

/// Devices enrolling at the same moment with one fresh certificate (on SQLite two such
/// Authenticates used to both succeed, leaving the certificate bound to both): exactly one
/// enrolls, the others are refused as certificate re-use, and the certificate stays bound to
/// the winner alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_authenticates_with_one_certificate_bind_it_once() {
    const DEVICES: usize = 8;
    const ROUNDS: u64 = 5;
    both(|store| async move {
        let fx = Fixture::new();
        let service = store.stack(plain, Options::default());
        let storage = store.storage();
        for round in 0..ROUNDS {
            let shared = fx.identity(&format!("shared {round}"));
            let hash = mdm_signature::cert_hash(shared.certificate_der());
            let start = Arc::new(tokio::sync::Barrier::new(DEVICES));
            let racers: Vec<_> = (0..DEVICES as u64)
                .map(|n| {
                    let device = Device::generate(DeviceKind::Ios, 10_000 + round * 100 + n);
                    let mut client =
                        MdmClient::new(device, MdmPayload::new("http://127.0.0.1/mdm", TOPIC))
                            .with_identity(shared.clone(), CertPresentation::MdmSignature);
                    let (mut service, start) = (service.clone(), start.clone());
                    tokio::spawn(async move {
                        client.enroll();
                        start.wait().await;
                        let result = exchange(&mut service, &mut client).await;
                        (
                            client.enroll_id(Channel::Device).unwrap(),
                            result.map(|_| ()),
                        )
                    })
                })
                .collect();
            let mut winners = Vec::new();
            let mut losers = Vec::new();
            for racer in racers {
                match racer.await.unwrap() {
                    (id, Ok(())) => winners.push(id),
                    (id, Err(MdmError::CertAuth(mdm_service::CertAuthError::CertReuse))) => {
                        losers.push(id)
                    }
                    (id, Err(e)) => panic!("round {round}: {}: {e}", id.id()),
                }
            }
            assert_eq!(
                winners.len(),
                1,
                "round {round}: these all enrolled: {winners:?}"
            );
            assert_eq!(
                storage.enrollment_from_cert_hash(&hash).await.unwrap(),
                Some(winners[0].id().clone())
            );
            for id in &losers {
                assert!(
                    !storage.is_cert_hash_associated(id, &hash).await.unwrap(),
                    "round {round}: {} holds the certificate too",
                    id.id()
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn retro_binding_admits_enrollments_that_predate_it_once() {
    both(|store| async move {
        let mut fx = Fixture::new();
        // Enroll without certauth (as a server that did not bind certificates).
        let core = plain(store.storage());
        let mut client = fx.client(DeviceKind::Ios);
        client.enroll();
        while let Some(request) = client.poll_request().unwrap() {
            let response = core
                .handle(&to_mdm_request(&request).unwrap())
                .await
                .unwrap();
            client
                .handle_response(Response::new(200, response.body.unwrap_or_default()))
                .unwrap();
        }

        let mut strict = store.stack(plain, Options::default());
        client.check_in(Channel::Device);
        let err = exchange(&mut strict, &mut client).await.unwrap_err();
        assert!(
            matches!(
                err,
                MdmError::CertAuth(mdm_service::CertAuthError::NotAssociated)
            ),
            "{err}"
        );

        let mut retro = store.stack(
            plain,
            Options {
                retro: true,
                ..Default::default()
            },
        );
        client.check_in(Channel::Device);
        exchange(&mut retro, &mut client).await.unwrap();
        // Bound now: the strict stack accepts it, and retro refuses a second certificate.
        client.check_in(Channel::Device);
        exchange(&mut strict, &mut client).await.unwrap();
        let mut other = client
            .clone()
            .with_identity(fx.identity("other"), CertPresentation::MdmSignature);
        other.check_in(Channel::Device);
        let err = exchange(&mut retro, &mut other).await.unwrap_err();
        assert!(
            matches!(
                err,
                MdmError::CertAuth(mdm_service::CertAuthError::CertReuse)
            ),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn user_authenticate_in_both_modes() {
    both(|store| async move {
        let mut fx = Fixture::new();
        let mut client = fx.client(DeviceKind::MacOs);
        client.enroll();
        let mut decline = store.stack(plain, Options::default());
        exchange(&mut decline, &mut client).await.unwrap();

        client.queue(
            Channel::User,
            Message::UserAuthenticate {
                digest_response: None,
            },
        );
        let err = exchange(&mut decline, &mut client).await.unwrap_err();
        assert!(matches!(err, MdmError::UserAuthenticateDeclined(_)));
        assert_eq!(err.status(), 410);
        client.queue(
            Channel::User,
            Message::UserAuthenticate {
                digest_response: Some("resp".into()),
            },
        );
        let events = exchange(&mut decline, &mut client).await.unwrap();
        assert!(matches!(&events[0], Event::CheckIn { body, .. } if body.is_empty()));

        fn zl(storage: mdm_storage::DynStorage) -> MdmService<mdm_storage::DynStorage> {
            MdmService::new(storage)
                .user_authenticate(UserAuthenticatePolicy::ZeroLengthDigestChallenge)
        }
        let mut accept = store.stack(zl, Options::default());
        client.queue(
            Channel::User,
            Message::UserAuthenticate {
                digest_response: None,
            },
        );
        let events = exchange(&mut accept, &mut client).await.unwrap();
        let Event::CheckIn { body, .. } = &events[0] else {
            panic!()
        };
        let challenge = mdm_proto::plist::Value::from_reader_xml(&body[..]).unwrap();
        let challenge = challenge.as_dictionary().unwrap();
        assert_eq!(
            challenge.get("DigestChallenge").and_then(|v| v.as_string()),
            Some("")
        );
        client.queue(
            Channel::User,
            Message::UserAuthenticate {
                digest_response: Some("resp".into()),
            },
        );
        let events = exchange(&mut accept, &mut client).await.unwrap();
        assert!(matches!(&events[0], Event::CheckIn { body, .. } if body.is_empty()));
    })
    .await;
}

#[tokio::test]
async fn bootstrap_token_round_trip_and_reset_on_authenticate() {
    both(|store| async move {
        let mut fx = Fixture::new();
        let mut service = store.stack(plain, Options::default());
        let mut client = fx.client(DeviceKind::MacOs);
        client.enroll();
        client.queue(Channel::Device, Message::GetBootstrapToken);
        client.queue(
            Channel::Device,
            Message::SetBootstrapToken {
                bootstrap_token: Some(b"escrowed".to_vec()),
            },
        );
        client.queue(Channel::Device, Message::GetBootstrapToken);
        client.queue(Channel::Device, Message::Authenticate);
        client.queue(Channel::Device, Message::GetBootstrapToken);
        let events = exchange(&mut service, &mut client).await.unwrap();
        let bodies: Vec<Bytes> = events
            .into_iter()
            .filter_map(|e| match e {
                Event::CheckIn {
                    message_type: "GetBootstrapToken",
                    body,
                    ..
                } => Some(body),
                _ => None,
            })
            .collect();
        assert_eq!(bodies.len(), 3);
        assert!(bodies[0].is_empty(), "nothing escrowed yet");
        let token = mdm_proto::plist::Value::from_reader_xml(&bodies[1][..]).unwrap();
        assert_eq!(
            token
                .as_dictionary()
                .and_then(|d| d.get("BootstrapToken"))
                .and_then(|v| v.as_data()),
            Some(&b"escrowed"[..])
        );
        assert!(bodies[2].is_empty(), "a new Authenticate forgets the token");
    })
    .await;
}

#[tokio::test]
async fn get_token_through_the_mux() {
    both(|store| async move {
        let mut fx = Fixture::new();
        fn with_mux(storage: mdm_storage::DynStorage) -> MdmService<mdm_storage::DynStorage> {
            MdmService::new(storage).get_token(GetTokenMux::new().handle("com.apple.maid", StaticToken(b"maid-token".to_vec().into())))
        }
        let mut service = store.stack(with_mux, Options::default());
        let mut client = fx.client(DeviceKind::Ios);
        client.enroll();
        client.queue(Channel::Device, Message::GetToken { token_service_type: "com.apple.maid".into(), token_parameters: None });
        let events = exchange(&mut service, &mut client).await.unwrap();
        let Some(Event::CheckIn { body, .. }) = events.last() else { panic!() };
        let response = mdm_proto::plist::Value::from_reader_xml(&body[..]).unwrap();
        assert_eq!(
            response.as_dictionary().and_then(|d| d.get("TokenData")).and_then(|v| v.as_data()),
            Some(&b"maid-token"[..])
        );

        client.queue(Channel::Device, Message::GetToken { token_service_type: "com.example.none".into(), token_parameters: None });
        let err = exchange(&mut service, &mut client).await.unwrap_err();
        assert!(matches!(err, MdmError::GetToken(mdm_service::GetTokenError::NoHandler(ref t)) if t == "com.example.none"));
        assert_eq!(err.status(), 500);
        // Watch pairing requires parameters.
        client.queue(Channel::Device, Message::GetToken { token_service_type: "com.apple.watch.pairing".into(), token_parameters: None });
        let err = exchange(&mut service, &mut client).await.unwrap_err();
        assert!(matches!(err, MdmError::GetToken(mdm_service::GetTokenError::MissingTokenParameters(_))));
    })
    .await;
}

#[tokio::test]
async fn bad_messages_are_400() {
    let mut fx = Fixture::new();
    let store = Arc::new(MemoryStore::new());
    let mut service = stack(MdmService::new(store), Options::default());
    let mut client = fx.client(DeviceKind::Ios);
    client.enroll();
    exchange(&mut service, &mut client).await.unwrap();
    client.queue(Channel::Device, Message::ReturnToService);
    let err = exchange(&mut service, &mut client).await.unwrap_err();
    assert_eq!(err.status(), 400);
    let no_device = CheckIn::decode(
        &b"<plist><dict><key>MessageType</key><string>CheckOut</string></dict></plist>"[..],
    )
    .unwrap();
    let err = MdmRequest::check_in(no_device).unwrap_err();
    assert_eq!(err.status(), 400);
}

// ---- Declarative Management forwarding ----

/// Method, path, headers and body of a request the DM server received.
type SeenRequest = (String, String, HeaderMap, Bytes);

#[derive(Clone, Default)]
struct DmServer {
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    response_key: Option<&'static [u8]>,
}

async fn dm_handler(
    State(server): State<DmServer>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    server.seen.lock().await.push((
        method.to_string(),
        uri.path().to_owned(),
        headers,
        body.clone(),
    ));
    let response = Bytes::from_static(br#"{"Declarations":{}}"#);
    let mut out = HeaderMap::new();
    if let Some(key) = server.response_key {
        out.insert(
            "X-Hmac-Signature",
            hmac_b64(key, &response).parse().unwrap(),
        );
    }
    (StatusCode::OK, out, response)
}

fn hmac_b64(key: &[u8], body: &[u8]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn declarative_management_is_forwarded_with_headers_and_hmac() {
    for (send_key, response_key, recv_key, ok) in [
        (None, None, None, true),
        (
            Some(&b"send"[..]),
            Some(&b"recv"[..]),
            Some(&b"recv"[..]),
            true,
        ),
        (None, Some(&b"wrong"[..]), Some(&b"recv"[..]), false),
        (None, None, Some(&b"recv"[..]), false),
    ] {
        let dm = DmServer {
            response_key,
            ..Default::default()
        };
        let url = serve(
            axum::Router::new()
                .fallback(dm_handler)
                .with_state(dm.clone()),
        )
        .await;
        let mut forwarder =
            DeclarativeManagementForwarder::new(format!("{url}/dm/").parse().unwrap());
        if let Some(key) = send_key {
            forwarder = forwarder.send_hmac_key(key);
        }
        if let Some(key) = recv_key {
            forwarder = forwarder.recv_hmac_key(key);
        }
        let mut fx = Fixture::new();
        let store = Arc::new(MemoryStore::new());
        let mut service = stack(
            MdmService::new(store).declarative_management(forwarder),
            Options::default(),
        );
        let mut client = fx.client(DeviceKind::MacOs);
        client.enroll();
        exchange(&mut service, &mut client).await.unwrap();
        client.queue(
            Channel::User,
            Message::DeclarativeManagement {
                endpoint: "tokens".into(),
                data: None,
            },
        );
        client.queue(
            Channel::Device,
            Message::DeclarativeManagement {
                endpoint: "status".into(),
                data: Some(br#"{"StatusItems":{}}"#.to_vec()),
            },
        );
        let result = exchange(&mut service, &mut client).await;
        if !ok {
            let err = result.unwrap_err();
            assert!(
                matches!(
                    err,
                    MdmError::DeclarativeManagement(
                        mdm_service::DeclarativeManagementError::BadResponseSignature
                    )
                ),
                "{err}"
            );
            assert_eq!(err.status(), 500);
            continue;
        }
        let events = result.unwrap();
        for event in &events {
            assert!(
                matches!(event, Event::CheckIn { body, .. } if body.as_ref() == br#"{"Declarations":{}}"#)
            );
        }
        let seen = dm.seen.lock().await;
        let (method, path, headers, body) = &seen[0];
        assert_eq!((method.as_str(), path.as_str()), ("GET", "/dm/tokens"));
        assert!(body.is_empty());
        let user_id = ids(&client, Channel::User);
        let device_id = ids(&client, Channel::Device);
        assert_eq!(headers["x-enrollment-id"], user_id.as_str());
        assert_eq!(headers["x-enrollment-type"], "User");
        assert_eq!(headers["x-enrollment-parentid"], device_id.as_str());
        let (method, path, headers, body) = &seen[1];
        assert_eq!((method.as_str(), path.as_str()), ("PUT", "/dm/status"));
        assert_eq!(body.as_ref(), br#"{"StatusItems":{}}"#);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-enrollment-type"], "Device");
        assert!(headers.get("x-enrollment-parentid").is_none());
        match send_key {
            Some(key) => assert_eq!(headers["x-hmac-signature"], hmac_b64(key, body).as_str()),
            None => assert!(headers.get("x-hmac-signature").is_none()),
        }
    }
}

// ---- Webhook ----

fn fixed_request(message: MdmMessage, params: &[(&str, &str)]) -> MdmRequest {
    MdmRequest::new(message)
        .unwrap()
        .with_request_id(RequestId::from_string("0123456789abcdef"))
        .with_params(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
}

#[test]
fn webhook_bodies_match_nanomdm_byte_for_byte() {
    let created = time::macros::datetime!(2024-05-06 07:08:09.5 UTC);
    let authenticate = b"<plist><dict><key>MessageType</key><string>Authenticate</string><key>Topic</key><string>t</string><key>UDID</key><string>U1</string></dict></plist>";
    let request = fixed_request(
        MdmMessage::CheckIn(CheckIn::decode(&authenticate[..]).unwrap()),
        &[],
    );
    let json = String::from_utf8(WebhookEvent::for_request(&request, created).to_json()).unwrap();
    let raw = base64_of(authenticate);
    assert_eq!(
        json,
        format!(
            r#"{{"checkin_event":{{"ids":{{"id":"U1","type":"Device"}},"raw_payload":"{raw}","udid":"U1"}},"created_at":"2024-05-06T07:08:09.5Z","event_id":"0123456789abcdef","topic":"mdm.Authenticate"}}"#
        )
    );

    let report = b"<plist><dict><key>CommandUUID</key><string>c-1</string><key>EnrollmentID</key><string>E1</string><key>EnrollmentUserID</key><string>EU</string><key>Status</key><string>Acknowledged</string></dict></plist>";
    let request = fixed_request(
        MdmMessage::Report(CommandReport::decode(&report[..]).unwrap()),
        &[("b", "<2>"), ("a", "1")],
    );
    let json = String::from_utf8(WebhookEvent::for_request(&request, created).to_json()).unwrap();
    let raw = base64_of(report);
    assert_eq!(
        json,
        format!(
            r#"{{"acknowledge_event":{{"command_uuid":"c-1","enrollment_id":"E1","ids":{{"id":"E1:EU","parent_id":"E1","type":"User Enrollment"}},"raw_payload":"{raw}","status":"Acknowledged","url_params":{{"a":"1","b":"\u003c2\u003e"}}}},"created_at":"2024-05-06T07:08:09.5Z","event_id":"0123456789abcdef","topic":"mdm.Connect"}}"#
        )
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Clone)]
struct Receiver {
    events: mpsc::UnboundedSender<(HeaderMap, Bytes)>,
    release: Arc<Notify>,
    hang: bool,
}

async fn webhook_handler(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    receiver.events.send((headers, body)).unwrap();
    if receiver.hang {
        receiver.release.notified().await;
    }
    StatusCode::OK
}

#[tokio::test]
async fn webhook_events_are_delivered_signed_and_never_hold_up_the_device() {
    let (events, mut received) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let receiver = Receiver {
        events,
        release: release.clone(),
        hang: true,
    };
    let url = serve(
        axum::Router::new()
            .fallback(webhook_handler)
            .with_state(receiver),
    )
    .await;

    let mut config = WebhookConfig::new(url.parse().unwrap());
    config.hmac_key = Some(b"hook-key".to_vec());
    let mut fx = Fixture::new();
    let store = Arc::new(MemoryStore::new());
    let mut service = stack(
        MdmService::new(store),
        Options {
            webhook: Some(config),
            ..Default::default()
        },
    );
    let mut client = fx.client(DeviceKind::Ios);
    client.enroll();
    client.check_in(Channel::Device);
    // The receiver hangs on every event until released: the device's exchange completes anyway.
    let events = tokio::time::timeout(Duration::from_secs(20), exchange(&mut service, &mut client))
        .await
        .expect("a hanging webhook receiver must not hold up device responses")
        .unwrap();
    assert_eq!(events.len(), 3);

    let mut topics = Vec::new();
    for _ in 0..3 {
        let (headers, body) = tokio::time::timeout(Duration::from_secs(20), received.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(headers["content-type"], "application/json; charset=utf-8");
        assert_eq!(
            headers["x-hmac-signature"],
            hmac_b64(b"hook-key", &body).as_str()
        );
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if json["topic"] == "mdm.TokenUpdate" {
            assert_eq!(json["checkin_event"]["token_update_tally"], 1);
        }
        topics.push(json["topic"].as_str().unwrap().to_owned());
    }
    topics.sort();
    assert_eq!(
        topics,
        ["mdm.Authenticate", "mdm.Connect", "mdm.TokenUpdate"]
    );
    release.notify_waiters();
}

#[tokio::test]
async fn a_failing_webhook_receiver_does_not_fail_the_device() {
    // Nothing listens on this port (bound, then dropped).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = WebhookConfig::new(format!("http://127.0.0.1:{port}/hook").parse().unwrap());
    let mut fx = Fixture::new();
    let store = Arc::new(MemoryStore::new());
    let mut service = stack(
        MdmService::new(store),
        Options {
            webhook: Some(config),
            ..Default::default()
        },
    );
    let mut client = fx.client(DeviceKind::MacOs);
    client.enroll();
    client.check_in(Channel::User);
    assert_eq!(exchange(&mut service, &mut client).await.unwrap().len(), 4);
}

#[tokio::test]
async fn dump_writes_requests_and_the_commands_handed_out() {
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let mut fx = Fixture::new();
    let store = Arc::new(MemoryStore::new());
    let storage = mdm_storage::DynStorage::from_arc(store.clone());
    let mut service = stack(
        MdmService::new(store),
        Options {
            dump: Some(Box::new(sink.clone())),
            ..Default::default()
        },
    );
    let mut client = fx.client(DeviceKind::Ios);
    client.enroll();
    exchange(&mut service, &mut client).await.unwrap();
    let command = Command::build("dumped-command", "ProfileList", Default::default());
    storage
        .enqueue_command(&[ids(&client, Channel::Device)], &command, 0)
        .await
        .unwrap();
    client.check_in(Channel::Device);
    exchange(&mut service, &mut client).await.unwrap();
    // The writer has its own thread and stops once the stack is gone: after that, everything
    // the stack dumped is in the sink.
    drop(service);
    let command_text = std::str::from_utf8(command.bytes()).unwrap().to_owned();
    let mut dumped = String::new();
    for _ in 0..500 {
        dumped = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        if dumped.contains(&command_text) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(dumped.contains("<string>Authenticate</string>"));
    assert!(dumped.contains("<string>Idle</string>"));
    assert!(
        dumped.contains(&command_text),
        "the command handed out is dumped"
    );
}

#[tokio::test]
async fn the_service_answers_without_a_network() {
    // The core alone, called directly: no HTTP anywhere.
    let store = Arc::new(MemoryStore::new());
    let core = MdmService::new(store);
    let body = b"<plist><dict><key>MessageType</key><string>Authenticate</string><key>Topic</key><string>t</string><key>UDID</key><string>U</string></dict></plist>";
    let request = MdmRequest::check_in(CheckIn::decode(&body[..]).unwrap()).unwrap();
    assert_eq!(core.handle(&request).await.unwrap(), MdmResponse::empty());
}
