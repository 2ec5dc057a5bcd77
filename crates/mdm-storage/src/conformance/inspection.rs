//! Cases for [`InspectionStore`]: listing, queues, command results and retention.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mdm_enrollment::{EnrollType, EnrollmentId};
use mdm_proto::Status;

use super::fixtures::{Device, command, report};
use super::{Expectations, enqueue, next_uuid, send_report};
use crate::{
    DeliveryState, EnrollmentFilter, InspectionStore, QueueState, Storage, StoredCommand,
    StoredEnrollment, delete_answered_commands,
};

/// Whether `t` is within a few minutes of now: a store that got its time zone wrong is hours
/// off.
fn recent(t: Option<SystemTime>) -> bool {
    let Some(t) = t else { return false };
    let now = SystemTime::now();
    let skew = now.duration_since(t).unwrap_or_else(|e| e.duration());
    skew < Duration::from_secs(300)
}

/// Every enrollment `filter` matches, a page of `limit` at a time; panics on a page longer than
/// `limit` or an id listed twice.
async fn list_all(
    store: &impl InspectionStore,
    filter: &EnrollmentFilter,
    limit: usize,
) -> Vec<StoredEnrollment> {
    let mut all = Vec::new();
    let mut seen = HashSet::new();
    let mut after: Option<EnrollmentId> = None;
    for _ in 0..10_000 {
        let page = store
            .list_enrollments(filter, after.as_ref(), limit)
            .await
            .expect("list_enrollments");
        assert!(
            page.enrollments.len() <= limit,
            "a page longer than its limit"
        );
        for e in &page.enrollments {
            assert!(seen.insert(e.id.clone()), "{:?} listed twice", e.id);
        }
        all.extend(page.enrollments);
        match page.next_after {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
    panic!("paging never ended");
}

fn ids(list: &[StoredEnrollment]) -> HashSet<String> {
    list.iter().map(|e| e.id.as_str().to_owned()).collect()
}

fn set(ids: &[&str]) -> HashSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

async fn command_record(store: &impl InspectionStore, uuid: &str) -> Option<StoredCommand> {
    store.command(uuid).await.expect("command")
}

/// Enrollments list a page at a time, filtered by type, enabled state, serial number and device;
/// one enrollment reads back with its type, device, serial number and times; a device that only
/// authenticated, and an unknown id, are not enrollments.
pub async fn list_enrollments(store: impl Storage) {
    let devices: Vec<Device> = (1..=5).map(|i| Device::new(&format!("LIST-{i}"))).collect();
    for d in &devices {
        d.enroll(&store).await;
    }
    let user = devices[0].user("LIST-USER");
    user.token_update_with(&store).await;
    store.disable(&devices[1].id).await.expect("disable");
    Device::new("LIST-AUTH-ONLY")
        .authenticate_with(&store)
        .await;

    let every = set(&[
        "LIST-1",
        "LIST-2",
        "LIST-3",
        "LIST-4",
        "LIST-5",
        "LIST-1:LIST-USER",
    ]);
    let all = EnrollmentFilter::default();
    for limit in [1, 2, 5, 6, 100] {
        assert_eq!(
            ids(&list_all(&store, &all, limit).await),
            every,
            "limit {limit}"
        );
    }
    let first = store.list_enrollments(&all, None, 6).await.expect("list");
    assert_eq!(first.enrollments.len(), 6);
    assert_eq!(
        first.next_after, None,
        "a full last page says it is the last"
    );

    let by = |f: fn(&mut EnrollmentFilter)| {
        let mut filter = EnrollmentFilter::default();
        f(&mut filter);
        filter
    };
    let devices_only = by(|f| f.kind = Some(EnrollType::Device));
    assert_eq!(
        ids(&list_all(&store, &devices_only, 2).await),
        set(&["LIST-1", "LIST-2", "LIST-3", "LIST-4", "LIST-5"])
    );
    let users = by(|f| f.kind = Some(EnrollType::User));
    assert_eq!(
        ids(&list_all(&store, &users, 2).await),
        set(&["LIST-1:LIST-USER"])
    );
    let disabled = by(|f| f.enabled = Some(false));
    assert_eq!(ids(&list_all(&store, &disabled, 2).await), set(&["LIST-2"]));
    let enabled = by(|f| f.enabled = Some(true));
    assert_eq!(list_all(&store, &enabled, 2).await.len(), 5);
    let serial = by(|f| f.serial_number = Some("SNLIST-3".into()));
    assert_eq!(ids(&list_all(&store, &serial, 2).await), set(&["LIST-3"]));
    let device = by(|f| f.device_id = Some("LIST-1".into()));
    assert_eq!(
        ids(&list_all(&store, &device, 1).await),
        set(&["LIST-1", "LIST-1:LIST-USER"])
    );
    let both = by(|f| {
        f.device_id = Some("LIST-1".into());
        f.kind = Some(EnrollType::User);
    });
    assert_eq!(
        ids(&list_all(&store, &both, 1).await),
        set(&["LIST-1:LIST-USER"])
    );
    let none = by(|f| f.serial_number = Some("SN-NOBODY".into()));
    assert!(list_all(&store, &none, 1).await.is_empty());

    let one = store
        .enrollment(devices[2].id.id())
        .await
        .expect("enrollment")
        .expect("LIST-3 is known");
    assert_eq!(one.id.as_str(), "LIST-3");
    assert_eq!(one.kind, EnrollType::Device);
    assert_eq!(one.device_id.as_str(), "LIST-3");
    assert!(one.enabled);
    assert_eq!(one.serial_number.as_deref(), Some("SNLIST-3"));
    assert!(recent(one.last_seen_at), "last seen {:?}", one.last_seen_at);
    assert!(recent(one.created_at), "created {:?}", one.created_at);
    assert!(recent(one.updated_at), "updated {:?}", one.updated_at);

    let u = store.enrollment(user.id.id()).await.expect("enrollment");
    let u = u.expect("the user channel is known");
    assert_eq!(u.kind, EnrollType::User);
    assert_eq!(u.device_id.as_str(), "LIST-1");
    assert_eq!(u.serial_number.as_deref(), Some("SNLIST-1"), "its device's");

    let disabled = store
        .enrollment(devices[1].id.id())
        .await
        .expect("enrollment");
    assert!(!disabled.expect("LIST-2 is known").enabled);
    for unknown in ["LIST-AUTH-ONLY", "LIST-NOBODY"] {
        let id = EnrollmentId::from(unknown);
        assert_eq!(
            store.enrollment(&id).await.expect("enrollment"),
            None,
            "{unknown}"
        );
    }
}

/// Paging while other enrollments arrive: every enrollment that was there from the start is
/// listed exactly once, whatever arrives before or after the cursor.
pub async fn list_enrollments_while_enrolling<S: Storage + 'static>(store: S) {
    let store = Arc::new(store);
    let before: Vec<String> = (0..40).map(|i| format!("PAGE-{i:03}")).collect();
    for id in &before {
        Device::new(id).enroll(&*store).await;
    }
    let enrolling = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                // Ids that sort among, before and after the ones being paged through.
                for id in [
                    format!("PAGE-{i:03}-NEW"),
                    format!("PAGA-{i:03}"),
                    format!("PAGZ-{i:03}"),
                ] {
                    Device::new(&id).enroll(&*store).await;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    for _ in 0..3 {
        let listed = ids(&list_all(&*store, &EnrollmentFilter::default(), 7).await);
        for id in &before {
            assert!(
                listed.contains(id),
                "{id} was there all along but not listed"
            );
        }
    }
    enrolling.await.expect("enrolling task");
    let listed = list_all(&*store, &EnrollmentFilter::default(), 13).await;
    assert_eq!(listed.len(), 40 + 3 * 40);
}

/// An enrollment's queue lists in delivery order with its NotNow marks; one command or the
/// whole queue can be removed, for that enrollment alone.
pub async fn queue_inspection(store: impl Storage) {
    let d = Device::new("QI-1");
    let other = Device::new("QI-2");
    d.enroll(&store).await;
    other.enroll(&store).await;
    let user = d.user("QI-USER");
    user.token_update_with(&store).await;
    let ids = [
        d.id.id().clone(),
        other.id.id().clone(),
        user.id.id().clone(),
    ];
    for (uuid, priority) in [("QI-A", 0), ("QI-B", 5), ("QI-C", 0)] {
        let failed = store
            .enqueue_command(&ids, &command(uuid), priority)
            .await
            .expect("enqueue");
        assert!(failed.is_empty());
    }
    assert_eq!(
        send_report(&store, &d.id, Some("QI-B"), Status::NotNow).await,
        crate::ReportOutcome::NotNow
    );

    let queue = store.queued_commands(d.id.id(), 100).await.expect("queue");
    let order: Vec<&str> = queue.iter().map(|c| c.command_uuid.as_str()).collect();
    assert_eq!(order, ["QI-B", "QI-A", "QI-C"], "delivery order");
    let states: Vec<QueueState> = queue.iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [QueueState::NotNow, QueueState::Queued, QueueState::Queued]
    );
    assert!(queue.iter().all(|c| c.request_type == "DeviceInformation"));
    assert!(queue.iter().all(|c| recent(c.created_at)));
    let two = store.queued_commands(d.id.id(), 2).await.expect("queue");
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].command_uuid, "QI-B");

    assert!(
        store
            .remove_queued_command(d.id.id(), "QI-A")
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_queued_command(d.id.id(), "QI-A")
            .await
            .expect("remove again")
    );
    assert!(
        !store
            .remove_queued_command(d.id.id(), "QI-NONE")
            .await
            .expect("remove unknown")
    );
    let order: Vec<String> = store
        .queued_commands(d.id.id(), 100)
        .await
        .expect("queue")
        .into_iter()
        .map(|c| c.command_uuid)
        .collect();
    assert_eq!(order, ["QI-B", "QI-C"]);
    assert_eq!(
        next_uuid(&store, &other.id, false).await.as_deref(),
        Some("QI-B")
    );
    assert_eq!(
        store
            .queued_commands(other.id.id(), 100)
            .await
            .expect("queue")
            .len(),
        3,
        "others keep theirs"
    );

    assert_eq!(
        store
            .clear_enrollment_queue(d.id.id())
            .await
            .expect("clear"),
        2
    );
    assert!(
        store
            .queued_commands(d.id.id(), 100)
            .await
            .expect("queue")
            .is_empty()
    );
    assert_eq!(next_uuid(&store, &d.id, false).await, None);
    assert_eq!(
        next_uuid(&store, &user.id, false).await.as_deref(),
        Some("QI-B"),
        "the device's user channel keeps its queue"
    );
    assert_eq!(
        store
            .clear_enrollment_queue(d.id.id())
            .await
            .expect("clear again"),
        0
    );
    // A removed command answered later is not queued there any more.
    assert_eq!(
        send_report(&store, &d.id, Some("QI-C"), Status::Acknowledged).await,
        crate::ReportOutcome::NotQueued
    );

    let unknown = EnrollmentId::from("QI-NOBODY");
    assert!(
        store
            .queued_commands(&unknown, 100)
            .await
            .expect("queue")
            .is_empty()
    );
    assert!(
        !store
            .remove_queued_command(&unknown, "QI-B")
            .await
            .expect("remove")
    );
    assert_eq!(
        store.clear_enrollment_queue(&unknown).await.expect("clear"),
        0
    );
}

