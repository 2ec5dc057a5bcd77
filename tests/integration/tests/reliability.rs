//! What a crash, a database outage and a second server on the same database do to the command
//! queue of the compiled reference server (issue #10).
//!
//! * `sqlite_sigkill_mid_load_loses_nothing`: SIGKILL mid-load, restart on the same file.
//! * `pgsql_outage_is_500_and_the_same_server_recovers`: the database goes away behind a TCP
//!   proxy and comes back; the server answers 500 meanwhile and recovers without a restart.
//! * `two_servers_share_one_pgsql_queue`, `two_servers_share_one_mysql_queue`: two server
//!   processes on one database, devices alternating between them at random.
//!
//! Simulated devices (P-256 identities, real signatures) run concurrently: per device an
//! enqueuer puts commands through the API and a device loop checks in `Idle` and acknowledges
//! what it gets, sometimes leaving a command unanswered as a device that goes back to sleep.
//! Each device keeps a [`Ledger`] of its commands: enqueued (the API said 200), acknowledged
//! (the ack got 200), or unknown (no answer, or a 500: the server may or may not have stored
//! it). Every delivery is checked against it as it happens — a command is never handed out
//! after its final status, always in FIFO order, byte-exact — and so is every empty answer (no
//! confirmed, unanswered command may be missing). At the end every device drains its queue and
//! the stored results are read from the database itself.
//!
//! The PostgreSQL and MySQL tests read `ROOTSTOCK_TEST_POSTGRES_URL` / `ROOTSTOCK_TEST_MYSQL_URL`
//! and say they were skipped when unset; each creates its own database and drops it at the end.

// Shared with the store tests, which use more of it.
#[allow(dead_code)]
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mdm_sim::proto::plist::Dictionary;
use mdm_sim::proto::{Command as MdmCommand, Raw};
use mdm_sim::{
    CertPresentation, Channel, Device, DeviceKind, DriverError, Error as SimError, HttpDriver,
    Identity, KeyKind, MdmClient, MdmPayload, Message, Report, Request, TestCa,
};
use rootstock_integration_tests::process::{self as support, ServerProcess};
use rootstock_integration_tests::server_binary;
use rootstock_test_support::proxy;
use sqlx::AssertSqlSafe;
use tokio::task::JoinHandle;

const TOPIC: &str = "com.apple.mgmt.External.5e1ab1e0-0c0a-4b1e-9a11-7e57ab1e0001";
const API_KEY: &str = "reliability-key";
/// No request may take longer: a server that hangs fails the test instead of stalling it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the test waits for load to reach a point (acks, 500s) before failing.
const PHASE_DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// What the test is doing to the server, as the request tasks see it.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Everything works: every request must get 200.
    Up = 0,
    /// The database is going away or coming back: 200 or 500.
    Changing = 1,
    /// The database is away: every request started after it went must get 500.
    Down = 2,
    /// The server is being (or was) killed: 200 or no response at all.
    Killed = 3,
}

#[derive(Default)]
struct PhaseCell(AtomicU8);

impl PhaseCell {
    fn get(&self) -> Phase {
        match self.0.load(Ordering::SeqCst) {
            0 => Phase::Up,
            1 => Phase::Changing,
            2 => Phase::Down,
            _ => Phase::Killed,
        }
    }

    fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Stats {
    /// Acknowledgements that got 200.
    acks: AtomicUsize,
    /// Device requests answered 500.
    mdm_500: AtomicUsize,
    /// API requests answered 500.
    api_500: AtomicUsize,
    /// Requests that got no answer (the server was killed).
    lost: AtomicUsize,
}

/// A request's outcome, once judged allowed for the phases it ran in.
enum Reply {
    /// 200, with the next command for a device request.
    Ok(Option<Raw<MdmCommand>>),
    /// 500.
    ServerError,
    /// No response.
    Lost,
}

/// The HTTP client, the phase and the counters every task shares.
struct Fleet {
    http: reqwest::Client,
    phase: PhaseCell,
    stats: Stats,
}

impl Fleet {
    fn new() -> Arc<Fleet> {
        Arc::new(Fleet {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap(),
            phase: PhaseCell::default(),
            stats: Stats::default(),
        })
    }

    /// Sends a device request (signed body, its headers) to `base`'s `/mdm`.
    async fn mdm(&self, what: &str, base: &str, request: &Request) -> Reply {
        let start = self.phase.get();
        let result = async {
            let response = self
                .http
                .put(format!("{base}/mdm"))
                .headers(request.headers().clone())
                .body(request.body().clone())
                .send()
                .await?;
            let status = response.status().as_u16();
            Ok((status, response.bytes().await?.to_vec()))
        }
        .await;
        let end = self.phase.get();
        self.judge(what, start, end, result, false)
    }

