//! The SQLite backend: one file, NanoMDM's tables, safe against the process being killed.
//!
//! # Durability
//!
//! The database runs in WAL mode. A write returns once its transaction is committed to the
//! write-ahead log, which with `synchronous=NORMAL` (the default, [`Synchronous::Normal`]) means
//! written to the operating system but not yet flushed to the disk. A killed process — even
//! `SIGKILL` — loses nothing the OS already holds, so every acknowledged write survives it, and
//! WAL guarantees the file opens consistent. Only a power loss or OS crash can take back the
//! last transactions (never corrupting the file); [`Synchronous::Full`] flushes on every commit
//! to survive that too, at the price of an `fsync` per write.
//!
//! # Concurrency
//!
//! SQLite runs one writer at a time. The store has one connection for writes and a pool for
//! reads: writes wait their turn inside the process instead of failing with `SQLITE_BUSY`,
//! and reads never wait for writes (WAL). Write transactions start with `BEGIN IMMEDIATE`, so
//! that against another process (a second server on the same file, the `sqlite3` shell) the
//! busy timeout applies when the transaction starts, rather than a read lock failing to upgrade
//! midway.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use mdm_enrollment::{EnrollId, EnrollmentId};
use mdm_proto::{
    Authenticate, BootstrapToken, Command, CommandReport, PushInfo, Raw, SetBootstrapToken, Status,
    TokenUpdate, UserAuthenticate,
};
use mdm_proto::{CertHash, Secret};
use mdm_storage::{
    BootstrapTokenStore, CertAuthStore, CertBindMode, CertBinding, CheckInStore, CommandQueue,
    MigrationStore, PushCertStore, PushStore, ReportOutcome, StorageError, StoredPushCert,
    TokenUpdateTallyStore,
};
use sqlx::Row as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    SqliteTransaction,
};

use crate::common::{self, db};
use crate::flows;
use crate::options::{self, OptionsError};

// ImportStore (moving in from another server), kept apart from the store's own flows.
mod import;

/// The schema, as versioned migrations run on open (tracked in `_sqlx_migrations`).
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "nanomdm tables",
    include_str!("../migrations/sqlite/0001_nanomdm_tables.sql"),
)];

/// When a committed write reaches the disk. See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous=NORMAL`: survives a killed process; a power loss may take back the last
    /// transactions.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is flushed; survives a power loss too.
    Full,
}

/// How to open a [`SqliteStore`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The database file; created, with its schema, when missing. (Not `:memory:`: the reader
    /// and writer connections must see the same database.)
    pub path: PathBuf,
    /// NanoMDM's `delete=1`: once an enrollment answers a command with a final status, remove
    /// its queue entry and result, and the command itself when no enrollment has it queued any
    /// more; clearing a queue removes the entries too. Results are then not kept (webhooks
    /// carry them). A `CommandUUID` can be reused once its command is gone.
    pub delete_commands: bool,
    /// Connections for reads.
    pub max_readers: u32,
    /// See [`Synchronous`].
    pub synchronous: Synchronous,
    /// How long a write waits for another process's lock before failing.
    pub busy_timeout: Duration,
}

impl SqliteOptions {
    /// Defaults for the database at `path`: keep commands and results, 4 readers,
    /// `synchronous=NORMAL`, 5 s busy timeout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            delete_commands: false,
            max_readers: 4,
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
        }
    }

    /// Applies a NanoMDM-style `-storage-options` string: `delete=0|1` (as NanoMDM's SQL
    /// backends), and for SQLite `readers=<n>` and `synchronous=normal|full`.
    pub fn with_storage_options(mut self, storage_options: &str) -> Result<Self, OptionsError> {
        for (key, value) in options::split(storage_options) {
            match key {
                "delete" => self.delete_commands = options::flag(key, value)?,
                "readers" => {
                    self.max_readers = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| options::invalid(key, value))?;
                }
                "synchronous" => {
                    self.synchronous = match value {
                        "normal" => Synchronous::Normal,
                        "full" => Synchronous::Full,
                        _ => return Err(options::invalid(key, value)),
                    }
                }
                _ => return Err(OptionsError::UnknownOption(key.to_owned())),
            }
        }
        Ok(self)
    }
}

