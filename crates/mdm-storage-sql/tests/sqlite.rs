//! What the SQLite backend writes, read back with SQL: NanoMDM's columns hold NanoMDM's values.

use std::path::Path;

use mdm_proto::Status;
use mdm_storage::conformance::fixtures::{Device, command, report};
use mdm_storage::{
    BootstrapTokenStore, CommandQueue, PushStore, ReportOutcome, StorageError,
    TokenUpdateTallyStore,
};
use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
use sqlx::Row as _;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

async fn open(path: &Path, storage_options: &str) -> SqliteStore {
    let options = SqliteOptions::new(path)
        .with_storage_options(storage_options)
        .unwrap();
    SqliteStore::open(&options).await.unwrap()
}

/// A second, plain connection to the same file, to look at the rows.
async fn raw(path: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

async fn count(pool: &SqlitePool, sql: &'static str, bind: &str) -> i64 {
    sqlx::query(sql)
        .bind(bind)
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn check_ins_and_results_land_in_nanomdm_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mdm.sqlite");
    let store = open(&path, "").await;
    let db = raw(&path).await;

    let d = Device::new("COLUMNS-1");
    d.enroll(&store).await;
    let user = d.user("U1");
    user.token_update_with(&store).await;

    let row = sqlx::query(
        "SELECT identity_cert, serial_number, unlock_token, authenticate, token_update \
         FROM devices WHERE id = ?1",
    )
    .bind(d.id.id().as_str())
    .fetch_one(&db)
    .await
    .unwrap();
    let cert: String = row.get(0);
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\n"), "{cert}");
    assert_eq!(row.get::<String, _>(1), format!("SN{}", d.udid));
    assert_eq!(row.get::<Vec<u8>, _>(2), b"unlock");
    assert_eq!(row.get::<Vec<u8>, _>(3), d.authenticate().1.as_ref());
    assert_eq!(row.get::<Vec<u8>, _>(4), d.token_update().1.as_ref());

    let rows = sqlx::query(
        "SELECT id, device_id, user_id, type, token_hex, push_magic, enabled, token_update_tally \
         FROM enrollments ORDER BY id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let device = &rows[0];
    assert_eq!(device.get::<String, _>(0), d.id.id().as_str());
    assert_eq!(device.get::<String, _>(1), d.id.id().as_str());
    assert_eq!(device.get::<Option<String>, _>(2), None);
    assert_eq!(device.get::<String, _>(3), "Device");
    assert_eq!(device.get::<String, _>(4), d.push().token_hex());
    assert_eq!(device.get::<String, _>(5), d.push().push_magic);
    assert_eq!((device.get::<i64, _>(6), device.get::<i64, _>(7)), (1, 1));
    let u = &rows[1];
    assert_eq!(u.get::<String, _>(0), user.id.id().as_str());
    assert_eq!(u.get::<String, _>(1), d.id.id().as_str());
    assert_eq!(
        u.get::<Option<String>, _>(2).as_deref(),
        Some(user.id.id().as_str())
    );
    assert_eq!(u.get::<String, _>(3), "User");
    let users_token_update: Vec<u8> = sqlx::query("SELECT token_update FROM users WHERE id = ?1")
        .bind(user.id.id().as_str())
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(users_token_update, user.token_update().1.as_ref());

    // Results: NotNow counted, the final status and the exact report bytes kept.
    store
        .enqueue_command(std::slice::from_ref(d.id.id()), &command("COL-C1"), 0)
        .await
        .unwrap();
    for _ in 0..2 {
        let (msg, raw) = report(&d.id, Some("COL-C1"), Status::NotNow);
        store.store_command_report(&d.id, &msg, &raw).await.unwrap();
    }
    let tally: i64 = sqlx::query(
        "SELECT not_now_tally FROM command_results WHERE id = ?1 AND command_uuid = 'COL-C1'",
    )
    .bind(d.id.id().as_str())
    .fetch_one(&db)
    .await
    .unwrap()
    .get(0);
    assert_eq!(tally, 2);
    let (msg, raw) = report(&d.id, Some("COL-C1"), Status::Acknowledged);
    store.store_command_report(&d.id, &msg, &raw).await.unwrap();
    let row = sqlx::query(
        "SELECT r.status, r.result, q.active FROM command_results AS r \
         JOIN enrollment_queue AS q ON q.id = r.id AND q.command_uuid = r.command_uuid \
         WHERE r.id = ?1 AND r.command_uuid = 'COL-C1'",
    )
    .bind(d.id.id().as_str())
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>(0), "Acknowledged");
    assert_eq!(row.get::<Vec<u8>, _>(1), raw.as_ref());
    assert_eq!(row.get::<i64, _>(2), 0, "answered: out of the queue index");
}

#[tokio::test]
async fn delete_mode_removes_a_command_once_every_target_answered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mdm.sqlite");
    let store = open(&path, "delete=1").await;
    let db = raw(&path).await;
    let a = Device::new("DEL-A");
    let b = Device::new("DEL-B");
    a.enroll(&store).await;
    b.enroll(&store).await;
    let ids = [a.id.id().clone(), b.id.id().clone()];
    store
        .enqueue_command(&ids, &command("DEL-1"), 0)
        .await
        .unwrap();

    let (msg, raw_report) = report(&a.id, Some("DEL-1"), Status::Acknowledged);
    store
        .store_command_report(&a.id, &msg, &raw_report)
        .await
        .unwrap();
    let commands = "SELECT COUNT(*) FROM commands WHERE command_uuid = ?1";
    assert_eq!(count(&db, commands, "DEL-1").await, 1, "b has not answered");
    let results = "SELECT COUNT(*) FROM command_results WHERE command_uuid = ?1";
    assert_eq!(count(&db, results, "DEL-1").await, 0);

    let (msg, raw_report) = report(&b.id, Some("DEL-1"), Status::NotNow);
    store
        .store_command_report(&b.id, &msg, &raw_report)
        .await
        .unwrap();
    assert_eq!(count(&db, results, "DEL-1").await, 1, "NotNow is kept");
    let (msg, raw_report) = report(&b.id, Some("DEL-1"), Status::Error);
    store
        .store_command_report(&b.id, &msg, &raw_report)
        .await
        .unwrap();
    assert_eq!(
        count(&db, commands, "DEL-1").await,
        0,
        "every target answered"
    );
    assert_eq!(count(&db, results, "DEL-1").await, 0);
    let queue = "SELECT COUNT(*) FROM enrollment_queue WHERE command_uuid = ?1";
    assert_eq!(count(&db, queue, "DEL-1").await, 0);

    // Clearing removes entries, and commands nobody waits for any more.
    store
        .enqueue_command(&ids, &command("DEL-2"), 0)
        .await
        .unwrap();
    store.clear_queue(&a.id).await.unwrap();
    assert_eq!(count(&db, commands, "DEL-2").await, 1, "still queued for b");
    store.clear_queue(&b.id).await.unwrap();
    assert_eq!(count(&db, commands, "DEL-2").await, 0);
    assert_eq!(count(&db, queue, "DEL-2").await, 0);
}

