//! Cases for [`ImportStore`], which is not part of [`Storage`]: a backend that implements it
//! runs [`run_import`] beside [`run`](super::run).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mdm_enrollment::EnrollId;
use mdm_proto::Status;
use mdm_proto::plist::{Dictionary, Value};

use super::fixtures::{Device, command, report};
use super::{case, next_uuid, push_ids, send_report, tally};
use crate::{
    DeliveryState, ImportStore, ImportedEnrollmentState, ImportedQueue, ImportedQueueItem,
    QueueState, ReportOutcome, Storage, StorageError,
};

/// Runs every import case, each on a store from `make_store`. Panics, naming the case, on the
/// first failure.
pub async fn run_import<S, F, Fut>(mut make_store: F)
where
    S: Storage + ImportStore + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    case("import_state", import_state(make_store().await)).await;
    case("import_queue", import_queue(make_store().await)).await;
    case("import_results", import_results(make_store().await)).await;
}

fn unix_micros(t: SystemTime) -> i64 {
    let micros = t
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_micros();
    i64::try_from(micros).expect("in range")
}

/// The enrollment's tally, enabled flag and last-seen time become the imported ones; an
/// unknown enrollment is refused.
pub async fn import_state(store: impl Storage + ImportStore) {
    let d = Device::new("IMP-STATE");
    d.enroll(&store).await;
    let seen = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let mut state = ImportedEnrollmentState {
        token_update_tally: 3,
        enabled: false,
        last_seen_unix_micros: Some(unix_micros(seen)),
        unlock_token: Some(b"unlock".to_vec()),
    };
    for _ in 0..2 {
        store
            .import_enrollment_state(&d.id, &state)
            .await
            .expect("import_enrollment_state");
    }
    assert_eq!(tally(&store, &d.id).await, 3);
    assert!(push_ids(&store, &[d.id.id()]).await.is_empty(), "disabled");
    let stored = store.enrollment(d.id.id()).await.expect("enrollment");
    let stored = stored.expect("known");
    assert!(!stored.enabled);
    let last_seen = stored.last_seen_at.expect("a last-seen time");
    let off = last_seen
        .duration_since(seen)
        .unwrap_or_else(|e| e.duration());
    assert!(off < Duration::from_secs(2), "last seen {last_seen:?}");

    // Enabled again, last seen kept when not given.
    state.enabled = true;
    state.last_seen_unix_micros = None;
    store
        .import_enrollment_state(&d.id, &state)
        .await
        .expect("import_enrollment_state");
    assert_eq!(push_ids(&store, &[d.id.id()]).await.len(), 1);
    let stored = store.enrollment(d.id.id()).await.expect("enrollment");
    assert_eq!(stored.expect("known").last_seen_at, Some(last_seen));

    let unknown = Device::new("IMP-NOBODY");
    let refused = store.import_enrollment_state(&unknown.id, &state).await;
    assert!(
        matches!(refused, Err(StorageError::UnknownEnrollment(_))),
        "{refused:?}"
    );
}

