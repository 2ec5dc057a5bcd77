//! The MySQL / MariaDB backend: the conformance suite, compatibility with a database NanoMDM
//! v0.9 created and filled, and concurrent reports on one command.
//!
//! Runs when `ROOTSTOCK_TEST_MYSQL_URL` is set (e.g. `mysql://root@127.0.0.1:3306/test`);
//! otherwise each test says it was skipped. Every store gets its own freshly created
//! database, dropped when the test ends.

#[path = "support/round.rs"]
mod round;
#[path = "support/server.rs"]
mod server;

use mdm_proto::Status;
use mdm_storage::conformance::fixtures::{Device, command, report};
use mdm_storage::{CommandQueue, DeliveryState, InspectionStore as _, ReportOutcome};
use mdm_storage_sql::mysql::{ConnectOptions, MySqlOptions, MySqlStore};
use sqlx::Row as _;
use sqlx::mysql::{MySql, MySqlPool};

use server::{Namespaces, Server};

/// Every store in a database of its own.
struct My;

impl Server for My {
    type Db = MySql;
    type Store = MySqlStore;
    const URL_VAR: &'static str = "ROOTSTOCK_TEST_MYSQL_URL";
    const DEFAULT_PORT: u16 = 3306;
    const NAMESPACE: &'static str = "DATABASE";
    const DROP_OPTIONS: &'static str = "";

    fn connect_options(url: &str, name: &str) -> ConnectOptions {
        url.parse::<ConnectOptions>().expect("URL").database(name)
    }

    fn via_local_port(connect: ConnectOptions, port: u16) -> ConnectOptions {
        connect.host("127.0.0.1").port(port)
    }

    async fn open(connect: ConnectOptions, storage_options: &str) -> MySqlStore {
        let options = MySqlOptions::new(connect)
            .with_storage_options(storage_options)
            .expect("options");
        MySqlStore::open(&options).await.expect("open")
    }

    async fn close(store: &MySqlStore) {
        store.close().await;
    }

    fn pool(store: &MySqlStore) -> &sqlx::Pool<Self::Db> {
        store.pool()
    }
}

type Databases = Namespaces<My>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_conforms() {
    server::run_conformance::<My>("").await;
}

/// NanoMDM's `delete=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_with_delete_conforms() {
    server::run_conformance::<My>("delete=1,max_open_conns=4").await;
}

/// 50 enrollments answer one command at the same moment (see the shared body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_on_one_command() {
    server::concurrent_reports_on_one_command::<My>().await;
}

