//! Load generator for NanoMDM-compatible servers (Rootstock's reference server or NanoMDM
//! itself): N simulated devices enroll, then each does M command round trips — the command is
//! enqueued through the API (`PUT /v1/enqueue/<id>?nopush=1`), the device reports `Idle`, gets
//! the command, and reports `Acknowledged`. Prints requests/s, round trips/s, latency
//! percentiles per request kind, errors, and, given the server's pid, the server's CPU time per
//! request.
//!
//! ```text
//! cargo run --release --example server -- --dev     # prints its API key; CA in ./rootstock-dev
//! cargo run --release --example loadgen -- --server http://127.0.0.1:9000 \
//!     --ca rootstock-dev/ca.pem --ca-key rootstock-dev/ca.key --api-key KEY \
//!     --devices 200 --round-trips 20 --concurrency 8 --server-pid $(pgrep -f 'examples/server')
//! ```
//!
//! The run is bounded: it stops after `--devices × --round-trips` round trips or
//! `--max-seconds`, whichever comes first. It only ever talks to the URL it is given.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mdm_sim::proto::Command;
use mdm_sim::proto::plist::Dictionary;
use mdm_sim::{
    CertPresentation, Channel, Device, DeviceKind, HttpDriver, Identity, KeyKind, MdmClient,
    MdmPayload, Message, Report, Request, TestCa,
};

const USAGE: &str = "\
usage: loadgen --server URL --ca PATH --ca-key PATH --api-key KEY [options]
       loadgen --new-ca --ca PATH --ca-key PATH

  --server URL          the server's base URL (http://127.0.0.1:9000); loopback in tests
  --mdm-path PATH       the MDM endpoint under it (default /mdm)
  --api-key KEY         the API key (HTTP Basic user nanomdm)
  --ca PATH --ca-key PATH   the CA the server trusts for device identities (PEM, PKCS#8 key);
                        `server --dev` writes rootstock-dev/ca.pem and ca.key
  --new-ca              generate a device CA, write it to --ca and --ca-key, and exit
  --devices N           devices (default 200)
  --round-trips M       command round trips per device (default 20)
  --concurrency C       round trips in flight at once (default 8, at most --devices)
  --kind K              device kind: ios, macos, user-enrollment, shared-ipad (default ios)
  --key rsa|p256        identity key (default rsa, as devices use)
  --sign pre|live       pre: every request signed before the timed phase, so the client
                        spends no CPU on signatures; live: signed as sent (default pre)
  --push                enqueue without ?nopush=1 (the server pushes; needs a push certificate)
  --server-pid PID      report the server's CPU time per request (Linux /proc)
  --db-process NAME     also report the CPU time of every process named NAME (postgres,
                        mariadbd) per request
  --max-seconds S       stop starting round trips after S seconds (default 600)
  --seed N              first device seed (default 1); use another to enroll new devices
";

struct Args {
    server: String,
    mdm_path: String,
    api_key: String,
    ca: String,
    ca_key: String,
    new_ca: bool,
    devices: usize,
    round_trips: usize,
    concurrency: usize,
    kind: DeviceKind,
    key: KeyKind,
    presign: bool,
    push: bool,
    server_pid: Option<u32>,
    db_process: Option<String>,
    max_time: Duration,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        server: String::new(),
        mdm_path: "/mdm".into(),
        api_key: String::new(),
        ca: String::new(),
        ca_key: String::new(),
        new_ca: false,
        devices: 200,
        round_trips: 20,
        concurrency: 8,
        kind: DeviceKind::Ios,
        key: KeyKind::Rsa2048,
        presign: true,
        push: false,
        server_pid: None,
        db_process: None,
        max_time: Duration::from_secs(600),
        seed: 1,
    };
    fn number<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
        v.parse()
            .map_err(|_| format!("{flag} needs a number, not {v}"))
    }
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--server" => parsed.server = value()?.trim_end_matches('/').to_owned(),
            "--mdm-path" => parsed.mdm_path = value()?,
            "--api-key" => parsed.api_key = value()?,
            "--ca" => parsed.ca = value()?,
            "--ca-key" => parsed.ca_key = value()?,
            "--new-ca" => parsed.new_ca = true,
            "--devices" => parsed.devices = number(&flag, value()?)?,
            "--round-trips" => parsed.round_trips = number(&flag, value()?)?,
            "--concurrency" => parsed.concurrency = number(&flag, value()?)?,
            "--kind" => {
                let name = value()?;
                parsed.kind =
                    DeviceKind::from_name(&name).ok_or(format!("unknown device kind {name}"))?
            }
            "--key" => {
                parsed.key = match value()?.as_str() {
                    "rsa" => KeyKind::Rsa2048,
                    "p256" => KeyKind::P256,
                    other => return Err(format!("--key is rsa or p256, not {other}")),
                }
            }
            "--sign" => {
                parsed.presign = match value()?.as_str() {
                    "pre" => true,
                    "live" => false,
                    other => return Err(format!("--sign is pre or live, not {other}")),
                }
            }
            "--push" => parsed.push = true,
            "--server-pid" => parsed.server_pid = Some(number(&flag, value()?)?),
            "--db-process" => parsed.db_process = Some(value()?),
            "--max-seconds" => {
                parsed.max_time = Duration::from_secs_f64(number::<f64>(&flag, value()?)?.max(0.0))
            }
            "--seed" => parsed.seed = number(&flag, value()?)?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if parsed.new_ca {
        return match parsed.ca.is_empty() || parsed.ca_key.is_empty() {
            true => Err("--new-ca needs --ca and --ca-key".into()),
            false => Ok(parsed),
        };
    }
    if !(parsed.server.starts_with("http://") || parsed.server.starts_with("https://")) {
        return Err("--server needs an http:// or https:// URL".into());
    }
    if parsed.ca.is_empty() || parsed.ca_key.is_empty() || parsed.api_key.is_empty() {
        return Err("--ca, --ca-key and --api-key are required".into());
    }
    if parsed.devices == 0 || parsed.concurrency == 0 || parsed.concurrency > parsed.devices {
        return Err("--concurrency must be between 1 and --devices".into());
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("loadgen: {message}\n");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(report) if report.errors == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("loadgen: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The kinds of HTTP request a round trip is made of, for per-kind latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Authenticate,
    TokenUpdate,
    Enqueue,
    Idle,
    Acknowledged,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Authenticate => "Authenticate",
            Kind::TokenUpdate => "TokenUpdate",
            Kind::Enqueue => "enqueue (API)",
            Kind::Idle => "Idle -> command",
            Kind::Acknowledged => "Acknowledged",
        }
    }
}