/// A queue imports in order with its NotNow marks, behind what is queued; running it again
/// adds nothing; a `CommandUUID` held with other bytes is refused and nothing is written.
pub async fn import_queue(store: impl Storage + ImportStore) {
    let d = Device::new("IMP-QUEUE");
    d.enroll(&store).await;
    let already = command("IMP-0");
    super::enqueue(&store, &[&d.id], &already).await;
    let [a, b, c] = ["IMP-A", "IMP-B", "IMP-C"].map(command);
    let (_, not_now) = report(&d.id, Some("IMP-B"), Status::NotNow);
    let items = [
        ImportedQueueItem {
            command: &a,
            not_now_report: None,
        },
        ImportedQueueItem {
            command: &b,
            not_now_report: Some(&not_now),
        },
        ImportedQueueItem {
            command: &c,
            not_now_report: None,
        },
    ];
    let done = store
        .import_queue(&d.id, &items)
        .await
        .expect("import_queue");
    assert_eq!(
        done,
        ImportedQueue {
            queued: 3,
            already_queued: 0
        }
    );
    let again = store
        .import_queue(&d.id, &items)
        .await
        .expect("import_queue");
    assert_eq!(
        again,
        ImportedQueue {
            queued: 0,
            already_queued: 3
        }
    );
    let queue = store.queued_commands(d.id.id(), 10).await.expect("queue");
    let order: Vec<(&str, QueueState)> = queue
        .iter()
        .map(|c| (c.command_uuid.as_str(), c.state))
        .collect();
    assert_eq!(
        order,
        [
            ("IMP-0", QueueState::Queued),
            ("IMP-A", QueueState::Queued),
            ("IMP-B", QueueState::NotNow),
            ("IMP-C", QueueState::Queued),
        ]
    );
    let next = store
        .retrieve_next_command(&d.id, false)
        .await
        .expect("next");
    assert_eq!(next.expect("IMP-0").bytes(), already.bytes());
    send_report(&store, &d.id, Some("IMP-0"), Status::Acknowledged).await;
    send_report(&store, &d.id, Some("IMP-A"), Status::Acknowledged).await;
    // The imported NotNow is passed over after a NotNow, as before the import.
    send_report(&store, &d.id, Some("IMP-B"), Status::NotNow).await;
    assert_eq!(
        next_uuid(&store, &d.id, true).await.as_deref(),
        Some("IMP-C")
    );
    let next = store
        .retrieve_next_command(&d.id, false)
        .await
        .expect("next");
    assert_eq!(next.expect("IMP-B").bytes(), b.bytes(), "byte-exact");

    // The same CommandUUID with other bytes: refused, and the queue is as it was.
    let other = EnrollId::device("IMP-OTHER");
    Device::new("IMP-OTHER").enroll(&store).await;
    let mut payload = Dictionary::new();
    payload.insert("Identifier".into(), Value::String("x".into()));
    let forged = mdm_proto::Command::build("IMP-C", "RemoveProfile", payload);
    let fresh = command("IMP-D");
    let items = [
        ImportedQueueItem {
            command: &fresh,
            not_now_report: None,
        },
        ImportedQueueItem {
            command: &forged,
            not_now_report: None,
        },
    ];
    let refused = store.import_queue(&other, &items).await;
    assert!(
        matches!(refused, Err(StorageError::DuplicateCommand(_))),
        "{refused:?}"
    );
    assert!(
        store
            .queued_commands(other.id(), 10)
            .await
            .expect("queue")
            .is_empty(),
        "nothing written"
    );

    let unknown = Device::new("IMP-NOBODY");
    let refused = store.import_queue(&unknown.id, &items[..1]).await;
    assert!(
        matches!(refused, Err(StorageError::UnknownEnrollment(_))),
        "{refused:?}"
    );
}

/// An imported result reads back through inspection, byte-exact, and importing it again changes
/// nothing; the command is not queued.
pub async fn import_results(store: impl Storage + ImportStore) {
    let d = Device::new("IMP-RESULT");
    d.enroll(&store).await;
    let done = command("IMP-DONE");
    let (_, raw) = report(&d.id, Some("IMP-DONE"), Status::Acknowledged);
    for _ in 0..2 {
        store
            .import_command_result(&d.id, &done, "Acknowledged", &raw)
            .await
            .expect("import_command_result");
    }
    assert_eq!(next_uuid(&store, &d.id, false).await, None, "not queued");
    assert_eq!(
        send_report(&store, &d.id, Some("IMP-DONE"), Status::Acknowledged).await,
        ReportOutcome::NotQueued
    );
    let record = store.command("IMP-DONE").await.expect("command");
    let record = record.expect("the imported command is held");
    assert_eq!(record.request_type, "DeviceInformation");
    assert_eq!(record.deliveries.len(), 1);
    let delivery = &record.deliveries[0];
    assert_eq!(delivery.id, *d.id.id());
    assert_eq!(
        delivery.state,
        DeliveryState::Reported(Status::Acknowledged)
    );
    assert_eq!(delivery.report.as_deref(), Some(&raw[..]));
}
