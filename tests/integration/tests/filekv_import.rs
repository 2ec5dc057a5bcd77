//! Moving in from NanoMDM's `filekv`: simulated devices' check-ins, queues, tokens, bindings
//! and a push certificate are written in NanoMDM v0.9's layout (from the layout facts, by
//! `FileKvWriter`), imported with `mdm_import` into SQLite and PostgreSQL, and then the devices
//! talk to the reference server on that database as if nothing had happened.
//!
//! PostgreSQL runs when `ROOTSTOCK_TEST_POSTGRES_URL` is set (a fresh database per test).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use mdm_import::fixture::FileKvWriter;
use mdm_import::{ImportOptions, ImportReport, import_filekv};
use mdm_proto::CheckIn;
use mdm_push::mock::MockApns;
use mdm_sim::{
    CertPresentation, Channel, DeviceKind, DriverError, HttpDriver, KeyKind, MdmClient, MdmPayload,
    Message, TestCa,
};
use mdm_storage::{
    BootstrapTokenStore, CommandQueue, DynImportStore, DynStorage, EnrollId, PushCertStore,
};
use rootstock_integration_tests::harness::{
    API_KEY, Running, TOPIC, api_request, base_args, delivered_raw, device_client, http_client, id,
    repointed,
};

fn command(uuid: &str) -> Bytes {
    mdm_sim::proto::Command::build(uuid, "ProfileList", Default::default())
        .bytes()
        .clone()
}

fn report(udid: &str, uuid: &str, status: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
         <key>UDID</key><string>{udid}</string><key>CommandUUID</key><string>{uuid}</string>\
         <key>Status</key><string>{status}</string></dict></plist>\n"
    )
    .into_bytes()
}

fn body(client: &MdmClient, channel: Channel, message: &Message) -> Bytes {
    client
        .build_request(channel, message)
        .unwrap()
        .body()
        .clone()
}

/// What NanoMDM would have stored for `client`'s channels: Authenticate, TokenUpdates, the
/// identity certificate and its binding.
fn enrolled_in_filekv(w: &FileKvWriter, client: &MdmClient, now: i64) {
    let udid = id(client, Channel::Device);
    let der = client.identity().unwrap().certificate_der();
    w.authenticate(
        &udid,
        &body(client, Channel::Device, &Message::Authenticate),
        Some(der),
        None,
    )
    .unwrap();
    w.bind_cert_hash(&udid, &mdm_signature::cert_hash(der).to_string())
        .unwrap();
    for channel in client.device().channels() {
        let raw = body(client, channel, &Message::TokenUpdate);
        let CheckIn::TokenUpdate(msg) = CheckIn::decode(raw.clone()).unwrap().value().clone()
        else {
            panic!("not a TokenUpdate")
        };
        let enroll = client.enroll_id(channel).unwrap();
        let parent = enroll.parent().map(|p| p.as_str().to_owned());
        w.token_update(
            enroll.id().as_str(),
            parent.as_deref(),
            enroll.kind().as_str(),
            &raw,
            (&msg.push.topic, &msg.push.push_magic, &msg.push.token),
            msg.unlock_token.as_ref().map(|t| t.expose().as_slice()),
            now,
        )
        .unwrap();
    }
}

struct Scenario {
    ca: TestCa,
    mock: MockApns,
    dir: tempfile::TempDir,
    mac: MdmClient,
    phone: MdmClient,
}

