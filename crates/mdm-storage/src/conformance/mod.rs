//! The conformance suite every storage backend runs: the same assertions, one place.
//!
//! A backend's test calls [`run`] with a function that makes a fresh, empty store; each case
//! gets its own store. Every case is also a public async function, so a backend can run one
//! alone while debugging. A failing case panics with its name. The suite uses only the public
//! traits, and needs a Tokio runtime (the concurrency case spawns tasks). [`fixtures`] builds the
//! messages, for a backend's own tests and benchmarks too.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! mdm_storage::conformance::run(|| async { mdm_storage::MemoryStore::new() }).await;
//! # }
//! ```

pub mod fixtures;
mod import;
mod inspection;

pub use import::{import_batch, import_queue, import_results, import_state, run_import};
pub use inspection::{
    command_results, list_enrollments, list_enrollments_while_enrolling, queue_inspection,
    retention, retention_under_load,
};

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use mdm_enrollment::{EnrollId, EnrollmentId};
use mdm_proto::{CertHash, Command, Enrollment, PushInfo, Raw, Secret, SetBootstrapToken, Status};

use crate::{CertBindMode, CertBinding, ReportOutcome, Storage, StorageError};
use fixtures::{Device, TOPIC, binary_command, command, padded_report, report};

/// Where a backend is allowed to differ from the suite's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Expectations {
    /// Answered commands are deleted as they are answered, with their results (NanoMDM's
    /// `delete=1`): inspection then shows no final results, and retention has nothing left.
    pub answered_commands_deleted: bool,
}

impl Expectations {
    /// The store deletes answered commands with their results ([`Self::answered_commands_deleted`]).
    pub fn answered_commands_deleted(mut self) -> Self {
        self.answered_commands_deleted = true;
        self
    }
}

/// Runs every case, each on a store from `make_store`. Panics, naming the case, on the first
/// failure.
pub async fn run<S, F, Fut>(make_store: F)
where
    S: Storage + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    run_expecting(Expectations::default(), make_store).await;
}

/// [`run`] for a backend that differs from the defaults as `expect` says.
pub async fn run_expecting<S, F, Fut>(expect: Expectations, mut make_store: F)
where
    S: Storage + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! cases {
        ($($name:ident),* $(,)?) => {
            $( case(stringify!($name), $name(make_store().await)).await; )*
        };
    }
    cases!(
        enroll,
        re_enroll,
        token_update_tally,
        check_ins_need_an_authenticated_device,
        bootstrap_token_round_trip,
        cert_binding,
        cert_retro_binding,
        cert_bind_outcomes,
        concurrent_cert_binds,
        push_info_skips_unknown_and_disabled,
        push_cert_staleness,
        queue_is_fifo_and_byte_exact,
        queue_priority,
        not_now_then_idle,
        report_and_next_command,
        clear_queue,
        one_command_to_many_ids,
        user_channels,
        unknown_command_report_leaves_queue_intact,
        duplicate_command_uuid,
        migration_order,
        concurrent_enqueue_and_report,
        list_enrollments,
        list_enrollments_while_enrolling,
        queue_inspection,
        retention_under_load,
    );
    case(
        "command_results",
        command_results(make_store().await, expect),
    )
    .await;
    case("retention", retention(make_store().await, expect)).await;
}

async fn case(name: &str, body: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(body).catch_unwind().await {
        let msg = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(non-string panic)");
        panic!("storage conformance case `{name}` failed: {msg}");
    }
}

async fn send_report(
    store: &impl Storage,
    id: &EnrollId,
    uuid: Option<&str>,
    status: Status,
) -> ReportOutcome {
    let (msg, raw) = report(id, uuid, status);
    store
        .store_command_report(id, &msg, &raw)
        .await
        .expect("store_command_report")
}

async fn next_uuid(store: &impl Storage, id: &EnrollId, skip_not_now: bool) -> Option<String> {
    store
        .retrieve_next_command(id, skip_not_now)
        .await
        .expect("retrieve_next_command")
        .map(|c| c.command_uuid.clone())
}

async fn enqueue(store: &impl Storage, ids: &[&EnrollId], command: &Raw<Command>) {
    let ids: Vec<EnrollmentId> = ids.iter().map(|i| i.id().clone()).collect();
    let failed = store
        .enqueue_command(&ids, command, 0)
        .await
        .expect("enqueue_command");
    assert!(failed.is_empty(), "enqueue failed for {failed:?}");
}

async fn tally(store: &impl Storage, id: &EnrollId) -> u32 {
    store
        .retrieve_token_update_tally(id)
        .await
        .expect("retrieve_token_update_tally")
}

