//! One enrollment's MDM traffic, for tests that look at what the store does per request.

use mdm_proto::Status;
use mdm_storage::Storage;
use mdm_storage::conformance::fixtures::{Device, command, report};

/// One enrollment's MDM traffic as the reference server drives it: enrollment, an enqueued
/// command, Idle, NotNow and Acknowledged reports each followed by the next-command lookup.
pub async fn mdm_round(store: &impl Storage, n: usize) {
    let d = Device::new(&format!("CACHE-{n}"));
    d.enroll(store).await;
    let c = command(&format!("CACHE-C{n}"));
    let failed = store
        .enqueue_command(std::slice::from_ref(d.id.id()), &c, 0)
        .await
        .expect("enqueue");
    assert!(failed.is_empty());
    let uuid = Some(c.command_uuid.as_str());
    for (uuid, status) in [
        (None, Status::Idle),
        (uuid, Status::NotNow),
        (uuid, Status::Acknowledged),
    ] {
        let (msg, raw) = report(&d.id, uuid, status);
        store
            .store_command_report(&d.id, &msg, &raw)
            .await
            .expect("report");
        store
            .retrieve_next_command(&d.id, false)
            .await
            .expect("next command");
    }
}