/// Why a SQLite store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file could not be opened or created, or a connection could not be set up.
    #[error("opening the SQLite database: {0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The schema could not be brought up to date (a failed migration, or a database written
    /// by a newer version with migrations this one does not know).
    #[error("migrating the SQLite database: {0}")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A SQLite store implementing every `mdm_storage` trait. Cloning shares the connections.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    delete_commands: bool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub async fn open(options: &SqliteOptions) -> Result<Self, OpenError> {
        let connect = SqliteConnectOptions::new()
            .filename(&options.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.synchronous {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true);
        let connect_err = |e: sqlx::Error| OpenError::Connect(Box::new(e));
        // A local file does not go stale: skip sqlx's ping before every acquire (a round trip
        // to the connection's thread per query).
        let pool = || SqlitePoolOptions::new().test_before_acquire(false);
        let writer = pool()
            .max_connections(1)
            .connect_with(connect.clone())
            .await
            .map_err(connect_err)?;
        common::migrator(MIGRATIONS)
            .run(&writer)
            .await
            .map_err(|e| OpenError::Migrate(Box::new(e)))?;
        let reader = pool()
            .max_connections(options.max_readers.max(1))
            .connect_with(connect)
            .await
            .map_err(connect_err)?;
        Ok(Self {
            writer,
            reader,
            delete_commands: options.delete_commands,
        })
    }

    /// Closes every connection, waiting for those in use to be returned. Dropping the store
    /// closes them too; this lets a caller wait until the files are released.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn begin_write(&self) -> Result<SqliteTransaction<'static>, StorageError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)
    }
}

/// The next command for `?1`: walks the partial index `enrollment_queue_next` (active = 1) in
/// delivery order; the joins are primary-key lookups. Answered and cleared rows are not in the
/// index, so the cost does not grow with an enrollment's history. `?2` is `NotNow`, `?3` whether
/// to pass over commands put off with it.
const NEXT_COMMAND: &str = "\
SELECT c.command_uuid, c.request_type, c.command
FROM enrollment_queue AS q
    INNER JOIN commands AS c ON c.command_uuid = q.command_uuid
    LEFT JOIN command_results AS r ON r.id = q.id AND r.command_uuid = q.command_uuid
WHERE q.id = ?1 AND q.active = 1 AND (r.status IS NULL OR (r.status = ?2 AND NOT ?3))
ORDER BY q.priority DESC, q.seq
LIMIT 1";

/// A `NotNow` from `?1` for command `?2` (`?3` the status, `?4` the raw report), as one batch:
/// last-seen, then the result — stored only if the command waits in this enrollment's queue.
/// The first NotNow's time stays in `not_now_at`; later ones count in `not_now_tally` (as
/// NanoMDM). The closing `SELECT changes()` says whether a result was written.
const STORE_NOT_NOW: &str = "\
UPDATE enrollments SET last_seen_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP
WHERE id = ?1;
INSERT INTO command_results (id, command_uuid, status, result, not_now_at, not_now_tally)
SELECT ?1, ?2, ?3, ?4, CURRENT_TIMESTAMP, 1
WHERE EXISTS (SELECT 1 FROM enrollment_queue WHERE id = ?1 AND command_uuid = ?2 AND active = 1)
ON CONFLICT (id, command_uuid) DO UPDATE SET
    status = excluded.status,
    result = excluded.result,
    not_now_tally = not_now_tally + 1,
    updated_at = CURRENT_TIMESTAMP;
SELECT changes();";