    /// `PUT /v1/enqueue/<id>?nopush=1` with the command for `uuid`.
    async fn enqueue(&self, base: &str, id: &str, uuid: &str) -> Reply {
        let start = self.phase.get();
        let result = async {
            let response = self
                .http
                .put(format!("{base}/v1/enqueue/{id}?nopush=1"))
                .basic_auth("nanomdm", Some(API_KEY))
                .body(command(uuid).bytes().clone())
                .send()
                .await?;
            let status = response.status().as_u16();
            Ok((status, response.bytes().await?.to_vec()))
        }
        .await;
        let end = self.phase.get();
        self.judge(&format!("enqueue {uuid}"), start, end, result, true)
    }

    fn judge(
        &self,
        what: &str,
        start: Phase,
        end: Phase,
        result: Result<(u16, Vec<u8>), reqwest::Error>,
        api: bool,
    ) -> Reply {
        let during = |p: Phase| start == p || end == p;
        match result {
            Ok((200, body)) => {
                assert!(
                    !(start == Phase::Down && end == Phase::Down),
                    "{what}: 200 while the database was down"
                );
                if api || body.iter().all(u8::is_ascii_whitespace) {
                    Reply::Ok(None)
                } else {
                    let command = MdmCommand::decode(body).unwrap_or_else(|e| {
                        panic!("{what}: a 200 whose body is not a command: {e}")
                    });
                    Reply::Ok(Some(command))
                }
            }
            Ok((500, _)) if during(Phase::Changing) || during(Phase::Down) => {
                let counter = if api {
                    &self.stats.api_500
                } else {
                    &self.stats.mdm_500
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Reply::ServerError
            }
            Ok((status, body)) => panic!(
                "{what}: HTTP {status} ({start:?} → {end:?}): {}",
                String::from_utf8_lossy(&body)
            ),
            Err(_) if during(Phase::Killed) => {
                self.stats.lost.fetch_add(1, Ordering::Relaxed);
                Reply::Lost
            }
            Err(e) => panic!("{what}: no response ({start:?} → {end:?}): {e:?}"),
        }
    }
}

/// The command enqueued as `uuid`: what the server must deliver, byte for byte.
fn command(uuid: &str) -> Raw<MdmCommand> {
    MdmCommand::build(uuid, "ProfileList", Dictionary::new())
}

// ---------------------------------------------------------------------------------------------
// Per device: what the server was told, and what it may therefore answer.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The enqueue got no 200 (yet): the command may or may not be queued.
    MaybeQueued,
    /// Enqueued, and not answered with a confirmed final status.
    Queued,
    /// The acknowledgement got 500 or no answer: the command may or may not be final.
    MaybeAcked,
    /// The acknowledgement got 200: final, never to be delivered again.
    Acked,
    /// An uncertain command that a later command was delivered past: it was never queued, or
    /// its acknowledgement was stored. It must not be delivered again.
    Gone,
}

struct Entry {
    uuid: String,
    state: State,
    /// The ledger's clock when the command was known to be queued.
    known_at: u64,
}

#[derive(Default)]
struct Ledger {
    /// In enqueue order (one enqueuer per device, one enqueue at a time).
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    clock: u64,
    deliveries: usize,
}

impl Ledger {
    fn now(&self) -> u64 {
        self.clock
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn entry(&mut self, uuid: &str) -> &mut Entry {
        let i = self.index[uuid];
        &mut self.entries[i]
    }

    fn enqueue_sent(&mut self, uuid: &str) {
        self.index.insert(uuid.to_owned(), self.entries.len());
        self.entries.push(Entry {
            uuid: uuid.to_owned(),
            state: State::MaybeQueued,
            known_at: 0,
        });
    }

    fn enqueue_confirmed(&mut self, uuid: &str) {
        let now = self.tick();
        let entry = self.entry(uuid);
        match entry.state {
            State::MaybeQueued => {
                entry.state = State::Queued;
                entry.known_at = now;
            }
            // Delivered (and perhaps acknowledged) before the enqueue's answer arrived.
            State::Queued | State::MaybeAcked | State::Acked => {}
            State::Gone => panic!("{uuid}: a later command was delivered before it"),
        }
    }

    /// The server delivered `command` to `device`: it must be the oldest command still queued,
    /// or an uncertain one before it; never one with a final status.
    fn delivered(&mut self, device: &str, command: &Raw<MdmCommand>) {
        let uuid = &command.command_uuid;
        let Some(&i) = self.index.get(uuid) else {
            panic!("{device}: the server delivered {uuid:?}, which was never enqueued for it");
        };
        assert_eq!(
            command.bytes(),
            crate::command(uuid).bytes(),
            "{device}: {uuid} not delivered byte-exact"
        );
        if let Some(earlier) = self.entries[..i].iter().find(|e| e.state == State::Queued) {
            panic!(
                "{device}: {uuid} delivered while {} (enqueued before it, unanswered) was still queued: not FIFO, or {} was lost",
                earlier.uuid, earlier.uuid
            );
        }
        match self.entries[i].state {
            State::Acked => {
                panic!("{device}: {uuid} delivered again after its acknowledgement got 200")
            }
            State::Gone => panic!(
                "{device}: {uuid} delivered after a command enqueued later had been delivered past it"
            ),
            State::Queued => {}
            State::MaybeQueued | State::MaybeAcked => {
                let now = self.tick();
                let entry = &mut self.entries[i];
                entry.state = State::Queued;
                entry.known_at = now;
            }
        }
        for earlier in &mut self.entries[..i] {
            if matches!(earlier.state, State::MaybeQueued | State::MaybeAcked) {
                earlier.state = State::Gone;
            }
        }
        self.deliveries += 1;
    }

    fn ack_confirmed(&mut self, uuid: &str) {
        let entry = self.entry(uuid);
        assert_eq!(entry.state, State::Queued, "{uuid}");
        entry.state = State::Acked;
    }

    fn ack_unconfirmed(&mut self, uuid: &str) {
        let entry = self.entry(uuid);
        assert_eq!(entry.state, State::Queued, "{uuid}");
        entry.state = State::MaybeAcked;
    }

    /// The server said nothing is queued for `device`, to a request sent at `since`: every
    /// command known to be queued by then must have been answered.
    fn nothing_queued(&self, device: &str, since: u64) {
        if let Some(lost) = self
            .entries
            .iter()
            .find(|e| e.state == State::Queued && e.known_at <= since)
        {
            panic!(
                "{device}: the server answered \"nothing queued\" but {} was enqueued and never answered: lost",
                lost.uuid
            );
        }
    }

    /// Commands not yet answered (known or possibly queued), to keep the backlog short.
    fn backlog(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.state, State::Queued | State::MaybeAcked))
            .count()
    }

