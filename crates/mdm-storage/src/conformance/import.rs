//! Cases for [`ImportStore`], which is not part of [`Storage`]: a backend that implements it
//! runs [`run_import`] beside [`run`](super::run).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mdm_enrollment::EnrollId;
use mdm_proto::Status;
use mdm_proto::plist::{Dictionary, Value};

use super::fixtures::{Device, command, report};
use super::{case, next_uuid, push_ids, send_report, tally};
use crate::{
    CheckInWrite, DeliveryState, ImportStore, ImportedCommandResult, ImportedEnrollment,
    ImportedEnrollmentState, ImportedQueue, ImportedQueueItem, QueueState, ReportOutcome, Storage,
    StorageError,
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
    case("import_batch", import_batch(make_store().await)).await;
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

/// The batch methods. Check-ins in one call, one outcome each (an unknown device's TokenUpdate
/// and a user channel's Authenticate refused, the rest stored). Enrollments in one call, one
/// outcome each: queues in order behind what is queued, NotNow marks, results, states; one
/// whose command reuses a `CommandUUID` of the same batch with other bytes gets
/// `DuplicateCommand` and nothing of it is written; an unknown one `UnknownEnrollment`. The
/// same batch again changes nothing. Certificate bindings in one call.
pub async fn import_batch(store: impl Storage + ImportStore) {
    let [a, b, c] = ["IMPB-A", "IMPB-B", "IMPB-C"].map(Device::new);
    let user = a.user("IMPB-USER");
    let nobody = Device::new("IMPB-NOBODY");
    let auths = [&a, &b, &c].map(Device::authenticate);
    let tokens = [&a, &b, &c].map(Device::token_update);
    let (user_auth, user_auth_raw) = user.user_authenticate();
    let (user_token, user_token_raw) = user.token_update();
    let (nobody_token, nobody_token_raw) = nobody.token_update();
    let devices = [&a, &b, &c];
    let auth = |n: usize| CheckInWrite::Authenticate {
        id: &devices[n].id,
        msg: &auths[n].0,
        raw: &auths[n].1,
        identity_cert_der: None,
    };
    let token = |n: usize| CheckInWrite::TokenUpdate {
        id: &devices[n].id,
        msg: &tokens[n].0,
        raw: &tokens[n].1,
    };
    let writes = [
        auth(0),
        token(0),
        CheckInWrite::UserAuthenticate {
            id: &user.id,
            msg: &user_auth,
            raw: &user_auth_raw,
        },
        CheckInWrite::TokenUpdate {
            id: &user.id,
            msg: &user_token,
            raw: &user_token_raw,
        },
        auth(1),
        token(1),
        CheckInWrite::TokenUpdate {
            id: &nobody.id,
            msg: &nobody_token,
            raw: &nobody_token_raw,
        },
        CheckInWrite::Authenticate {
            id: &user.id,
            msg: &auths[0].0,
            raw: &auths[0].1,
            identity_cert_der: None,
        },
        auth(2),
        token(2),
    ];
    let stored = store
        .store_check_ins(&writes)
        .await
        .expect("store_check_ins");
    assert_eq!(stored.len(), writes.len());
    for (n, outcome) in stored.iter().enumerate() {
        match n {
            6 => assert!(
                matches!(outcome, Err(StorageError::UnknownEnrollment(_))),
                "{outcome:?}"
            ),
            7 => assert!(
                matches!(outcome, Err(StorageError::DeviceChannelOnly(_))),
                "{outcome:?}"
            ),
            _ => assert!(outcome.is_ok(), "check-in {n}: {outcome:?}"),
        }
    }
    let ids = [
        a.id.id(),
        b.id.id(),
        c.id.id(),
        user.id.id(),
        nobody.id.id(),
    ];
    assert_eq!(push_ids(&store, &ids).await.len(), 4, "all but the unknown");
    assert_eq!(tally(&store, &user.id).await, 1);

    super::enqueue(&store, &[&b.id], &command("IMPB-0")).await;
    let [one, two, three, fresh] = ["IMPB-1", "IMPB-2", "IMPB-3", "IMPB-FRESH"].map(command);
    let mut payload = Dictionary::new();
    payload.insert("Identifier".into(), Value::String("x".into()));
    let forged = mdm_proto::Command::build("IMPB-1", "RemoveProfile", payload);
    let done = command("IMPB-DONE");
    let (_, done_report) = report(&a.id, Some("IMPB-DONE"), Status::Acknowledged);
    let (_, not_now) = report(&b.id, Some("IMPB-2"), Status::NotNow);
    let item = |command| ImportedQueueItem {
        command,
        not_now_report: None,
    };
    let queue_a = [item(&one), item(&two)];
    let queue_user = [item(&three)];
    let queue_b = [
        item(&one),
        ImportedQueueItem {
            command: &two,
            not_now_report: Some(&not_now),
        },
        item(&three),
    ];
    let queue_c = [item(&fresh), item(&forged)];
    let results_a = [ImportedCommandResult {
        command: &done,
        status: "Acknowledged",
        report: &done_report,
    }];
    let state = |tally, enabled| ImportedEnrollmentState {
        token_update_tally: tally,
        enabled,
        last_seen_unix_micros: None,
        unlock_token: None,
    };
    let (state_a, state_user, state_b, state_c) = (
        state(2, true),
        state(3, true),
        state(1, false),
        state(5, true),
    );
    let enrollment = |id, state, queue, results| ImportedEnrollment {
        id,
        state,
        queue,
        results,
    };
    let batch = [
        enrollment(&a.id, &state_a, &queue_a[..], &results_a[..]),
        enrollment(&user.id, &state_user, &queue_user[..], &[]),
        enrollment(&b.id, &state_b, &queue_b[..], &[]),
        enrollment(&c.id, &state_c, &queue_c[..], &[]),
        enrollment(&nobody.id, &state_a, &[], &[]),
    ];
    let queued = |queued, already_queued| ImportedQueue {
        queued,
        already_queued,
    };
    for (run, expected) in [(1, [(2, 0), (1, 0), (3, 0)]), (2, [(0, 2), (0, 1), (0, 3)])] {
        let outcomes = store
            .import_enrollments(&batch)
            .await
            .expect("import_enrollments");
        assert_eq!(outcomes.len(), batch.len());
        for (n, (q, already)) in expected.into_iter().enumerate() {
            assert_eq!(
                outcomes[n].as_ref().ok(),
                Some(&queued(q, already)),
                "run {run}, enrollment {n}: {:?}",
                outcomes[n]
            );
        }
        assert!(
            matches!(outcomes[3], Err(StorageError::DuplicateCommand(ref u)) if u == "IMPB-1"),
            "run {run}: {:?}",
            outcomes[3]
        );
        assert!(
            matches!(outcomes[4], Err(StorageError::UnknownEnrollment(_))),
            "run {run}: {:?}",
            outcomes[4]
        );

        let order = |queue: Vec<crate::QueuedCommand>| -> Vec<(String, QueueState)> {
            queue
                .into_iter()
                .map(|c| (c.command_uuid, c.state))
                .collect()
        };
        let queued_b = order(store.queued_commands(b.id.id(), 10).await.expect("queue"));
        let expected_b = [
            ("IMPB-0", QueueState::Queued),
            ("IMPB-1", QueueState::Queued),
            ("IMPB-2", QueueState::NotNow),
            ("IMPB-3", QueueState::Queued),
        ]
        .map(|(u, s)| (u.to_owned(), s));
        assert_eq!(queued_b, expected_b, "run {run}");
        let queued_a = order(store.queued_commands(a.id.id(), 10).await.expect("queue"));
        let expected_a = [
            ("IMPB-1", QueueState::Queued),
            ("IMPB-2", QueueState::Queued),
        ]
        .map(|(u, s)| (u.to_owned(), s));
        assert_eq!(queued_a, expected_a, "run {run}");
        let queued_c = store.queued_commands(c.id.id(), 10).await.expect("queue");
        assert!(
            queued_c.is_empty(),
            "run {run}: nothing written for the refused one"
        );
        let fresh_held = store.command("IMPB-FRESH").await.expect("command");
        assert!(
            fresh_held.is_none(),
            "run {run}: its new command was not kept"
        );
        assert_eq!(
            tally(&store, &c.id).await,
            1,
            "run {run}: its state was not set"
        );
        assert_eq!(tally(&store, &a.id).await, 2);
        assert_eq!(tally(&store, &user.id).await, 3);
        assert!(push_ids(&store, &[b.id.id()]).await.is_empty(), "disabled");
    }
    let next = store
        .retrieve_next_command(&a.id, false)
        .await
        .expect("next");
    assert_eq!(next.expect("IMPB-1").bytes(), one.bytes(), "byte-exact");
    assert_eq!(
        next_uuid(&store, &user.id, false).await.as_deref(),
        Some("IMPB-3")
    );
    let record = store.command("IMPB-DONE").await.expect("command");
    let record = record.expect("the imported result's command is held");
    assert_eq!(record.deliveries.len(), 1);
    assert_eq!(
        record.deliveries[0].state,
        DeliveryState::Reported(Status::Acknowledged)
    );
    assert_eq!(
        record.deliveries[0].report.as_deref(),
        Some(&done_report[..])
    );

    let hash = |n: u8| -> mdm_proto::CertHash { format!("{n:064x}").parse().expect("a hash") };
    let bindings = [(a.id.clone(), hash(1)), (b.id.clone(), hash(2))];
    for _ in 0..2 {
        store
            .associate_cert_hashes(&bindings)
            .await
            .expect("associate_cert_hashes");
    }
    assert!(
        store
            .is_cert_hash_associated(&a.id, &hash(1))
            .await
            .expect("lookup")
    );
    let bound = store.enrollment_from_cert_hash(&hash(2)).await;
    assert_eq!(bound.expect("lookup").as_ref(), Some(b.id.id()));
}
