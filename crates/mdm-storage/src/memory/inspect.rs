//! [`InspectionStore`] for the memory store.

use std::ops::Bound;
use std::time::SystemTime;

use mdm_enrollment::EnrollmentId;
use mdm_proto::Status;

use super::{Channel, Inner, MemoryStore};
use crate::{
    CommandDelivery, DeliveryState, EnrollmentFilter, EnrollmentPage, InspectionStore, QueueState,
    QueuedCommand, StorageError, StoredCommand, StoredEnrollment,
};

impl Inner {
    fn stored_enrollment(&self, id: &EnrollmentId, channel: &Channel) -> StoredEnrollment {
        let device_id = channel.device_id.clone();
        StoredEnrollment {
            id: id.clone(),
            kind: channel.kind,
            serial_number: self
                .devices
                .get(&device_id)
                .and_then(|d| d.serial_number.clone()),
            device_id,
            enabled: channel.enabled,
            last_seen_at: Some(channel.last_seen_at),
            created_at: Some(channel.created_at),
            updated_at: Some(channel.updated_at),
        }
    }

    fn matches(&self, channel: &Channel, filter: &EnrollmentFilter) -> bool {
        if filter.kind.is_some_and(|k| k != channel.kind)
            || filter.enabled.is_some_and(|e| e != channel.enabled)
        {
            return false;
        }
        let device_id = &channel.device_id;
        if filter.device_id.as_ref().is_some_and(|d| d != device_id) {
            return false;
        }
        match &filter.serial_number {
            None => true,
            Some(serial) => self
                .devices
                .get(device_id)
                .and_then(|d| d.serial_number.as_ref())
                .is_some_and(|s| s == serial),
        }
    }
}

impl InspectionStore for MemoryStore {
    async fn list_enrollments(
        &self,
        filter: &EnrollmentFilter,
        after: Option<&EnrollmentId>,
        limit: usize,
    ) -> Result<EnrollmentPage, StorageError> {
        let inner = self.lock();
        let start = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let mut enrollments = Vec::new();
        let mut next_after = None;
        let ids = inner
            .enrollment_order
            .range::<EnrollmentId, _>((start, Bound::Unbounded));
        for (id, channel) in ids.filter_map(|id| Some((id, inner.channels.get(id)?))) {
            if !inner.matches(channel, filter) {
                continue;
            }
            if enrollments.len() == limit {
                next_after = enrollments.last().map(|e: &StoredEnrollment| e.id.clone());
                break;
            }
            enrollments.push(inner.stored_enrollment(id, channel));
        }
        Ok(EnrollmentPage {
            enrollments,
            next_after,
        })
    }

    async fn enrollment(
        &self,
        id: &EnrollmentId,
    ) -> Result<Option<StoredEnrollment>, StorageError> {
        let inner = self.lock();
        Ok(inner
            .channels
            .get(id)
            .map(|channel| inner.stored_enrollment(id, channel)))
    }

    async fn queued_commands(
        &self,
        id: &EnrollmentId,
        limit: usize,
    ) -> Result<Vec<QueuedCommand>, StorageError> {
        let inner = self.lock();
        let Some(queue) = inner.queues.get(id.as_str().as_bytes()) else {
            return Ok(Vec::new());
        };
        Ok(queue
            .iter()
            .take(limit)
            .map(|pending| {
                let uuid = &pending.command.command_uuid;
                QueuedCommand {
                    command_uuid: uuid.clone(),
                    request_type: pending.command.request_type.clone(),
                    state: if pending.not_now {
                        QueueState::NotNow
                    } else {
                        QueueState::Queued
                    },
                    created_at: inner.commands.get(uuid).map(|c| c.created_at),
                }
            })
            .collect())
    }

    async fn remove_queued_command(
        &self,
        id: &EnrollmentId,
        command_uuid: &str,
    ) -> Result<bool, StorageError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(queue) = inner.queues.get_mut(id.as_str().as_bytes()) else {
            return Ok(false);
        };
        let Some(at) = queue.position(command_uuid) else {
            return Ok(false);
        };
        if !queue.remove(at) {
            inner.queues.remove(id.as_str().as_bytes());
        }
        if let Some(record) = inner.commands.get_mut(command_uuid) {
            record.queued_for.remove(id);
        }
        Ok(true)
    }

    async fn clear_enrollment_queue(&self, id: &EnrollmentId) -> Result<u64, StorageError> {
        Ok(self.lock().remove_queue(id) as u64)
    }

    async fn command(&self, command_uuid: &str) -> Result<Option<StoredCommand>, StorageError> {
        let inner = self.lock();
        let Some(record) = inner.commands.get(command_uuid) else {
            return Ok(None);
        };
        let mut deliveries = Vec::new();
        let ids = record.queued_for.iter().chain(
            record
                .reports
                .keys()
                .filter(|id| !record.queued_for.contains(*id)),
        );
        for id in ids {
            let report = record.reports.get(id);
            let state = match (record.queued_for.contains(id), report) {
                (false, Some(r)) => DeliveryState::Reported(r.status.clone()),
                (true, Some(r)) if r.status == Status::NotNow => DeliveryState::NotNow,
                _ => DeliveryState::Queued,
            };
            deliveries.push(CommandDelivery {
                id: id.clone(),
                state,
                updated_at: Some(report.map_or(record.created_at, |r| r.at)),
                report: report.and_then(|r| r.report.clone()),
            });
        }
        deliveries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Some(StoredCommand {
            command_uuid: command_uuid.to_owned(),
            request_type: record.request_type.clone(),
            created_at: Some(record.created_at),
            deliveries,
        }))
    }

    async fn delete_answered_commands_batch(
        &self,
        enqueued_before: SystemTime,
        limit: usize,
    ) -> Result<u64, StorageError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        // Oldest first; commands still waiting somewhere are passed over (and looked at again
        // by the next sweep).
        let commands = &inner.commands;
        let due: Vec<(SystemTime, String)> = inner
            .command_order
            .iter()
            .take_while(|(at, _)| *at < enqueued_before)
            .filter(|(_, uuid)| commands.get(uuid).is_none_or(|c| c.queued_for.is_empty()))
            .take(limit)
            .cloned()
            .collect();
        for key in &due {
            inner.command_order.remove(key);
            if let Some(record) = inner.commands.remove(&key.1) {
                for report in record.reports.values() {
                    inner.forget_report(report);
                }
            }
        }
        Ok(due.len() as u64)
    }
}
