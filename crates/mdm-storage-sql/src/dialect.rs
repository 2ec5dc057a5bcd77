//! What a SQL dialect supplies: its SQL text, its placeholder style, the column types that differ,
//! and the few steps that are genuinely its own (how a certificate binding is serialized). The
//! flows in [`crate::flows`] are written once against this trait; see the crate documentation for
//! why it is shaped this way.

use std::future::Future;

use mdm_storage::{CertBindMode, CertBinding, StorageError};
use sqlx::database::HasStatementCache;
use sqlx::{Database, Decode, Encode, Type};

use crate::pool::WarmPool;

/// How a dialect writes the n-th bind parameter (1-based).
// Each variant is one dialect's: a build without all three backends leaves some unused.
#[cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// `$1`, `$2` … (PostgreSQL).
    Dollar,
    /// `?1`, `?2` … (SQLite).
    NumberedQuestion,
    /// `?` in the order the values are bound (MySQL): a value used twice is bound twice.
    Question,
}

impl Placeholder {
    /// `n` placeholders for an `IN (…)` list whose first value is bind parameter `first`.
    pub(crate) fn list(self, first: usize, n: usize) -> String {
        let mut list = String::with_capacity(n * 5);
        for i in first..first + n {
            if i > first {
                list.push_str(", ");
            }
            match self {
                Placeholder::Dollar => {
                    list.push('$');
                    list.push_str(&i.to_string());
                }
                Placeholder::NumberedQuestion => {
                    list.push('?');
                    list.push_str(&i.to_string());
                }
                Placeholder::Question => list.push('?'),
            }
        }
        list
    }
}

impl Placeholder {
    /// `n` rows of `row`, comma-separated, each `?` in it a bind parameter numbered on from 1
    /// across the rows (for a multi-row `VALUES` list); `row` holds no other `?`.
    pub(crate) fn rows(self, row: &str, n: usize) -> String {
        let mut rows = String::with_capacity(n * (row.len() + 8));
        let mut param = 0usize;
        for i in 0..n {
            if i > 0 {
                rows.push_str(", ");
            }
            for c in row.chars() {
                if c != '?' {
                    rows.push(c);
                    continue;
                }
                param += 1;
                match self {
                    Placeholder::Dollar => {
                        rows.push('$');
                        rows.push_str(&param.to_string());
                    }
                    Placeholder::NumberedQuestion => {
                        rows.push('?');
                        rows.push_str(&param.to_string());
                    }
                    Placeholder::Question => rows.push('?'),
                }
            }
        }
        rows
    }
}

/// The statements of a batched import ([`crate::flows::Sql::import_enrollments`]). `{ids}` is
/// an `IN` list of bind parameters from the first on; `{rows}` is rows of the statement's row
/// template (`?` marks each bind parameter; see [`Placeholder::rows`]).
pub(crate) struct ImportBatchSql {
    /// The known enrollments among `{ids}` (binds: ids; columns: id).
    pub known: &'static str,
    /// The stored commands among `{ids}` (binds: uuids; columns: uuid, the command as stored,
    /// its exact bytes when kept apart or NULL).
    pub held: &'static str,
    /// The queue entries of the enrollments `{ids}` (binds: ids; columns: id, uuid), locked
    /// where the dialect locks.
    pub queued: &'static str,
    /// Inserts `{rows}` of [`Self::command_row`] into `commands`.
    pub insert_commands: &'static str,
    /// One command: binds, in order, as many as it has `?` of: uuid, request type, the command
    /// as stored, its exact bytes when they differ.
    pub command_row: &'static str,
    /// Queues `{rows}` of [`Self::queue_row`] at priority 0, in row order, leaving an entry
    /// that is there already.
    pub queue: &'static str,
    /// One queue entry (binds: id, uuid).
    pub queue_row: &'static str,
    /// Imported NotNow marks: `{rows}` of [`Self::result_row`] with NotNow's time and tally,
    /// keeping one that is stored.
    pub not_now: &'static str,
    /// Imported results: `{rows}` of [`Self::result_row`], replacing stored ones.
    pub results: &'static str,
    /// One result (binds: id, uuid, status, raw report).
    pub result_row: &'static str,
    /// One NotNow mark (binds: id, uuid, `NotNow`, raw report).
    pub not_now_row: &'static str,
}

