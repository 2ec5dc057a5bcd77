//! Writes what [`FileKv`] reads into our stores: check-ins through the ordinary storage traits
//! (as the server would have stored them), and what they cannot express through
//! [`ImportStore`].

use std::path::Path;

use mdm_enrollment::EnrollId;
use mdm_proto::{CheckIn, Raw, SetBootstrapToken, TokenUpdate};
use mdm_storage::{
    BootstrapTokenStore, CertAuthStore, CheckInStore, CheckInWrite, ImportStore,
    ImportedCommandResult, ImportedEnrollment, ImportedQueue, ImportedQueueItem, PushCertStore,
    StorageError,
};

use crate::filekv::{Channel, Device, DeviceEntry, FileKv, Listing, ReadError};

/// Devices written per store call ([`CheckInStore::store_check_ins`],
/// [`ImportStore::import_enrollments`]): one transaction each on the SQL stores.
const BATCH: usize = 256;

/// Threads reading the directory: file reads wait for the disk, so several overlap.
const READERS: usize = 4;

/// Certificate bindings written per [`CertAuthStore::associate_cert_hashes`] call.
const BINDING_BATCH: usize = 1024;

/// How to import.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    /// Read and check everything, write nothing.
    pub dry_run: bool,
}

/// Why an import, or one device of it, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The directory (or a value in it) could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The store refused a write.
    #[error("{id}: storing {step}: {source}")]
    Store {
        /// The enrollment (or topic, for a push certificate).
        id: String,
        /// What was being stored.
        step: &'static str,
        /// Why.
        #[source]
        source: StorageError,
    },
    /// The reading thread ended without a word (it panicked).
    #[error("the directory reader stopped unexpectedly")]
    ReaderStopped,
}

/// Why something found in the directory was not imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkipReason {
    /// The channel never sent a TokenUpdate: it never finished enrolling, so there is no
    /// enrollment (its Authenticate is imported; the device sends TokenUpdate next).
    #[error("never sent TokenUpdate (not enrolled)")]
    NoTokenUpdate,
    /// A user channel whose device channel has no Authenticate.
    #[error("user channel without its device channel")]
    OrphanUserChannel,
    /// A certificate binding for a device channel that is not in the directory.
    #[error("certificate binding for an unknown device channel")]
    BindingWithoutDevice,
}

/// One thing not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The enrollment id (with the hash, for a binding).
    pub what: String,
    /// Why.
    pub reason: SkipReason,
}

/// One device (with its user channels) whose import failed; the import carried on.
#[derive(Debug)]
pub struct Failure {
    /// The device channel's id.
    pub id: String,
    /// Why.
    pub error: ImportError,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Device channels imported.
    pub devices: usize,
    /// User channels imported.
    pub user_channels: usize,
    /// Raw check-ins stored (Authenticate, TokenUpdate, UserAuthenticate).
    pub check_ins: usize,
    /// Enrollments whose tally, enabled flag and last-seen time were set.
    pub enrollment_states: usize,
    /// Bootstrap tokens.
    pub bootstrap_tokens: usize,
    /// Unlock tokens.
    pub unlock_tokens: usize,
    /// Certificate bindings.
    pub cert_bindings: usize,
    /// Commands added to queues.
    pub queued_commands: usize,
    /// Commands that were queued already (an earlier run).
    pub already_queued: usize,
    /// Queued commands carrying a `NotNow`.
    pub not_now: usize,
    /// Results of commands no longer queued.
    pub command_results: usize,
    /// Push certificates stored.
    pub push_certs: usize,
    /// Push certificates that were stored already, unchanged.
    pub push_certs_unchanged: usize,
    /// What was not imported, and why.
    pub skipped: Vec<Skipped>,
    /// Devices whose import failed.
    pub failures: Vec<Failure>,
}

impl ImportReport {
    /// Whether anything failed.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Progress, reported after each device.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Devices done (imported or failed).
    pub done: usize,
    /// Devices in the directory.
    pub total: usize,
}

