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

use std::str::FromStr as _;

use mdm_storage::{CertBindMode, CertBinding, StorageError};
use sqlx::Executor as _;
use sqlx::mysql::MySqlConnectOptions;

use crate::common::{self, db};
use crate::dialect::Arg::{Id, Result as Res, Status as St, Uuid};
use crate::dialect::{
    CertAuthSql, Connections, Dialect, ImportBatchSql, Placeholder, ReportAndNext, Step,
};
use crate::flows::{self, Sql};
use crate::pool::OnAbandon;

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
    (
        3,
        "rootstock retention",
        include_str!("../migrations/mysql/0003_rootstock_retention.sql"),
    ),
];

/// How to open a [`MySqlStore`].
pub type MySqlOptions = crate::ServerOptions<ConnectOptions>;

impl MySqlOptions {
    /// Defaults for a `mysql://` URL.
    pub fn from_url(url: &str) -> Result<Self, OpenError> {
        let connect =
            MySqlConnectOptions::from_str(url).map_err(|e| OpenError::Connect(Box::new(e)))?;
        Ok(Self::new(connect))
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
    conns: Connections<sqlx::MySql>,
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
            });
        let conns = common::open_pool(pool, options.connect.clone(), &options.storage, MIGRATIONS)
            .await
            .map_err(|e| e.into_open_error(OpenError::Connect, OpenError::Migrate))?;
        Ok(Self { conns })
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.conns.close().await;
    }

    /// The connection pool, e.g. for a caller's own queries on the same database. The store
    /// keeps connections out of it between its calls (sqlx tests every connection given back
    /// to its pool with a round trip; kept, they skip it); calling this gives them back, and
    /// with `max_open_conns` above 1 the store never keeps them all.
    pub fn pool(&self) -> &sqlx::MySqlPool {
        self.conns.writer.shared_pool()
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

/// Marks the enrollment seen (binds: id).
const TOUCH_LAST_SEEN: &str =
    "UPDATE enrollments SET last_seen_at = CURRENT_TIMESTAMP WHERE id = ?";

/// The columns of an enrollment as `InspectionStore` returns it (see
/// `Dialect::LIST_ENROLLMENTS`): the device's serial number through `enrollments.device_id` (a
/// user channel's is its device's), times as epoch seconds (`UNIX_TIMESTAMP` of a `TIMESTAMP`
/// column is its stored UTC instant, whatever the session's time zone).
macro_rules! enrollment_columns {
    () => {
        "SELECT e.id, e.type, e.device_id, e.enabled, d.serial_number, \
             CAST(UNIX_TIMESTAMP(e.last_seen_at) AS SIGNED), \
             CAST(UNIX_TIMESTAMP(e.created_at) AS SIGNED), \
             CAST(UNIX_TIMESTAMP(e.updated_at) AS SIGNED) \
         FROM enrollments AS e LEFT JOIN devices AS d ON d.id = e.device_id "
    };
}

/// Delete mode: removes a command once nothing refers to it (binds: its uuid, three times).
const DELETE_ORPHANED_COMMAND: &str = "\
DELETE FROM commands WHERE command_uuid = ? \
AND NOT EXISTS (SELECT 1 FROM enrollment_queue WHERE command_uuid = ?) \
AND NOT EXISTS (SELECT 1 FROM command_results WHERE command_uuid = ?)";

impl Dialect for MySqlStore {
    type DB = sqlx::MySql;
    type Raw = String;
    type Int = i32;
    type Priority = i8;

    fn connections(&self) -> &Connections<sqlx::MySql> {
        &self.conns
    }

    const PLACEHOLDER: Placeholder = Placeholder::Question;
    const BEGIN_WRITE: &'static str = "BEGIN";
    const ONE_STEP_IS_ATOMIC: bool = true;

    const AUTHENTICATE: &'static str = "\
        INSERT INTO devices (id, identity_cert, serial_number, authenticate, authenticate_at) \
        VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP) \
        ON DUPLICATE KEY UPDATE \
            identity_cert = VALUES(identity_cert), \
            serial_number = VALUES(serial_number), \
            authenticate = VALUES(authenticate), \
            authenticate_at = VALUES(authenticate_at), \
            bootstrap_token_b64 = NULL, \
            bootstrap_token_at = NULL";
    const RESET_TALLY: &'static str = "\
        UPDATE enrollments SET token_update_tally = 0 \
        WHERE device_id = ? AND token_update_tally != 0";
    const TOKEN_UPDATE_DEVICE: &'static str = "\
        UPDATE devices SET \
            token_update = ?, \
            token_update_at = CURRENT_TIMESTAMP, \
            unlock_token = COALESCE(?, unlock_token), \
            unlock_token_at = IF(? IS NULL, unlock_token_at, CURRENT_TIMESTAMP) \
        WHERE id = ?";
    const DEVICE_EXISTS: &'static str = "SELECT 1 FROM devices WHERE id = ?";
    const TOKEN_UPDATE_USER: &'static str = "\
        INSERT INTO users \
            (id, device_id, user_short_name, user_long_name, token_update, token_update_at) \
        VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP) \
        ON DUPLICATE KEY UPDATE \
            user_short_name = VALUES(user_short_name), \
            user_long_name = VALUES(user_long_name), \
            token_update = VALUES(token_update), \
            token_update_at = VALUES(token_update_at)";
    const TOKEN_UPDATE_ENROLLMENT: &'static str = "\
        INSERT INTO enrollments \
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
            token_update_tally = token_update_tally + 1";
    const USER_AUTHENTICATE: &'static str = "\
        INSERT INTO users \
            (id, device_id, user_short_name, user_long_name, user_authenticate, \
             user_authenticate_at) \
        VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP) \
        ON DUPLICATE KEY UPDATE \
            user_short_name = VALUES(user_short_name), \
            user_long_name = VALUES(user_long_name), \
            user_authenticate = VALUES(user_authenticate), \
            user_authenticate_at = VALUES(user_authenticate_at)";
    const USER_AUTHENTICATE_DIGEST: &'static str = "\
        INSERT INTO users \
            (id, device_id, user_short_name, user_long_name, user_authenticate_digest, \
             user_authenticate_digest_at) \
        VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP) \
        ON DUPLICATE KEY UPDATE \
            user_short_name = VALUES(user_short_name), \
            user_long_name = VALUES(user_long_name), \
            user_authenticate_digest = VALUES(user_authenticate_digest), \
            user_authenticate_digest_at = VALUES(user_authenticate_digest_at)";
    const TOUCH_LAST_SEEN: &'static str = TOUCH_LAST_SEEN;
    const DISABLE_DEVICE: &'static str = "\
        UPDATE enrollments SET enabled = 0, token_update_tally = 0, \
            last_seen_at = CURRENT_TIMESTAMP \
        WHERE device_id = ? AND enabled = 1";
    const DISABLE_USER: &'static str = "\
        UPDATE enrollments SET enabled = 0, token_update_tally = 0, \
            last_seen_at = CURRENT_TIMESTAMP \
        WHERE id = ? AND enabled = 1";
    const TALLY: &'static str = "SELECT token_update_tally FROM enrollments WHERE id = ?";
    const STORE_BOOTSTRAP_TOKEN: &'static str = "\
        UPDATE devices SET bootstrap_token_b64 = ?, bootstrap_token_at = CURRENT_TIMESTAMP \
        WHERE id = ?";
    const BOOTSTRAP_TOKEN: &'static str = "SELECT bootstrap_token_b64 FROM devices WHERE id = ?";

    const INSERT_COMMAND: &'static str = "\
        INSERT INTO commands (command_uuid, request_type, command, command_bytes) \
        VALUES (?, ?, ?, ?)";
    // No INSERT … RETURNING on MySQL 8, no data-modifying CTE, no batches of prepared
    // statements: a transaction.
    const ENQUEUE_ONE_STEP: Option<&'static str> = None;
    // MySQL 8 has no INSERT … RETURNING: when some ids were unknown, the queue says which got
    // the command (in the same transaction, whose uncommitted command no one else can queue).
    const QUEUED_IDS: Option<&'static str> =
        Some("SELECT id FROM enrollment_queue WHERE command_uuid = ? AND id IN ({ids})");
    const QUEUE_COMMAND: &'static str = "\
        INSERT INTO enrollment_queue (id, command_uuid, priority) \
        SELECT id, ?, ? FROM enrollments WHERE id IN ({ids})";
    const NEXT_COMMAND: &'static str = NEXT_COMMAND;
    // No statement does both (no data-modifying CTEs, no batches of prepared statements): the
    // report's transaction, then the next command.
    const REPORT_AND_NEXT: Option<ReportAndNext> = None;
    // Stored only while the command waits in this enrollment's queue: the INSERT then changes a
    // row (not_now_tally always grows), otherwise none.
    const STORE_NOT_NOW: &'static [Step] = &[
        Step::run(TOUCH_LAST_SEEN, &[Id]),
        Step::guard(
            "INSERT INTO command_results \
                 (id, command_uuid, status, result, not_now_at, not_now_tally) \
             SELECT ?, ?, ?, ?, CURRENT_TIMESTAMP, 1 FROM DUAL \
             WHERE EXISTS (SELECT 1 FROM enrollment_queue \
                           WHERE id = ? AND command_uuid = ? AND active = 1) \
             ON DUPLICATE KEY UPDATE \
                 status = VALUES(status), \
                 result = VALUES(result), \
                 not_now_tally = not_now_tally + 1",
            &[Id, Uuid, St, Res, Id, Uuid],
        ),
    ];
    // active 1 → 0 always changes the row, so the UPDATE says whether the command was queued.
    const STORE_FINAL: &'static [Step] = &[
        Step::run(TOUCH_LAST_SEEN, &[Id]),
        Step::guard(
            "UPDATE enrollment_queue SET active = 0 \
             WHERE id = ? AND command_uuid = ? AND active = 1",
            &[Id, Uuid],
        ),
        Step::run(
            "INSERT INTO command_results \
                 (id, command_uuid, status, result, not_now_at, not_now_tally) \
             VALUES (?, ?, ?, ?, NULL, 0) \
             ON DUPLICATE KEY UPDATE status = VALUES(status), result = VALUES(result)",
            &[Id, Uuid, St, Res],
        ),
    ];
    // As NanoMDM's MySQL backend: lock the command first, so concurrent final reports run one
    // after another and exactly one sees it orphaned.
    const DELETE_FINAL: &'static [Step] = &[
        Step::run(TOUCH_LAST_SEEN, &[Id]),
        Step::run(
            "SELECT 1 FROM commands WHERE command_uuid = ? FOR UPDATE",
            &[Uuid],
        ),
        Step::guard(
            "DELETE FROM enrollment_queue WHERE id = ? AND command_uuid = ? AND active = 1",
            &[Id, Uuid],
        ),
        Step::run(
            "DELETE FROM command_results WHERE id = ? AND command_uuid = ?",
            &[Id, Uuid],
        ),
        Step::run(DELETE_ORPHANED_COMMAND, &[Uuid, Uuid, Uuid]),
    ];
    const QUEUED_FOR_DEVICE: &'static str = "\
        SELECT id, command_uuid FROM enrollment_queue \
        WHERE active = 1 AND id IN (SELECT id FROM enrollments WHERE device_id = ?) \
        FOR UPDATE";
    const QUEUED_FOR_USER: &'static str =
        "SELECT id, command_uuid FROM enrollment_queue WHERE active = 1 AND id = ? FOR UPDATE";
    const CLEAR_DEVICE_QUEUE: &'static str = "\
        UPDATE enrollment_queue SET active = 0 \
        WHERE active = 1 AND id IN (SELECT id FROM enrollments WHERE device_id = ?)";
    const CLEAR_USER_QUEUE: &'static str =
        "UPDATE enrollment_queue SET active = 0 WHERE active = 1 AND id = ?";
    const DELETE_QUEUED: &'static [Step] = &[
        Step::run(
            "DELETE FROM command_results WHERE id = ? AND command_uuid = ?",
            &[Id, Uuid],
        ),
        Step::run(
            "DELETE FROM enrollment_queue WHERE id = ? AND command_uuid = ?",
            &[Id, Uuid],
        ),
        Step::run(DELETE_ORPHANED_COMMAND, &[Uuid, Uuid, Uuid]),
    ];
    const PUSH_INFO: &'static str = "\
        SELECT id, topic, push_magic, token_hex FROM enrollments \
        WHERE enabled = 1 AND id IN ({ids})";
    const PUSH_CERT_STALE_TOKEN: &'static str =
        "SELECT stale_token FROM push_certs WHERE topic = ?";
    const PUSH_CERT: &'static str =
        "SELECT cert_pem, key_pem, stale_token FROM push_certs WHERE topic = ?";
    const STORE_PUSH_CERT: &'static str = "\
        INSERT INTO push_certs (topic, cert_pem, key_pem, stale_token) \
        VALUES (?, ?, ?, 0) \
        ON DUPLICATE KEY UPDATE \
            cert_pem = VALUES(cert_pem), \
            key_pem = VALUES(key_pem), \
            stale_token = stale_token + 1";
    const CERT_AUTH: CertAuthSql = CertAuthSql {
        has_hash: "SELECT 1 FROM cert_auth_associations WHERE sha256 = ? LIMIT 1",
        associated: "SELECT 1 FROM cert_auth_associations WHERE id = ? AND sha256 = ?",
        enrollment_bound: "SELECT 1 FROM cert_auth_associations WHERE id = ? LIMIT 1",
        bound_to: "SELECT id FROM cert_auth_associations WHERE sha256 = ? LIMIT 1",
        // As NanoMDM: an existing association is left as it is.
        associate: "INSERT INTO cert_auth_associations (id, sha256) VALUES (?, ?) \
                    ON DUPLICATE KEY UPDATE sha256 = sha256",
    };
    const MIGRATION_DEVICES: &'static str =
        "SELECT authenticate, token_update FROM devices ORDER BY created_at, id";
    const MIGRATION_USERS: &'static str = "\
        SELECT token_update FROM users WHERE token_update IS NOT NULL ORDER BY created_at, id";

    const IMPORT_ENROLLMENT_EXISTS: &'static str = "SELECT 1 FROM enrollments WHERE id = ?";
    const IMPORT_HELD_COMMAND: &'static str =
        "SELECT command, command_bytes FROM commands WHERE command_uuid = ?";
    // FROM_UNIXTIME gives the session's time zone, as CURRENT_TIMESTAMP does for this column;
    // updated_at is the column's ON UPDATE CURRENT_TIMESTAMP.
    const IMPORT_STATE: &'static str = "\
        UPDATE enrollments SET token_update_tally = ?, enabled = ?, \
            last_seen_at = COALESCE(FROM_UNIXTIME(? DIV 1000000), last_seen_at) \
        WHERE id = ?";
    // As the import first shipped on MySQL; the update's count alone would do too, since sqlx
    // asks for found rows (see `RowsAffected`).
    const IMPORT_STATE_LOOKS_UP_FIRST: bool = true;
    const IMPORT_UNLOCK_TOKEN: &'static str = "\
        UPDATE devices SET unlock_token = ?, \
            unlock_token_at = COALESCE(unlock_token_at, CURRENT_TIMESTAMP) \
        WHERE id = ?";
    // sqlx asks MySQL for found rows, so an upsert that changes nothing still counts 1: look
    // first (the transaction holds the enrollment's rows).
    const IMPORT_QUEUED: Option<&'static str> =
        Some("SELECT 1 FROM enrollment_queue WHERE id = ? AND command_uuid = ? FOR UPDATE");
    // seq (AUTO_INCREMENT) keeps their order within one created_at second.
    const IMPORT_QUEUE: &'static str =
        "INSERT INTO enrollment_queue (id, command_uuid, priority) VALUES (?, ?, 0)";
    const IMPORT_NOT_NOW: &'static str = "\
        INSERT INTO command_results (id, command_uuid, status, result, not_now_at, not_now_tally) \
        VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP, 1) \
        ON DUPLICATE KEY UPDATE command_uuid = command_uuid";
    const IMPORT_RESULT: &'static str = "\
        INSERT INTO command_results (id, command_uuid, status, result) \
        VALUES (?, ?, ?, ?) \
        ON DUPLICATE KEY UPDATE status = VALUES(status), result = VALUES(result)";
    // seq (AUTO_INCREMENT) keeps the rows' order within one created_at second.
    const IMPORT_BATCH: ImportBatchSql = ImportBatchSql {
        known: "SELECT id FROM enrollments WHERE id IN ({ids})",
        held: "SELECT command_uuid, command, command_bytes FROM commands \
            WHERE command_uuid IN ({ids})",
        queued: "SELECT id, command_uuid FROM enrollment_queue WHERE id IN ({ids}) FOR UPDATE",
        insert_commands: "INSERT INTO commands (command_uuid, request_type, command, command_bytes) \
            VALUES {rows}",
        command_row: "(?, ?, ?, ?)",
        queue: "INSERT INTO enrollment_queue (id, command_uuid, priority) VALUES {rows} \
            ON DUPLICATE KEY UPDATE command_uuid = command_uuid",
        queue_row: "(?, ?, 0)",
        not_now: "INSERT INTO command_results \
            (id, command_uuid, status, result, not_now_at, not_now_tally) VALUES {rows} \
            ON DUPLICATE KEY UPDATE command_uuid = command_uuid",
        not_now_row: "(?, ?, ?, ?, CURRENT_TIMESTAMP, 1)",
        results: "INSERT INTO command_results (id, command_uuid, status, result) VALUES {rows} \
            ON DUPLICATE KEY UPDATE status = VALUES(status), result = VALUES(result)",
        result_row: "(?, ?, ?, ?)",
    };

    // MySQL's `?` binds once per use, so each optional filter is written with its value once:
    // `col = COALESCE(?, col)` holds for every row when the value is NULL (the columns are NOT
    // NULL), and `<=>` (NULL-safe equality) does the same for the nullable serial number.
    //
    // Keyset order: `e.id > ?` and `ORDER BY e.id` both compare in the column's collation
    // (NanoMDM's tables take the database default, e.g. utf8mb4_0900_ai_ci or
    // utf8mb4_general_ci: case- and accent-insensitive), which is also the order of the primary
    // key the page reads through. Ids equal in that collation cannot both exist (the primary key
    // is unique in it), so no two rows tie and a page boundary is exact; the order is the
    // collation's, not byte order.
    const LIST_ENROLLMENTS: &'static str = concat!(
        enrollment_columns!(),
        "WHERE e.id > ? \
             AND e.type = COALESCE(?, e.type) \
             AND e.enabled = COALESCE(?, e.enabled) \
             AND d.serial_number <=> COALESCE(?, d.serial_number) \
             AND e.device_id = COALESCE(?, e.device_id) \
         ORDER BY e.id \
         LIMIT ?"
    );
    const ENROLLMENT: &'static str = concat!(enrollment_columns!(), "WHERE e.id = ?");
    // As NEXT_COMMAND: the queue index in delivery order, primary-key joins.
    const QUEUED_COMMANDS: &'static str = "\
        SELECT q.command_uuid, c.request_type, r.status, \
            CAST(UNIX_TIMESTAMP(q.created_at) AS SIGNED) \
        FROM enrollment_queue AS q \
            INNER JOIN commands AS c ON c.command_uuid = q.command_uuid \
            LEFT JOIN command_results AS r \
                ON r.id = q.id AND r.command_uuid = q.command_uuid \
        WHERE q.id = ? AND q.active = 1 AND (r.status IS NULL OR r.status = ?) \
        ORDER BY q.priority DESC, q.created_at, q.seq \
        LIMIT ?";
    const REMOVE_QUEUED: &'static str = "\
        UPDATE enrollment_queue AS q SET q.active = 0 \
        WHERE q.id = ? AND q.command_uuid = ? AND q.active = 1 \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != ?)";
    const CLEAR_ENROLLMENT_QUEUE: &'static str = "\
        UPDATE enrollment_queue AS q SET q.active = 0 \
        WHERE q.id = ? AND q.active = 1 \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != ?)";
    // Locked, as QUEUED_FOR_USER.
    const WAITING_ENTRY: &'static str = "\
        SELECT q.command_uuid FROM enrollment_queue AS q \
        WHERE q.id = ? AND q.command_uuid = ? AND q.active = 1 \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != ?) \
        FOR UPDATE";
    const WAITING_ENTRIES: &'static str = "\
        SELECT q.command_uuid FROM enrollment_queue AS q \
        WHERE q.id = ? AND q.active = 1 \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != ?) \
        FOR UPDATE";
    // Every enrollment with a queue row or a result (a result without a queue row is an
    // imported one), each joined to both by primary key. The uuid is bound once per `?`.
    const COMMAND: &'static str = "\
        SELECT c.request_type, CAST(UNIX_TIMESTAMP(c.created_at) AS SIGNED), \
            x.id, q.active, r.status, \
            CAST(UNIX_TIMESTAMP(COALESCE(r.updated_at, q.created_at)) AS SIGNED), r.result \
        FROM commands AS c \
            LEFT JOIN (SELECT id FROM enrollment_queue WHERE command_uuid = ? \
                       UNION \
                       SELECT id FROM command_results WHERE command_uuid = ?) AS x ON 1 = 1 \
            LEFT JOIN enrollment_queue AS q ON q.id = x.id AND q.command_uuid = c.command_uuid \
            LEFT JOIN command_results AS r ON r.id = x.id AND r.command_uuid = c.command_uuid \
        WHERE c.command_uuid = ? \
        ORDER BY x.id";
    const COMMAND_UUID_BINDS: usize = 3;
    // FROM_UNIXTIME gives the cut-off in the session's time zone, the one the TIMESTAMP column
    // is compared in. A consistent (snapshot) read, not a locking one: InnoDB's locking read
    // would wait for an enqueue in flight and then see its new `commands` row while the
    // subquery's snapshot still missed its queue rows, taking a command that was just queued
    // for one that waits nowhere. The snapshot sees a command whole or not at all. (A queue
    // row an import adds to an old, answered command between this read and the deletes goes
    // with it.)
    const RETENTION_DUE: &'static str = "\
        SELECT c.command_uuid FROM commands AS c \
        WHERE c.created_at < FROM_UNIXTIME(?) \
            AND NOT EXISTS ( \
                SELECT 1 FROM enrollment_queue AS q \
                WHERE q.command_uuid = c.command_uuid AND q.active = 1 \
                    AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                                    WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                        AND r.status != ?)) \
        ORDER BY c.created_at \
        LIMIT ?";
    // Children first, in lock order; the foreign keys' ON DELETE CASCADE finds nothing left.
    const RETENTION_DELETE: &'static [&'static str] = &[
        "DELETE FROM enrollment_queue WHERE command_uuid IN ({ids})",
        "DELETE FROM command_results WHERE command_uuid IN ({ids})",
        "DELETE FROM commands WHERE command_uuid IN ({ids})",
    ];

    async fn bind_cert_hash_serialized(
        &self,
        device_id: &str,
        hash: &str,
        mode: CertBindMode,
    ) -> Result<CertBinding, StorageError> {
        // Sessions run at READ COMMITTED, so a locking read takes no gap lock on a hash that is
        // not stored yet; instead two named locks serialize the binds that could conflict: the
        // channel's, then the hash's (always in that order, and nothing else waits while
        // holding one, so binds queue instead of deadlocking). Each statement after the locks,
        // in autocommit, sees what the previous holder committed before it released them.
        // Guarded: closed, and its locks released with the session, unless it gets to the end.
        let mut conn = self.conns.writer.acquire(OnAbandon::Close).await?;
        for (kind, key) in [("id", device_id), ("hash", hash)] {
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
        let outcome = Sql::<Self>::bind_cert_hash(conn.conn(), device_id, hash, mode).await?;
        sqlx::query(CERT_UNLOCK)
            .bind(device_id)
            .bind(hash)
            .execute(conn.conn())
            .await
            .map_err(db)?;
        conn.release();
        Ok(outcome)
    }
}

flows::storage_traits!(MySqlStore);

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
