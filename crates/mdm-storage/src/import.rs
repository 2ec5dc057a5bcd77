use mdm_enrollment::EnrollId;
use mdm_proto::{Command, Raw};

use crate::StorageError;

/// What an enrollment's check-ins do not say about it, as the server it is imported from had it.
///
/// Replaying Authenticate and TokenUpdate through [`CheckInStore`](crate::CheckInStore)
/// re-creates an enrollment, but leaves its tally at 1, enables it, and stamps "now" as last
/// seen; an import then sets these exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportedEnrollmentState {
    /// TokenUpdates since the last Authenticate (0 when unknown).
    pub token_update_tally: u32,
    /// Whether the enrollment may be pushed to (false after CheckOut, or after an Authenticate
    /// with no TokenUpdate since).
    pub enabled: bool,
    /// When the enrollment was last seen, in microseconds since the Unix epoch; `None` keeps
    /// what the store has.
    pub last_seen_unix_micros: Option<i64>,
    /// The device's unlock token (device channels only; ignored for a user channel): NanoMDM
    /// keeps the one from the first TokenUpdate, which later TokenUpdates no longer carry.
    pub unlock_token: Option<Vec<u8>>,
}

/// One command waiting in an imported enrollment's queue.
#[derive(Clone, Copy, Debug)]
pub struct ImportedQueueItem<'a> {
    /// The command, with its bytes exactly as they were enqueued.
    pub command: &'a Raw<Command>,
    /// The raw report of a `NotNow` the enrollment answered it with: the command stays queued
    /// and is passed over once after the next `NotNow`, as before the import.
    pub not_now_report: Option<&'a [u8]>,
}

/// What [`ImportStore::import_queue`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportedQueue {
    /// Commands added to the enrollment's queue.
    pub queued: usize,
    /// Commands that were queued for the enrollment already (an earlier run of the import).
    pub already_queued: usize,
}

/// A command an imported enrollment answered and that is no longer queued for it: its result.
#[derive(Clone, Copy, Debug)]
pub struct ImportedCommandResult<'a> {
    /// The command, byte-exact.
    pub command: &'a Raw<Command>,
    /// The status it was answered with.
    pub status: &'a str,
    /// The raw report.
    pub report: &'a [u8],
}

/// Everything [`ImportStore`] writes for one enrollment, for
/// [`ImportStore::import_enrollments`].
#[derive(Clone, Copy, Debug)]
pub struct ImportedEnrollment<'a> {
    /// The enrollment (its check-ins stored already).
    pub id: &'a EnrollId,
    /// As [`ImportStore::import_enrollment_state`].
    pub state: &'a ImportedEnrollmentState,
    /// As [`ImportStore::import_queue`].
    pub queue: &'a [ImportedQueueItem<'a>],
    /// Each as [`ImportStore::import_command_result`].
    pub results: &'a [ImportedCommandResult<'a>],
}

/// Writes what the other storage traits cannot express, for importing another server's state
/// (NanoMDM's `filekv`): exact enrollment state, queues in their order with their `NotNow`
/// marks, and results of commands no longer queued.
///
/// Every method is idempotent, so an import that is run again changes nothing. The enrollment
/// must exist (its check-ins stored first); otherwise the call fails with
/// [`StorageError::UnknownEnrollment`].
#[dynosaur::dynosaur(pub DynImportStore = dyn(box) ImportStore)]
pub trait ImportStore: Send + Sync {
    /// Sets the enrollment's tally, enabled flag, last-seen time and (device channel) unlock
    /// token.
    fn import_enrollment_state(
        &self,
        id: &EnrollId,
        state: &ImportedEnrollmentState,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Appends `items`, in order, behind what the enrollment has queued (priority 0, FIFO),
    /// passing over any already queued for it. A command whose `CommandUUID` the store does not
    /// hold is stored byte-exact; one it holds must have the same bytes, or the call fails with
    /// [`StorageError::DuplicateCommand`] and nothing is written.
    fn import_queue(
        &self,
        id: &EnrollId,
        items: &[ImportedQueueItem<'_>],
    ) -> impl Future<Output = Result<ImportedQueue, StorageError>> + Send;

    /// Stores the result (`status` and raw report) of a command the enrollment answered and
    /// that is no longer queued for it; the command is stored too when the store does not hold
    /// it (same rule as [`import_queue`](Self::import_queue)). A store that keeps no results
    /// (the memory store) does nothing.
    fn import_command_result(
        &self,
        id: &EnrollId,
        command: &Raw<Command>,
        status: &str,
        report: &[u8],
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Imports many enrollments at once: for each, its state, queue and results as
    /// [`import_enrollment_state`](Self::import_enrollment_state),
    /// [`import_queue`](Self::import_queue) and
    /// [`import_command_result`](Self::import_command_result) would, and each one's outcome in
    /// the same order. An enrollment that fails (unknown, or a `CommandUUID` held with other
    /// bytes) gets its error, and none of its state, queue or results is written; the others
    /// are imported. Idempotent like the rest: running it again changes nothing.
    ///
    /// The default calls those methods one enrollment at a time, the queue first (so that a
    /// refused queue writes nothing; a refused result keeps what was written before it). A
    /// store may write the whole batch in one transaction (the SQL stores do); then an error
    /// that is no single enrollment's fails the whole call with nothing written.
    fn import_enrollments(
        &self,
        batch: &[ImportedEnrollment<'_>],
    ) -> impl Future<Output = Result<Vec<Result<ImportedQueue, StorageError>>, StorageError>> + Send
    {
        async move {
            let mut outcomes = Vec::with_capacity(batch.len());
            for enrollment in batch {
                outcomes.push(import_one(self, enrollment).await);
            }
            Ok(outcomes)
        }
    }
}

/// [`ImportStore::import_enrollments`]'s default for one enrollment.
async fn import_one<S: ImportStore + ?Sized>(
    store: &S,
    enrollment: &ImportedEnrollment<'_>,
) -> Result<ImportedQueue, StorageError> {
    let id = enrollment.id;
    let queued = store.import_queue(id, enrollment.queue).await?;
    store.import_enrollment_state(id, enrollment.state).await?;
    for result in enrollment.results {
        store
            .import_command_result(id, result.command, result.status, result.report)
            .await?;
    }
    Ok(queued)
}

// A shared store is a store, as for the other traits (`Arc<SqliteStore>` behind both a
// `DynStorage` and a `DynImportStore`).
impl<T: ?Sized + ImportStore> ImportStore for std::sync::Arc<T> {
    fn import_enrollment_state(
        &self,
        id: &EnrollId,
        state: &ImportedEnrollmentState,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        (**self).import_enrollment_state(id, state)
    }

    fn import_queue(
        &self,
        id: &EnrollId,
        items: &[ImportedQueueItem<'_>],
    ) -> impl Future<Output = Result<ImportedQueue, StorageError>> + Send {
        (**self).import_queue(id, items)
    }

    fn import_command_result(
        &self,
        id: &EnrollId,
        command: &Raw<Command>,
        status: &str,
        report: &[u8],
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        (**self).import_command_result(id, command, status, report)
    }

    fn import_enrollments(
        &self,
        batch: &[ImportedEnrollment<'_>],
    ) -> impl Future<Output = Result<Vec<Result<ImportedQueue, StorageError>>, StorageError>> + Send
    {
        (**self).import_enrollments(batch)
    }
}
