//! Every store method's flow, written once for all dialects: which statements run, in which
//! order, in which transaction, how rows decode, how errors map and when a conflict is retried.
//! A dialect ([`Dialect`]) supplies only the SQL text and what genuinely differs.
//!
//! The flows are methods of [`Sql`], one generic `impl` whose single `where` clause names the
//! value types the flows bind and read (every dialect's driver supports them), and
//! [`storage_traits!`] implements `mdm_storage`'s traits on a concrete store by calling them.
//! Runtime `sqlx::query()` only, per dialect driver: no `Any` driver, no `query!` macros.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use mdm_enrollment::{EnrollId, EnrollmentId};
use mdm_proto::{
    Authenticate, BootstrapToken, Command, CommandReport, PushInfo, Raw, Secret, SetBootstrapToken,
    Status, TokenUpdate, UserAuthenticate,
};
use mdm_storage::{
    CertBindMode, CertBinding, CheckInWrite, CommandDelivery, DeliveryState, EnrollmentFilter,
    EnrollmentPage, ImportedEnrollment, ImportedEnrollmentState, ImportedQueue, ImportedQueueItem,
    QueueState, QueuedCommand, ReportOutcome, StorageError, StoredCommand, StoredEnrollment,
    StoredPushCert,
};
use sqlx::query::Query;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row,
    Transaction, Type,
};

use crate::common::{self, db};
use crate::dialect::{Arg, Dialect, Effect, RawColumn as _, RowsAffected as _, Step};
use crate::pool::{OnAbandon, PooledConn};

/// How often a transaction that lost a deadlock or a serialization conflict is run again.
const CONFLICT_RETRIES: usize = 5;

/// Rows in one multi-row statement of a batched import: with four values a row, far below every
/// dialect's limit on bind parameters.
const IMPORT_ROWS: usize = 250;

/// The flows, on the store `S`.
pub(crate) struct Sql<'a, S>(pub &'a S);

/// A value a batched import binds (see [`Sql::insert_rows`]).
enum Val<'a, R> {
    Text(&'a str),
    Bytes(Option<&'a [u8]>),
    Raw(&'a R),
}

/// A command a batched import stores: the command, as stored, its exact bytes when they differ.
type NewCommand<'a, R> = (&'a Raw<Command>, R, Option<Vec<u8>>);

/// What a batched import writes for one enrollment, once every command in it is checked.
struct EnrollmentPlan<'a, R> {
    /// Commands to store.
    commands: Vec<NewCommand<'a, R>>,
    /// NotNow reports as stored, by the queue item's position.
    not_now: Vec<Option<R>>,
    /// Result reports as stored, by the result's position.
    results: Vec<R>,
}

/// The values a report's [`Step`]s bind.
struct ReportArgs<'a, R> {
    id: &'a str,
    uuid: &'a str,
    status: &'a str,
    /// The raw report; empty where no step binds it (delete mode).
    result: &'a R,
}