    fn count(&self, state: State) -> usize {
        self.entries.iter().filter(|e| e.state == state).count()
    }
}

/// One enrolled simulated device: its client (to build and sign reports), its signed `Idle`,
/// and its ledger.
struct SimDevice {
    id: String,
    seed: u64,
    client: MdmClient,
    idle: Request,
    ledger: Mutex<Ledger>,
}

impl SimDevice {
    fn client(ca: &TestCa, seed: u64, base: &str) -> MdmClient {
        let identity = Identity::issue(ca, KeyKind::P256, &format!("reliability {seed}")).unwrap();
        MdmClient::new(
            Device::generate(DeviceKind::MacOs, seed),
            MdmPayload::new(format!("{base}/mdm"), TOPIC),
        )
        .with_identity(identity, CertPresentation::MdmSignature)
    }

    /// Enrolls a device (`Authenticate`, `TokenUpdate`) through `base`.
    async fn enroll(ca: &TestCa, seed: u64, base: &str) -> Result<Arc<SimDevice>, DriverError> {
        let mut client = Self::client(ca, seed, base);
        client.enroll();
        driver().run(&mut client).await?;
        assert!(client.is_enrolled(Channel::Device));
        let id = client.enroll_id(Channel::Device).unwrap().id().clone();
        let idle = client
            .sign(
                client
                    .build_request(Channel::Device, &Message::Report(Report::idle()))
                    .unwrap(),
            )
            .unwrap();
        Ok(Arc::new(SimDevice {
            id: id.to_string(),
            seed,
            client,
            idle,
            ledger: Mutex::default(),
        }))
    }

    fn ack(&self, uuid: &str) -> Request {
        let report = Report::acknowledged(uuid, Dictionary::new());
        let request = self
            .client
            .build_request(Channel::Device, &Message::Report(report))
            .unwrap();
        self.client.sign(request).unwrap()
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap()
    }

    fn uuid(&self, n: usize) -> String {
        format!("rel-{:03}-{n:05}", self.seed)
    }
}

fn driver() -> HttpDriver {
    HttpDriver::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
}

async fn enroll_all(ca: &TestCa, count: u64, bases: &[String]) -> Vec<Arc<SimDevice>> {
    let mut devices = Vec::new();
    for seed in 0..count {
        let base = &bases[fastrand::usize(..bases.len())];
        devices.push(SimDevice::enroll(ca, seed, base).await.expect("enrolled"));
    }
    devices
}

// ---------------------------------------------------------------------------------------------
// The load: per device an enqueuer and a device loop.

enum SessionEnd {
    /// The server said nothing (more) is queued.
    Drained,
    /// The device left a delivered command unanswered.
    Unanswered,
    ServerError,
    Lost,
}