/// A value a report statement binds, named so that each dialect can bind them in the order (and
/// as often) its placeholders need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    /// The enrollment id (the channel's).
    Id,
    /// The CommandUUID.
    Uuid,
    /// The report's `Status`.
    Status,
    /// The raw report, as the dialect stores it ([`Dialect::Raw`]).
    Result,
}

/// What the flow learns from a [`Step`].
// MySQL alone uses no `Stored` step (it has no `RETURNING`).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Run for its effect alone.
    Run,
    /// Run; when it changes no row there is nothing to do: the flow stops with "not queued".
    Guard,
    /// The last step: returns a row exactly when the result was stored.
    Stored,
}

/// One statement of a multi-statement flow: its text, the values it binds in placeholder order,
/// and what its outcome means.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    /// The statement (on SQLite possibly a batch of several, run in one hand-off).
    pub sql: &'static str,
    /// The values bound, in placeholder order.
    pub args: &'static [Arg],
    /// What the flow reads from it.
    pub effect: Effect,
}

impl Step {
    /// A step run for its effect.
    pub(crate) const fn run(sql: &'static str, args: &'static [Arg]) -> Self {
        Self {
            sql,
            args,
            effect: Effect::Run,
        }
    }

    /// A step that stops the flow when it changes nothing.
    pub(crate) const fn guard(sql: &'static str, args: &'static [Arg]) -> Self {
        Self {
            sql,
            args,
            effect: Effect::Guard,
        }
    }

    /// The closing step, returning a row exactly when the result was stored (every statement
    /// of a batch runs to its end first).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) const fn stored(sql: &'static str, args: &'static [Arg]) -> Self {
        Self {
            sql,
            args,
            effect: Effect::Stored,
        }
    }
}

/// certauth's statements (`cert_auth_associations` as NanoMDM has it), used by the lookups and
/// by [`crate::flows::Sql::bind_cert_hash`].
pub(crate) struct CertAuthSql {
    /// A row if any channel holds the hash (binds: hash).
    pub has_hash: &'static str,
    /// A row if the hash is bound to the channel (binds: device-channel id, hash).
    pub associated: &'static str,
    /// A row if the channel holds any hash (binds: device-channel id).
    pub enrollment_bound: &'static str,
    /// The id of a channel the hash is bound to (binds: hash).
    pub bound_to: &'static str,
    /// Writes the binding (binds: device-channel id, hash).
    pub associate: &'static str,
}

/// The statements of [`Dialect::REPORT_AND_NEXT`]. Each returns exactly one row: whether the
/// result was stored (as [`Step::stored`] says; ignored for Idle), then
/// [`Dialect::NEXT_COMMAND`]'s four columns for the command to send next — what
/// `NEXT_COMMAND` returns once the report is stored — or four NULLs when none waits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReportAndNext {
    /// Idle: marks the enrollment seen (binds: id).
    pub idle: &'static str,
    /// As [`Dialect::STORE_NOT_NOW`], then the next command passing over those put off with
    /// NotNow (binds: id, uuid, status, result).
    pub not_now: &'static str,
    /// As [`Dialect::STORE_FINAL`], then the next command (binds: id, uuid, status, result).
    pub final_status: &'static str,
    /// Whether the statements open and commit their own transaction (a batch): abandoned
    /// midway, the connection is closed ([`OnAbandon::Close`](crate::pool::OnAbandon)).
    pub batch: bool,
}

/// A store's connections and the one setting every flow reads. On PostgreSQL and MySQL the
/// writer and the reader are one pool; SQLite has one connection for writes and a pool for
/// reads. Connections are kept warm between calls ([`WarmPool`]).
#[derive(Debug)]
pub(crate) struct Connections<DB: Database> {
    /// Where writes go.
    pub writer: WarmPool<DB>,
    /// Where reads go.
    pub reader: WarmPool<DB>,
    /// NanoMDM's `delete=1`.
    pub delete_commands: bool,
}