async fn push_ids(store: &impl Storage, ids: &[&EnrollmentId]) -> HashMap<EnrollmentId, PushInfo> {
    let ids: Vec<EnrollmentId> = ids.iter().map(|&id| id.clone()).collect();
    store
        .retrieve_push_info(&ids)
        .await
        .expect("retrieve_push_info")
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// Authenticate then TokenUpdate makes an enabled enrollment with push info and tally 1; an
/// Authenticate on a user channel is refused.
pub async fn enroll(store: impl Storage) {
    let d = Device::new("ENROLL-1");
    d.authenticate_with(&store).await;
    assert_eq!(tally(&store, &d.id).await, 0, "no TokenUpdate yet");
    assert!(
        push_ids(&store, &[d.id.id()]).await.is_empty(),
        "no push info before the first TokenUpdate"
    );
    d.token_update_with(&store).await;
    assert_eq!(tally(&store, &d.id).await, 1);
    let push = push_ids(&store, &[d.id.id()]).await;
    assert_eq!(push.get(d.id.id()), Some(&d.push()));

    let user = d.user("U1");
    let (msg, raw) = d.authenticate();
    let err = store
        .store_authenticate(&user.id, &msg, &raw, None)
        .await
        .expect_err("Authenticate on a user channel");
    assert!(
        matches!(err, StorageError::DeviceChannelOnly(ref id) if id == user.id.id()),
        "{err:?}"
    );
}

/// A second Authenticate starts over: bootstrap token and tally reset; the enrollment is back
/// once a TokenUpdate follows the disable.
pub async fn re_enroll(store: impl Storage) {
    let d = Device::new("REENROLL-1");
    d.enroll(&store).await;
    d.token_update_with(&store).await;
    assert_eq!(tally(&store, &d.id).await, 2);
    let set = SetBootstrapToken::new(
        Enrollment::default(),
        Some(Secret::new(b"bootstrap".to_vec())),
    );
    store.store_bootstrap_token(&d.id, &set).await.unwrap();

    d.authenticate_with(&store).await;
    assert_eq!(
        tally(&store, &d.id).await,
        0,
        "Authenticate resets the tally"
    );
    assert_eq!(
        store.retrieve_bootstrap_token(&d.id).await.unwrap(),
        None,
        "Authenticate forgets the bootstrap token"
    );
    // What a server does after Authenticate.
    store.clear_queue(&d.id).await.unwrap();
    store.disable(&d.id).await.unwrap();
    assert!(push_ids(&store, &[d.id.id()]).await.is_empty());

    d.token_update_with(&store).await;
    assert_eq!(tally(&store, &d.id).await, 1);
    assert_eq!(
        push_ids(&store, &[d.id.id()]).await.get(d.id.id()),
        Some(&d.push())
    );
}

/// The tally counts TokenUpdates per channel, is 0 for unknown ids, and resets on disable.
pub async fn token_update_tally(store: impl Storage) {
    let d = Device::new("TALLY-1");
    assert_eq!(tally(&store, &d.id).await, 0, "unknown id");
    d.enroll(&store).await;
    for _ in 0..3 {
        d.token_update_with(&store).await;
    }
    assert_eq!(tally(&store, &d.id).await, 4);
    let user = d.user("U1");
    user.token_update_with(&store).await;
    assert_eq!(
        tally(&store, &user.id).await,
        1,
        "user channel counts alone"
    );
    assert_eq!(tally(&store, &d.id).await, 4);
    store.disable(&d.id).await.unwrap();
    assert_eq!(tally(&store, &d.id).await, 0);
    assert_eq!(tally(&store, &user.id).await, 0);
}

/// TokenUpdate and UserAuthenticate need the device's Authenticate first.
pub async fn check_ins_need_an_authenticated_device(store: impl Storage) {
    let d = Device::new("NOAUTH-1");
    let (msg, raw) = d.token_update();
    let err = store
        .store_token_update(&d.id, &msg, &raw)
        .await
        .expect_err("TokenUpdate without Authenticate");
    assert!(
        matches!(err, StorageError::UnknownEnrollment(ref id) if id == d.id.id()),
        "{err:?}"
    );
    let user = d.user("U1");
    let (msg, raw) = user.token_update();
    let err = store
        .store_token_update(&user.id, &msg, &raw)
        .await
        .expect_err("user TokenUpdate without the device");
    assert!(
        matches!(err, StorageError::UnknownEnrollment(ref id) if id == d.id.id()),
        "{err:?}"
    );
    let (msg, raw) = user.user_authenticate();
    let err = store
        .store_user_authenticate(&user.id, &msg, &raw)
        .await
        .expect_err("UserAuthenticate without the device");
    assert!(matches!(err, StorageError::UnknownEnrollment(_)), "{err:?}");
    assert_eq!(tally(&store, &d.id).await, 0);
    assert!(store.disable(&d.id).await.is_ok(), "disable of unknown id");
}

/// The bootstrap token round-trips, clears, and belongs to device channels.
pub async fn bootstrap_token_round_trip(store: impl Storage) {
    let d = Device::new("BST-1");
    assert_eq!(store.retrieve_bootstrap_token(&d.id).await.unwrap(), None);
    let set = SetBootstrapToken::new(Enrollment::default(), Some(Secret::new(b"token".to_vec())));
    let err = store
        .store_bootstrap_token(&d.id, &set)
        .await
        .expect_err("unknown device");
    assert!(matches!(err, StorageError::UnknownEnrollment(_)), "{err:?}");

    d.enroll(&store).await;
    assert_eq!(store.retrieve_bootstrap_token(&d.id).await.unwrap(), None);
    // Every byte value, to catch a backend that stores it as text.
    let token: Vec<u8> = (0..=255).collect();
    let set = SetBootstrapToken::new(Enrollment::default(), Some(Secret::new(token.clone())));
    store.store_bootstrap_token(&d.id, &set).await.unwrap();
    let got = store.retrieve_bootstrap_token(&d.id).await.unwrap();
    assert_eq!(got.map(|t| t.bootstrap_token), Some(Secret::new(token)));

    store
        .store_bootstrap_token(&d.id, &SetBootstrapToken::default())
        .await
        .unwrap();
    assert_eq!(
        store.retrieve_bootstrap_token(&d.id).await.unwrap(),
        None,
        "a SetBootstrapToken without a token clears it"
    );

    let user = d.user("U1");
    let err = store
        .store_bootstrap_token(&user.id, &set)
        .await
        .expect_err("user channel");
    assert!(matches!(err, StorageError::DeviceChannelOnly(_)), "{err:?}");
    let err = store
        .retrieve_bootstrap_token(&user.id)
        .await
        .expect_err("user channel");
    assert!(matches!(err, StorageError::DeviceChannelOnly(_)), "{err:?}");
}

/// A certificate hash for the tests: `first`, 30 zero bytes, `last`.
const fn test_hash(first: u8, last: u8) -> CertHash {
    let mut bytes = [0u8; 32];
    bytes[0] = first;
    bytes[31] = last;
    CertHash::from_bytes(bytes)
}

const HASH_A: CertHash = test_hash(0xaa, 1);
const HASH_B: CertHash = test_hash(0xbb, 2);

/// Bindings work in both directions, per device channel, case-insensitively.
pub async fn cert_binding(store: impl Storage) {
    let d = Device::new("CERT-1");
    let other = Device::new("CERT-2");
    assert!(!store.has_cert_hash(&HASH_A).await.unwrap());
    assert!(!store.enrollment_has_cert_hash(&d.id).await.unwrap());
    assert_eq!(
        store.enrollment_from_cert_hash(&HASH_A).await.unwrap(),
        None
    );

    store.associate_cert_hash(&d.id, &HASH_A).await.unwrap();
    // Binding again is harmless.
    store.associate_cert_hash(&d.id, &HASH_A).await.unwrap();
    assert!(store.has_cert_hash(&HASH_A).await.unwrap());
    assert!(store.enrollment_has_cert_hash(&d.id).await.unwrap());
    assert!(store.is_cert_hash_associated(&d.id, &HASH_A).await.unwrap());
    assert!(
        store.is_cert_hash_associated(&d.id, &HASH_A).await.unwrap(),
        "hashes compare in lowercase"
    );
    assert!(!store.is_cert_hash_associated(&d.id, &HASH_B).await.unwrap());
    assert!(
        !store
            .is_cert_hash_associated(&other.id, &HASH_A)
            .await
            .unwrap()
    );
    assert!(!store.enrollment_has_cert_hash(&other.id).await.unwrap());
    assert_eq!(
        store.enrollment_from_cert_hash(&HASH_A).await.unwrap(),
        Some(d.id.id().clone())
    );

    // A user channel is bound through its device channel.
    let user = d.user("U1");
    assert!(store.enrollment_has_cert_hash(&user.id).await.unwrap());
    assert!(
        store
            .is_cert_hash_associated(&user.id, &HASH_A)
            .await
            .unwrap()
    );
}

/// Retro binding: an enrollment without a binding gets one; a renewed certificate adds a hash.
pub async fn cert_retro_binding(store: impl Storage) {
    let d = Device::new("RETRO-1");
    d.enroll(&store).await;
    assert!(!store.enrollment_has_cert_hash(&d.id).await.unwrap());
    store.associate_cert_hash(&d.id, &HASH_A).await.unwrap();
    assert!(store.enrollment_has_cert_hash(&d.id).await.unwrap());
    store.associate_cert_hash(&d.id, &HASH_B).await.unwrap();
    assert!(store.is_cert_hash_associated(&d.id, &HASH_A).await.unwrap());
    assert!(store.is_cert_hash_associated(&d.id, &HASH_B).await.unwrap());
    assert_eq!(
        store.enrollment_from_cert_hash(&HASH_B).await.unwrap(),
        Some(d.id.id().clone())
    );
}

/// `bind_cert_hash`: each outcome, in both modes, per device channel, case-insensitively.
pub async fn cert_bind_outcomes(store: impl Storage) {
    use CertBindMode::{Authenticate, Retro};
    let d = Device::new("BIND-1");
    let other = Device::new("BIND-2");
    let bind = |id: &EnrollId, hash: &CertHash, mode| {
        let (id, hash) = (id.clone(), *hash);
        let store = &store;
        async move { store.bind_cert_hash(&id, &hash, mode).await.expect("bind") }
    };

    assert_eq!(bind(&d.id, &HASH_A, Authenticate).await, CertBinding::Bound);
    assert!(store.is_cert_hash_associated(&d.id, &HASH_A).await.unwrap());
    assert_eq!(
        bind(&d.id, &HASH_A, Authenticate).await,
        CertBinding::AlreadyBound
    );
    assert_eq!(bind(&d.id, &HASH_A, Retro).await, CertBinding::AlreadyBound);
    // A user channel is its device channel.
    let user = d.user("U1");
    assert_eq!(
        bind(&user.id, &HASH_A, Authenticate).await,
        CertBinding::AlreadyBound
    );

    // Bound elsewhere: refused in both modes, nothing written.
    for mode in [Authenticate, Retro] {
        assert_eq!(
            bind(&other.id, &HASH_A, mode).await,
            CertBinding::BoundElsewhere(d.id.id().clone()),
            "{mode:?}"
        );
    }
    assert!(!store.enrollment_has_cert_hash(&other.id).await.unwrap());

    // Retro binds only where the channel holds nothing; Authenticate adds a renewed hash.
    assert_eq!(
        bind(&d.id, &HASH_B, Retro).await,
        CertBinding::EnrollmentBound
    );
    assert!(!store.has_cert_hash(&HASH_B).await.unwrap());
    assert_eq!(bind(&d.id, &HASH_B, Authenticate).await, CertBinding::Bound);
    assert!(store.is_cert_hash_associated(&d.id, &HASH_A).await.unwrap());
    assert!(store.is_cert_hash_associated(&d.id, &HASH_B).await.unwrap());

    let fresh = test_hash(0xcc, 3);
    assert_eq!(bind(&other.id, &fresh, Retro).await, CertBinding::Bound);
    assert_eq!(
        store.enrollment_from_cert_hash(&fresh).await.unwrap(),
        Some(other.id.id().clone())
    );
}

/// Binds racing each other: many device channels binding one fresh hash at the same moment
/// (in either mode), and many fresh hashes retro-binding to one channel. Exactly one bind wins
/// each race, every loser is told why, and the store holds only the winner's binding.
pub async fn concurrent_cert_binds<S: Storage + 'static>(store: S) {
    const TASKS: usize = 24;
    const ROUNDS: usize = 4;
    let store = Arc::new(store);

    /// Runs `TASKS` binds, released together; their outcomes, in task order.
    async fn race<S: Storage + 'static>(
        store: &Arc<S>,
        binds: Vec<(EnrollId, CertHash, CertBindMode)>,
    ) -> Vec<CertBinding> {
        let ready = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = binds
            .into_iter()
            .map(|(id, hash, mode)| {
                let (store, ready) = (store.clone(), ready.clone());
                tokio::spawn(async move {
                    ready.fetch_add(1, Ordering::SeqCst);
                    while ready.load(Ordering::SeqCst) < TASKS {
                        tokio::task::yield_now().await;
                    }
                    store.bind_cert_hash(&id, &hash, mode).await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("bind task").expect("bind_cert_hash"));
        }
        outcomes
    }

    for round in 0..ROUNDS {
        // One fresh hash, many channels.
        let hash = test_hash(0xd0, round as u8);
        let mode = [CertBindMode::Authenticate, CertBindMode::Retro][round % 2];
        let devices: Vec<Device> = (0..TASKS)
            .map(|t| Device::new(&format!("RACE-{round}-{t:02}")))
            .collect();
        let binds = devices.iter().map(|d| (d.id.clone(), hash, mode)).collect();
        let outcomes = race(&store, binds).await;
        let winners: Vec<&Device> = devices
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == CertBinding::Bound)
            .map(|(d, _)| d)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round} ({mode:?}): {} binds of one hash won: {outcomes:?}",
            winners.len()
        );
        let winner = winners[0].id.id();
        for (d, outcome) in devices.iter().zip(&outcomes) {
            if d.id.id() == winner {
                continue;
            }
            assert_eq!(
                *outcome,
                CertBinding::BoundElsewhere(winner.clone()),
                "round {round}: {}",
                d.id.id()
            );
            assert!(
                !store.enrollment_has_cert_hash(&d.id).await.unwrap(),
                "round {round}: the loser {} holds a binding",
                d.id.id()
            );
        }
        assert_eq!(
            store
                .enrollment_from_cert_hash(&hash)
                .await
                .unwrap()
                .as_ref(),
            Some(winner)
        );

        // Many fresh hashes, one unbound channel, retro: one binding where there was none.
        let d = Device::new(&format!("RACE-RETRO-{round}"));
        let hashes: Vec<CertHash> = (0..TASKS)
            .map(|t| test_hash(0xe0 | round as u8, t as u8))
            .collect();
        let binds = hashes
            .iter()
            .map(|h| (d.id.clone(), *h, CertBindMode::Retro))
            .collect();
        let outcomes = race(&store, binds).await;
        let won: Vec<&CertHash> = hashes
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == CertBinding::Bound)
            .map(|(h, _)| h)
            .collect();
        assert_eq!(won.len(), 1, "round {round}: retro binds won: {outcomes:?}");
        for (h, outcome) in hashes.iter().zip(&outcomes) {
            let bound = store.is_cert_hash_associated(&d.id, h).await.unwrap();
            assert_eq!(bound, h == won[0], "round {round}: {h}");
            if h != won[0] {
                assert_eq!(*outcome, CertBinding::EnrollmentBound, "round {round}");
                assert!(!store.has_cert_hash(h).await.unwrap(), "round {round}: {h}");
            }
        }
    }
}

