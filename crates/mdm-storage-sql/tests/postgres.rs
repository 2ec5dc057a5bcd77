//! The PostgreSQL backend: the conformance suite, compatibility with a database NanoMDM v0.9
//! created and filled, and concurrent reports on one command.
//!
//! Runs when `ROOTSTOCK_TEST_POSTGRES_URL` is set (e.g. `postgres://root@127.0.0.1:5432/test`);
//! otherwise each test says it was skipped. Every store gets its own freshly created schema
//! (via `search_path`), dropped when the test ends.
#![cfg(feature = "postgres")]

#[path = "support/round.rs"]
mod round;
#[path = "support/server.rs"]
mod server;

use mdm_proto::Status;
use mdm_storage::conformance::fixtures::{Device, command, report};
use mdm_storage::{CommandQueue, DeliveryState, InspectionStore as _, ReportOutcome};
use mdm_storage_sql::postgres::{ConnectOptions, PostgresOptions, PostgresStore};
use sqlx::Row as _;
use sqlx::postgres::{PgPool, Postgres};

use server::{Namespaces, Server};

/// Every store in a schema of its own, through `search_path`.
struct Pg;

impl Server for Pg {
    type Db = Postgres;
    type Store = PostgresStore;
    const URL_VAR: &'static str = "ROOTSTOCK_TEST_POSTGRES_URL";
    const DEFAULT_PORT: u16 = 5432;
    const NAMESPACE: &'static str = "SCHEMA";
    const DROP_OPTIONS: &'static str = " CASCADE";

    fn connect_options(url: &str, name: &str) -> ConnectOptions {
        url.parse::<ConnectOptions>()
            .expect("URL")
            .options([("search_path", name)])
    }

    fn via_local_port(connect: ConnectOptions, port: u16) -> ConnectOptions {
        connect.host("127.0.0.1").port(port)
    }

    async fn open(connect: ConnectOptions, storage_options: &str) -> PostgresStore {
        let options = PostgresOptions::new(connect)
            .with_storage_options(storage_options)
            .expect("options");
        PostgresStore::open(&options).await.expect("open")
    }

    async fn close(store: &PostgresStore) {
        store.close().await;
    }

    fn pool(store: &PostgresStore) -> &sqlx::Pool<Self::Db> {
        store.pool()
    }
}

type Schemas = Namespaces<Pg>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms() {
    server::run_conformance::<Pg>("").await;
}

/// NanoMDM's `delete=1`: the same observable queue behaviour, rows removed as answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_delete_conforms() {
    server::run_conformance::<Pg>("delete=1,max_open_conns=4").await;
}

/// NanoMDM's own next-command query (storage/pgsql), on its view.
const NANOMDM_NEXT: &str = "\
SELECT command_uuid, request_type, command FROM view_queue
WHERE id = $1 AND active AND (status IS NULL OR status = 'NotNow')
LIMIT 1";

