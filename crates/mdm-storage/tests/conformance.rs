//! The backend conformance suite, run on the in-memory store and on a multi-store of two.

use mdm_storage::{DynStorage, MemoryStore, MultiStore, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    conformance::run(|| async { MemoryStore::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_imports() {
    conformance::run_import(|| async { MemoryStore::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_store_conforms() {
    conformance::run(|| async {
        MultiStore::new(
            MemoryStore::new(),
            vec![DynStorage::new(MemoryStore::new())],
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dyn_storage_conforms() {
    conformance::run(|| async { DynStorage::new(MemoryStore::new()) }).await;
}

/// A wrapper that changes one method and forwards the rest is a whole store: the user's side of
/// it is the lines between the markers.
mod counting {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mdm_storage::mdm_proto::CommandReport;
    use mdm_storage::{CommandQueue, EnrollId, ReportOutcome, Storage, StorageError};

    // -- the wrapper a user writes --
    pub struct Counting<S> {
        pub inner: S,
        pub reports: AtomicUsize,
    }

    mdm_storage::forward_store!(impl[S: Storage] Counting<S> => inner: CheckInStore,
        BootstrapTokenStore, TokenUpdateTallyStore, PushStore, PushCertStore, CertAuthStore,
        MigrationStore, InspectionStore);

    impl<S: Storage> CommandQueue for Counting<S> {
        mdm_storage::forward_methods!(inner: enqueue_command, retrieve_next_command, clear_queue);

        async fn store_command_report(
            &self,
            id: &EnrollId,
            report: &CommandReport,
            raw: &[u8],
        ) -> Result<ReportOutcome, StorageError> {
            self.reports.fetch_add(1, Ordering::Relaxed);
            self.inner.store_command_report(id, report, raw).await
        }
    }
    // -- end --
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarding_wrapper_conforms_and_sees_its_calls() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let counters = Arc::new(std::sync::Mutex::new(Vec::new()));
    let made = counters.clone();
    conformance::run(move || {
        let store = Arc::new(counting::Counting {
            inner: MemoryStore::new(),
            reports: AtomicUsize::new(0),
        });
        made.lock().unwrap().push(store.clone());
        async move { store }
    })
    .await;
    let reports: usize = counters
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.reports.load(Ordering::Relaxed))
        .sum();
    assert!(reports > 0, "the overriding method was called");
}
