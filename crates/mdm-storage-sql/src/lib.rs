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
//! The tables are NanoMDM's (`devices`, `users`, `enrollments`, `commands`, `command_results`,
//! `enrollment_queue`, `push_certs`, `cert_auth_associations`); where a dialect's schema differs,
//! its migration says how and why.
//!
//! # One implementation, three dialects
//!
//! Every store method's logic — which statements run, in which order and transaction, how rows
//! decode, how errors map, when a lost conflict is retried — is written once, in the private
//! `flows` module, as a method of `flows::Sql<S>`: one generic `impl` over `S: Dialect`, whose
//! single `where` clause names the value types the flows bind and read. A dialect module holds
//! only what differs: its connections and options, an `impl Dialect` of SQL text
//! (placeholders, upsert syntax, `RETURNING`, locking clauses, column types as associated
//! types) and the one step that is genuinely its own, how a certificate binding is serialized
//! (a write transaction, advisory locks, named locks). Statements that run as a sequence are
//! `Step`s listing the values they bind, so that MySQL's `?` can take a value twice while
//! SQLite's `?1` and PostgreSQL's `$1` reuse it, and a dialect can do in one statement (a CTE,
//! a batch) what another does in three without the flow changing.
//!
//! Why this shape: sqlx's own backends and the multi-database crates built on it either build
//! SQL at run time from a query builder (`sea-query`: CPU per request, and statement text the
//! schema's owner cannot read) or go through sqlx's `Any` driver (which does not rewrite
//! placeholders and loses the drivers' types). Generic code over `sqlx::Database` with the SQL
//! supplied as associated constants keeps each statement readable, prepared once per
//! connection (sqlx's statement cache is keyed by the constant text) and type-checked against
//! the real driver. The `mdm_storage` traits are then implemented on each store by one macro,
//! `flows::storage_traits!`, whose every method only calls its flow: stamped per concrete
//! store rather than one blanket `impl` because the traits require `Send` futures, which the
//! compiler proves for a concrete driver but cannot for generic code over `sqlx::Database`
//! without a bound per intermediate future type.
//!
//! ## Round trips
//!
//! What one store call costs on the wire (PostgreSQL, MySQL) or in messages to SQLite's
//! connection thread, outside delete mode:
//!
//! | call | SQLite | PostgreSQL | MySQL / MariaDB |
//! |---|---|---|---|
//! | a command-channel request: its report and the next command (`report_and_next_command`) | 1 batch (a report with a CommandUUID in its own `BEGIN IMMEDIATE` … `COMMIT`) | 1 statement (CTEs) | Idle 2; a report with a CommandUUID 5–6 (`BEGIN`, 2–3 statements, `COMMIT`, the next command) |
//! | a report alone, the next command alone, certauth lookups | 1 | 1 | 1 (a report: 4–5) |
//! | enqueue to up to 500 ids | 1 batch | 1 statement (a CTE) | 4 (`BEGIN`, the command, its queue rows, `COMMIT`; one more when some ids are unknown) |
//! | inspection reads (enrollments, a queue, a command); removing from or clearing a queue | 1 | 1 | 1 |
//! | a retention batch of up to 500 commands (a background sweep) | 4 (`BEGIN`, the due commands, a batch of deletes, `COMMIT`) | 4 (the deletes are one CTE) | 6 |
//!
//! MySQL has neither data-modifying CTEs nor `RETURNING` (MySQL 8), and prepared statements
//! cannot be batched, so its multi-statement flows stay transactions. Every statement is a
//! prepared statement cached per connection by sqlx (the `statements_are_prepared_once` tests
//! check that an MDM round prepares nothing new once warm).
//!
//! Connections are kept between calls, out of sqlx's pool, whose test of every connection
//! given back to it would otherwise add a round trip (or a message) to every call: see the
//! private `pool` module. With `mdm_service`'s certificate check remembering confirmed
//! bindings, a request on the command channel makes one store call.
//!
//! ## How to add a store method
//!
//! 1. Add its SQL to the `Dialect` trait (`src/dialect.rs`), documenting what it binds and
//!    returns, and write the text in each dialect's `impl Dialect`.
//! 2. Write its flow once, as a method of `Sql` in `src/flows.rs`.
//! 3. Call it from `storage_traits!` in the same file (the trait's method signature, one line
//!    of body). Every backend now has it, and the conformance suite runs it on each.
//!
//! The smallest real example is `TokenUpdateTallyStore::retrieve_token_update_tally`. The
//! trait declares the statement:
//!
//! ```text
//! /// An enrollment's TokenUpdate tally (binds: id).
//! const TALLY: &'static str;
//! ```
//!
//! each dialect writes it (`sqlite.rs`, then `?` on MySQL and `$1` on PostgreSQL):
//!
//! ```text
//! const TALLY: &'static str = "SELECT token_update_tally FROM enrollments WHERE id = ?1";
//! ```
//!
//! the flow is written once (`S::Int` is the column's width: 64 bits on SQLite, 32 in NanoMDM's
//! schemas):
//!
//! ```text
//! pub(crate) async fn retrieve_token_update_tally(&self, id: &EnrollId) -> Result<u32, StorageError> {
//!     match Self::fetch_value::<_, S::Int>(self.0.reader(), S::TALLY, id.id().as_str()).await? {
//!         None => Ok(0),
//!         Some(tally) => common::tally(tally.into()),
//!     }
//! }
//! ```
//!
//! and the macro forwards the trait method to it:
//!
//! ```text
//! impl ::mdm_storage::TokenUpdateTallyStore for $store {
//!     async fn retrieve_token_update_tally(&self, id: &EnrollId) -> Result<u32, StorageError> {
//!         $crate::flows::Sql(self).retrieve_token_update_tally(id).await
//!     }
//! }
//! ```
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
    allow(dead_code, unused_macros, unused_imports)
)]

mod common;
mod dialect;
mod flows;
#[cfg(feature = "mysql")]
pub mod mysql;
mod options;
mod pool;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use options::OptionsError;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use options::{ServerOptions, StorageOptions};
