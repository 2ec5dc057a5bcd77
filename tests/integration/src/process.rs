//! The compiled reference server as a process: starting it, reading where it listens from its
//! log, and stopping it with SIGTERM or SIGKILL.
//!
//! The binaries are this package's own (`server-under-test`, a thin `main` over
//! `rootstock-server`, and `loadgen-under-test`, `examples/loadgen.rs`): cargo builds them
//! before the tests that name them with [`server_binary!`](crate::server_binary) and
//! [`loadgen_binary!`](crate::loadgen_binary), so a test never runs an old binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The server binary's path (`CARGO_BIN_EXE_server-under-test`), for tests of this package.
#[macro_export]
macro_rules! server_binary {
    () => {
        std::path::Path::new(env!("CARGO_BIN_EXE_server-under-test"))
    };
}

/// The load generator's path (`CARGO_BIN_EXE_loadgen-under-test`), for tests of this package.
#[macro_export]
macro_rules! loadgen_binary {
    () => {
        std::path::Path::new(env!("CARGO_BIN_EXE_loadgen-under-test"))
    };
}

/// A temporary working directory for a server, holding `ca.pem`: the certificate of a new
/// P-256 device CA (returned, to issue device identities).
pub fn dir_with_device_ca() -> (tempfile::TempDir, mdm_sim::TestCa) {
    let dir = tempfile::tempdir().unwrap();
    let ca = mdm_sim::TestCa::generate(mdm_sim::KeyKind::P256, "test device CA").unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
    (dir, ca)
}

/// The server `binary` ([`server_binary!`](crate::server_binary)) in `dir` with NanoMDM's command line — `-api <api_key> -ca ca.pem -listen
/// 127.0.0.1:0` and then `storage` (e.g. `-storage sqlite -storage-dsn db.sqlite`) — and no
/// environment.
pub fn spawn_server(binary: &Path, dir: &Path, api_key: &str, storage: &[&str]) -> ServerProcess {
    ServerProcess::spawn(
        Command::new(binary)
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
