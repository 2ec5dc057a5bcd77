//! The reader and the import against directories in NanoMDM v0.9's layout, written by
//! `FileKvWriter` from the layout facts: what is read, what is refused (and how precisely), and
//! what lands in the memory and SQLite stores.

use std::path::Path;

use mdm_enrollment::EnrollId;
use mdm_import::filekv::{FileKv, ReadError};
use mdm_import::fixture::FileKvWriter;
use mdm_import::{ImportOptions, ImportReport, SkipReason, import_filekv};
use mdm_storage::{
    BootstrapTokenStore, CertAuthStore, CommandQueue, MemoryStore, PushCertStore, PushStore,
    TokenUpdateTallyStore,
};

const UDID: &str = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9";
const UDID2: &str = "00008103-000A1C2E3F40801E";
const USER: &str = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9:5E6F7A8B-0000-1111-2222-333344445555";
const USER_ID: &str = "5E6F7A8B-0000-1111-2222-333344445555";
const TOPIC: &str = "com.apple.mgmt.External.7d2f5c1e-4b3a-4c8d-9e6f-0a1b2c3d4e5f";

fn plist(body: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>{body}</dict></plist>\n"
    )
    .into_bytes()
}

fn authenticate(udid: &str) -> Vec<u8> {
    plist(&format!(
        "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
         <key>Topic</key><string>{TOPIC}</string><key>SerialNumber</key><string>C02X</string>"
    ))
}

fn token_update(udid: &str, user: Option<&str>) -> Vec<u8> {
    let user = user
        .map(|u| format!("<key>UserID</key><string>{u}</string>"))
        .unwrap_or_default();
    plist(&format!(
        "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>{user}\
         <key>Topic</key><string>{TOPIC}</string><key>PushMagic</key><string>magic-{udid}</string>\
         <key>Token</key><data>AQIDBA==</data>"
    ))
}

fn command(uuid: &str) -> Vec<u8> {
    plist(&format!(
        "<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
         <key>RequestType</key><string>ProfileList</string></dict>"
    ))
}

fn report(udid: &str, uuid: &str, status: &str) -> Vec<u8> {
    plist(&format!(
        "<key>UDID</key><string>{udid}</string><key>CommandUUID</key><string>{uuid}</string>\
         <key>Status</key><string>{status}</string>"
    ))
}