// By hand: a derive would ask for `DB: Clone`, which the driver types are not.
impl<DB: Database> Clone for Connections<DB> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
            reader: self.reader.clone(),
            delete_commands: self.delete_commands,
        }
    }
}

impl<DB: Database> Connections<DB> {
    /// One pool for reads and writes.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn one_pool(pool: sqlx::Pool<DB>, delete_commands: bool) -> Self {
        let pool = WarmPool::new(pool);
        Self {
            writer: pool.clone(),
            reader: pool,
            delete_commands,
        }
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// How many rows a statement matched, which sqlx's drivers report each by an inherent method
/// (there is no trait for it). On MySQL too this counts matched rows, not only changed ones:
/// sqlx connects with `CLIENT_FOUND_ROWS`.
pub(crate) trait RowsAffected {
    /// The rows matched.
    fn rows_affected(&self) -> u64;
}

#[cfg(feature = "sqlite")]
impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "postgres")]
impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "mysql")]
impl RowsAffected for sqlx::mysql::MySqlQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A column type raw property lists are stored in ([`Dialect::Raw`]).
pub(crate) trait RawColumn: Sized {
    /// `raw` as stored in `column`, and its exact bytes when the stored form differs (a binary
    /// plist kept as XML text).
    fn from_raw(column: &'static str, raw: &[u8]) -> Result<(Self, Option<Vec<u8>>), StorageError>;
}

/// SQLite's BLOB columns: the bytes as they came, whatever they are.
impl RawColumn for Vec<u8> {
    fn from_raw(
        _column: &'static str,
        raw: &[u8],
    ) -> Result<(Self, Option<Vec<u8>>), StorageError> {
        Ok((raw.to_vec(), None))
    }
}

/// NanoMDM's TEXT columns on PostgreSQL and MySQL: XML, binary plists rendered as XML.
#[cfg(any(feature = "postgres", feature = "mysql"))]
impl RawColumn for String {
    fn from_raw(column: &'static str, raw: &[u8]) -> Result<(Self, Option<Vec<u8>>), StorageError> {
        crate::common::plist_text(column, raw)
    }
}

/// A SQL backend: the store type itself implements it, supplying its connections, its SQL and
/// what genuinely differs. Every statement's binds are listed with it; a dialect with numbered
/// placeholders may use a value twice or not at all, MySQL's `?` takes them in order (the binds
/// are listed in the order its statements need).
///
/// The value types that differ between dialects are associated types, whose bounds travel with
/// the trait (no flow has to repeat them).
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The sqlx driver.
    type DB: Database<QueryResult: RowsAffected> + HasStatementCache;
    /// A raw property list as stored and read back: bytes in SQLite's BLOB columns, XML text in
    /// NanoMDM's PostgreSQL and MySQL TEXT columns.
    type Raw: for<'q> Encode<'q, Self::DB>
        + for<'r> Decode<'r, Self::DB>
        + Type<Self::DB>
        + Into<bytes::Bytes>
        + RawColumn
        + Default
        + Send
        + Sync;
    /// An INTEGER column read back (`token_update_tally`, `stale_token`): 64-bit on SQLite,
    /// 32-bit in NanoMDM's PostgreSQL and MySQL schemas.
    type Int: for<'r> Decode<'r, Self::DB> + Type<Self::DB> + Into<i64> + Send;
    /// `enrollment_queue.priority` as bound: the column's own width, so no dialect casts.
    type Priority: for<'q> Encode<'q, Self::DB> + Type<Self::DB> + From<i8> + Send + Sync;

    /// How bind parameters are written in an `IN (…)` list the flow builds.
    const PLACEHOLDER: Placeholder;
    /// How a write transaction starts (`BEGIN IMMEDIATE` on SQLite: the busy timeout applies
    /// when it starts, rather than a read lock failing to upgrade midway).
    const BEGIN_WRITE: &'static str;
    /// Whether a flow of one [`Step`] is atomic by itself, so that it runs without a
    /// transaction around it: one statement on PostgreSQL and MySQL; on SQLite, whose one-step
    /// flows are batches, because each batch carries its own `BEGIN IMMEDIATE` … `COMMIT` (the
    /// whole store call is one hand-off to the connection's thread).
    const ONE_STEP_IS_ATOMIC: bool;

