//! [`ImportStore`] for the memory store: it keeps tallies, the enabled flag and queues; unlock
//! tokens, last-seen times and results it never keeps, so those are accepted and dropped.

use std::sync::Arc;

use mdm_enrollment::EnrollId;
use mdm_proto::{Command, Raw};

use super::MemoryStore;
use super::queue::{Key, Pending, Queue};
use crate::{ImportStore, ImportedEnrollmentState, ImportedQueue, ImportedQueueItem, StorageError};

impl ImportStore for MemoryStore {
    async fn import_enrollment_state(
        &self,
        id: &EnrollId,
        state: &ImportedEnrollmentState,
    ) -> Result<(), StorageError> {
        let mut inner = self.lock();
        let channel = inner
            .channels
            .get_mut(id.id())
            .ok_or_else(|| StorageError::UnknownEnrollment(id.id().clone()))?;
        channel.tally = state.token_update_tally;
        channel.enabled = state.enabled;
        Ok(())
    }

    async fn import_queue(
        &self,
        id: &EnrollId,
        items: &[ImportedQueueItem<'_>],
    ) -> Result<ImportedQueue, StorageError> {
        let mut inner = self.lock();
        if !inner.channels.contains_key(id.id()) {
            return Err(StorageError::UnknownEnrollment(id.id().clone()));
        }
        let mut done = ImportedQueue::default();
        for item in items {
            let uuid = &item.command.command_uuid;
            let queue = inner.queues.get(id.id().as_str().as_bytes());
            if queue.is_some_and(|q| q.position(uuid).is_some()) {
                done.already_queued += 1;
                continue;
            }
            // The memory store forgets a command's bytes once no queue holds it, so only the
            // UUID can be checked for reuse here; a queue that holds it gives the bytes.
            // The scan runs only for a UUID seen before (a command queued for several ids).
            let held = if inner.command_uuids.contains(uuid) {
                inner
                    .queues
                    .values()
                    .flat_map(Queue::iter)
                    .find(|p| p.command.command_uuid == *uuid)
                    .map(|p| p.command.clone())
            } else {
                None
            };
            let command = match held {
                Some(held) if held.bytes() != item.command.bytes() => {
                    return Err(StorageError::DuplicateCommand(uuid.clone()));
                }
                Some(held) => held,
                None => Arc::new(item.command.clone()),
            };
            inner.command_uuids.insert(uuid.clone());
            let pending = Pending {
                command,
                priority: 0,
                not_now: item.not_now_report.is_some(),
            };
            match inner.queues.get_mut(id.id().as_str().as_bytes()) {
                Some(queue) => queue.insert(pending),
                None => {
                    inner
                        .queues
                        .insert(Key::new(id.id().as_str()), Queue::new(pending));
                }
            }
            done.queued += 1;
        }
        Ok(done)
    }

    async fn import_command_result(
        &self,
        id: &EnrollId,
        command: &Raw<Command>,
        _status: &str,
        _report: &[u8],
    ) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if !inner.channels.contains_key(id.id()) {
            return Err(StorageError::UnknownEnrollment(id.id().clone()));
        }
        // No results are kept; the UUID is remembered so it is not reused, as after a report.
        inner.command_uuids.insert(command.command_uuid.clone());
        Ok(())
    }
}