/// A final status from `?1` for command `?2` (`?3` the status, `?4` the raw report), as one
/// batch: last-seen; the command leaves the queue (`active = 0`, out of the next-command index);
/// and only if it was queued — `changes()` of that UPDATE, read while the INSERT runs — the
/// result is written. The closing `SELECT changes()` says whether it was.
const STORE_FINAL: &str = "\
UPDATE enrollments SET last_seen_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP
WHERE id = ?1;
UPDATE enrollment_queue SET active = 0, updated_at = CURRENT_TIMESTAMP
WHERE id = ?1 AND command_uuid = ?2 AND active = 1;
INSERT INTO command_results (id, command_uuid, status, result, not_now_at, not_now_tally)
SELECT ?1, ?2, ?3, ?4, NULL, 0
WHERE changes() > 0
ON CONFLICT (id, command_uuid) DO UPDATE SET
    status = excluded.status,
    result = excluded.result,
    updated_at = CURRENT_TIMESTAMP;
SELECT changes();";

const TOUCH_LAST_SEEN: &str = "\
UPDATE enrollments SET last_seen_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP \
WHERE id = ?1";

async fn touch_last_seen(tx: &mut SqliteTransaction<'_>, id: &str) -> Result<(), StorageError> {
    flows::execute(&mut **tx, TOUCH_LAST_SEEN, &[id]).await
}

async fn device_exists(tx: &mut SqliteTransaction<'_>, id: &str) -> Result<bool, StorageError> {
    flows::exists(&mut **tx, "SELECT 1 FROM devices WHERE id = ?1", &[id]).await
}

/// The enrollment ids a queue operation reaches: a device channel's own and its user channels',
/// or a user channel alone.
async fn channel_ids(
    tx: &mut SqliteTransaction<'_>,
    id: &EnrollId,
) -> Result<Vec<String>, StorageError> {
    if id.parent().is_some() {
        return Ok(vec![id.id().as_str().to_owned()]);
    }
    let rows = sqlx::query("SELECT id FROM enrollments WHERE device_id = ?1")
        .bind(id.id().as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(db))
        .collect()
}

