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
//!
//! A report with a CommandUUID and an enqueue (up to 500 ids) are each one batch that carries
//! its own `BEGIN IMMEDIATE` … `COMMIT`: one message to the writer's thread per store call. A
//! batch that fails or is abandoned midway closes its connection instead of returning it to the
//! pool with the transaction open (the pool opens a fresh one).

use std::path::PathBuf;
use std::time::Duration;

use mdm_storage::{CertBindMode, CertBinding, StorageError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::common::{self, db};
use crate::dialect::Arg::{Id, Result as Res, Status as St, Uuid};
use crate::dialect::{
    CertAuthSql, Connections, Dialect, ImportBatchSql, Placeholder, ReportAndNext, Step,
};
use crate::flows::{self, Sql};
use crate::options::{self, OptionsError};
use crate::pool::WarmPool;

/// The schema, as versioned migrations run on open (tracked in `_sqlx_migrations`).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "nanomdm tables",
        include_str!("../migrations/sqlite/0001_nanomdm_tables.sql"),
    ),
    (
        2,
        "rootstock retention",
        include_str!("../migrations/sqlite/0002_rootstock_retention.sql"),
    ),
];

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
    conns: Connections<sqlx::Sqlite>,
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
            conns: Connections {
                writer: WarmPool::new(writer),
                reader: WarmPool::new(reader),
                delete_commands: options.delete_commands,
            },
        })
    }

    /// Closes every connection, waiting for those in use to be returned. Dropping the store
    /// closes them too; this lets a caller wait until the files are released.
    pub async fn close(&self) {
        self.conns.close().await;
    }
}

/// [`NEXT_COMMAND`] with its condition on the result's status (`?2`, `?3` there) written in.
macro_rules! next_command {
    ($status:literal) => {
        concat!(
            "SELECT c.command_uuid, c.request_type, c.command, NULL \
             FROM enrollment_queue AS q \
                 INNER JOIN commands AS c ON c.command_uuid = q.command_uuid \
                 LEFT JOIN command_results AS r \
                     ON r.id = q.id AND r.command_uuid = q.command_uuid \
             WHERE q.id = ?1 AND q.active = 1 AND ",
            $status,
            " ORDER BY q.priority DESC, q.seq LIMIT 1"
        )
    };
}

/// The next command for `?1`: walks the partial index `enrollment_queue_next` (active = 1) in
/// delivery order; the joins are primary-key lookups. Answered and cleared rows are not in the
/// index, so the cost does not grow with an enrollment's history. `?2` is `NotNow`, `?3` whether
/// to pass over commands put off with it. The bytes are stored as enqueued, so no column keeps
/// them apart (the fourth is NULL).
const NEXT_COMMAND: &str = next_command!("(r.status IS NULL OR (r.status = ?2 AND NOT ?3))");

/// Marks `?1` seen: last-seen and updated times. Not written again within the second they hold
/// already (the columns keep whole seconds), so that a device's requests in one second write
/// the enrollment once.
macro_rules! touch_last_seen {
    () => {
        "UPDATE enrollments SET last_seen_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP \
         WHERE id = ?1 AND last_seen_at IS NOT CURRENT_TIMESTAMP;"
    };
}

/// [`touch_last_seen!`] as a statement.
const TOUCH_LAST_SEEN: &str = touch_last_seen!();

/// After a report's statements, in its transaction: whether the last of them changed a row (the
/// result was stored), and the next command — seen after the report, as the report's own
/// transaction sees it — or NULLs.
macro_rules! then_next_command {
    ($status:literal) => {
        concat!(
            " SELECT changes() > 0, n.* FROM (SELECT 1) LEFT JOIN (",
            next_command!($status),
            ") AS n ON 1;"
        )
    };
}