/// A command's record: each enrollment's state and its last report, byte-exact. Where answered
/// commands are deleted as answered, a final answer takes the enrollment out of the record (and
/// the last one, the command).
pub async fn command_results(store: impl Storage, expect: Expectations) {
    let kept = !expect.answered_commands_deleted;
    let devices: Vec<Device> = (1..=4).map(|i| Device::new(&format!("CR-{i}"))).collect();
    for d in &devices {
        d.enroll(&store).await;
    }
    let [acked, not_now, waiting, cleared] = [0, 1, 2, 3].map(|i| &devices[i].id);
    let x = command("CR-X");
    enqueue(&store, &[acked, not_now, waiting, cleared], &x).await;
    assert_eq!(command_record(&store, "CR-NONE").await, None);

    let (_, ack_raw) = report(acked, Some("CR-X"), Status::Acknowledged);
    send_report(&store, acked, Some("CR-X"), Status::Acknowledged).await;
    let (_, not_now_raw) = report(not_now, Some("CR-X"), Status::NotNow);
    send_report(&store, not_now, Some("CR-X"), Status::NotNow).await;
    store
        .clear_enrollment_queue(cleared.id())
        .await
        .expect("clear");

    let record = command_record(&store, "CR-X")
        .await
        .expect("CR-X is stored");
    assert_eq!(record.command_uuid, "CR-X");
    assert_eq!(record.request_type, "DeviceInformation");
    assert!(recent(record.created_at));
    let listed: Vec<&str> = record.deliveries.iter().map(|d| d.id.as_str()).collect();
    if kept {
        assert_eq!(
            listed,
            ["CR-1", "CR-2", "CR-3"],
            "cleared before answering: not listed"
        );
        let a = &record.deliveries[0];
        assert_eq!(a.state, DeliveryState::Reported(Status::Acknowledged));
        assert_eq!(
            a.report.as_deref(),
            Some(&ack_raw[..]),
            "the report, byte-exact"
        );
        assert!(recent(a.updated_at));
    } else {
        assert_eq!(
            listed,
            ["CR-2", "CR-3"],
            "answered (deleted) and cleared: not listed"
        );
    }
    let n = record.deliveries.iter().find(|d| d.id.as_str() == "CR-2");
    let n = n.expect("CR-2 answered NotNow");
    assert_eq!(n.state, DeliveryState::NotNow);
    assert_eq!(
        n.report.as_deref(),
        Some(&not_now_raw[..]),
        "the report, byte-exact"
    );
    let w = record.deliveries.iter().find(|d| d.id.as_str() == "CR-3");
    let w = w.expect("CR-3 waits");
    assert_eq!(w.state, DeliveryState::Queued);
    assert_eq!(w.report, None);
    assert!(recent(w.updated_at));

    // A NotNow'd command taken out of the queue keeps its report, as reported (unless removal
    // deletes, as answers do).
    store
        .clear_enrollment_queue(not_now.id())
        .await
        .expect("clear");
    let record = command_record(&store, "CR-X")
        .await
        .expect("CR-X is stored");
    let n = record.deliveries.iter().find(|d| d.id.as_str() == "CR-2");
    if kept {
        let n = n.expect("CR-2 reported");
        assert_eq!(n.state, DeliveryState::Reported(Status::NotNow));
        assert_eq!(n.report.as_deref(), Some(&not_now_raw[..]));
    } else {
        assert!(n.is_none(), "removed with its result");
    }

    // An error report replaces nothing of the others'.
    let (_, err_raw) = report(waiting, Some("CR-X"), Status::Error);
    send_report(&store, waiting, Some("CR-X"), Status::Error).await;
    let record = command_record(&store, "CR-X").await;
    if kept {
        let record = record.expect("CR-X is stored");
        let w = record.deliveries.iter().find(|d| d.id.as_str() == "CR-3");
        let w = w.expect("CR-3 reported");
        assert_eq!(w.state, DeliveryState::Reported(Status::Error));
        assert_eq!(w.report.as_deref(), Some(&err_raw[..]));
        assert_eq!(record.deliveries.len(), 3);
    } else {
        assert_eq!(
            record, None,
            "the last enrollment answered: the command is gone"
        );
    }
}

