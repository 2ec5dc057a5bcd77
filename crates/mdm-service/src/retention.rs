//! Command retention: deleting answered commands and their results once they are old enough.

use std::time::{Duration, SystemTime};

use mdm_storage::{InspectionStore, StorageError};

/// Deletes commands that wait in no enrollment's queue, with their results, once they were
/// enqueued longer ago than a retention period, on a timer ([`RetentionSweep::run`]) or when
/// asked ([`RetentionSweep::sweep`]).
///
/// NanoMDM keeps every command and result forever; a server that sends a command to every
/// device every day grows without end. Each sweep deletes in batches
/// ([`InspectionStore::delete_answered_commands_batch`]) with a pause between them, so no
/// statement holds locks for long and device requests carry on in between. Commands still queued, or answered `NotNow`, for
/// any enrollment are kept however old.
#[derive(Debug)]
pub struct RetentionSweep<S> {
    store: S,
    keep_for: Duration,
    interval: Duration,
    batch: usize,
    pause: Duration,
}

impl<S: InspectionStore> RetentionSweep<S> {
    /// Keeps answered commands for `keep_for` after they were enqueued; sweeps every 10 minutes
    /// (or every `keep_for`, if shorter) in batches of 100: on SQLite, whose one writer the
    /// devices' requests wait for, a batch of 100 holds it for a few milliseconds.
    pub fn new(store: S, keep_for: Duration) -> Self {
        Self {
            store,
            keep_for,
            interval: keep_for.min(Duration::from_secs(600)),
            batch: 100,
            pause: Duration::from_millis(10),
        }
    }

    /// How long [`run`](Self::run) waits between sweeps (at least one second).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_secs(1));
        self
    }

    /// How many commands one batch deletes (at least one).
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// How long a sweep waits between two batches (10 ms unless set): the time the database
    /// (on SQLite, its one writer) is left to device requests alone.
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// One sweep: deletes, batch by batch, every command that is due. How many were deleted.
    pub async fn sweep(&self) -> Result<u64, StorageError> {
        let Some(cutoff) = SystemTime::now().checked_sub(self.keep_for) else {
            return Ok(0);
        };
        let pause = || tokio::time::sleep(self.pause);
        mdm_storage::delete_answered_commands_paced(&self.store, cutoff, self.batch, pause).await
    }

    /// Sweeps now and then every [`interval`](Self::interval), forever; a failed sweep is logged
    /// and tried again at the next one. Spawn it, and abort it to stop.
    pub async fn run(self) {
        let mut timer = tokio::time::interval(self.interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            match self.sweep().await {
                Ok(0) => tracing::debug!("retention: nothing due"),
                Ok(deleted) => tracing::info!(deleted, "retention: deleted answered commands"),
                Err(error) => tracing::warn!(%error, "retention sweep failed; trying again later"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mdm_storage::conformance::fixtures::{Device, command, report};
    use mdm_storage::mdm_proto::Status;
    use mdm_storage::{CommandQueue, InspectionStore, MemoryStore};

    use super::*;

    #[tokio::test]
    async fn sweeps_what_is_due_on_its_timer() {
        let store = Arc::new(MemoryStore::new());
        let d = Device::new("RETAIN-1");
        d.enroll(&*store).await;
        for uuid in ["RETAIN-A", "RETAIN-B"] {
            let ids = [d.id.id().clone()];
            let failed = store.enqueue_command(&ids, &command(uuid), 0).await;
            assert!(failed.unwrap().is_empty());
        }
        let (msg, raw) = report(&d.id, Some("RETAIN-A"), Status::Acknowledged);
        store.store_command_report(&d.id, &msg, &raw).await.unwrap();

        // Not old enough yet (enqueued just now, kept for an hour).
        let hour = RetentionSweep::new(store.clone(), Duration::from_secs(3600));
        assert_eq!(hour.sweep().await.unwrap(), 0);
        // Kept for no time at all: the answered one goes, the queued one stays.
        let now = RetentionSweep::new(store.clone(), Duration::ZERO).batch(1);
        // So that the commands are strictly older than the cut-off.
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(now.sweep().await.unwrap(), 1);
        assert!(store.command("RETAIN-A").await.unwrap().is_none());
        assert!(store.command("RETAIN-B").await.unwrap().is_some());

        // `run` sweeps at once (and then on its interval).
        let (msg, raw) = report(&d.id, Some("RETAIN-B"), Status::Error);
        store.store_command_report(&d.id, &msg, &raw).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let running = tokio::spawn(
            RetentionSweep::new(store.clone(), Duration::ZERO)
                .interval(Duration::from_secs(3600))
                .run(),
        );
        let gone = async {
            while store.command("RETAIN-B").await.unwrap().is_some() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), gone)
            .await
            .expect("the first sweep runs at once");
        running.abort();
    }
}