/// A NotNow report's statements, in a write transaction the caller commits: last-seen, and the
/// result, stored only while the command waits in the enrollment's queue. The first NotNow's
/// time stays in not_now_at; later ones count in not_now_tally (NanoMDM).
macro_rules! store_not_now {
    () => {
        concat!(
            "BEGIN IMMEDIATE; ",
            touch_last_seen!(),
            " \
         INSERT INTO command_results \
             (id, command_uuid, status, result, not_now_at, not_now_tally) \
         SELECT ?1, ?2, ?3, ?4, CURRENT_TIMESTAMP, 1 \
         WHERE EXISTS (SELECT 1 FROM enrollment_queue \
                       WHERE id = ?1 AND command_uuid = ?2 AND active = 1) \
         ON CONFLICT (id, command_uuid) DO UPDATE SET \
             status = excluded.status, \
             result = excluded.result, \
             not_now_tally = not_now_tally + 1, \
             updated_at = CURRENT_TIMESTAMP;"
        )
    };
}

/// A final report's statements, in a write transaction the caller commits: the command leaves
/// the queue (`active = 0`, out of the next-command index) and only if it was queued —
/// `changes()` of that UPDATE, read while the INSERT runs — the result is written.
macro_rules! store_final {
    () => {
        concat!(
            "BEGIN IMMEDIATE; ",
            touch_last_seen!(),
            " \
         UPDATE enrollment_queue SET active = 0, updated_at = CURRENT_TIMESTAMP \
         WHERE id = ?1 AND command_uuid = ?2 AND active = 1; \
         INSERT INTO command_results \
             (id, command_uuid, status, result, not_now_at, not_now_tally) \
         SELECT ?1, ?2, ?3, ?4, NULL, 0 \
         WHERE changes() > 0 \
         ON CONFLICT (id, command_uuid) DO UPDATE SET \
             status = excluded.status, \
             result = excluded.result, \
             updated_at = CURRENT_TIMESTAMP;"
        )
    };
}

/// Delete mode: removes command `?2` once nothing refers to it.
const DELETE_ORPHANED_COMMAND: &str = "\
DELETE FROM commands WHERE command_uuid = ?2 \
AND NOT EXISTS (SELECT 1 FROM enrollment_queue WHERE command_uuid = ?2) \
AND NOT EXISTS (SELECT 1 FROM command_results WHERE command_uuid = ?2)";

/// The columns of an enrollment as `InspectionStore` returns it (see
/// `Dialect::LIST_ENROLLMENTS`): the device's serial number through `enrollments.device_id` (a
/// user channel's is its device's), times as epoch seconds from the UTC text.
macro_rules! enrollment_columns {
    () => {
        "SELECT e.id, e.type, e.device_id, e.enabled, d.serial_number, \
             unixepoch(e.last_seen_at), unixepoch(e.created_at), unixepoch(e.updated_at) \
         FROM enrollments AS e LEFT JOIN devices AS d ON d.id = e.device_id "
    };
}

/// Every statement of a report binds these, numbered as `?1` … `?4`.
const REPORT_ARGS: &[crate::dialect::Arg] = &[Id, Uuid, St, Res];

impl Dialect for SqliteStore {
    type DB = sqlx::Sqlite;
    type Raw = Vec<u8>;
    type Int = i64;
    type Priority = i64;

    fn connections(&self) -> &Connections<sqlx::Sqlite> {
        &self.conns
    }

    const PLACEHOLDER: Placeholder = Placeholder::NumberedQuestion;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const ONE_STEP_IS_ATOMIC: bool = true;

