//! The MySQL / MariaDB backend, on NanoMDM v0.9's `mysql` schema as it is (deltas 00001–00009
//! applied), so a NanoMDM database works unchanged.
//!
//! Differences from the PostgreSQL backend (module `postgres`), whose documentation the
//! rest of this one shares (raw property lists in TEXT columns, `delete=1`, additive
//! migrations):
//!
//! * Upserts use `ON DUPLICATE KEY UPDATE col = VALUES(col)`, which MariaDB and MySQL 8 both
//!   accept (NanoMDM's `… AS new` alias form is MySQL 8.0.19+ only).
//! * Sessions run at READ COMMITTED, not InnoDB's REPEATABLE READ default: no gap locks, so
//!   concurrent reports on one command lock only their own rows.
//! * Enqueueing to many ids takes two statements per 500 ids (no arrays to bind).
//! * A certificate binding checks and inserts holding two named locks (`GET_LOCK`), the
//!   device channel's and the hash's, where PostgreSQL takes advisory locks: at READ COMMITTED
//!   nothing else locks a hash that is not stored yet.
//! * MySQL 8 has no `ADD COLUMN IF NOT EXISTS`: the additive migration runs once per database
//!   (tracked in `_sqlx_migrations`) and is not idempotent by itself.

use std::collections::{HashMap, HashSet};
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
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlTransaction};
use sqlx::{AssertSqlSafe, Executor as _, Row as _};

use crate::common::{self, db, placeholders};
use crate::flows;
use crate::options::{OptionsError, StorageOptions};

// ImportStore (moving in from another server), kept apart from the store's own flows.
mod import;

pub use sqlx::mysql::MySqlConnectOptions as ConnectOptions;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "nanomdm tables",
        include_str!("../migrations/mysql/0001_nanomdm_tables.sql"),
    ),
    (
        2,
        "rootstock queue",
        include_str!("../migrations/mysql/0002_rootstock_queue.sql"),
    ),
];

/// How to open a [`MySqlStore`]; the same options as the PostgreSQL backend's.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MySqlOptions {
    /// Where and how to connect.
    pub connect: ConnectOptions,
    /// What NanoMDM's `-storage-options` sets: `delete`, pool size and timeouts.
    pub storage: StorageOptions,
}

impl MySqlOptions {
    /// Defaults for `connect`: keep commands and results, 10 connections, no lifetime limits, a
    /// five-second `acquire_timeout`.
    pub fn new(connect: ConnectOptions) -> Self {
        Self {
            connect,
            storage: StorageOptions::default(),
        }
    }

    /// Defaults for a `mysql://` URL.
    pub fn from_url(url: &str) -> Result<Self, OpenError> {
        let connect =
            MySqlConnectOptions::from_str(url).map_err(|e| OpenError::Connect(Box::new(e)))?;
        Ok(Self::new(connect))
    }

    /// Applies a NanoMDM-style `-storage-options` string: `delete=0|1`,
    /// `conn_max_lifetime=<Go duration>`, `conn_max_idle_time=<Go duration>`,
    /// `max_open_conns=<n>` (n > 0), `acquire_timeout=<Go duration>` (> 0).
    pub fn with_storage_options(mut self, storage_options: &str) -> Result<Self, OptionsError> {
        self.storage.apply(storage_options)?;
        Ok(self)
    }
}

/// Why a MySQL store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The connection string is invalid or the server could not be reached.
    #[error("connecting to MySQL: {0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The schema could not be brought up to date.
    #[error("migrating the MySQL database: {0}")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A MySQL / MariaDB store implementing every `mdm_storage` trait. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct MySqlStore {
    pool: MySqlPool,
    delete_commands: bool,
}

impl MySqlStore {
    /// Connects and brings the schema up to date.
    pub async fn open(options: &MySqlOptions) -> Result<Self, OpenError> {
        let pool = options
            .storage
            .pool::<sqlx::MySql>()
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    Ok(())
                })
            })
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

    async fn begin(&self) -> Result<MySqlTransaction<'static>, StorageError> {
        self.pool.begin().await.map_err(db)
    }
}

/// See the PostgreSQL backend's `NEXT_COMMAND`; here through `rootstock_queue_next`
/// `(id, active, priority DESC, created_at, seq)`.
const NEXT_COMMAND: &str = "\
SELECT c.command_uuid, c.request_type, c.command, c.command_bytes
FROM enrollment_queue AS q
    INNER JOIN commands AS c ON c.command_uuid = q.command_uuid
    LEFT JOIN command_results AS r ON r.id = q.id AND r.command_uuid = q.command_uuid
