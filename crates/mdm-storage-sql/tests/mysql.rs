//! The MySQL / MariaDB backend: the conformance suite, compatibility with a database NanoMDM
//! v0.9 created and filled, and concurrent reports on one command.
//!
//! Runs when `ROOTSTOCK_TEST_MYSQL_URL` is set (e.g. `mysql://root@127.0.0.1:3306/test`);
//! otherwise each test says it was skipped. Every store gets its own freshly created
//! database, dropped when the test ends.

#[path = "support/proxy.rs"]
mod proxy;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mdm_proto::Status;
use mdm_storage::conformance::{
    self,
    fixtures::{Device, command, report},
};
use mdm_storage::{CommandQueue, ReportOutcome};
use mdm_storage_sql::mysql::{ConnectOptions, MySqlOptions, MySqlStore};
use sqlx::mysql::MySqlPool;
use sqlx::{AssertSqlSafe, Row as _};

const URL_VAR: &str = "ROOTSTOCK_TEST_MYSQL_URL";

/// Creates and drops uniquely named databases on the test server.
#[derive(Clone)]
struct Databases {
    url: String,
    admin: MySqlPool,
    created: Arc<std::sync::Mutex<Vec<String>>>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Databases {
    async fn new() -> Option<Self> {
        let Ok(url) = std::env::var(URL_VAR) else {
            eprintln!("skipped: {URL_VAR} is not set");
            return None;
        };
        let admin = MySqlPool::connect(&url)
            .await
            .expect("connect to the test server");
        Some(Self {
            url,
            admin,
            created: Arc::default(),
        })
    }

    async fn create(&self) -> ConnectOptions {
        let name = format!(
            "rootstock_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&self.admin)
            .await
            .expect("create database");
        self.created.lock().unwrap().push(name.clone());
        self.url
            .parse::<ConnectOptions>()
            .expect("URL")
            .database(&name)
    }

    async fn drop_all(&self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap());
        for name in names {
            sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name}")))
                .execute(&self.admin)
                .await
                .expect("drop database");
        }
    }
}

async fn run_conformance(storage_options: &str) {
    let Some(databases) = Databases::new().await else {
        return;
    };
    conformance::run(|| {
        let databases = databases.clone();
        let storage_options = storage_options.to_owned();
        async move {
            let connect = databases.create().await;
            let options = MySqlOptions::new(connect)
                .with_storage_options(&storage_options)
                .expect("options");
            MySqlStore::open(&options).await.expect("open")
        }
    })
    .await;
    databases.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_conforms() {
    run_conformance("").await;
}

/// NanoMDM's `delete=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_with_delete_conforms() {
    run_conformance("delete=1,max_open_conns=4").await;
}

/// 50 enrollments answer one command at the same moment: no deadlock error escapes, and every
/// answer is stored (or, with `delete=1`, every row and the command go).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_on_one_command() {
    let Some(databases) = Databases::new().await else {
        return;
    };
    for storage_options in ["", "delete=1"] {
        let connect = databases.create().await;
        let store = MySqlStore::open(
            &MySqlOptions::new(connect.clone())
                .with_storage_options(storage_options)
                .unwrap(),
        )
        .await
        .unwrap();
        let raw = MySqlPool::connect_with(connect).await.unwrap();
        let devices: Vec<Device> = (0..50).map(|n| Device::new(&format!("CONC-{n}"))).collect();
        for d in &devices {
            d.enroll(&store).await;
        }
        let ids: Vec<String> = devices.iter().map(|d| d.id.id.clone()).collect();
        assert!(
            store
                .enqueue_command(&ids, &command("MULTI-1"), 0)
                .await
                .unwrap()
                .is_empty()
        );
        let tasks: Vec<_> = devices
            .iter()
            .map(|d| {
                let store = store.clone();
                let id = d.id.clone();
                tokio::spawn(async move {
                    let (ack, raw) = report(&id, Some("MULTI-1"), Status::Acknowledged);
                    store.store_command_report(&id, &ack, &raw).await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(
                task.await.unwrap().expect("no error escapes"),
                ReportOutcome::Final
            );
        }
        let count = |sql: &'static str| {
            let raw = raw.clone();
            async move {
                sqlx::query(sql)
                    .fetch_one(&raw)
                    .await
                    .unwrap()
                    .get::<i64, _>(0)
            }
        };
        if storage_options.is_empty() {
            assert_eq!(
                count("SELECT count(*) FROM command_results WHERE status = 'Acknowledged'").await,
                50
            );
        } else {
            assert_eq!(count("SELECT count(*) FROM enrollment_queue").await, 0);
            assert_eq!(count("SELECT count(*) FROM commands").await, 0);
        }
        store.close().await;
        raw.close().await;
    }
    databases.drop_all().await;
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
    let id = &d.id.id;
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
            .enqueue_command(std::slice::from_ref(id), &ours, 0)
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

    store.close().await;
    raw.close().await;
    databases.drop_all().await;
}

/// The database goes away and comes back, twice — first every connection is closed and new
/// ones are closed at once, then new ones are refused outright (a stopped server): the store
/// answers with an error meanwhile, promptly even while refused (sqlx retries a refused connect
/// until the acquire timeout, which must not be its default 30 s), and the same store serves
/// the queue afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_the_database_going_away() {
    let Some(databases) = Databases::new().await else {
        return;
    };
    let proxy = proxy::Proxy::start(proxy::upstream(&databases.url, 3306)).await;
    let connect = databases
        .create()
        .await
        .host("127.0.0.1")
        .port(proxy.addr.port());
    let options = MySqlOptions::new(connect)
        .with_storage_options("max_open_conns=2")
        .expect("options");
    let store = MySqlStore::open(&options).await.expect("open");
    let bound = Duration::from_secs(60);

    let d = Device::new("AWAY-1");
    d.enroll(&store).await;
    let ids = [d.id.id.clone()];
    let first = command("AWAY-CMD-1");
    let failed = store.enqueue_command(&ids, &first, 0).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");

    proxy.down().await;
    let down = tokio::time::timeout(bound, store.retrieve_next_command(&d.id, false))
        .await
        .expect("an answer while the database is away");
    assert!(down.is_err(), "{down:?}");

    proxy.up();
    let next = tokio::time::timeout(bound, store.retrieve_next_command(&d.id, false))
        .await
        .expect("an answer once the database is back")
        .expect("served again")
        .expect("the queued command");
    assert_eq!(next.command_uuid, "AWAY-CMD-1");

    proxy.refuse().await;
    let guard = Duration::from_secs(15);
    let refused = tokio::time::timeout(guard, store.retrieve_next_command(&d.id, false))
        .await
        .expect("an answer soon while connections are refused");
    assert!(refused.is_err(), "{refused:?}");

    proxy.up();
    let next = tokio::time::timeout(bound, store.retrieve_next_command(&d.id, false))
        .await
        .expect("an answer once the database is back")
        .expect("served again")
        .expect("the queued command");
    assert_eq!(next.command_uuid, "AWAY-CMD-1");
    let second = command("AWAY-CMD-2");
    let failed = tokio::time::timeout(bound, store.enqueue_command(&ids, &second, 0))
        .await
        .unwrap()
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");

    store.close().await;
    drop(proxy);
    databases.drop_all().await;
}