    const AUTHENTICATE: &'static str = "\
        INSERT INTO devices (id, identity_cert, serial_number, authenticate, authenticate_at) \
        VALUES (?1, ?2, ?3, ?4, CURRENT_TIMESTAMP) \
        ON CONFLICT (id) DO UPDATE SET \
            identity_cert = excluded.identity_cert, \
            serial_number = excluded.serial_number, \
            authenticate = excluded.authenticate, \
            authenticate_at = excluded.authenticate_at, \
            bootstrap_token_b64 = NULL, \
            bootstrap_token_at = NULL, \
            updated_at = CURRENT_TIMESTAMP";
    const RESET_TALLY: &'static str = "\
        UPDATE enrollments SET token_update_tally = 0, updated_at = CURRENT_TIMESTAMP \
        WHERE device_id = ?1 AND token_update_tally != 0";
    const TOKEN_UPDATE_DEVICE: &'static str = "\
        UPDATE devices SET \
            token_update = ?1, \
            token_update_at = CURRENT_TIMESTAMP, \
            unlock_token = COALESCE(?2, unlock_token), \
            unlock_token_at = CASE WHEN ?3 IS NULL THEN unlock_token_at \
                              ELSE CURRENT_TIMESTAMP END, \
            updated_at = CURRENT_TIMESTAMP \
        WHERE id = ?4";
    const DEVICE_EXISTS: &'static str = "SELECT 1 FROM devices WHERE id = ?1";
    const TOKEN_UPDATE_USER: &'static str = "\
        INSERT INTO users \
            (id, device_id, user_short_name, user_long_name, token_update, token_update_at) \
        VALUES (?1, ?2, ?3, ?4, ?5, CURRENT_TIMESTAMP) \
        ON CONFLICT (id, device_id) DO UPDATE SET \
            user_short_name = excluded.user_short_name, \
            user_long_name = excluded.user_long_name, \
            token_update = excluded.token_update, \
            token_update_at = excluded.token_update_at, \
            updated_at = CURRENT_TIMESTAMP";
    const TOKEN_UPDATE_ENROLLMENT: &'static str = "\
        INSERT INTO enrollments \
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
            updated_at = CURRENT_TIMESTAMP";
    const USER_AUTHENTICATE: &'static str = "\
        INSERT INTO users \
            (id, device_id, user_short_name, user_long_name, user_authenticate, \
             user_authenticate_at) \
        VALUES (?1, ?2, ?3, ?4, ?5, CURRENT_TIMESTAMP) \
        ON CONFLICT (id, device_id) DO UPDATE SET \
            user_short_name = excluded.user_short_name, \
            user_long_name = excluded.user_long_name, \
            user_authenticate = excluded.user_authenticate, \
            user_authenticate_at = excluded.user_authenticate_at, \
            updated_at = CURRENT_TIMESTAMP";
    const USER_AUTHENTICATE_DIGEST: &'static str = "\
        INSERT INTO users \
            (id, device_id, user_short_name, user_long_name, user_authenticate_digest, \
             user_authenticate_digest_at) \
        VALUES (?1, ?2, ?3, ?4, ?5, CURRENT_TIMESTAMP) \
        ON CONFLICT (id, device_id) DO UPDATE SET \
            user_short_name = excluded.user_short_name, \
            user_long_name = excluded.user_long_name, \
            user_authenticate_digest = excluded.user_authenticate_digest, \
            user_authenticate_digest_at = excluded.user_authenticate_digest_at, \
            updated_at = CURRENT_TIMESTAMP";
    const TOUCH_LAST_SEEN: &'static str = TOUCH_LAST_SEEN;
    const DISABLE_DEVICE: &'static str = "\
        UPDATE enrollments SET enabled = 0, token_update_tally = 0, \
            last_seen_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP \
        WHERE device_id = ?1 AND enabled = 1";
    const DISABLE_USER: &'static str = "\
        UPDATE enrollments SET enabled = 0, token_update_tally = 0, \
            last_seen_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP \
        WHERE id = ?1 AND enabled = 1";
    const TALLY: &'static str = "SELECT token_update_tally FROM enrollments WHERE id = ?1";
    const STORE_BOOTSTRAP_TOKEN: &'static str = "\
        UPDATE devices SET bootstrap_token_b64 = ?1, bootstrap_token_at = CURRENT_TIMESTAMP, \
            updated_at = CURRENT_TIMESTAMP \
        WHERE id = ?2";
    const BOOTSTRAP_TOKEN: &'static str = "SELECT bootstrap_token_b64 FROM devices WHERE id = ?1";