/// One simulated device: its client (to build and sign requests), enrollment id, and the
/// requests signed ahead of time.
struct LoadDevice {
    client: MdmClient,
    id: String,
    idle: Option<Request>,
    /// Per round trip: the command's UUID, its plist, and (pre-signed) the acknowledgement.
    commands: Vec<(String, bytes::Bytes, Option<Request>)>,
}

impl LoadDevice {
    fn request(&self, message: &Message) -> Result<Request, String> {
        self.client
            .build_request(Channel::Device, message)
            .and_then(|r| self.client.sign(r))
            .map_err(|e| format!("building {}: {e}", message.name()))
    }

    fn acknowledgement(&self, uuid: &str) -> Message {
        Message::Report(Report::acknowledged(uuid, Dictionary::new()))
    }
}

/// Latencies in microseconds per request kind, and failures.
#[derive(Default)]
struct Stats {
    latencies: BTreeMap<Kind, Vec<u32>>,
    errors: usize,
    first_errors: Vec<String>,
}

impl Stats {
    fn record(&mut self, kind: Kind, started: Instant) {
        let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        self.latencies.entry(kind).or_default().push(micros);
    }

    fn fail(&mut self, what: String) {
        self.errors += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(what);
        }
    }

    fn merge(&mut self, other: Stats) {
        for (kind, mut values) in other.latencies {
            self.latencies.entry(kind).or_default().append(&mut values);
        }
        self.errors += other.errors;
        for e in other.first_errors {
            if self.first_errors.len() < 5 {
                self.first_errors.push(e);
            }
        }
    }

    fn requests(&self) -> usize {
        self.latencies.values().map(Vec::len).sum::<usize>() + self.errors
    }
}

/// What a finished run reports.
struct RunReport {
    errors: usize,
}

/// Everything the workers share.
struct Shared {
    args: Args,
    driver: HttpDriver,
    http: reqwest::Client,
    devices: Vec<tokio::sync::Mutex<LoadDevice>>,
    deadline: Instant,
    timed_out: AtomicBool,
}