WHERE q.id = ? AND q.active = 1 AND (r.status IS NULL OR (r.status = ? AND NOT ?))
ORDER BY q.priority DESC, q.created_at, q.seq
LIMIT 1";

const TOUCH_LAST_SEEN: &str =
    "UPDATE enrollments SET last_seen_at = CURRENT_TIMESTAMP WHERE id = ?";

async fn touch_last_seen(tx: &mut MySqlTransaction<'_>, id: &str) -> Result<(), StorageError> {
    flows::execute(&mut **tx, TOUCH_LAST_SEEN, &[id]).await
}

/// Existence by SELECT: MySQL's affected-rows counts changed rows, not matched ones, so an
/// UPDATE that writes the same values cannot tell a missing row.
async fn device_exists(tx: &mut MySqlTransaction<'_>, id: &str) -> Result<bool, StorageError> {
    flows::exists(&mut **tx, "SELECT 1 FROM devices WHERE id = ?", &[id]).await
}

async fn delete_command_if_orphaned(
    tx: &mut MySqlTransaction<'_>,
    uuid: &str,
) -> Result<(), StorageError> {
    flows::execute(
        &mut **tx,
        "DELETE FROM commands WHERE command_uuid = ? \
         AND NOT EXISTS (SELECT 1 FROM enrollment_queue WHERE command_uuid = ?) \
         AND NOT EXISTS (SELECT 1 FROM command_results WHERE command_uuid = ?)",
        &[uuid, uuid, uuid],
    )
    .await?;
    Ok(())
}

