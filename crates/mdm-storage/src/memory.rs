use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use mdm_enrollment::{EnrollId, EnrollType, EnrollmentId};
use mdm_proto::{
    Authenticate, BootstrapToken, CertHash, Command, CommandReport, PushInfo, Raw, Secret,
    SetBootstrapToken, Status, TokenUpdate, UserAuthenticate,
};

use self::queue::{Key, Pending, Queue};
use crate::{
    BootstrapTokenStore, CertAuthStore, CertBindMode, CertBinding, CheckInStore, CommandQueue,
    MigrationStore, PushCertStore, PushStore, ReportOutcome, StorageError, StoredPushCert,
    TokenUpdateTallyStore,
};

mod import;
mod inspect;
mod queue;

/// A store in memory, for tests and for servers that may forget everything when they stop.
///
/// It keeps what the storage traits read back — enrollments and their push info, tallies,
/// queues, bootstrap tokens, the raw Authenticate and TokenUpdate messages (for migration),
/// push certificates, certificate bindings, and for inspection each enrollment's type, serial
/// number and times, and every command's reports — and nothing else (the rest of a device's
/// details are in the raw messages). One mutex guards everything; it is never held across an
/// `.await`.
///
/// Memory: command reports are kept under the same retention rule as in a database
/// ([`InspectionStore::delete_answered_commands_batch`](crate::InspectionStore)), and also
/// within a bound on their total size ([`MemoryStore::max_report_bytes`], 64 MiB unless set):
/// past it the reports stored first are dropped first (the command's delivery then shows its
/// status without the report). A command's UUID, type and times stay until retention deletes
/// it, so that a reused `CommandUUID` is refused as in a database.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_report_bytes: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            max_report_bytes: DEFAULT_MAX_REPORT_BYTES,
        }
    }
}

/// [`MemoryStore::max_report_bytes`] unless set.
const DEFAULT_MAX_REPORT_BYTES: usize = 64 << 20;

#[derive(Debug, Default)]
struct Inner {
    // Ordered so that migration replays devices in a stable order.
    devices: BTreeMap<EnrollmentId, Device>,
    // User channel id → its last raw TokenUpdate.
    user_token_updates: BTreeMap<EnrollmentId, Bytes>,
    channels: HashMap<EnrollmentId, Channel>,
    // The channels' ids in order, for listing them a page at a time.
    enrollment_order: BTreeSet<EnrollmentId>,
    // Device-channel id → its user channels' ids.
    user_channels: HashMap<EnrollmentId, BTreeSet<EnrollmentId>>,
    // Every command enqueued and not yet deleted by retention, so a reused CommandUUID is
    // refused, with what inspection reads of it. (The command's bytes live in the queues,
    // shared, and go when the last enrollment answers.)
    commands: HashMap<String, CommandRecord>,
    // The commands by enqueue time, for retention.
    command_order: BTreeSet<(SystemTime, String)>,
    // Reports in the order they were stored, for dropping the oldest past the size bound.
    report_log: VecDeque<ReportRef>,
    // The total size of the reports kept, and how many there are (the log's live entries).
    report_bytes: usize,
    live_reports: usize,
    next_report_seq: u64,
    // Enrollment id → its waiting commands; only enrollments with some have an entry. Looked up
    // with `id.as_bytes()`. See `queue` for why the key and the head live in the table slot.
    queues: HashMap<Key, Queue>,
    push_certs: HashMap<String, StoredPushCert>,
    // Certificate bindings, both ways round: by device-channel id, and by hash.
    bindings: BTreeSet<(EnrollmentId, CertHash)>,
    bound_ids: BTreeSet<(CertHash, EnrollmentId)>,
    next_stale_token: i64,
}

#[derive(Debug)]
struct Device {
    authenticate: Bytes,
    token_update: Option<Bytes>,
    bootstrap_token: Option<Secret<Vec<u8>>>,
    serial_number: Option<String>,
}

/// What is known of one channel (device or user) once it sent a TokenUpdate.
#[derive(Debug)]
struct Channel {
    push: PushInfo,
    enabled: bool,
    tally: u32,
    kind: EnrollType,
    device_id: EnrollmentId,
    created_at: SystemTime,
    updated_at: SystemTime,
    last_seen_at: SystemTime,
}