/// A Mac (device and user channel) and an iPhone, as NanoMDM left them: the Mac's queue is
/// c1 (answered NotNow), c2 (answered Acknowledged, so only its result is left), c3, then
/// `multi` (queued for both devices); the Mac's user channel has u1; the Mac escrowed a
/// bootstrap token; the push certificate for the topic is stored.
async fn scenario() -> Scenario {
    let ca = TestCa::generate(KeyKind::P256, "filekv device CA").unwrap();
    let mock = MockApns::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let placeholder = "http://127.0.0.1:9/mdm".to_owned();
    let mac = device_client(
        &ca,
        DeviceKind::MacOs,
        1,
        placeholder.clone(),
        CertPresentation::MdmSignature,
    );
    let phone = device_client(
        &ca,
        DeviceKind::Ios,
        2,
        placeholder,
        CertPresentation::MdmSignature,
    );

    let w = FileKvWriter::new(dir.path().join("dbkv"));
    enrolled_in_filekv(&w, &mac, 1_733_577_600_000_000);
    enrolled_in_filekv(&w, &phone, 1_733_577_660_000_000);
    let mac_id = id(&mac, Channel::Device);
    let phone_id = id(&phone, Channel::Device);
    let user_id = id(&mac, Channel::User);
    w.bootstrap_token(&mac_id, b"bootstrap-secret").unwrap();
    for uuid in ["c1", "c2", "c3"] {
        w.enqueue(&[&mac_id], uuid, "ProfileList", &command(uuid))
            .unwrap();
    }
    w.enqueue(
        &[&mac_id, &phone_id],
        "multi",
        "ProfileList",
        &command("multi"),
    )
    .unwrap();
    w.enqueue(&[&user_id], "u1", "ProfileList", &command("u1"))
        .unwrap();
    w.report(&mac_id, "c1", "NotNow", &report(&mac_id, "c1", "NotNow"))
        .unwrap();
    w.report(
        &mac_id,
        "c2",
        "Acknowledged",
        &report(&mac_id, "c2", "Acknowledged"),
    )
    .unwrap();
    let issued = mock.issue_push_certificate(TOPIC).unwrap();
    w.push_cert(TOPIC, &issued.cert_pem, &issued.key_pem)
        .unwrap();
    Scenario {
        ca,
        mock,
        dir,
        mac,
        phone,
    }
}

