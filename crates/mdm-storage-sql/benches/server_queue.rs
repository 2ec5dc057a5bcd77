//! The command queue on PostgreSQL and MySQL / MariaDB, bounded (each dialect well under two
//! minutes): enqueue one command to 10,000 enrollments; the next-command lookup with 1M queued
//! rows (100k enrollments × 10 commands); report + next-command cycles from 8 concurrent tasks.
//!
//! Each dialect runs when its URL variable is set (the tests' variables), in a schema or
//! database of its own, dropped at the end:
//!
//! `ROOTSTOCK_TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/test
//!  ROOTSTOCK_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test
//!  cargo bench -p mdm-storage-sql --features postgres,mysql --bench server_queue`
//!
//! The queue is filled with bulk SQL in one transaction; the measurements go through the
//! store's API.

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod run {
    use std::time::{Duration, Instant};

    use mdm_enrollment::{EnrollId, EnrollmentId};
    use mdm_proto::Status;
    use mdm_storage::conformance::fixtures::{command, report};
    use mdm_storage::{CommandQueue, ReportOutcome};

    pub const ENROLLMENTS: usize = 100_000;
    pub const PER_ENROLLMENT: usize = 10;
    const ENQUEUE_TO: usize = 10_000;
    const ENQUEUE_RUNS: usize = 5;
    const LOOKUP_FOR: Duration = Duration::from_secs(10);
    const CYCLES_FOR: Duration = Duration::from_secs(10);
    const TASKS: usize = 8;

    pub fn enrollment_id(i: usize) -> String {
        format!("BENCH-{i:06}")
    }

    fn device(i: usize) -> EnrollId {
        EnrollId::device(enrollment_id(i))
    }

    /// The bulk-filled commands, `BULK-00` … `BULK-09`: (uuid, request type, XML).
    pub fn bulk_commands() -> Vec<(String, String, String)> {
        (0..PER_ENROLLMENT)
            .map(|k| {
                let c = command(&format!("BULK-{k:02}"));
                let xml = String::from_utf8(c.bytes().to_vec()).expect("XML command");
                (c.command_uuid.clone(), c.request_type.clone(), xml)
            })
            .collect()
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }

    /// Runs the three measurements on a store whose database holds the bulk fill.
    pub async fn measure<S>(dialect: &str, store: S)
    where
        S: CommandQueue + Clone + Send + Sync + 'static,
    {
        // Next-command lookup, one caller, ids spread over the whole table.
        let mut lat = Vec::new();
        let started = Instant::now();
        let mut i = 0usize;
        while started.elapsed() < LOOKUP_FOR {
            i = (i + 7919) % ENROLLMENTS;
            let id = device(i);
            let t = Instant::now();
            let next = store.retrieve_next_command(&id, false).await.unwrap();
            lat.push(t.elapsed());
            assert!(next.is_some());
        }
        let total = started.elapsed();
        lat.sort();
        println!(
            "{dialect}: next_command (1M queued): {} lookups in {:.1} s = {:.0}/s; \
             mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms",
            lat.len(),
            total.as_secs_f64(),
            lat.len() as f64 / total.as_secs_f64(),
            ms(total) / lat.len() as f64,
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
        );

        // Report + next cycles, 8 tasks: task t answers enrollments t, t+8, … in turn, each
        // cycle acknowledging the enrollment's head command and fetching the next one.
        let started = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut cycles = 0usize;
                    let mut j = t;
                    let mut k = 0usize;
                    while started.elapsed() < CYCLES_FOR {
                        let id = device(j);
                        let uuid = format!("BULK-{k:02}");
                        let (msg, raw) = report(&id, Some(&uuid), Status::Acknowledged);
                        let (outcome, next) = store
                            .report_and_next_command(&id, &msg, &raw)
                            .await
                            .unwrap();
                        assert_eq!(outcome, ReportOutcome::Final);
                        assert_eq!(next.is_some(), k + 1 < PER_ENROLLMENT);
                        cycles += 1;
                        j += TASKS;
                        if j >= ENROLLMENTS {
                            j = t;
                            k += 1;
                        }
                    }
                    cycles
                })
            })
            .collect();
        let mut cycles = 0;
        for task in tasks {
            cycles += task.await.unwrap();
        }
        let total = started.elapsed();
        println!(
            "{dialect}: report+next (1M queued, {TASKS} tasks): {cycles} cycles in {:.1} s = \
             {:.0} cycles/s",
            total.as_secs_f64(),
            cycles as f64 / total.as_secs_f64(),
        );

        // One command to 10,000 enrollments (on top of the ~1M queued rows).
        let ids: Vec<EnrollmentId> = (0..ENQUEUE_TO).map(|i| enrollment_id(i).into()).collect();
        let mut times = Vec::new();
        for run in 0..ENQUEUE_RUNS {
            let c = command(&format!("FANOUT-{run}"));
            let t = Instant::now();
            let failed = store.enqueue_command(&ids, &c, 0).await.unwrap();
            times.push(t.elapsed());
            assert!(failed.is_empty());
        }
        let shown: Vec<String> = times.iter().map(|d| format!("{:.0}", ms(*d))).collect();
        times.sort();
        println!(
            "{dialect}: enqueue to {ENQUEUE_TO} enrollments: median {:.0} ms \
             ({} runs, ms: {})",
            ms(times[ENQUEUE_RUNS / 2]),
            ENQUEUE_RUNS,
            shown.join(", "),
        );
    }
}