async fn run(args: Args) -> Result<RunReport, String> {
    if args.new_ca {
        let ca = TestCa::generate(KeyKind::Rsa2048, "Rootstock loadgen device CA")
            .map_err(|e| e.to_string())?;
        for (path, pem) in [(&args.ca, ca.cert_pem()), (&args.ca_key, ca.key_pem())] {
            if std::path::Path::new(path).exists() {
                return Err(format!("{path} exists; not overwriting it"));
            }
            std::fs::write(path, pem).map_err(|e| format!("{path}: {e}"))?;
        }
        println!("wrote {} and {}", args.ca, args.ca_key);
        return Ok(RunReport { errors: 0 });
    }
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"));
    let ca = TestCa::from_pem(&read(&args.ca)?, &read(&args.ca_key)?)
        .map_err(|e| format!("loading the CA: {e}"))?;

    let prepared = Instant::now();
    let devices = prepare_devices(&args, ca).await?;
    println!(
        "prepared {} {} devices ({} identities, requests {}) in {:.1}s",
        devices.len(),
        args.kind.as_str(),
        match args.key {
            KeyKind::Rsa2048 => "RSA-2048",
            _ => "P-256",
        },
        if args.presign {
            "signed ahead"
        } else {
            "signed live"
        },
        prepared.elapsed().as_secs_f64()
    );

    let shared = Arc::new(Shared {
        driver: HttpDriver::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?,
        http: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?,
        devices: devices.into_iter().map(tokio::sync::Mutex::new).collect(),
        deadline: Instant::now() + args.max_time,
        timed_out: AtomicBool::new(false),
        args,
    });

    // Enrollment: every device once, at the chosen concurrency.
    let enrolled = Instant::now();
    let enroll_stats = in_parallel(&shared, shared.args.devices, Phase::Enroll).await;
    let enroll_secs = enrolled.elapsed().as_secs_f64();
    println!(
        "enrolled {} devices in {enroll_secs:.2}s ({} errors)",
        shared.args.devices, enroll_stats.errors
    );

    // The measured phase: round trips, device-interleaved so every device is busy throughout.
    let cpu_before = CpuSample::take(&shared.args);
    if let (Some(pid), None) = (shared.args.server_pid, &cpu_before) {
        eprintln!("loadgen: cannot read /proc/{pid}/stat: no server CPU figures");
    }
    let started = Instant::now();
    let total = shared.args.devices * shared.args.round_trips;
    let stats = in_parallel(&shared, total, Phase::RoundTrip).await;
    let secs = started.elapsed().as_secs_f64();
    let cpu_after = CpuSample::take(&shared.args);

    let requests = stats.requests();
    let round_trips = stats.latencies.get(&Kind::Acknowledged).map_or(0, Vec::len);
    println!(
        "round trips: {round_trips} of {total} in {secs:.2}s at concurrency {}{}",
        shared.args.concurrency,
        if shared.timed_out.load(Ordering::Relaxed) {
            " (stopped by --max-seconds)"
        } else {
            ""
        }
    );
    println!(
        "  {:.0} requests/s, {:.1} round trips/s, {} errors",
        requests as f64 / secs,
        round_trips as f64 / secs,
        stats.errors
    );
    let mut all = enroll_stats;
    all.merge(stats);
    println!(
        "  {:<16} {:>7} {:>9} {:>9} {:>9}",
        "request", "count", "p50 ms", "p90 ms", "p99 ms"
    );
    for (kind, values) in &mut all.latencies {
        values.sort_unstable();
        let pct = |p: f64| {
            let i = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1;
            values[i] as f64 / 1000.0
        };
        println!(
            "  {:<16} {:>7} {:>9.3} {:>9.3} {:>9.3}",
            kind.name(),
            values.len(),
            pct(0.5),
            pct(0.9),
            pct(0.99)
        );
    }
    for e in &all.first_errors {
        println!("  error: {e}");
    }
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let per_request = |ticks: u64| ticks as f64 * 1000.0 / TICKS_PER_SECOND / requests as f64;
        let server = after.server.saturating_sub(before.server);
        println!(
            "  server CPU: {:.3} ms per request ({:.2} s for {requests} requests)",
            per_request(server),
            server as f64 / TICKS_PER_SECOND
        );
        if let (Some(name), Some(a), Some(b)) = (&shared.args.db_process, after.db, before.db) {
            println!(
                "  {name} CPU: {:.3} ms per request",
                per_request(a.saturating_sub(b))
            );
        }
    }
    Ok(RunReport { errors: all.errors })
}

/// What a worker does with a device.
#[derive(Clone, Copy)]
enum Phase {
    Enroll,
    RoundTrip,
}