/// A NanoMDM storage directory being read: what it holds, then one device at a time.
pub trait DirectoryReader: Send + 'static {
    /// Lists the directory: devices, user channels without a device, push certificates and
    /// bindings.
    fn list(&self) -> Result<Listing, ReadError>;
    /// Reads one device channel and its user channels.
    fn read_device(&mut self, entry: &DeviceEntry) -> Result<Device, ReadError>;
    /// Reads a batch of devices, each as [`read_device`](Self::read_device) does (which the
    /// default calls one by one; a reader may read ahead for the whole batch).
    fn read_devices(&mut self, entries: &[DeviceEntry]) -> Vec<Result<Device, ReadError>> {
        entries.iter().map(|e| self.read_device(e)).collect()
    }

    /// Another reader of the same directory, so that devices are read on several threads at
    /// once (each file read may wait for the disk); `None`, the default, reads on one.
    fn another(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

impl DirectoryReader for FileKv {
    fn list(&self) -> Result<Listing, ReadError> {
        FileKv::list(self)
    }

    fn read_device(&mut self, entry: &DeviceEntry) -> Result<Device, ReadError> {
        FileKv::read_device(self, entry)
    }

    fn read_devices(&mut self, entries: &[DeviceEntry]) -> Vec<Result<Device, ReadError>> {
        FileKv::read_devices(self, entries)
    }

    fn another(&self) -> Option<Self> {
        Some(FileKv::unchecked(self.root().to_owned()))
    }
}

/// Imports NanoMDM's `filekv` directory at `dir` into `store` (the ordinary traits) and
/// `importer` (what they cannot express; usually the same store).
///
/// Devices are written in batches: their check-ins in one
/// [`CheckInStore::store_check_ins`] call, their state, queues and results in one
/// [`ImportStore::import_enrollments`] call (each one transaction on the SQL stores), and the
/// certificate bindings at the end with [`CertAuthStore::associate_cert_hashes`]. The report's
/// counts cover the devices imported whole; a failed device counts only as a failure.
///
/// Directory-wide problems (no such directory, an unreadable push certificate) end the import
/// with an error; a device that fails is recorded in [`ImportReport::failures`] and the import
/// carries on with the next. Running it again changes nothing.
pub async fn import_filekv<S, I>(
    dir: &Path,
    store: &S,
    importer: &I,
    options: ImportOptions,
    progress: impl FnMut(Progress),
) -> Result<ImportReport, ImportError>
where
    S: CheckInStore + BootstrapTokenStore + CertAuthStore + PushCertStore + ?Sized,
    I: ImportStore + ?Sized,
{
    import_directory(FileKv::open(dir)?, store, importer, options, progress).await
}

/// Imports NanoMDM's deprecated `file` directory at `dir`, as [`import_filekv`] does.
pub async fn import_file<S, I>(
    dir: &Path,
    store: &S,
    importer: &I,
    options: ImportOptions,
    progress: impl FnMut(Progress),
) -> Result<ImportReport, ImportError>
where
    S: CheckInStore + BootstrapTokenStore + CertAuthStore + PushCertStore + ?Sized,
    I: ImportStore + ?Sized,
{
    let reader = crate::file::FileDir::open(dir)?;
    import_directory(reader, store, importer, options, progress).await
}

/// Imports what `reader` reads (see [`import_filekv`]).
pub async fn import_directory<R, S, I>(
    kv: R,
    store: &S,
    importer: &I,
    options: ImportOptions,
    mut progress: impl FnMut(Progress),
) -> Result<ImportReport, ImportError>
where
    R: DirectoryReader,
    S: CheckInStore + BootstrapTokenStore + CertAuthStore + PushCertStore + ?Sized,
    I: ImportStore + ?Sized,
{
    let listing = kv.list()?;
    let mut report = ImportReport::default();
    for user in &listing.orphan_user_channels {
        report.skipped.push(Skipped {
            what: user.clone(),
            reason: SkipReason::OrphanUserChannel,
        });
    }
    import_push_certs(&listing, store, options, &mut report).await?;

    // Reading (file I/O) on threads of its own, writing here: the two overlap. Batch `i` is
    // read by reader `i % n` and written in order.
    let total = listing.devices.len();
    let entries = std::sync::Arc::new(listing.devices.clone());
    let mut readers = vec![kv];
    while readers.len() < READERS
        && let Some(another) = readers[0].another()
    {
        readers.push(another);
    }
    let n = readers.len();
    let mut batches = Vec::with_capacity(n);
    let mut threads = Vec::with_capacity(n);
    for (k, mut kv) in readers.into_iter().enumerate() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Result<Device, Failure>>>(2);
        let entries = entries.clone();
        threads.push(tokio::task::spawn_blocking(move || {
            for chunk in entries.chunks(BATCH).skip(k).step_by(n) {
                let items = kv
                    .read_devices(chunk)
                    .into_iter()
                    .zip(chunk)
                    .map(|(device, entry)| {
                        device.map_err(|e| Failure {
                            id: entry.id.clone(),
                            error: e.into(),
                        })
                    })
                    .collect();
                if tx.blocking_send(items).is_err() {
                    return;
                }
            }
        }));
        batches.push(rx);
    }
    let mut done = 0;
    for i in 0.. {
        let Some(items) = batches[i % n].recv().await else {
            break;
        };
        let mut devices = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Ok(device) => devices.push(device),
                Err(failure) => {
                    report.failures.push(failure);
                    done += 1;
                    progress(Progress { done, total });
                }
            }
        }
        import_batch(&devices, store, importer, options, &mut report).await;
        for _ in &devices {
            done += 1;
            progress(Progress { done, total });
        }
    }
    drop(batches);
    for thread in threads {
        thread.await.map_err(|_| ImportError::ReaderStopped)?;
    }
    if done != total {
        return Err(ImportError::ReaderStopped);
    }

    import_bindings(&listing, store, options, &mut report).await;
    Ok(report)
}

