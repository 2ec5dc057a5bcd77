//! The compiled `server` example run as an operator runs NanoMDM: its command line, then the
//! same settings as `NANOMDM_*` environment variables; a simulated device enrolls and gets a
//! command over HTTP, and SIGTERM stops the server cleanly.
//!
//! The binary is the one `cargo test` builds for the examples (`target/<profile>/examples/server`);
//! when it is missing (a test selected with `--test` builds no examples) it is built first.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mdm_sim::proto::Command as MdmCommand;
use mdm_sim::{
    CertPresentation, Channel, Device, DeviceKind, Event, HttpDriver, Identity, KeyKind, MdmClient,
    MdmPayload, TestCa,
};

const TOPIC: &str = "com.apple.mgmt.External.0f4c2a8e-5d6b-4e7f-8a9b-1c2d3e4f5a6b";
const API_KEY: &str = "drop-in-key";

/// `target/<profile>/examples/server`, built (once) if needed.
fn server_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(find_or_build_server).clone()
}

fn find_or_build_server() -> PathBuf {
    // This test runs from target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
    let binary = profile_dir
        .join("examples")
        .join(format!("server{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let target_dir = profile_dir.parent().unwrap();
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--example", "server", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "building the server example failed");
    }
    binary
}

/// A running server process, killed if the test ends without stopping it.
struct ServerProcess {
    child: Child,
    base: String,
    stderr: mpsc::Receiver<String>,
}

impl ServerProcess {
    fn spawn(command: &mut Command) -> ServerProcess {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let (lines, stderr) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = ServerProcess {
            child,
            base: String::new(),
            stderr,
        };
        let line = process.wait_for_line("listening");
        let address = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("address="))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        process.base = format!("http://{address}");
        process
    }

    fn wait_for_line(&mut self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.stderr.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("no {needle:?} line from the server; it said: {seen:#?}"),
            }
        }
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not stop within 15 s of SIGTERM");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

    let id = client.enroll_id(Channel::Device).unwrap().id;
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

fn fixture() -> (tempfile::TempDir, TestCa) {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::generate(KeyKind::P256, "drop-in CA").unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
    (dir, ca)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_command_line_runs_unchanged() {
    let (dir, ca) = fixture();
    let server = ServerProcess::spawn(
        Command::new(server_binary())
            .current_dir(dir.path())
            .env_clear()
            .args([
                "-api",
                API_KEY,
                "-ca",
                "ca.pem",
                "-listen",
                "127.0.0.1:0",
                "-storage",
                "sqlite",
                "-storage-dsn",
                "db.sqlite",
            ]),
    );
    exercise(&server.base, &ca).await;
    let status = server.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(dir.path().join("db.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_environment_variables_run_unchanged() {
    let (dir, ca) = fixture();
    let server = ServerProcess::spawn(
        Command::new(server_binary())
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
        Command::new(server_binary())
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
