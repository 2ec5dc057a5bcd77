//! The backend conformance suite on SQLite, each case on a fresh database file.

use mdm_storage::conformance;
use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
use tempfile::TempDir;

async fn run_with(storage_options: &str) {
    // The directories outlive every store; they go when the test ends.
    let mut dirs: Vec<TempDir> = Vec::new();
    let make_store = || {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteOptions::new(dir.path().join("mdm.sqlite"))
            .with_storage_options(storage_options)
            .expect("options");
        dirs.push(dir);
        async move { SqliteStore::open(&options).await.expect("open") }
    };
    // NanoMDM's `delete=1` keeps no results: the suite's variant for it.
    if storage_options.contains("delete=1") {
        conformance::run_delete_mode(make_store).await;
    } else {
        conformance::run(make_store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conforms() {
    run_with("").await;
}

/// NanoMDM's `delete=1`: the same observable queue behaviour, rows removed as answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_with_delete_conforms() {
    run_with("delete=1").await;
}