async fn import_push_certs<S: PushCertStore + ?Sized>(
    listing: &Listing,
    store: &S,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    for cert in &listing.push_certs {
        let failed = |source| ImportError::Store {
            id: cert.topic.clone(),
            step: "push certificate",
            source,
        };
        if options.dry_run {
            report.push_certs += 1;
            continue;
        }
        // Storing the same certificate again would still change its stale token (and make
        // running servers reload it): leave an identical one alone.
        let held = store
            .retrieve_push_cert(&cert.topic)
            .await
            .map_err(failed)?;
        if held.is_some_and(|h| h.cert_pem == cert.cert_pem && *h.key_pem.expose() == cert.key_pem)
        {
            report.push_certs_unchanged += 1;
            continue;
        }
        store
            .store_push_cert(&cert.topic, &cert.cert_pem, &cert.key_pem)
            .await
            .map_err(failed)?;
        report.push_certs += 1;
    }
    Ok(())
}

async fn import_bindings<S: CertAuthStore + ?Sized>(
    listing: &Listing,
    store: &S,
    options: ImportOptions,
    report: &mut ImportReport,
) {
    let mut bindings = Vec::new();
    for (id, hash) in &listing.cert_bindings {
        let known = listing
            .devices
            .binary_search_by(|d| d.id.as_str().cmp(id))
            .is_ok();
        if !known {
            report.skipped.push(Skipped {
                what: format!("{id} ({hash})"),
                reason: SkipReason::BindingWithoutDevice,
            });
            continue;
        }
        bindings.push((EnrollId::device(id.as_str()), *hash));
    }
    let failed: std::collections::HashSet<&str> =
        report.failures.iter().map(|f| f.id.as_str()).collect();
    // Those of failed devices are left out: their failure is reported already.
    bindings.retain(|(id, _)| !failed.contains(id.id().as_str()));
    if options.dry_run {
        report.cert_bindings += bindings.len();
        return;
    }
    for chunk in bindings.chunks(BINDING_BATCH) {
        if store.associate_cert_hashes(chunk).await.is_ok() {
            report.cert_bindings += chunk.len();
            continue;
        }
        // One by one, to name the binding that fails.
        for (id, hash) in chunk {
            match store.associate_cert_hash(id, hash).await {
                Ok(()) => report.cert_bindings += 1,
                Err(source) => {
                    let id = id.id().as_str().to_owned();
                    report.failures.push(Failure {
                        id: id.clone(),
                        error: ImportError::Store {
                            id,
                            step: "certificate binding",
                            source,
                        },
                    });
                }
            }
        }
    }
}

