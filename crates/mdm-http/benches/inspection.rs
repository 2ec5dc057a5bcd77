//! Inspection at scale: a page of 100 enrollments through `GET /v1/enrollments` from anywhere
//! in a list of 10,000 and of 100,000, and device requests while a retention sweep deletes
//! 20,000 answered commands. SQLite always; PostgreSQL when `ROOTSTOCK_TEST_POSTGRES_URL` is set
//! (in a schema of its own, dropped at the end). Bounded: about two minutes per backend.
//!
//! ```text
//! ROOTSTOCK_TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/test \
//!     cargo bench -p mdm-http --bench inspection
//! ```
//!
//! Enrollments are made through the store's API (Authenticate and TokenUpdate from 8 tasks), so
//! the rows are the ones a server writes; PostgreSQL then gets `ANALYZE`, as autovacuum would. Pages go through the whole router in process (path
//! cleaning, request log, API key, the handler, the JSON answer), without sockets. The page
//! cursors are the API's own, collected by walking the list once; the timed pages start at
//! cursors picked all over it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use mdm_http::MdmHttp;
use mdm_service::RetentionSweep;
use mdm_storage::conformance::fixtures::{Device, command, report};
use mdm_storage::mdm_proto::Status;
use mdm_storage::{CommandQueue, DynStorage, InspectionStore};
use sqlx::postgres::PgPool;
use tower::ServiceExt;

const API_KEY: &str = "bench-key";
const SIZES: [usize; 2] = [10_000, 100_000];
const PAGES: usize = 400;
const FILL_TASKS: usize = 8;
const ANSWERED: usize = 20_000;
const DEVICE_TASKS: usize = 4;
const WINDOW: Duration = Duration::from_secs(5);

fn udid(i: usize) -> String {
    format!("INSPECT-{i:07}")
}