    // `?4`, the exact bytes kept apart, is never set here: the BLOB holds the bytes themselves.
    const INSERT_COMMAND: &'static str =
        "INSERT INTO commands (command_uuid, request_type, command) VALUES (?1, ?2, ?3)";
    // One batch with its own write transaction (one hand-off). The command is inserted when an
    // id is known — or when its UUID is stored already, so that the insert fails as a duplicate
    // just as it would alone. `?4`, the exact bytes kept apart, is never set here.
    const ENQUEUE_ONE_STEP: Option<&'static str> = Some(
        "BEGIN IMMEDIATE; \
         INSERT INTO commands (command_uuid, request_type, command) \
         SELECT ?1, ?2, ?3 \
         WHERE EXISTS (SELECT 1 FROM enrollments WHERE id IN ({ids})) \
            OR EXISTS (SELECT 1 FROM commands WHERE command_uuid = ?1); \
         INSERT INTO enrollment_queue (id, command_uuid, priority) \
         SELECT id, ?1, ?5 FROM enrollments \
         WHERE id IN ({ids}) \
         RETURNING id; \
         COMMIT;",
    );
    const QUEUED_IDS: Option<&'static str> = None;
    const QUEUE_COMMAND: &'static str = "\
        INSERT INTO enrollment_queue (id, command_uuid, priority) \
        SELECT id, ?1, ?2 FROM enrollments WHERE id IN ({ids}) \
        RETURNING id";
    const NEXT_COMMAND: &'static str = NEXT_COMMAND;
    // One batch with its own write transaction (one hand-off); a row comes back exactly when
    // the result was written.
    const STORE_NOT_NOW: &'static [Step] = &[Step::stored(
        concat!(store_not_now!(), " SELECT 1 WHERE changes() > 0; COMMIT;"),
        REPORT_ARGS,
    )];
    const STORE_FINAL: &'static [Step] = &[Step::stored(
        concat!(store_final!(), " SELECT 1 WHERE changes() > 0; COMMIT;"),
        REPORT_ARGS,
    )];
    // The report and the next command: one hand-off to the writer's thread. The next command
    // is read in the report's transaction, so it is the one `NEXT_COMMAND` would return after
    // it.
    const REPORT_AND_NEXT: Option<ReportAndNext> = Some(ReportAndNext {
        idle: concat!(
            touch_last_seen!(),
            then_next_command!("(r.status IS NULL OR r.status = 'NotNow')")
        ),
        not_now: concat!(
            store_not_now!(),
            then_next_command!("r.status IS NULL"),
            " COMMIT;"
        ),
        final_status: concat!(
            store_final!(),
            then_next_command!("(r.status IS NULL OR r.status = 'NotNow')"),
            " COMMIT;"
        ),
        batch: true,
    });
    const DELETE_FINAL: &'static [Step] = &[
        Step::run(TOUCH_LAST_SEEN, &[Id]),
        Step::guard(
            "DELETE FROM enrollment_queue WHERE id = ?1 AND command_uuid = ?2 AND active = 1",
            &[Id, Uuid],
        ),
        Step::run(
            "DELETE FROM command_results WHERE id = ?1 AND command_uuid = ?2",
            &[Id, Uuid],
        ),
        Step::run(DELETE_ORPHANED_COMMAND, &[Id, Uuid]),
    ];
    const QUEUED_FOR_DEVICE: &'static str = "\
        SELECT id, command_uuid FROM enrollment_queue \
        WHERE active = 1 AND id IN (SELECT id FROM enrollments WHERE device_id = ?1)";
    const QUEUED_FOR_USER: &'static str =
        "SELECT id, command_uuid FROM enrollment_queue WHERE active = 1 AND id = ?1";
    const CLEAR_DEVICE_QUEUE: &'static str = "\
        UPDATE enrollment_queue SET active = 0, updated_at = CURRENT_TIMESTAMP \
        WHERE active = 1 AND id IN (SELECT id FROM enrollments WHERE device_id = ?1)";
    const CLEAR_USER_QUEUE: &'static str = "\
        UPDATE enrollment_queue SET active = 0, updated_at = CURRENT_TIMESTAMP \
        WHERE active = 1 AND id = ?1";
    const DELETE_QUEUED: &'static [Step] = &[
        Step::run(
            "DELETE FROM command_results WHERE id = ?1 AND command_uuid = ?2",
            &[Id, Uuid],
        ),
        Step::run(
            "DELETE FROM enrollment_queue WHERE id = ?1 AND command_uuid = ?2",
            &[Id, Uuid],
        ),
        Step::run(DELETE_ORPHANED_COMMAND, &[Id, Uuid]),
    ];
    const PUSH_INFO: &'static str = "\
        SELECT id, topic, push_magic, token_hex FROM enrollments \
        WHERE enabled = 1 AND id IN ({ids})";
    const PUSH_CERT_STALE_TOKEN: &'static str =
        "SELECT stale_token FROM push_certs WHERE topic = ?1";
    const PUSH_CERT: &'static str =
        "SELECT cert_pem, key_pem, stale_token FROM push_certs WHERE topic = ?1";
    const STORE_PUSH_CERT: &'static str = "\
        INSERT INTO push_certs (topic, cert_pem, key_pem, stale_token) \
        VALUES (?1, ?2, ?3, 0) \
        ON CONFLICT (topic) DO UPDATE SET \
            cert_pem = excluded.cert_pem, \
            key_pem = excluded.key_pem, \
            stale_token = stale_token + 1, \
            updated_at = CURRENT_TIMESTAMP";
    const CERT_AUTH: CertAuthSql = CertAuthSql {
        has_hash: "SELECT 1 FROM cert_auth_associations WHERE sha256 = ?1 LIMIT 1",
        associated: "SELECT 1 FROM cert_auth_associations WHERE id = ?1 AND sha256 = ?2",
        enrollment_bound: "SELECT 1 FROM cert_auth_associations WHERE id = ?1 LIMIT 1",
        bound_to: "SELECT id FROM cert_auth_associations WHERE sha256 = ?1 LIMIT 1",
        associate: "INSERT INTO cert_auth_associations (id, sha256) VALUES (?1, ?2) \
                    ON CONFLICT (id, sha256) DO UPDATE SET updated_at = CURRENT_TIMESTAMP",
    };
    // Devices in the order they first authenticated, then user channels.
    const MIGRATION_DEVICES: &'static str =
        "SELECT authenticate, token_update FROM devices ORDER BY rowid";
    const MIGRATION_USERS: &'static str =
        "SELECT token_update FROM users WHERE token_update IS NOT NULL ORDER BY rowid";

    const IMPORT_ENROLLMENT_EXISTS: &'static str = "SELECT 1 FROM enrollments WHERE id = ?1";
    // The BLOB holds the bytes themselves: nothing is kept apart.
    const IMPORT_HELD_COMMAND: &'static str =
        "SELECT command, NULL FROM commands WHERE command_uuid = ?1";
    // Whole seconds: the column holds CURRENT_TIMESTAMP's 'YYYY-MM-DD HH:MM:SS'.
    const IMPORT_STATE: &'static str = "\
        UPDATE enrollments SET token_update_tally = ?1, enabled = ?2, \
            last_seen_at = COALESCE(datetime(?3 / 1000000, 'unixepoch'), last_seen_at), \
            updated_at = CURRENT_TIMESTAMP \
        WHERE id = ?4";
    const IMPORT_STATE_LOOKS_UP_FIRST: bool = false;
    const IMPORT_UNLOCK_TOKEN: &'static str = "\
        UPDATE devices SET unlock_token = ?1, \
            unlock_token_at = COALESCE(unlock_token_at, CURRENT_TIMESTAMP) \
        WHERE id = ?2";
    const IMPORT_QUEUED: Option<&'static str> = None;
    const IMPORT_QUEUE: &'static str = "\
        INSERT INTO enrollment_queue (id, command_uuid, priority) VALUES (?1, ?2, 0) \
        ON CONFLICT (id, command_uuid) DO NOTHING";
    const IMPORT_NOT_NOW: &'static str = "\
        INSERT INTO command_results (id, command_uuid, status, result, not_now_at, not_now_tally) \
        VALUES (?1, ?2, ?3, ?4, CURRENT_TIMESTAMP, 1) \
        ON CONFLICT (id, command_uuid) DO NOTHING";
    const IMPORT_RESULT: &'static str = "\
        INSERT INTO command_results (id, command_uuid, status, result) \
        VALUES (?1, ?2, ?3, ?4) \
        ON CONFLICT (id, command_uuid) DO UPDATE SET \
            status = excluded.status, result = excluded.result";
    const IMPORT_BATCH: ImportBatchSql = ImportBatchSql {
        known: "SELECT id FROM enrollments WHERE id IN ({ids})",
        held: "SELECT command_uuid, command, NULL FROM commands WHERE command_uuid IN ({ids})",
        queued: "SELECT id, command_uuid FROM enrollment_queue WHERE id IN ({ids})",
        // The BLOB holds the bytes themselves: nothing is kept apart.
        insert_commands: "INSERT INTO commands (command_uuid, request_type, command) VALUES {rows}",
        command_row: "(?, ?, ?)",
        queue: "INSERT INTO enrollment_queue (id, command_uuid, priority) VALUES {rows} \
            ON CONFLICT (id, command_uuid) DO NOTHING",
        queue_row: "(?, ?, 0)",
        not_now: "INSERT INTO command_results \
            (id, command_uuid, status, result, not_now_at, not_now_tally) VALUES {rows} \
            ON CONFLICT (id, command_uuid) DO NOTHING",
        not_now_row: "(?, ?, ?, ?, CURRENT_TIMESTAMP, 1)",
        results: "INSERT INTO command_results (id, command_uuid, status, result) VALUES {rows} \
            ON CONFLICT (id, command_uuid) DO UPDATE SET \
            status = excluded.status, result = excluded.result",
        result_row: "(?, ?, ?, ?)",
    };

    const LIST_ENROLLMENTS: &'static str = concat!(
        enrollment_columns!(),
        "WHERE e.id > ?1 \
             AND (?2 IS NULL OR e.type = ?2) \
             AND (?3 IS NULL OR e.enabled = ?3) \
             AND (?4 IS NULL OR d.serial_number = ?4) \
             AND (?5 IS NULL OR e.device_id = ?5) \
         ORDER BY e.id \
         LIMIT ?6"
    );
    const ENROLLMENT: &'static str = concat!(enrollment_columns!(), "WHERE e.id = ?1");
    // As NEXT_COMMAND: the queue index in delivery order, primary-key joins.
    const QUEUED_COMMANDS: &'static str = "\
        SELECT q.command_uuid, c.request_type, r.status, unixepoch(q.created_at) \
        FROM enrollment_queue AS q \
            INNER JOIN commands AS c ON c.command_uuid = q.command_uuid \
            LEFT JOIN command_results AS r \
                ON r.id = q.id AND r.command_uuid = q.command_uuid \
        WHERE q.id = ?1 AND q.active = 1 AND (r.status IS NULL OR r.status = ?2) \
        ORDER BY q.priority DESC, q.seq \
        LIMIT ?3";
    const REMOVE_QUEUED: &'static str = "\
        UPDATE enrollment_queue SET active = 0, updated_at = CURRENT_TIMESTAMP \
        WHERE id = ?1 AND command_uuid = ?2 AND active = 1 \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = enrollment_queue.id \
                                AND r.command_uuid = enrollment_queue.command_uuid \
                                AND r.status != ?3)";
    const CLEAR_ENROLLMENT_QUEUE: &'static str = "\
        UPDATE enrollment_queue SET active = 0, updated_at = CURRENT_TIMESTAMP \
        WHERE id = ?1 AND active = 1 \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = enrollment_queue.id \
                                AND r.command_uuid = enrollment_queue.command_uuid \
                                AND r.status != ?2)";
    // The write transaction (BEGIN IMMEDIATE) is the lock.
    const WAITING_ENTRY: &'static str = "\
        SELECT q.command_uuid FROM enrollment_queue AS q \
        WHERE q.id = ?1 AND q.command_uuid = ?2 AND q.active = 1 \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != ?3)";
    const WAITING_ENTRIES: &'static str = "\
        SELECT q.command_uuid FROM enrollment_queue AS q \
        WHERE q.id = ?1 AND q.active = 1 \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != ?2)";
    // Every enrollment with a queue row or a result (a result without a queue row is an
    // imported one), each joined to both by primary key.
    const COMMAND: &'static str = "\
        SELECT c.request_type, unixepoch(c.created_at), x.id, q.active, r.status, \
            unixepoch(COALESCE(r.updated_at, q.created_at)), r.result \
        FROM commands AS c \
            LEFT JOIN (SELECT id FROM enrollment_queue WHERE command_uuid = ?1 \
                       UNION \
                       SELECT id FROM command_results WHERE command_uuid = ?1) AS x ON 1 = 1 \
            LEFT JOIN enrollment_queue AS q ON q.id = x.id AND q.command_uuid = c.command_uuid \
            LEFT JOIN command_results AS r ON r.id = x.id AND r.command_uuid = c.command_uuid \
        WHERE c.command_uuid = ?1 \
        ORDER BY x.id";
    const COMMAND_UUID_BINDS: usize = 1;
    // `created_at` holds CURRENT_TIMESTAMP's UTC 'YYYY-MM-DD HH:MM:SS', which compares as text
    // with the cut-off rendered the same way (so the index on it applies).
    const RETENTION_DUE: &'static str = "\
        SELECT c.command_uuid FROM commands AS c \
        WHERE c.created_at < datetime(?1, 'unixepoch') \
            AND NOT EXISTS ( \
                SELECT 1 FROM enrollment_queue AS q \
                WHERE q.command_uuid = c.command_uuid AND q.active = 1 \
                    AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                                    WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                        AND r.status != ?2)) \
        ORDER BY c.created_at \
        LIMIT ?3";
    // One batch, the numbered parameters shared; children first, so no foreign-key action
    // has anything left to do (foreign_keys is on, but nothing relies on it).
    const RETENTION_DELETE: &'static [&'static str] = &["\
        DELETE FROM enrollment_queue WHERE command_uuid IN ({ids}); \
        DELETE FROM command_results WHERE command_uuid IN ({ids}); \
        DELETE FROM commands WHERE command_uuid IN ({ids});"];

    async fn bind_cert_hash_serialized(
        &self,
        device_id: &str,
        hash: &str,
        mode: CertBindMode,
    ) -> Result<CertBinding, StorageError> {
        // The checks read inside the write transaction (BEGIN IMMEDIATE on the one writer
        // connection): no other write, from this process or another, lands between them and
        // the insert.
        let sql = Sql(self);
        let mut conn = sql.write_conn().await?;
        let mut tx = Sql::<Self>::begin_write(&mut conn).await?;
        let outcome = Sql::<Self>::bind_cert_hash(&mut *tx, device_id, hash, mode).await?;
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(outcome)
    }
}

