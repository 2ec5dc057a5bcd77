//! The compiled `server` example run as an operator runs NanoMDM: its command line, then the
//! same settings as `NANOMDM_*` environment variables; a simulated device enrolls and gets a
//! command over HTTP, and SIGTERM stops the server cleanly.
//!
//! The server binary is this package's `server-under-test`, built by cargo before the tests.

use std::process::Command;

use mdm_sim::proto::Command as MdmCommand;
use mdm_sim::{
    CertPresentation, Channel, Device, DeviceKind, Event, HttpDriver, Identity, KeyKind, MdmClient,
    MdmPayload, TestCa,
};
use rootstock_integration_tests::process::{self as support, ServerProcess};
use rootstock_integration_tests::server_binary;

const TOPIC: &str = "com.apple.mgmt.External.0f4c2a8e-5d6b-4e7f-8a9b-1c2d3e4f5a6b";
const API_KEY: &str = "drop-in-key";

/// Enrolls a device, enqueues a command through the API and sees it delivered.
async fn exercise(base: &str, ca: &TestCa) {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let version = http.get(format!("{base}/version")).send().await.unwrap();
    assert_eq!(version.status(), 200);
    assert!(
        version
            .text()
            .await
            .unwrap()
            .starts_with("{\"version\":\"v")
    );

    let identity = Identity::issue(ca, KeyKind::P256, "drop-in device").unwrap();
    let mut client = MdmClient::new(
        Device::generate(DeviceKind::MacOs, 7),
        MdmPayload::new(format!("{base}/mdm"), TOPIC),
    )
    .with_identity(identity, CertPresentation::MdmSignature);
    let driver = HttpDriver::new().unwrap();
    client.enroll();
    driver.run(&mut client).await.expect("enrolled");

    let id = client.enroll_id(Channel::Device).unwrap().id().clone();
    let command = MdmCommand::build("drop-in-1", "ProfileList", Default::default());
    let response = http
        .put(format!("{base}/v1/enqueue/{id}?nopush=1"))
        .basic_auth("nanomdm", Some(API_KEY))
        .body(command.bytes().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    client.check_in(Channel::Device);
    let events = driver.run(&mut client).await.unwrap();
    let delivered: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Report {
                next_command: Some(c),
                ..
            } => Some(c.bytes().clone()),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [command.bytes().clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_command_line_runs_unchanged() {
    let (dir, ca) = support::dir_with_device_ca();
    // NanoMDM's command line, as an operator types it.
    let server = support::spawn_server(
        server_binary!(),
        dir.path(),
        API_KEY,
        &["-storage", "sqlite", "-storage-dsn", "db.sqlite"],
    );
    exercise(&server.base, &ca).await;
    let status = server.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(dir.path().join("db.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_environment_variables_run_unchanged() {
    let (dir, ca) = support::dir_with_device_ca();
    let server = ServerProcess::spawn(
        Command::new(server_binary!())
            .current_dir(dir.path())
            .env_clear()
            .env("NANOMDM_API", API_KEY)
            .env("NANOMDM_CA", "ca.pem")
            .env("NANOMDM_LISTEN", "127.0.0.1:0")
            .env("NANOMDM_STORAGE", "sqlite")
            .env("NANOMDM_STORAGE_DSN", "env.sqlite"),
    );
    exercise(&server.base, &ca).await;
    assert!(server.terminate().success());
    assert!(dir.path().join("env.sqlite").exists());
}

#[test]
fn version_usage_and_startup_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(server_binary!())
            .current_dir(dir.path())
            .env_clear()
            .args(args)
            .output()
            .unwrap()
    };
    let version = run(&["-version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("v{}\n", env!("CARGO_PKG_VERSION"))
    );

    let bad = run(&["--no-such-flag"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(stderr.contains("flag provided but not defined: -no-such-flag"));
    assert!(stderr.contains("[NANOMDM_STORAGE_DSN]"), "usage follows");

    let no_ca = run(&["-api", "k", "-listen", "127.0.0.1:0"]);
    assert_eq!(no_ca.status.code(), Some(1));
    assert!(
        String::from_utf8(no_ca.stderr)
            .unwrap()
            .contains("must supply CA cert path")
    );

    let help = run(&["-h"]);
    assert!(help.status.success());
}