/// A command as inspection sees it.
#[derive(Debug)]
struct CommandRecord {
    request_type: String,
    created_at: SystemTime,
    /// The enrollments whose queues hold it.
    queued_for: BTreeSet<EnrollmentId>,
    /// Each enrollment's last report on it.
    reports: BTreeMap<EnrollmentId, StoredReport>,
}

impl CommandRecord {
    fn new(command: &Raw<Command>) -> Self {
        Self {
            request_type: command.request_type.clone(),
            created_at: SystemTime::now(),
            queued_for: BTreeSet::new(),
            reports: BTreeMap::new(),
        }
    }
}

#[derive(Debug)]
struct StoredReport {
    status: Status,
    at: SystemTime,
    /// `None` once dropped to keep within [`MemoryStore::max_report_bytes`].
    report: Option<Bytes>,
    /// Which entry of the report log this is.
    seq: u64,
}

/// An entry of the report log.
#[derive(Debug)]
struct ReportRef {
    command_uuid: String,
    id: EnrollmentId,
    seq: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bounds the total size of the command reports kept (64 MiB unless set); past it, the
    /// reports stored first are dropped first. 0 keeps no report bytes at all (statuses and
    /// times are still kept).
    pub fn max_report_bytes(mut self, bytes: usize) -> Self {
        self.max_report_bytes = bytes;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held cannot leave `Inner` half-updated in a way later calls
        // would trip on (every update is a plain insert or remove), so recover from poisoning.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn device_only(id: &EnrollId) -> Result<(), StorageError> {
    match id.parent() {
        Some(_) => Err(StorageError::DeviceChannelOnly(id.id().clone())),
        None => Ok(()),
    }
}

impl Inner {
    /// Keeps `record` as the command `uuid`'s.
    fn insert_command(&mut self, uuid: &str, record: CommandRecord) {
        self.command_order
            .insert((record.created_at, uuid.to_owned()));
        self.commands.insert(uuid.to_owned(), record);
    }

    /// Removes the enrollment's whole queue; how many commands it held.
    fn remove_queue(&mut self, id: &EnrollmentId) -> usize {
        let Some(queue) = self.queues.remove(id.as_str().as_bytes()) else {
            return 0;
        };
        let mut n = 0;
        for pending in queue.iter() {
            if let Some(record) = self.commands.get_mut(&pending.command.command_uuid) {
                record.queued_for.remove(id);
            }
            n += 1;
        }
        n
    }

    /// Keeps `raw` as `id`'s last report on `uuid`, then drops the oldest reports while their
    /// total exceeds `max_bytes`.
    fn store_report(
        &mut self,
        id: &EnrollmentId,
        uuid: &str,
        status: &Status,
        raw: &[u8],
        at: SystemTime,
        max_bytes: usize,
    ) {
        let Some(record) = self.commands.get_mut(uuid) else {
            return;
        };
        if status.is_final() {
            record.queued_for.remove(id);
        }
        let seq = self.next_report_seq;
        self.next_report_seq += 1;
        let report = StoredReport {
            status: status.clone(),
            at,
            report: Some(Bytes::copy_from_slice(raw)),
            seq,
        };
        self.report_bytes += raw.len();
        self.live_reports += 1;
        if let Some(old) = record.reports.insert(id.clone(), report) {
            self.forget_report(&old);
        }
        self.report_log.push_back(ReportRef {
            command_uuid: uuid.to_owned(),
            id: id.clone(),
            seq,
        });
        while self.report_bytes > max_bytes {
            let Some(oldest) = self.report_log.pop_front() else {
                break;
            };
            let dropped = self
                .commands
                .get_mut(&oldest.command_uuid)
                .and_then(|c| c.reports.get_mut(&oldest.id))
                .filter(|r| r.seq == oldest.seq)
                .and_then(|r| r.report.take());
            if let Some(dropped) = dropped {
                self.report_bytes -= dropped.len();
                self.live_reports -= 1;
            }
        }
        // Entries whose report was replaced or deleted since would pile up in a log that never
        // reaches the bound; compact it when it holds twice what is live.
        if self.report_log.len() > 1024 && self.report_log.len() > 2 * self.live_reports {
            let commands = &self.commands;
            self.report_log.retain(|r| {
                commands
                    .get(&r.command_uuid)
                    .and_then(|c| c.reports.get(&r.id))
                    .is_some_and(|s| s.seq == r.seq && s.report.is_some())
            });
        }
    }