impl CheckInStore for MySqlStore {
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
             VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP) \
             ON DUPLICATE KEY UPDATE \
                 identity_cert = VALUES(identity_cert), \
                 serial_number = VALUES(serial_number), \
                 authenticate = VALUES(authenticate), \
                 authenticate_at = VALUES(authenticate_at), \
                 bootstrap_token_b64 = NULL, \
                 bootstrap_token_at = NULL",
            "UPDATE enrollments SET token_update_tally = 0 \
             WHERE device_id = ? AND token_update_tally != 0",
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
        let device_id = id.device_channel_id().as_str();
        let mut tx = self.begin().await?;
        if !device_exists(&mut tx, device_id).await? {
            return Err(StorageError::UnknownEnrollment(EnrollmentId::new(
                device_id,
            )));
        }
        let user_id = match id.parent() {
            None => {
                let (raw, _) = common::plist_text("devices.token_update", raw)?;
                let unlock_token = msg
                    .unlock_token
                    .as_ref()
                    .map(|t| t.expose().as_slice())
                    .filter(|t| !t.is_empty());
                sqlx::query(
                    "UPDATE devices SET \
                         token_update = ?, \
                         token_update_at = CURRENT_TIMESTAMP, \
                         unlock_token_at = IF(? IS NULL, unlock_token_at, CURRENT_TIMESTAMP), \
                         unlock_token = COALESCE(?, unlock_token) \
                     WHERE id = ?",
                )
                .bind(raw)
                .bind(unlock_token)
                .bind(unlock_token)
                .bind(id.id().as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                None
            }
            Some(parent) => {
                let (raw, _) = common::plist_text("users.token_update", raw)?;
                flows::upsert_user(
                    &mut *tx,
                    "INSERT INTO users \
                         (id, device_id, user_short_name, user_long_name, token_update, \
                          token_update_at) \
                     VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP) \
                     ON DUPLICATE KEY UPDATE \
                         user_short_name = VALUES(user_short_name), \
                         user_long_name = VALUES(user_long_name), \
                         token_update = VALUES(token_update), \
                         token_update_at = VALUES(token_update_at)",
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
             VALUES (?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP, 1) \
             ON DUPLICATE KEY UPDATE \
                 device_id = VALUES(device_id), \
                 user_id = VALUES(user_id), \
                 type = VALUES(type), \
                 topic = VALUES(topic), \
                 push_magic = VALUES(push_magic), \
                 token_hex = VALUES(token_hex), \
                 enabled = 1, \
                 last_seen_at = VALUES(last_seen_at), \
                 token_update_tally = token_update_tally + 1",
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
        let (sql, column) = if msg.digest_response.is_some() {
            (
                "INSERT INTO users \
                     (id, device_id, user_short_name, user_long_name, user_authenticate_digest, \
                      user_authenticate_digest_at) \
                 VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP) \
                 ON DUPLICATE KEY UPDATE \
                     user_short_name = VALUES(user_short_name), \
                     user_long_name = VALUES(user_long_name), \
                     user_authenticate_digest = VALUES(user_authenticate_digest), \
                     user_authenticate_digest_at = VALUES(user_authenticate_digest_at)",
                "users.user_authenticate_digest",
            )
        } else {
            (
                "INSERT INTO users \
                     (id, device_id, user_short_name, user_long_name, user_authenticate, \
                      user_authenticate_at) \
                 VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP) \
                 ON DUPLICATE KEY UPDATE \
                     user_short_name = VALUES(user_short_name), \
                     user_long_name = VALUES(user_long_name), \
                     user_authenticate = VALUES(user_authenticate), \
                     user_authenticate_at = VALUES(user_authenticate_at)",
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
            None => {
                "UPDATE enrollments SET enabled = 0, token_update_tally = 0, \
                     last_seen_at = CURRENT_TIMESTAMP \
                 WHERE device_id = ? AND enabled = 1"
            }
            Some(_) => {
                "UPDATE enrollments SET enabled = 0, token_update_tally = 0, \
                     last_seen_at = CURRENT_TIMESTAMP \
                 WHERE id = ? AND enabled = 1"
            }
        };
        flows::execute(&self.pool, sql, &[id.id().as_str()]).await
    }
}

impl TokenUpdateTallyStore for MySqlStore {
    async fn retrieve_token_update_tally(&self, id: &EnrollId) -> Result<u32, StorageError> {
        let sql = "SELECT token_update_tally FROM enrollments WHERE id = ?";
        match flows::fetch_value::<_, _, i32>(&self.pool, sql, id.id().as_str()).await? {
            None => Ok(0),
            Some(tally) => common::tally(i64::from(tally)),
        }
    }
}

impl BootstrapTokenStore for MySqlStore {
    async fn store_bootstrap_token(
        &self,
        id: &EnrollId,
        msg: &SetBootstrapToken,
    ) -> Result<(), StorageError> {
        common::device_only(id)?;
        let mut tx = self.begin().await?;
        if !device_exists(&mut tx, id.id().as_str()).await? {
            return Err(StorageError::UnknownEnrollment(id.id().clone()));
        }
        sqlx::query(
            "UPDATE devices SET bootstrap_token_b64 = ?, bootstrap_token_at = CURRENT_TIMESTAMP \
             WHERE id = ?",
        )
        .bind(common::encode_bootstrap_token(
            msg.bootstrap_token.as_ref().map(|t| t.expose().as_slice()),
        ))
        .bind(id.id().as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        touch_last_seen(&mut tx, id.id().as_str()).await?;
        tx.commit().await.map_err(db)
    }

    async fn retrieve_bootstrap_token(
        &self,
        id: &EnrollId,
    ) -> Result<Option<BootstrapToken>, StorageError> {
        common::device_only(id)?;
        let sql = "SELECT bootstrap_token_b64 FROM devices WHERE id = ?";
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

impl MySqlStore {
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
            // As NanoMDM's MySQL backend: lock the command first, so concurrent final reports
            // run one after another and exactly one sees it orphaned.
            sqlx::query("SELECT 1 FROM commands WHERE command_uuid = ? FOR UPDATE")
                .bind(uuid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            let dequeued = sqlx::query(
                "DELETE FROM enrollment_queue WHERE id = ? AND command_uuid = ? AND active = 1",
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
                    "DELETE FROM command_results WHERE id = ? AND command_uuid = ?",
                    &[id, uuid],
                )
                .await?;
                delete_command_if_orphaned(&mut tx, uuid).await?;
                ReportOutcome::Final
            }
        } else if *status == Status::NotNow {
            // not_now_tally always grows, so affected rows is never 0 for a stored NotNow.
            let stored = sqlx::query(
                "INSERT INTO command_results \
                     (id, command_uuid, status, result, not_now_at, not_now_tally) \
                 SELECT ?, ?, ?, ?, CURRENT_TIMESTAMP, 1 FROM DUAL \
                 WHERE EXISTS (SELECT 1 FROM enrollment_queue \
                               WHERE id = ? AND command_uuid = ? AND active = 1) \
                 ON DUPLICATE KEY UPDATE \
                     status = VALUES(status), \
                     result = VALUES(result), \
                     not_now_tally = not_now_tally + 1",
            )
            .bind(id)
            .bind(uuid)
            .bind(status.as_str())
            .bind(result)
            .bind(id)
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if stored.rows_affected() == 0 {
                ReportOutcome::NotQueued
            } else {
                ReportOutcome::NotNow
            }
        } else {
            // active 1 → 0 always changes the row, so affected rows says whether it was queued.
            let dequeued = sqlx::query(
                "UPDATE enrollment_queue SET active = 0 \
                 WHERE id = ? AND command_uuid = ? AND active = 1",
            )
            .bind(id)
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if dequeued.rows_affected() == 0 {
                ReportOutcome::NotQueued
            } else {
                sqlx::query(
                    "INSERT INTO command_results \
                         (id, command_uuid, status, result, not_now_at, not_now_tally) \
                     VALUES (?, ?, ?, ?, NULL, 0) \
                     ON DUPLICATE KEY UPDATE status = VALUES(status), result = VALUES(result)",
                )
                .bind(id)
                .bind(uuid)
                .bind(status.as_str())
                .bind(result)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                ReportOutcome::Final
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }
}

impl CommandQueue for MySqlStore {
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
             VALUES (?, ?, ?, ?)",
        )
        .bind(uuid)
        .bind(&command.request_type)
        .bind(text)
        .bind(exact)
        .execute(&mut *tx)
        .await;
        common::command_inserted(inserted, uuid)?;
        let mut queued: HashSet<EnrollmentId> = HashSet::new();
        // Two statements per chunk of ids, however many there are.
        for chunk in ids.chunks(common::IN_LIST_CHUNK) {
            let list = placeholders(chunk.len());
            let mut known = sqlx::query(AssertSqlSafe(format!(
                "SELECT id FROM enrollments WHERE id IN ({list})"
            )));
            let mut insert = sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO enrollment_queue (id, command_uuid, priority) \
                 SELECT id, ?, ? FROM enrollments WHERE id IN ({list})"
            )))
            .bind(uuid)
            .bind(priority);
            for id in chunk {
                known = known.bind(id.as_str());
                insert = insert.bind(id.as_str());
            }
            for row in known.fetch_all(&mut *tx).await.map_err(db)? {
                queued.insert(EnrollmentId::new(row.try_get::<String, _>(0).map_err(db)?));
            }
            insert.execute(&mut *tx).await.map_err(db)?;
        }
        for id in ids {
            if !queued.contains(id) {
                failed.insert(id.clone(), StorageError::UnknownEnrollment(id.clone()));
            }
        }
        if queued.is_empty() {
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
        let channels = match id.parent() {
            None => "IN (SELECT id FROM enrollments WHERE device_id = ?)",
            Some(_) => "= ?",
        };
        let mut tx = self.begin().await?;
        if !self.delete_commands {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE enrollment_queue SET active = 0 WHERE active = 1 AND id {channels}"
            )))
            .bind(id.id().as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        } else {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT id, command_uuid FROM enrollment_queue \
                 WHERE active = 1 AND id {channels} FOR UPDATE"
            )))
            .bind(id.id().as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            for row in rows {
                let channel: String = row.try_get(0).map_err(db)?;
                let uuid: String = row.try_get(1).map_err(db)?;
                for sql in [
                    "DELETE FROM command_results WHERE id = ? AND command_uuid = ?",
                    "DELETE FROM enrollment_queue WHERE id = ? AND command_uuid = ?",
                ] {
                    flows::execute(&mut *tx, sql, &[&channel, &uuid]).await?;
                }
                delete_command_if_orphaned(&mut tx, &uuid).await?;
            }
        }
        tx.commit().await.map_err(db)
    }
}

