//! The backend conformance suite on SQLite, each case on a fresh database file.

use mdm_storage::conformance;
use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
use tempfile::TempDir;

async fn run_with(storage_options: &str, expect: conformance::Expectations) {
    // The directories outlive every store; they go when the test ends.
    let mut dirs: Vec<TempDir> = Vec::new();
    conformance::run_expecting(expect, || {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteOptions::new(dir.path().join("mdm.sqlite"))
            .with_storage_options(storage_options)
            .expect("options");
        dirs.push(dir);
        async move { SqliteStore::open(&options).await.expect("open") }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conforms() {
    run_with("", conformance::Expectations::default()).await;
}

/// NanoMDM's `delete=1`: the same observable queue behaviour, rows removed as answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_with_delete_conforms() {
    let expect = conformance::Expectations::default().answered_commands_deleted();
    run_with("delete=1", expect).await;
}

/// What an import writes (`ImportStore`), read back through the other traits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_imports() {
    let mut dirs: Vec<TempDir> = Vec::new();
    conformance::run_import(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteOptions::new(dir.path().join("mdm.sqlite"));
        dirs.push(dir);
        async move { SqliteStore::open(&options).await.expect("open") }
    })
    .await;
}