/// Runs `jobs` jobs on `--concurrency` workers; job `n` is for device `n % devices`, so round
/// trip `r` of every device comes before round trip `r + 1` of any and each device is busy
/// throughout. A device is never in two jobs at once.
async fn in_parallel(shared: &Arc<Shared>, jobs: usize, phase: Phase) -> Stats {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..shared.args.concurrency {
        let (shared, next) = (shared.clone(), next.clone());
        workers.spawn(async move {
            let mut stats = Stats::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= jobs {
                    break;
                }
                if Instant::now() >= shared.deadline {
                    shared.timed_out.store(true, Ordering::Relaxed);
                    break;
                }
                let count = shared.devices.len();
                let mut device = shared.devices[n % count].lock().await;
                let result = match phase {
                    Phase::Enroll => enroll(&shared, &device, &mut stats).await,
                    Phase::RoundTrip => {
                        round_trip(&shared, &mut device, n / count, &mut stats).await
                    }
                };
                if let Err(e) = result {
                    stats.fail(format!("device {}: {e}", device.id));
                }
            }
            stats
        });
    }
    let mut stats = Stats::default();
    while let Some(worker) = workers.join_next().await {
        stats.merge(worker.unwrap_or_default());
    }
    stats
}

/// What every device is made from.
struct Blueprint {
    ca: TestCa,
    payload: MdmPayload,
    kind: DeviceKind,
    key: KeyKind,
    first_seed: u64,
    round_trips: usize,
    presign: bool,
    /// Makes command UUIDs unique per run: a server keeps every command it was given.
    run: u128,
}

impl Blueprint {
    /// Device `i`: its identity, and the requests signed ahead of time.
    fn device(&self, i: usize) -> Result<LoadDevice, String> {
        let device = Device::generate(self.kind, self.first_seed + i as u64);
        let id = device
            .enroll_id(Channel::Device)
            .ok_or("a device without a device channel")?
            .id()
            .to_string();
        let identity = Identity::issue(&self.ca, self.key, &id).map_err(|e| e.to_string())?;
        let client = MdmClient::new(device, self.payload.clone())
            .with_identity(identity, CertPresentation::MdmSignature);
        let mut device = LoadDevice {
            client,
            id,
            idle: None,
            commands: Vec::with_capacity(self.round_trips),
        };
        if self.presign {
            device.idle = Some(device.request(&Message::Report(Report::idle()))?);
        }
        for r in 0..self.round_trips {
            let uuid = format!("loadgen-{:x}-{i}-{r}", self.run);
            let command = Command::build(&uuid, "ProfileList", Dictionary::new());
            let ack = if self.presign {
                Some(device.request(&device.acknowledgement(&uuid))?)
            } else {
                None
            };
            device.commands.push((uuid, command.bytes().clone(), ack));
        }
        Ok(device)
    }
}

/// Generates the devices, their identities and the requests signed ahead of time, on one thread
/// per core (RSA key generation and signing dominate).
async fn prepare_devices(args: &Args, ca: TestCa) -> Result<Vec<LoadDevice>, String> {
    let blueprint = Arc::new(Blueprint {
        ca,
        payload: MdmPayload::new(
            format!("{}{}", args.server, args.mdm_path),
            "com.apple.mgmt.External.rootstock-loadgen",
        ),
        kind: args.kind,
        key: args.key,
        first_seed: args.seed,
        round_trips: args.round_trips,
        presign: args.presign,
        run: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let devices = args.devices;
    let mut tasks = Vec::with_capacity(threads);
    for thread in 0..threads {
        let blueprint = blueprint.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            (thread..devices)
                .step_by(threads)
                .map(|i| Ok((i, blueprint.device(i)?)))
                .collect::<Result<Vec<_>, String>>()
        }));
    }
    let mut numbered = Vec::with_capacity(devices);
    for task in tasks {
        numbered.extend(task.await.map_err(|e| e.to_string())??);
    }
    numbered.sort_unstable_by_key(|(i, _)| *i);
    Ok(numbered.into_iter().map(|(_, device)| device).collect())
}

/// Sends `request`, timing it as `kind`; a status other than 200 is an error.
async fn send(
    shared: &Shared,
    request: &Request,
    kind: Kind,
    stats: &mut Stats,
) -> Result<bytes::Bytes, String> {
    let started = Instant::now();
    let response = shared
        .driver
        .send(request)
        .await
        .map_err(|e| format!("{}: {}", kind.name(), error_chain(&e)))?;
    if response.status != 200 {
        return Err(format!("{}: HTTP {}", kind.name(), response.status));
    }
    stats.record(kind, started);
    Ok(response.body)
}