    /// Accounts for a report that was replaced or deleted (its log entry goes stale).
    fn forget_report(&mut self, report: &StoredReport) {
        if let Some(bytes) = &report.report {
            self.report_bytes -= bytes.len();
            self.live_reports -= 1;
        }
    }

    /// The enrollment ids a device-channel operation reaches: the channel itself and, for a
    /// device channel, its user channels.
    fn channel_ids(&self, id: &EnrollId) -> Vec<EnrollmentId> {
        let mut ids = vec![id.id().clone()];
        if id.parent().is_none() {
            ids.extend(
                self.user_channels
                    .get(id.id())
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
        ids
    }
}

impl CheckInStore for MemoryStore {
    async fn store_authenticate(
        &self,
        id: &EnrollId,
        msg: &Authenticate,
        raw: &[u8],
        _identity_cert_der: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        device_only(id)?;
        let mut inner = self.lock();
        let authenticate = Bytes::copy_from_slice(raw);
        match inner.devices.get_mut(id.id()) {
            // Re-enrollment: the last TokenUpdate stays (migration replays it), as in NanoMDM.
            Some(device) => {
                device.authenticate = authenticate;
                device.bootstrap_token = None;
                device.serial_number = msg.serial_number.clone();
            }
            None => {
                let device = Device {
                    authenticate,
                    token_update: None,
                    bootstrap_token: None,
                    serial_number: msg.serial_number.clone(),
                };
                inner.devices.insert(id.id().clone(), device);
            }
        }
        for channel in inner.channel_ids(id) {
            if let Some(e) = inner.channels.get_mut(&channel) {
                e.tally = 0;
            }
        }
        Ok(())
    }

    async fn store_token_update(
        &self,
        id: &EnrollId,
        msg: &TokenUpdate,
        raw: &[u8],
    ) -> Result<(), StorageError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let device_id = id.device_channel_id();
        let Some(device) = inner.devices.get_mut(device_id) else {
            return Err(StorageError::UnknownEnrollment(device_id.clone()));
        };
        let raw = Bytes::copy_from_slice(raw);
        if id.parent().is_some() {
            inner.user_token_updates.insert(id.id().clone(), raw);
            inner
                .user_channels
                .entry(device_id.clone())
                .or_default()
                .insert(id.id().clone());
        } else {
            device.token_update = Some(raw);
        }
        let now = SystemTime::now();
        if !inner.channels.contains_key(id.id()) {
            inner.enrollment_order.insert(id.id().clone());
        }
        let enrollment = inner
            .channels
            .entry(id.id().clone())
            .or_insert_with(|| Channel {
                push: PushInfo::default(),
                enabled: true,
                tally: 0,
                kind: id.kind(),
                device_id: device_id.clone(),
                created_at: now,
                updated_at: now,
                last_seen_at: now,
            });
        enrollment.kind = id.kind();
        enrollment.updated_at = now;
        enrollment.last_seen_at = now;
        enrollment.push = msg.push.clone();
        enrollment.enabled = true;
        enrollment.tally = enrollment.tally.saturating_add(1);
        Ok(())
    }

    async fn store_user_authenticate(
        &self,
        id: &EnrollId,
        _msg: &UserAuthenticate,
        _raw: &[u8],
    ) -> Result<(), StorageError> {
        // Nothing read back depends on UserAuthenticate; only check what a SQL backend's
        // foreign key would.
        let device_id = id.device_channel_id();
        if self.lock().devices.contains_key(device_id) {
            Ok(())
        } else {
            Err(StorageError::UnknownEnrollment(device_id.clone()))
        }
    }

    async fn disable(&self, id: &EnrollId) -> Result<(), StorageError> {
        let mut inner = self.lock();
        for channel in inner.channel_ids(id) {
            if let Some(e) = inner.channels.get_mut(&channel) {
                e.enabled = false;
                e.tally = 0;
                e.updated_at = SystemTime::now();
            }
        }
        Ok(())
    }
}

impl TokenUpdateTallyStore for MemoryStore {
    async fn retrieve_token_update_tally(&self, id: &EnrollId) -> Result<u32, StorageError> {
        Ok(self.lock().channels.get(id.id()).map_or(0, |e| e.tally))
    }
}

impl BootstrapTokenStore for MemoryStore {
    async fn store_bootstrap_token(
        &self,
        id: &EnrollId,
        msg: &SetBootstrapToken,
    ) -> Result<(), StorageError> {
        device_only(id)?;
        let mut inner = self.lock();
        let Some(device) = inner.devices.get_mut(id.id()) else {
            return Err(StorageError::UnknownEnrollment(id.id().clone()));
        };
        device.bootstrap_token = msg
            .bootstrap_token
            .clone()
            .filter(|t| !t.expose().is_empty());
        Ok(())
    }