/// Enrolls devices `from..to` through the store, from [`FILL_TASKS`] tasks.
async fn enroll(store: &DynStorage, from: usize, to: usize) {
    let tasks: Vec<_> = (0..FILL_TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in (from + t..to).step_by(FILL_TASKS) {
                    Device::new(&udid(i)).enroll(&store).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn get(router: &Router, path: &str) -> (StatusCode, serde_json::Value) {
    use base64::Engine;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("nanomdm:{API_KEY}"));
    let request = Request::get(path)
        .header("authorization", format!("Basic {credentials}"))
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(mut lat: Vec<Duration>) -> String {
    lat.sort();
    format!(
        "n {}, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap())
    )
}

/// Every page cursor of the list, walking it 1,000 at a time.
async fn cursors(router: &Router, query: &str) -> (Vec<String>, usize) {
    let mut cursors = Vec::new();
    let mut listed = 0;
    let mut path = format!("/v1/enrollments?limit=1000{query}");
    loop {
        let (status, page) = get(router, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        listed += page["enrollments"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                cursors.push(cursor.to_owned());
                path = format!("/v1/enrollments?limit=1000{query}&cursor={cursor}");
            }
            None => return (cursors, listed),
        }
    }
}

async fn pages(backend: &str, store: &DynStorage, router: &Router, analyze: Option<&PgPool>) {
    let mut enrolled = 0;
    for size in SIZES {
        let started = Instant::now();
        enroll(store, enrolled, size).await;
        enrolled = size;
        if let Some(pool) = analyze {
            // What autovacuum does on its own a minute later: without statistics on the new
            // rows the planner took `type = 'Device'` for a rare value and walked its index.
            sqlx::query("ANALYZE").execute(pool).await.unwrap();
        }
        println!(
            "{backend}: {size} enrollments ready ({:.1} s to add)",
            started.elapsed().as_secs_f64()
        );
        for (what, query) in [
            ("all", ""),
            ("type=Device&enabled=true", "&type=Device&enabled=true"),
        ] {
            let (cursors, listed) = cursors(router, query).await;
            assert_eq!(listed, size);
            let mut lat = Vec::with_capacity(PAGES);
            for n in 0..PAGES {
                let cursor = &cursors[(n * 7919) % cursors.len()];
                let path = format!("/v1/enrollments?limit=100{query}&cursor={cursor}");
                let t = Instant::now();
                let (status, page) = get(router, &path).await;
                lat.push(t.elapsed());
                assert_eq!(status, StatusCode::OK);
                assert_eq!(page["enrollments"].as_array().unwrap().len(), 100);
            }
            println!(
                "{backend}: {size} enrollments, a page of 100 ({what}) from anywhere: {}",
                summary(lat)
            );
        }
    }
}

/// Device requests (an Idle report, then the next-command lookup: what a device's check-in
/// does) from [`DEVICE_TASKS`] tasks for `window`; their latencies.
async fn device_load(store: &DynStorage, window: Duration) -> Vec<Duration> {
    let tasks: Vec<_> = (0..DEVICE_TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let d = Device::new(&udid(t));
                let (idle, raw) = report(&d.id, None, Status::Idle);
                let mut lat = Vec::new();
                let started = Instant::now();
                while started.elapsed() < window {
                    let t = Instant::now();
                    store
                        .store_command_report(&d.id, &idle, &raw)
                        .await
                        .unwrap();
                    store.retrieve_next_command(&d.id, false).await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

async fn retention(backend: &str, store: &DynStorage) {
    let started = Instant::now();
    let fill: Vec<_> = (0..FILL_TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in (t..ANSWERED).step_by(FILL_TASKS) {
                    let d = Device::new(&udid(DEVICE_TASKS + n % 5_000));
                    let uuid = format!("RETAIN-{n:06}");
                    let failed = store
                        .enqueue_command(&[d.id.id().clone()], &command(&uuid), 0)
                        .await
                        .unwrap();
                    assert!(failed.is_empty());
                    let (msg, raw) = report(&d.id, Some(&uuid), Status::Acknowledged);
                    store.store_command_report(&d.id, &msg, &raw).await.unwrap();
                }
            })
        })
        .collect();
    for task in fill {
        task.await.unwrap();
    }
    println!(
        "{backend}: {ANSWERED} answered commands ready ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;

    let baseline = device_load(store, WINDOW).await;
    println!(
        "{backend}: device requests, no sweep: {}",
        summary(baseline)
    );

    let load = tokio::spawn({
        let store = store.clone();
        async move { device_load(&store, WINDOW).await }
    });
    let sweep = RetentionSweep::new(store.clone(), Duration::ZERO);
    let t = Instant::now();
    let deleted = sweep.sweep().await.unwrap();
    let took = t.elapsed();
    let during = load.await.unwrap();
    assert_eq!(deleted, ANSWERED as u64);
    println!(
        "{backend}: retention deleted {deleted} commands in {:.2} s (the sweep's default batches \
         and pauses); device \
         requests meanwhile: {}",
        took.as_secs_f64(),
        summary(during)
    );
    let left = store
        .delete_answered_commands_batch(SystemTime::now(), 10)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

async fn run(backend: &str, store: DynStorage, analyze: Option<&PgPool>) {
    // `ROOTSTOCK_BENCH_ONLY=retention` skips the pages (and their 100,000 enrollments).
    if std::env::var("ROOTSTOCK_BENCH_ONLY").as_deref() == Ok("retention") {
        enroll(&store, 0, DEVICE_TASKS + 5_000).await;
    } else {
        let router = MdmHttp::builder(store.clone()).api(API_KEY).build();
        pages(backend, &store, &router, analyze).await;
    }
    retention(backend, &store).await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlite().await;
        postgres().await;
    });
}

async fn sqlite() {
    use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("bench.sqlite")))
        .await
        .unwrap();
    run("sqlite", DynStorage::new(Arc::new(store)), None).await;
}

async fn postgres() {
    use mdm_storage_sql::postgres::{ConnectOptions, PostgresOptions, PostgresStore};
    use sqlx::AssertSqlSafe;

    let Ok(url) = std::env::var("ROOTSTOCK_TEST_POSTGRES_URL") else {
        eprintln!("postgres: skipped, ROOTSTOCK_TEST_POSTGRES_URL is not set");
        return;
    };
    let admin = PgPool::connect(&url).await.unwrap();
    let schema = format!("rootstock_inspect_bench_{}", std::process::id());
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let connect = url
        .parse::<ConnectOptions>()
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let store = PostgresStore::open(&PostgresOptions::new(connect))
        .await
        .unwrap();
    run(
        "postgres",
        DynStorage::new(store.clone()),
        Some(store.pool()),
    )
    .await;
    store.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}