/// A database NanoMDM v0.9 created (its schema.sql) and filled — an enrolled device with a
/// queued command — is served by our store after its migrations, and left readable by NanoMDM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_nanomdm_database() {
    let Some(schemas) = Schemas::new().await else {
        return;
    };
    let connect = schemas.create().await;
    let raw = PgPool::connect_with(connect.clone()).await.unwrap();
    sqlx::raw_sql(include_str!("fixtures/nanomdm_pgsql_schema.sql"))
        .execute(&raw)
        .await
        .expect("NanoMDM schema");

    // What NanoMDM writes for Authenticate, TokenUpdate and an enqueue (storage/pgsql).
    let d = Device::new("NANO-1");
    let id = d.id.id().as_str();
    let authenticate = String::from_utf8(d.authenticate().1.to_vec()).unwrap();
    let token_update = String::from_utf8(d.token_update().1.to_vec()).unwrap();
    sqlx::query(
        "INSERT INTO devices (id, serial_number, authenticate, authenticate_at, token_update, \
             token_update_at) \
         VALUES ($1, 'SN1', $2, CURRENT_TIMESTAMP, $3, CURRENT_TIMESTAMP)",
    )
    .bind(id)
    .bind(&authenticate)
    .bind(&token_update)
    .execute(&raw)
    .await
    .unwrap();
    let push = d.push();
    sqlx::query(
        "INSERT INTO enrollments (id, device_id, user_id, type, topic, push_magic, token_hex, \
             last_seen_at, token_update_tally) \
         VALUES ($1, $1, NULL, 'Device', $2, $3, $4, CURRENT_TIMESTAMP, 1)",
    )
    .bind(id)
    .bind(&push.topic)
    .bind(&push.push_magic)
    .bind(push.token_hex())
    .execute(&raw)
    .await
    .unwrap();
    let queued = command("NANO-CMD-1");
    let queued_text = std::str::from_utf8(queued.bytes()).unwrap().to_owned();
    sqlx::query("INSERT INTO commands (command_uuid, request_type, command) VALUES ($1, $2, $3)")
        .bind(&queued.command_uuid)
        .bind(&queued.request_type)
        .bind(&queued_text)
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("INSERT INTO enrollment_queue (id, command_uuid) VALUES ($1, $2)")
        .bind(id)
        .bind(&queued.command_uuid)
        .execute(&raw)
        .await
        .unwrap();

    let store = PostgresStore::open(&PostgresOptions::new(connect.clone()))
        .await
        .expect("open on NanoMDM's schema");
    // Opening again (a restart) finds the migrations applied.
    PostgresStore::open(&PostgresOptions::new(connect))
        .await
        .expect("reopen")
        .close()
        .await;

    let next = store
        .retrieve_next_command(&d.id, false)
        .await
        .unwrap()
        .expect("NanoMDM's queued command");
    assert_eq!(next.command_uuid, "NANO-CMD-1");
    assert_eq!(next.bytes().as_ref(), queued.bytes().as_ref());

    // Our enqueue, then the report on NanoMDM's command.
    let ours = command("OURS-1");
    let failed = store
        .enqueue_command(std::slice::from_ref(d.id.id()), &ours, 0)
        .await
        .unwrap();
    assert!(failed.is_empty());
    let (ack, ack_raw) = report(&d.id, Some("NANO-CMD-1"), Status::Acknowledged);
    assert_eq!(
        store
            .store_command_report(&d.id, &ack, &ack_raw)
            .await
            .unwrap(),
        ReportOutcome::Final
    );

    // NanoMDM reads the result where it looks, and its next command is ours.
    let row = sqlx::query("SELECT status, result FROM command_results WHERE id = $1")
        .bind(id)
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "Acknowledged");
    assert_eq!(row.get::<String, _>(1).as_bytes(), ack_raw.as_ref());
    let row = sqlx::query(NANOMDM_NEXT)
        .bind(id)
        .fetch_one(&raw)
        .await
        .expect("NanoMDM sees our command");
    assert_eq!(row.get::<String, _>(0), "OURS-1");
    assert_eq!(row.get::<String, _>(2).as_bytes(), ours.bytes().as_ref());

    // And a NanoMDM-style answer (active stays TRUE, result upserted) hides it from us too.
    sqlx::query(
        "INSERT INTO command_results (id, command_uuid, status, result) \
         VALUES ($1, 'OURS-1', 'Acknowledged', $2)",
    )
    .bind(id)
    .bind(std::str::from_utf8(&ack_raw).unwrap())
    .execute(&raw)
    .await
    .unwrap();
    assert!(
        store
            .retrieve_next_command(&d.id, false)
            .await
            .unwrap()
            .is_none()
    );
    nanomdm_answer_is_inspectable(&store, &d, "OURS-1", &ack_raw).await;

    store.close().await;
    raw.close().await;
    schemas.drop_all().await;
}