async fn import(
    dir: &Path,
    storage: &DynStorage,
    import: &DynImportStore<'static>,
) -> ImportReport {
    let report = import_filekv(dir, storage, import, ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert!(report.is_complete(), "{:?}", report.failures);
    report
}

/// Imports twice (the second changes nothing), checks the store, then runs the server with
/// `storage` / `dsn` and has the devices carry on.
async fn moves_in_and_carries_on(s: Scenario, storage: &str, dsn: &str) {
    let spec = rootstock_server::StorageSpec {
        name: storage.into(),
        dsn: dsn.into(),
        options: String::new(),
    };
    let target = rootstock_server::open_import_storage(std::slice::from_ref(&spec))
        .await
        .unwrap();
    let dbkv = s.dir.path().join("dbkv");
    let first = import(&dbkv, &target.storage, &target.import).await;
    assert_eq!(
        (
            first.devices,
            first.user_channels,
            first.queued_commands,
            first.not_now
        ),
        (2, 1, 5, 1)
    );
    assert_eq!(
        (first.command_results, first.cert_bindings, first.push_certs),
        (1, 2, 1)
    );
    assert_eq!(first.bootstrap_tokens, 1);
    let again = import(&dbkv, &target.storage, &target.import).await;
    assert_eq!(
        (again.queued_commands, again.already_queued),
        (0, 5),
        "idempotent"
    );
    assert_eq!(again.push_certs_unchanged, 1);

    let mac_id = id(&s.mac, Channel::Device);
    let mac = EnrollId::device(mac_id.as_str());
    let store = &target.storage;
    let after_not_now = store
        .retrieve_next_command(&mac, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after_not_now.command_uuid, "c3", "c1 is still NotNow'd");
    let token = store.retrieve_bootstrap_token(&mac).await.unwrap().unwrap();
    assert_eq!(token.bootstrap_token.expose(), b"bootstrap-secret");
    assert!(store.retrieve_push_cert(TOPIC).await.unwrap().is_some());
    drop(target);

    // The server on that database; no -retro: the imported bindings are what let devices in.
    let mut args = base_args(&s.dir, &s.ca, &s.mock, &[]);
    let at = args.iter().position(|a| a == "-storage").unwrap();
    args[at + 1] = storage.into();
    args[at + 3] = dsn.into();
    let server = Running::start(args, HashMap::new()).await;
    let driver = HttpDriver::new().unwrap();
    let payload = MdmPayload::new(format!("{}/mdm", server.base), TOPIC);
    let mut mac = repointed(&s.mac, payload.clone());
    let mut phone = repointed(&s.phone, payload.clone());

    // Another device's certificate on the Mac's enrollment is refused (binding held) …
    let mut impostor = MdmClient::new(s.mac.device().clone(), payload.clone()).with_identity(
        s.phone.identity().unwrap().clone(),
        CertPresentation::MdmSignature,
    );
    impostor.check_in(Channel::Device);
    match driver.run(&mut impostor).await.unwrap_err() {
        DriverError::Device(mdm_sim::Error::Refused { status, .. }) => assert_eq!(status, 500),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // … while the Mac's own is accepted, and its queue continues in order, byte-exact, with
    // the NotNow'd command first (an Idle does not skip it) and the answered one gone.
    mac.check_in(Channel::Device);
    let events = driver.run(&mut mac).await.unwrap();
    let got: Vec<(&str, &[u8])> = delivered_raw(&events)
        .map(|c| (c.command_uuid.as_str(), c.bytes().as_ref()))
        .collect();
    let want = [
        ("c1", command("c1")),
        ("c3", command("c3")),
        ("multi", command("multi")),
    ];
    let want: Vec<(&str, &[u8])> = want.iter().map(|(u, b)| (*u, b.as_ref())).collect();
    assert_eq!(got, want);
    mac.check_in(Channel::User);
    let events = driver.run(&mut mac).await.unwrap();
    let got: Vec<&str> = delivered_raw(&events)
        .map(|c| c.command_uuid.as_str())
        .collect();
    assert_eq!(got, ["u1"]);
    phone.check_in(Channel::Device);
    let events = driver.run(&mut phone).await.unwrap();
    let got: Vec<&str> = delivered_raw(&events)
        .map(|c| c.command_uuid.as_str())
        .collect();
    assert_eq!(got, ["multi"], "one command, two queues");

    // The push certificate and push info came along: an enqueue pushes both devices.
    let ids = [mac_id, id(&phone, Channel::Device)].join(",");
    let response = api_request(
        &http_client(),
        &server.base,
        API_KEY,
        reqwest::Method::PUT,
        &format!("/v1/enqueue/{ids}"),
    )
    .body(command("after-move"))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(s.mock.pushes().len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filekv_import_on_sqlite() {
    let s = scenario().await;
    let db = s.dir.path().join("imported.sqlite");
    let db = db.to_string_lossy().into_owned();
    moves_in_and_carries_on(s, "sqlite", &db).await;
}

static DATABASES: AtomicUsize = AtomicUsize::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filekv_import_on_postgres() {
    let Ok(admin_url) = std::env::var("ROOTSTOCK_TEST_POSTGRES_URL") else {
        eprintln!("skipped: ROOTSTOCK_TEST_POSTGRES_URL is not set");
        return;
    };
    let name = format!(
        "rootstock_filekv_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let admin = sqlx::postgres::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    let s = scenario().await;
    moves_in_and_carries_on(s, "pgsql", url.as_str()).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filekv_import_on_mysql() {
    let Ok(admin_url) = std::env::var("ROOTSTOCK_TEST_MYSQL_URL") else {
        eprintln!("skipped: ROOTSTOCK_TEST_MYSQL_URL is not set");
        return;
    };
    let name = format!(
        "rootstock_filekv_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let admin = sqlx::mysql::MySqlPool::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    let s = scenario().await;
    moves_in_and_carries_on(s, "mysql", url.as_str()).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}
