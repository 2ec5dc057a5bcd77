//! Moving in from NanoMDM's default storage: a reader of its `filekv` directory and an import of
//! everything in it into [`mdm_storage`] stores.
//!
//! NanoMDM's default backend, `filekv` (a `diskv` directory, `dbkv` unless told otherwise),
//! holds most small installations' state. [`filekv::FileKv`] reads it — enrollments (device and
//! user channels, types, push info, tallies, enabled state, last seen), the raw Authenticate,
//! TokenUpdate and UserAuthenticate check-ins, bootstrap and unlock tokens, certificate
//! bindings, each enrollment's command queue in order with its `NotNow` marks, stored results,
//! push certificates — and [`import_filekv`] writes it through the storage traits plus
//! [`mdm_storage::ImportStore`], so devices carry on where they were.
//!
//! A crate of its own because it reads files, which no crate below `mdm-service` does, and
//! only the `migrate` tool needs it; the server does not link it.
//!
//! NanoMDM's deprecated `file` backend is read too ([`file::FileDir`], [`import_file`]): its
//! queues are imported in the order NanoMDM itself delivers them (NotNow'd commands first, then
//! the rest, each in file-name order); it keeps no last-seen times.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use mdm_import::{ImportOptions, import_filekv};
//!
//! let store = mdm_storage::MemoryStore::new();
//! let report = import_filekv(
//!     std::path::Path::new("dbkv"),
//!     &store,
//!     &store,
//!     ImportOptions::default(),
//!     |_| {},
//! )
//! .await?;
//! assert!(report.is_complete());
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod decode;
pub mod file;
pub mod filekv;
pub mod fixture;
mod write;

pub use write::{
    DirectoryReader, Failure, ImportError, ImportOptions, ImportReport, Progress, SkipReason,
    Skipped, import_directory, import_file, import_filekv,
};