/// Delete mode: removes `uuid` from the `commands` table once nothing refers to it.
async fn delete_command_if_orphaned(
    tx: &mut SqliteTransaction<'_>,
    uuid: &str,
) -> Result<(), StorageError> {
    sqlx::query(
        "DELETE FROM commands WHERE command_uuid = ?1 \
         AND NOT EXISTS (SELECT 1 FROM enrollment_queue WHERE command_uuid = ?1) \
         AND NOT EXISTS (SELECT 1 FROM command_results WHERE command_uuid = ?1)",
    )
    .bind(uuid)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

impl CheckInStore for SqliteStore {
    async fn store_authenticate(
        &self,
        id: &EnrollId,
        msg: &Authenticate,
        raw: &[u8],
        identity_cert_der: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        common::device_only(id)?;
        let tx = self.begin_write().await?;
        flows::store_authenticate(
            tx,
            "INSERT INTO devices (id, identity_cert, serial_number, authenticate, authenticate_at) \
             VALUES (?1, ?2, ?3, ?4, CURRENT_TIMESTAMP) \
             ON CONFLICT (id) DO UPDATE SET \
                 identity_cert = excluded.identity_cert, \
                 serial_number = excluded.serial_number, \
                 authenticate = excluded.authenticate, \
                 authenticate_at = excluded.authenticate_at, \
                 bootstrap_token_b64 = NULL, \
                 bootstrap_token_at = NULL, \
                 updated_at = CURRENT_TIMESTAMP",
            "UPDATE enrollments SET token_update_tally = 0, updated_at = CURRENT_TIMESTAMP \
             WHERE device_id = ?1 AND token_update_tally != 0",
            id.id().as_str(),
            msg,
            raw,
            identity_cert_der,
        )
        .await
    }

    async fn store_token_update(
        &self,
        id: &EnrollId,
        msg: &TokenUpdate,
        raw: &[u8],
    ) -> Result<(), StorageError> {
        let mut tx = self.begin_write().await?;
        let user_id = match id.parent() {
            None => {
                let unlock_token = msg
                    .unlock_token
                    .as_ref()
                    .map(|t| t.expose().as_slice())
                    .filter(|t| !t.is_empty());
                let updated = sqlx::query(
                    "UPDATE devices SET \
                         token_update = ?1, \
                         token_update_at = CURRENT_TIMESTAMP, \
                         unlock_token = COALESCE(?2, unlock_token), \
                         unlock_token_at = CASE WHEN ?2 IS NULL THEN unlock_token_at \
                                           ELSE CURRENT_TIMESTAMP END, \
                         updated_at = CURRENT_TIMESTAMP \
                     WHERE id = ?3",
                )
                .bind(raw)
                .bind(unlock_token)
                .bind(id.id().as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                if updated.rows_affected() == 0 {
                    return Err(StorageError::UnknownEnrollment(id.id().clone()));
                }
                None
            }
            Some(parent) => {
                if !device_exists(&mut tx, parent.as_str()).await? {
                    return Err(StorageError::UnknownEnrollment(parent.clone()));
                }
                // An UnlockToken belongs to the device channel; one on a user channel is not
                // stored (as NanoMDM).
                flows::upsert_user(
                    &mut *tx,
                    "INSERT INTO users \
                         (id, device_id, user_short_name, user_long_name, token_update, \
                          token_update_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, CURRENT_TIMESTAMP) \
                     ON CONFLICT (id, device_id) DO UPDATE SET \
                         user_short_name = excluded.user_short_name, \
                         user_long_name = excluded.user_long_name, \
                         token_update = excluded.token_update, \
                         token_update_at = excluded.token_update_at, \
                         updated_at = CURRENT_TIMESTAMP",
                    id.id().as_str(),
                    parent.as_str(),
                    &msg.enrollment,
                    raw,
                )
                .await?;
                Some(id.id().as_str())
            }
        };
        flows::upsert_enrollment(
            &mut *tx,
            "INSERT INTO enrollments \
                 (id, device_id, user_id, type, topic, push_magic, token_hex, last_seen_at, \
                  token_update_tally) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CURRENT_TIMESTAMP, 1) \
             ON CONFLICT (id) DO UPDATE SET \
                 device_id = excluded.device_id, \
                 user_id = excluded.user_id, \
                 type = excluded.type, \
                 topic = excluded.topic, \
                 push_magic = excluded.push_magic, \
                 token_hex = excluded.token_hex, \
                 enabled = 1, \
                 last_seen_at = CURRENT_TIMESTAMP, \
                 token_update_tally = token_update_tally + 1, \
                 updated_at = CURRENT_TIMESTAMP",
            id,
            user_id,
            msg,
        )
        .await?;
        tx.commit().await.map_err(db)
    }

    async fn store_user_authenticate(
        &self,
        id: &EnrollId,
        msg: &UserAuthenticate,
        raw: &[u8],
    ) -> Result<(), StorageError> {
        let device_id = id.device_channel_id().as_str();
        // The first message of the exchange, or the one answering the digest challenge: each
        // has its own column, as in NanoMDM.
        let sql = if msg.digest_response.is_some() {
            "INSERT INTO users \
                 (id, device_id, user_short_name, user_long_name, user_authenticate_digest, \
                  user_authenticate_digest_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, CURRENT_TIMESTAMP) \
             ON CONFLICT (id, device_id) DO UPDATE SET \
                 user_short_name = excluded.user_short_name, \
                 user_long_name = excluded.user_long_name, \
                 user_authenticate_digest = excluded.user_authenticate_digest, \
                 user_authenticate_digest_at = excluded.user_authenticate_digest_at, \
                 updated_at = CURRENT_TIMESTAMP"
        } else {
            "INSERT INTO users \
                 (id, device_id, user_short_name, user_long_name, user_authenticate, \
                  user_authenticate_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, CURRENT_TIMESTAMP) \
             ON CONFLICT (id, device_id) DO UPDATE SET \
                 user_short_name = excluded.user_short_name, \
                 user_long_name = excluded.user_long_name, \
                 user_authenticate = excluded.user_authenticate, \
                 user_authenticate_at = excluded.user_authenticate_at, \
                 updated_at = CURRENT_TIMESTAMP"
        };
        let mut tx = self.begin_write().await?;
        if !device_exists(&mut tx, device_id).await? {
            return Err(StorageError::UnknownEnrollment(EnrollmentId::new(
                device_id,
            )));
        }
        flows::upsert_user(
            &mut *tx,
            sql,
            id.id().as_str(),
            device_id,
            &msg.enrollment,
            raw,
        )
        .await?;
        touch_last_seen(&mut tx, id.id().as_str()).await?;
        tx.commit().await.map_err(db)
    }

    async fn disable(&self, id: &EnrollId) -> Result<(), StorageError> {
        let sql = match id.parent() {
            // device_id: the device channel and every user channel on it.
            None => {
                "UPDATE enrollments SET enabled = 0, token_update_tally = 0, \
                     last_seen_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP \
                 WHERE device_id = ?1 AND enabled = 1"
            }
            Some(_) => {
                "UPDATE enrollments SET enabled = 0, token_update_tally = 0, \
                     last_seen_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP \
                 WHERE id = ?1 AND enabled = 1"
            }
        };
        flows::execute(&self.writer, sql, &[id.id().as_str()]).await
    }
}

impl TokenUpdateTallyStore for SqliteStore {
    async fn retrieve_token_update_tally(&self, id: &EnrollId) -> Result<u32, StorageError> {
        let sql = "SELECT token_update_tally FROM enrollments WHERE id = ?1";
        match flows::fetch_value(&self.reader, sql, id.id().as_str()).await? {
            None => Ok(0),
            Some(tally) => common::tally(tally),
        }
    }
}

impl BootstrapTokenStore for SqliteStore {
    async fn store_bootstrap_token(
        &self,
        id: &EnrollId,
        msg: &SetBootstrapToken,
    ) -> Result<(), StorageError> {
        common::device_only(id)?;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE devices SET bootstrap_token_b64 = ?1, bootstrap_token_at = CURRENT_TIMESTAMP, \
                 updated_at = CURRENT_TIMESTAMP \
             WHERE id = ?2",
        )
        .bind(common::encode_bootstrap_token(
            msg.bootstrap_token.as_ref().map(|t| t.expose().as_slice()),
        ))
        .bind(id.id().as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StorageError::UnknownEnrollment(id.id().clone()));
        }
        touch_last_seen(&mut tx, id.id().as_str()).await?;
        tx.commit().await.map_err(db)
    }

    async fn retrieve_bootstrap_token(
        &self,
        id: &EnrollId,
    ) -> Result<Option<BootstrapToken>, StorageError> {
        common::device_only(id)?;
        let sql = "SELECT bootstrap_token_b64 FROM devices WHERE id = ?1";
        let Some(Some(b64)) =
            flows::fetch_value::<_, _, Option<String>>(&self.reader, sql, id.id().as_str()).await?
        else {
            return Ok(None);
        };
        Ok(Some(BootstrapToken::new(Secret::new(
            common::decode_bootstrap_token(&b64)?,
        ))))
    }
}

