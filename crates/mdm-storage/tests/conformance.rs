//! The backend conformance suite, run on the in-memory store and on a multi-store of two.

use mdm_storage::{DynStorage, MemoryStore, MultiStore, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    conformance::run(|| async { MemoryStore::new() }).await;
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