/// A database NanoMDM v0.9 created (its schema.sql) and filled — an enrolled device with a
/// queued command — is served by our store after its migrations, and left readable by NanoMDM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_nanomdm_database() {
    let Some(databases) = Databases::new().await else {
        return;
    };
    let connect = databases.create().await;
    let raw = MySqlPool::connect_with(connect.clone()).await.unwrap();
    sqlx::raw_sql(include_str!("fixtures/nanomdm_mysql_schema.sql"))
        .execute(&raw)
        .await
        .expect("NanoMDM schema");

    let d = Device::new("NANO-1");
    let id = d.id.id().as_str();
    let authenticate = String::from_utf8(d.authenticate().1.to_vec()).unwrap();
    sqlx::query(
        "INSERT INTO devices (id, authenticate, authenticate_at) \
         VALUES (?, ?, CURRENT_TIMESTAMP)",
    )
    .bind(id)
    .bind(&authenticate)
    .execute(&raw)
    .await
    .unwrap();
    let push = d.push();
    sqlx::query(
        "INSERT INTO enrollments (id, device_id, type, topic, push_magic, token_hex, \
             last_seen_at) \
         VALUES (?, ?, 'Device', ?, ?, ?, CURRENT_TIMESTAMP)",
    )
    .bind(id)
    .bind(id)
    .bind(&push.topic)
    .bind(&push.push_magic)
    .bind(push.token_hex())
    .execute(&raw)
    .await
    .unwrap();
    let queued = command("NANO-CMD-1");
    sqlx::query("INSERT INTO commands (command_uuid, request_type, command) VALUES (?, ?, ?)")
        .bind(&queued.command_uuid)
        .bind(&queued.request_type)
        .bind(std::str::from_utf8(queued.bytes()).unwrap())
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("INSERT INTO enrollment_queue (id, command_uuid) VALUES (?, ?)")
        .bind(id)
        .bind(&queued.command_uuid)
        .execute(&raw)
        .await
        .unwrap();

    let store = MySqlStore::open(&MySqlOptions::new(connect))
        .await
        .expect("open on NanoMDM's schema");
    let next = store
        .retrieve_next_command(&d.id, false)
        .await
        .unwrap()
        .expect("NanoMDM's queued command");
    assert_eq!(next.bytes().as_ref(), queued.bytes().as_ref());
    let ours = command("OURS-1");
    assert!(
        store
            .enqueue_command(std::slice::from_ref(d.id.id()), &ours, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let (ack, ack_raw) = report(&d.id, Some("NANO-CMD-1"), Status::Acknowledged);
    assert_eq!(
        store
            .store_command_report(&d.id, &ack, &ack_raw)
            .await
            .unwrap(),
        ReportOutcome::Final
    );

    // NanoMDM's next-command query (storage/mysql) now finds our command.
    let row = sqlx::query(
        "SELECT command_uuid, command FROM view_queue \
         WHERE id = ? AND active = 1 AND (status IS NULL OR status = 'NotNow') \
         ORDER BY priority DESC, created_at LIMIT 1",
    )
    .bind(id)
    .fetch_one(&raw)
    .await
    .expect("NanoMDM sees our command");
    assert_eq!(row.get::<String, _>(0), "OURS-1");
    assert_eq!(row.get::<String, _>(1).as_bytes(), ours.bytes().as_ref());
    let status: String =
        sqlx::query("SELECT status FROM command_results WHERE command_uuid = 'NANO-CMD-1'")
            .fetch_one(&raw)
            .await
            .unwrap()
            .get(0);
    assert_eq!(status, "Acknowledged");

    // NanoMDM's own answer to our command: the queue row stays active, the result is upserted
    // (storage/mysql). Inspection reads it as reported and does not list it as waiting.
    sqlx::query(
        "INSERT INTO command_results (id, command_uuid, status, result) \
         VALUES (?, 'OURS-1', 'Acknowledged', ?)",
    )
    .bind(id)
    .bind(std::str::from_utf8(&ack_raw).unwrap())
    .execute(&raw)
    .await
    .unwrap();
    let record = store.command("OURS-1").await.unwrap().expect("OURS-1");
    assert_eq!(record.deliveries.len(), 1);
    let delivery = &record.deliveries[0];
    assert_eq!(delivery.id, *d.id.id());
    assert_eq!(
        delivery.state,
        DeliveryState::Reported(Status::Acknowledged)
    );
    assert_eq!(delivery.report.as_deref(), Some(&ack_raw[..]));
    let queue = store.queued_commands(d.id.id(), 100).await.unwrap();
    assert!(queue.is_empty(), "answered, not waiting: {queue:?}");
    assert!(
        !store
            .remove_queued_command(d.id.id(), "OURS-1")
            .await
            .unwrap()
    );
    assert_eq!(store.clear_enrollment_queue(d.id.id()).await.unwrap(), 0);
    let nano = store
        .command("NANO-CMD-1")
        .await
        .unwrap()
        .expect("NANO-CMD-1");
    assert_eq!(
        nano.deliveries[0].state,
        DeliveryState::Reported(Status::Acknowledged)
    );

    store.close().await;
    raw.close().await;
    databases.drop_all().await;
}

/// The database goes away and comes back (see the shared body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_the_database_going_away() {
    server::survives_the_database_going_away::<My>().await;
}

/// Prepared statements are reused across requests: see `server::statements_are_prepared_once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_prepared_once() {
    server::statements_are_prepared_once::<My>().await;
}