/// Push info for unknown, Authenticate-only and disabled ids is absent, not an error.
pub async fn push_info_skips_unknown_and_disabled(store: impl Storage) {
    let enrolled = Device::new("PUSH-1");
    let disabled = Device::new("PUSH-2");
    let authenticated = Device::new("PUSH-3");
    enrolled.enroll(&store).await;
    disabled.enroll(&store).await;
    store.disable(&disabled.id).await.unwrap();
    authenticated.authenticate_with(&store).await;

    let push = push_ids(
        &store,
        &[
            enrolled.id.id(),
            &EnrollmentId::new("UNKNOWN"),
            disabled.id.id(),
            authenticated.id.id(),
            enrolled.id.id(),
        ],
    )
    .await;
    assert_eq!(push.len(), 1, "{push:?}");
    assert_eq!(push.get(enrolled.id.id()), Some(&enrolled.push()));
    assert!(push_ids(&store, &[]).await.is_empty());

    // Many ids at once (backends may split the lookup).
    let many: Vec<EnrollmentId> = (0..1500)
        .map(|i| EnrollmentId::new(format!("MISSING-{i}")))
        .chain([enrolled.id.id().clone()])
        .collect();
    let push = store.retrieve_push_info(&many).await.unwrap();
    assert_eq!(push.keys().collect::<Vec<_>>(), [enrolled.id.id()]);
}

