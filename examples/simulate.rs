//! Simulated devices against an MDM server: enrolls N devices and keeps them answering commands
//! until Ctrl-C (or `--duration`), printing one line per exchange.
//!
//! ```text
//! # once: make a device CA, and give its certificate to the server (NanoMDM: -ca sim-ca.pem)
//! cargo run --example simulate --features sim -- --new-ca --ca sim-ca.pem --ca-key sim-ca.key
//! # then:
//! cargo run --example simulate --features sim -- \
//!     --server http://127.0.0.1:9000/mdm --devices 4 --ca sim-ca.pem --ca-key sim-ca.key
//! # or, against a server that issues identities (rootstock-server --dev, or -scep-ca and
//! # -server-url): enroll as a device does, from the enrollment profile and SCEP
//! cargo run --example simulate --features sim -- --enroll http://127.0.0.1:9000/enroll
//! ```
//!
//! Devices have no APNs connection, so instead of waiting for a push each one checks in every
//! `--interval` seconds (with jitter) and answers whatever the server has queued.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mdm_sim::{
    CertHeaderEncoding, CertPresentation, Channel, Device, DeviceKind, DriverError, Error, Event,
    HttpDriver, Identity, KeyKind, MdmClient, MdmPayload, TestCa,
};

const USAGE: &str = "\
usage: simulate --server URL --ca PATH --ca-key PATH [options]
       simulate --enroll URL [options]
       simulate --new-ca --ca PATH --ca-key PATH

  --enroll URL            enroll from the enrollment profile at URL: its MDM payload, and an
                          identity from its SCEP payload (instead of --server, --ca, --ca-key)

  --server URL            the profile's ServerURL (e.g. http://127.0.0.1:9000/mdm)
  --check-in-url URL      the profile's CheckInURL (default: check in at --server)
  --topic TOPIC           push topic (default com.apple.mgmt.External.rootstock-simulator)
  --devices N             how many devices (default 1)
  --kinds K,K…            device kinds, used in turn: macos, ios, user-enrollment,
                          shared-ipad (default: all four)
  --ca PATH --ca-key PATH the CA that issues device identities (PEM certificate, PKCS#8 key)
  --new-ca                generate a CA, write it to --ca and --ca-key, and exit
  --key rsa|p256          device identity key (default rsa, as devices use)
  --cert-header NAME      present the certificate in header NAME (as a TLS-terminating proxy
                          would) instead of signing with Mdm-Signature
  --cert-header-encoding pem|rfc9440   (default pem: URL-escaped PEM)
  --interval SECS         seconds between a device's check-ins (default 10)
  --duration SECS         stop after this long (default: run until Ctrl-C)
  --check-out             send CheckOut from every device when stopping
  --root-ca PATH          trust this CA for an HTTPS server (default: the system roots)
  --seed N                first device seed; the same seed gives the same devices (default 1)
";

struct Args {
    enroll: Option<String>,
    server: String,
    check_in_url: Option<String>,
    topic: String,
    devices: u64,
    kinds: Vec<DeviceKind>,
    ca: String,
    ca_key: String,
    new_ca: bool,
    key: KeyKind,
    cert_header: Option<(String, CertHeaderEncoding)>,
    interval: Duration,
    duration: Option<Duration>,
    check_out: bool,
    root_ca: Option<String>,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut enroll = None;
    let mut server = None;
    let mut check_in_url = None;
    let mut topic = "com.apple.mgmt.External.rootstock-simulator".to_owned();
    let mut devices = 1;
    let mut kinds = DeviceKind::ALL.to_vec();
    let (mut ca, mut ca_key, mut new_ca) = (None, None, false);
    let mut key = KeyKind::Rsa2048;
    let (mut header_name, mut header_encoding) = (None, CertHeaderEncoding::EscapedPem);
    let mut interval = Duration::from_secs(10);
    let mut duration = None;
    let mut check_out = false;
    let mut root_ca = None;
    let mut seed = 1;
    let secs = |v: String| -> Result<Duration, String> {
        v.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("not a number of seconds: {v}"))
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--enroll" => enroll = Some(value()?),
            "--server" => server = Some(value()?),
            "--check-in-url" => check_in_url = Some(value()?),
            "--topic" => topic = value()?,
            "--devices" => {
                devices = value()?
                    .parse()
                    .map_err(|_| "--devices needs a number".to_owned())?
            }
            "--kinds" => {
                kinds = value()?
                    .split(',')
                    .map(|k| DeviceKind::from_name(k).ok_or(format!("unknown device kind {k}")))
                    .collect::<Result<_, _>>()?
            }
            "--ca" => ca = Some(value()?),
            "--ca-key" => ca_key = Some(value()?),
            "--new-ca" => new_ca = true,
            "--key" => {
                key = match value()?.as_str() {
                    "rsa" => KeyKind::Rsa2048,
                    "p256" => KeyKind::P256,
                    other => return Err(format!("--key is rsa or p256, not {other}")),
                }
            }
            "--cert-header" => header_name = Some(value()?),
            "--cert-header-encoding" => {
                header_encoding = match value()?.as_str() {
                    "pem" => CertHeaderEncoding::EscapedPem,
                    "rfc9440" => CertHeaderEncoding::Rfc9440,
                    other => return Err(format!("unknown header encoding {other}")),
                }
            }
            "--interval" => interval = secs(value()?)?,
            "--duration" => duration = Some(secs(value()?)?),
            "--check-out" => check_out = true,
            "--root-ca" => root_ca = Some(value()?),
            "--seed" => {
                seed = value()?
                    .parse()
                    .map_err(|_| "--seed needs a number".to_owned())?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if let Some(url) = server
        .iter()
        .chain(&check_in_url)
        .chain(&enroll)
        .find(|u| !is_http_url(u))
    {
        return Err(format!("not an http:// or https:// URL: {url}"));
    }
    let (ca, ca_key) = match (ca, ca_key, &enroll) {
        (Some(ca), Some(ca_key), _) => (ca, ca_key),
        (None, None, Some(_)) => (String::new(), String::new()),
        _ => return Err("--ca and --ca-key are required (or --enroll)".into()),
    };
    if kinds.is_empty() {
        return Err("--kinds names no kind".into());
    }
    Ok(Args {
        server: match (server, new_ca || enroll.is_some()) {
            (Some(server), _) => server,
            (None, true) => String::new(),
            (None, false) => return Err("--server is required".into()),
        },
        enroll,
        check_in_url,
        topic,
        devices,
        kinds,
        ca,
        ca_key,
        new_ca,
        key,
        cert_header: header_name.map(|name| (name, header_encoding)),
        interval,
        duration,
        check_out,
        root_ca,
        seed,
    })
}

fn is_http_url(url: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .any(|scheme| url.len() > scheme.len() && url[..scheme.len()].eq_ignore_ascii_case(scheme))
}

/// Counts for the summary at the end.
#[derive(Default)]
struct Totals {
    exchanges: AtomicU64,
    commands: AtomicU64,
    errors: AtomicU64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("simulate: {message}\n");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("simulate: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.new_ca {
        let ca = TestCa::generate(KeyKind::Rsa2048, "Rootstock Simulator Device CA")
            .map_err(|e| e.to_string())?;
        for (path, pem) in [(&args.ca, ca.cert_pem()), (&args.ca_key, ca.key_pem())] {
            if std::path::Path::new(path).exists() {
                return Err(format!("{path} exists; not overwriting it"));
            }
            std::fs::write(path, pem).map_err(|e| format!("{path}: {e}"))?;
        }
        println!(
            "wrote {} and {}: give {} to the server as the CA of device identities",
            args.ca, args.ca_key, args.ca
        );
        return Ok(());
    }
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"));
    let ca = match &args.enroll {
        Some(_) => None,
        None => Some(
            TestCa::from_pem(&read(&args.ca)?, &read(&args.ca_key)?)
                .map_err(|e| format!("loading the CA: {e}"))?,
        ),
    };

    let mut driver = HttpDriver::builder();
    if let Some(root) = &args.root_ca {
        driver = driver.trust_root_pem(read(root)?);
    }
    let driver = driver.build().map_err(|e| e.to_string())?;

    let mut payload = MdmPayload::new(args.server.as_str(), args.topic.as_str());
    if let Some(url) = &args.check_in_url {
        payload = payload.with_check_in_url(url.as_str());
    }
    let presentation = match &args.cert_header {
        None => CertPresentation::MdmSignature,
        Some((name, encoding)) => CertPresentation::Header {
            name: name
                .parse()
                .map_err(|_| format!("bad header name {name}"))?,
            encoding: *encoding,
        },
    };

    let started = Instant::now();
    let totals = Arc::new(Totals::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.devices {
        let kind = args.kinds[(i % args.kinds.len() as u64) as usize];
        let device = Device::generate(kind, args.seed + i);
        let label = format!("{i:>4} {:<15}", kind.as_str());
        let client = match (&args.enroll, &ca) {
            (Some(url), _) => driver
                .enroll_with_profile(url, device)
                .await
                .map_err(|e| format!("{label} enrolling from {url}: {}", chain(&e)))?,
            (None, Some(ca)) => {
                issued_client(ca, device, i, args.key, &payload, &presentation).await?
            }
            (None, None) => unreachable!("a CA without --enroll"),
        };
        tasks.spawn(simulate_device(
            client,
            Output {
                label,
                started,
                totals: totals.clone(),
            },
            driver.clone(),
            args.interval,
            args.check_out,
            stop_rx.clone(),
        ));
    }

    match args.duration {
        Some(d) => tokio::time::sleep(d).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    // Devices finish the exchange they are in (and check out if asked), then stop.
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    println!(
        "{:>8.3}s stopped: {} exchanges, {} commands answered, {} errors",
        started.elapsed().as_secs_f64(),
        totals.exchanges.load(Ordering::Relaxed),
        totals.commands.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed),
    );
    Ok(())
}

/// An error and its sources, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

/// A client whose identity `ca` issues here (the simulator's own CA, trusted by the server).
async fn issued_client(
    ca: &TestCa,
    device: Device,
    i: u64,
    key: KeyKind,
    payload: &MdmPayload,
    presentation: &CertPresentation,
) -> Result<MdmClient, String> {
    // SCEP-issued identities often carry the device id as their common name.
    let name = device
        .udid
        .clone()
        .or_else(|| device.enrollment_id.clone())
        .unwrap_or_else(|| format!("device-{i}"));
    // RSA key generation takes a while: keep it off the async workers.
    let (ca_pem, ca_key) = (ca.cert_pem(), ca.key_pem());
    let identity = tokio::task::spawn_blocking(move || {
        let ca = TestCa::from_pem(&ca_pem, &ca_key)?;
        Identity::issue(&ca, key, &name)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("issuing an identity: {e}"))?;
    Ok(MdmClient::new(device, payload.clone()).with_identity(identity, presentation.clone()))
}

/// Where a device's lines go.
struct Output {
    label: String,
    started: Instant,
    totals: Arc<Totals>,
}

impl Output {
    /// Runs `client`'s exchanges until it has nothing to send, printing one line each.
    async fn drain(&self, client: &mut MdmClient, driver: &HttpDriver) {
        while let Some(result) = driver.exchange(client).await {
            self.totals.exchanges.fetch_add(1, Ordering::Relaxed);
            let line = match result {
                Ok(event) => describe(&event, &self.totals),
                Err(e) => {
                    self.totals.errors.fetch_add(1, Ordering::Relaxed);
                    describe_error(&e)
                }
            };
            let elapsed = self.started.elapsed().as_secs_f64();
            println!("{elapsed:>8.3}s {} {line}", self.label);
        }
    }
}

/// Enrolls, then checks in every `interval` (± 25 %) on each enrolled channel until stopped. A
/// device whose enrollment failed tries again at its next check-in.
async fn simulate_device(
    mut client: MdmClient,
    out: Output,
    driver: HttpDriver,
    interval: Duration,
    check_out: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        // (A client from an enrollment profile starts with its enrollment queued.)
        if !client.is_enrolled(Channel::Device) && client.is_idle() {
            client.enroll();
        } else {
            for channel in client.device().channels().collect::<Vec<_>>() {
                if client.is_enrolled(channel) {
                    client.check_in(channel);
                }
            }
        }
        out.drain(&mut client, &driver).await;
        let jitter = 0.75 + random_fraction(&out.label) * 0.5;
        tokio::select! {
            _ = tokio::time::sleep(interval.mul_f64(jitter)) => {}
            _ = stop.changed() => break,
        }
    }
    if check_out && client.is_enrolled(Channel::Device) {
        client.check_out();
        out.drain(&mut client, &driver).await;
    }
}

fn describe(event: &Event, totals: &Totals) -> String {
    match event {
        Event::CheckIn {
            channel,
            message_type,
            ..
        } => format!("{:<6} {message_type} accepted", channel.as_str()),
        Event::Report {
            channel,
            status,
            command_uuid,
            next_command,
            ..
        } => {
            if command_uuid.is_some() {
                totals.commands.fetch_add(1, Ordering::Relaxed);
            }
            let sent = match command_uuid {
                Some(uuid) => format!("{status} {uuid}"),
                None => status.to_string(),
            };
            let got = match next_command {
                Some(c) => format!("{} {}", c.request_type, c.command_uuid),
                None => "nothing queued".to_owned(),
            };
            format!("{:<6} {sent} -> {got}", channel.as_str())
        }
        other => format!("{other:?}"),
    }
}

fn describe_error(e: &DriverError) -> String {
    match e {
        DriverError::Device(Error::Refused {
            channel,
            sent,
            status,
            body,
        }) => format!(
            "{:<6} {sent} refused: HTTP {status} {}",
            channel.as_str(),
            String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
        ),
        other => {
            // reqwest's own message leaves out why (refused, TLS, timeout): add the causes.
            let mut line = format!("error: {other}");
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                line.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            line
        }
    }
}

/// A number in [0, 1) that differs between devices and calls, to spread check-ins out without
/// another dependency.
fn random_fraction(label: &str) -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let hash = RandomState::new().hash_one(label);
    (hash >> 11) as f64 / (1u64 << 53) as f64
}