impl CommandQueue for SqliteStore {
    async fn enqueue_command(
        &self,
        ids: &[EnrollmentId],
        command: &Raw<Command>,
        priority: i8,
    ) -> Result<HashMap<EnrollmentId, StorageError>, StorageError> {
        let mut failed = HashMap::new();
        if ids.is_empty() {
            return Ok(failed);
        }
        let uuid = &command.command_uuid;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO commands (command_uuid, request_type, command) VALUES (?1, ?2, ?3)",
        )
        .bind(uuid)
        .bind(&command.request_type)
        .bind(command.bytes().as_ref())
        .execute(&mut *tx)
        .await;
        common::command_inserted(inserted, uuid)?;
        let mut seen = HashSet::with_capacity(ids.len());
        let mut queued = 0usize;
        for id in ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let result = sqlx::query(
                "INSERT INTO enrollment_queue (id, command_uuid, priority) \
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM enrollments WHERE id = ?1)",
            )
            .bind(id.as_str())
            .bind(uuid)
            .bind(i64::from(priority))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if result.rows_affected() == 0 {
                failed.insert(id.clone(), StorageError::UnknownEnrollment(id.clone()));
            } else {
                queued += 1;
            }
        }
        if queued == 0 {
            // No target: keep no command (its CommandUUID stays free).
            tx.rollback().await.map_err(db)?;
        } else {
            tx.commit().await.map_err(db)?;
        }
        Ok(failed)
    }

    async fn store_command_report(
        &self,
        id: &EnrollId,
        report: &CommandReport,
        raw: &[u8],
    ) -> Result<ReportOutcome, StorageError> {
        let uuid =
            match flows::answered_command(&self.writer, TOUCH_LAST_SEEN, id.id().as_str(), report)
                .await?
            {
                ControlFlow::Continue(uuid) => uuid,
                ControlFlow::Break(outcome) => return Ok(outcome),
            };
        let mut tx = self.begin_write().await?;
        let outcome = if self.delete_commands && report.status.is_final() {
            touch_last_seen(&mut tx, id.id().as_str()).await?;
            let dequeued = sqlx::query(
                "DELETE FROM enrollment_queue WHERE id = ?1 AND command_uuid = ?2 AND active = 1",
            )
            .bind(id.id().as_str())
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if dequeued.rows_affected() == 0 {
                ReportOutcome::NotQueued
            } else {
                flows::execute(
                    &mut *tx,
                    "DELETE FROM command_results WHERE id = ?1 AND command_uuid = ?2",
                    &[id.id().as_str(), uuid],
                )
                .await?;
                delete_command_if_orphaned(&mut tx, uuid).await?;
                ReportOutcome::Final
            }
        } else {
            // One batch (one round trip to the connection's thread) inside the transaction.
            let (sql, stored) = if report.status == Status::NotNow {
                (STORE_NOT_NOW, ReportOutcome::NotNow)
            } else {
                (STORE_FINAL, ReportOutcome::Final)
            };
            let changed: i64 = sqlx::query(sql)
                .bind(id.id().as_str())
                .bind(uuid)
                .bind(report.status.as_str())
                .bind(raw)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            if changed == 0 {
                ReportOutcome::NotQueued
            } else {
                stored
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }

    async fn retrieve_next_command(
        &self,
        id: &EnrollId,
        skip_not_now: bool,
    ) -> Result<Option<Raw<Command>>, StorageError> {
        let row = sqlx::query(NEXT_COMMAND)
            .bind(id.id().as_str())
            .bind(common::NOT_NOW)
            .bind(skip_not_now)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(common::command(
            row.try_get(0).map_err(db)?,
            row.try_get(1).map_err(db)?,
            row.try_get(2).map_err(db)?,
        )))
    }

    async fn clear_queue(&self, id: &EnrollId) -> Result<(), StorageError> {
        let mut tx = self.begin_write().await?;
        for channel in channel_ids(&mut tx, id).await? {
            if !self.delete_commands {
                flows::execute(
                    &mut *tx,
                    "UPDATE enrollment_queue SET active = 0, updated_at = CURRENT_TIMESTAMP \
                     WHERE id = ?1 AND active = 1",
                    &[&channel],
                )
                .await?;
                continue;
            }
            let rows = sqlx::query(
                "SELECT command_uuid FROM enrollment_queue WHERE id = ?1 AND active = 1",
            )
            .bind(&channel)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            for row in rows {
                let uuid: String = row.try_get(0).map_err(db)?;
                flows::execute(
                    &mut *tx,
                    "DELETE FROM command_results WHERE id = ?1 AND command_uuid = ?2",
                    &[&channel, &uuid],
                )
                .await?;
                flows::execute(
                    &mut *tx,
                    "DELETE FROM enrollment_queue WHERE id = ?1 AND command_uuid = ?2",
                    &[&channel, &uuid],
                )
                .await?;
                delete_command_if_orphaned(&mut tx, &uuid).await?;
            }
        }
        tx.commit().await.map_err(db)
    }
}