fn store_error(id: &EnrollId, step: &'static str) -> impl FnOnce(StorageError) -> ImportError {
    let id = id.id().as_str().to_owned();
    move |source| ImportError::Store { id, step, source }
}

/// The TokenUpdate of a channel that finished enrolling.
fn token_update(channel: &Channel) -> Option<(&TokenUpdate, &Raw<CheckIn>)> {
    let raw = channel.token_update.as_ref()?;
    match raw.value() {
        CheckIn::TokenUpdate(msg) => Some((msg, raw)),
        _ => None, // the reader admits TokenUpdates only
    }
}

/// The channels of `device` that are enrollments: the device channel if it sent TokenUpdate,
/// then (only then) its user channels that did.
fn enrollments(device: &Device) -> impl Iterator<Item = &Channel> {
    let enrolled = token_update(&device.device).is_some();
    std::iter::once(&device.device)
        .chain(device.user_channels.iter().filter(move |_| enrolled))
        .filter(|c| token_update(c).is_some())
}

/// Adds what importing `device` whole writes to `report`, but for the queue counts (which
/// the store tells).
fn count_device(device: &Device, report: &mut ImportReport) {
    let channel = &device.device;
    if channel
        .authenticate
        .as_ref()
        .is_some_and(|a| matches!(a.value(), CheckIn::Authenticate(_)))
    {
        report.check_ins += 1;
    }
    if !count_channel(channel, report) {
        // Not enrolled: its user channels cannot be either.
        return;
    }
    if channel.bootstrap_token.is_some() {
        report.bootstrap_tokens += 1;
    }
    report.devices += 1;
    for user in &device.user_channels {
        for raw in [&user.user_authenticate, &user.user_authenticate_digest]
            .into_iter()
            .flatten()
        {
            if matches!(raw.value(), CheckIn::UserAuthenticate(_)) {
                report.check_ins += 1;
            }
        }
        if count_channel(user, report) {
            report.user_channels += 1;
        }
    }
}

/// [`count_device`] for one channel; `false` when it never enrolled.
fn count_channel(channel: &Channel, report: &mut ImportReport) -> bool {
    let id = &channel.id;
    if token_update(channel).is_none() {
        report.skipped.push(Skipped {
            what: id.id().as_str().to_owned(),
            reason: SkipReason::NoTokenUpdate,
        });
        return false;
    }
    report.check_ins += 1;
    report.enrollment_states += 1;
    report.not_now += channel
        .queue
        .iter()
        .filter(|q| q.not_now_report.is_some())
        .count();
    report.command_results += channel.results.len();
    if id.parent().is_none() && channel.state.unlock_token.is_some() {
        report.unlock_tokens += 1;
    }
    true
}

/// The queue of `channel` as [`ImportStore`] takes it.
fn queue_items(channel: &Channel) -> Vec<ImportedQueueItem<'_>> {
    channel
        .queue
        .iter()
        .map(|q| ImportedQueueItem {
            command: &q.command,
            not_now_report: q.not_now_report.as_deref(),
        })
        .collect()
}

/// The results of `channel` as [`ImportStore`] takes them.
fn result_items(channel: &Channel) -> Vec<ImportedCommandResult<'_>> {
    channel
        .results
        .iter()
        .map(|r| ImportedCommandResult {
            command: &r.command,
            status: &r.status,
            report: &r.report,
        })
        .collect()
}

