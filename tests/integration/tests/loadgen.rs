//! `examples/loadgen` against the compiled reference server: a small bounded run completes every
//! round trip and reports what BENCHMARKS.md quotes; a run the server refuses fails loudly.

use std::path::Path;
use std::process::{Command, Output};

use rootstock_integration_tests::process::{self as support, ServerProcess};
use rootstock_integration_tests::{loadgen_binary, server_binary};

const API_KEY: &str = "loadgen-test-key";

fn loadgen(dir: &Path, args: &[&str]) -> (Output, String) {
    let output = Command::new(loadgen_binary!())
        .current_dir(dir)
        .env_clear()
        .args(args)
        .output()
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

/// A device CA written by `loadgen --new-ca`, and an in-memory server trusting it.
fn setup() -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let (new_ca, _) = loadgen(
        dir.path(),
        &["--new-ca", "--ca", "ca.pem", "--ca-key", "ca.key"],
    );
    assert!(new_ca.status.success(), "{new_ca:?}");
    let server = support::spawn_server(
        server_binary!(),
        dir.path(),
        API_KEY,
        &["-storage", "inmem", "-metrics"],
    );
    (dir, server)
}

#[test]
fn a_bounded_run_completes_every_round_trip_and_reports_server_cpu() {
    let (dir, server) = setup();
    let pid = server.id().to_string();
    for (kind, sign, concurrency) in [("ios", "pre", "3"), ("macos", "live", "1")] {
        let (output, stdout) = loadgen(
            dir.path(),
            &[
                "--server",
                &server.base,
                "--api-key",
                API_KEY,
                "--ca",
                "ca.pem",
                "--ca-key",
                "ca.key",
                "--devices",
                "6",
                "--round-trips",
                "3",
                "--concurrency",
                concurrency,
                "--kind",
                kind,
                "--key",
                "p256",
                "--sign",
                sign,
                "--server-pid",
                &pid,
                "--max-seconds",
                "60",
            ],
        );
        assert!(
            output.status.success(),
            "{kind}/{sign}: {stdout}\n{output:?}"
        );
        assert!(stdout.contains("enrolled 6 devices"), "{stdout}");
        assert!(stdout.contains("round trips: 18 of 18"), "{stdout}");
        assert!(stdout.contains(", 0 errors"), "{stdout}");
        for kind in ["enqueue (API)", "Idle -> command", "Acknowledged"] {
            let line = stdout
                .lines()
                .find(|l| l.trim_start().starts_with(kind))
                .unwrap_or_else(|| panic!("no {kind} line: {stdout}"));
            // The count column: every round trip made one request of each kind.
            assert_eq!(line.split_whitespace().rev().nth(3), Some("18"), "{line}");
        }
        // A Mac also enrolls its user channel.
        let token_updates = if kind == "macos" { "12" } else { "6" };
        let line = stdout.lines().find(|l| l.contains("TokenUpdate")).unwrap();
        assert_eq!(
            line.split_whitespace().nth(1),
            Some(token_updates),
            "{line}"
        );
        assert!(stdout.contains("server CPU: "), "{stdout}");
    }

    // The server counted what the load generator sent: both runs, every message by kind.
    let metrics = scrape(&server.base);
    for (series, expected) in [
        (
            r#"mdm_requests_total{kind="check_in",message="Authenticate",status="200"}"#,
            12,
        ),
        (
            r#"mdm_requests_total{kind="check_in",message="TokenUpdate",status="200"}"#,
            18,
        ),
        (
            r#"mdm_requests_total{kind="report",message="Idle",status="200"}"#,
            36,
        ),
        (
            r#"mdm_requests_total{kind="report",message="Acknowledged",status="200"}"#,
            36,
        ),
        (r#"mdm_command_reports_total{outcome="final"}"#, 36),
        (r#"mdm_commands_enqueued_total"#, 36),
        (
            r#"http_requests_total{endpoint="/v1/enqueue/",method="PUT",status="200"}"#,
            36,
        ),
        (
            r#"http_requests_total{endpoint="/mdm",method="PUT",status="200"}"#,
            12 + 18 + 36 + 36,
        ),
    ] {
        let value = metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"));
        assert_eq!(value, f64::from(expected), "{series}");
    }
}

/// `GET /metrics`, the body.
fn scrape(base: &str) -> String {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    body.to_owned()
}

#[test]
fn refused_requests_are_errors_and_fail_the_run() {
    let (dir, server) = setup();
    let (output, stdout) = loadgen(
        dir.path(),
        &[
            "--server",
            &server.base,
            "--api-key",
            "not-the-key",
            "--ca",
            "ca.pem",
            "--ca-key",
            "ca.key",
            "--devices",
            "2",
            "--round-trips",
            "2",
            "--concurrency",
            "2",
            "--key",
            "p256",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("round trips: 0 of 4"), "{stdout}");
    assert!(stdout.contains("4 errors"), "{stdout}");
    assert!(stdout.contains("enqueue: HTTP 401"), "{stdout}");

    let (usage, _) = loadgen(dir.path(), &["--concurrency", "0"]);
    assert_eq!(usage.status.code(), Some(2));
}
