//! MultiStore: writes reach every store, reads come from the first, the others' errors are
//! only logged.

use std::sync::Arc;

use mdm_proto::CertHash;
use mdm_proto::Status;
use mdm_storage::conformance::fixtures::{Device, command, report};
use mdm_storage::{
    CertAuthStore, CertBindMode, CertBinding, CommandQueue, DynStorage, MemoryStore, MultiStore,
    PushStore, ReportOutcome, TokenUpdateTallyStore,
};

#[tokio::test]
async fn writes_reach_every_store_and_reads_come_from_the_first() {
    let first = Arc::new(MemoryStore::new());
    let second = Arc::new(MemoryStore::new());
    let multi = MultiStore::new(first.clone(), vec![DynStorage::from_arc(second.clone())]);

    let d = Device::new("MULTI-1");
    d.enroll(&multi).await;
    for store in [&first, &second] {
        let push = store
            .retrieve_push_info(std::slice::from_ref(d.id.id()))
            .await
            .unwrap();
        assert_eq!(push.get(d.id.id()), Some(&d.push()));
    }

    // Only the second store has a command: the multi-store does not see it.
    let failed = second
        .enqueue_command(std::slice::from_ref(d.id.id()), &command("SECOND-ONLY"), 0)
        .await
        .unwrap();
    assert!(failed.is_empty());
    assert!(
        multi
            .retrieve_next_command(&d.id, false)
            .await
            .unwrap()
            .is_none()
    );

    // A report the first store takes and the second does not know still succeeds, with the
    // first store's outcome.
    multi
        .enqueue_command(std::slice::from_ref(d.id.id()), &command("BOTH"), 0)
        .await
        .unwrap();
    let (msg, raw) = report(&d.id, Some("BOTH"), Status::Acknowledged);
    assert_eq!(
        multi.store_command_report(&d.id, &msg, &raw).await.unwrap(),
        ReportOutcome::Final
    );
    let next = second.retrieve_next_command(&d.id, false).await.unwrap();
    assert_eq!(
        next.map(|c| c.command_uuid.clone()).as_deref(),
        Some("SECOND-ONLY")
    );
}

#[tokio::test]
async fn another_store_failing_does_not_fail_the_call() {
    let first = Arc::new(MemoryStore::new());
    let second = Arc::new(MemoryStore::new());
    let multi = MultiStore::new(first.clone(), vec![DynStorage::from_arc(second.clone())]);
    let d = Device::new("MULTI-2");
    // Authenticated in the first store only: the second refuses the TokenUpdate.
    d.authenticate_with(&*first).await;
    d.token_update_with(&multi).await;
    assert_eq!(first.retrieve_token_update_tally(&d.id).await.unwrap(), 1);
    assert_eq!(second.retrieve_token_update_tally(&d.id).await.unwrap(), 0);

    // And the first store's error is the caller's.
    let unknown = Device::new("MULTI-UNKNOWN");
    let (msg, raw) = unknown.token_update();
    assert!(
        mdm_storage::CheckInStore::store_token_update(&multi, &unknown.id, &msg, &raw)
            .await
            .is_err()
    );
}

/// A certificate bind is decided by the first store alone; the others get the binding it made,
/// and nothing when it refused.
#[tokio::test]
async fn cert_binds_are_decided_by_the_first_store_and_mirrored() {
    let first = Arc::new(MemoryStore::new());
    let second = Arc::new(MemoryStore::new());
    let multi = MultiStore::new(first.clone(), vec![DynStorage::from_arc(second.clone())]);
    let (a, b) = (Device::new("MULTI-CERT-A"), Device::new("MULTI-CERT-B"));
    let hash = &CertHash::from_bytes([0xab; 32]);
    // The second store already has the hash bound elsewhere: it is not asked.
    second.associate_cert_hash(&b.id, hash).await.unwrap();

    let bind = multi.bind_cert_hash(&a.id, hash, CertBindMode::Authenticate);
    assert_eq!(bind.await.unwrap(), CertBinding::Bound);
    assert!(second.is_cert_hash_associated(&a.id, hash).await.unwrap());

    let bind = multi.bind_cert_hash(&b.id, hash, CertBindMode::Authenticate);
    assert_eq!(
        bind.await.unwrap(),
        CertBinding::BoundElsewhere(a.id.id().clone())
    );
    assert!(!first.is_cert_hash_associated(&b.id, hash).await.unwrap());
}
