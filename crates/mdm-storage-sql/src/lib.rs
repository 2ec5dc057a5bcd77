//! SQL storage backends for an Apple MDM server, on NanoMDM's table layout.
//!
//! Each dialect is a module implementing every [`mdm_storage`] trait with runtime `sqlx`
//! queries and embedded, versioned migrations:
//!
//! * [`sqlite`] (feature `sqlite`, default): one file, the reference server's embedded default.
//!   A process killed mid-write loses no acknowledged write.
//! * PostgreSQL and MySQL will follow the same layout — NanoMDM's own tables, so a server can
//!   run on a NanoMDM database — and the same statement flow; what the dialects share (value
//!   encodings, error mapping, options parsing) lives in one private module.
//!
//! The tables are NanoMDM's (`devices`, `users`, `enrollments`, `commands`, `command_results`,
//! `enrollment_queue`, `push_certs`, `cert_auth_associations`); where a dialect's schema differs,
//! its migration says how and why.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
//!
//! let options = SqliteOptions::new("/var/db/nanomdm.sqlite").with_storage_options("delete=1")?;
//! let store = SqliteStore::open(&options).await?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod common;
mod options;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use options::OptionsError;