/// `Authenticate`, then a `TokenUpdate` per channel.
async fn enroll(shared: &Shared, device: &LoadDevice, stats: &mut Stats) -> Result<(), String> {
    let authenticate = device.request(&Message::Authenticate)?;
    send(shared, &authenticate, Kind::Authenticate, stats).await?;
    for channel in device.client.device().channels() {
        let token_update = device
            .client
            .build_request(channel, &Message::TokenUpdate)
            .and_then(|r| device.client.sign(r))
            .map_err(|e| format!("building TokenUpdate: {e}"))?;
        send(shared, &token_update, Kind::TokenUpdate, stats).await?;
    }
    Ok(())
}

/// Enqueue through the API, `Idle` → the command, `Acknowledged` → nothing more queued. Any
/// other command the server hands out is acknowledged too (and counted as an error), so one
/// failure does not cascade into the next round trips.
async fn round_trip(
    shared: &Shared,
    device: &mut LoadDevice,
    round: usize,
    stats: &mut Stats,
) -> Result<(), String> {
    let (uuid, command, presigned_ack) = &device.commands[round];
    let mut url = format!("{}/v1/enqueue/{}", shared.args.server, device.id);
    if !shared.args.push {
        url.push_str("?nopush=1");
    }
    let started = Instant::now();
    let response = shared
        .http
        .put(url)
        .basic_auth("nanomdm", Some(&shared.args.api_key))
        .body(command.clone())
        .send()
        .await
        .map_err(|e| format!("enqueue: {}", error_chain(&e)))?;
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    if status != 200 {
        let body = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!("enqueue: HTTP {status} {body}"));
    }
    stats.record(Kind::Enqueue, started);

    let idle = match &device.idle {
        Some(idle) => idle.clone(),
        None => device.request(&Message::Report(Report::idle()))?,
    };
    let mut next = send(shared, &idle, Kind::Idle, stats).await?;
    let mut unexpected = Vec::new();
    let mut delivered = false;
    // Bounded: a server handing out commands forever is an error, not a hang.
    for _ in 0..=shared.args.round_trips {
        if next.iter().all(u8::is_ascii_whitespace) {
            break;
        }
        let got = Command::decode(next.clone()).map_err(|e| format!("not a command: {e}"))?;
        let ack = if got.command_uuid == *uuid {
            delivered = true;
            match presigned_ack {
                Some(ack) => ack.clone(),
                None => device.request(&device.acknowledgement(uuid))?,
            }
        } else {
            unexpected.push(got.command_uuid.clone());
            device.request(&device.acknowledgement(&got.command_uuid))?
        };
        next = send(shared, &ack, Kind::Acknowledged, stats).await?;
    }
    match (delivered, unexpected.is_empty()) {
        (true, true) => Ok(()),
        (false, _) => Err(format!("command {uuid} was not delivered")),
        (true, false) => Err(format!("unexpected commands delivered: {unexpected:?}")),
    }
}

/// An error with its causes: reqwest's own message leaves out why (refused, reset, timeout).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    line
}

/// Linux reports process CPU time in clock ticks of 1/100 s (`USER_HZ`) on every architecture
/// it runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time used so far, in ticks: the server's, and that of the database's processes.
struct CpuSample {
    server: u64,
    db: Option<u64>,
}

impl CpuSample {
    fn take(args: &Args) -> Option<CpuSample> {
        let server = process_ticks(args.server_pid?, false)?;
        let db = args.db_process.as_deref().map(|name| {
            let mut total = 0;
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
                    continue;
                };
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim_end() == name {
                    // With the reaped children's time: PostgreSQL forks a backend per
                    // connection and its postmaster collects their time when they exit.
                    total += process_ticks(pid, true).unwrap_or(0);
                }
            }
            total
        });
        Some(CpuSample { server, db })
    }
}

/// User plus system time of a process (all its threads), from `/proc/<pid>/stat`; with
/// `children`, also that of its exited children.
fn process_ticks(pid: u32, children: bool) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let fields: Vec<u64> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // Fields 14–17 of stat(5) (utime, stime, cutime, cstime); the slice starts at field 3.
    let own = fields.get(11)? + fields.get(12)?;
    Some(if children {
        own + fields.get(13)? + fields.get(14)?
    } else {
        own
    })
}