    async fn retrieve_bootstrap_token(
        &self,
        id: &EnrollId,
    ) -> Result<Option<BootstrapToken>, StorageError> {
        device_only(id)?;
        Ok(self
            .lock()
            .devices
            .get(id.id())
            .and_then(|d| d.bootstrap_token.clone())
            .map(BootstrapToken::new))
    }
}

impl CommandQueue for MemoryStore {
    async fn enqueue_command(
        &self,
        ids: &[EnrollmentId],
        command: &Raw<Command>,
        priority: i8,
    ) -> Result<HashMap<EnrollmentId, StorageError>, StorageError> {
        let mut failed = HashMap::new();
        if ids.is_empty() {
            return Ok(failed);
        }
        let mut guard = self.lock();
        let inner = &mut *guard;
        let uuid = &command.command_uuid;
        if inner.commands.contains_key(uuid) {
            return Err(StorageError::DuplicateCommand(uuid.clone()));
        }
        let mut record = CommandRecord::new(command);
        let shared = Arc::new(command.clone());
        let mut queued = HashSet::with_capacity(ids.len());
        for id in ids {
            if !inner.channels.contains_key(id) {
                failed.insert(id.clone(), StorageError::UnknownEnrollment(id.clone()));
                continue;
            }
            if !queued.insert(id.as_str()) {
                continue; // the same id twice in `ids`
            }
            record.queued_for.insert(id.clone());
            let pending = Pending {
                command: shared.clone(),
                priority,
                not_now: false,
            };
            match inner.queues.get_mut(id.as_str().as_bytes()) {
                Some(queue) => queue.insert(pending),
                None => {
                    inner
                        .queues
                        .insert(Key::new(id.as_str()), Queue::new(pending));
                }
            }
        }
        if !queued.is_empty() {
            inner.insert_command(uuid, record);
        }
        Ok(failed)
    }

    async fn store_command_report(
        &self,
        id: &EnrollId,
        report: &CommandReport,
        raw: &[u8],
    ) -> Result<ReportOutcome, StorageError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = SystemTime::now();
        if let Some(channel) = inner.channels.get_mut(id.id()) {
            channel.last_seen_at = now;
        }
        if report.status == Status::Idle {
            return Ok(ReportOutcome::Idle);
        }
        let Some(uuid) = report.command_uuid.as_deref() else {
            // Only Idle may come without a CommandUUID; anything else names no queued command.
            return Ok(ReportOutcome::NotQueued);
        };
        let Some(queue) = inner.queues.get_mut(id.id().as_str().as_bytes()) else {
            return Ok(ReportOutcome::NotQueued);
        };
        let Some(at) = queue.position(uuid) else {
            return Ok(ReportOutcome::NotQueued);
        };
        let outcome = if report.status == Status::NotNow {
            if let Some(pending) = queue.get_mut(at) {
                pending.not_now = true;
            }
            ReportOutcome::NotNow
        } else {
            if !queue.remove(at) {
                inner.queues.remove(id.id().as_str().as_bytes());
            }
            ReportOutcome::Final
        };
        inner.store_report(
            id.id(),
            uuid,
            &report.status,
            raw,
            now,
            self.max_report_bytes,
        );
        Ok(outcome)
    }