/// Retention deletes commands no queue waits on, with their results, and only those enqueued
/// before the cut-off; a command still queued (or NotNow'd) anywhere stays, and is still
/// delivered byte-exact. Where answered commands are deleted as answered, nothing is left for
/// retention, and what waits is kept all the same.
pub async fn retention(store: impl Storage, expect: Expectations) {
    let kept = !expect.answered_commands_deleted;
    let a = Device::new("RET-1");
    let b = Device::new("RET-2");
    a.enroll(&store).await;
    b.enroll(&store).await;
    let done = command("RET-DONE");
    let half = command("RET-HALF");
    let not_now = command("RET-NOTNOW");
    let cleared = command("RET-CLEARED");
    enqueue(&store, &[&a.id, &b.id], &done).await;
    enqueue(&store, &[&a.id, &b.id], &half).await;
    enqueue(&store, &[&a.id], &not_now).await;
    enqueue(&store, &[&b.id], &cleared).await;
    for (id, uuid, status) in [
        (&a.id, "RET-DONE", Status::Acknowledged),
        (&b.id, "RET-DONE", Status::Error),
        (&a.id, "RET-HALF", Status::Acknowledged),
        (&a.id, "RET-NOTNOW", Status::NotNow),
    ] {
        send_report(&store, id, Some(uuid), status).await;
    }
    store
        .remove_queued_command(b.id.id(), "RET-CLEARED")
        .await
        .expect("remove");

    let hour = Duration::from_secs(3600);
    let long_ago = SystemTime::now() - hour;
    assert_eq!(
        store
            .delete_answered_commands_batch(long_ago, 10)
            .await
            .expect("sweep"),
        0,
        "nothing is that old"
    );
    assert_eq!(command_record(&store, "RET-DONE").await.is_some(), kept);

    let later = SystemTime::now() + hour;
    let deleted = delete_answered_commands(&store, later, 1)
        .await
        .expect("sweep");
    if kept {
        assert_eq!(deleted, 2, "RET-DONE and RET-CLEARED, one batch at a time");
    } else {
        assert_eq!(deleted, 0, "answered and removed commands are gone already");
    }
    assert_eq!(command_record(&store, "RET-DONE").await, None);
    assert_eq!(command_record(&store, "RET-CLEARED").await, None);
    let half_record = command_record(&store, "RET-HALF")
        .await
        .expect("RET-HALF waits on RET-2");
    let parts = if kept { 2 } else { 1 };
    assert_eq!(
        half_record.deliveries.len(),
        parts,
        "its answered part is kept with it"
    );
    assert!(command_record(&store, "RET-NOTNOW").await.is_some());
    assert_eq!(
        store
            .delete_answered_commands_batch(later, 10)
            .await
            .expect("sweep again"),
        0
    );

    let next = store
        .retrieve_next_command(&b.id, false)
        .await
        .expect("next");
    let next = next.expect("RET-HALF is still queued for RET-2");
    assert_eq!(next.bytes(), half.bytes());
    let next = store
        .retrieve_next_command(&a.id, false)
        .await
        .expect("next");
    assert_eq!(next.expect("RET-NOTNOW").bytes(), not_now.bytes());
    // A deleted command's UUID is free again, as the row is gone.
    enqueue(&store, &[&a.id], &done).await;
}