/// One wake-up: `Idle`, then acknowledge up to `max_acks` commands in a row; each request goes
/// to a server picked at random from `bases`.
async fn session(
    fleet: &Fleet,
    device: &SimDevice,
    bases: &[String],
    rng: &mut fastrand::Rng,
    max_acks: usize,
) -> SessionEnd {
    let mut since = device.ledger().now();
    let base = &bases[rng.usize(..bases.len())];
    let mut reply = fleet
        .mdm(&format!("{} Idle", device.id), base, &device.idle)
        .await;
    let mut acks = 0;
    loop {
        let next = match reply {
            Reply::Ok(next) => next,
            Reply::ServerError => return SessionEnd::ServerError,
            Reply::Lost => return SessionEnd::Lost,
        };
        let Some(next) = next else {
            device.ledger().nothing_queued(&device.id, since);
            return SessionEnd::Drained;
        };
        device.ledger().delivered(&device.id, &next);
        if acks == max_acks {
            return SessionEnd::Unanswered;
        }
        acks += 1;
        let uuid = next.command_uuid.clone();
        since = device.ledger().now();
        let base = &bases[rng.usize(..bases.len())];
        reply = fleet
            .mdm(
                &format!("{} Acknowledged {uuid}", device.id),
                base,
                &device.ack(&uuid),
            )
            .await;
        if let Reply::Ok(_) = reply {
            device.ledger().ack_confirmed(&uuid);
            fleet.stats.acks.fetch_add(1, Ordering::Relaxed);
        } else {
            device.ledger().ack_unconfirmed(&uuid);
        }
    }
}

/// Wakes the device again and again until `stop` (or the server is gone).
async fn device_loop(
    fleet: Arc<Fleet>,
    device: Arc<SimDevice>,
    bases: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = fastrand::Rng::new();
    for _ in 0..200_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // 0: goes back to sleep without answering the first command it gets.
        let max_acks = rng.usize(0..=3);
        match session(&fleet, &device, &bases, &mut rng, max_acks).await {
            SessionEnd::Drained => sleep_ms(rng.u64(1..=3)).await,
            SessionEnd::Unanswered => {}
            SessionEnd::ServerError => sleep_ms(rng.u64(5..=15)).await,
            SessionEnd::Lost => return,
        }
    }
}

/// Enqueues up to `max_commands` commands for the device, one at a time, each to a server
/// picked at random; while all is up it keeps the backlog under `backlog` commands.
async fn enqueue_loop(
    fleet: Arc<Fleet>,
    device: Arc<SimDevice>,
    bases: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    max_commands: usize,
    backlog: usize,
) {
    let mut rng = fastrand::Rng::new();
    let mut n = 0;
    for _ in 0..200_000 {
        if n == max_commands || stop.load(Ordering::SeqCst) {
            return;
        }
        if fleet.phase.get() == Phase::Up && device.ledger().backlog() >= backlog {
            sleep_ms(1).await;
            continue;
        }
        let uuid = device.uuid(n);
        n += 1;
        device.ledger().enqueue_sent(&uuid);
        let base = &bases[rng.usize(..bases.len())];
        match fleet.enqueue(base, &device.id, &uuid).await {
            Reply::Ok(_) => {
                device.ledger().enqueue_confirmed(&uuid);
            }
            Reply::ServerError => sleep_ms(rng.u64(5..=15)).await,
            Reply::Lost => return,
        }
        sleep_ms(rng.u64(0..=2)).await;
    }
}