    async fn retrieve_next_command(
        &self,
        id: &EnrollId,
        skip_not_now: bool,
    ) -> Result<Option<Raw<Command>>, StorageError> {
        let inner = self.lock();
        Ok(inner
            .queues
            .get(id.id().as_str().as_bytes())
            .and_then(|queue| queue.next(skip_not_now))
            .map(|p| Raw::clone(&p.command)))
    }

    async fn clear_queue(&self, id: &EnrollId) -> Result<(), StorageError> {
        let mut inner = self.lock();
        for channel in inner.channel_ids(id) {
            inner.remove_queue(&channel);
        }
        Ok(())
    }
}

impl PushStore for MemoryStore {
    async fn retrieve_push_info(
        &self,
        ids: &[EnrollmentId],
    ) -> Result<HashMap<EnrollmentId, PushInfo>, StorageError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| {
                let e = inner.channels.get(id).filter(|e| e.enabled)?;
                Some((id.clone(), e.push.clone()))
            })
            .collect())
    }
}

impl PushCertStore for MemoryStore {
    async fn is_push_cert_stale(
        &self,
        topic: &str,
        stale_token: i64,
    ) -> Result<bool, StorageError> {
        Ok(self
            .lock()
            .push_certs
            .get(topic)
            .is_none_or(|c| c.stale_token != stale_token))
    }

    async fn retrieve_push_cert(
        &self,
        topic: &str,
    ) -> Result<Option<StoredPushCert>, StorageError> {
        Ok(self.lock().push_certs.get(topic).cloned())
    }

    async fn store_push_cert(
        &self,
        topic: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<(), StorageError> {
        let mut inner = self.lock();
        // One counter for all topics: a token never repeats, even across topics.
        inner.next_stale_token += 1;
        let stale_token = inner.next_stale_token;
        inner.push_certs.insert(
            topic.to_owned(),
            StoredPushCert {
                cert_pem: cert_pem.to_owned(),
                key_pem: Secret::new(key_pem.to_owned()),
                stale_token,
            },
        );
        Ok(())
    }
}

impl Inner {
    /// Whether the device channel holds any binding.
    fn has_binding(&self, device_id: &EnrollmentId) -> bool {
        self.bindings
            .range((device_id.clone(), CertHash::from_bytes([0; 32]))..)
            .next()
            .is_some_and(|(id, _)| id == device_id)
    }

    /// The first device channel `hash` is bound to.
    fn bound_to(&self, hash: &CertHash) -> Option<&EnrollmentId> {
        self.bound_ids
            .range((*hash, EnrollmentId::default())..)
            .next()
            .filter(|(h, _)| h == hash)
            .map(|(_, id)| id)
    }

    fn bind(&mut self, device_id: &EnrollmentId, hash: &CertHash) {
        self.bindings.insert((device_id.clone(), *hash));
        self.bound_ids.insert((*hash, device_id.clone()));
    }
}

impl CertAuthStore for MemoryStore {
    async fn has_cert_hash(&self, hash: &CertHash) -> Result<bool, StorageError> {
        Ok(self.lock().bound_to(hash).is_some())
    }

    async fn enrollment_has_cert_hash(&self, id: &EnrollId) -> Result<bool, StorageError> {
        Ok(self.lock().has_binding(id.device_channel_id()))
    }

    async fn is_cert_hash_associated(
        &self,
        id: &EnrollId,
        hash: &CertHash,
    ) -> Result<bool, StorageError> {
        let key = (id.device_channel_id().clone(), *hash);
        Ok(self.lock().bindings.contains(&key))
    }

    async fn bind_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
        mode: CertBindMode,
    ) -> Result<CertBinding, StorageError> {
        let device_id = id.device_channel_id();
        // The checks and the insert under one lock: no other bind runs in between.
        let mut inner = self.lock();
        if inner.bindings.contains(&(device_id.clone(), *hash)) {
            return Ok(CertBinding::AlreadyBound);
        }
        if mode == CertBindMode::Retro && inner.has_binding(device_id) {
            return Ok(CertBinding::EnrollmentBound);
        }
        if let Some(other) = inner.bound_to(hash) {
            return Ok(CertBinding::BoundElsewhere(other.clone()));
        }
        inner.bind(device_id, hash);
        Ok(CertBinding::Bound)
    }