impl PushStore for SqliteStore {
    async fn retrieve_push_info(
        &self,
        ids: &[EnrollmentId],
    ) -> Result<HashMap<EnrollmentId, PushInfo>, StorageError> {
        flows::retrieve_push_info_in_lists(&self.reader, ids).await
    }
}

impl PushCertStore for SqliteStore {
    async fn is_push_cert_stale(
        &self,
        topic: &str,
        stale_token: i64,
    ) -> Result<bool, StorageError> {
        let sql = "SELECT stale_token FROM push_certs WHERE topic = ?1";
        let stored = flows::fetch_value::<_, _, i64>(&self.reader, sql, topic).await?;
        Ok(stored.is_none_or(|stored| stored != stale_token))
    }

    async fn retrieve_push_cert(
        &self,
        topic: &str,
    ) -> Result<Option<StoredPushCert>, StorageError> {
        let sql = "SELECT cert_pem, key_pem, stale_token FROM push_certs WHERE topic = ?1";
        flows::retrieve_push_cert::<_, _, i64>(&self.reader, sql, topic).await
    }

    async fn store_push_cert(
        &self,
        topic: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<(), StorageError> {
        flows::execute(
            &self.writer,
            "INSERT INTO push_certs (topic, cert_pem, key_pem, stale_token) \
             VALUES (?1, ?2, ?3, 0) \
             ON CONFLICT (topic) DO UPDATE SET \
                 cert_pem = excluded.cert_pem, \
                 key_pem = excluded.key_pem, \
                 stale_token = stale_token + 1, \
                 updated_at = CURRENT_TIMESTAMP",
            &[topic, cert_pem, key_pem],
        )
        .await
    }
}

/// certauth's statements (`cert_auth_associations` as NanoMDM has it).
const CERT_AUTH: flows::CertBindSql = flows::CertBindSql {
    associated: "SELECT 1 FROM cert_auth_associations WHERE id = ?1 AND sha256 = ?2",
    enrollment_bound: "SELECT 1 FROM cert_auth_associations WHERE id = ?1 LIMIT 1",
    bound_to: "SELECT id FROM cert_auth_associations WHERE sha256 = ?1 LIMIT 1",
    associate: "INSERT INTO cert_auth_associations (id, sha256) VALUES (?1, ?2) \
                ON CONFLICT (id, sha256) DO UPDATE SET updated_at = CURRENT_TIMESTAMP",
};

impl CertAuthStore for SqliteStore {
    async fn has_cert_hash(&self, hash: &CertHash) -> Result<bool, StorageError> {
        flows::exists(
            &self.reader,
            "SELECT 1 FROM cert_auth_associations WHERE sha256 = ?1 LIMIT 1",
            &[&hash.to_string()],
        )
        .await
    }