impl PushStore for MySqlStore {
    async fn retrieve_push_info(
        &self,
        ids: &[EnrollmentId],
    ) -> Result<HashMap<EnrollmentId, PushInfo>, StorageError> {
        flows::retrieve_push_info_in_lists(&self.pool, ids).await
    }
}

impl PushCertStore for MySqlStore {
    async fn is_push_cert_stale(
        &self,
        topic: &str,
        stale_token: i64,
    ) -> Result<bool, StorageError> {
        let sql = "SELECT stale_token FROM push_certs WHERE topic = ?";
        let stored = flows::fetch_value::<_, _, i32>(&self.pool, sql, topic).await?;
        Ok(stored.is_none_or(|stored| i64::from(stored) != stale_token))
    }

    async fn retrieve_push_cert(
        &self,
        topic: &str,
    ) -> Result<Option<StoredPushCert>, StorageError> {
        let sql = "SELECT cert_pem, key_pem, stale_token FROM push_certs WHERE topic = ?";
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
             VALUES (?, ?, ?, 0) \
             ON DUPLICATE KEY UPDATE \
                 cert_pem = VALUES(cert_pem), \
                 key_pem = VALUES(key_pem), \
                 stale_token = stale_token + 1",
            &[topic, cert_pem, key_pem],
        )
        .await
    }
}

