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
//! A report with a CommandUUID (outside delete mode) and an enqueue to up to 500 ids are each
//! one statement — data-modifying CTEs — so one round trip and no transaction around it.
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

use std::str::FromStr as _;

use mdm_storage::{CertBindMode, CertBinding, StorageError};
use sqlx::postgres::{PgConnectOptions, PgPool};

use crate::common::{self, db};
use crate::dialect::Arg::{Id, Result as Res, Status as St, Uuid};
use crate::dialect::{
    CertAuthSql, Connections, Dialect, ImportBatchSql, Placeholder, ReportAndNext, Step,
};
use crate::flows::{self, Sql};
use crate::pool::OnAbandon;

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
    (
        3,
        "rootstock retention",
        include_str!("../migrations/postgres/0003_rootstock_retention.sql"),
    ),
];

/// How to open a [`PostgresStore`].
pub type PostgresOptions = crate::ServerOptions<ConnectOptions>;

impl PostgresOptions {
    /// Defaults for a `postgres://` URL (or a libpq key/value string).
    pub fn from_url(url: &str) -> Result<Self, OpenError> {
        let connect =
            PgConnectOptions::from_str(url).map_err(|e| OpenError::Connect(Box::new(e)))?;
        Ok(Self::new(connect))
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
    conns: Connections<sqlx::Postgres>,
}

impl PostgresStore {
    /// Connects and brings the schema up to date (additively; see the module documentation).
    pub async fn open(options: &PostgresOptions) -> Result<Self, OpenError> {
        let pool = options.storage.pool::<sqlx::Postgres>();
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
    pub fn pool(&self) -> &PgPool {
        self.conns.writer.shared_pool()
    }
}

/// [`NEXT_COMMAND`] with its condition on the result's status (`$2`, `$3` there) written in.
macro_rules! next_command {
    ($status:literal) => {
        concat!(
            "SELECT c.command_uuid, c.request_type, c.command, c.command_bytes \
             FROM enrollment_queue AS q \
                 INNER JOIN commands AS c ON c.command_uuid = q.command_uuid \
                 LEFT JOIN command_results AS r \
                     ON r.id = q.id AND r.command_uuid = q.command_uuid \
             WHERE q.id = $1 AND q.active AND ",
            $status,
            " ORDER BY q.priority DESC, q.created_at, q.seq LIMIT 1"
        )
    };
}

/// The next command for `$1`: walks the partial index `rootstock_queue_next` (active rows only)
/// in delivery order — priority, then enqueue time as NanoMDM, then `seq` for ties; the joins are
/// primary-key lookups. `$2` is `NotNow`, `$3` whether to pass over commands put off with it.
/// `command_bytes` holds the exact bytes of a command enqueued as a binary plist.
const NEXT_COMMAND: &str = next_command!("(r.status IS NULL OR (r.status = $2 AND NOT $3))");

/// After a report's CTEs: whether the result was stored (the `stored` CTE returned a row), and
/// the next command, or NULLs. The statement reads the snapshot it started with, before its own
/// writes, so the reported command (`$2`) is passed over by name; every other row reads as it
/// would after the report.
macro_rules! then_next_command {
    ($status:literal) => {
        concat!(
            " SELECT EXISTS (SELECT 1 FROM stored), n.* FROM (SELECT 1) AS one \
              LEFT JOIN LATERAL (",
            next_command!($status),
            ") AS n ON TRUE"
        )
    };
}

/// A NotNow report's common table expressions: last-seen (`seen`), and the result, stored only
/// while the command waits in the enrollment's queue (`stored`, a row exactly when written).
/// The first NotNow's time stays in not_now_at; later ones count in not_now_tally (NanoMDM).
macro_rules! store_not_now {
    () => {
        "seen AS (UPDATE enrollments SET last_seen_at = now() WHERE id = $1), \
         stored AS ( \
             INSERT INTO command_results \
                 (id, command_uuid, status, result, not_now_at, not_now_tally) \
             SELECT $1, $2, $3, $4, now(), 1 \
             WHERE EXISTS (SELECT 1 FROM enrollment_queue \
                           WHERE id = $1 AND command_uuid = $2 AND active) \
             ON CONFLICT (id, command_uuid) DO UPDATE SET \
                 status = excluded.status, \
                 result = excluded.result, \
                 not_now_tally = command_results.not_now_tally + 1 \
             RETURNING 1)"
    };
}

/// A final report's common table expressions: last-seen; the command leaves the queue (active =
/// false: out of the next-command index; a NanoMDM server reading the row skips it too) and,
/// only if it was queued, the result is written — both or neither (`stored`, a row exactly when
/// written).
macro_rules! store_final {
    () => {
        "seen AS (UPDATE enrollments SET last_seen_at = now() WHERE id = $1), \
         dequeued AS ( \
             UPDATE enrollment_queue SET active = FALSE \
             WHERE id = $1 AND command_uuid = $2 AND active \
             RETURNING id, command_uuid), \
         stored AS ( \
             INSERT INTO command_results \
                 (id, command_uuid, status, result, not_now_at, not_now_tally) \
             SELECT id, command_uuid, $3, $4, NULL, 0 FROM dequeued \
             ON CONFLICT (id, command_uuid) DO UPDATE SET \
                 status = excluded.status, \
                 result = excluded.result \
             RETURNING 1)"
    };
}

/// Marks `$1` seen (`updated_at` is NanoMDM's trigger's).
const TOUCH_LAST_SEEN: &str = "UPDATE enrollments SET last_seen_at = now() WHERE id = $1";

/// Delete mode: removes command `$1` once nothing refers to it.
const DELETE_ORPHANED_COMMAND: &str = "\
DELETE FROM commands AS c WHERE c.command_uuid = $1 \
AND NOT EXISTS (SELECT 1 FROM enrollment_queue q WHERE q.command_uuid = c.command_uuid) \
AND NOT EXISTS (SELECT 1 FROM command_results r WHERE r.command_uuid = c.command_uuid)";

/// The columns of an enrollment as `InspectionStore` returns it (see
/// `Dialect::LIST_ENROLLMENTS`): the device's serial number through `enrollments.device_id` (a
/// user channel's is its device's), times as epoch seconds.
///
/// NanoMDM's time columns are `TIMESTAMP` without time zone, filled by `CURRENT_TIMESTAMP` /
/// `now()` with the local time of the writing session's `TimeZone`. `::timestamptz` reads them
/// back as local time in the reading session's `TimeZone`, which is the writing one for every
/// row this store writes (all its sessions run in one zone: UTC, which sqlx asks for when it
/// connects, over the server's and the database's setting); a bare `EXTRACT(EPOCH FROM
/// timestamp)` would take the local time for UTC and be hours off in any other zone (the
/// `inspection_times_are_right_outside_utc` test runs the store's sessions in UTC+05:45).
/// Rows another server wrote from sessions in another zone (NanoMDM on a server whose
/// `TimeZone` is not UTC) hold that zone's local time, and nothing in the row says so: they
/// read back off by the difference.
macro_rules! enrollment_columns {
    () => {
        "SELECT e.id, e.type, e.device_id, e.enabled, d.serial_number, \
             EXTRACT(EPOCH FROM e.last_seen_at::timestamptz)::bigint, \
             EXTRACT(EPOCH FROM e.created_at::timestamptz)::bigint, \
             EXTRACT(EPOCH FROM e.updated_at::timestamptz)::bigint \
         FROM enrollments AS e LEFT JOIN devices AS d ON d.id = e.device_id "
    };
}

/// Every statement of a report binds these, numbered as `$1` … `$4`.
const REPORT_ARGS: &[crate::dialect::Arg] = &[Id, Uuid, St, Res];

impl Dialect for PostgresStore {
    type DB = sqlx::Postgres;
    type Raw = String;
    type Int = i32;
    type Priority = i16;

