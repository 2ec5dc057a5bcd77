//! The PostgreSQL backend, on NanoMDM v0.9's `pgsql` schema as it is: a database a NanoMDM
//! server created and uses works unchanged, and the two servers can share it during a move.
//!
//! # Schema
//!
//! Opening the store runs embedded, versioned migrations (tracked in `_sqlx_migrations`), all
//! additive: NanoMDM's tables, function and triggers where missing (`IF NOT EXISTS`), then
//! `enrollment_queue.seq` (insertion order, the FIFO tie-break), `commands.command_bytes` (see
//! below) and indexes — among them the partial index the next-command lookup walks. Nothing is
//! dropped, renamed or retyped.
//!
//! # Property lists in TEXT columns
//!
//! NanoMDM stores raw property lists in TEXT columns, and `commands.command` and
//! `command_results.result` must start with `<?xml`. XML is stored as is. A binary property
//! list is stored as its XML rendering — the same values, so a NanoMDM server sharing the
//! database reads it — and a binary *command* additionally keeps its exact bytes in
//! `commands.command_bytes`, so this store delivers it byte-for-byte. Bytes that are neither
//! (not UTF-8, or a command or result without the XML declaration) are refused with a
//! [`StorageError::Backend`] naming the column.
//!
//! # Concurrency
//!
//! Transactions run at PostgreSQL's default READ COMMITTED. Reports on one command from many
//! enrollments touch only their own rows, except in delete mode, where each first locks the
//! command row (`FOR UPDATE`, as NanoMDM's MySQL backend) so that exactly one of them sees the
//! command orphaned and removes it; every transaction takes its locks in the same order
//! (enrollment, command, queue, result), so they queue instead of deadlocking. A deadlock or
//! serialization failure that still happens (another writer on the database, e.g. NanoMDM) is
//! retried a few times before it is returned.
//!
//! A certificate binding (`bind_cert_hash`) checks and inserts under two transaction-scoped
//! advisory locks, the device channel's and the hash's, so racing binds of one certificate
//! queue and exactly one binds it. The schema is unchanged (no unique index on `sha256`): a
//! NanoMDM server sharing the database takes no such locks, so its own binds are not covered.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::str::FromStr as _;

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
use sqlx::postgres::{PgConnectOptions, PgPool, PgTransaction};

use crate::common::{self, db};
use crate::flows;
use crate::options::{OptionsError, StorageOptions};

// ImportStore (moving in from another server), kept apart from the store's own flows.
mod import;

pub use sqlx::postgres::PgConnectOptions as ConnectOptions;

/// The schema, as versioned migrations run on open (tracked in `_sqlx_migrations`).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "nanomdm tables",
        include_str!("../migrations/postgres/0001_nanomdm_tables.sql"),
    ),
    (
        2,
        "rootstock queue",
        include_str!("../migrations/postgres/0002_rootstock_queue.sql"),
    ),
];

/// How to open a [`PostgresStore`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Where and how to connect (host, database, user, `search_path` via
    /// [`ConnectOptions::options`], TLS …).
    pub connect: ConnectOptions,
    /// What NanoMDM's `-storage-options` sets: `delete`, pool size and timeouts.
    pub storage: StorageOptions,
}

impl PostgresOptions {
    /// Defaults for `connect`: keep commands and results, 10 connections, no lifetime limits, a
    /// five-second `acquire_timeout`.
    pub fn new(connect: ConnectOptions) -> Self {
        Self {
            connect,
            storage: StorageOptions::default(),
        }
    }

    /// Defaults for a `postgres://` URL (or a libpq key/value string).
    pub fn from_url(url: &str) -> Result<Self, OpenError> {
        let connect =
            PgConnectOptions::from_str(url).map_err(|e| OpenError::Connect(Box::new(e)))?;
        Ok(Self::new(connect))
    }