/// certauth's statements (`cert_auth_associations` as NanoMDM has it).
const CERT_AUTH: flows::CertBindSql = flows::CertBindSql {
    associated: "SELECT 1 FROM cert_auth_associations WHERE id = ? AND sha256 = ?",
    enrollment_bound: "SELECT 1 FROM cert_auth_associations WHERE id = ? LIMIT 1",
    bound_to: "SELECT id FROM cert_auth_associations WHERE sha256 = ? LIMIT 1",
    // As NanoMDM: an existing association is left as it is.
    associate: "INSERT INTO cert_auth_associations (id, sha256) VALUES (?, ?) \
                ON DUPLICATE KEY UPDATE sha256 = sha256",
};

/// Takes a named lock; binds: what is locked (`id` or `hash`), its value, how many seconds to
/// wait ([`CERT_LOCK_TIMEOUT_SECS`]). 1 when taken. Names are at most 60 characters (MySQL's
/// limit is 64).
const CERT_LOCK: &str = "SELECT GET_LOCK(CONCAT('rootstock.cert.', ?, '.', SHA1(?)), ?)";
/// Releases both named locks `CERT_LOCK` took (binds: channel id, hash).
const CERT_UNLOCK: &str = "SELECT \
    RELEASE_LOCK(CONCAT('rootstock.cert.id.', SHA1(?))), \
    RELEASE_LOCK(CONCAT('rootstock.cert.hash.', SHA1(?)))";
/// How long a bind waits for another bind of the same channel or hash (each takes a few
/// statements).
const CERT_LOCK_TIMEOUT_SECS: i64 = 10;

/// A pooled connection while it holds named locks. Dropped before [`Self::unlocked`] — a
/// statement failed, the future was cancelled — the connection is closed rather than returned
/// to the pool, and the server releases its locks with the session.
struct LockingConnection(Option<sqlx::pool::PoolConnection<sqlx::MySql>>);

impl LockingConnection {
    fn conn(&mut self) -> &mut sqlx::MySqlConnection {
        self.0.as_deref_mut().expect("present until dropped")
    }

    /// Returns the connection, its locks released, to the pool.
    fn unlocked(mut self) {
        drop(self.0.take());
    }
}

impl Drop for LockingConnection {
    fn drop(&mut self) {
        if let Some(conn) = &mut self.0 {
            conn.close_on_drop();
        }
    }
}

impl CertAuthStore for MySqlStore {
    async fn has_cert_hash(&self, hash: &CertHash) -> Result<bool, StorageError> {
        flows::exists(
            &self.pool,
            "SELECT 1 FROM cert_auth_associations WHERE sha256 = ? LIMIT 1",
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
        // Sessions run at READ COMMITTED, so a locking read takes no gap lock on a hash that is
        // not stored yet; instead two named locks serialize the binds that could conflict: the
        // channel's, then the hash's (always in that order, and nothing else waits while
        // holding one, so binds queue instead of deadlocking). Each statement after the locks,
        // in autocommit, sees what the previous holder committed before it released them.
        let hash = hash.to_string();
        let device_id = id.device_channel_id().as_str();
        let mut conn = LockingConnection(Some(self.pool.acquire().await.map_err(db)?));
        for (kind, key) in [("id", device_id), ("hash", hash.as_str())] {
            let taken: Option<i64> = sqlx::query_scalar(CERT_LOCK)
                .bind(kind)
                .bind(key)
                .bind(CERT_LOCK_TIMEOUT_SECS)
                .fetch_one(conn.conn())
                .await
                .map_err(db)?;
            if taken != Some(1) {
                return Err(StorageError::backend(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("certificate binding: the {kind} lock was not granted"),
                )));
            }
        }
        let outcome =
            flows::bind_cert_hash::<sqlx::MySql>(conn.conn(), &CERT_AUTH, device_id, &hash, mode)
                .await?;
        sqlx::query(CERT_UNLOCK)
            .bind(device_id)
            .bind(hash.as_str())
            .execute(conn.conn())
            .await
            .map_err(db)?;
        conn.unlocked();
        Ok(outcome)
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

impl MigrationStore for MySqlStore {
    fn retrieve_migration_checkins(&self) -> BoxStream<'_, Result<Bytes, StorageError>> {
        flows::migration_checkins::<_, _, String>(
            &self.pool,
            "SELECT authenticate, token_update FROM devices ORDER BY created_at, id",
            "SELECT token_update FROM users WHERE token_update IS NOT NULL \
             ORDER BY created_at, id",
        )
    }
}