    fn connections(&self) -> &Connections<sqlx::Postgres> {
        &self.conns
    }

    const PLACEHOLDER: Placeholder = Placeholder::Dollar;
    const BEGIN_WRITE: &'static str = "BEGIN";
    const ONE_STEP_IS_ATOMIC: bool = true;

    const AUTHENTICATE: &'static str = "\
        INSERT INTO devices (id, identity_cert, serial_number, authenticate, authenticate_at) \
        VALUES ($1, $2, $3, $4, now()) \
        ON CONFLICT (id) DO UPDATE SET \
            identity_cert = excluded.identity_cert, \
            serial_number = excluded.serial_number, \
            authenticate = excluded.authenticate, \
            authenticate_at = excluded.authenticate_at, \
            bootstrap_token_b64 = NULL, \
            bootstrap_token_at = NULL";
    const RESET_TALLY: &'static str = "\
        UPDATE enrollments SET token_update_tally = 0 \
        WHERE device_id = $1 AND token_update_tally != 0";
    const TOKEN_UPDATE_DEVICE: &'static str = "\
        UPDATE devices SET \
            token_update = $1, \
            token_update_at = now(), \
            unlock_token = COALESCE($2, unlock_token), \
            unlock_token_at = CASE WHEN $3::bytea IS NULL THEN unlock_token_at ELSE now() END \
        WHERE id = $4";
    const DEVICE_EXISTS: &'static str = "SELECT 1 FROM devices WHERE id = $1";
    const TOKEN_UPDATE_USER: &'static str = "\
        INSERT INTO users \
            (id, device_id, user_short_name, user_long_name, token_update, token_update_at) \
        VALUES ($1, $2, $3, $4, $5, now()) \
        ON CONFLICT (id, device_id) DO UPDATE SET \
            user_short_name = excluded.user_short_name, \
            user_long_name = excluded.user_long_name, \
            token_update = excluded.token_update, \
            token_update_at = excluded.token_update_at";
    const TOKEN_UPDATE_ENROLLMENT: &'static str = "\
        INSERT INTO enrollments \
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
            token_update_tally = enrollments.token_update_tally + 1";
    const USER_AUTHENTICATE: &'static str = "\
        INSERT INTO users \
            (id, device_id, user_short_name, user_long_name, user_authenticate, \
             user_authenticate_at) \
        VALUES ($1, $2, $3, $4, $5, now()) \
        ON CONFLICT (id, device_id) DO UPDATE SET \
            user_short_name = excluded.user_short_name, \
            user_long_name = excluded.user_long_name, \
            user_authenticate = excluded.user_authenticate, \
            user_authenticate_at = excluded.user_authenticate_at";
    const USER_AUTHENTICATE_DIGEST: &'static str = "\
        INSERT INTO users \
            (id, device_id, user_short_name, user_long_name, user_authenticate_digest, \
             user_authenticate_digest_at) \
        VALUES ($1, $2, $3, $4, $5, now()) \
        ON CONFLICT (id, device_id) DO UPDATE SET \
            user_short_name = excluded.user_short_name, \
            user_long_name = excluded.user_long_name, \
            user_authenticate_digest = excluded.user_authenticate_digest, \
            user_authenticate_digest_at = excluded.user_authenticate_digest_at";
    const TOUCH_LAST_SEEN: &'static str = TOUCH_LAST_SEEN;
    const DISABLE_DEVICE: &'static str = "\
        UPDATE enrollments SET enabled = FALSE, token_update_tally = 0, last_seen_at = now() \
        WHERE device_id = $1 AND enabled";
    const DISABLE_USER: &'static str = "\
        UPDATE enrollments SET enabled = FALSE, token_update_tally = 0, last_seen_at = now() \
        WHERE id = $1 AND enabled";
    const TALLY: &'static str = "SELECT token_update_tally FROM enrollments WHERE id = $1";
    const STORE_BOOTSTRAP_TOKEN: &'static str = "\
        UPDATE devices SET bootstrap_token_b64 = $1, bootstrap_token_at = now() WHERE id = $2";
    const BOOTSTRAP_TOKEN: &'static str = "SELECT bootstrap_token_b64 FROM devices WHERE id = $1";