/// The check-ins of `device` in the order a device sends them: Authenticate, TokenUpdate,
/// then each user channel's UserAuthenticate and TokenUpdate (none when the device channel
/// never enrolled).
fn check_ins(device: &Device) -> Vec<(CheckInWrite<'_>, &EnrollId, &'static str)> {
    let mut writes = Vec::new();
    let channel = &device.device;
    if let Some(auth) = &channel.authenticate
        && let CheckIn::Authenticate(msg) = auth.value()
    {
        let write = CheckInWrite::Authenticate {
            id: &channel.id,
            msg,
            raw: auth.bytes(),
            identity_cert_der: channel.identity_cert_der.as_deref(),
        };
        writes.push((write, &channel.id, "Authenticate"));
    }
    let Some((msg, raw)) = token_update(channel) else {
        return writes;
    };
    let id = &channel.id;
    let write = CheckInWrite::TokenUpdate {
        id,
        msg,
        raw: raw.bytes(),
    };
    writes.push((write, id, "TokenUpdate"));
    for user in &device.user_channels {
        let id = &user.id;
        for raw in [&user.user_authenticate, &user.user_authenticate_digest]
            .into_iter()
            .flatten()
        {
            if let CheckIn::UserAuthenticate(msg) = raw.value() {
                let write = CheckInWrite::UserAuthenticate {
                    id,
                    msg,
                    raw: raw.bytes(),
                };
                writes.push((write, id, "UserAuthenticate"));
            }
        }
        if let Some((msg, raw)) = token_update(user) {
            let write = CheckInWrite::TokenUpdate {
                id,
                msg,
                raw: raw.bytes(),
            };
            writes.push((write, id, "TokenUpdate"));
        }
    }
    writes
}

/// Imports `devices`: check-ins in one call, bootstrap tokens, then every enrollment's state,
/// queue and results in one call. A device with a refused write is a failure and the rest go
/// on; when a whole call fails, the batch is imported again one device at a time, to name the
/// devices that fail.
async fn import_batch<S, I>(
    devices: &[Device],
    store: &S,
    importer: &I,
    options: ImportOptions,
    report: &mut ImportReport,
) where
    S: CheckInStore + BootstrapTokenStore + ?Sized,
    I: ImportStore + ?Sized,
{
    if options.dry_run {
        for device in devices {
            count_device(device, report);
            report.queued_commands += enrollments(device).map(|c| c.queue.len()).sum::<usize>();
        }
        return;
    }
    match write_batch(devices, store, importer).await {
        Ok(outcomes) => {
            for (device, outcome) in devices.iter().zip(outcomes) {
                record(device, outcome, report);
            }
        }
        Err(_) => {
            for device in devices {
                let outcome = import_device(device, store, importer).await;
                record(device, outcome, report);
            }
        }
    }
}

/// Adds one device's outcome to `report`.
fn record(device: &Device, outcome: Result<ImportedQueue, ImportError>, report: &mut ImportReport) {
    match outcome {
        Ok(queued) => {
            count_device(device, report);
            report.queued_commands += queued.queued;
            report.already_queued += queued.already_queued;
        }
        Err(error) => report.failures.push(Failure {
            id: device.device.id.id().as_str().to_owned(),
            error,
        }),
    }
}

/// The batch's writes; each device's outcome (its queue counts, summed over its channels), or
/// the error of a call that failed as a whole.
async fn write_batch<S, I>(
    devices: &[Device],
    store: &S,
    importer: &I,
) -> Result<Vec<Result<ImportedQueue, ImportError>>, StorageError>
where
    S: CheckInStore + BootstrapTokenStore + ?Sized,
    I: ImportStore + ?Sized,
{
    let mut outcomes: Vec<Result<ImportedQueue, ImportError>> = devices
        .iter()
        .map(|_| Ok(ImportedQueue::default()))
        .collect();
    let fail = |outcome: &mut Result<ImportedQueue, ImportError>, id: &EnrollId, step, source| {
        if outcome.is_ok() {
            *outcome = Err(store_error(id, step)(source));
        }
    };

    let mut writes = Vec::new();
    let mut owners = Vec::new();
    for (n, device) in devices.iter().enumerate() {
        for (write, id, step) in check_ins(device) {
            writes.push(write);
            owners.push((n, id, step));
        }
    }
    let stored = store.store_check_ins(&writes).await?;
    for (outcome, (n, id, step)) in stored.into_iter().zip(owners) {
        if let Err(source) = outcome {
            fail(&mut outcomes[n], id, step, source);
        }
    }

    for (device, outcome) in devices.iter().zip(outcomes.iter_mut()) {
        let channel = &device.device;
        if let (Ok(_), Some(token), Some(_)) =
            (&outcome, &channel.bootstrap_token, token_update(channel))
        {
            let mut msg = SetBootstrapToken::default();
            msg.bootstrap_token = Some(token.clone().into());
            if let Err(source) = store.store_bootstrap_token(&channel.id, &msg).await {
                fail(outcome, &channel.id, "bootstrap token", source);
            }
        }
    }

    // Every enrollment of the devices still going, after all their check-ins (a user
    // channel's TokenUpdate counts its tally up; the imported state then sets it).
    let mut channels = Vec::new();
    for (n, device) in devices.iter().enumerate() {
        if outcomes[n].is_ok() {
            for channel in enrollments(device) {
                channels.push((n, channel, queue_items(channel), result_items(channel)));
            }
        }
    }
    let batch: Vec<ImportedEnrollment<'_>> = channels
        .iter()
        .map(|(_, channel, queue, results)| ImportedEnrollment {
            id: &channel.id,
            state: &channel.state,
            queue,
            results,
        })
        .collect();
    let imported = importer.import_enrollments(&batch).await?;
    for (outcome, (n, channel, _, _)) in imported.into_iter().zip(&channels) {
        match outcome {
            Ok(queued) => {
                if let Ok(total) = &mut outcomes[*n] {
                    total.queued += queued.queued;
                    total.already_queued += queued.already_queued;
                }
            }
            Err(source) => fail(&mut outcomes[*n], &channel.id, "enrollment import", source),
        }
    }
    Ok(outcomes)
}