/// A command NanoMDM answered — its queue row left active, a final result beside it — reads
/// back through inspection as reported, with the report NanoMDM stored, and is not waiting in
/// the queue: not listed, not removed, not counted by a clear.
async fn nanomdm_answer_is_inspectable(
    store: &PostgresStore,
    d: &Device,
    uuid: &str,
    report: &[u8],
) {
    let record = store.command(uuid).await.unwrap().expect("the command");
    assert_eq!(record.deliveries.len(), 1);
    let delivery = &record.deliveries[0];
    assert_eq!(delivery.id, *d.id.id());
    assert_eq!(
        delivery.state,
        DeliveryState::Reported(Status::Acknowledged)
    );
    assert_eq!(delivery.report.as_deref(), Some(report));
    assert!(delivery.updated_at.is_some());
    let queue = store.queued_commands(d.id.id(), 100).await.unwrap();
    assert!(queue.is_empty(), "answered, not waiting: {queue:?}");
    assert!(!store.remove_queued_command(d.id.id(), uuid).await.unwrap());
    assert_eq!(store.clear_enrollment_queue(d.id.id()).await.unwrap(), 0);
    let enrollment = store
        .enrollment(d.id.id())
        .await
        .unwrap()
        .expect("enrolled");
    assert_eq!(enrollment.serial_number.as_deref(), Some("SN1"));
}

/// 50 enrollments answer one command at the same moment (see the shared body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_on_one_command() {
    server::concurrent_reports_on_one_command::<Pg>().await;
}

/// The next-command lookup uses the partial queue index, not a scan and sort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_command_uses_the_queue_index() {
    let Some(schemas) = Schemas::new().await else {
        return;
    };
    let (store, raw) = schemas.store("").await;
    let mut conn = raw.acquire().await.unwrap();
    // A tiny table would be scanned whatever the indexes; forbid that to see the index is
    // usable for this query at all.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query(
        "EXPLAIN SELECT c.command_uuid FROM enrollment_queue AS q \
             INNER JOIN commands AS c ON c.command_uuid = q.command_uuid \
             LEFT JOIN command_results AS r ON r.id = q.id AND r.command_uuid = q.command_uuid \
         WHERE q.id = 'x' AND q.active AND (r.status IS NULL OR (r.status = 'NotNow' AND NOT true)) \
         ORDER BY q.priority DESC, q.created_at, q.seq LIMIT 1",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("rootstock_queue_next"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
    drop(conn);
    store.close().await;
    raw.close().await;
    schemas.drop_all().await;
}

/// A binary command: NanoMDM's TEXT column gets its XML rendering (what a NanoMDM server
/// sharing the database would send), our store delivers the exact bytes. Bytes that are no
/// property list are refused with the column named, and nothing is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_commands_in_text_columns() {
    let Some(schemas) = Schemas::new().await else {
        return;
    };
    let (store, raw) = schemas.store("").await;
    let d = Device::new("BIN-1");
    d.enroll(&store).await;
    let ids = [d.id.id().clone()];

    let binary = mdm_storage::conformance::fixtures::binary_command("BIN-CMD");
    assert!(binary.bytes().starts_with(b"bplist"));
    assert!(
        store
            .enqueue_command(&ids, &binary, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let text: String = sqlx::query("SELECT command FROM commands WHERE command_uuid = 'BIN-CMD'")
        .fetch_one(&raw)
        .await
        .unwrap()
        .get(0);
    assert!(text.starts_with("<?xml"), "{text}");
    assert!(text.contains("BIN-CMD"), "{text}");
    let next = store
        .retrieve_next_command(&d.id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.bytes().as_ref(), binary.bytes().as_ref());

    let garbage = mdm_proto::Raw::new(
        mdm_proto::Command {
            command_uuid: "GARBAGE".into(),
            request_type: "ProfileList".into(),
        },
        bytes::Bytes::from_static(b"\xff\xfe not a plist"),
    );
    let err = store
        .enqueue_command(&ids, &garbage, 0)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("commands.command"), "{err}");
    let count: i64 = sqlx::query("SELECT count(*) FROM commands WHERE command_uuid = 'GARBAGE'")
        .fetch_one(&raw)
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);

    store.close().await;
    raw.close().await;
    schemas.drop_all().await;
}

/// The database goes away and comes back (see the shared body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_the_database_going_away() {
    server::survives_the_database_going_away::<Pg>().await;
}

/// Prepared statements are reused across requests: see `server::statements_are_prepared_once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_prepared_once() {
    server::statements_are_prepared_once::<Pg>().await;
}