    /// `devices` upserted by Authenticate (binds: id, identity certificate as PEM, serial
    /// number, raw message), clearing the bootstrap token.
    const AUTHENTICATE: &'static str;
    /// Resets the TokenUpdate tally of a device's enrollments (binds: device id).
    const RESET_TALLY: &'static str;
    /// A device channel's TokenUpdate on `devices` (binds: raw message, unlock token, unlock
    /// token again, id); changes no row for an unknown device.
    const TOKEN_UPDATE_DEVICE: &'static str;
    /// A row if the device exists (binds: id).
    const DEVICE_EXISTS: &'static str;
    /// A user channel's TokenUpdate on `users` (binds: id, device id, short name, long name, raw).
    const TOKEN_UPDATE_USER: &'static str;
    /// `enrollments` upserted by TokenUpdate (binds: id, device id, user id, type, topic, push
    /// magic, token hex), enabled, its tally counted.
    const TOKEN_UPDATE_ENROLLMENT: &'static str;
    /// UserAuthenticate's first message on `users` (binds as [`Self::TOKEN_UPDATE_USER`]).
    const USER_AUTHENTICATE: &'static str;
    /// UserAuthenticate's digest response on `users` (binds as [`Self::TOKEN_UPDATE_USER`]).
    const USER_AUTHENTICATE_DIGEST: &'static str;
    /// Marks an enrollment seen (binds: id).
    const TOUCH_LAST_SEEN: &'static str;
    /// Disables a device channel and its user channels (binds: device id).
    const DISABLE_DEVICE: &'static str;
    /// Disables one user channel (binds: id).
    const DISABLE_USER: &'static str;
    /// An enrollment's TokenUpdate tally (binds: id).
    const TALLY: &'static str;
    /// Stores the bootstrap token (binds: base64 or NULL, id); changes no row for an unknown
    /// device.
    const STORE_BOOTSTRAP_TOKEN: &'static str;
    /// The stored bootstrap token (binds: id).
    const BOOTSTRAP_TOKEN: &'static str;

    /// A `commands` row (binds: uuid, request type, the command as stored, its exact bytes when
    /// they differ from what is stored).
    const INSERT_COMMAND: &'static str;
    /// The whole of `enqueue_command` as one atomic step, where the dialect can (binds: uuid,
    /// request type, the command as stored, its exact bytes, priority, then the ids as `{ids}`
    /// from the sixth parameter on; returns the ids queued). It must refuse a CommandUUID already
    /// stored with a unique violation and keep no command when no id is known.
    const ENQUEUE_ONE_STEP: Option<&'static str>;
    /// On a dialect without `INSERT … RETURNING`, the ids among `{ids}` that the command is
    /// queued for (binds: uuid, then the ids from the second parameter on); the flow asks only
    /// when [`Self::QUEUE_COMMAND`] queued fewer than it was given.
    const QUEUED_IDS: Option<&'static str>;
    /// Queues the command for the known ids among `{ids}` (binds: uuid, priority, the ids),
    /// returning the ids queued unless [`Self::QUEUED_IDS`] is given.
    const QUEUE_COMMAND: &'static str;
    /// The next command (binds: id, `NotNow`, whether to skip NotNow'd commands; columns:
    /// uuid, request type, the command as stored, its exact bytes if kept apart).
    const NEXT_COMMAND: &'static str;
    /// A command-channel request's report and the next command in one statement (or one
    /// batch), where the dialect has one; `None` runs the report's steps, then
    /// [`Self::NEXT_COMMAND`].
    const REPORT_AND_NEXT: Option<ReportAndNext>;
    /// A NotNow report, stored only while the command waits in the enrollment's queue.
    const STORE_NOT_NOW: &'static [Step];
    /// A final report: the command leaves the queue and, only if it was queued, the result is
    /// stored.
    const STORE_FINAL: &'static [Step];
    /// A final report in delete mode: the queue entry and result go, and the command with them
    /// when nothing refers to it any more.
    const DELETE_FINAL: &'static [Step];
    /// A device channel's active queue entries and its user channels' (binds: device id;
    /// columns: id, uuid), locked where the dialect locks.
    const QUEUED_FOR_DEVICE: &'static str;
    /// One user channel's active queue entries (binds: id; columns: id, uuid).
    const QUEUED_FOR_USER: &'static str;
    /// Leaves a device channel's and its user channels' queues (binds: device id).
    const CLEAR_DEVICE_QUEUE: &'static str;
    /// Leaves one user channel's queue (binds: id).
    const CLEAR_USER_QUEUE: &'static str;
    /// In delete mode, removes one queue entry, its result and the orphaned command (args:
    /// [`Arg::Id`], [`Arg::Uuid`]).
    const DELETE_QUEUED: &'static [Step];
    /// Push info of the enabled enrollments among `{ids}` (binds: the ids; columns: id, topic,
    /// push magic, token hex).
    const PUSH_INFO: &'static str;
    /// A push certificate's `stale_token` (binds: topic).
    const PUSH_CERT_STALE_TOKEN: &'static str;
    /// A push certificate (binds: topic; columns: cert, key, stale token).
    const PUSH_CERT: &'static str;
    /// Stores a push certificate, counting up its stale token (binds: topic, cert, key).
    const STORE_PUSH_CERT: &'static str;
    /// certauth's statements.
    const CERT_AUTH: CertAuthSql;
    /// The migration export's devices (columns: Authenticate, TokenUpdate or NULL), oldest
    /// first.
    const MIGRATION_DEVICES: &'static str;
    /// The migration export's user channels (columns: TokenUpdate), oldest first.
    const MIGRATION_USERS: &'static str;