    const INSERT_COMMAND: &'static str = "\
        INSERT INTO commands (command_uuid, request_type, command, command_bytes) \
        VALUES ($1, $2, $3, $4)";
    // One statement, one round trip. The command is inserted when an id is known — or when its
    // UUID is stored already, so that the insert fails as a duplicate just as it would alone.
    const ENQUEUE_ONE_STEP: Option<&'static str> = Some(
        "WITH command AS ( \
             INSERT INTO commands (command_uuid, request_type, command, command_bytes) \
             SELECT $1, $2, $3, $4 \
             WHERE EXISTS (SELECT 1 FROM enrollments WHERE id IN ({ids})) \
                OR EXISTS (SELECT 1 FROM commands WHERE command_uuid = $1) \
             RETURNING command_uuid) \
         INSERT INTO enrollment_queue (id, command_uuid, priority) \
         SELECT e.id, command.command_uuid, $5 FROM enrollments AS e, command \
         WHERE e.id IN ({ids}) \
         RETURNING id",
    );
    const QUEUED_IDS: Option<&'static str> = None;
    // Duplicates among the ids meet one enrollments row each.
    const QUEUE_COMMAND: &'static str = "\
        INSERT INTO enrollment_queue (id, command_uuid, priority) \
        SELECT e.id, $1, $2 FROM enrollments AS e WHERE e.id IN ({ids}) \
        RETURNING id";
    const NEXT_COMMAND: &'static str = NEXT_COMMAND;
    // One statement each (one round trip, atomic without a transaction); a row comes back
    // exactly when the result was written.
    const STORE_NOT_NOW: &'static [Step] = &[Step::stored(
        concat!("WITH ", store_not_now!(), " SELECT 1 FROM stored"),
        REPORT_ARGS,
    )];
    const STORE_FINAL: &'static [Step] = &[Step::stored(
        concat!("WITH ", store_final!(), " SELECT 1 FROM stored"),
        REPORT_ARGS,
    )];
    // The report and the next command in one statement: one round trip per MDM request.
    const REPORT_AND_NEXT: Option<ReportAndNext> = Some(ReportAndNext {
        idle: concat!(
            "WITH seen AS (UPDATE enrollments SET last_seen_at = now() WHERE id = $1), \
                  stored AS (SELECT 1 WHERE FALSE)",
            then_next_command!("(r.status IS NULL OR r.status = 'NotNow')")
        ),
        not_now: concat!(
            "WITH ",
            store_not_now!(),
            then_next_command!("r.status IS NULL AND q.command_uuid <> $2")
        ),
        final_status: concat!(
            "WITH ",
            store_final!(),
            then_next_command!(
                "(r.status IS NULL OR r.status = 'NotNow') AND q.command_uuid <> $2"
            )
        ),
        batch: false,
    });
    // Lock the command first: concurrent final reports on one command then run one after
    // another, and exactly one sees it orphaned. Unknown UUIDs lock nothing. Every transaction
    // takes its locks in the same order (enrollment, command, queue, result).
    const DELETE_FINAL: &'static [Step] = &[
        Step::run(TOUCH_LAST_SEEN, &[Id]),
        Step::run(
            "SELECT 1 FROM commands WHERE command_uuid = $1 FOR UPDATE",
            &[Uuid],
        ),
        Step::guard(
            "DELETE FROM enrollment_queue WHERE id = $1 AND command_uuid = $2 AND active",
            &[Id, Uuid],
        ),
        Step::run(
            "DELETE FROM command_results WHERE id = $1 AND command_uuid = $2",
            &[Id, Uuid],
        ),
        Step::run(DELETE_ORPHANED_COMMAND, &[Uuid]),
    ];
    const QUEUED_FOR_DEVICE: &'static str = "\
        SELECT id, command_uuid FROM enrollment_queue \
        WHERE active AND id IN (SELECT id FROM enrollments WHERE device_id = $1)";
    const QUEUED_FOR_USER: &'static str =
        "SELECT id, command_uuid FROM enrollment_queue WHERE active AND id = $1";
    const CLEAR_DEVICE_QUEUE: &'static str = "\
        UPDATE enrollment_queue SET active = FALSE \
        WHERE active AND id IN (SELECT id FROM enrollments WHERE device_id = $1)";
    const CLEAR_USER_QUEUE: &'static str =
        "UPDATE enrollment_queue SET active = FALSE WHERE active AND id = $1";
    const DELETE_QUEUED: &'static [Step] = &[
        Step::run(
            "DELETE FROM command_results WHERE id = $1 AND command_uuid = $2",
            &[Id, Uuid],
        ),
        Step::run(
            "DELETE FROM enrollment_queue WHERE id = $1 AND command_uuid = $2",
            &[Id, Uuid],
        ),
        Step::run(DELETE_ORPHANED_COMMAND, &[Uuid]),
    ];
    const PUSH_INFO: &'static str = "\
        SELECT id, topic, push_magic, token_hex FROM enrollments \
        WHERE enabled AND id IN ({ids})";
    const PUSH_CERT_STALE_TOKEN: &'static str =
        "SELECT stale_token FROM push_certs WHERE topic = $1";
    const PUSH_CERT: &'static str =
        "SELECT cert_pem, key_pem, stale_token FROM push_certs WHERE topic = $1";
    const STORE_PUSH_CERT: &'static str = "\
        INSERT INTO push_certs (topic, cert_pem, key_pem, stale_token) \
        VALUES ($1, $2, $3, 0) \
        ON CONFLICT (topic) DO UPDATE SET \
            cert_pem = excluded.cert_pem, \
            key_pem = excluded.key_pem, \
            stale_token = push_certs.stale_token + 1";
    const CERT_AUTH: CertAuthSql = CertAuthSql {
        has_hash: "SELECT 1 FROM cert_auth_associations WHERE sha256 = $1 LIMIT 1",
        associated: "SELECT 1 FROM cert_auth_associations WHERE id = $1 AND sha256 = $2",
        enrollment_bound: "SELECT 1 FROM cert_auth_associations WHERE id = $1 LIMIT 1",
        bound_to: "SELECT id FROM cert_auth_associations WHERE sha256 = $1 LIMIT 1",
        // As NanoMDM: an existing association only has updated_at touched (by the trigger).
        associate: "INSERT INTO cert_auth_associations (id, sha256) VALUES ($1, $2) \
                    ON CONFLICT (id, sha256) DO UPDATE SET updated_at = now()",
    };
    // Devices in the order they were first stored, then user channels.
    const MIGRATION_DEVICES: &'static str =
        "SELECT authenticate, token_update FROM devices ORDER BY created_at, id";
    const MIGRATION_USERS: &'static str = "\
        SELECT token_update FROM users WHERE token_update IS NOT NULL ORDER BY created_at, id";

    const IMPORT_ENROLLMENT_EXISTS: &'static str = "SELECT 1 FROM enrollments WHERE id = $1";
    const IMPORT_HELD_COMMAND: &'static str =
        "SELECT command, command_bytes FROM commands WHERE command_uuid = $1";
    // `::timestamp` converts in the session's time zone, as `now()` does for this column.
    const IMPORT_STATE: &'static str = "\
        UPDATE enrollments SET token_update_tally = $1, enabled = $2, \
            last_seen_at = COALESCE(to_timestamp($3::bigint / 1000000.0)::timestamp, \
                last_seen_at), \
            updated_at = now() \
        WHERE id = $4";
    const IMPORT_STATE_LOOKS_UP_FIRST: bool = false;
    const IMPORT_UNLOCK_TOKEN: &'static str = "\
        UPDATE devices SET unlock_token = $1, \
            unlock_token_at = COALESCE(unlock_token_at, now()) \
        WHERE id = $2";
    const IMPORT_QUEUED: Option<&'static str> = None;
    // One transaction gives every row the same created_at; seq keeps their order.
    const IMPORT_QUEUE: &'static str = "\
        INSERT INTO enrollment_queue (id, command_uuid, priority) VALUES ($1, $2, 0) \
        ON CONFLICT (id, command_uuid) DO NOTHING";
    const IMPORT_NOT_NOW: &'static str = "\
        INSERT INTO command_results (id, command_uuid, status, result, not_now_at, not_now_tally) \
        VALUES ($1, $2, $3, $4, now(), 1) \
        ON CONFLICT (id, command_uuid) DO NOTHING";
    const IMPORT_RESULT: &'static str = "\
        INSERT INTO command_results (id, command_uuid, status, result) \
        VALUES ($1, $2, $3, $4) \
        ON CONFLICT (id, command_uuid) DO UPDATE SET \
            status = excluded.status, result = excluded.result";
    // One transaction gives every row the same created_at; seq keeps their order.
    const IMPORT_BATCH: ImportBatchSql = ImportBatchSql {
        known: "SELECT id FROM enrollments WHERE id IN ({ids})",
        held: "SELECT command_uuid, command, command_bytes FROM commands \
            WHERE command_uuid IN ({ids})",
        queued: "SELECT id, command_uuid FROM enrollment_queue WHERE id IN ({ids})",
        insert_commands: "INSERT INTO commands (command_uuid, request_type, command, command_bytes) \
            VALUES {rows}",
        command_row: "(?, ?, ?, ?)",
        queue: "INSERT INTO enrollment_queue (id, command_uuid, priority) VALUES {rows} \
            ON CONFLICT (id, command_uuid) DO NOTHING",
        queue_row: "(?, ?, 0)",
        not_now: "INSERT INTO command_results \
            (id, command_uuid, status, result, not_now_at, not_now_tally) VALUES {rows} \
            ON CONFLICT (id, command_uuid) DO NOTHING",
        not_now_row: "(?, ?, ?, ?, now(), 1)",
        results: "INSERT INTO command_results (id, command_uuid, status, result) VALUES {rows} \
            ON CONFLICT (id, command_uuid) DO UPDATE SET \
            status = excluded.status, result = excluded.result",
        result_row: "(?, ?, ?, ?)",
    };

    const LIST_ENROLLMENTS: &'static str = concat!(
        enrollment_columns!(),
        "WHERE e.id > $1 \
             AND ($2::text IS NULL OR e.type = $2) \
             AND ($3::boolean IS NULL OR e.enabled = $3) \
             AND ($4::text IS NULL OR d.serial_number = $4) \
             AND ($5::text IS NULL OR e.device_id = $5) \
         ORDER BY e.id \
         LIMIT $6"
    );
    const ENROLLMENT: &'static str = concat!(enrollment_columns!(), "WHERE e.id = $1");
    // As NEXT_COMMAND: the partial queue index in delivery order, primary-key joins.
    const QUEUED_COMMANDS: &'static str = "\
        SELECT q.command_uuid, c.request_type, r.status, \
            EXTRACT(EPOCH FROM q.created_at::timestamptz)::bigint \
        FROM enrollment_queue AS q \
            INNER JOIN commands AS c ON c.command_uuid = q.command_uuid \
            LEFT JOIN command_results AS r \
                ON r.id = q.id AND r.command_uuid = q.command_uuid \
        WHERE q.id = $1 AND q.active AND (r.status IS NULL OR r.status = $2) \
        ORDER BY q.priority DESC, q.created_at, q.seq \
        LIMIT $3";
    const REMOVE_QUEUED: &'static str = "\
        UPDATE enrollment_queue AS q SET active = FALSE \
        WHERE q.id = $1 AND q.command_uuid = $2 AND q.active \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != $3)";
    const CLEAR_ENROLLMENT_QUEUE: &'static str = "\
        UPDATE enrollment_queue AS q SET active = FALSE \
        WHERE q.id = $1 AND q.active \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != $2)";
    // Unlocked, as QUEUED_FOR_USER: the DELETE_QUEUED steps lock what they delete.
    const WAITING_ENTRY: &'static str = "\
        SELECT q.command_uuid FROM enrollment_queue AS q \
        WHERE q.id = $1 AND q.command_uuid = $2 AND q.active \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != $3)";
    const WAITING_ENTRIES: &'static str = "\
        SELECT q.command_uuid FROM enrollment_queue AS q \
        WHERE q.id = $1 AND q.active \
            AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                            WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                AND r.status != $2)";
    // Every enrollment with a queue row or a result (a result without a queue row is an
    // imported one), each joined to both by primary key. `result` is NanoMDM's TEXT: XML as
    // stored, by NanoMDM or by us.
    const COMMAND: &'static str = "\
        SELECT c.request_type, EXTRACT(EPOCH FROM c.created_at::timestamptz)::bigint, \
            x.id, q.active, r.status, \
            EXTRACT(EPOCH FROM COALESCE(r.updated_at, q.created_at)::timestamptz)::bigint, \
            r.result \
        FROM commands AS c \
            LEFT JOIN (SELECT id FROM enrollment_queue WHERE command_uuid = $1 \
                       UNION \
                       SELECT id FROM command_results WHERE command_uuid = $1) AS x ON TRUE \
            LEFT JOIN enrollment_queue AS q ON q.id = x.id AND q.command_uuid = c.command_uuid \
            LEFT JOIN command_results AS r ON r.id = x.id AND r.command_uuid = c.command_uuid \
        WHERE c.command_uuid = $1 \
        ORDER BY x.id";
    const COMMAND_UUID_BINDS: usize = 1;
    // The cut-off as a TIMESTAMP in the session's time zone, the one CURRENT_TIMESTAMP filled
    // `created_at` in (see `enrollment_columns!`). The due commands are locked (FOR UPDATE) so
    // that no queue row can be added to one (an import) before it is deleted.
    const RETENTION_DUE: &'static str = "\
        SELECT c.command_uuid FROM commands AS c \
        WHERE c.created_at < to_timestamp($1)::timestamp \
            AND NOT EXISTS ( \
                SELECT 1 FROM enrollment_queue AS q \
                WHERE q.command_uuid = c.command_uuid AND q.active \
                    AND NOT EXISTS (SELECT 1 FROM command_results AS r \
                                    WHERE r.id = q.id AND r.command_uuid = q.command_uuid \
                                        AND r.status != $2)) \
        ORDER BY c.created_at \
        LIMIT $3 \
        FOR UPDATE";
    // One statement, in lock order (queue, results, then the command): the foreign keys'
    // ON DELETE CASCADE then finds nothing left to do.
    const RETENTION_DELETE: &'static [&'static str] = &["\
        WITH queued AS (DELETE FROM enrollment_queue WHERE command_uuid IN ({ids})), \
             results AS (DELETE FROM command_results WHERE command_uuid IN ({ids})) \
        DELETE FROM commands WHERE command_uuid IN ({ids})"];

    async fn bind_cert_hash_serialized(
        &self,
        device_id: &str,
        hash: &str,
        mode: CertBindMode,
    ) -> Result<CertBinding, StorageError> {
        Sql::<Self>::retry_conflicts(|| self.bind_cert_hash_once(device_id, hash, mode)).await
    }
}