const HASH1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const HASH2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// Two devices (one with a user channel), queues with a NotNow'd command, a multi-target
/// command and an answered one, tokens, bindings and a push certificate.
fn fixture(dir: &Path) -> FileKvWriter {
    let w = FileKvWriter::new(dir);
    let push = |id: &str| (TOPIC.to_owned(), format!("magic-{id}"));
    w.authenticate(
        UDID,
        &authenticate(UDID),
        Some(b"\x30\x03der"),
        Some("C02X"),
    )
    .unwrap();
    let (t, m) = push(UDID);
    w.token_update(
        UDID,
        None,
        "Device",
        &token_update(UDID, None),
        (&t, &m, b"\x01\x02\x03\x04"),
        Some(b"unlock"),
        1_733_577_600_000_000,
    )
    .unwrap();
    w.token_update(
        USER,
        Some(UDID),
        "User",
        &token_update(UDID, Some(USER_ID)),
        (&t, &m, b"\x01\x02\x03\x04"),
        None,
        1_733_577_601_000_000,
    )
    .unwrap();
    w.bootstrap_token(UDID, b"bootstrap-secret").unwrap();
    w.bind_cert_hash(UDID, HASH1).unwrap();

    w.authenticate(UDID2, &authenticate(UDID2), None, None)
        .unwrap();
    let (t, m) = push(UDID2);
    w.token_update(
        UDID2,
        None,
        "Device",
        &token_update(UDID2, None),
        (&t, &m, b"\x05\x06"),
        None,
        1_733_577_602_000_000,
    )
    .unwrap();
    w.token_update(
        UDID2,
        None,
        "Device",
        &token_update(UDID2, None),
        (&t, &m, b"\x05\x06"),
        None,
        1_733_577_603_000_000,
    )
    .unwrap();
    w.bind_cert_hash(UDID2, HASH2).unwrap();

    for uuid in ["c1", "c2", "c3"] {
        w.enqueue(&[UDID], uuid, "ProfileList", &command(uuid))
            .unwrap();
    }
    w.enqueue(&[UDID, UDID2], "multi", "ProfileList", &command("multi"))
        .unwrap();
    w.enqueue(&[USER], "u1", "ProfileList", &command("u1"))
        .unwrap();
    w.report(UDID, "c1", "NotNow", &report(UDID, "c1", "NotNow"))
        .unwrap();
    w.report(
        UDID,
        "c2",
        "Acknowledged",
        &report(UDID, "c2", "Acknowledged"),
    )
    .unwrap();
    w.push_cert(
        TOPIC,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    w
}

#[test]
fn reads_what_nanomdm_wrote() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let mut kv = FileKv::open(dir.path()).unwrap();
    let listing = kv.list().unwrap();
    let ids: Vec<&str> = listing.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, [UDID2, UDID]);
    assert_eq!(listing.devices[1].user_channels, [USER]);
    assert_eq!(listing.cert_bindings.len(), 2);
    assert_eq!(listing.push_certs[0].topic, TOPIC);

    let device = kv.read_device(&listing.devices[1]).unwrap();
    let d = &device.device;
    let queue: Vec<(&str, bool)> = d
        .queue
        .iter()
        .map(|q| (q.command.command_uuid.as_str(), q.not_now_report.is_some()))
        .collect();
    assert_eq!(queue, [("c1", true), ("c3", false), ("multi", false)]);
    assert_eq!(d.results.len(), 1);
    assert_eq!(d.results[0].status, "Acknowledged");
    assert_eq!(d.state.token_update_tally, 1);
    assert!(d.state.enabled);
    assert_eq!(d.state.last_seen_unix_micros, Some(1_733_577_600_000_000));
    assert_eq!(d.state.unlock_token.as_deref(), Some(&b"unlock"[..]));
    assert_eq!(d.bootstrap_token.as_deref(), Some(&b"bootstrap-secret"[..]));
    assert_eq!(device.user_channels[0].id.parent().unwrap().as_str(), UDID);
    assert_eq!(device.user_channels[0].queue.len(), 1);
    let other = kv.read_device(&listing.devices[0]).unwrap();
    assert_eq!(other.device.state.token_update_tally, 2);

    // Read as the import reads them (a batch, read ahead): the same.
    let batch = FileKv::open(dir.path())
        .unwrap()
        .read_devices(&listing.devices);
    assert_eq!(
        format!("{:?}", batch[1].as_ref().unwrap()),
        format!("{device:?}")
    );
    assert_eq!(
        format!("{:?}", batch[0].as_ref().unwrap()),
        format!("{other:?}")
    );
}

/// The last command answered leaves NanoMDM's previous item pointing at it: read as answered.
#[test]
fn a_dangling_link_to_an_answered_command_is_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let w = FileKvWriter::new(dir.path());
    w.authenticate(UDID2, &authenticate(UDID2), None, None)
        .unwrap();
    w.token_update(
        UDID2,
        None,
        "Device",
        &token_update(UDID2, None),
        (TOPIC, "m", b"\x01"),
        None,
        1,
    )
    .unwrap();
    w.enqueue(&[UDID2], "a", "ProfileList", &command("a"))
        .unwrap();
    w.enqueue(&[UDID2], "b", "ProfileList", &command("b"))
        .unwrap();
    w.report(UDID2, "a", "NotNow", &report(UDID2, "a", "NotNow"))
        .unwrap();
    w.report(
        UDID2,
        "b",
        "Acknowledged",
        &report(UDID2, "b", "Acknowledged"),
    )
    .unwrap();
    let mut kv = FileKv::open(dir.path()).unwrap();
    let listing = kv.list().unwrap();
    let device = kv.read_device(&listing.devices[0]).unwrap();
    let queued: Vec<&str> = device
        .device
        .queue
        .iter()
        .map(|q| q.command.command_uuid.as_str())
        .collect();
    assert_eq!(queued, ["a"]);
    assert_eq!(device.device.results.len(), 1);
}

#[test]
fn missing_and_foreign_directories_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = FileKv::open(&missing).unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }), "{err}");
    assert!(err.to_string().contains("nope"), "{err}");
    let err = FileKv::open(dir.path()).unwrap_err();
    assert!(matches!(err, ReadError::NotFileKv { .. }), "{err}");
    assert!(
        err.to_string().contains("not a NanoMDM filekv directory"),
        "{err}"
    );
}

