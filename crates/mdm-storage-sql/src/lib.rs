//! SQL storage backends for an Apple MDM server, on NanoMDM's table layout.
//!
//! Each dialect is a module implementing every [`mdm_storage`] trait with runtime `sqlx`
//! queries and embedded, versioned migrations:
//!
//! * [`sqlite`] (feature `sqlite`, default): one file, the reference server's embedded default.
//!   A process killed mid-write loses no acknowledged write.
//! * [`postgres`] (feature `postgres`): NanoMDM v0.9's PostgreSQL schema as it is, so a server
//!   runs on an existing NanoMDM database; its migrations only add (a column, indexes).
//! * [`mysql`] (feature `mysql`): NanoMDM v0.9's MySQL schema, on MySQL 8 and MariaDB.
//!
//! What the dialects share (value encodings, error mapping, options parsing, and the query
//! flows that differ only in their SQL) lives in private modules.
//!
//! The tables are NanoMDM's (`devices`, `users`, `enrollments`, `commands`, `command_results`,
//! `enrollment_queue`, `push_certs`, `cert_auth_associations`); where a dialect's schema differs,
//! its migration says how and why.
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};
//!
//! let options = SqliteOptions::new("/var/db/nanomdm.sqlite").with_storage_options("delete=1")?;
//! let store = SqliteStore::open(&options).await?;
//! # Ok(()) }
//! ```
//!
//! On a NanoMDM PostgreSQL database, with NanoMDM's `-storage-options`:
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use mdm_storage_sql::postgres::{PostgresOptions, PostgresStore};
//!
//! let options = PostgresOptions::from_url("postgres://nanomdm@db.example/nanomdm")?
//!     .with_storage_options("delete=1,conn_max_lifetime=30m")?;
//! let store = PostgresStore::open(&options).await?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
// Without a backend feature the shared helpers have no user; that build only checks the crate.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]

mod common;
mod flows;
#[cfg(feature = "mysql")]
pub mod mysql;
mod options;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use options::OptionsError;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use options::StorageOptions;