#[tokio::test]
async fn reopening_keeps_everything_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mdm.sqlite");
    let d = Device::new("REOPEN-1");
    let c = command("REOPEN-C1");
    {
        let store = open(&path, "").await;
        d.enroll(&store).await;
        store
            .enqueue_command(std::slice::from_ref(d.id.id()), &c, 0)
            .await
            .unwrap();
        store.close().await;
    }
    let store = open(&path, "").await;
    let next = store
        .retrieve_next_command(&d.id, false)
        .await
        .unwrap()
        .expect("queued before the restart");
    assert_eq!(next.bytes(), c.bytes());
    assert_eq!(store.retrieve_token_update_tally(&d.id).await.unwrap(), 1);

    let db = raw(&path).await;
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    let migrations: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(migrations, 2, "each schema migration ran once");
}

#[tokio::test]
async fn corrupt_values_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mdm.sqlite");
    let store = open(&path, "").await;
    let d = Device::new("CORRUPT-1");
    d.enroll(&store).await;
    let db = raw(&path).await;
    sqlx::query(
        "UPDATE enrollments SET token_hex = 'not hex', token_update_tally = -1 WHERE id = ?1",
    )
    .bind(d.id.id().as_str())
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("UPDATE devices SET bootstrap_token_b64 = '!!' WHERE id = ?1")
        .bind(d.id.id().as_str())
        .execute(&db)
        .await
        .unwrap();
    let push = store
        .retrieve_push_info(std::slice::from_ref(d.id.id()))
        .await;
    assert!(matches!(push, Err(StorageError::Corrupt(_))), "{push:?}");
    let tally = store.retrieve_token_update_tally(&d.id).await;
    assert!(matches!(tally, Err(StorageError::Corrupt(_))), "{tally:?}");
    let token = store.retrieve_bootstrap_token(&d.id).await;
    assert!(matches!(token, Err(StorageError::Corrupt(_))), "{token:?}");
}

