//! Running the compiled `server` example from a test: finding (or building) the binary, starting
//! it, reading where it listens from its log, and stopping it with SIGTERM or SIGKILL.
//!
//! The binary is the one `cargo test` builds for the examples (`target/<profile>/examples/server`).
//! Each test binary runs `cargo build --example server` once first: a test selected with
//! `--test` builds no examples, and an old binary left in the target directory must not stand in
//! for the code under test.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `target/<profile>/examples/server`, brought up to date once per test binary.
pub fn server_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| build_example("server")).clone()
}

/// `target/<profile>/examples/loadgen`, brought up to date once per test binary.
pub fn loadgen_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| build_example("loadgen")).clone()
}

/// Runs `cargo build --example <name>` for the profile this test was built with, and returns
/// the binary's path.
fn build_example(name: &str) -> PathBuf {
    // This test runs from target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let target_dir = profile_dir.parent().unwrap();
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--example", name, "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("running cargo build");
    assert!(status.success(), "building the {name} example failed");
    binary
}

/// A temporary working directory for a server, holding `ca.pem`: the certificate of a new
/// P-256 device CA (returned, to issue device identities).
pub fn dir_with_device_ca() -> (tempfile::TempDir, mdm_sim::TestCa) {
    let dir = tempfile::tempdir().unwrap();
    let ca = mdm_sim::TestCa::generate(mdm_sim::KeyKind::P256, "test device CA").unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
    (dir, ca)
}

/// The server in `dir` with NanoMDM's command line — `-api <api_key> -ca ca.pem -listen
/// 127.0.0.1:0` and then `storage` (e.g. `-storage sqlite -storage-dsn db.sqlite`) — and no
/// environment.
pub fn spawn_server(dir: &Path, api_key: &str, storage: &[&str]) -> ServerProcess {
    ServerProcess::spawn(
        Command::new(server_binary())
            .current_dir(dir)
            .env_clear()
            .args(["-api", api_key, "-ca", "ca.pem", "-listen", "127.0.0.1:0"])
            .args(storage),
    )
}

/// A running server process, killed if the test ends without stopping it.
pub struct ServerProcess {
    child: Child,
    /// `http://<address>`, from the server's "listening" log line.
    pub base: String,
    stderr: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    log: Vec<String>,
}

impl ServerProcess {
    /// Starts `command` (stderr piped) and waits for it to log where it listens.
    pub fn spawn(command: &mut Command) -> ServerProcess {
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
            log: Vec::new(),
        };
        let line = process.wait_for_line("listening");
        let address = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("address="))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        process.base = format!("http://{address}");
        process
    }

    /// Waits (up to 30 s) for a stderr line containing `needle`.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let start = self.log.len();
        loop {
            match self.stderr.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {needle:?} line from the server; it said: {:#?}",
                    &self.log[start..]
                ),
            }
        }
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&mut self) -> &[String] {
        self.log.extend(self.stderr.try_iter());
        &self.log
    }

    /// Fails the test if the server logged a panic.
    pub fn assert_no_panic(&mut self) {
        let panics: Vec<_> = self
            .log()
            .iter()
            .filter(|line| line.contains("panicked"))
            .cloned()
            .collect();
        assert!(panics.is_empty(), "the server panicked: {panics:#?}");
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> ExitStatus {
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

    /// SIGKILL (no chance to flush or clean up), then waits for the process to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