struct Load {
    stop: Arc<AtomicBool>,
    enqueuers: Vec<JoinHandle<()>>,
    devices: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(
        fleet: &Arc<Fleet>,
        devices: &[Arc<SimDevice>],
        bases: Vec<String>,
        max_commands: usize,
        backlog: usize,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let bases = Arc::new(bases);
        let enqueuers = devices
            .iter()
            .map(|d| {
                tokio::spawn(enqueue_loop(
                    fleet.clone(),
                    d.clone(),
                    bases.clone(),
                    stop.clone(),
                    max_commands,
                    backlog,
                ))
            })
            .collect();
        let devices = devices
            .iter()
            .map(|d| {
                tokio::spawn(device_loop(
                    fleet.clone(),
                    d.clone(),
                    bases.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        Load {
            stop,
            enqueuers,
            devices,
        }
    }

    /// Waits (bounded) until `done`; fails at once if a task stopped (panicked) meanwhile.
    async fn wait_until(&self, what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            if self.devices.iter().any(JoinHandle::is_finished)
                || self
                    .enqueuers
                    .iter()
                    .any(|t| t.is_finished() && !self.stop.load(Ordering::SeqCst))
            {
                panic!("waiting for {what}: a load task stopped early (see its panic above)");
            }
            assert!(
                start.elapsed() < PHASE_DEADLINE,
                "waiting for {what}: not reached within {PHASE_DEADLINE:?}"
            );
            sleep_ms(5).await;
        }
    }

    /// Waits for every enqueuer to finish its commands.
    async fn enqueuers_done(&mut self) {
        for task in self.enqueuers.drain(..) {
            tokio::time::timeout(PHASE_DEADLINE, task)
                .await
                .expect("the enqueuers finish")
                .expect("an enqueuer failed");
        }
    }

    /// Stops every task and waits for it, re-raising a task's panic.
    async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.enqueuers.into_iter().chain(self.devices) {
            tokio::time::timeout(PHASE_DEADLINE, task)
                .await
                .expect("load tasks stop")
                .expect("a load task failed");
        }
    }
}

/// Every device empties its queue (each request to a server picked at random from `bases`):
/// everything still queued is delivered in order and acknowledged, and then nothing is left.
async fn drain(fleet: &Fleet, devices: &[Arc<SimDevice>], bases: &[String]) -> usize {
    let mut rng = fastrand::Rng::new();
    let mut delivered = 0;
    for device in devices {
        let before = device.ledger().deliveries;
        let end = session(fleet, device, bases, &mut rng, usize::MAX).await;
        assert!(
            matches!(end, SessionEnd::Drained),
            "{}: not drained",
            device.id
        );
        let after = device.ledger().deliveries;
        // A second wake-up gets nothing.
        session(fleet, device, bases, &mut rng, usize::MAX).await;
        assert_eq!(device.ledger().deliveries, after, "{}", device.id);
        delivered += after - before;
        let ledger = device.ledger();
        assert_eq!(ledger.count(State::Queued), 0, "{}", device.id);
    }
    delivered
}

/// `(id, command_uuid, status)` of every row in `command_results` must agree with the ledgers:
/// each confirmed acknowledgement is stored as `Acknowledged`; no command still queued has a
/// result; nothing else is there.
fn check_results(devices: &[Arc<SimDevice>], rows: Vec<(String, String, String)>) {
    let ledgers: Vec<_> = devices
        .iter()
        .map(|d| (d.id.as_str(), d.ledger()))
        .collect();
    let ledgers: Vec<_> = ledgers.iter().map(|(id, l)| (*id, &**l)).collect();
    check_rows(&ledgers, rows);
}

fn check_rows(ledgers: &[(&str, &Ledger)], rows: Vec<(String, String, String)>) {
    let rows: HashMap<(String, String), String> = rows
        .into_iter()
        .map(|(id, uuid, status)| ((id, uuid), status))
        .collect();
    let mut known = 0;
    for (id, ledger) in ledgers {
        for entry in &ledger.entries {
            let row = rows.get(&((*id).to_owned(), entry.uuid.clone()));
            known += usize::from(row.is_some());
            match (entry.state, row) {
                (State::Acked, Some(status)) => assert_eq!(
                    status, "Acknowledged",
                    "{id}: {} stored with the wrong status",
                    entry.uuid
                ),
                (State::Acked, None) => panic!(
                    "{id}: {} was acknowledged (200) but command_results has no row for it",
                    entry.uuid
                ),
                (State::Queued, Some(status)) => panic!(
                    "{id}: {} was never answered but command_results says {status}",
                    entry.uuid
                ),
                (_, Some(status)) => assert_eq!(status, "Acknowledged", "{id}: {}", entry.uuid),
                (_, None) => {}
            }
        }
    }
    assert_eq!(
        known,
        rows.len(),
        "command_results holds results for commands no device acknowledged"
    );
}

const RESULTS_QUERY: &str = "SELECT id, command_uuid, status FROM command_results";

async fn sqlite_results(path: &Path) -> Vec<(String, String, String)> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let pool = sqlx::sqlite::SqlitePool::connect_with(options)
        .await
        .expect("open the database file");
    let rows = sqlx::query_as(RESULTS_QUERY)
        .fetch_all(&pool)
        .await
        .expect("read command_results");
    pool.close().await;
    rows
}

fn summary(devices: &[Arc<SimDevice>]) -> String {
    let mut counts = [0usize; 5];
    for device in devices {
        let ledger = device.ledger();
        for (i, state) in [
            State::MaybeQueued,
            State::Queued,
            State::MaybeAcked,
            State::Acked,
            State::Gone,
        ]
        .into_iter()
        .enumerate()
        {
            counts[i] += ledger.count(state);
        }
    }
    format!(
        "{} uncertain enqueues, {} queued, {} uncertain acks, {} acknowledged, {} resolved uncertain",
        counts[0], counts[1], counts[2], counts[3], counts[4]
    )
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

fn server(dir: &Path, storage: &str, dsn: &str) -> ServerProcess {
    support::spawn_server(
        server_binary!(),
        dir,
        API_KEY,
        &["-storage", storage, "-storage-dsn", dsn],
    )
}

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL on SQLite.

/// SIGKILL the server in the middle of concurrent enqueues, deliveries and acknowledgements,
/// then start it again on the same file: every acknowledgement that got 200 is in
/// `command_results` and never delivered again; every command enqueued and not answered is
/// still queued, delivered in order and acknowledgeable; requests cut off by the kill may have
/// gone either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigkill_mid_load_loses_nothing() {
    const DEVICES: u64 = 6;
    const KILL_AFTER_ACKS: usize = 150;

    let started = Instant::now();
    let (dir, ca) = support::dir_with_device_ca();
    let db = dir.path().join("db.sqlite");
    let mut first = server(dir.path(), "sqlite", "db.sqlite");
    let fleet = Fleet::new();
    let devices = enroll_all(&ca, DEVICES, std::slice::from_ref(&first.base)).await;

    let load = Load::start(&fleet, &devices, vec![first.base.clone()], usize::MAX, 6);
    load.wait_until("acknowledgements before the kill", || {
        fleet.stats.acks.load(Ordering::Relaxed) >= KILL_AFTER_ACKS
    })
    .await;
    fleet.phase.set(Phase::Killed);
    first.kill();
    load.stop().await;
    first.assert_no_panic();
    eprintln!(
        "killed after {:?}: {}; {} requests cut off",
        started.elapsed(),
        summary(&devices),
        fleet.stats.lost.load(Ordering::Relaxed)
    );

    // What the killed server left in the file.
    check_results(&devices, sqlite_results(&db).await);

    let mut second = server(dir.path(), "sqlite", "db.sqlite");
    fleet.phase.set(Phase::Up);
    let delivered = drain(&fleet, &devices, std::slice::from_ref(&second.base)).await;
    second.assert_no_panic();
    assert!(second.terminate().success());
    check_results(&devices, sqlite_results(&db).await);
    eprintln!(
        "after the restart {delivered} deliveries drained every queue: {} ({:?} in all)",
        summary(&devices),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL and MySQL test databases.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Postgres,
    MySql,
}

static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// A freshly created database on the test server, dropped when this is dropped.
struct TestDb {
    dialect: Dialect,
    /// The URL from the environment.
    admin_url: String,
    name: String,
}

impl TestDb {
    async fn create(dialect: Dialect) -> Option<TestDb> {
        let var = match dialect {
            Dialect::Postgres => "ROOTSTOCK_TEST_POSTGRES_URL",
            Dialect::MySql => "ROOTSTOCK_TEST_MYSQL_URL",
        };
        let Ok(admin_url) = std::env::var(var) else {
            eprintln!("skipped: {var} is not set");
            return None;
        };
        let name = format!(
            "rootstock_reliability_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let db = TestDb {
            dialect,
            admin_url,
            name,
        };
        db.admin(&format!("CREATE DATABASE {}", db.name)).await;
        Some(db)
    }

    async fn admin(&self, statement: &str) {
        admin(self.dialect, &self.admin_url, statement).await;
    }

    /// The database's URL, reached through `via` (a proxy) if given.
    fn url(&self, via: Option<SocketAddr>) -> String {
        let mut url = url::Url::parse(&self.admin_url).expect("a database URL");
        url.set_path(&format!("/{}", self.name));
        if let Some(addr) = via {
            url.set_host(Some(&addr.ip().to_string())).unwrap();
            url.set_port(Some(addr.port())).unwrap();
        }
        url.to_string()
    }

    /// The database as a go-sql-driver DSN (`user:password@tcp(host:port)/name?parseTime=true`),
    /// as NanoMDM operators write it.
    fn go_mysql_dsn(&self) -> String {
        let url = url::Url::parse(&self.admin_url).expect("a database URL");
        let password = url.password().map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "{}{password}@tcp({}:{})/{}?parseTime=true",
            url.username(),
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(3306),
            self.name
        )
    }

    fn storage(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => "pgsql",
            Dialect::MySql => "mysql",
        }
    }

