use std::time::SystemTime;

use bytes::Bytes;
use mdm_enrollment::{EnrollType, EnrollmentId};
use mdm_proto::Status;

use crate::StorageError;

/// One enrollment (a device or user channel that sent a TokenUpdate), as an operator sees it.
/// Push tokens, push magic, unlock and bootstrap tokens are deliberately not part of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEnrollment {
    /// The channel's enrollment id.
    pub id: EnrollmentId,
    /// Its type.
    pub kind: EnrollType,
    /// The device channel's id: a device channel's own, a user channel's parent.
    pub device_id: EnrollmentId,
    /// Whether it may be pushed to (false after CheckOut, or after an Authenticate until the
    /// next TokenUpdate).
    pub enabled: bool,
    /// The device's serial number, when its Authenticate carried one.
    pub serial_number: Option<String>,
    /// When it last made a request; `None` where the store does not know.
    pub last_seen_at: Option<SystemTime>,
    /// When it first sent a TokenUpdate; `None` where the store does not know.
    pub created_at: Option<SystemTime>,
    /// When its enrollment record last changed; `None` where the store does not know.
    pub updated_at: Option<SystemTime>,
}

/// Which enrollments [`InspectionStore::list_enrollments`] returns: every criterion that is set
/// must hold. The default matches every enrollment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrollmentFilter {
    /// Only enrollments of this type.
    pub kind: Option<EnrollType>,
    /// Only enabled (`true`) or disabled (`false`) enrollments.
    pub enabled: Option<bool>,
    /// Only enrollments of the device with this serial number.
    pub serial_number: Option<String>,
    /// Only this device channel and its user channels.
    pub device_id: Option<EnrollmentId>,
}

/// One page of [`InspectionStore::list_enrollments`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrollmentPage {
    /// The enrollments, ordered by id (in the store's collation).
    pub enrollments: Vec<StoredEnrollment>,
    /// Where the next page starts (pass it as `after`); `None` on the last page.
    pub next_after: Option<EnrollmentId>,
}

/// Where a command waiting in an enrollment's queue stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueueState {
    /// Not answered yet.
    Queued,
    /// The enrollment answered `NotNow`; it will be sent again.
    NotNow,
}

/// One command in an enrollment's queue ([`InspectionStore::queued_commands`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedCommand {
    /// The command's `CommandUUID`.
    pub command_uuid: String,
    /// Its `RequestType`.
    pub request_type: String,
    /// Whether it was answered `NotNow`.
    pub state: QueueState,
    /// When it was enqueued; `None` where the store does not know.
    pub created_at: Option<SystemTime>,
}

/// Where one enrollment stands with a command ([`StoredCommand::deliveries`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryState {
    /// Queued and not answered yet.
    Queued,
    /// Queued, and answered `NotNow` (the report is kept); it will be sent again.
    NotNow,
    /// Answered with this status and no longer queued: a final status, or a `NotNow` whose
    /// command was then removed from the queue.
    Reported(Status),
}

/// What one enrollment did with a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandDelivery {
    /// The enrollment the command was queued for.
    pub id: EnrollmentId,
    /// Where it stands.
    pub state: DeliveryState,
    /// When that last changed (enqueued, or the last report); `None` where the store does not
    /// know.
    pub updated_at: Option<SystemTime>,
    /// The enrollment's last report on the command, byte-exact as the device sent it (`NotNow`
    /// or final); `None` before any, or once a store that bounds what it keeps dropped it.
    /// `mdm-commands` decodes it into the command's typed response:
    /// `AnyResponse::decode(&command.request_type, report)`.
    pub report: Option<Bytes>,
}

/// A stored command and every enrollment's part in it ([`InspectionStore::command`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCommand {
    /// The command's `CommandUUID`.
    pub command_uuid: String,
    /// Its `RequestType`.
    pub request_type: String,
    /// When it was enqueued; `None` where the store does not know.
    pub created_at: Option<SystemTime>,
    /// The enrollments it is queued for or was answered by, ordered by id. An enrollment whose
    /// queue was cleared before it answered is not listed.
    pub deliveries: Vec<CommandDelivery>,
}