/// Retention sweeping while devices work: enrollments keep being sent commands and answering
/// them (some `NotNow` first) while sweeps delete what was answered. No call fails, every
/// command reaches its device once and whole, and in the end exactly the answered commands are
/// gone (with the suite's default expectations; in delete mode they are gone as answered).
pub async fn retention_under_load<S: Storage + 'static>(store: S) {
    const DEVICES: usize = 4;
    const PER_DEVICE: usize = 25;
    let store = Arc::new(store);
    let devices: Vec<Device> = (0..DEVICES)
        .map(|i| Device::new(&format!("RETLOAD-{i}")))
        .collect();
    for d in &devices {
        d.enroll(&*store).await;
    }
    let working: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..PER_DEVICE {
                    let sent = command(&format!("RETLOAD-{i}-{n:03}"));
                    enqueue(&*store, &[&d.id], &sent).await;
                    let got = store.retrieve_next_command(&d.id, false).await;
                    let got = got.expect("next").expect("the command just queued");
                    assert_eq!(got.bytes(), sent.bytes(), "delivered whole");
                    if n % 3 == 0 {
                        let outcome =
                            send_report(&*store, &d.id, Some(&sent.command_uuid), Status::NotNow)
                                .await;
                        assert_eq!(outcome, crate::ReportOutcome::NotNow);
                    }
                    let outcome = send_report(
                        &*store,
                        &d.id,
                        Some(&sent.command_uuid),
                        Status::Acknowledged,
                    )
                    .await;
                    assert_eq!(
                        outcome,
                        crate::ReportOutcome::Final,
                        "{}",
                        sent.command_uuid
                    );
                    tokio::task::yield_now().await;
                }
                // One last command stays queued, answered NotNow.
                let last = command(&format!("RETLOAD-{i}-LAST"));
                enqueue(&*store, &[&d.id], &last).await;
                send_report(&*store, &d.id, Some(&last.command_uuid), Status::NotNow).await;
            })
        })
        .collect();
    let sweeping = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut deleted = 0;
            for _ in 0..20 {
                let later = SystemTime::now() + Duration::from_secs(3600);
                deleted += delete_answered_commands(&*store, later, 7)
                    .await
                    .expect("sweep under load");
                tokio::task::yield_now().await;
            }
            deleted
        })
    };
    for w in working {
        if let Err(e) = w.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    sweeping.await.expect("sweeping task");
    let later = SystemTime::now() + Duration::from_secs(3600);
    delete_answered_commands(&*store, later, 100)
        .await
        .expect("final sweep");
    for i in 0..DEVICES {
        for n in 0..PER_DEVICE {
            let uuid = format!("RETLOAD-{i}-{n:03}");
            assert_eq!(
                command_record(&*store, &uuid).await,
                None,
                "{uuid} answered, kept"
            );
        }
        let last = format!("RETLOAD-{i}-LAST");
        let record = command_record(&*store, &last).await;
        let record = record.unwrap_or_else(|| panic!("{last} waits, deleted"));
        assert_eq!(record.deliveries[0].state, DeliveryState::NotNow);
        let d = Device::new(&format!("RETLOAD-{i}"));
        assert_eq!(
            next_uuid(&*store, &d.id, false).await.as_deref(),
            Some(last.as_str())
        );
    }
}