/// The stale token changes when a topic's certificate is replaced, and only then.
pub async fn push_cert_staleness(store: impl Storage) {
    const OTHER: &str = "com.apple.mgmt.External.other";
    assert_eq!(store.retrieve_push_cert(TOPIC).await.unwrap(), None);
    assert!(
        store.is_push_cert_stale(TOPIC, 0).await.unwrap(),
        "no certificate: anything held is stale"
    );
    let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let key = "-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n";
    store.store_push_cert(TOPIC, cert, key).await.unwrap();
    let first = store
        .retrieve_push_cert(TOPIC)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        (first.cert_pem.as_str(), first.key_pem.expose().as_str()),
        (cert, key)
    );
    assert!(
        !store
            .is_push_cert_stale(TOPIC, first.stale_token)
            .await
            .unwrap()
    );

    store.store_push_cert(OTHER, cert, key).await.unwrap();
    assert!(
        !store
            .is_push_cert_stale(TOPIC, first.stale_token)
            .await
            .unwrap(),
        "another topic's renewal leaves this one fresh"
    );

    let renewed = cert.replace("AAAA", "CCCC");
    store.store_push_cert(TOPIC, &renewed, key).await.unwrap();
    assert!(
        store
            .is_push_cert_stale(TOPIC, first.stale_token)
            .await
            .unwrap()
    );
    let second = store
        .retrieve_push_cert(TOPIC)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(second.cert_pem, renewed);
    assert_ne!(second.stale_token, first.stale_token);
    assert!(
        !store
            .is_push_cert_stale(TOPIC, second.stale_token)
            .await
            .unwrap()
    );
}

