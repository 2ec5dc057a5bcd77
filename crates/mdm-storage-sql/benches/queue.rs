//! Next-command retrieval and the report + next-command cycle on SQLite, with 10k and with 1M
//! queued rows across 100k enrollments.
//!
//! The databases are filled with bulk SQL in one transaction (seconds, not the minutes 1M
//! enqueue calls would take); the benchmarks then go through the store's API. Ids rotate over
//! every enrollment that has commands, so lookups are spread over the whole table.
//!
//! `cargo bench -p mdm-storage-sql --bench queue`

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use mdm_enrollment::EnrollId;
use mdm_proto::Status;
use mdm_storage::conformance::fixtures::{command, report};
use mdm_storage::{CommandQueue, ReportOutcome};
use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tokio::runtime::Runtime;

const ENROLLMENTS: usize = 100_000;

/// (label, enrollments with commands, commands each): 10k and 1M queued rows.
const SIZES: [(&str, usize, usize); 2] = [("10k", 10_000, 1), ("1M", ENROLLMENTS, 10)];

fn enrollment_id(i: usize) -> String {
    format!("BENCH-{i:06}")
}

fn device(i: usize) -> EnrollId {
    EnrollId::device(enrollment_id(i))
}

/// 100k enrolled devices; `per_enrollment` commands queued for each of the first `queued`.
async fn fill(path: &Path, queued: usize, per_enrollment: usize) {
    let db = SqlitePool::connect_with(SqliteConnectOptions::new().filename(path))
        .await
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) \
         INSERT INTO devices (id, authenticate, authenticate_at) \
         SELECT printf('BENCH-%06d', i), X'3c3f786d6c3e', CURRENT_TIMESTAMP FROM n",
    )
    .bind(ENROLLMENTS as i64)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO enrollments \
             (id, device_id, type, topic, push_magic, token_hex, last_seen_at) \
         SELECT id, id, 'Device', 'com.apple.mgmt.External.bench', 'magic', \
             '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', \
             CURRENT_TIMESTAMP \
         FROM devices ORDER BY id",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    for k in 0..per_enrollment {
        let c = command(&format!("BULK-{k:02}"));
        sqlx::query(
            "INSERT INTO commands (command_uuid, request_type, command) VALUES (?1, ?2, ?3)",
        )
        .bind(&c.command_uuid)
        .bind(&c.request_type)
        .bind(c.bytes().as_ref())
        .execute(&mut *tx)
        .await
        .unwrap();
        // One command to many enrollments, in enqueue order, as enqueue_command would.
        sqlx::query(
            "INSERT INTO enrollment_queue (id, command_uuid) \
             SELECT id, ?1 FROM enrollments WHERE id < ?2 ORDER BY id",
        )
        .bind(&c.command_uuid)
        .bind(enrollment_id(queued))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // Start the benchmark with the bulk write checkpointed and the log empty, as a server that
    // has been running a while would be.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("sqlite");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (label, queued, per_enrollment) in SIZES {
        let path = dir.path().join(format!("{label}.sqlite"));
        let store = rt.block_on(async {
            // Open first: it creates the schema the bulk fill writes into.
            let store = SqliteStore::open(&SqliteOptions::new(&path)).await.unwrap();
            fill(&path, queued, per_enrollment).await;
            store
        });
        let ids: Vec<EnrollId> = (0..queued).map(device).collect();

        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("next_command", label), |b| {
            b.iter(|| {
                i = (i + 1) % ids.len();
                let next = rt.block_on(store.retrieve_next_command(&ids[i], false));
                black_box(next.unwrap().expect("queued"))
            })
        });

        // Each cycle answers the oldest command of an enrollment and fetches the next; the
        // untimed setup enqueues a replacement, so the queue keeps its size.
        let mut i = 0usize;
        let mut fresh = 0usize;
        group.bench_function(BenchmarkId::new("report_and_next", label), |b| {
            b.iter_batched(
                || {
                    i = (i + 1) % ids.len();
                    fresh += 1;
                    let refill = command(&format!("REFILL-{label}-{fresh:09}"));
                    let failed = rt
                        .block_on(store.enqueue_command(
                            std::slice::from_ref(ids[i].id()),
                            &refill,
                            0,
                        ))
                        .unwrap();
                    assert!(failed.is_empty());
                    let head = rt
                        .block_on(store.retrieve_next_command(&ids[i], false))
                        .unwrap()
                        .expect("queued");
                    let (msg, raw) =
                        report(&ids[i], Some(&head.command_uuid), Status::Acknowledged);
                    (&ids[i], msg, raw)
                },
                |(id, msg, raw)| {
                    rt.block_on(async {
                        let (outcome, next) =
                            store.report_and_next_command(id, &msg, &raw).await.unwrap();
                        assert_eq!(outcome, ReportOutcome::Final);
                        black_box(next)
                    })
                },
                BatchSize::SmallInput,
            )
        });
        rt.block_on(store.close());
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