/// Reads every device one by one and as the import does (a batch, read ahead), which must
/// give the same devices and the same errors; the first error.
fn read_all(dir: &Path) -> Result<(), ReadError> {
    let mut kv = FileKv::open(dir)?;
    let listing = kv.list()?;
    let shown = |r: &Result<_, ReadError>| match r {
        Ok(device) => format!("{device:?}"),
        Err(e) => e.to_string(),
    };
    let batch: Vec<String> = kv
        .read_devices(&listing.devices)
        .iter()
        .map(shown)
        .collect();
    let mut one_by_one = Vec::new();
    let mut first = None;
    for entry in &listing.devices {
        let read = kv.read_device(entry);
        one_by_one.push(shown(&read));
        if let Err(e) = read {
            first.get_or_insert(e);
        }
    }
    assert_eq!(batch, one_by_one);
    first.map_or(Ok(()), Err)
}

#[test]
fn truncated_values_name_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let w = fixture(dir.path());
    let auth = authenticate(UDID);
    w.set("devices", &format!("{UDID}.auth"), &auth[..auth.len() / 2])
        .unwrap();
    let err = read_all(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ReadError::Value { .. }), "{text}");
    assert!(
        text.contains(&format!("devices/0A/1B/{UDID}.auth")),
        "{text}"
    );
    assert!(text.contains(&format!("key \"{UDID}.auth\"")), "{text}");
}

#[test]
fn malformed_values_name_file_and_key() {
    let cases: [(&str, String, &[u8], &str); 5] = [
        ("enrollments", format!("{UDID}.tok_tal"), b"x1", "decimal"),
        ("enrollments", format!("{UDID}.last_seen_at"), b"", "empty"),
        (
            "cert_auth",
            format!("{UDID}.cert_hash"),
            b"not-a-hash",
            "certificate hash",
        ),
        ("queue", "c3.raw".to_owned(), b"<plist", "property list"),
        ("queue", "c3.raw".to_owned(), &[], "empty"),
    ];
    for (bucket, key, value, expect) in cases {
        let dir = tempfile::tempdir().unwrap();
        let w = fixture(dir.path());
        w.set(bucket, &key, value).unwrap();
        let err = read_all(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&key) && text.contains(expect),
            "{key}: {text}"
        );
    }
}

#[test]
fn a_command_written_for_another_uuid_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = fixture(dir.path());
    w.set("queue", "c3.raw", &command("other")).unwrap();
    let text = read_all(dir.path()).unwrap_err().to_string();
    assert!(
        text.contains("c3.raw") && text.contains("\"other\""),
        "{text}"
    );
}

#[test]
fn partly_missing_directories_are_errors() {
    // A queued command without its raw plist (a partial copy).
    let dir = tempfile::tempdir().unwrap();
    let w = fixture(dir.path());
    w.delete("queue", "c3.raw").unwrap();
    let err = read_all(dir.path()).unwrap_err();
    assert!(matches!(err, ReadError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("c3.raw"), "{err}");

    // A push certificate without its key.
    let dir = tempfile::tempdir().unwrap();
    let w = fixture(dir.path());
    w.delete("push_cert", &format!("{TOPIC}.key")).unwrap();
    let err = FileKv::open(dir.path()).unwrap().list().unwrap_err();
    assert!(err.to_string().contains(&format!("{TOPIC}.key")), "{err}");

    // A queue that links back on itself.
    let dir = tempfile::tempdir().unwrap();
    let w = fixture(dir.path());
    w.set("queue", &format!("{UDID}.multi.queueitem.next"), b"c1")
        .unwrap();
    let err = read_all(dir.path()).unwrap_err();
    assert!(matches!(err, ReadError::Queue { .. }), "{err}");
}

#[test]
fn odd_key_names_beside_an_enrollment_are_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let w = fixture(dir.path());
    w.set("queue", &format!("{UDID}.queueitem.report"), b"junk")
        .unwrap();
    w.set("queue", &format!("{UDID}..queueitem.report"), b"junk")
        .unwrap();
    // Neither names a command of this enrollment: passed over, not sliced into.
    read_all(dir.path()).unwrap();
}