/// Commands come out in the order they went in, byte-exact, until answered.
pub async fn queue_is_fifo_and_byte_exact(store: impl Storage) {
    let d = Device::new("FIFO-1");
    d.enroll(&store).await;
    assert!(
        store
            .retrieve_next_command(&d.id, false)
            .await
            .unwrap()
            .is_none()
    );
    let commands = [
        command("FIFO-C1"),
        binary_command("FIFO-C2"),
        command("FIFO-C3"),
    ];
    for c in &commands {
        enqueue(&store, &[&d.id], c).await;
    }
    for c in &commands {
        for _ in 0..2 {
            let next = store
                .retrieve_next_command(&d.id, false)
                .await
                .unwrap()
                .expect("a queued command");
            assert_eq!(next.command_uuid, c.command_uuid, "FIFO");
            assert_eq!(next.request_type, c.request_type);
            assert_eq!(next.bytes(), c.bytes(), "byte-exact");
        }
        let outcome = send_report(&store, &d.id, Some(&c.command_uuid), Status::Acknowledged).await;
        assert_eq!(outcome, ReportOutcome::Final);
    }
    assert_eq!(next_uuid(&store, &d.id, false).await, None);
    // Every final status ends the command's life, including ones this crate does not know.
    for (uuid, status) in [
        ("FIFO-E1", Status::Error),
        ("FIFO-E2", Status::CommandFormatError),
        ("FIFO-E3", Status::Other("SomethingNew".into())),
    ] {
        enqueue(&store, &[&d.id], &command(uuid)).await;
        assert_eq!(
            send_report(&store, &d.id, Some(uuid), status).await,
            ReportOutcome::Final
        );
        assert_eq!(next_uuid(&store, &d.id, false).await, None);
    }
}

/// Higher priority first; FIFO within a priority.
pub async fn queue_priority(store: impl Storage) {
    let d = Device::new("PRIO-1");
    d.enroll(&store).await;
    let ids = [d.id.id().clone()];
    for (uuid, priority) in [
        ("P-LOW-1", 0),
        ("P-HIGH-1", 5),
        ("P-LOW-2", 0),
        ("P-HIGH-2", 5),
    ] {
        let failed = store
            .enqueue_command(&ids, &command(uuid), priority)
            .await
            .unwrap();
        assert!(failed.is_empty());
    }
    for expected in ["P-HIGH-1", "P-HIGH-2", "P-LOW-1", "P-LOW-2"] {
        assert_eq!(
            next_uuid(&store, &d.id, false).await.as_deref(),
            Some(expected)
        );
        send_report(&store, &d.id, Some(expected), Status::Acknowledged).await;
    }
}

/// NotNow keeps the command, skipped for one response; after Idle it comes back first.
pub async fn not_now_then_idle(store: impl Storage) {
    let d = Device::new("NOTNOW-1");
    d.enroll(&store).await;
    enqueue(&store, &[&d.id], &command("NN-1")).await;
    enqueue(&store, &[&d.id], &command("NN-2")).await;

    assert_eq!(
        next_uuid(&store, &d.id, false).await.as_deref(),
        Some("NN-1")
    );
    assert_eq!(
        send_report(&store, &d.id, Some("NN-1"), Status::NotNow).await,
        ReportOutcome::NotNow
    );
    assert_eq!(
        next_uuid(&store, &d.id, true).await.as_deref(),
        Some("NN-2")
    );
    assert_eq!(
        send_report(&store, &d.id, Some("NN-2"), Status::NotNow).await,
        ReportOutcome::NotNow
    );
    assert_eq!(
        next_uuid(&store, &d.id, true).await,
        None,
        "both NotNow: nothing for this response"
    );
    assert_eq!(
        send_report(&store, &d.id, None, Status::Idle).await,
        ReportOutcome::Idle
    );
    assert_eq!(
        next_uuid(&store, &d.id, false).await.as_deref(),
        Some("NN-1")
    );
    assert_eq!(
        send_report(&store, &d.id, Some("NN-1"), Status::Acknowledged).await,
        ReportOutcome::Final
    );
    assert_eq!(
        next_uuid(&store, &d.id, false).await.as_deref(),
        Some("NN-2")
    );
    // A second NotNow for the same command is still a NotNow.
    assert_eq!(
        send_report(&store, &d.id, Some("NN-2"), Status::NotNow).await,
        ReportOutcome::NotNow
    );
    assert_eq!(
        send_report(&store, &d.id, Some("NN-2"), Status::Error).await,
        ReportOutcome::Final
    );
    assert_eq!(next_uuid(&store, &d.id, false).await, None);
}