/// One device written call by call (when a batch failed as a whole): its queue counts.
async fn import_device<S, I>(
    device: &Device,
    store: &S,
    importer: &I,
) -> Result<ImportedQueue, ImportError>
where
    S: CheckInStore + BootstrapTokenStore + ?Sized,
    I: ImportStore + ?Sized,
{
    let channel = &device.device;
    let id = &channel.id;
    if let Some(auth) = &channel.authenticate
        && let CheckIn::Authenticate(msg) = auth.value()
    {
        store
            .store_authenticate(id, msg, auth.bytes(), channel.identity_cert_der.as_deref())
            .await
            .map_err(store_error(id, "Authenticate"))?;
    }
    let mut total = ImportedQueue::default();
    if token_update(channel).is_none() {
        return Ok(total);
    }
    if let Some(token) = &channel.bootstrap_token {
        let mut msg = SetBootstrapToken::default();
        msg.bootstrap_token = Some(token.clone().into());
        store
            .store_bootstrap_token(id, &msg)
            .await
            .map_err(store_error(id, "bootstrap token"))?;
    }
    // Every user channel's UserAuthenticate, enrolled or not (as in a batch).
    for user in &device.user_channels {
        let id = &user.id;
        for raw in [&user.user_authenticate, &user.user_authenticate_digest]
            .into_iter()
            .flatten()
        {
            if let CheckIn::UserAuthenticate(msg) = raw.value() {
                store
                    .store_user_authenticate(id, msg, raw.bytes())
                    .await
                    .map_err(store_error(id, "UserAuthenticate"))?;
            }
        }
    }
    for channel in enrollments(device) {
        let queued = import_channel(channel, store, importer).await?;
        total.queued += queued.queued;
        total.already_queued += queued.already_queued;
    }
    Ok(total)
}

/// TokenUpdate, state, queue and results of one enrolled channel.
async fn import_channel<S, I>(
    channel: &Channel,
    store: &S,
    importer: &I,
) -> Result<ImportedQueue, ImportError>
where
    S: CheckInStore + ?Sized,
    I: ImportStore + ?Sized,
{
    let id = &channel.id;
    let Some((msg, raw)) = token_update(channel) else {
        return Ok(ImportedQueue::default());
    };
    store
        .store_token_update(id, msg, raw.bytes())
        .await
        .map_err(store_error(id, "TokenUpdate"))?;
    importer
        .import_enrollment_state(id, &channel.state)
        .await
        .map_err(store_error(id, "enrollment state"))?;
    let queued = importer
        .import_queue(id, &queue_items(channel))
        .await
        .map_err(store_error(id, "queue"))?;
    for result in &channel.results {
        importer
            .import_command_result(id, &result.command, &result.status, &result.report)
            .await
            .map_err(store_error(id, "command result"))?;
    }
    Ok(queued)
}
