//! [`ImportStore`] for the memory store: it keeps tallies, the enabled flag, last-seen times,
//! queues and results; unlock tokens it never keeps, so those are accepted and dropped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mdm_enrollment::EnrollId;
use mdm_proto::{Command, Raw, Status};

use super::queue::{Key, Pending, Queue};
use super::{CommandRecord, MemoryStore};
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
        if let Some(micros) = state.last_seen_unix_micros {
            let since_epoch = Duration::from_micros(micros.max(0).unsigned_abs());
            channel.last_seen_at = UNIX_EPOCH + since_epoch;
        }
        channel.updated_at = SystemTime::now();
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
        // Every item is checked before anything is written: a refused call writes nothing.
        let mut done = ImportedQueue::default();
        let mut planned: Vec<(Arc<Raw<Command>>, bool)> = Vec::with_capacity(items.len());
        let mut seen = HashSet::with_capacity(items.len());
        for item in items {
            let uuid = &item.command.command_uuid;
            let queue = inner.queues.get(id.id().as_str().as_bytes());
            if queue.is_some_and(|q| q.position(uuid).is_some()) || !seen.insert(uuid.as_str()) {
                done.already_queued += 1;
                continue;
            }
            // The memory store forgets a command's bytes once no queue holds it, so only the
            // UUID can be checked for reuse then; a queue that holds it gives the bytes.
            let held = inner
                .commands
                .get(uuid)
                .and_then(|record| record.queued_for.first())
                .and_then(|holder| inner.queues.get(holder.as_str().as_bytes()))
                .and_then(|queue| queue.iter().find(|p| p.command.command_uuid == *uuid))
                .map(|p| p.command.clone());
            let command = match held {
                Some(held) if held.bytes() != item.command.bytes() => {
                    return Err(StorageError::DuplicateCommand(uuid.clone()));
                }
                Some(held) => held,
                None => Arc::new(item.command.clone()),
            };
            planned.push((command, item.not_now_report.is_some()));
        }
        for (command, not_now) in planned {
            let uuid = &command.command_uuid;
            if !inner.commands.contains_key(uuid) {
                inner.insert_command(uuid, CommandRecord::new(&command));
            }
            if let Some(record) = inner.commands.get_mut(uuid) {
                record.queued_for.insert(id.id().clone());
            }
            let pending = Pending {
                command,
                priority: 0,
                not_now,
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
        status: &str,
        report: &[u8],
    ) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if !inner.channels.contains_key(id.id()) {
            return Err(StorageError::UnknownEnrollment(id.id().clone()));
        }
        let uuid = &command.command_uuid;
        if !inner.commands.contains_key(uuid) {
            inner.insert_command(uuid, CommandRecord::new(command));
        }
        let status = Status::from(status);
        let now = SystemTime::now();
        inner.store_report(id.id(), uuid, &status, report, now, self.max_report_bytes);
        Ok(())
    }
}