/// `report_and_next_command` answers as `store_command_report` then `retrieve_next_command`
/// (passing over NotNow'd commands after a NotNow): outcomes, order, NotNow handling, bytes,
/// user channels, repeated and unknown reports.
pub async fn report_and_next_command(store: impl Storage) {
    let d = Device::new("RAN-1");
    d.enroll(&store).await;
    let user = d.user("RAN-U");
    let (msg, raw) = user.token_update();
    store
        .store_token_update(&user.id, &msg, &raw)
        .await
        .expect("user TokenUpdate");
    let commands = [
        command("RAN-C1"),
        binary_command("RAN-C2"),
        command("RAN-C3"),
    ];
    for c in &commands {
        enqueue(&store, &[&d.id], c).await;
    }
    enqueue(&store, &[&user.id], &command("RAN-U1")).await;
    let answer = async |id: &EnrollId, uuid: Option<&str>, status: Status| {
        let (msg, raw) = report(id, uuid, status);
        let (outcome, next) = store
            .report_and_next_command(id, &msg, &raw)
            .await
            .expect("report_and_next_command");
        if let Some(next) = &next {
            let sent = commands
                .iter()
                .find(|c| c.command_uuid == next.command_uuid)
                .map_or_else(|| command(&next.command_uuid), Clone::clone);
            assert_eq!(next.bytes(), sent.bytes(), "byte-exact");
            assert_eq!(next.request_type, sent.request_type);
        }
        (outcome, next.map(|n| n.command_uuid.clone()))
    };
    let some = |uuid: &str| Some(uuid.to_owned());
    use ReportOutcome::{Final, Idle, NotNow, NotQueued};
    use Status::{Acknowledged, Error, Idle as IdleStatus, NotNow as NotNowStatus};

    assert_eq!(
        answer(&d.id, None, IdleStatus).await,
        (Idle, some("RAN-C1"))
    );
    assert_eq!(
        answer(&d.id, None, IdleStatus).await,
        (Idle, some("RAN-C1"))
    );
    // NotNow passes over what was put off, this one included, for this answer only.
    assert_eq!(
        answer(&d.id, Some("RAN-C1"), NotNowStatus).await,
        (NotNow, some("RAN-C2"))
    );
    assert_eq!(
        answer(&d.id, Some("RAN-C2"), NotNowStatus).await,
        (NotNow, some("RAN-C3"))
    );
    // A final status: the put-off commands are next again, in order.
    assert_eq!(
        answer(&d.id, Some("RAN-C3"), Acknowledged).await,
        (Final, some("RAN-C1"))
    );
    assert_eq!(
        answer(&d.id, Some("RAN-C1"), NotNowStatus).await,
        (NotNow, None),
        "all put off"
    );
    assert_eq!(
        answer(&d.id, None, IdleStatus).await,
        (Idle, some("RAN-C1"))
    );
    assert_eq!(
        answer(&d.id, Some("RAN-C1"), Error).await,
        (Final, some("RAN-C2"))
    );
    // A repeated answer, and one for a command never queued here, change nothing.
    assert_eq!(
        answer(&d.id, Some("RAN-C1"), Acknowledged).await,
        (NotQueued, some("RAN-C2"))
    );
    assert_eq!(
        answer(&d.id, Some("RAN-U1"), Acknowledged).await,
        (NotQueued, some("RAN-C2"))
    );
    assert_eq!(
        answer(&d.id, Some("RAN-C2"), Acknowledged).await,
        (Final, None)
    );
    // The user channel's queue is its own.
    assert_eq!(
        answer(&user.id, None, IdleStatus).await,
        (Idle, some("RAN-U1"))
    );
    assert_eq!(
        answer(&user.id, Some("RAN-U1"), Acknowledged).await,
        (Final, None)
    );
    // An enrollment the store does not know gets nothing, and is no error.
    let stranger = EnrollId::device("RAN-UNKNOWN");
    assert_eq!(answer(&stranger, None, IdleStatus).await, (Idle, None));
    assert_eq!(
        answer(&stranger, Some("RAN-C3"), Acknowledged).await,
        (NotQueued, None)
    );

    // Values that would end a quoted SQL literal, and a result longer than a dialect writes
    // inline (MySQL: 1 MiB): stored as reported, byte-exact, either way.
    let odd = "RAN-'\"\\;--\u{e9}\u{1f600}";
    let odd_command = command(odd);
    enqueue(&store, &[&d.id], &odd_command).await;
    for padding in [0, (1 << 20) + 1] {
        let (msg, raw) = padded_report(&d.id, Some(odd), NotNowStatus, padding);
        let (outcome, next) = store
            .report_and_next_command(&d.id, &msg, &raw)
            .await
            .expect("report_and_next_command");
        assert_eq!((outcome, next), (NotNow, None), "padding {padding}");
        let record = store.command(odd).await.expect("command").expect("stored");
        let reported = record.deliveries.first().and_then(|d| d.report.as_deref());
        assert_eq!(reported, Some(&raw[..]), "padding {padding}: byte-exact");
    }
    let (outcome, next) = answer(&d.id, None, IdleStatus).await;
    assert_eq!((outcome, next.as_deref()), (Idle, Some(odd)));
    assert_eq!(answer(&d.id, Some(odd), Acknowledged).await, (Final, None));
}

/// Clearing a device channel clears its user channels; clearing a user channel clears only it.
pub async fn clear_queue(store: impl Storage) {
    let d = Device::new("CLEAR-1");
    let other = Device::new("CLEAR-2");
    d.enroll(&store).await;
    other.enroll(&store).await;
    let user = d.user("U1");
    user.token_update_with(&store).await;

    enqueue(&store, &[&d.id, &user.id, &other.id], &command("CLR-1")).await;
    enqueue(&store, &[&d.id], &command("CLR-2")).await;
    send_report(&store, &d.id, Some("CLR-1"), Status::NotNow).await;
    store.clear_queue(&d.id).await.unwrap();
    assert_eq!(next_uuid(&store, &d.id, false).await, None);
    assert_eq!(
        next_uuid(&store, &user.id, false).await,
        None,
        "user channel"
    );
    assert_eq!(
        next_uuid(&store, &other.id, false).await.as_deref(),
        Some("CLR-1"),
        "another device keeps its queue"
    );
    assert_eq!(
        send_report(&store, &d.id, Some("CLR-2"), Status::Acknowledged).await,
        ReportOutcome::NotQueued,
        "a cleared command is no longer queued"
    );

    enqueue(&store, &[&d.id, &user.id], &command("CLR-3")).await;
    store.clear_queue(&user.id).await.unwrap();
    assert_eq!(next_uuid(&store, &user.id, false).await, None);
    assert_eq!(
        next_uuid(&store, &d.id, false).await.as_deref(),
        Some("CLR-3"),
        "clearing a user channel leaves the device's queue"
    );
    store
        .clear_queue(&Device::new("CLEAR-UNKNOWN").id)
        .await
        .expect("clearing an unknown id");
}

/// One command to many ids: per-id results, each id answers on its own.
pub async fn one_command_to_many_ids(store: impl Storage) {
    let a = Device::new("MANY-A");
    let b = Device::new("MANY-B");
    a.enroll(&store).await;
    b.enroll(&store).await;
    let ids = [
        a.id.id().clone(),
        b.id.id().clone(),
        EnrollmentId::new("MANY-UNKNOWN"),
        a.id.id().clone(),
    ];
    let failed = store
        .enqueue_command(&ids, &command("MANY-1"), 0)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        matches!(failed.get("MANY-UNKNOWN"), Some(StorageError::UnknownEnrollment(id)) if id == "MANY-UNKNOWN"),
        "{failed:?}"
    );
    assert_eq!(
        next_uuid(&store, &a.id, false).await.as_deref(),
        Some("MANY-1")
    );
    assert_eq!(
        next_uuid(&store, &b.id, false).await.as_deref(),
        Some("MANY-1")
    );
    assert_eq!(
        send_report(&store, &a.id, Some("MANY-1"), Status::Acknowledged).await,
        ReportOutcome::Final
    );
    assert_eq!(
        send_report(&store, &a.id, Some("MANY-1"), Status::Acknowledged).await,
        ReportOutcome::NotQueued,
        "listed twice, queued once"
    );
    assert_eq!(next_uuid(&store, &a.id, false).await, None);
    assert_eq!(
        next_uuid(&store, &b.id, false).await.as_deref(),
        Some("MANY-1"),
        "b has not answered"
    );

    // No id known: nothing stored, so the CommandUUID is still free.
    let unknown = [EnrollmentId::new("MANY-X"), EnrollmentId::new("MANY-Y")];
    let failed = store
        .enqueue_command(&unknown, &command("MANY-2"), 0)
        .await
        .unwrap();
    assert_eq!(failed.len(), 2);
    enqueue(&store, &[&a.id], &command("MANY-2")).await;
    assert_eq!(
        next_uuid(&store, &a.id, false).await.as_deref(),
        Some("MANY-2")
    );

    let failed = store
        .enqueue_command(&[], &command("MANY-3"), 0)
        .await
        .unwrap();
    assert!(failed.is_empty());
}