/// What a server holds, for its operator: enrollments, queues and command results, and the
/// retention sweep that keeps results from growing without end.
///
/// Nothing here returns secrets (push tokens and magic, unlock and bootstrap tokens, keys).
/// Lists are bounded by the caller's `limit`; enrollment pages use a keyset (`after`), never an
/// offset, so a page costs the same wherever it starts and stays stable while enrollments come
/// and go.
#[dynosaur::dynosaur(pub DynInspectionStore = dyn(box) InspectionStore)]
pub trait InspectionStore: Send + Sync {
    /// Up to `limit` enrollments matching `filter` whose ids sort after `after`, ordered by id.
    fn list_enrollments(
        &self,
        filter: &EnrollmentFilter,
        after: Option<&EnrollmentId>,
        limit: usize,
    ) -> impl Future<Output = Result<EnrollmentPage, StorageError>> + Send;

    /// One enrollment, or `None` when the store does not know it.
    fn enrollment(
        &self,
        id: &EnrollmentId,
    ) -> impl Future<Output = Result<Option<StoredEnrollment>, StorageError>> + Send;

    /// Up to `limit` of the commands waiting in the enrollment's queue, next to be sent first
    /// (regardless of `NotNow`, which only affects the response after a `NotNow`). Empty for an
    /// unknown enrollment.
    fn queued_commands(
        &self,
        id: &EnrollmentId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<QueuedCommand>, StorageError>> + Send;

    /// Removes one command from the enrollment's queue (other enrollments keep theirs); results
    /// already stored are kept. Whether it was queued there.
    fn remove_queued_command(
        &self,
        id: &EnrollmentId,
        command_uuid: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Removes every command from this one enrollment's queue (unlike
    /// [`CommandQueue::clear_queue`](crate::CommandQueue::clear_queue), a device channel's user
    /// channels keep theirs); results already stored are kept. How many were removed.
    fn clear_enrollment_queue(
        &self,
        id: &EnrollmentId,
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// A command with every enrollment's state and last report, or `None` when the store does
    /// not hold it.
    fn command(
        &self,
        command_uuid: &str,
    ) -> impl Future<Output = Result<Option<StoredCommand>, StorageError>> + Send;

    /// Retention, one bounded batch: deletes up to `limit` commands enqueued before
    /// `enqueued_before` that wait in no enrollment's queue, with their results. A command still
    /// queued (or `NotNow`) anywhere is kept whatever its age. How many commands were deleted;
    /// fewer than `limit` means nothing more is due (see [`delete_answered_commands`]).
    fn delete_answered_commands_batch(
        &self,
        enqueued_before: SystemTime,
        limit: usize,
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;
}

/// Retention: runs [`InspectionStore::delete_answered_commands_batch`] in batches of `batch`
/// until nothing more is due, so that no single statement holds locks for long. How many
/// commands were deleted in all.
pub async fn delete_answered_commands<S: InspectionStore + ?Sized>(
    store: &S,
    enqueued_before: SystemTime,
    batch: usize,
) -> Result<u64, StorageError> {
    delete_answered_commands_paced(store, enqueued_before, batch, || async {}).await
}

/// [`delete_answered_commands`], awaiting `between()` between two batches: a pause that gives
/// device requests the database in between, for one (this crate does no I/O and has no timer of
/// its own).
pub async fn delete_answered_commands_paced<S, F, Fut>(
    store: &S,
    enqueued_before: SystemTime,
    batch: usize,
    mut between: F,
) -> Result<u64, StorageError>
where
    S: InspectionStore + ?Sized,
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let batch = batch.max(1);
    let mut total = 0;
    loop {
        let deleted = store
            .delete_answered_commands_batch(enqueued_before, batch)
            .await?;
        total += deleted;
        if deleted < batch as u64 {
            return Ok(total);
        }
        between().await;
    }
}