    /// A row if the enrollment exists (binds: id): an import writes only for one whose
    /// check-ins are stored.
    const IMPORT_ENROLLMENT_EXISTS: &'static str;
    /// A stored command, for an import to compare its bytes with (binds: uuid; columns: the
    /// command as stored, its exact bytes when kept apart or NULL).
    const IMPORT_HELD_COMMAND: &'static str;
    /// Sets an imported enrollment's tally, enabled flag and last-seen time (binds: tally,
    /// enabled, last seen in microseconds since the epoch or NULL to keep it, id); changes no
    /// row for an unknown enrollment.
    const IMPORT_STATE: &'static str;
    /// Whether [`Self::IMPORT_STATE`] runs after [`Self::IMPORT_ENROLLMENT_EXISTS`] rather than
    /// alone (MySQL's import has always looked the enrollment up first).
    const IMPORT_STATE_LOOKS_UP_FIRST: bool;
    /// Sets a device's unlock token, keeping the time of the first (binds: token, device id).
    const IMPORT_UNLOCK_TOKEN: &'static str;
    /// Where a queue entry that is already there cannot be told from the insert's count (MySQL:
    /// found rows), a row if it is, locking it (binds: id, uuid); the flow then runs
    /// [`Self::IMPORT_QUEUE`] only when there is none.
    const IMPORT_QUEUED: Option<&'static str>;
    /// Queues a command at priority 0 (binds: id, uuid); without [`Self::IMPORT_QUEUED`] it must
    /// change no row when the command is queued for the enrollment already.
    const IMPORT_QUEUE: &'static str;
    /// An imported NotNow mark, kept if one is stored (binds: id, uuid, `NotNow`, raw report).
    const IMPORT_NOT_NOW: &'static str;
    /// An imported result, replacing a stored one (binds: id, uuid, status, raw report).
    const IMPORT_RESULT: &'static str;
    /// A batched import's statements.
    const IMPORT_BATCH: ImportBatchSql;

    // Inspection. "Waiting" is NanoMDM's meaning: a queue row that is `active` and has no
    // result or a `NotNow` one. (Our stores also clear `active` on a final result; a row NanoMDM
    // answered stays active with a final result, and is not waiting.) Times come back as whole
    // seconds since the Unix epoch, computed by the database from its own time columns (NULL
    // where NanoMDM's nullable columns are). No statement returns a secret.