/// User channels: their own push info and tally, their own CheckOut, and the device's CheckOut
/// reaching them.
pub async fn user_channels(store: impl Storage) {
    let d = Device::new("USERS-1");
    d.enroll(&store).await;
    let u1 = d.user("U1");
    let u2 = d.user("U2");
    let (msg, raw) = u1.user_authenticate();
    store
        .store_user_authenticate(&u1.id, &msg, &raw)
        .await
        .unwrap();
    u1.token_update_with(&store).await;
    u2.token_update_with(&store).await;
    assert_eq!(tally(&store, &u1.id).await, 1);
    let push = push_ids(&store, &[d.id.id(), u1.id.id(), u2.id.id()]).await;
    assert_eq!(push.len(), 3);
    assert_eq!(push.get(u1.id.id()), Some(&u1.push()));

    // A user channel's queue is its own.
    enqueue(&store, &[&u1.id], &command("USR-1")).await;
    assert_eq!(next_uuid(&store, &d.id, false).await, None);
    assert_eq!(
        next_uuid(&store, &u1.id, false).await.as_deref(),
        Some("USR-1")
    );
    assert_eq!(
        send_report(&store, &u1.id, Some("USR-1"), Status::Acknowledged).await,
        ReportOutcome::Final
    );

    // User-channel CheckOut disables only that channel (NanoMDM answers 500 here).
    store.disable(&u1.id).await.expect("user-channel CheckOut");
    let push = push_ids(&store, &[d.id.id(), u1.id.id(), u2.id.id()]).await;
    assert!(!push.contains_key(u1.id.id()));
    assert!(push.contains_key(d.id.id()) && push.contains_key(u2.id.id()));
    u1.token_update_with(&store).await;
    assert!(
        push_ids(&store, &[u1.id.id()])
            .await
            .contains_key(u1.id.id())
    );

    // Device-channel CheckOut disables its user channels.
    store.disable(&d.id).await.unwrap();
    assert!(
        push_ids(&store, &[d.id.id(), u1.id.id(), u2.id.id()])
            .await
            .is_empty()
    );
}

/// A report for a command that is not queued for the enrollment stores nothing and wipes
/// nothing.
pub async fn unknown_command_report_leaves_queue_intact(store: impl Storage) {
    let a = Device::new("UNK-A");
    let b = Device::new("UNK-B");
    a.enroll(&store).await;
    b.enroll(&store).await;
    enqueue(&store, &[&a.id], &command("UNK-1")).await;
    enqueue(&store, &[&a.id], &command("UNK-2")).await;

    for status in [Status::Acknowledged, Status::Error, Status::NotNow] {
        assert_eq!(
            send_report(&store, &a.id, Some("NEVER-ENQUEUED"), status).await,
            ReportOutcome::NotQueued
        );
    }
    assert_eq!(
        send_report(&store, &b.id, Some("UNK-1"), Status::Acknowledged).await,
        ReportOutcome::NotQueued,
        "queued for another enrollment"
    );
    let ghost = Device::new("UNK-GHOST");
    assert_eq!(
        send_report(&store, &ghost.id, Some("UNK-1"), Status::Acknowledged).await,
        ReportOutcome::NotQueued
    );
    assert_eq!(
        send_report(&store, &ghost.id, None, Status::Idle).await,
        ReportOutcome::Idle
    );
    assert_eq!(
        next_uuid(&store, &a.id, false).await.as_deref(),
        Some("UNK-1")
    );
    assert_eq!(
        send_report(&store, &a.id, Some("UNK-1"), Status::Acknowledged).await,
        ReportOutcome::Final
    );
    // The device repeats its report (the response was lost): nothing changes.
    assert_eq!(
        send_report(&store, &a.id, Some("UNK-1"), Status::Acknowledged).await,
        ReportOutcome::NotQueued
    );
    assert_eq!(
        send_report(&store, &a.id, Some("UNK-1"), Status::NotNow).await,
        ReportOutcome::NotQueued,
        "a late NotNow does not bring an answered command back"
    );
    assert_eq!(
        next_uuid(&store, &a.id, false).await.as_deref(),
        Some("UNK-2")
    );
}

/// A reused CommandUUID fails the whole call and leaves the first command as it was.
pub async fn duplicate_command_uuid(store: impl Storage) {
    let a = Device::new("DUP-A");
    let b = Device::new("DUP-B");
    a.enroll(&store).await;
    b.enroll(&store).await;
    let original = command("DUP-1");
    enqueue(&store, &[&a.id], &original).await;
    let impostor = binary_command("DUP-1");
    let err = store
        .enqueue_command(std::slice::from_ref(b.id.id()), &impostor, 0)
        .await
        .expect_err("duplicate CommandUUID");
    assert!(
        matches!(err, StorageError::DuplicateCommand(ref uuid) if uuid == "DUP-1"),
        "{err:?}"
    );
    assert_eq!(next_uuid(&store, &b.id, false).await, None);
    let next = store
        .retrieve_next_command(&a.id, false)
        .await
        .unwrap()
        .expect("still queued");
    assert_eq!(next.bytes(), original.bytes());
    // Reused for ids none of which is known: still a duplicate, not a quiet no-op.
    let err = store
        .enqueue_command(&["DUP-NOBODY".into()], &impostor, 0)
        .await
        .expect_err("duplicate CommandUUID for unknown ids");
    assert!(
        matches!(err, StorageError::DuplicateCommand(ref uuid) if uuid == "DUP-1"),
        "{err:?}"
    );
    // A command that reached no one is not kept: its CommandUUID stays free.
    let failed = store
        .enqueue_command(&["DUP-NOBODY".into()], &command("DUP-2"), 0)
        .await
        .expect("enqueue to an unknown id");
    assert_eq!(failed.len(), 1);
    enqueue(&store, &[&b.id], &command("DUP-2")).await;
    assert_eq!(
        next_uuid(&store, &b.id, false).await.as_deref(),
        Some("DUP-2")
    );
}