flows::storage_traits!(SqliteStore);

#[cfg(test)]
#[path = "../tests/support/round.rs"]
mod round;

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::AssertSqlSafe;
    use sqlx::Row as _;

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
                .fetch_all(store.conns.reader.pool())
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

    /// `EXPLAIN QUERY PLAN` of `sql` with `binds`, one line per step.
    async fn query_plan(store: &SqliteStore, sql: &str, binds: &[Option<&str>]) -> String {
        let mut query = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for b in binds {
            query = query.bind(*b);
        }
        let plan: Vec<String> = query
            .fetch_all(store.conns.reader.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(3))
            .collect();
        plan.join("\n")
    }

    /// A page from the middle of 100,000 enrollments reads through the primary key from the
    /// cursor, whatever the filters (no scan, no sort), and returns the right rows; retention
    /// walks the `created_at` index; the queue view walks the next-command index.
    #[tokio::test]
    async fn inspection_reads_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("inspect.sqlite")))
            .await
            .unwrap();
        sqlx::raw_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
             INSERT INTO devices (id, serial_number, authenticate, authenticate_at) \
             SELECT printf('DEV-%06d', i), 'SN' || i, x'00', CURRENT_TIMESTAMP FROM n; \
             INSERT INTO enrollments (id, device_id, type, topic, push_magic, token_hex, \
                 last_seen_at) \
             SELECT id, id, 'Device', 't', 'm', 'aa', CURRENT_TIMESTAMP FROM devices;",
        )
        .execute(store.conns.writer.pool())
        .await
        .unwrap();
        let after = Some("DEV-050000");
        for filters in [
            [None, None, None, None],
            [Some("Device"), Some("1"), None, None],
            [None, None, Some("SN50001"), Some("DEV-050001")],
        ] {
            let mut binds = vec![after];
            binds.extend(filters);
            binds.push(Some("101"));
            let plan = query_plan(&store, SqliteStore::LIST_ENROLLMENTS, &binds).await;
            eprintln!("{filters:?}:\n{plan}");
            assert!(
                plan.contains("SEARCH e USING INDEX sqlite_autoindex_enrollments_1 (id>?)"),
                "{plan}"
            );
            assert!(!plan.contains("SCAN"), "a full scan: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "a sort: {plan}");
        }
        let plan = query_plan(
            &store,
            SqliteStore::RETENTION_DUE,
            &[Some("1000"), Some("NotNow"), Some("100")],
        )
        .await;
        eprintln!("retention:\n{plan}");
        assert!(plan.contains("commands_created_at"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        let plan = query_plan(
            &store,
            SqliteStore::QUEUED_COMMANDS,
            &[Some("DEV-000001"), Some("NotNow"), Some("100")],
        )
        .await;
        assert!(plan.contains("enrollment_queue_next"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");

        let page = mdm_storage::InspectionStore::list_enrollments(
            &store,
            &mdm_storage::EnrollmentFilter::default(),
            Some(&"DEV-050000".into()),
            100,
        )
        .await
        .unwrap();
        assert_eq!(page.enrollments.len(), 100);
        assert_eq!(page.enrollments[0].id.as_str(), "DEV-050001");
        assert_eq!(
            page.enrollments[0].serial_number.as_deref(),
            Some("SN50001")
        );
        assert_eq!(page.next_after.as_ref().unwrap().as_str(), "DEV-050100");
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

    /// sqlx's statement cache is hit: with one reader and the one writer, once every statement
    /// of an MDM round (enrollment, enqueue, Idle, NotNow, Acknowledged, next-command lookups)
    /// has been prepared, further rounds with other ids and commands prepare none.
    #[tokio::test]
    async fn statements_are_prepared_once() {
        use crate::pool::OnAbandon;
        use sqlx::Connection as _;
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions::new(dir.path().join("cache.sqlite"))
            .with_storage_options("readers=1")
            .unwrap();
        let store = SqliteStore::open(&options).await.unwrap();
        let prepared = || async {
            let mut writer = store.conns.writer.acquire(OnAbandon::Return).await.unwrap();
            let mut reader = store.conns.reader.acquire(OnAbandon::Return).await.unwrap();
            let sizes = (
                writer.conn().cached_statements_size(),
                reader.conn().cached_statements_size(),
            );
            writer.release();
            reader.release();
            sizes
        };
        super::round::mdm_round(&store, 0).await;
        let warm = prepared().await;
        assert!(warm.0 > 3 && warm.1 > 0, "{warm:?}");
        for n in 1..4 {
            super::round::mdm_round(&store, n).await;
        }
        assert_eq!(prepared().await, warm, "statements prepared again");
    }
}