    async fn enrollment_has_cert_hash(&self, id: &EnrollId) -> Result<bool, StorageError> {
        let sql = CERT_AUTH.enrollment_bound;
        flows::exists(&self.reader, sql, &[id.device_channel_id().as_str()]).await
    }

    async fn is_cert_hash_associated(
        &self,
        id: &EnrollId,
        hash: &CertHash,
    ) -> Result<bool, StorageError> {
        let binds = [id.device_channel_id().as_str(), &hash.to_string()];
        flows::exists(&self.reader, CERT_AUTH.associated, &binds).await
    }

    async fn bind_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
        mode: CertBindMode,
    ) -> Result<CertBinding, StorageError> {
        // The checks read inside the write transaction (BEGIN IMMEDIATE on the one writer
        // connection): no other write, from this process or another, lands between them and
        // the insert.
        let mut tx = self.begin_write().await?;
        let hash = hash.to_string();
        let outcome = flows::bind_cert_hash::<sqlx::Sqlite>(
            &mut *tx,
            &CERT_AUTH,
            id.device_channel_id().as_str(),
            &hash,
            mode,
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }

    async fn associate_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
    ) -> Result<(), StorageError> {
        let binds = [id.device_channel_id().as_str(), &hash.to_string()];
        flows::execute(&self.writer, CERT_AUTH.associate, &binds).await
    }