/// Migration yields, per device, its Authenticate then its TokenUpdate, then user channels'
/// TokenUpdates — byte-exact.
pub async fn migration_order(store: impl Storage) {
    let d1 = Device::new("MIG-1");
    let d2 = Device::new("MIG-2");
    let d3 = Device::new("MIG-3"); // Authenticate only
    d1.enroll(&store).await;
    let u1 = d1.user("U1");
    u1.token_update_with(&store).await;
    d2.enroll(&store).await;
    d3.authenticate_with(&store).await;
    let u2 = d2.user("U2");
    u2.token_update_with(&store).await;

    let all: Vec<Bytes> = store
        .retrieve_migration_checkins()
        .map(|r| r.expect("migration item"))
        .collect()
        .await;
    let expected: HashSet<Bytes> = [
        d1.authenticate().1,
        d1.token_update().1,
        d2.authenticate().1,
        d2.token_update().1,
        d3.authenticate().1,
        u1.token_update().1,
        u2.token_update().1,
    ]
    .into_iter()
    .collect();
    assert_eq!(all.len(), expected.len(), "one item per stored check-in");
    assert_eq!(all.iter().cloned().collect::<HashSet<_>>(), expected);

    let position = |raw: &Bytes| all.iter().position(|b| b == raw).expect("present");
    for d in [&d1, &d2] {
        assert!(
            position(&d.authenticate().1) < position(&d.token_update().1),
            "Authenticate before TokenUpdate for {}",
            d.udid
        );
    }
    let last_device = [&d1, &d2]
        .iter()
        .map(|d| position(&d.token_update().1))
        .chain([position(&d3.authenticate().1)])
        .max();
    let first_user = [&u1, &u2]
        .iter()
        .map(|u| position(&u.token_update().1))
        .min();
    assert!(last_device < first_user, "user channels after every device");
}

/// Many tasks enqueue and report at once: every command is delivered, none after its final
/// status, none is lost, and each enqueuer's commands first arrive in the order it sent them.
pub async fn concurrent_enqueue_and_report<S: Storage + 'static>(store: S) {
    const DEVICES: usize = 8;
    const ENQUEUERS: usize = 3;
    const PER_ENQUEUER: usize = 10;
    let store = Arc::new(store);
    let devices: Vec<Device> = (0..DEVICES)
        .map(|i| Device::new(&format!("CONC-{i}")))
        .collect();
    for d in &devices {
        d.enroll(&*store).await;
    }
    let ids: Arc<Vec<EnrollmentId>> = Arc::new(devices.iter().map(|d| d.id.id().clone()).collect());
    let done = Arc::new(AtomicBool::new(false));

    let enqueuers: Vec<_> = (0..ENQUEUERS)
        .map(|e| {
            let (store, ids) = (store.clone(), ids.clone());
            tokio::spawn(async move {
                for n in 0..PER_ENQUEUER {
                    let failed = store
                        .enqueue_command(&ids, &command(&format!("CONC-E{e}-{n:03}")), 0)
                        .await
                        .expect("enqueue");
                    assert!(failed.is_empty(), "{failed:?}");
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    let reporters: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let mut finished = HashSet::new();
                let mut seen = HashSet::new();
                let mut last_first_seen: HashMap<String, String> = HashMap::new();
                let mut skip_not_now = false;
                loop {
                    // Read before asking: if enqueuing was over before an empty answer, the
                    // queue is empty for good.
                    let enqueue_over = done.load(Ordering::SeqCst);
                    let next = store
                        .retrieve_next_command(&d.id, skip_not_now)
                        .await
                        .expect("retrieve");
                    let Some(cmd) = next else {
                        if skip_not_now {
                            skip_not_now = false;
                            send_report(&*store, &d.id, None, Status::Idle).await;
                        } else if enqueue_over {
                            break;
                        } else {
                            tokio::task::yield_now().await;
                        }
                        continue;
                    };
                    let uuid = cmd.command_uuid.clone();
                    assert!(
                        !finished.contains(&uuid),
                        "{uuid} delivered after its final status"
                    );
                    let first_time = seen.insert(uuid.clone());
                    if first_time {
                        let enqueuer = uuid.rsplit_once('-').map(|(p, _)| p.to_owned());
                        let enqueuer = enqueuer.expect("uuid shape");
                        if let Some(prev) = last_first_seen.insert(enqueuer, uuid.clone()) {
                            assert!(prev < uuid, "{uuid} arrived before {prev}: not FIFO");
                        }
                    }
                    // Some commands get one NotNow first (which ones varies per device).
                    let status = if first_time && (i + seen.len()) % 3 == 0 {
                        Status::NotNow
                    } else {
                        Status::Acknowledged
                    };
                    let outcome = send_report(&*store, &d.id, Some(&uuid), status.clone()).await;
                    if status == Status::NotNow {
                        assert_eq!(outcome, ReportOutcome::NotNow);
                        skip_not_now = true;
                    } else {
                        assert_eq!(outcome, ReportOutcome::Final, "{uuid}");
                        finished.insert(uuid);
                        skip_not_now = false;
                    }
                }
                finished.len()
            })
        })
        .collect();

    for e in enqueuers {
        if let Err(err) = e.await {
            std::panic::resume_unwind(err.into_panic());
        }
    }
    done.store(true, Ordering::SeqCst);
    for r in reporters {
        match r.await {
            Ok(n) => assert_eq!(n, ENQUEUERS * PER_ENQUEUER, "commands lost"),
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
}