    async fn results(&self) -> Vec<(String, String, String)> {
        let url = self.url(None);
        match self.dialect {
            Dialect::Postgres => {
                let pool = sqlx::postgres::PgPool::connect(&url).await.unwrap();
                let rows = sqlx::query_as(RESULTS_QUERY)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                rows
            }
            Dialect::MySql => {
                let pool = sqlx::mysql::MySqlPool::connect(&url).await.unwrap();
                let rows = sqlx::query_as(RESULTS_QUERY)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                rows
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let statement = match self.dialect {
            Dialect::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Dialect::MySql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let (dialect, url) = (self.dialect, self.admin_url.clone());
        // Drop may run inside the test's runtime (or while unwinding): use a runtime of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(admin(dialect, &url, &statement));
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// Runs one statement on the test server (the database named in its URL).
async fn admin(dialect: Dialect, url: &str, statement: &str) {
    let statement = AssertSqlSafe(statement.to_owned());
    match dialect {
        Dialect::Postgres => {
            let pool = sqlx::postgres::PgPool::connect(url)
                .await
                .expect("connect to the PostgreSQL test server");
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Dialect::MySql => {
            let pool = sqlx::mysql::MySqlPool::connect(url)
                .await
                .expect("connect to the MySQL test server");
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. PostgreSQL goes away and comes back.

/// The database goes away mid-load as a stopped server does (a TCP proxy in front of it closes
/// every connection and stops listening, so new connections are refused): device and API requests get 500 — never 401 or another status, never a
/// hang — and the server does not panic. When it comes back the same server process serves
/// enrollments and command round trips again, and no acknowledged result was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_outage_is_500_and_the_same_server_recovers() {
    const DEVICES: u64 = 4;
    const ACKS_BEFORE: usize = 60;
    const ACKS_AFTER: usize = 60;

    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let started = Instant::now();
    let proxy = proxy::Proxy::start(proxy::upstream(&db.admin_url, 5432)).await;
    let (dir, ca) = support::dir_with_device_ca();
    let mut server = server(dir.path(), "pgsql", &db.url(Some(proxy.addr)));
    let base = server.base.clone();
    let fleet = Fleet::new();
    let mut devices = enroll_all(&ca, DEVICES, std::slice::from_ref(&base)).await;

    let load = Load::start(&fleet, &devices, vec![base.clone()], usize::MAX, 6);
    load.wait_until("acknowledgements before the outage", || {
        fleet.stats.acks.load(Ordering::Relaxed) >= ACKS_BEFORE
    })
    .await;

    fleet.phase.set(Phase::Changing);
    proxy.refuse().await;
    fleet.phase.set(Phase::Down);
    let down_at = Instant::now();
    // A device cannot enroll meanwhile: 500, so it tries again later.
    match SimDevice::enroll(&ca, 100, &base).await {
        Err(DriverError::Device(SimError::Refused { status: 500, .. })) => {}
        other => panic!(
            "enrolling while the database is down: {:?}",
            other.map(|d| d.id.clone())
        ),
    }
    load.wait_until("500s while the database is down", || {
        // Each waits for the pool's acquire timeout (5 s) before its 500.
        fleet.stats.mdm_500.load(Ordering::Relaxed) >= DEVICES as usize
            && fleet.stats.api_500.load(Ordering::Relaxed) >= DEVICES as usize
    })
    .await;
    let down_for = down_at.elapsed();
    let (mdm_500, api_500) = (
        fleet.stats.mdm_500.load(Ordering::Relaxed),
        fleet.stats.api_500.load(Ordering::Relaxed),
    );

    fleet.phase.set(Phase::Changing);
    proxy.up();
    fleet.phase.set(Phase::Up);
    let acks_at_up = fleet.stats.acks.load(Ordering::Relaxed);
    load.wait_until("acknowledgements after the outage", || {
        fleet.stats.acks.load(Ordering::Relaxed) >= acks_at_up + ACKS_AFTER
    })
    .await;
    load.stop().await;

    // Enrollment works again (the device refused during the outage, and a new one), and so
    // does a command round trip for them.
    let refused_before = SimDevice::enroll(&ca, 100, &base)
        .await
        .expect("enrolls after the outage");
    let new = SimDevice::enroll(&ca, 101, &base)
        .await
        .expect("enrolls after the outage");
    for device in [refused_before, new] {
        for n in 0..2 {
            let uuid = device.uuid(n);
            device.ledger().enqueue_sent(&uuid);
            assert!(matches!(
                fleet.enqueue(&base, &device.id, &uuid).await,
                Reply::Ok(_)
            ));
            device.ledger().enqueue_confirmed(&uuid);
        }
        devices.push(device);
    }

    let delivered = drain(&fleet, &devices, std::slice::from_ref(&base)).await;
    for device in &devices[DEVICES as usize..] {
        assert_eq!(device.ledger().count(State::Acked), 2, "{}", device.id);
    }
    check_results(&devices, db.results().await);
    server.assert_no_panic();
    assert!(server.terminate().success());
    eprintln!(
        "pgsql outage: {mdm_500} device and {api_500} API requests got 500 in {down_for:?}; \
         drained {delivered}; {} ({:?} in all)",
        summary(&devices),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Two servers, one database.

/// Two server processes on one database, every device request and every enqueue going to
/// either at random, several devices at once: no command is delivered after its final status,
/// every delivery is in FIFO order, and every enqueued command is delivered and acknowledged.
async fn two_servers_share_one_queue(dialect: Dialect) {
    const DEVICES: u64 = 6;
    const COMMANDS: usize = 15;

    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let started = Instant::now();
    let (dir, ca) = support::dir_with_device_ca();
    let mut a = server(dir.path(), db.storage(), &db.url(None));
    // The second server as a NanoMDM operator would configure it for MySQL.
    let dsn_b = match dialect {
        Dialect::Postgres => db.url(None),
        Dialect::MySql => db.go_mysql_dsn(),
    };
    let mut b = server(dir.path(), db.storage(), &dsn_b);
    let bases = vec![a.base.clone(), b.base.clone()];
    let fleet = Fleet::new();
    let devices = enroll_all(&ca, DEVICES, &bases).await;

    let mut load = Load::start(&fleet, &devices, bases.clone(), COMMANDS, 3);
    load.enqueuers_done().await;
    load.wait_until("the devices to answer every command", || {
        devices
            .iter()
            .all(|d| d.ledger().count(State::Acked) == COMMANDS)
    })
    .await;
    load.stop().await;

    let delivered = drain(&fleet, &devices, &bases).await;
    assert_eq!(
        delivered, 0,
        "a command was delivered after all were acknowledged"
    );
    for device in &devices {
        assert_eq!(
            device.ledger().count(State::Acked),
            COMMANDS,
            "{}",
            device.id
        );
    }
    check_results(&devices, db.results().await);
    let deliveries: usize = devices.iter().map(|d| d.ledger().deliveries).sum();
    a.assert_no_panic();
    b.assert_no_panic();
    assert!(a.terminate().success());
    assert!(b.terminate().success());
    eprintln!(
        "two servers on {dialect:?}: {} commands acknowledged, {deliveries} deliveries ({:?})",
        DEVICES as usize * COMMANDS,
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_pgsql_queue() {
    two_servers_share_one_queue(Dialect::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_mysql_queue() {
    two_servers_share_one_queue(Dialect::MySql).await;
}

// ---------------------------------------------------------------------------------------------
// The ledger's checks fail on what a buggy server would make a device see.

mod ledger_checks {
    use super::*;

    fn ledger(uuids: &[&str]) -> Ledger {
        let mut ledger = Ledger::default();
        for uuid in uuids {
            ledger.enqueue_sent(uuid);
            ledger.enqueue_confirmed(uuid);
        }
        ledger
    }

    #[test]
    #[should_panic(expected = "delivered again after its acknowledgement got 200")]
    fn a_command_delivered_after_its_final_status() {
        let mut l = ledger(&["a", "b"]);
        l.delivered("d", &command("a"));
        l.ack_confirmed("a");
        l.delivered("d", &command("a"));
    }

    #[test]
    #[should_panic(expected = "not FIFO")]
    fn a_command_delivered_out_of_order() {
        ledger(&["a", "b"]).delivered("d", &command("b"));
    }

    #[test]
    #[should_panic(expected = "lost")]
    fn an_unanswered_command_missing() {
        let l = ledger(&["a"]);
        l.nothing_queued("d", l.now());
    }

    #[test]
    #[should_panic(expected = "never enqueued")]
    fn a_command_never_enqueued() {
        ledger(&["a"]).delivered("d", &command("z"));
    }

    #[test]
    #[should_panic(expected = "byte-exact")]
    fn a_command_altered() {
        let other = MdmCommand::build("a", "DeviceInformation", Dictionary::new());
        ledger(&["a"]).delivered("d", &other);
    }

    fn acked(uuid: &str) -> Ledger {
        let mut l = ledger(&[uuid]);
        l.delivered("d", &command(uuid));
        l.ack_confirmed(uuid);
        l
    }

    fn row(status: &str) -> (String, String, String) {
        ("d".to_owned(), "a".to_owned(), status.to_owned())
    }

    #[test]
    #[should_panic(expected = "stored with the wrong status")]
    fn a_result_stored_wrong() {
        check_rows(&[("d", &acked("a"))], vec![row("NotNow")]);
    }

    #[test]
    #[should_panic(expected = "has no row")]
    fn a_result_not_stored() {
        check_rows(&[("d", &acked("a"))], vec![]);
    }

    #[test]
    #[should_panic(expected = "never answered")]
    fn a_result_for_an_unanswered_command() {
        check_rows(&[("d", &ledger(&["a"]))], vec![row("Acknowledged")]);
    }

    #[test]
    fn nothing_queued_may_predate_an_enqueue() {
        let mut l = Ledger::default();
        // The Idle is sent, then an enqueue is answered before the Idle is.
        let since = l.now();
        l.enqueue_sent("a");
        l.enqueue_confirmed("a");
        l.nothing_queued("d", since);
    }

    #[test]
    fn uncertain_commands_may_go_either_way() {
        let mut l = ledger(&["a"]);
        l.enqueue_sent("b"); // a 500: maybe queued
        l.enqueue_sent("c");
        l.enqueue_confirmed("c");
        l.delivered("d", &command("a"));
        l.ack_unconfirmed("a"); // a 500: maybe final
        l.delivered("d", &command("a")); // it was not
        l.ack_confirmed("a");
        l.delivered("d", &command("c")); // b was never stored
        l.ack_confirmed("c");
        l.nothing_queued("d", l.now());
        assert_eq!(l.count(State::Gone), 1);
        assert_eq!(l.count(State::Acked), 2);
        check_rows(
            &[("d", &l)],
            vec![
                row("Acknowledged"),
                ("d".into(), "c".into(), "Acknowledged".into()),
            ],
        );
    }

    #[test]
    #[should_panic(expected = "delivered past it")]
    fn an_uncertain_command_skipped_then_delivered() {
        let mut l = ledger(&["a"]);
        l.enqueue_sent("b");
        l.enqueue_sent("c");
        l.enqueue_confirmed("c");
        l.delivered("d", &command("a"));
        l.ack_confirmed("a");
        l.delivered("d", &command("c"));
        l.delivered("d", &command("b"));
    }
}