    async fn enrollment_from_cert_hash(
        &self,
        hash: &CertHash,
    ) -> Result<Option<EnrollmentId>, StorageError> {
        let sql = CERT_AUTH.bound_to;
        let id: Option<String> = flows::fetch_value(&self.reader, sql, &hash.to_string()).await?;
        Ok(id.map(EnrollmentId::new))
    }
}

impl MigrationStore for SqliteStore {
    fn retrieve_migration_checkins(&self) -> BoxStream<'_, Result<Bytes, StorageError>> {
        // Devices in the order they first authenticated, then user channels.
        flows::migration_checkins::<_, _, Vec<u8>>(
            &self.reader,
            "SELECT authenticate, token_update FROM devices ORDER BY rowid",
            "SELECT token_update FROM users WHERE token_update IS NOT NULL ORDER BY rowid",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::AssertSqlSafe;

    #[tokio::test]
    async fn next_command_reads_through_the_queue_index_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("plan.sqlite")))
            .await
            .unwrap();
        let plan: Vec<String> =
            sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {NEXT_COMMAND}")))
                .bind("some-id")
                .bind(common::NOT_NOW)
                .bind(true)
                .fetch_all(&store.reader)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>(3))
                .collect();
        let plan = plan.join("\n");
        eprintln!("{plan}");
        assert!(
            plan.contains("USING COVERING INDEX enrollment_queue_next"),
            "{plan}"
        );
        assert!(
            !plan.contains("TEMP B-TREE"),
            "sorts instead of walking the index: {plan}"
        );
        assert!(!plan.contains("SCAN"), "a full scan: {plan}");
    }

    #[test]
    fn storage_options_like_nanomdm() {
        let o = SqliteOptions::new("x.db")
            .with_storage_options("delete=1,readers=8,synchronous=full")
            .unwrap();
        assert!(o.delete_commands);
        assert_eq!(o.max_readers, 8);
        assert_eq!(o.synchronous, Synchronous::Full);
        let o = SqliteOptions::new("x.db").with_storage_options("").unwrap();
        assert!(!o.delete_commands);
        assert_eq!(
            SqliteOptions::new("x.db")
                .with_storage_options("delete=yes")
                .unwrap_err(),
            OptionsError::InvalidValue {
                key: "delete".into(),
                value: "yes".into()
            }
        );
        assert_eq!(
            SqliteOptions::new("x.db")
                .with_storage_options("readers=0")
                .unwrap_err(),
            OptionsError::InvalidValue {
                key: "readers".into(),
                value: "0".into()
            }
        );
        assert_eq!(
            SqliteOptions::new("x.db")
                .with_storage_options("conn_max_lifetime=1m")
                .unwrap_err(),
            OptionsError::UnknownOption("conn_max_lifetime".into())
        );
    }
}