impl<'a, S> Sql<'a, S>
where
    S: Dialect,
    <S::DB as Database>::Arguments: IntoArguments<S::DB>,
    for<'c> &'c mut <S::DB as Database>::Connection: Executor<'c, Database = S::DB>,
    for<'q> &'q str: Encode<'q, S::DB> + Type<S::DB>,
    for<'q> Option<&'q str>: Encode<'q, S::DB> + Type<S::DB>,
    for<'q> &'q [u8]: Encode<'q, S::DB> + Type<S::DB>,
    for<'q> Option<&'q [u8]>: Encode<'q, S::DB> + Type<S::DB>,
    bool: for<'q> Encode<'q, S::DB> + for<'r> Decode<'r, S::DB> + Type<S::DB>,
    Option<bool>: for<'q> Encode<'q, S::DB> + Type<S::DB>,
    i64: for<'q> Encode<'q, S::DB> + for<'r> Decode<'r, S::DB> + Type<S::DB>,
    Option<i64>: for<'q> Encode<'q, S::DB> + Type<S::DB>,
    String: for<'r> Decode<'r, S::DB> + Type<S::DB>,
    Vec<u8>: for<'r> Decode<'r, S::DB> + Type<S::DB>,
    usize: ColumnIndex<<S::DB as Database>::Row>,
{
    /// A connection for a call that writes, back to sqlx unless released.
    pub(crate) async fn write_conn(&self) -> Result<PooledConn<'a, S::DB>, StorageError> {
        self.0.connections().writer.acquire(OnAbandon::Return).await
    }

    /// A writer connection for a batch that opens its own transaction: closed unless released
    /// (see [`OnAbandon::Close`]).
    async fn write_batch_conn(&self) -> Result<PooledConn<'a, S::DB>, StorageError> {
        self.0.connections().writer.acquire(OnAbandon::Close).await
    }

    /// A connection for a call that only reads.
    async fn read_conn(&self) -> Result<PooledConn<'a, S::DB>, StorageError> {
        self.0.connections().reader.acquire(OnAbandon::Return).await
    }

    /// A write transaction on `conn`, begun as the dialect begins one. A transaction dropped
    /// before its commit is rolled back when sqlx next uses the connection, and the connection
    /// (not released) goes back to sqlx, which does that at once.
    pub(crate) async fn begin_write<'c>(
        conn: &'c mut PooledConn<'_, S::DB>,
    ) -> Result<Transaction<'c, S::DB>, StorageError> {
        // As an owned `SqlStr`: a `&'static str` here trips the compiler's proof that the
        // calling flow's future is `Send` ("`SqlSafeStr` is not general enough").
        let begin = sqlx::SqlSafeStr::into_sql_str(S::BEGIN_WRITE);
        sqlx::Connection::begin_with(conn.conn(), begin)
            .await
            .map_err(db)
    }

    /// Runs `sql` with `binds` bound in order on a writer connection; how many rows it changed.
    async fn execute_write(&self, sql: &'static str, binds: &[&str]) -> Result<u64, StorageError> {
        let mut conn = self.write_conn().await?;
        let changed = Self::execute(conn.conn(), sql, binds).await?;
        conn.release();
        Ok(changed)
    }

    /// Whether `sql`, with `binds` bound in order, returns a row, on a reader connection.
    async fn exists_read(&self, sql: &'static str, binds: &[&str]) -> Result<bool, StorageError> {
        let mut conn = self.read_conn().await?;
        let exists = Self::exists(conn.conn(), sql, binds).await?;
        conn.release();
        Ok(exists)
    }

    /// The first column of the row `sql` returns for `bind`, if any, on a reader connection.
    async fn fetch_value_read<T>(
        &self,
        sql: &'static str,
        bind: &str,
    ) -> Result<Option<T>, StorageError>
    where
        T: for<'r> Decode<'r, S::DB> + Type<S::DB>,
    {
        let mut conn = self.read_conn().await?;
        let value = Self::fetch_value(conn.conn(), sql, bind).await?;
        conn.release();
        Ok(value)
    }

    /// The row `query` returns, if any, on a reader connection.
    async fn read_optional(
        &self,
        query: Query<'_, S::DB, <S::DB as Database>::Arguments>,
    ) -> Result<Option<<S::DB as Database>::Row>, StorageError> {
        let mut conn = self.read_conn().await?;
        let row = query.fetch_optional(conn.conn()).await.map_err(db)?;
        conn.release();
        Ok(row)
    }

    /// Every row `query` returns, on a reader connection.
    async fn read_all(
        &self,
        query: Query<'_, S::DB, <S::DB as Database>::Arguments>,
    ) -> Result<Vec<<S::DB as Database>::Row>, StorageError> {
        let mut conn = self.read_conn().await?;
        let rows = query.fetch_all(conn.conn()).await.map_err(db)?;
        conn.release();
        Ok(rows)
    }

    /// Whether `sql`, with `binds` bound in order, returns a row.
    async fn exists<'e, E>(
        executor: E,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<bool, StorageError>
    where
        E: Executor<'e, Database = S::DB>,
    {
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(*b);
        }
        Ok(query.fetch_optional(executor).await.map_err(db)?.is_some())
    }

    /// Runs `sql` with `binds` bound in order; how many rows it changed.
    async fn execute<'e, E>(
        executor: E,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<u64, StorageError>
    where
        E: Executor<'e, Database = S::DB>,
    {
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(*b);
        }
        let done = query.execute(executor).await.map_err(db)?;
        Ok(done.rows_affected())
    }

    /// The first column of the row `sql` returns for `bind`, if there is a row.
    async fn fetch_value<'e, E, T>(
        executor: E,
        sql: &'static str,
        bind: &str,
    ) -> Result<Option<T>, StorageError>
    where
        E: Executor<'e, Database = S::DB>,
        T: for<'r> Decode<'r, S::DB> + Type<S::DB>,
    {
        let row = sqlx::query(sql)
            .bind(bind)
            .fetch_optional(executor)
            .await
            .map_err(db)?;
        row.map(|row| row.try_get(0).map_err(db)).transpose()
    }

    /// Runs `steps` in order on `conn` (see [`Effect`]): whether the flow ran to its end (and,
    /// with a closing [`Effect::Stored`] step, stored its result).
    async fn run_steps(
        conn: &mut <S::DB as Database>::Connection,
        steps: &[Step],
        args: &ReportArgs<'_, S::Raw>,
    ) -> Result<bool, StorageError> {
        for step in steps {
            let mut query = sqlx::query(step.sql);
            for arg in step.args {
                query = match arg {
                    Arg::Id => query.bind(args.id),
                    Arg::Uuid => query.bind(args.uuid),
                    Arg::Status => query.bind(args.status),
                    Arg::Result => query.bind(args.result),
                };
            }
            match step.effect {
                Effect::Run => {
                    query.execute(&mut *conn).await.map_err(db)?;
                }
                Effect::Guard => {
                    let done = query.execute(&mut *conn).await.map_err(db)?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                }
                Effect::Stored => {
                    // All rows, not the first: a batch must run on to its COMMIT.
                    let rows = query.fetch_all(&mut *conn).await.map_err(db)?;
                    return Ok(!rows.is_empty());
                }
            }
        }
        Ok(true)
    }

    /// Runs a transaction (`attempt`) again while it loses a deadlock or serialization
    /// conflict, up to [`CONFLICT_RETRIES`] times. (SQLite reports neither: one writer.)
    pub(crate) async fn retry_conflicts<T, F, Fut>(mut attempt: F) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StorageError>>,
    {
        let mut retries = 0;
        loop {
            match attempt().await {
                Err(e) if retries < CONFLICT_RETRIES && common::is_conflict(&e) => retries += 1,
                outcome => return outcome,
            }
        }
    }

    /// `CheckInStore::store_authenticate`: the `devices` row upserted, then the TokenUpdate tally
    /// of the device's enrollments reset, in one transaction.
    pub(crate) async fn store_authenticate(
        &self,
        id: &EnrollId,
        msg: &Authenticate,
        raw: &[u8],
        identity_cert_der: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        common::device_only(id)?;
        let (raw, _) = S::Raw::from_raw("devices.authenticate", raw)?;
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        Self::authenticate_in(&mut tx, id, msg, &raw, identity_cert_der).await?;
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(())
    }

    /// [`Self::store_authenticate`]'s statements on `conn` (`raw` as stored).
    async fn authenticate_in(
        conn: &mut <S::DB as Database>::Connection,
        id: &EnrollId,
        msg: &Authenticate,
        raw: &S::Raw,
        identity_cert_der: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        // `devices.identity_cert` holds PEM, as NanoMDM stores it.
        let identity_cert = identity_cert_der.map(|der| mdm_proto::pem::encode("CERTIFICATE", der));
        sqlx::query(S::AUTHENTICATE)
            .bind(id.id().as_str())
            .bind(identity_cert.as_deref())
            .bind(msg.serial_number.as_deref())
            .bind(raw)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Self::execute(&mut *conn, S::RESET_TALLY, &[id.id().as_str()]).await?;
        Ok(())
    }

    /// A `users` row upserted by `sql` (TokenUpdate or UserAuthenticate on a user channel).
    async fn upsert_user(
        conn: &mut <S::DB as Database>::Connection,
        sql: &'static str,
        id: &str,
        device_id: &str,
        enrollment: &mdm_proto::Enrollment,
        raw: &S::Raw,
    ) -> Result<(), StorageError> {
        sqlx::query(sql)
            .bind(id)
            .bind(device_id)
            .bind(enrollment.user_short_name.as_deref())
            .bind(enrollment.user_long_name.as_deref())
            .bind(raw)
            .execute(conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// `CheckInStore::store_token_update`: the device's or user's row, then the enrollment's, in
    /// one transaction; an unknown device is [`StorageError::UnknownEnrollment`].
    pub(crate) async fn store_token_update(
        &self,
        id: &EnrollId,
        msg: &TokenUpdate,
        raw: &[u8],
    ) -> Result<(), StorageError> {
        let raw = Self::token_update_raw(id, raw)?;
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        Self::token_update_in(&mut tx, id, msg, &raw).await?;
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(())
    }

    /// A TokenUpdate's bytes as its channel's column stores them.
    fn token_update_raw(id: &EnrollId, raw: &[u8]) -> Result<S::Raw, StorageError> {
        let column = match id.parent() {
            None => "devices.token_update",
            Some(_) => "users.token_update",
        };
        Ok(S::Raw::from_raw(column, raw)?.0)
    }

    /// [`Self::store_token_update`]'s statements on `conn` (`raw` as stored): an unknown device
    /// is [`StorageError::UnknownEnrollment`], with nothing written.
    async fn token_update_in(
        conn: &mut <S::DB as Database>::Connection,
        id: &EnrollId,
        msg: &TokenUpdate,
        raw: &S::Raw,
    ) -> Result<(), StorageError> {
        let user_id = match id.parent() {
            None => {
                let unlock_token = msg
                    .unlock_token
                    .as_ref()
                    .map(|t| t.expose().as_slice())
                    .filter(|t| !t.is_empty());
                let updated = sqlx::query(S::TOKEN_UPDATE_DEVICE)
                    .bind(raw)
                    .bind(unlock_token)
                    .bind(unlock_token)
                    .bind(id.id().as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                // Rows matched, not rows changed, on every dialect (sqlx asks MySQL for
                // CLIENT_FOUND_ROWS).
                if updated.rows_affected() == 0 {
                    return Err(StorageError::UnknownEnrollment(id.id().clone()));
                }
                None
            }
            Some(parent) => {
                if !Self::exists(&mut *conn, S::DEVICE_EXISTS, &[parent.as_str()]).await? {
                    return Err(StorageError::UnknownEnrollment(parent.clone()));
                }
                // An UnlockToken belongs to the device channel; one on a user channel is not
                // stored (as NanoMDM).
                let user = id.id().as_str();
                Self::upsert_user(
                    &mut *conn,
                    S::TOKEN_UPDATE_USER,
                    user,
                    parent.as_str(),
                    &msg.enrollment,
                    raw,
                )
                .await?;
                Some(user)
            }
        };
        sqlx::query(S::TOKEN_UPDATE_ENROLLMENT)
            .bind(id.id().as_str())
            .bind(id.device_channel_id().as_str())
            .bind(user_id)
            .bind(id.kind().as_str())
            .bind(msg.push.topic.as_str())
            .bind(msg.push.push_magic.as_str())
            .bind(msg.push.token_hex().as_str())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// `CheckInStore::store_user_authenticate`: the first message of the exchange, or the one
    /// answering the digest challenge, each in its own column (as NanoMDM).
    pub(crate) async fn store_user_authenticate(
        &self,
        id: &EnrollId,
        msg: &UserAuthenticate,
        raw: &[u8],
    ) -> Result<(), StorageError> {
        let raw = Self::user_authenticate_raw(msg, raw)?;
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        Self::user_authenticate_in(&mut tx, id, msg, &raw).await?;
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(())
    }

    /// A UserAuthenticate's bytes as its column stores them.
    fn user_authenticate_raw(msg: &UserAuthenticate, raw: &[u8]) -> Result<S::Raw, StorageError> {
        let column = if msg.digest_response.is_some() {
            "users.user_authenticate_digest"
        } else {
            "users.user_authenticate"
        };
        Ok(S::Raw::from_raw(column, raw)?.0)
    }

    /// [`Self::store_user_authenticate`]'s statements on `conn` (`raw` as stored): an unknown
    /// device is [`StorageError::UnknownEnrollment`], with nothing written.
    async fn user_authenticate_in(
        conn: &mut <S::DB as Database>::Connection,
        id: &EnrollId,
        msg: &UserAuthenticate,
        raw: &S::Raw,
    ) -> Result<(), StorageError> {
        let device_id = id.device_channel_id().as_str();
        let sql = if msg.digest_response.is_some() {
            S::USER_AUTHENTICATE_DIGEST
        } else {
            S::USER_AUTHENTICATE
        };
        if !Self::exists(&mut *conn, S::DEVICE_EXISTS, &[device_id]).await? {
            return Err(StorageError::UnknownEnrollment(EnrollmentId::new(
                device_id,
            )));
        }
        Self::upsert_user(
            &mut *conn,
            sql,
            id.id().as_str(),
            device_id,
            &msg.enrollment,
            raw,
        )
        .await?;
        Self::execute(&mut *conn, S::TOUCH_LAST_SEEN, &[id.id().as_str()]).await?;
        Ok(())
    }

    /// `CheckInStore::store_check_ins`: every check-in in one transaction, each by its own
    /// flow's statements. One that fails before writing (a user channel's Authenticate, bytes
    /// its column cannot hold, an unknown device) gets its error and the rest go on; a database
    /// error fails the call and the transaction is rolled back.
    pub(crate) async fn store_check_ins(
        &self,
        check_ins: &[CheckInWrite<'_>],
    ) -> Result<Vec<Result<(), StorageError>>, StorageError> {
        if check_ins.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        let mut outcomes = Vec::with_capacity(check_ins.len());
        for check_in in check_ins {
            // Refusals found before a statement runs are the check-in's own: it goes on.
            let written = match *check_in {
                CheckInWrite::Authenticate {
                    id,
                    msg,
                    raw,
                    identity_cert_der,
                } => match common::device_only(id)
                    .and_then(|()| S::Raw::from_raw("devices.authenticate", raw))
                {
                    Err(e) => {
                        outcomes.push(Err(e));
                        continue;
                    }
                    Ok((raw, _)) => {
                        Self::authenticate_in(&mut tx, id, msg, &raw, identity_cert_der).await
                    }
                },
                CheckInWrite::TokenUpdate { id, msg, raw } => {
                    match Self::token_update_raw(id, raw) {
                        Err(e) => {
                            outcomes.push(Err(e));
                            continue;
                        }
                        Ok(raw) => Self::token_update_in(&mut tx, id, msg, &raw).await,
                    }
                }
                CheckInWrite::UserAuthenticate { id, msg, raw } => {
                    match Self::user_authenticate_raw(msg, raw) {
                        Err(e) => {
                            outcomes.push(Err(e));
                            continue;
                        }
                        Ok(raw) => Self::user_authenticate_in(&mut tx, id, msg, &raw).await,
                    }
                }
            };
            match written {
                // Found by a lookup, before anything of this check-in was written.
                Err(e @ StorageError::UnknownEnrollment(_)) => outcomes.push(Err(e)),
                // A statement failed, which may have ended the transaction: nothing is kept.
                Err(e) => return Err(e),
                Ok(()) => outcomes.push(Ok(())),
            }
        }
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(outcomes)
    }

    /// `CheckInStore::disable`: a device channel takes its user channels with it.
    pub(crate) async fn disable(&self, id: &EnrollId) -> Result<(), StorageError> {
        let sql = match id.parent() {
            None => S::DISABLE_DEVICE,
            Some(_) => S::DISABLE_USER,
        };
        self.execute_write(sql, &[id.id().as_str()]).await?;
        Ok(())
    }

    /// `TokenUpdateTallyStore::retrieve_token_update_tally`: 0 for an unknown enrollment.
    pub(crate) async fn retrieve_token_update_tally(
        &self,
        id: &EnrollId,
    ) -> Result<u32, StorageError> {
        match self
            .fetch_value_read::<S::Int>(S::TALLY, id.id().as_str())
            .await?
        {
            None => Ok(0),
            Some(tally) => common::tally(tally.into()),
        }
    }

    /// `BootstrapTokenStore::store_bootstrap_token`, marking the device seen.
    pub(crate) async fn store_bootstrap_token(
        &self,
        id: &EnrollId,
        msg: &SetBootstrapToken,
    ) -> Result<(), StorageError> {
        common::device_only(id)?;
        let b64 = common::encode_bootstrap_token(
            msg.bootstrap_token.as_ref().map(|t| t.expose().as_slice()),
        );
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        let binds = [b64.as_deref(), Some(id.id().as_str())];
        let mut query = sqlx::query(S::STORE_BOOTSTRAP_TOKEN);
        for b in binds {
            query = query.bind(b);
        }
        let updated = query.execute(&mut *tx).await.map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StorageError::UnknownEnrollment(id.id().clone()));
        }
        Self::execute(&mut *tx, S::TOUCH_LAST_SEEN, &[id.id().as_str()]).await?;
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(())
    }

    /// `BootstrapTokenStore::retrieve_bootstrap_token`.
    pub(crate) async fn retrieve_bootstrap_token(
        &self,
        id: &EnrollId,
    ) -> Result<Option<BootstrapToken>, StorageError> {
        common::device_only(id)?;
        let stored = self
            .fetch_value_read::<Option<String>>(S::BOOTSTRAP_TOKEN, id.id().as_str())
            .await?;
        let Some(Some(b64)) = stored else {
            return Ok(None);
        };
        Ok(Some(BootstrapToken::new(Secret::new(
            common::decode_bootstrap_token(&b64)?,
        ))))
    }

    /// `CommandQueue::enqueue_command`: the command, then its queue entries for the known ids,
    /// atomically; with no known id no command is kept (its CommandUUID stays free). Up to
    /// [`common::IN_LIST_CHUNK`] ids go in the dialect's one step when it has one; otherwise, and
    /// for more ids, in a transaction with an `IN` list per chunk, rolled back when nothing was
    /// queued.
    pub(crate) async fn enqueue_command(
        &self,
        ids: &[EnrollmentId],
        command: &Raw<Command>,
        priority: i8,
    ) -> Result<HashMap<EnrollmentId, StorageError>, StorageError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let uuid = command.command_uuid.as_str();
        let (stored, exact) = S::Raw::from_raw("commands.command", command.bytes())?;
        let priority = S::Priority::from(priority);
        let mut queued: HashSet<String> = HashSet::new();
        if let (Some(sql), true) = (S::ENQUEUE_ONE_STEP, ids.len() <= common::IN_LIST_CHUNK) {
            // The whole call in one atomic step (one round trip, or one hand-off on SQLite).
            let sql = sql.replace("{ids}", &S::PLACEHOLDER.list(6, ids.len()));
            let mut query = sqlx::query(AssertSqlSafe(sql))
                .bind(uuid)
                .bind(command.request_type.as_str())
                .bind(&stored)
                .bind(exact.as_deref())
                .bind(&priority);
            for id in ids {
                query = query.bind(id.as_str());
            }
            let mut conn = self.write_batch_conn().await?;
            let rows = query.fetch_all(conn.conn()).await;
            let rows = common::command_inserted(rows, uuid)?;
            conn.release();
            for row in rows {
                queued.insert(row.try_get(0).map_err(db)?);
            }
            return Ok(Self::unknown(ids, &queued));
        }
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        let inserted = sqlx::query(S::INSERT_COMMAND)
            .bind(uuid)
            .bind(command.request_type.as_str())
            .bind(&stored)
            .bind(exact.as_deref())
            .execute(&mut *tx)
            .await;
        common::command_inserted(inserted, uuid)?;
        for chunk in ids.chunks(common::IN_LIST_CHUNK) {
            let sql = S::QUEUE_COMMAND.replace("{ids}", &S::PLACEHOLDER.list(3, chunk.len()));
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(uuid).bind(&priority);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            let Some(queued_ids) = S::QUEUED_IDS else {
                for row in query.fetch_all(&mut *tx).await.map_err(db)? {
                    queued.insert(row.try_get(0).map_err(db)?);
                }
                continue;
            };
            // Without RETURNING: every id of the chunk got the command when as many rows were
            // inserted as it has ids (the usual case, no second statement); otherwise ask which.
            let inserted = query.execute(&mut *tx).await.map_err(db)?.rows_affected();
            let distinct: HashSet<&str> = chunk.iter().map(EnrollmentId::as_str).collect();
            if inserted == distinct.len() as u64 {
                queued.extend(distinct.into_iter().map(str::to_owned));
            } else if inserted > 0 {
                let sql = queued_ids.replace("{ids}", &S::PLACEHOLDER.list(2, chunk.len()));
                let mut query = sqlx::query(AssertSqlSafe(sql)).bind(uuid);
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                for row in query.fetch_all(&mut *tx).await.map_err(db)? {
                    queued.insert(row.try_get(0).map_err(db)?);
                }
            }
        }
        if queued.is_empty() {
            tx.rollback().await.map_err(db)?;
            conn.release();
        } else {
            tx.commit().await.map_err(db)?;
            conn.release();
        }
        Ok(Self::unknown(ids, &queued))
    }

    /// The ids among `ids` not `queued`, each as [`StorageError::UnknownEnrollment`].
    fn unknown(
        ids: &[EnrollmentId],
        queued: &HashSet<String>,
    ) -> HashMap<EnrollmentId, StorageError> {
        ids.iter()
            .filter(|id| !queued.contains(id.as_str()))
            .map(|id| (id.clone(), StorageError::UnknownEnrollment(id.clone())))
            .collect()
    }

    /// `CommandQueue::store_command_report`. A report without a CommandUUID (Idle) only marks the
    /// enrollment seen; otherwise the dialect's [`Step`]s for the status run in one transaction
    /// (or, where one statement is atomic and the dialect needs only one, as that statement),
    /// retried when they lose a conflict.
    pub(crate) async fn store_command_report(
        &self,
        id: &EnrollId,
        report: &CommandReport,
        raw: &[u8],
    ) -> Result<ReportOutcome, StorageError> {
        let uuid = match (&report.status, report.command_uuid.as_deref()) {
            (Status::Idle, _) | (_, None) => {
                self.execute_write(S::TOUCH_LAST_SEEN, &[id.id().as_str()])
                    .await?;
                return Ok(if report.status == Status::Idle {
                    ReportOutcome::Idle
                } else {
                    // Only Idle may come without a CommandUUID (mdm-proto refuses the rest).
                    ReportOutcome::NotQueued
                });
            }
            (_, Some(uuid)) => uuid,
        };
        let (steps, done, result) =
            if self.0.connections().delete_commands && report.status.is_final() {
                // Results are not kept in delete mode.
                (S::DELETE_FINAL, ReportOutcome::Final, S::Raw::default())
            } else {
                let (result, _) = S::Raw::from_raw("command_results.result", raw)?;
                if report.status == Status::NotNow {
                    (S::STORE_NOT_NOW, ReportOutcome::NotNow, result)
                } else {
                    (S::STORE_FINAL, ReportOutcome::Final, result)
                }
            };
        let args = ReportArgs {
            id: id.id().as_str(),
            uuid,
            status: report.status.as_str(),
            result: &result,
        };
        let ran = Self::retry_conflicts(|| async {
            if S::ONE_STEP_IS_ATOMIC && steps.len() == 1 {
                let mut conn = self.write_batch_conn().await?;
                let ran = Self::run_steps(conn.conn(), steps, &args).await?;
                conn.release();
                return Ok(ran);
            }
            let mut conn = self.write_conn().await?;
            let mut tx = Self::begin_write(&mut conn).await?;
            let ran = Self::run_steps(&mut *tx, steps, &args).await?;
            tx.commit().await.map_err(db)?;
            conn.release();
            Ok(ran)
        })
        .await?;
        Ok(if ran { done } else { ReportOutcome::NotQueued })
    }

    /// `CommandQueue::retrieve_next_command`: the command's bytes exactly as enqueued.
    pub(crate) async fn retrieve_next_command(
        &self,
        id: &EnrollId,
        skip_not_now: bool,
    ) -> Result<Option<Raw<Command>>, StorageError> {
        let query = sqlx::query(S::NEXT_COMMAND)
            .bind(id.id().as_str())
            .bind(common::NOT_NOW)
            .bind(skip_not_now);
        match self.read_optional(query).await? {
            Some(row) => Self::next_command_at(&row, 0),
            None => Ok(None),
        }
    }

    /// The command in [`Dialect::NEXT_COMMAND`]'s four columns of `row` from `first` on, the
    /// bytes exactly as enqueued; `None` when they are NULL (nothing waits).
    fn next_command_at(
        row: &<S::DB as Database>::Row,
        first: usize,
    ) -> Result<Option<Raw<Command>>, StorageError> {
        let Some(uuid) = row.try_get::<Option<String>, _>(first).map_err(db)? else {
            return Ok(None);
        };
        let stored: S::Raw = row.try_get(first + 2).map_err(db)?;
        let exact: Option<Vec<u8>> = row.try_get(first + 3).map_err(db)?;
        let bytes = match exact {
            Some(exact) => Bytes::from(exact),
            None => stored.into(),
        };
        Ok(Some(common::command(
            uuid,
            row.try_get(first + 1).map_err(db)?,
            bytes,
        )))
    }

    /// `CommandQueue::report_and_next_command`: the dialect's one statement for the report and
    /// the next command where it has one ([`Dialect::REPORT_AND_NEXT`]; not for a final status
    /// in delete mode, whose steps are several), else the two flows in order.
    pub(crate) async fn report_and_next_command(
        &self,
        id: &EnrollId,
        report: &CommandReport,
        raw: &[u8],
    ) -> Result<(ReportOutcome, Option<Raw<Command>>), StorageError> {
        let delete = self.0.connections().delete_commands;
        let one = S::REPORT_AND_NEXT.and_then(|one| {
            match (&report.status, report.command_uuid.as_deref()) {
                (Status::Idle, _) => Some((one.idle, None, ReportOutcome::Idle, one.batch)),
                (_, None) => None,
                (Status::NotNow, Some(uuid)) => {
                    Some((one.not_now, Some(uuid), ReportOutcome::NotNow, one.batch))
                }
                (_, Some(_)) if delete => None,
                (_, Some(uuid)) => Some((
                    one.final_status,
                    Some(uuid),
                    ReportOutcome::Final,
                    one.batch,
                )),
            }
        });
        let Some((sql, uuid, stored_outcome, batch)) = one else {
            let outcome = self.store_command_report(id, report, raw).await?;
            let skip_not_now = report.status == Status::NotNow;
            let next = self.retrieve_next_command(id, skip_not_now).await?;
            return Ok((outcome, next));
        };
        let result = match uuid {
            Some(_) => S::Raw::from_raw("command_results.result", raw)?.0,
            None => S::Raw::default(),
        };
        let on_abandon = if batch {
            OnAbandon::Close
        } else {
            OnAbandon::Return
        };
        let row = Self::retry_conflicts(|| async {
            let mut query = sqlx::query(sql).bind(id.id().as_str());
            if let Some(uuid) = uuid {
                query = query.bind(uuid).bind(report.status.as_str()).bind(&result);
            }
            let mut conn = self.0.connections().writer.acquire(on_abandon).await?;
            // All rows, not the first: a batch must run on to its COMMIT.
            let rows = query.fetch_all(conn.conn()).await.map_err(db)?;
            conn.release();
            rows.into_iter()
                .next()
                .ok_or_else(|| StorageError::Corrupt("the report returned no row".to_owned()))
        })
        .await?;
        let outcome = match uuid {
            None => ReportOutcome::Idle,
            Some(_) if row.try_get::<bool, _>(0).map_err(db)? => stored_outcome,
            Some(_) => ReportOutcome::NotQueued,
        };
        Ok((outcome, Self::next_command_at(&row, 1)?))
    }

    /// `CommandQueue::clear_queue`: a device channel's queue and its user channels', or a user
    /// channel's alone; in delete mode each entry goes with its result and orphaned command.
    pub(crate) async fn clear_queue(&self, id: &EnrollId) -> Result<(), StorageError> {
        let device = id.parent().is_none();
        if !self.0.connections().delete_commands {
            // One statement: atomic by itself, no transaction round trips.
            let sql = if device {
                S::CLEAR_DEVICE_QUEUE
            } else {
                S::CLEAR_USER_QUEUE
            };
            self.execute_write(sql, &[id.id().as_str()]).await?;
            return Ok(());
        }
        let sql = if device {
            S::QUEUED_FOR_DEVICE
        } else {
            S::QUEUED_FOR_USER
        };
        let no_result = S::Raw::default();
        Self::retry_conflicts(|| async {
            let mut conn = self.write_conn().await?;
            let mut tx = Self::begin_write(&mut conn).await?;
            let rows = sqlx::query(sql)
                .bind(id.id().as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
            for row in rows {
                let channel: String = row.try_get(0).map_err(db)?;
                let uuid: String = row.try_get(1).map_err(db)?;
                let args = ReportArgs {
                    id: &channel,
                    uuid: &uuid,
                    status: "",
                    result: &no_result,
                };
                Self::run_steps(&mut *tx, S::DELETE_QUEUED, &args).await?;
            }
            tx.commit().await.map_err(db)?;
            conn.release();
            Ok(())
        })
        .await
    }

    /// `PushStore::retrieve_push_info`: one `IN` lookup per [`common::IN_LIST_CHUNK`] ids;
    /// unknown and disabled ids are left out.
    pub(crate) async fn retrieve_push_info(
        &self,
        ids: &[EnrollmentId],
    ) -> Result<HashMap<EnrollmentId, PushInfo>, StorageError> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(common::IN_LIST_CHUNK) {
            let sql = S::PUSH_INFO.replace("{ids}", &S::PLACEHOLDER.list(1, chunk.len()));
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in self.read_all(query).await? {
                let id: String = row.try_get(0).map_err(db)?;
                let token_hex: String = row.try_get(3).map_err(db)?;
                let info = common::push_info(
                    row.try_get(1).map_err(db)?,
                    row.try_get(2).map_err(db)?,
                    &token_hex,
                )?;
                found.insert(EnrollmentId::new(id), info);
            }
        }
        Ok(found)
    }

    /// `PushCertStore::is_push_cert_stale`: stale when missing or when its token moved on.
    pub(crate) async fn is_push_cert_stale(
        &self,
        topic: &str,
        stale_token: i64,
    ) -> Result<bool, StorageError> {
        let stored = self
            .fetch_value_read::<S::Int>(S::PUSH_CERT_STALE_TOKEN, topic)
            .await?;
        Ok(stored.is_none_or(|stored| stored.into() != stale_token))
    }

    /// `PushCertStore::retrieve_push_cert`.
    pub(crate) async fn retrieve_push_cert(
        &self,
        topic: &str,
    ) -> Result<Option<StoredPushCert>, StorageError> {
        let row = self
            .read_optional(sqlx::query(S::PUSH_CERT).bind(topic))
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredPushCert {
            cert_pem: row.try_get(0).map_err(db)?,
            key_pem: Secret::new(row.try_get(1).map_err(db)?),
            stale_token: row.try_get::<S::Int, _>(2).map_err(db)?.into(),
        }))
    }

    /// `PushCertStore::store_push_cert`.
    pub(crate) async fn store_push_cert(
        &self,
        topic: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<(), StorageError> {
        self.execute_write(S::STORE_PUSH_CERT, &[topic, cert_pem, key_pem])
            .await?;
        Ok(())
    }

    /// `CertAuthStore::has_cert_hash`.
    pub(crate) async fn has_cert_hash(&self, hash: &str) -> Result<bool, StorageError> {
        self.exists_read(S::CERT_AUTH.has_hash, &[hash]).await
    }

    /// `CertAuthStore::enrollment_has_cert_hash`.
    pub(crate) async fn enrollment_has_cert_hash(
        &self,
        id: &EnrollId,
    ) -> Result<bool, StorageError> {
        let binds = [id.device_channel_id().as_str()];
        self.exists_read(S::CERT_AUTH.enrollment_bound, &binds)
            .await
    }

    /// `CertAuthStore::is_cert_hash_associated`.
    pub(crate) async fn is_cert_hash_associated(
        &self,
        id: &EnrollId,
        hash: &str,
    ) -> Result<bool, StorageError> {
        let binds = [id.device_channel_id().as_str(), hash];
        self.exists_read(S::CERT_AUTH.associated, &binds).await
    }

    /// `CertAuthStore::associate_cert_hash`.
    pub(crate) async fn associate_cert_hash(
        &self,
        id: &EnrollId,
        hash: &str,
    ) -> Result<(), StorageError> {
        let binds = [id.device_channel_id().as_str(), hash];
        self.execute_write(S::CERT_AUTH.associate, &binds).await?;
        Ok(())
    }

    /// `CertAuthStore::enrollment_from_cert_hash`.
    pub(crate) async fn enrollment_from_cert_hash(
        &self,
        hash: &str,
    ) -> Result<Option<EnrollmentId>, StorageError> {
        let id: Option<String> = self.fetch_value_read(S::CERT_AUTH.bound_to, hash).await?;
        Ok(id.map(EnrollmentId::new))
    }

    /// `CertAuthStore::bind_cert_hash` on `conn`: the checks in the trait's order, then the
    /// insert. Atomic only because the caller ([`Dialect::bind_cert_hash_serialized`]) has made
    /// sure that no other bind of this channel or this hash runs until it is done; `hash` is
    /// lowercase.
    pub(crate) async fn bind_cert_hash(
        conn: &mut <S::DB as Database>::Connection,
        device_id: &str,
        hash: &str,
        mode: CertBindMode,
    ) -> Result<CertBinding, StorageError> {
        let sql = &S::CERT_AUTH;
        if Self::exists(&mut *conn, sql.associated, &[device_id, hash]).await? {
            return Ok(CertBinding::AlreadyBound);
        }
        if mode == CertBindMode::Retro
            && Self::exists(&mut *conn, sql.enrollment_bound, &[device_id]).await?
        {
            return Ok(CertBinding::EnrollmentBound);
        }
        if let Some(other) = Self::fetch_value::<_, String>(&mut *conn, sql.bound_to, hash).await? {
            return Ok(CertBinding::BoundElsewhere(EnrollmentId::new(other)));
        }
        Self::execute(&mut *conn, sql.associate, &[device_id, hash]).await?;
        Ok(CertBinding::Bound)
    }

    /// An import's check that the enrollment exists, inside its transaction.
    async fn import_require_enrollment(
        conn: &mut <S::DB as Database>::Connection,
        id: &EnrollId,
    ) -> Result<(), StorageError> {
        if Self::exists(conn, S::IMPORT_ENROLLMENT_EXISTS, &[id.id().as_str()]).await? {
            Ok(())
        } else {
            Err(StorageError::UnknownEnrollment(id.id().clone()))
        }
    }

    /// Stores an imported `command` unless its CommandUUID is held; a held one must have the
    /// same bytes, so that a rerun of the import passes and a different command is refused.
    async fn import_command(
        conn: &mut <S::DB as Database>::Connection,
        command: &Raw<Command>,
    ) -> Result<(), StorageError> {
        let uuid = command.command_uuid.as_str();
        let held = sqlx::query(S::IMPORT_HELD_COMMAND)
            .bind(uuid)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        if let Some(row) = held {
            let stored: S::Raw = row.try_get(0).map_err(db)?;
            let exact: Option<Vec<u8>> = row.try_get(1).map_err(db)?;
            let bytes = match exact {
                Some(exact) => Bytes::from(exact),
                None => stored.into(),
            };
            if bytes != *command.bytes() {
                return Err(StorageError::DuplicateCommand(command.command_uuid.clone()));
            }
            return Ok(());
        }
        let (stored, exact) = S::Raw::from_raw("commands.command", command.bytes())?;
        let inserted = sqlx::query(S::INSERT_COMMAND)
            .bind(uuid)
            .bind(command.request_type.as_str())
            .bind(&stored)
            .bind(exact.as_deref())
            .execute(&mut *conn)
            .await;
        common::command_inserted(inserted, uuid)?;
        Ok(())
    }

    /// `ImportStore::import_enrollment_state`, in one transaction; an unknown enrollment is
    /// [`StorageError::UnknownEnrollment`]. The unlock token is a device channel's alone.
    pub(crate) async fn import_enrollment_state(
        &self,
        id: &EnrollId,
        state: &ImportedEnrollmentState,
    ) -> Result<(), StorageError> {
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        if S::IMPORT_STATE_LOOKS_UP_FIRST {
            Self::import_require_enrollment(&mut tx, id).await?;
        }
        let updated = sqlx::query(S::IMPORT_STATE)
            .bind(i64::from(state.token_update_tally))
            .bind(state.enabled)
            .bind(state.last_seen_unix_micros)
            .bind(id.id().as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Rows matched, not rows changed, on every dialect (sqlx asks MySQL for found rows).
        if updated.rows_affected() == 0 {
            return Err(StorageError::UnknownEnrollment(id.id().clone()));
        }
        if let (None, Some(token)) = (id.parent(), state.unlock_token.as_deref())
            && !token.is_empty()
        {
            sqlx::query(S::IMPORT_UNLOCK_TOKEN)
                .bind(token)
                .bind(id.id().as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(())
    }

    /// `ImportStore::import_queue`: the enrollment's whole queue in one transaction, each command
    /// stored (or matched) before it is queued, so that a refused command writes nothing.
    pub(crate) async fn import_queue(
        &self,
        id: &EnrollId,
        items: &[ImportedQueueItem<'_>],
    ) -> Result<ImportedQueue, StorageError> {
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        Self::import_require_enrollment(&mut tx, id).await?;
        let mut done = ImportedQueue::default();
        for item in items {
            Self::import_command(&mut tx, item.command).await?;
            let binds = [id.id().as_str(), item.command.command_uuid.as_str()];
            let queued = match S::IMPORT_QUEUED {
                Some(held) if Self::exists(&mut *tx, held, &binds).await? => false,
                Some(_) => {
                    Self::execute(&mut *tx, S::IMPORT_QUEUE, &binds).await?;
                    true
                }
                None => Self::execute(&mut *tx, S::IMPORT_QUEUE, &binds).await? > 0,
            };
            if queued {
                done.queued += 1;
            } else {
                done.already_queued += 1;
            }
            if let Some(report) = item.not_now_report {
                let (result, _) = S::Raw::from_raw("command_results.result", report)?;
                sqlx::query(S::IMPORT_NOT_NOW)
                    .bind(binds[0])
                    .bind(binds[1])
                    .bind(common::NOT_NOW)
                    .bind(&result)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(done)
    }

    /// `ImportStore::import_command_result`: the command (as [`Self::import_queue`] stores it)
    /// and its result, in one transaction.
    pub(crate) async fn import_command_result(
        &self,
        id: &EnrollId,
        command: &Raw<Command>,
        status: &str,
        report: &[u8],
    ) -> Result<(), StorageError> {
        let (result, _) = S::Raw::from_raw("command_results.result", report)?;
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        Self::import_require_enrollment(&mut tx, id).await?;
        Self::import_command(&mut tx, command).await?;
        sqlx::query(S::IMPORT_RESULT)
            .bind(id.id().as_str())
            .bind(command.command_uuid.as_str())
            .bind(status)
            .bind(&result)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(())
    }

    /// Rows of `sql`'s first column for `keys`, an `IN` list (`{ids}`) of up to
    /// [`common::IN_LIST_CHUNK`] at a time.
    async fn rows_for(
        conn: &mut <S::DB as Database>::Connection,
        sql: &'static str,
        keys: &[&str],
    ) -> Result<Vec<<S::DB as Database>::Row>, StorageError> {
        let mut rows = Vec::new();
        for chunk in keys.chunks(common::IN_LIST_CHUNK) {
            let sql = sql.replace("{ids}", &S::PLACEHOLDER.list(1, chunk.len()));
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind(*key);
            }
            rows.extend(query.fetch_all(&mut *conn).await.map_err(db)?);
        }
        Ok(rows)
    }

    /// Runs `sql` for `rows`, [`IMPORT_ROWS`] at a time as `{rows}` of `row`, each row binding
    /// the first of its values as many as `row` has `?`.
    async fn insert_rows(
        conn: &mut <S::DB as Database>::Connection,
        sql: &'static str,
        row: &'static str,
        rows: &[Vec<Val<'_, S::Raw>>],
    ) -> Result<(), StorageError> {
        let width = row.matches('?').count();
        for chunk in rows.chunks(IMPORT_ROWS) {
            let sql = sql.replace("{rows}", &S::PLACEHOLDER.rows(row, chunk.len()));
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for values in chunk {
                for value in values.iter().take(width) {
                    query = match value {
                        Val::Text(v) => query.bind(*v),
                        Val::Bytes(v) => query.bind(*v),
                        Val::Raw(v) => query.bind(*v),
                    };
                }
            }
            query.execute(&mut *conn).await.map_err(db)?;
        }
        Ok(())
    }

    /// Checks every command of `enrollment` against the stored ones (`held`) and those the
    /// batch stores already (`planned`), and converts what it stores; any refusal is the
    /// enrollment's error, and nothing of it is written.
    fn plan_enrollment<'e>(
        enrollment: &ImportedEnrollment<'e>,
        held: &HashMap<String, Bytes>,
        planned: &HashMap<&str, &Raw<Command>>,
    ) -> Result<EnrollmentPlan<'e, S::Raw>, StorageError> {
        let mut plan = EnrollmentPlan {
            commands: Vec::new(),
            not_now: Vec::with_capacity(enrollment.queue.len()),
            results: Vec::with_capacity(enrollment.results.len()),
        };
        let commands = enrollment
            .queue
            .iter()
            .map(|item| item.command)
            .chain(enrollment.results.iter().map(|r| r.command));
        for command in commands {
            let uuid = command.command_uuid.as_str();
            let same = if let Some(bytes) = held.get(uuid) {
                *bytes == *command.bytes()
            } else if let Some(other) = planned.get(uuid).copied().or_else(|| {
                plan.commands
                    .iter()
                    .find(|(c, _, _)| c.command_uuid == uuid)
                    .map(|(c, _, _)| *c)
            }) {
                other.bytes() == command.bytes()
            } else {
                let (stored, exact) = S::Raw::from_raw("commands.command", command.bytes())?;
                plan.commands.push((command, stored, exact));
                true
            };
            if !same {
                return Err(StorageError::DuplicateCommand(command.command_uuid.clone()));
            }
        }
        for item in enrollment.queue {
            let report = item
                .not_now_report
                .map(|r| S::Raw::from_raw("command_results.result", r).map(|(r, _)| r))
                .transpose()?;
            plan.not_now.push(report);
        }
        for result in enrollment.results {
            let (report, _) = S::Raw::from_raw("command_results.result", result.report)?;
            plan.results.push(report);
        }
        Ok(plan)
    }

    /// `ImportStore::import_enrollments`: the whole batch in one transaction. What is stored is
    /// read first (known enrollments, held commands, queue entries: a few `IN` lookups), every
    /// enrollment is checked against it, and then what the accepted ones need is written with
    /// multi-row statements — commands, queue entries in order, NotNow marks, results — after
    /// one state update per enrollment.
    pub(crate) async fn import_enrollments(
        &self,
        batch: &[ImportedEnrollment<'_>],
    ) -> Result<Vec<Result<ImportedQueue, StorageError>>, StorageError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let sql = &S::IMPORT_BATCH;
        let mut ids: Vec<&str> = batch.iter().map(|e| e.id.id().as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut uuids: Vec<&str> = batch
            .iter()
            .flat_map(|e| {
                let queue = e.queue.iter().map(|i| i.command.command_uuid.as_str());
                queue.chain(e.results.iter().map(|r| r.command.command_uuid.as_str()))
            })
            .collect();
        uuids.sort_unstable();
        uuids.dedup();

        let mut conn = self.write_conn().await?;

        let mut tx = Self::begin_write(&mut conn).await?;
        let mut known = HashSet::with_capacity(ids.len());
        for row in Self::rows_for(&mut tx, sql.known, &ids).await? {
            known.insert(row.try_get::<String, _>(0).map_err(db)?);
        }
        let mut held = HashMap::new();
        for row in Self::rows_for(&mut tx, sql.held, &uuids).await? {
            let uuid: String = row.try_get(0).map_err(db)?;
            let stored: S::Raw = row.try_get(1).map_err(db)?;
            let exact: Option<Vec<u8>> = row.try_get(2).map_err(db)?;
            held.insert(uuid, exact.map_or_else(|| stored.into(), Bytes::from));
        }
        let mut queued: HashSet<(String, String)> = HashSet::new();
        for row in Self::rows_for(&mut tx, sql.queued, &ids).await? {
            queued.insert((row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?));
        }

        // Every enrollment checked and planned before anything is written.
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut planned: HashMap<&str, &Raw<Command>> = HashMap::new();
        let mut accepted = Vec::with_capacity(batch.len());
        for enrollment in batch {
            let id = enrollment.id.id();
            if !known.contains(id.as_str()) {
                outcomes.push(Err(StorageError::UnknownEnrollment(id.clone())));
                continue;
            }
            match Self::plan_enrollment(enrollment, &held, &planned) {
                Err(e) => outcomes.push(Err(e)),
                Ok(plan) => {
                    for (command, _, _) in &plan.commands {
                        planned.insert(command.command_uuid.as_str(), command);
                    }
                    let mut done = ImportedQueue::default();
                    let mut entries = Vec::with_capacity(enrollment.queue.len());
                    for item in enrollment.queue {
                        let key = (id.as_str().to_owned(), item.command.command_uuid.clone());
                        let new = queued.insert(key);
                        if new {
                            done.queued += 1;
                        } else {
                            done.already_queued += 1;
                        }
                        entries.push(new);
                    }
                    outcomes.push(Ok(done));
                    accepted.push((enrollment, plan, entries));
                }
            }
        }

        for (enrollment, _, _) in &accepted {
            let (id, state) = (enrollment.id, enrollment.state);
            sqlx::query(S::IMPORT_STATE)
                .bind(i64::from(state.token_update_tally))
                .bind(state.enabled)
                .bind(state.last_seen_unix_micros)
                .bind(id.id().as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            if let (None, Some(token)) = (id.parent(), state.unlock_token.as_deref())
                && !token.is_empty()
            {
                sqlx::query(S::IMPORT_UNLOCK_TOKEN)
                    .bind(token)
                    .bind(id.id().as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        }
        let mut commands = Vec::new();
        let mut entries = Vec::new();
        let mut not_now = Vec::new();
        let mut results = Vec::new();
        // One row per (enrollment, command) in a statement: the last result given wins.
        let mut result_at: HashMap<(&str, &str), usize> = HashMap::new();
        for (enrollment, plan, new) in &accepted {
            let id = enrollment.id.id().as_str();
            for (command, stored, exact) in &plan.commands {
                commands.push(vec![
                    Val::Text(command.command_uuid.as_str()),
                    Val::Text(command.request_type.as_str()),
                    Val::Raw(stored),
                    Val::Bytes(exact.as_deref()),
                ]);
            }
            for ((item, new), report) in enrollment.queue.iter().zip(new).zip(&plan.not_now) {
                let uuid = item.command.command_uuid.as_str();
                if *new {
                    entries.push(vec![Val::Text(id), Val::Text(uuid)]);
                }
                if let Some(report) = report {
                    let status = Val::Text(common::NOT_NOW);
                    not_now.push(vec![
                        Val::Text(id),
                        Val::Text(uuid),
                        status,
                        Val::Raw(report),
                    ]);
                }
            }
            for (result, report) in enrollment.results.iter().zip(&plan.results) {
                let uuid = result.command.command_uuid.as_str();
                let row = vec![
                    Val::Text(id),
                    Val::Text(uuid),
                    Val::Text(result.status),
                    Val::Raw(report),
                ];
                match result_at.get(&(id, uuid)) {
                    Some(&at) => results[at] = row,
                    None => {
                        result_at.insert((id, uuid), results.len());
                        results.push(row);
                    }
                }
            }
        }
        Self::insert_rows(&mut tx, sql.insert_commands, sql.command_row, &commands).await?;
        Self::insert_rows(&mut tx, sql.queue, sql.queue_row, &entries).await?;
        Self::insert_rows(&mut tx, sql.not_now, sql.not_now_row, &not_now).await?;
        Self::insert_rows(&mut tx, sql.results, sql.result_row, &results).await?;
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(outcomes)
    }

    /// `CertAuthStore::associate_cert_hashes`: every binding in one transaction.
    pub(crate) async fn associate_cert_hashes(
        &self,
        bindings: &[(EnrollId, mdm_proto::CertHash)],
    ) -> Result<(), StorageError> {
        if bindings.is_empty() {
            return Ok(());
        }
        let mut conn = self.write_conn().await?;
        let mut tx = Self::begin_write(&mut conn).await?;
        for (id, hash) in bindings {
            let hash = hash.to_string();
            let binds = [id.device_channel_id().as_str(), hash.as_str()];
            Self::execute(&mut *tx, S::CERT_AUTH.associate, &binds).await?;
        }
        tx.commit().await.map_err(db)?;
        conn.release();
        Ok(())
    }

    /// An enrollment from a row of [`Dialect::LIST_ENROLLMENTS`] or [`Dialect::ENROLLMENT`].
    fn stored_enrollment(row: &<S::DB as Database>::Row) -> Result<StoredEnrollment, StorageError> {
        let kind: String = row.try_get(1).map_err(db)?;
        let time = |i: usize| -> Result<Option<SystemTime>, StorageError> {
            let secs: Option<i64> = row.try_get(i).map_err(db)?;
            Ok(secs.map(common::system_time))
        };
        Ok(StoredEnrollment {
            id: EnrollmentId::new(row.try_get::<String, _>(0).map_err(db)?),
            kind: common::enroll_type(&kind)?,
            device_id: EnrollmentId::new(row.try_get::<String, _>(2).map_err(db)?),
            enabled: row.try_get(3).map_err(db)?,
            serial_number: row.try_get(4).map_err(db)?,
            last_seen_at: time(5)?,
            created_at: time(6)?,
            updated_at: time(7)?,
        })
    }

    /// `InspectionStore::list_enrollments`: one statement, keyset-paged on the primary key; one
    /// row more than `limit` says whether another page follows.
    ///
    /// The statement is planned for its values each time (`persistent(false)`), not prepared
    /// once: its optional filters (`$2 IS NULL OR e.type = $2`) leave a plan made without the
    /// values nothing to estimate with, and PostgreSQL's cached generic plan for it was a scan
    /// and sort of the whole table (43 ms at 40,000 enrollments, against 0.04 ms planned for the
    /// values: the primary key from the cursor, or a filter's own index). Planning costs well
    /// under a millisecond; this is an operator's read, not a device's request.
    pub(crate) async fn list_enrollments(
        &self,
        filter: &EnrollmentFilter,
        after: Option<&EnrollmentId>,
        limit: usize,
    ) -> Result<EnrollmentPage, StorageError> {
        if limit == 0 {
            return Ok(EnrollmentPage::default());
        }
        let query = sqlx::query(S::LIST_ENROLLMENTS)
            .persistent(false)
            .bind(after.map_or("", |a| a.as_str()))
            .bind(filter.kind.map(|k| k.as_str()))
            .bind(filter.enabled)
            .bind(filter.serial_number.as_deref())
            .bind(filter.device_id.as_ref().map(|d| d.as_str()))
            .bind(common::sql_limit(limit.saturating_add(1)));
        let rows = self.read_all(query).await?;
        let enrollments = rows
            .iter()
            .take(limit)
            .map(Self::stored_enrollment)
            .collect::<Result<Vec<_>, _>>()?;
        let next_after = if rows.len() > limit {
            enrollments.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(EnrollmentPage {
            enrollments,
            next_after,
        })
    }

    /// `InspectionStore::enrollment`.
    pub(crate) async fn enrollment(
        &self,
        id: &EnrollmentId,
    ) -> Result<Option<StoredEnrollment>, StorageError> {
        let row = self
            .read_optional(sqlx::query(S::ENROLLMENT).bind(id.as_str()))
            .await?;
        row.as_ref().map(Self::stored_enrollment).transpose()
    }

    /// `InspectionStore::queued_commands`: one statement, in delivery order.
    pub(crate) async fn queued_commands(
        &self,
        id: &EnrollmentId,
        limit: usize,
    ) -> Result<Vec<QueuedCommand>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let query = sqlx::query(S::QUEUED_COMMANDS)
            .bind(id.as_str())
            .bind(common::NOT_NOW)
            .bind(common::sql_limit(limit));
        let rows = self.read_all(query).await?;
        rows.iter()
            .map(|row| {
                let status: Option<String> = row.try_get(2).map_err(db)?;
                let created: Option<i64> = row.try_get(3).map_err(db)?;
                Ok(QueuedCommand {
                    command_uuid: row.try_get(0).map_err(db)?,
                    request_type: row.try_get(1).map_err(db)?,
                    state: match status {
                        None => QueueState::Queued,
                        Some(_) => QueueState::NotNow,
                    },
                    created_at: created.map(common::system_time),
                })
            })
            .collect()
    }

    /// `InspectionStore::remove_queued_command`: one statement; in delete mode the entry, its
    /// result and the orphaned command go as [`Self::clear_queue`] removes them.
    pub(crate) async fn remove_queued_command(
        &self,
        id: &EnrollmentId,
        command_uuid: &str,
    ) -> Result<bool, StorageError> {
        let binds = [id.as_str(), command_uuid, common::NOT_NOW];
        let removed = if self.0.connections().delete_commands {
            self.delete_waiting(id.as_str(), S::WAITING_ENTRY, &binds)
                .await?
        } else {
            self.execute_write(S::REMOVE_QUEUED, &binds).await?
        };
        Ok(removed > 0)
    }

    /// `InspectionStore::clear_enrollment_queue`: this enrollment's waiting commands alone, in
    /// one statement (or, in delete mode, one transaction).
    pub(crate) async fn clear_enrollment_queue(
        &self,
        id: &EnrollmentId,
    ) -> Result<u64, StorageError> {
        let binds = [id.as_str(), common::NOT_NOW];
        if self.0.connections().delete_commands {
            self.delete_waiting(id.as_str(), S::WAITING_ENTRIES, &binds)
                .await
        } else {
            self.execute_write(S::CLEAR_ENROLLMENT_QUEUE, &binds).await
        }
    }

    /// Delete mode: the waiting entries of enrollment `id` that `sql` selects (with `binds`), each
    /// removed by [`Dialect::DELETE_QUEUED`], in one transaction. How many there were.
    async fn delete_waiting(
        &self,
        id: &str,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<u64, StorageError> {
        let no_result = S::Raw::default();
        Self::retry_conflicts(|| async {
            let mut conn = self.write_conn().await?;
            let mut tx = Self::begin_write(&mut conn).await?;
            let mut query = sqlx::query(sql);
            for b in binds {
                query = query.bind(*b);
            }
            let rows = query.fetch_all(&mut *tx).await.map_err(db)?;
            for row in &rows {
                let uuid: String = row.try_get(0).map_err(db)?;
                let args = ReportArgs {
                    id,
                    uuid: &uuid,
                    status: "",
                    result: &no_result,
                };
                Self::run_steps(&mut *tx, S::DELETE_QUEUED, &args).await?;
            }
            tx.commit().await.map_err(db)?;
            conn.release();
            Ok(rows.len() as u64)
        })
        .await
    }

    /// `InspectionStore::command`: one statement. Where each enrollment stands follows from its
    /// queue row and result: waiting (active, no final result) is queued or NotNow; otherwise
    /// the result is reported; a row cleared before any result is left out.
    pub(crate) async fn command(
        &self,
        command_uuid: &str,
    ) -> Result<Option<StoredCommand>, StorageError> {
        let mut query = sqlx::query(S::COMMAND);
        for _ in 0..S::COMMAND_UUID_BINDS {
            query = query.bind(command_uuid);
        }
        let rows = self.read_all(query).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let created: Option<i64> = first.try_get(1).map_err(db)?;
        let mut deliveries = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(id) = row.try_get::<Option<String>, _>(2).map_err(db)? else {
                continue;
            };
            let active: Option<bool> = row.try_get(3).map_err(db)?;
            let status: Option<String> = row.try_get(4).map_err(db)?;
            let not_now = status.as_deref() == Some(common::NOT_NOW);
            let waiting = active == Some(true) && (status.is_none() || not_now);
            let state = match (waiting, status) {
                (true, None) => DeliveryState::Queued,
                (true, Some(_)) => DeliveryState::NotNow,
                (false, Some(status)) => DeliveryState::Reported(Status::from(status.as_str())),
                // Taken out of the queue before it was answered.
                (false, None) => continue,
            };
            let updated: Option<i64> = row.try_get(5).map_err(db)?;
            let report: Option<S::Raw> = row.try_get(6).map_err(db)?;
            deliveries.push(CommandDelivery {
                id: EnrollmentId::new(id),
                state,
                updated_at: updated.map(common::system_time),
                report: report.map(Into::into),
            });
        }
        Ok(Some(StoredCommand {
            command_uuid: command_uuid.to_owned(),
            request_type: first.try_get(0).map_err(db)?,
            created_at: created.map(common::system_time),
            deliveries,
        }))
    }

    /// `InspectionStore::delete_answered_commands_batch`: in one short write transaction (retried
    /// when it loses a conflict), the due commands are read — and locked where the dialect
    /// locks — then deleted with their queue rows and results.
    pub(crate) async fn delete_answered_commands_batch(
        &self,
        enqueued_before: SystemTime,
        limit: usize,
    ) -> Result<u64, StorageError> {
        if limit == 0 {
            return Ok(0);
        }
        let cutoff = common::epoch_seconds(enqueued_before);
        Self::retry_conflicts(|| async {
            let mut conn = self.write_conn().await?;
            let mut tx = Self::begin_write(&mut conn).await?;
            let rows = sqlx::query(S::RETENTION_DUE)
                .bind(cutoff)
                .bind(common::NOT_NOW)
                .bind(common::sql_limit(limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
            let due = rows
                .iter()
                .map(|row| row.try_get::<String, _>(0).map_err(db))
                .collect::<Result<Vec<_>, _>>()?;
            for chunk in due.chunks(common::IN_LIST_CHUNK) {
                let list = S::PLACEHOLDER.list(1, chunk.len());
                for sql in S::RETENTION_DELETE {
                    let sql = sql.replace("{ids}", &list);
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for uuid in chunk {
                        query = query.bind(uuid.as_str());
                    }
                    query.execute(&mut *tx).await.map_err(db)?;
                }
            }
            tx.commit().await.map_err(db)?;
            conn.release();
            Ok(due.len() as u64)
        })
        .await
    }

    /// `MigrationStore::retrieve_migration_checkins` (NanoMDM's `/migration`): for each device
    /// its Authenticate, then its TokenUpdate if any; then every user channel's TokenUpdate.
    /// Rows stream from the database as the consumer asks for them.
    pub(crate) fn retrieve_migration_checkins(&self) -> BoxStream<'a, Result<Bytes, StorageError>> {
        // Streamed on sqlx's pool, which the stream holds for its life: the rows are read as
        // the consumer asks for them, for longer than a store call holds a connection.
        let direct = self.0.connections().reader.direct();
        let pool: &'a sqlx::Pool<S::DB> = self.0.connections().reader.pool();
        let devices = sqlx::query(S::MIGRATION_DEVICES)
            .fetch(pool)
            .flat_map(|row| {
                let device = row.map_err(db).and_then(|row| {
                    let authenticate: S::Raw = row.try_get(0).map_err(db)?;
                    let token_update: Option<S::Raw> = row.try_get(1).map_err(db)?;
                    Ok((authenticate, token_update))
                });
                let items = match device {
                    Ok((authenticate, token_update)) => {
                        let mut items = vec![Ok(authenticate.into())];
                        items.extend(token_update.map(|t| Ok(t.into())));
                        items
                    }
                    Err(e) => vec![Err(e)],
                };
                stream::iter(items)
            });
        let users = sqlx::query(S::MIGRATION_USERS).fetch(pool).map(|row| {
            let row = row.map_err(db)?;
            Ok(row.try_get::<S::Raw, _>(0).map_err(db)?.into())
        });
        devices
            .chain(users)
            .map(move |item| {
                let _direct = &direct;
                item
            })
            .boxed()
    }
}

/// Implements every `mdm_storage` trait on a store type that implements [`Dialect`], each
/// method a call of its flow on [`Sql`]. Stamped per store (not one generic `impl` over
/// `Dialect`) so that the compiler checks each method's future for `Send` on the concrete
/// driver, which the traits require and generic code over `sqlx::Database` cannot prove.
macro_rules! storage_traits {
    ($store:ty) => {
        impl ::mdm_storage::CheckInStore for $store {
            async fn store_authenticate(
                &self,
                id: &::mdm_enrollment::EnrollId,
                msg: &::mdm_proto::Authenticate,
                raw: &[u8],
                identity_cert_der: Option<&[u8]>,
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .store_authenticate(id, msg, raw, identity_cert_der)
                    .await
            }

            async fn store_token_update(
                &self,
                id: &::mdm_enrollment::EnrollId,
                msg: &::mdm_proto::TokenUpdate,
                raw: &[u8],
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .store_token_update(id, msg, raw)
                    .await
            }

            async fn store_user_authenticate(
                &self,
                id: &::mdm_enrollment::EnrollId,
                msg: &::mdm_proto::UserAuthenticate,
                raw: &[u8],
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .store_user_authenticate(id, msg, raw)
                    .await
            }

            async fn disable(
                &self,
                id: &::mdm_enrollment::EnrollId,
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).disable(id).await
            }

            async fn store_check_ins(
                &self,
                check_ins: &[::mdm_storage::CheckInWrite<'_>],
            ) -> Result<Vec<Result<(), ::mdm_storage::StorageError>>, ::mdm_storage::StorageError>
            {
                $crate::flows::Sql(self).store_check_ins(check_ins).await
            }
        }

        impl ::mdm_storage::TokenUpdateTallyStore for $store {
            async fn retrieve_token_update_tally(
                &self,
                id: &::mdm_enrollment::EnrollId,
            ) -> Result<u32, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .retrieve_token_update_tally(id)
                    .await
            }
        }

        impl ::mdm_storage::BootstrapTokenStore for $store {
            async fn store_bootstrap_token(
                &self,
                id: &::mdm_enrollment::EnrollId,
                msg: &::mdm_proto::SetBootstrapToken,
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .store_bootstrap_token(id, msg)
                    .await
            }

            async fn retrieve_bootstrap_token(
                &self,
                id: &::mdm_enrollment::EnrollId,
            ) -> Result<Option<::mdm_proto::BootstrapToken>, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).retrieve_bootstrap_token(id).await
            }
        }

        impl ::mdm_storage::CommandQueue for $store {
            async fn enqueue_command(
                &self,
                ids: &[::mdm_enrollment::EnrollmentId],
                command: &::mdm_proto::Raw<::mdm_proto::Command>,
                priority: i8,
            ) -> Result<
                ::std::collections::HashMap<
                    ::mdm_enrollment::EnrollmentId,
                    ::mdm_storage::StorageError,
                >,
                ::mdm_storage::StorageError,
            > {
                $crate::flows::Sql(self)
                    .enqueue_command(ids, command, priority)
                    .await
            }

            async fn store_command_report(
                &self,
                id: &::mdm_enrollment::EnrollId,
                report: &::mdm_proto::CommandReport,
                raw: &[u8],
            ) -> Result<::mdm_storage::ReportOutcome, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .store_command_report(id, report, raw)
                    .await
            }

            async fn report_and_next_command(
                &self,
                id: &::mdm_enrollment::EnrollId,
                report: &::mdm_proto::CommandReport,
                raw: &[u8],
            ) -> Result<
                (
                    ::mdm_storage::ReportOutcome,
                    Option<::mdm_proto::Raw<::mdm_proto::Command>>,
                ),
                ::mdm_storage::StorageError,
            > {
                $crate::flows::Sql(self)
                    .report_and_next_command(id, report, raw)
                    .await
            }

            async fn retrieve_next_command(
                &self,
                id: &::mdm_enrollment::EnrollId,
                skip_not_now: bool,
            ) -> Result<Option<::mdm_proto::Raw<::mdm_proto::Command>>, ::mdm_storage::StorageError>
            {
                $crate::flows::Sql(self)
                    .retrieve_next_command(id, skip_not_now)
                    .await
            }

            async fn clear_queue(
                &self,
                id: &::mdm_enrollment::EnrollId,
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).clear_queue(id).await
            }
        }

        impl ::mdm_storage::PushStore for $store {
            async fn retrieve_push_info(
                &self,
                ids: &[::mdm_enrollment::EnrollmentId],
            ) -> Result<
                ::std::collections::HashMap<::mdm_enrollment::EnrollmentId, ::mdm_proto::PushInfo>,
                ::mdm_storage::StorageError,
            > {
                $crate::flows::Sql(self).retrieve_push_info(ids).await
            }
        }

        impl ::mdm_storage::PushCertStore for $store {
            async fn is_push_cert_stale(
                &self,
                topic: &str,
                stale_token: i64,
            ) -> Result<bool, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .is_push_cert_stale(topic, stale_token)
                    .await
            }

            async fn retrieve_push_cert(
                &self,
                topic: &str,
            ) -> Result<Option<::mdm_storage::StoredPushCert>, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).retrieve_push_cert(topic).await
            }

            async fn store_push_cert(
                &self,
                topic: &str,
                cert_pem: &str,
                key_pem: &str,
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .store_push_cert(topic, cert_pem, key_pem)
                    .await
            }
        }

        impl ::mdm_storage::CertAuthStore for $store {
            async fn has_cert_hash(
                &self,
                hash: &::mdm_proto::CertHash,
            ) -> Result<bool, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .has_cert_hash(&hash.to_string())
                    .await
            }

            async fn enrollment_has_cert_hash(
                &self,
                id: &::mdm_enrollment::EnrollId,
            ) -> Result<bool, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).enrollment_has_cert_hash(id).await
            }

            async fn is_cert_hash_associated(
                &self,
                id: &::mdm_enrollment::EnrollId,
                hash: &::mdm_proto::CertHash,
            ) -> Result<bool, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .is_cert_hash_associated(id, &hash.to_string())
                    .await
            }

            async fn bind_cert_hash(
                &self,
                id: &::mdm_enrollment::EnrollId,
                hash: &::mdm_proto::CertHash,
                mode: ::mdm_storage::CertBindMode,
            ) -> Result<::mdm_storage::CertBinding, ::mdm_storage::StorageError> {
                $crate::dialect::Dialect::bind_cert_hash_serialized(
                    self,
                    id.device_channel_id().as_str(),
                    &hash.to_string(),
                    mode,
                )
                .await
            }

            async fn associate_cert_hash(
                &self,
                id: &::mdm_enrollment::EnrollId,
                hash: &::mdm_proto::CertHash,
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .associate_cert_hash(id, &hash.to_string())
                    .await
            }

            async fn associate_cert_hashes(
                &self,
                bindings: &[(::mdm_enrollment::EnrollId, ::mdm_proto::CertHash)],
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .associate_cert_hashes(bindings)
                    .await
            }

            async fn enrollment_from_cert_hash(
                &self,
                hash: &::mdm_proto::CertHash,
            ) -> Result<Option<::mdm_enrollment::EnrollmentId>, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .enrollment_from_cert_hash(&hash.to_string())
                    .await
            }
        }

        impl ::mdm_storage::ImportStore for $store {
            async fn import_enrollment_state(
                &self,
                id: &::mdm_enrollment::EnrollId,
                state: &::mdm_storage::ImportedEnrollmentState,
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .import_enrollment_state(id, state)
                    .await
            }

            async fn import_queue(
                &self,
                id: &::mdm_enrollment::EnrollId,
                items: &[::mdm_storage::ImportedQueueItem<'_>],
            ) -> Result<::mdm_storage::ImportedQueue, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).import_queue(id, items).await
            }

            async fn import_command_result(
                &self,
                id: &::mdm_enrollment::EnrollId,
                command: &::mdm_proto::Raw<::mdm_proto::Command>,
                status: &str,
                report: &[u8],
            ) -> Result<(), ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .import_command_result(id, command, status, report)
                    .await
            }

            async fn import_enrollments(
                &self,
                batch: &[::mdm_storage::ImportedEnrollment<'_>],
            ) -> Result<
                Vec<Result<::mdm_storage::ImportedQueue, ::mdm_storage::StorageError>>,
                ::mdm_storage::StorageError,
            > {
                $crate::flows::Sql(self).import_enrollments(batch).await
            }
        }

        impl ::mdm_storage::InspectionStore for $store {
            async fn list_enrollments(
                &self,
                filter: &::mdm_storage::EnrollmentFilter,
                after: Option<&::mdm_enrollment::EnrollmentId>,
                limit: usize,
            ) -> Result<::mdm_storage::EnrollmentPage, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .list_enrollments(filter, after, limit)
                    .await
            }

            async fn enrollment(
                &self,
                id: &::mdm_enrollment::EnrollmentId,
            ) -> Result<Option<::mdm_storage::StoredEnrollment>, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).enrollment(id).await
            }

            async fn queued_commands(
                &self,
                id: &::mdm_enrollment::EnrollmentId,
                limit: usize,
            ) -> Result<Vec<::mdm_storage::QueuedCommand>, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).queued_commands(id, limit).await
            }

            async fn remove_queued_command(
                &self,
                id: &::mdm_enrollment::EnrollmentId,
                command_uuid: &str,
            ) -> Result<bool, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .remove_queued_command(id, command_uuid)
                    .await
            }

            async fn clear_enrollment_queue(
                &self,
                id: &::mdm_enrollment::EnrollmentId,
            ) -> Result<u64, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).clear_enrollment_queue(id).await
            }

            async fn command(
                &self,
                command_uuid: &str,
            ) -> Result<Option<::mdm_storage::StoredCommand>, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self).command(command_uuid).await
            }

            async fn delete_answered_commands_batch(
                &self,
                enqueued_before: ::std::time::SystemTime,
                limit: usize,
            ) -> Result<u64, ::mdm_storage::StorageError> {
                $crate::flows::Sql(self)
                    .delete_answered_commands_batch(enqueued_before, limit)
                    .await
            }
        }

        impl ::mdm_storage::MigrationStore for $store {
            fn retrieve_migration_checkins(
                &self,
            ) -> ::futures_util::stream::BoxStream<
                '_,
                Result<::bytes::Bytes, ::mdm_storage::StorageError>,
            > {
                $crate::flows::Sql(self).retrieve_migration_checkins()
            }
        }
    };
}

pub(crate) use storage_traits;
