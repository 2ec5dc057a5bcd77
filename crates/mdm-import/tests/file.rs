//! NanoMDM's `file` backend directory, written here from its layout facts (see
//! `mdm_import::file`), imported into the memory store.

use std::path::Path;

use mdm_enrollment::EnrollId;
use mdm_import::filekv::ReadError;
use mdm_import::{ImportOptions, import_file};
use mdm_storage::{
    BootstrapTokenStore, CertAuthStore, CommandQueue, MemoryStore, PushCertStore,
    TokenUpdateTallyStore,
};

const UDID: &str = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9";
const USER: &str = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9:5E6F7A8B-0000-1111-2222-333344445555";
const TOPIC: &str = "com.apple.mgmt.External.7d2f5c1e-4b3a-4c8d-9e6f-0a1b2c3d4e5f";
const HASH: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn plist(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>{body}</dict></plist>\n"
    )
}

fn command(uuid: &str) -> String {
    plist(&format!(
        "<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
         <key>RequestType</key><string>ProfileList</string></dict>"
    ))
}

fn report(uuid: &str, status: &str) -> String {
    plist(&format!(
        "<key>UDID</key><string>{UDID}</string><key>CommandUUID</key><string>{uuid}</string>\
         <key>Status</key><string>{status}</string>"
    ))
}

fn write(root: &Path, rel: &str, value: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, value).unwrap();
}

fn fixture(root: &Path) {
    let token_update = |user: &str| {
        plist(&format!(
            "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{UDID}</string>{user}\
             <key>Topic</key><string>{TOPIC}</string><key>PushMagic</key><string>m</string>\
             <key>Token</key><data>AQIDBA==</data>"
        ))
    };
    write(
        root,
        &format!("{UDID}/Authenticate.plist"),
        &plist(&format!(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{UDID}</string>\
         <key>Topic</key><string>{TOPIC}</string>"
        )),
    );
    write(
        root,
        &format!("{UDID}/TokenUpdate.plist"),
        &token_update(""),
    );
    write(root, &format!("{UDID}/TokenUpdate.tally.txt"), "3");
    write(root, &format!("{UDID}/BootstrapToken.dat"), "bootstrap");
    write(root, &format!("{UDID}/CertAuth.sha256.txt"), HASH);
    write(root, "CertAuth.txt", &format!("{UDID},{HASH}\n"));
    write(root, &format!("{UDID}/SubEnrollments/{USER}"), "");
    write(
        root,
        &format!("{USER}/TokenUpdate.plist"),
        &token_update("<key>UserID</key><string>5E6F7A8B-0000-1111-2222-333344445555</string>"),
    );
    write(root, &format!("{USER}/TokenUpdate.tally.txt"), "1");
    // Delivered by NanoMDM as: QueueNotNow (b-later), then Queue (a-first, c-last).
    write(
        root,
        &format!("{UDID}/Queue/c-last.plist"),
        &command("c-last"),
    );
    write(
        root,
        &format!("{UDID}/Queue/a-first.plist"),
        &command("a-first"),
    );
    write(
        root,
        &format!("{UDID}/QueueNotNow/b-later.plist"),
        &command("b-later"),
    );
    write(
        root,
        &format!("{UDID}/QueueNotNow/b-later.result.plist"),
        &report("b-later", "NotNow"),
    );
    write(
        root,
        &format!("{UDID}/QueueDone/done.plist"),
        &command("done"),
    );
    write(
        root,
        &format!("{UDID}/QueueDone/done.result.plist"),
        &report("done", "Acknowledged"),
    );
    write(
        root,
        &format!("{TOPIC}.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    write(
        root,
        &format!("{TOPIC}.key"),
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    );
}

#[tokio::test]
async fn imports_a_file_directory_in_nanomdms_delivery_order() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let store = MemoryStore::new();
    let report = import_file(dir.path(), &store, &store, ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert!(report.is_complete(), "{:?}", report.failures);
    assert_eq!((report.devices, report.user_channels), (1, 1));
    assert_eq!(
        (
            report.queued_commands,
            report.not_now,
            report.command_results
        ),
        (3, 1, 1)
    );
    assert_eq!(
        (
            report.cert_bindings,
            report.push_certs,
            report.bootstrap_tokens
        ),
        (1, 1, 1)
    );

    let device = EnrollId::device(UDID);
    let next = store
        .retrieve_next_command(&device, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.command_uuid, "b-later");
    let next = store
        .retrieve_next_command(&device, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.command_uuid, "a-first");
    assert_eq!(store.retrieve_token_update_tally(&device).await.unwrap(), 3);
    assert!(
        store
            .retrieve_bootstrap_token(&device)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .is_cert_hash_associated(&device, &HASH.parse().unwrap())
            .await
            .unwrap()
    );
    assert!(store.retrieve_push_cert(TOPIC).await.unwrap().is_some());

    let again = import_file(dir.path(), &store, &store, ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((again.queued_commands, again.already_queued), (0, 3));
}

#[tokio::test]
async fn a_broken_file_directory_names_the_file() {
    let empty = tempfile::tempdir().unwrap();
    let store = MemoryStore::new();
    let err = import_file(
        empty.path(),
        &store,
        &store,
        ImportOptions::default(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("not a NanoMDM file storage directory"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    std::fs::remove_file(
        dir.path()
            .join(format!("{UDID}/QueueNotNow/b-later.result.plist")),
    )
    .unwrap();
    let report = import_file(dir.path(), &store, &store, ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.failures.len(), 1);
    let text = report.failures[0].error.to_string();
    assert!(text.contains("QueueNotNow/b-later.result.plist"), "{text}");
    assert!(matches!(
        report.failures[0].error,
        mdm_import::ImportError::Read(ReadError::Missing { .. })
    ));
}
