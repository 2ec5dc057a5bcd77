use std::collections::HashMap;

use mdm_enrollment::{EnrollId, EnrollmentId};
use mdm_proto::{Command, CommandReport, Raw, Status};

use crate::StorageError;

/// What storing a command report did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReportOutcome {
    /// `Idle`: nothing stored but the enrollment's last-seen time.
    Idle,
    /// `NotNow`: the result was stored and the command stays queued; the next retrieval with
    /// `skip_not_now` passes over it.
    NotNow,
    /// A final status (`Acknowledged`, `Error`, `CommandFormatError`, or one this crate does not
    /// know): the result was stored and the command left the enrollment's queue.
    Final,
    /// The command is not queued for this enrollment (unknown, already answered with a final
    /// status, cleared, or queued for another enrollment): nothing was stored and the queue is
    /// untouched. NanoMDM could wipe a queue here; we do not. A device that repeats a report
    /// whose response it lost lands here, so a server carries on and returns the next command.
    NotQueued,
}

/// The per-enrollment command queue: enqueue, deliver, record results.
///
/// Order is FIFO per enrollment, higher `priority` first. A command leaves an enrollment's queue
/// when that enrollment answers it with a final status (anything but `Idle` and `NotNow`) or when
/// the queue is cleared; it is returned byte-exact, as it was enqueued.
#[dynosaur::dynosaur(pub DynCommandQueue = dyn(box) CommandQueue)]
pub trait CommandQueue: Send + Sync {
    /// Enqueues one command for every id in `ids` (duplicates count once). Higher `priority` is
    /// delivered first; NanoMDM's API always uses 0.
    ///
    /// Returns the ids that could not be queued, each with its reason (an unknown id gets
    /// [`StorageError::UnknownEnrollment`]); an empty map means every id got the command. When
    /// no id can be queued, the command itself is not stored. The whole call fails, storing
    /// nothing, when a command with the same `CommandUUID` exists
    /// ([`StorageError::DuplicateCommand`]) or the backend fails. An empty `ids` stores nothing.
    fn enqueue_command(
        &self,
        ids: &[EnrollmentId],
        command: &Raw<Command>,
        priority: i8,
    ) -> impl Future<Output = Result<HashMap<EnrollmentId, StorageError>, StorageError>> + Send;

    /// Stores what the device reported on the command channel (`raw` is the exact report body)
    /// and updates the enrollment's last-seen time. See [`ReportOutcome`] for what each status
    /// does; only a command queued for `id` is ever touched.
    fn store_command_report(
        &self,
        id: &EnrollId,
        report: &CommandReport,
        raw: &[u8],
    ) -> impl Future<Output = Result<ReportOutcome, StorageError>> + Send;

    /// The next command for `id`, with its bytes exactly as enqueued, or `None` when its queue
    /// is empty (or `id` is unknown). With `skip_not_now` (the device just answered `NotNow`)
    /// commands it answered `NotNow` are passed over for this one response.
    fn retrieve_next_command(
        &self,
        id: &EnrollId,
        skip_not_now: bool,
    ) -> impl Future<Output = Result<Option<Raw<Command>>, StorageError>> + Send;

    /// [`store_command_report`](Self::store_command_report), then
    /// [`retrieve_next_command`](Self::retrieve_next_command) — passing over `NotNow`'d
    /// commands when the report is a `NotNow` — as one call: what a request on the command
    /// channel does, so that a store can do both in one round trip. Same outcome and same next
    /// command as the two calls in that order; the default makes those two calls. When the call
    /// fails, the report may have been stored or not, as when the second of the two fails.
    fn report_and_next_command(
        &self,
        id: &EnrollId,
        report: &CommandReport,
        raw: &[u8],
    ) -> impl Future<Output = Result<(ReportOutcome, Option<Raw<Command>>), StorageError>> + Send
    {
        async move {
            let outcome = self.store_command_report(id, report, raw).await?;
            let skip_not_now = report.status == Status::NotNow;
            let next = self.retrieve_next_command(id, skip_not_now).await?;
            Ok((outcome, next))
        }
    }

    /// Empties the queue: for a device channel, its own and its user channels' queues; for a
    /// user channel, only that channel's. Results already stored are kept. An unknown id is not
    /// an error.
    fn clear_queue(&self, id: &EnrollId) -> impl Future<Output = Result<(), StorageError>> + Send;
}