    async fn associate_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
    ) -> Result<(), StorageError> {
        self.lock().bind(id.device_channel_id(), hash);
        Ok(())
    }

    async fn enrollment_from_cert_hash(
        &self,
        hash: &CertHash,
    ) -> Result<Option<EnrollmentId>, StorageError> {
        Ok(self.lock().bound_to(hash).cloned())
    }
}

impl MigrationStore for MemoryStore {
    fn retrieve_migration_checkins(&self) -> BoxStream<'_, Result<Bytes, StorageError>> {
        // A snapshot taken now: memory is small enough to copy (the bodies are `Bytes`).
        let inner = self.lock();
        let devices = inner
            .devices
            .values()
            .flat_map(|d| std::iter::once(d.authenticate.clone()).chain(d.token_update.clone()));
        let users = inner.user_token_updates.values().cloned();
        let all: Vec<_> = devices.chain(users).map(Ok).collect();
        stream::iter(all).boxed()
    }
}

#[cfg(test)]
mod tests {
    use mdm_proto::Status;

    use super::*;
    use crate::conformance::fixtures::{Device, command, report};

    async fn next(store: &MemoryStore, id: &EnrollId, skip_not_now: bool) -> Option<String> {
        let next = store.retrieve_next_command(id, skip_not_now).await.unwrap();
        next.map(|c| c.command_uuid.clone())
    }

    async fn answer(
        store: &MemoryStore,
        id: &EnrollId,
        uuid: &str,
        status: Status,
    ) -> ReportOutcome {
        let (msg, raw) = report(id, Some(uuid), status);
        store.store_command_report(id, &msg, &raw).await.unwrap()
    }

    /// The queue table keeps ids of up to 38 bytes in its slots and longer ones on the heap (see
    /// `queue`); the conformance suite's ids are all short, so the long ones are checked here.
    #[tokio::test]
    async fn ids_too_long_for_the_slot_queue_the_same() {
        let store = MemoryStore::new();
        // A 40-character UDID (older devices) and one of its user channels.
        let d = Device::new("0123456789abcdef0123456789abcdef01234567");
        d.enroll(&store).await;
        let user = d.user("A1B2C3D4-0000-4000-8000-0123456789AB");
        user.token_update_with(&store).await;
        let (d, user) = (&d.id, &user.id);
        assert!(d.id().as_str().len() > 38 && user.id().as_str().len() > 38);

        let both = [d.id().clone(), user.id().clone()];
        for (uuid, priority) in [("LONG-1", 0), ("LONG-2", 0), ("LONG-3", 5)] {
            let failed = store.enqueue_command(&both, &command(uuid), priority).await;
            assert!(failed.unwrap().is_empty());
        }
        assert_eq!(next(&store, d, false).await.as_deref(), Some("LONG-3"));
        assert_eq!(
            answer(&store, d, "LONG-3", Status::NotNow).await,
            ReportOutcome::NotNow
        );
        assert_eq!(next(&store, d, true).await.as_deref(), Some("LONG-1"));
        assert_eq!(
            answer(&store, d, "LONG-1", Status::Acknowledged).await,
            ReportOutcome::Final
        );
        assert_eq!(
            answer(&store, d, "LONG-1", Status::Acknowledged).await,
            ReportOutcome::NotQueued
        );
        assert_eq!(next(&store, d, false).await.as_deref(), Some("LONG-3"));
        assert_eq!(next(&store, user, false).await.as_deref(), Some("LONG-3"));

        store.clear_queue(d).await.unwrap();
        assert_eq!(next(&store, d, false).await, None);
        assert_eq!(
            next(&store, user, false).await,
            None,
            "the user channel is cleared too"
        );
        assert_eq!(
            answer(&store, user, "LONG-2", Status::Acknowledged).await,
            ReportOutcome::NotQueued
        );
    }
}