#[tokio::test]
async fn unknown_commands_leave_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mdm.sqlite");
    let store = open(&path, "").await;
    let d = Device::new("NOROWS-1");
    d.enroll(&store).await;
    let (msg, raw_report) = report(&d.id, Some("NEVER"), Status::Acknowledged);
    assert_eq!(
        store
            .store_command_report(&d.id, &msg, &raw_report)
            .await
            .unwrap(),
        ReportOutcome::NotQueued
    );
    let failed = store
        .enqueue_command(&["NOBODY".into()], &command("ORPHAN"), 0)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let db = raw(&path).await;
    let results: i64 = sqlx::query("SELECT COUNT(*) FROM command_results")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    let commands: i64 = sqlx::query("SELECT COUNT(*) FROM commands")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!((results, commands), (0, 0));
}

/// More ids than one `IN` list holds take the chunked path, in one transaction: every known id
/// is queued, every unknown one reported, duplicates meet one row each.
#[tokio::test]
async fn enqueue_to_more_ids_than_one_list_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mdm.sqlite");
    let store = open(&path, "").await;
    let known: Vec<Device> = (0..3).map(|i| Device::new(&format!("MANY-{i}"))).collect();
    for d in &known {
        d.enroll(&store).await;
    }
    let mut ids: Vec<mdm_enrollment::EnrollmentId> =
        (0..1200).map(|i| format!("NOBODY-{i}").into()).collect();
    ids.insert(0, known[0].id.id().clone());
    ids.insert(700, known[1].id.id().clone());
    ids.push(known[2].id.id().clone());
    ids.push(known[2].id.id().clone());
    let failed = store
        .enqueue_command(&ids, &command("MANY-C"), 0)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1200);
    assert!(failed.keys().all(|id| id.as_str().starts_with("NOBODY-")));
    for d in &known {
        let next = store.retrieve_next_command(&d.id, false).await.unwrap();
        assert_eq!(
            next.map(|c| c.command_uuid.clone()).as_deref(),
            Some("MANY-C")
        );
    }
    let db = raw(&path).await;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM enrollment_queue WHERE command_uuid = ?1",
            "MANY-C"
        )
        .await,
        3
    );
}

/// Enrollment pages while enrollments come and go (rows deleted as an operator deleting a
/// device would, with SQL; the traits never delete one): every enrollment that is there all
/// along is listed exactly once, before and after the cursor, whatever else changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_hold_while_enrollments_come_and_go() {
    use std::collections::HashSet;

    use mdm_storage::{EnrollmentFilter, InspectionStore};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mdm.sqlite");
    let store = open(&path, "").await;
    let kept: Vec<String> = (0..60).map(|i| format!("KEEP-{i:03}")).collect();
    let going: Vec<String> = (0..60).map(|i| format!("KEEP-{i:03}-GOING")).collect();
    for id in kept.iter().chain(&going) {
        Device::new(id).enroll(&store).await;
    }
    let pool = raw(&path).await;
    let churn = {
        let (store, pool, going) = (store.clone(), pool.clone(), going.clone());
        tokio::spawn(async move {
            for (i, gone) in going.iter().enumerate() {
                sqlx::query("DELETE FROM devices WHERE id = ?1")
                    .bind(gone)
                    .execute(&pool)
                    .await
                    .unwrap();
                Device::new(&format!("KEEP-{i:03}-NEW"))
                    .enroll(&store)
                    .await;
                tokio::task::yield_now().await;
            }
        })
    };
    for _ in 0..3 {
        let mut listed = HashSet::new();
        let mut after = None;
        loop {
            let page = store
                .list_enrollments(&EnrollmentFilter::default(), after.as_ref(), 7)
                .await
                .unwrap();
            for e in &page.enrollments {
                assert!(listed.insert(e.id.as_str().to_owned()), "{:?} twice", e.id);
            }
            match page.next_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        for id in &kept {
            assert!(
                listed.contains(id),
                "{id} was there all along but not listed"
            );
        }
    }
    churn.await.unwrap();
    let page = store
        .list_enrollments(&EnrollmentFilter::default(), None, 1000)
        .await
        .unwrap();
    let ids: HashSet<&str> = page.enrollments.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 120, "60 kept and 60 new");
    assert!(
        going.iter().all(|g| !ids.contains(g.as_str())),
        "deleted ones are gone"
    );
}