    /// A page of enrollments in keyset order (binds: the id to start after, `''` for the first
    /// page; then type, enabled, serial number, device id — each NULL when not filtered on; then
    /// how many rows at most). Columns: id, type, device id, enabled, the device's serial number,
    /// last seen, created, updated (epoch seconds). Ordered by `enrollments.id` and reading
    /// through its primary key from the start id, never by offset.
    const LIST_ENROLLMENTS: &'static str;
    /// One enrollment (binds: id; columns as [`Self::LIST_ENROLLMENTS`]).
    const ENROLLMENT: &'static str;
    /// An enrollment's waiting commands in delivery order, the order of [`Self::NEXT_COMMAND`]
    /// (binds: id, `NotNow`, how many at most). Columns: uuid, request type, the result's status
    /// (`NotNow`) or NULL, enqueued (epoch seconds).
    const QUEUED_COMMANDS: &'static str;
    /// Takes one waiting command out of one enrollment's queue, keeping its result (binds: id,
    /// uuid, `NotNow`); changes a row exactly when it was waiting.
    const REMOVE_QUEUED: &'static str;
    /// Takes every waiting command out of one enrollment's queue — not its user channels' —
    /// keeping results (binds: id, `NotNow`); changes the rows that were waiting.
    const CLEAR_ENROLLMENT_QUEUE: &'static str;
    /// In delete mode, whether a command waits in one enrollment's queue (binds: id, uuid,
    /// `NotNow`; columns: uuid), locked where the dialect locks; the flow then runs
    /// [`Self::DELETE_QUEUED`] on it.
    const WAITING_ENTRY: &'static str;
    /// In delete mode, the commands waiting in one enrollment's queue (binds: id, `NotNow`;
    /// columns: uuid), locked where the dialect locks.
    const WAITING_ENTRIES: &'static str;
    /// A command and every enrollment it was queued for or answered by, ordered by enrollment id
    /// (binds: uuid, [`Self::COMMAND_UUID_BINDS`] times). One row per enrollment, or one row with
    /// NULL enrollment columns for a command with none; no row for an unknown command. Columns:
    /// request type, command created (epoch seconds), enrollment id, the queue row's `active`
    /// (NULL without one), the result's status (NULL without one), updated (the result's
    /// `updated_at`, else the queue row's `created_at`; epoch seconds), the raw report as stored.
    const COMMAND: &'static str;
    /// How many placeholders [`Self::COMMAND`] binds the uuid to.
    const COMMAND_UUID_BINDS: usize;
    /// Retention: up to a limit of the oldest commands enqueued before a cut-off that wait in no
    /// queue, locked where the dialect locks (binds: the cut-off in epoch seconds, `NotNow`, the
    /// limit; columns: uuid). Walks the `commands.created_at` index from the oldest.
    const RETENTION_DUE: &'static str;
    /// Retention: deletes the commands `{ids}` (bind parameters from the first on) with their
    /// queue rows and results, run in order in the transaction that read them with
    /// [`Self::RETENTION_DUE`]. Explicit deletes: no reliance on foreign-key actions.
    const RETENTION_DELETE: &'static [&'static str];

    /// The store's connections.
    fn connections(&self) -> &Connections<Self::DB>;
    /// `CertAuthStore::bind_cert_hash` serialized as this dialect can: the checks and the insert
    /// of [`crate::flows::Sql::bind_cert_hash`] must not interleave with another bind of the same
    /// channel or hash.
    fn bind_cert_hash_serialized(
        &self,
        device_id: &str,
        hash: &str,
        mode: CertBindMode,
    ) -> impl Future<Output = Result<CertBinding, StorageError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::Placeholder;

    #[test]
    fn rows_number_their_parameters_on_across_rows() {
        let dollar = Placeholder::Dollar.rows("(?, ?, 0)", 2);
        assert_eq!(dollar, "($1, $2, 0), ($3, $4, 0)");
        let numbered = Placeholder::NumberedQuestion.rows("(?, ?, ?)", 2);
        assert_eq!(numbered, "(?1, ?2, ?3), (?4, ?5, ?6)");
        let question = Placeholder::Question.rows("(?, now())", 3);
        assert_eq!(question, "(?, now()), (?, now()), (?, now())");
    }
}