#[cfg(feature = "postgres")]
async fn postgres() {
    use mdm_storage_sql::postgres::{ConnectOptions, PostgresOptions, PostgresStore};
    use sqlx::AssertSqlSafe;
    use sqlx::postgres::PgPool;

    let Ok(url) = std::env::var("ROOTSTOCK_TEST_POSTGRES_URL") else {
        eprintln!("postgres: skipped, ROOTSTOCK_TEST_POSTGRES_URL is not set");
        return;
    };
    let admin = PgPool::connect(&url).await.unwrap();
    let schema = format!("rootstock_bench_{}", std::process::id());
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

    let started = std::time::Instant::now();
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query(
        "INSERT INTO devices (id, authenticate, authenticate_at) \
         SELECT 'BENCH-' || lpad(i::text, 6, '0'), '<?xml', now() \
         FROM generate_series(0, $1 - 1) AS i",
    )
    .bind(run::ENROLLMENTS as i64)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO enrollments (id, device_id, type, topic, push_magic, token_hex, \
             last_seen_at) \
         SELECT id, id, 'Device', 'com.apple.mgmt.External.bench', 'magic', \
             '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', now() \
         FROM devices ORDER BY id",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    for (uuid, request_type, xml) in run::bulk_commands() {
        sqlx::query(
            "INSERT INTO commands (command_uuid, request_type, command) VALUES ($1, $2, $3)",
        )
        .bind(&uuid)
        .bind(&request_type)
        .bind(&xml)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO enrollment_queue (id, command_uuid) \
             SELECT id, $1 FROM enrollments ORDER BY id",
        )
        .bind(&uuid)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    println!(
        "postgres: bulk fill ({} enrollments × {} commands) in {:.1} s",
        run::ENROLLMENTS,
        run::PER_ENROLLMENT,
        started.elapsed().as_secs_f64()
    );

    run::measure("postgres", store.clone()).await;
    store.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}

#[cfg(feature = "mysql")]
async fn mysql() {
    use mdm_storage_sql::mysql::{ConnectOptions, MySqlOptions, MySqlStore};
    use sqlx::AssertSqlSafe;
    use sqlx::mysql::MySqlPool;

    let Ok(url) = std::env::var("ROOTSTOCK_TEST_MYSQL_URL") else {
        eprintln!("mysql: skipped, ROOTSTOCK_TEST_MYSQL_URL is not set");
        return;
    };
    let admin = MySqlPool::connect(&url).await.unwrap();
    let database = format!("rootstock_bench_{}", std::process::id());
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&admin)
        .await
        .unwrap();
    let connect = url.parse::<ConnectOptions>().unwrap().database(&database);
    let store = MySqlStore::open(&MySqlOptions::new(connect.clone()))
        .await
        .unwrap();
    let raw = MySqlPool::connect_with(connect).await.unwrap();

    let started = std::time::Instant::now();
    let mut tx = raw.begin().await.unwrap();
    // 0 … 99,999 from five cross-joined digit tables (no recursion-depth settings needed).
    let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                  UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                  UNION ALL SELECT 8 UNION ALL SELECT 9)";
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO devices (id, authenticate, authenticate_at) \
         SELECT CONCAT('BENCH-', LPAD(a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d, \
             6, '0')), '<?xml', NOW() \
         FROM {digits} a, {digits} b, {digits} c, {digits} e, {digits} f"
    )))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO enrollments (id, device_id, type, topic, push_magic, token_hex, \
             last_seen_at) \
         SELECT id, id, 'Device', 'com.apple.mgmt.External.bench', 'magic', \
             '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', NOW() \
         FROM devices ORDER BY id",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    for (uuid, request_type, xml) in run::bulk_commands() {
        sqlx::query("INSERT INTO commands (command_uuid, request_type, command) VALUES (?, ?, ?)")
            .bind(&uuid)
            .bind(&request_type)
            .bind(&xml)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO enrollment_queue (id, command_uuid) \
             SELECT id, ? FROM enrollments ORDER BY id",
        )
        .bind(&uuid)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE TABLE devices, enrollments, commands, enrollment_queue")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    println!(
        "mysql: bulk fill ({} enrollments × {} commands) in {:.1} s",
        run::ENROLLMENTS,
        run::PER_ENROLLMENT,
        started.elapsed().as_secs_f64()
    );

    run::measure("mysql", store.clone()).await;
    store.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE {database}")))
        .execute(&admin)
        .await
        .unwrap();
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        #[cfg(feature = "postgres")]
        postgres().await;
        #[cfg(feature = "mysql")]
        mysql().await;
    });
}
