//! Writes what [`FileKv`] reads into our stores: check-ins through the ordinary storage traits
//! (as the server would have stored them), and what they cannot express through
//! [`ImportStore`].

use std::path::Path;

use mdm_enrollment::EnrollId;
use mdm_proto::{CheckIn, SetBootstrapToken};
use mdm_storage::{
    BootstrapTokenStore, CertAuthStore, CheckInStore, ImportStore, ImportedQueueItem,
    PushCertStore, StorageError,
};

use crate::filekv::{Channel, Device, DeviceEntry, FileKv, Listing, ReadError};

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
}

impl DirectoryReader for FileKv {
    fn list(&self) -> Result<Listing, ReadError> {
        FileKv::list(self)
    }

    fn read_device(&mut self, entry: &DeviceEntry) -> Result<Device, ReadError> {
        FileKv::read_device(self, entry)
    }
}

/// Imports NanoMDM's `filekv` directory at `dir` into `store` (the ordinary traits) and
/// `importer` (what they cannot express; usually the same store).
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
    mut kv: R,
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

    // Reading (file I/O) on its own thread, writing here: the two overlap.
    let total = listing.devices.len();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Device, Failure>>(64);
    let entries = listing.devices.clone();
    let reader = tokio::task::spawn_blocking(move || {
        for entry in &entries {
            let item = kv.read_device(entry).map_err(|e| Failure {
                id: entry.id.clone(),
                error: e.into(),
            });
            if tx.blocking_send(item).is_err() {
                return;
            }
        }
    });
    let mut done = 0;
    while let Some(item) = rx.recv().await {
        match item {
            Ok(device) => {
                let id = device.device.id.id().as_str().to_owned();
                if let Err(error) =
                    import_device(&device, store, importer, options, &mut report).await
                {
                    report.failures.push(Failure { id, error });
                }
            }
            Err(failure) => report.failures.push(failure),
        }
        done += 1;
        progress(Progress { done, total });
    }
    reader.await.map_err(|_| ImportError::ReaderStopped)?;
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
    for (id, hash) in &listing.cert_bindings {
        let known = listing
            .devices
            .binary_search_by(|d| d.id.as_str().cmp(id))
            .is_ok();
        let imported = known && !report.failures.iter().any(|f| f.id == *id);
        if !known {
            report.skipped.push(Skipped {
                what: format!("{id} ({hash})"),
                reason: SkipReason::BindingWithoutDevice,
            });
            continue;
        }
        if !imported {
            continue; // its device failed; already reported
        }
        if !options.dry_run
            && let Err(source) = store
                .associate_cert_hash(&EnrollId::device(id.as_str()), hash)
                .await
        {
            report.failures.push(Failure {
                id: id.clone(),
                error: ImportError::Store {
                    id: id.clone(),
                    step: "certificate binding",
                    source,
                },
            });
            continue;
        }
        report.cert_bindings += 1;
    }
}

fn store_error(id: &EnrollId, step: &'static str) -> impl FnOnce(StorageError) -> ImportError {
    let id = id.id().as_str().to_owned();
    move |source| ImportError::Store { id, step, source }
}

async fn import_device<S, I>(
    device: &Device,
    store: &S,
    importer: &I,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<(), ImportError>
where
    S: CheckInStore + BootstrapTokenStore + ?Sized,
    I: ImportStore + ?Sized,
{
    let channel = &device.device;
    let id = &channel.id;
    if let Some(auth) = &channel.authenticate
        && let CheckIn::Authenticate(msg) = auth.value()
    {
        if !options.dry_run {
            store
                .store_authenticate(id, msg, auth.bytes(), channel.identity_cert_der.as_deref())
                .await
                .map_err(store_error(id, "Authenticate"))?;
        }
        report.check_ins += 1;
    }
    if !import_channel(channel, store, importer, options, report).await? {
        // Not enrolled: its user channels cannot be either.
        return Ok(());
    }
    if let Some(token) = &channel.bootstrap_token {
        if !options.dry_run {
            let mut msg = SetBootstrapToken::default();
            msg.bootstrap_token = Some(token.clone().into());
            store
                .store_bootstrap_token(id, &msg)
                .await
                .map_err(store_error(id, "bootstrap token"))?;
        }
        report.bootstrap_tokens += 1;
    }
    report.devices += 1;
    for user in &device.user_channels {
        let uid = &user.id;
        for raw in [&user.user_authenticate, &user.user_authenticate_digest]
            .into_iter()
            .flatten()
        {
            if let CheckIn::UserAuthenticate(msg) = raw.value() {
                if !options.dry_run {
                    store
                        .store_user_authenticate(uid, msg, raw.bytes())
                        .await
                        .map_err(store_error(uid, "UserAuthenticate"))?;
                }
                report.check_ins += 1;
            }
        }
        if import_channel(user, store, importer, options, report).await? {
            report.user_channels += 1;
        }
    }
    Ok(())
}

/// TokenUpdate, state, queue and results of one channel; `false` when it never enrolled.
async fn import_channel<S, I>(
    channel: &Channel,
    store: &S,
    importer: &I,
    options: ImportOptions,
    report: &mut ImportReport,
) -> Result<bool, ImportError>
where
    S: CheckInStore + ?Sized,
    I: ImportStore + ?Sized,
{
    let id = &channel.id;
    let Some(token_update) = &channel.token_update else {
        report.skipped.push(Skipped {
            what: id.id().as_str().to_owned(),
            reason: SkipReason::NoTokenUpdate,
        });
        return Ok(false);
    };
    let CheckIn::TokenUpdate(msg) = token_update.value() else {
        return Ok(false); // the reader admits TokenUpdates only
    };
    let items: Vec<ImportedQueueItem<'_>> = channel
        .queue
        .iter()
        .map(|q| ImportedQueueItem {
            command: &q.command,
            not_now_report: q.not_now_report.as_deref(),
        })
        .collect();
    if options.dry_run {
        report.queued_commands += items.len();
    } else {
        store
            .store_token_update(id, msg, token_update.bytes())
            .await
            .map_err(store_error(id, "TokenUpdate"))?;
        importer
            .import_enrollment_state(id, &channel.state)
            .await
            .map_err(store_error(id, "enrollment state"))?;
        let queued = importer
            .import_queue(id, &items)
            .await
            .map_err(store_error(id, "queue"))?;
        report.queued_commands += queued.queued;
        report.already_queued += queued.already_queued;
        for result in &channel.results {
            importer
                .import_command_result(id, &result.command, &result.status, &result.report)
                .await
                .map_err(store_error(id, "command result"))?;
        }
    }
    report.check_ins += 1;
    report.enrollment_states += 1;
    report.not_now += items.iter().filter(|i| i.not_now_report.is_some()).count();
    report.command_results += channel.results.len();
    if id.parent().is_none() && channel.state.unlock_token.is_some() {
        report.unlock_tokens += 1;
    }
    Ok(true)
}