#[test]
fn a_user_channel_without_its_device_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let w = fixture(dir.path());
    w.set("users", "FFFF:someone.device_ch", b"FFFF").unwrap();
    let listing = FileKv::open(dir.path()).unwrap().list().unwrap();
    assert_eq!(listing.orphan_user_channels, ["FFFF:someone"]);
}

async fn import(dir: &Path, store: &MemoryStore, dry_run: bool) -> ImportReport {
    import_filekv(dir, store, store, ImportOptions { dry_run }, |_| {})
        .await
        .unwrap()
}

#[tokio::test]
async fn imports_into_the_memory_store_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let store = MemoryStore::new();

    let dry = import(dir.path(), &store, true).await;
    assert_eq!(
        (dry.devices, dry.user_channels, dry.queued_commands),
        (2, 1, 5)
    );
    assert!(
        store.retrieve_push_cert(TOPIC).await.unwrap().is_none(),
        "dry run writes nothing"
    );

    let report = import(dir.path(), &store, false).await;
    assert!(report.is_complete(), "{:?}", report.failures);
    assert_eq!(report.devices, 2);
    assert_eq!(report.user_channels, 1);
    assert_eq!(report.queued_commands, 5);
    assert_eq!(report.not_now, 1);
    assert_eq!(report.command_results, 1);
    assert_eq!(report.bootstrap_tokens, 1);
    assert_eq!(report.unlock_tokens, 1);
    assert_eq!(report.cert_bindings, 2);
    assert_eq!(report.push_certs, 1);

    let device = EnrollId::device(UDID);
    let next = store
        .retrieve_next_command(&device, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.bytes().as_ref(), command("c1"));
    let next = store
        .retrieve_next_command(&device, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.command_uuid, "c3", "c1 stays NotNow'd");
    assert_eq!(
        store
            .retrieve_token_update_tally(&EnrollId::device(UDID2))
            .await
            .unwrap(),
        2
    );
    let token = store
        .retrieve_bootstrap_token(&device)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.bootstrap_token.expose(), b"bootstrap-secret");
    let hash = HASH2.parse().unwrap();
    assert!(
        store
            .is_cert_hash_associated(&EnrollId::device(UDID2), &hash)
            .await
            .unwrap()
    );
    assert!(!store.is_cert_hash_associated(&device, &hash).await.unwrap());
    let push = store.retrieve_push_info(&[USER.into()]).await.unwrap();
    assert_eq!(push.len(), 1);

    let again = import(dir.path(), &store, false).await;
    assert!(again.is_complete());
    assert_eq!((again.queued_commands, again.already_queued), (0, 5));
    assert_eq!(again.push_certs_unchanged, 1);
    let next = store
        .retrieve_next_command(&device, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.command_uuid, "c3");
}

#[tokio::test]
async fn a_device_that_fails_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let w = fixture(dir.path());
    w.set("enrollments", &format!("{UDID2}.tok_tal"), b"lots")
        .unwrap();
    // And a device that authenticated but never sent TokenUpdate.
    w.authenticate("NEW-DEVICE", &authenticate("NEW-DEVICE"), None, None)
        .unwrap();
    let store = MemoryStore::new();
    let report = import(dir.path(), &store, false).await;
    assert!(!report.is_complete());
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].id, UDID2);
    assert!(report.failures[0].error.to_string().contains("tok_tal"));
    assert_eq!(report.devices, 1);
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.what == "NEW-DEVICE" && s.reason == SkipReason::NoTokenUpdate)
    );
}

/// A device enrolled in `dir` with command `uuid` (bytes `raw`) queued.
fn enrolled_with_command(dir: &Path, udid: &str, uuid: &str, raw: &[u8]) -> FileKvWriter {
    let w = FileKvWriter::new(dir);
    w.authenticate(udid, &authenticate(udid), None, None)
        .unwrap();
    let token = token_update(udid, None);
    let push = (TOPIC, "magic", &b"\x07"[..]);
    w.token_update(
        udid,
        None,
        "Device",
        &token,
        push,
        None,
        1_733_577_604_000_000,
    )
    .unwrap();
    w.enqueue(&[udid], uuid, "ProfileList", raw).unwrap();
    w
}

