//! Pushes per second from `ApnsClient` to `MockApns` on loopback, client and server in one
//! process sharing the machine's cores, and how many TLS connections that took.
//!
//! ```text
//! cargo bench -p mdm-push --features mock --bench push_throughput
//! ```
//!
//! Bounded: `BENCH_ROUNDS` rounds (default 5) of `BENCH_PUSHES` pushes (default 100,000) with
//! `BENCH_CONCURRENCY` pushes in flight (default 1,000), each round capped at 60 s.
//! `BENCH_WORKERS` sets the tokio worker threads (default: the number of cores).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mdm_push::mock::MockApns;
use mdm_push::{ApnsClient, PushCertificate};

const TOPIC: &str = "com.apple.mgmt.External.9b4c1d2e-0f3a-4b5c-8d6e-7f8091a2b3c4";
const ROUND_CAP: Duration = Duration::from_secs(60);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and expects a quick
    // run, so do a token amount of work there.
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds = if benching {
        env_or("BENCH_ROUNDS", 5)
    } else {
        1
    };
    let pushes = if benching {
        env_or("BENCH_PUSHES", 100_000)
    } else {
        2_000
    };
    let concurrency = env_or("BENCH_CONCURRENCY", 1_000).max(1);
    let workers = env_or(
        "BENCH_WORKERS",
        std::thread::available_parallelism().map_or(2, |n| n.get() as u64),
    )
    .max(1) as usize;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(rounds, pushes, concurrency, workers));
}

async fn run(rounds: u64, pushes: u64, concurrency: u64, workers: usize) {
    let mock = MockApns::builder()
        .record_pushes(false)
        .start()
        .await
        .expect("mock APNs");
    let issued = mock
        .issue_push_certificate(TOPIC)
        .expect("push certificate");
    let cert = PushCertificate::from_pem(&issued.cert_pem, &issued.key_pem).expect("parse");
    let client =
        ApnsClient::new(&cert, &mock.config().max_in_flight(concurrency as usize)).expect("client");

    println!(
        "push_throughput: {rounds} round(s) x {pushes} pushes, {concurrency} in flight, \
         {workers} tokio worker(s), client and MockApns in one process on loopback"
    );
    // Warm-up: connect, and let allocators and windows settle.
    burst(&client, 2_000.min(pushes), concurrency).await;

    let mut rates = Vec::new();
    for round in 1..=rounds {
        let before = mock.push_count();
        let cpu_before = process_cpu_seconds();
        let started = Instant::now();
        let (ok, failed) = burst(&client, pushes, concurrency).await;
        let elapsed = started.elapsed();
        let rate = ok as f64 / elapsed.as_secs_f64();
        rates.push(rate);
        // On a shared machine wall-clock rates depend on the neighbours; CPU time spent per
        // push (client and server together) does much less.
        let cpu = match (cpu_before, process_cpu_seconds()) {
            (Some(a), Some(b)) if b > a => format!(
                ", {:.2} CPU-s = {:.1} µs CPU per push (client + server)",
                b - a,
                (b - a) * 1e6 / ok.max(1) as f64
            ),
            _ => String::new(),
        };
        println!(
            "round {round}: {ok} ok, {failed} failed, {:.3} s, {rate:.0} pushes/s \
             (mock counted {}){cpu}",
            elapsed.as_secs_f64(),
            mock.push_count() - before
        );
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "median {median:.0} pushes/s, min {:.0}, max {:.0}; TLS connections accepted: {}",
        rates[0],
        rates[rates.len() - 1],
        mock.connections_accepted()
    );
}

/// User + system CPU time of this process, from `/proc/self/stat` (Linux; `None` elsewhere).
/// Assumes the kernel's USER_HZ of 100, which Linux reports on every common architecture.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Sends `total` pushes with `concurrency` tasks pulling from a shared counter; returns
/// (succeeded, failed).
async fn burst(client: &ApnsClient, total: u64, concurrency: u64) -> (u64, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + ROUND_CAP;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(total) {
        let client = client.clone();
        let next = next.clone();
        let failed = failed.clone();
        tasks.spawn(async move {
            let mut ok = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() > deadline {
                    break;
                }
                let mut token = [0u8; 32];
                token[..8].copy_from_slice(&i.to_be_bytes());
                match client.push(&token, "bench-push-magic").await {
                    Ok(_) => ok += 1,
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            ok
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        ok += done.unwrap_or(0);
    }
    (ok, failed.load(Ordering::Relaxed))
}