    /// Applies a NanoMDM-style `-storage-options` string: `delete=0|1`,
    /// `conn_max_lifetime=<Go duration>`, `conn_max_idle_time=<Go duration>` (as NanoMDM), and
    /// `max_open_conns=<n>` (n > 0) and `acquire_timeout=<Go duration>` (> 0), Rootstock's.
    pub fn with_storage_options(mut self, storage_options: &str) -> Result<Self, OptionsError> {
        self.storage.apply(storage_options)?;
        Ok(self)
    }
}

/// Why a PostgreSQL store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The connection string is invalid or the server could not be reached.
    #[error("connecting to PostgreSQL: {0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The schema could not be brought up to date (a failed migration, or a database migrated
    /// by a newer version with migrations this one does not know).
    #[error("migrating the PostgreSQL database: {0}")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A PostgreSQL store implementing every `mdm_storage` trait. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    delete_commands: bool,
}

impl PostgresStore {
    /// Connects and brings the schema up to date (additively; see the module documentation).
    pub async fn open(options: &PostgresOptions) -> Result<Self, OpenError> {
        let pool = options
            .storage
            .pool::<sqlx::Postgres>()
            .connect_with(options.connect.clone())
            .await
            .map_err(|e| OpenError::Connect(Box::new(e)))?;
        common::migrator(MIGRATIONS)
            .run(&pool)
            .await
            .map_err(|e| OpenError::Migrate(Box::new(e)))?;
        Ok(Self {
            pool,
            delete_commands: options.storage.delete_commands,
        })
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection pool, e.g. for a caller's own queries on the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<PgTransaction<'static>, StorageError> {
        self.pool.begin().await.map_err(db)
    }
}

/// The next command for `$1`: walks the partial index `rootstock_queue_next` (active rows only)
/// in delivery order — priority, then enqueue time as NanoMDM, then `seq` for ties; the joins are
/// primary-key lookups. `$2` is `NotNow`, `$3` whether to pass over commands put off with it.
/// `command_bytes` holds the exact bytes of a command enqueued as a binary plist.
const NEXT_COMMAND: &str = "\
SELECT c.command_uuid, c.request_type, c.command, c.command_bytes
FROM enrollment_queue AS q
    INNER JOIN commands AS c ON c.command_uuid = q.command_uuid
    LEFT JOIN command_results AS r ON r.id = q.id AND r.command_uuid = q.command_uuid
WHERE q.id = $1 AND q.active AND (r.status IS NULL OR (r.status = $2 AND NOT $3))
ORDER BY q.priority DESC, q.created_at, q.seq
LIMIT 1";

const TOUCH_LAST_SEEN: &str = "UPDATE enrollments SET last_seen_at = now() WHERE id = $1";

async fn touch_last_seen(tx: &mut PgTransaction<'_>, id: &str) -> Result<(), StorageError> {
    flows::execute(&mut **tx, TOUCH_LAST_SEEN, &[id]).await
}

async fn device_exists(tx: &mut PgTransaction<'_>, id: &str) -> Result<bool, StorageError> {
    flows::exists(&mut **tx, "SELECT 1 FROM devices WHERE id = $1", &[id]).await
}

/// Delete mode: removes the commands among `uuids` that nothing refers to any more.
async fn delete_orphaned_commands(
    tx: &mut PgTransaction<'_>,
    uuids: &[String],
) -> Result<(), StorageError> {
    sqlx::query(
        "DELETE FROM commands AS c WHERE c.command_uuid = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM enrollment_queue q WHERE q.command_uuid = c.command_uuid) \
         AND NOT EXISTS (SELECT 1 FROM command_results r WHERE r.command_uuid = c.command_uuid)",
    )
    .bind(uuids)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

impl CheckInStore for PostgresStore {
    async fn store_authenticate(
        &self,
        id: &EnrollId,
        msg: &Authenticate,
        raw: &[u8],
        identity_cert_der: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        common::device_only(id)?;
        let (raw, _) = common::plist_text("devices.authenticate", raw)?;
        let tx = self.begin().await?;
        flows::store_authenticate(
            tx,
            "INSERT INTO devices (id, identity_cert, serial_number, authenticate, authenticate_at) \
             VALUES ($1, $2, $3, $4, now()) \
             ON CONFLICT (id) DO UPDATE SET \
                 identity_cert = excluded.identity_cert, \
                 serial_number = excluded.serial_number, \
                 authenticate = excluded.authenticate, \
                 authenticate_at = excluded.authenticate_at, \
                 bootstrap_token_b64 = NULL, \
                 bootstrap_token_at = NULL",
            "UPDATE enrollments SET token_update_tally = 0 \
             WHERE device_id = $1 AND token_update_tally != 0",
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
        let mut tx = self.begin().await?;
        let user_id = match id.parent() {
            None => {
                let (raw, _) = common::plist_text("devices.token_update", raw)?;
                let unlock_token = msg
                    .unlock_token
                    .as_ref()
                    .map(|t| t.expose().as_slice())
                    .filter(|t| !t.is_empty());
                let updated = sqlx::query(
                    "UPDATE devices SET \
                         token_update = $1, \
                         token_update_at = now(), \
                         unlock_token = COALESCE($2, unlock_token), \
                         unlock_token_at = CASE WHEN $2::bytea IS NULL THEN unlock_token_at \
                                           ELSE now() END \
                     WHERE id = $3",
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
                let (raw, _) = common::plist_text("users.token_update", raw)?;
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
                     VALUES ($1, $2, $3, $4, $5, now()) \
                     ON CONFLICT (id, device_id) DO UPDATE SET \
                         user_short_name = excluded.user_short_name, \
                         user_long_name = excluded.user_long_name, \
                         token_update = excluded.token_update, \
                         token_update_at = excluded.token_update_at",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, now(), 1) \
             ON CONFLICT (id) DO UPDATE SET \
                 device_id = excluded.device_id, \
                 user_id = excluded.user_id, \
                 type = excluded.type, \
                 topic = excluded.topic, \
                 push_magic = excluded.push_magic, \
                 token_hex = excluded.token_hex, \
                 enabled = TRUE, \
                 last_seen_at = excluded.last_seen_at, \
                 token_update_tally = enrollments.token_update_tally + 1",
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
        let (sql, column) = if msg.digest_response.is_some() {
            (
                "INSERT INTO users \
                     (id, device_id, user_short_name, user_long_name, user_authenticate_digest, \
                      user_authenticate_digest_at) \
                 VALUES ($1, $2, $3, $4, $5, now()) \
                 ON CONFLICT (id, device_id) DO UPDATE SET \
                     user_short_name = excluded.user_short_name, \
                     user_long_name = excluded.user_long_name, \
                     user_authenticate_digest = excluded.user_authenticate_digest, \
                     user_authenticate_digest_at = excluded.user_authenticate_digest_at",
                "users.user_authenticate_digest",
            )
        } else {
            (
                "INSERT INTO users \
                     (id, device_id, user_short_name, user_long_name, user_authenticate, \
                      user_authenticate_at) \
                 VALUES ($1, $2, $3, $4, $5, now()) \
                 ON CONFLICT (id, device_id) DO UPDATE SET \
                     user_short_name = excluded.user_short_name, \
                     user_long_name = excluded.user_long_name, \
                     user_authenticate = excluded.user_authenticate, \
                     user_authenticate_at = excluded.user_authenticate_at",
                "users.user_authenticate",
            )
        };
        let (raw, _) = common::plist_text(column, raw)?;
        let mut tx = self.begin().await?;
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
                "UPDATE enrollments SET enabled = FALSE, token_update_tally = 0, \
                     last_seen_at = now() \
                 WHERE device_id = $1 AND enabled"
            }
            Some(_) => {
                "UPDATE enrollments SET enabled = FALSE, token_update_tally = 0, \
                     last_seen_at = now() \
                 WHERE id = $1 AND enabled"
            }
        };
        flows::execute(&self.pool, sql, &[id.id().as_str()]).await
    }
}

impl TokenUpdateTallyStore for PostgresStore {
    async fn retrieve_token_update_tally(&self, id: &EnrollId) -> Result<u32, StorageError> {
        let sql = "SELECT token_update_tally FROM enrollments WHERE id = $1";
        match flows::fetch_value::<_, _, i32>(&self.pool, sql, id.id().as_str()).await? {
            None => Ok(0),
            Some(tally) => common::tally(i64::from(tally)),
        }
    }
}

impl BootstrapTokenStore for PostgresStore {
    async fn store_bootstrap_token(
        &self,
        id: &EnrollId,
        msg: &SetBootstrapToken,
    ) -> Result<(), StorageError> {
        common::device_only(id)?;
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE devices SET bootstrap_token_b64 = $1, bootstrap_token_at = now() \
             WHERE id = $2",
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
        let sql = "SELECT bootstrap_token_b64 FROM devices WHERE id = $1";
        let Some(Some(b64)) =
            flows::fetch_value::<_, _, Option<String>>(&self.pool, sql, id.id().as_str()).await?
        else {
            return Ok(None);
        };
        Ok(Some(BootstrapToken::new(Secret::new(
            common::decode_bootstrap_token(&b64)?,
        ))))
    }
}

impl PostgresStore {
    /// One attempt at storing a report with a CommandUUID, in one transaction.
    async fn store_report_once(
        &self,
        id: &str,
        uuid: &str,
        status: &Status,
        result: &str,
    ) -> Result<ReportOutcome, StorageError> {
        let mut tx = self.begin().await?;
        touch_last_seen(&mut tx, id).await?;
        let outcome = if self.delete_commands && status.is_final() {
            // Lock the command first: concurrent final reports on one command then run one
            // after another, and exactly one sees it orphaned. Unknown UUIDs lock nothing.
            sqlx::query("SELECT 1 FROM commands WHERE command_uuid = $1 FOR UPDATE")
                .bind(uuid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            let dequeued = sqlx::query(
                "DELETE FROM enrollment_queue WHERE id = $1 AND command_uuid = $2 AND active",
            )
            .bind(id)
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if dequeued.rows_affected() == 0 {
                ReportOutcome::NotQueued
            } else {
                flows::execute(
                    &mut *tx,
                    "DELETE FROM command_results WHERE id = $1 AND command_uuid = $2",
                    &[id, uuid],
                )
                .await?;
                delete_orphaned_commands(&mut tx, &[uuid.to_owned()]).await?;
                ReportOutcome::Final
            }
        } else if *status == Status::NotNow {
            // Stored only while the command waits in this enrollment's queue. The first
            // NotNow's time stays in not_now_at; later ones count in not_now_tally (NanoMDM).
            let stored = sqlx::query(
                "INSERT INTO command_results \
                     (id, command_uuid, status, result, not_now_at, not_now_tally) \
                 SELECT $1, $2, $3, $4, now(), 1 \
                 WHERE EXISTS (SELECT 1 FROM enrollment_queue \
                               WHERE id = $1 AND command_uuid = $2 AND active) \
                 ON CONFLICT (id, command_uuid) DO UPDATE SET \
                     status = excluded.status, \
                     result = excluded.result, \
                     not_now_tally = command_results.not_now_tally + 1",
            )
            .bind(id)
            .bind(uuid)
            .bind(status.as_str())
            .bind(result)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if stored.rows_affected() == 0 {
                ReportOutcome::NotQueued
            } else {
                ReportOutcome::NotNow
            }
        } else {
            // The command leaves the queue (active = false: out of the next-command index; a
            // NanoMDM server reading the row skips it too) and, only if it was queued, the
            // result is written — one statement, so both or neither.
            let stored = sqlx::query(
                "WITH dequeued AS ( \
                     UPDATE enrollment_queue SET active = FALSE \
                     WHERE id = $1 AND command_uuid = $2 AND active \
                     RETURNING id, command_uuid) \
                 INSERT INTO command_results \
                     (id, command_uuid, status, result, not_now_at, not_now_tally) \
                 SELECT id, command_uuid, $3, $4, NULL, 0 FROM dequeued \
                 ON CONFLICT (id, command_uuid) DO UPDATE SET \
                     status = excluded.status, \
                     result = excluded.result",
            )
            .bind(id)
            .bind(uuid)
            .bind(status.as_str())
            .bind(result)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if stored.rows_affected() == 0 {
                ReportOutcome::NotQueued
            } else {
                ReportOutcome::Final
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }
}

impl CommandQueue for PostgresStore {
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
        let (text, exact) = common::plist_text("commands.command", command.bytes())?;
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO commands (command_uuid, request_type, command, command_bytes) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(uuid)
        .bind(&command.request_type)
        .bind(text)
        .bind(exact)
        .execute(&mut *tx)
        .await;
        common::command_inserted(inserted, uuid)?;
        // Every known id in one statement, however many are given; duplicates in `ids` meet
        // one enrollments row each.
        let queued: Vec<EnrollmentId> = sqlx::query(
            "INSERT INTO enrollment_queue (id, command_uuid, priority) \
             SELECT e.id, $2, $3 FROM enrollments AS e WHERE e.id = ANY($1) \
             RETURNING id",
        )
        .bind(ids.iter().map(EnrollmentId::as_str).collect::<Vec<_>>())
        .bind(uuid)
        .bind(i16::from(priority))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?
        .iter()
        .map(|row| {
            row.try_get::<String, _>(0)
                .map(EnrollmentId::new)
                .map_err(db)
        })
        .collect::<Result<_, _>>()?;
        for id in ids {
            if !queued.contains(id) {
                failed.insert(id.clone(), StorageError::UnknownEnrollment(id.clone()));
            }
        }
        if queued.is_empty() {
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
            match flows::answered_command(&self.pool, TOUCH_LAST_SEEN, id.id().as_str(), report)
                .await?
            {
                ControlFlow::Continue(uuid) => uuid,
                ControlFlow::Break(outcome) => return Ok(outcome),
            };
        let (result, _) = common::plist_text("command_results.result", raw)?;
        flows::retry_conflicts(|| {
            self.store_report_once(id.id().as_str(), uuid, &report.status, &result)
        })
        .await
    }

    async fn retrieve_next_command(
        &self,
        id: &EnrollId,
        skip_not_now: bool,
    ) -> Result<Option<Raw<Command>>, StorageError> {
        flows::retrieve_next_command(&self.pool, NEXT_COMMAND, id.id().as_str(), skip_not_now).await
    }

    async fn clear_queue(&self, id: &EnrollId) -> Result<(), StorageError> {
        // A device channel reaches its user channels too; a user channel only itself.
        let channels = match id.parent() {
            None => "SELECT id FROM enrollments WHERE device_id = $1",
            Some(_) => "SELECT $1::varchar",
        };
        let mut tx = self.begin().await?;
        if !self.delete_commands {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE enrollment_queue SET active = FALSE \
                 WHERE active AND id IN ({channels})"
            )))
            .bind(id.id().as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        } else {
            let uuids: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH q AS ( \
                     DELETE FROM enrollment_queue WHERE active AND id IN ({channels}) \
                     RETURNING id, command_uuid), \
                 r AS ( \
                     DELETE FROM command_results AS r USING q \
                     WHERE r.id = q.id AND r.command_uuid = q.command_uuid) \
                 SELECT DISTINCT command_uuid FROM q"
            )))
            .bind(id.id().as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
            .iter()
            .map(|row| row.try_get(0).map_err(db))
            .collect::<Result<_, _>>()?;
            if !uuids.is_empty() {
                delete_orphaned_commands(&mut tx, &uuids).await?;
            }
        }
        tx.commit().await.map_err(db)
    }
}

impl PushStore for PostgresStore {
    async fn retrieve_push_info(
        &self,
        ids: &[EnrollmentId],
    ) -> Result<HashMap<EnrollmentId, PushInfo>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, topic, push_magic, token_hex FROM enrollments \
             WHERE enabled AND id = ANY($1)",
        )
        .bind(ids.iter().map(EnrollmentId::as_str).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(flows::push_info_row).collect()
    }
}

impl PushCertStore for PostgresStore {
    async fn is_push_cert_stale(
        &self,
        topic: &str,
        stale_token: i64,
    ) -> Result<bool, StorageError> {
        let sql = "SELECT stale_token FROM push_certs WHERE topic = $1";
        let stored = flows::fetch_value::<_, _, i32>(&self.pool, sql, topic).await?;
        Ok(stored.is_none_or(|stored| i64::from(stored) != stale_token))
    }

    async fn retrieve_push_cert(
        &self,
        topic: &str,
    ) -> Result<Option<StoredPushCert>, StorageError> {
        let sql = "SELECT cert_pem, key_pem, stale_token FROM push_certs WHERE topic = $1";
        flows::retrieve_push_cert::<_, _, i32>(&self.pool, sql, topic).await
    }

    async fn store_push_cert(
        &self,
        topic: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<(), StorageError> {
        flows::execute(
            &self.pool,
            "INSERT INTO push_certs (topic, cert_pem, key_pem, stale_token) \
             VALUES ($1, $2, $3, 0) \
             ON CONFLICT (topic) DO UPDATE SET \
                 cert_pem = excluded.cert_pem, \
                 key_pem = excluded.key_pem, \
                 stale_token = push_certs.stale_token + 1",
            &[topic, cert_pem, key_pem],
        )
        .await
    }
}

/// certauth's statements (`cert_auth_associations` as NanoMDM has it).
const CERT_AUTH: flows::CertBindSql = flows::CertBindSql {
    associated: "SELECT 1 FROM cert_auth_associations WHERE id = $1 AND sha256 = $2",
    enrollment_bound: "SELECT 1 FROM cert_auth_associations WHERE id = $1 LIMIT 1",
    bound_to: "SELECT id FROM cert_auth_associations WHERE sha256 = $1 LIMIT 1",
    // As NanoMDM: an existing association only has updated_at touched (by the trigger).
    associate: "INSERT INTO cert_auth_associations (id, sha256) VALUES ($1, $2) \
                ON CONFLICT (id, sha256) DO UPDATE SET updated_at = now()",
};

/// Takes the transaction-scoped advisory lock `($1, hashtext($2))`: the key space (one of the
/// `CERT_LOCK_*` below) and what in it is locked.
const CERT_LOCK: &str = "SELECT pg_advisory_xact_lock($1, hashtext($2))";
/// The advisory-lock key space of device channels being bound (`'RSC'` and 1).
const CERT_LOCK_CHANNEL: i32 = 0x5253_4301;
/// The advisory-lock key space of certificate hashes being bound (`'RSC'` and 2).
const CERT_LOCK_HASH: i32 = 0x5253_4302;

impl PostgresStore {
    /// One attempt at `bind_cert_hash`, in one transaction.
    ///
    /// Two transaction-scoped advisory locks serialize the binds that could conflict: the
    /// channel's, then the hash's (always in that order, and nothing else waits while holding
    /// one, so binds queue instead of deadlocking). At READ COMMITTED each statement after the
    /// locks sees what the previous holder committed.
    async fn bind_cert_hash_once(
        &self,
        device_id: &str,
        hash: &str,
        mode: CertBindMode,
    ) -> Result<CertBinding, StorageError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(db)?;
        for (space, key) in [(CERT_LOCK_CHANNEL, device_id), (CERT_LOCK_HASH, hash)] {
            sqlx::query(CERT_LOCK)
                .bind(space)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let outcome =
            flows::bind_cert_hash::<sqlx::Postgres>(&mut *tx, &CERT_AUTH, device_id, hash, mode)
                .await?;
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }
}

impl CertAuthStore for PostgresStore {
    async fn has_cert_hash(&self, hash: &CertHash) -> Result<bool, StorageError> {
        flows::exists(
            &self.pool,
            "SELECT 1 FROM cert_auth_associations WHERE sha256 = $1 LIMIT 1",
            &[&hash.to_string()],
        )
        .await
    }

    async fn enrollment_has_cert_hash(&self, id: &EnrollId) -> Result<bool, StorageError> {
        let sql = CERT_AUTH.enrollment_bound;
        flows::exists(&self.pool, sql, &[id.device_channel_id().as_str()]).await
    }

    async fn is_cert_hash_associated(
        &self,
        id: &EnrollId,
        hash: &CertHash,
    ) -> Result<bool, StorageError> {
        let binds = [id.device_channel_id().as_str(), &hash.to_string()];
        flows::exists(&self.pool, CERT_AUTH.associated, &binds).await
    }

    async fn bind_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
        mode: CertBindMode,
    ) -> Result<CertBinding, StorageError> {
        let hash = hash.to_string();
        let device_id = id.device_channel_id().as_str();
        flows::retry_conflicts(|| self.bind_cert_hash_once(device_id, &hash, mode)).await
    }

    async fn associate_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
    ) -> Result<(), StorageError> {
        let binds = [id.device_channel_id().as_str(), &hash.to_string()];
        flows::execute(&self.pool, CERT_AUTH.associate, &binds).await
    }

    async fn enrollment_from_cert_hash(
        &self,
        hash: &CertHash,
    ) -> Result<Option<EnrollmentId>, StorageError> {
        let sql = CERT_AUTH.bound_to;
        let id: Option<String> = flows::fetch_value(&self.pool, sql, &hash.to_string()).await?;
        Ok(id.map(EnrollmentId::new))
    }
}

impl MigrationStore for PostgresStore {
    fn retrieve_migration_checkins(&self) -> BoxStream<'_, Result<Bytes, StorageError>> {
        // Devices in the order they were first stored, then user channels.
        flows::migration_checkins::<_, _, String>(
            &self.pool,
            "SELECT authenticate, token_update FROM devices ORDER BY created_at, id",
            "SELECT token_update FROM users WHERE token_update IS NOT NULL \
             ORDER BY created_at, id",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_options_like_nanomdm() {
        let base = || PostgresOptions::from_url("postgres://u@localhost/db").unwrap();
        let o = base()
            .with_storage_options(
                "delete=1,conn_max_lifetime=1h,conn_max_idle_time=30s,max_open_conns=4",
            )
            .unwrap();
        assert!(o.storage.delete_commands);
        assert_eq!(
            o.storage.conn_max_lifetime,
            Some(std::time::Duration::from_secs(3600))
        );
        assert_eq!(
            o.storage.conn_max_idle_time,
            Some(std::time::Duration::from_secs(30))
        );
        assert_eq!(o.storage.max_open_conns, 4);
        let o = base().with_storage_options("conn_max_lifetime=0").unwrap();
        assert_eq!(o.storage.conn_max_lifetime, None);
        assert_eq!(
            base()
                .with_storage_options("conn_max_idle_time=soon")
                .unwrap_err(),
            OptionsError::InvalidValue {
                key: "conn_max_idle_time".into(),
                value: "soon".into()
            }
        );
        assert_eq!(
            base().with_storage_options("readers=2").unwrap_err(),
            OptionsError::UnknownOption("readers".into())
        );
    }
}