#[tokio::test]
async fn a_command_held_with_other_bytes_fails_its_device_alone() {
    // The store holds command "dup", queued for a device imported from elsewhere.
    let first = tempfile::tempdir().unwrap();
    enrolled_with_command(first.path(), "ELSEWHERE", "dup", &command("dup"));
    let store = MemoryStore::new();
    assert!(import(first.path(), &store, false).await.is_complete());

    // A device of this directory has another "dup": it alone is refused, in the same batch as
    // the others, which go on; its binding is left out.
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let other = plist(
        "<key>CommandUUID</key><string>dup</string><key>Command</key><dict>\
         <key>RequestType</key><string>DeviceInformation</string></dict>",
    );
    let w = enrolled_with_command(dir.path(), "REFUSED", "dup", &other);
    w.bind_cert_hash("REFUSED", &"3".repeat(64)).unwrap();
    let report = import(dir.path(), &store, false).await;
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].id, "REFUSED");
    assert!(report.failures[0].error.to_string().contains("dup"));
    assert_eq!((report.devices, report.user_channels), (2, 1));
    assert_eq!((report.queued_commands, report.already_queued), (5, 0));
    assert_eq!(report.cert_bindings, 2);
    let refused = EnrollId::device("REFUSED");
    let next = store.retrieve_next_command(&refused, false).await.unwrap();
    assert!(next.is_none(), "nothing queued for the refused device");
}

/// A memory store whose batch calls fail as a whole, as when a database goes away for a moment.
struct FailingBatches {
    inner: MemoryStore,
}

mdm_storage::forward_store!(impl[] FailingBatches => inner:
    BootstrapTokenStore, CertAuthStore, PushCertStore);

fn gone() -> mdm_storage::StorageError {
    mdm_storage::StorageError::backend(std::io::Error::other("gone for a moment"))
}

impl mdm_storage::CheckInStore for FailingBatches {
    mdm_storage::forward_methods!(inner:
        store_authenticate, store_token_update, store_user_authenticate, disable);

    async fn store_check_ins(
        &self,
        _: &[mdm_storage::CheckInWrite<'_>],
    ) -> Result<Vec<Result<(), mdm_storage::StorageError>>, mdm_storage::StorageError> {
        Err(gone())
    }
}

impl mdm_storage::ImportStore for FailingBatches {
    async fn import_enrollment_state(
        &self,
        id: &EnrollId,
        state: &mdm_storage::ImportedEnrollmentState,
    ) -> Result<(), mdm_storage::StorageError> {
        self.inner.import_enrollment_state(id, state).await
    }

    async fn import_queue(
        &self,
        id: &EnrollId,
        items: &[mdm_storage::ImportedQueueItem<'_>],
    ) -> Result<mdm_storage::ImportedQueue, mdm_storage::StorageError> {
        self.inner.import_queue(id, items).await
    }

    async fn import_command_result(
        &self,
        id: &EnrollId,
        command: &mdm_storage::mdm_proto::Raw<mdm_storage::mdm_proto::Command>,
        status: &str,
        report: &[u8],
    ) -> Result<(), mdm_storage::StorageError> {
        self.inner
            .import_command_result(id, command, status, report)
            .await
    }

    async fn import_enrollments(
        &self,
        _: &[mdm_storage::ImportedEnrollment<'_>],
    ) -> Result<
        Vec<Result<mdm_storage::ImportedQueue, mdm_storage::StorageError>>,
        mdm_storage::StorageError,
    > {
        Err(gone())
    }
}

#[tokio::test]
async fn batch_calls_that_fail_whole_are_done_device_by_device() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let store = FailingBatches {
        inner: MemoryStore::new(),
    };
    let options = ImportOptions { dry_run: false };
    let report = import_filekv(dir.path(), &store, &store, options, |_| {})
        .await
        .unwrap();
    assert!(report.is_complete(), "{:?}", report.failures);
    let counts = (
        report.devices,
        report.user_channels,
        report.check_ins,
        report.queued_commands,
        report.not_now,
        report.command_results,
        report.bootstrap_tokens,
        report.cert_bindings,
    );
    assert_eq!(counts, (2, 1, 5, 5, 1, 1, 1, 2));
    let device = EnrollId::device(UDID);
    let next = store.inner.retrieve_next_command(&device, true).await;
    assert_eq!(
        next.unwrap().unwrap().command_uuid,
        "c3",
        "c1 stays NotNow'd"
    );
    let push = store
        .inner
        .retrieve_push_info(&[USER.into()])
        .await
        .unwrap();
    assert_eq!(push.len(), 1, "the user channel is enrolled");
}