flows::storage_traits!(PostgresStore);

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
        let mut conn = self.conns.writer.acquire(OnAbandon::Return).await?;
        let begin = sqlx::SqlSafeStr::into_sql_str("BEGIN ISOLATION LEVEL READ COMMITTED");
        let mut tx = sqlx::Connection::begin_with(conn.conn(), begin)
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
        let outcome = Sql::<Self>::bind_cert_hash(&mut *tx, device_id, hash, mode).await?;
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OptionsError;
    use sqlx::Connection as _;
    use sqlx::postgres::PgPoolOptions;
    use sqlx::{AssertSqlSafe, Executor as _, Row as _};

    /// A store in a fresh schema whose every session runs in `time_zone` (sqlx opens sessions
    /// in UTC; a server whose TimeZone is set otherwise, or a session that sets its own, writes
    /// NanoMDM's TIMESTAMP columns in local time). `None` when no test server is configured.
    async fn store_in(time_zone: &'static str) -> Option<(PostgresStore, PgPool, String)> {
        let Ok(url) = std::env::var("ROOTSTOCK_TEST_POSTGRES_URL") else {
            eprintln!("skipped: ROOTSTOCK_TEST_POSTGRES_URL is not set");
            return None;
        };
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let schema = format!(
            "rootstock_unit_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let admin = PgPool::connect(&url).await.expect("connect");
        admin
            .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .expect("create schema");
        let connect = PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(AssertSqlSafe(format!("SET TimeZone = '{time_zone}'")))
                        .await?;
                    Ok(())
                })
            })
            .connect_with(connect)
            .await
            .expect("connect");
        common::migrator(MIGRATIONS)
            .run(&pool)
            .await
            .expect("migrate");
        let store = PostgresStore {
            conns: Connections::one_pool(pool, false),
        };
        Some((store, admin, schema))
    }

    async fn drop_schema(store: PostgresStore, admin: PgPool, schema: String) {
        store.close().await;
        admin
            .execute(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .await
            .expect("drop schema");
        admin.close().await;
    }

    /// On sessions whose TimeZone is not UTC (UTC+05:45), inspection's times are still the
    /// real instants (the conformance cases check they are within minutes of now) and retention
    /// compares its cut-off in the same zone the rows were written in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inspection_times_are_right_outside_utc() {
        use mdm_storage::conformance;
        let Some((store, admin, schema)) = store_in("Asia/Kathmandu").await else {
            return;
        };
        // The rows really are local time: read naively as UTC they are hours off.
        let zone: String = sqlx::query_scalar("SHOW TimeZone")
            .fetch_one(store.conns.reader.pool())
            .await
            .unwrap();
        assert_eq!(zone, "Asia/Kathmandu");
        let naive: f64 = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM (now()::timestamp - (now() AT TIME ZONE 'UTC')))::float8",
        )
        .fetch_one(store.conns.reader.pool())
        .await
        .unwrap();
        assert_eq!(naive, 5.0 * 3600.0 + 45.0 * 60.0);
        conformance::list_enrollments(store.clone()).await;
        drop_schema(store, admin, schema).await;

        for case in 0..3 {
            let Some((store, admin, schema)) = store_in("Asia/Kathmandu").await else {
                return;
            };
            match case {
                0 => conformance::queue_inspection(store.clone()).await,
                1 => {
                    let expect = conformance::Expectations::default();
                    conformance::command_results(store.clone(), expect).await;
                }
                _ => {
                    let expect = conformance::Expectations::default();
                    conformance::retention(store.clone(), expect).await;
                }
            }
            drop_schema(store, admin, schema).await;
        }
    }

    /// A page from the middle of 100,000 enrollments reads through the primary key from the
    /// cursor, with or without filters, in the generic plan a prepared statement settles on:
    /// no scan of `enrollments`, no sort. Retention walks the `created_at` index.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inspection_reads_through_indexes() {
        let Some((store, admin, schema)) = store_in("UTC").await else {
            return;
        };
        // A connection of its own: its session's plan settings and statements stay with it.
        let options = store.conns.writer.pool().connect_options();
        let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO devices (id, serial_number, authenticate, authenticate_at) \
             SELECT 'DEV-' || lpad(i::text, 6, '0'), 'SN' || i, '<?xml', now() \
             FROM generate_series(1, 100000) AS i; \
             INSERT INTO enrollments (id, device_id, type, topic, push_magic, token_hex, \
                 last_seen_at) \
             SELECT id, id, 'Device', 't', 'm', 'aa', now() FROM devices; \
             INSERT INTO commands (command_uuid, request_type, command, created_at) \
             SELECT 'CMD-' || i, 'DeviceInformation', '<?xml', \
                 now() - make_interval(secs => i) \
             FROM generate_series(1, 100000) AS i; \
             ANALYZE devices; ANALYZE enrollments; ANALYZE commands; \
             SET plan_cache_mode = force_generic_plan;",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let mut n = 0;
        let mut explain = |statement: &'static str, types: &str, args: &str| {
            n += 1;
            let prepare = format!(
                "PREPARE inspected_{n} ({types}) AS {statement}; \
                 EXPLAIN EXECUTE inspected_{n} ({args})"
            );
            AssertSqlSafe(prepare)
        };
        let list_types = "text, text, boolean, text, text, bigint";
        for args in [
            "'DEV-050000', NULL, NULL, NULL, NULL, 101",
            "'DEV-050000', 'Device', TRUE, NULL, NULL, 101",
            "'DEV-050000', NULL, NULL, 'SN50001', 'DEV-050001', 101",
        ] {
            let rows = sqlx::raw_sql(explain(PostgresStore::LIST_ENROLLMENTS, list_types, args))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
            let plan = plan.join("\n");
            eprintln!("{args}:\n{plan}");
            assert!(plan.contains("Index Scan using enrollments_pkey"), "{plan}");
            assert!(!plan.contains("Seq Scan on enrollments"), "{plan}");
            assert!(!plan.contains("Sort"), "{plan}");
        }
        let rows = sqlx::raw_sql(explain(
            PostgresStore::RETENTION_DUE,
            "bigint, text, bigint",
            "extract(epoch from now())::bigint - 50000, 'NotNow', 100",
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        let plan = plan.join("\n");
        eprintln!("retention:\n{plan}");
        assert!(plan.contains("rootstock_commands_created_at"), "{plan}");
        assert!(!plan.contains("Seq Scan on commands"), "{plan}");
        sqlx::Connection::close(conn).await.unwrap();
        // And the page itself, through the store.
        let page = mdm_storage::InspectionStore::list_enrollments(
            &store,
            &mdm_storage::EnrollmentFilter::default(),
            Some(&"DEV-050000".into()),
            100,
        )
        .await
        .unwrap();
        assert_eq!(page.enrollments[0].id.as_str(), "DEV-050001");
        assert_eq!(page.next_after.as_ref().unwrap().as_str(), "DEV-050100");
        drop_schema(store, admin, schema).await;
    }

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
