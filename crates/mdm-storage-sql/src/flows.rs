//! Query flows the dialects share, generic over sqlx's [`Database`]: each dialect passes its own
//! SQL (placeholders, upsert syntax and column types differ), while binding, decoding, error
//! mapping and the order of steps are written once here. Runtime `sqlx::query()` only, per
//! dialect driver: no `Any` driver, no `query!` macros.
//!
//! Each flow's `where` clause names the value types it binds and reads, which every dialect's
//! driver supports; a flow takes any executor (a pool, or `&mut *tx` inside a transaction)
//! unless it runs several statements in one transaction.

#[cfg(any(feature = "postgres", feature = "mysql"))]
use std::future::Future;
use std::ops::ControlFlow;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use mdm_enrollment::{EnrollId, EnrollmentId};
use mdm_proto::Secret;
use mdm_proto::{Authenticate, CommandReport, Enrollment, PushInfo, Status, TokenUpdate};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use mdm_proto::{Command, Raw};
use mdm_storage::{CertBindMode, CertBinding, ReportOutcome, StorageError, StoredPushCert};
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Transaction, Type,
};

use crate::common::{self, db};

/// How often a transaction that lost a deadlock or a serialization conflict is run again.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const CONFLICT_RETRIES: usize = 5;

/// The first column of the row `sql` returns for `bind`, if there is a row.
pub(crate) async fn fetch_value<'e, DB, E, T>(
    executor: E,
    sql: &'static str,
    bind: &str,
) -> Result<Option<T>, StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    T: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::query(sql)
        .bind(bind)
        .fetch_optional(executor)
        .await
        .map_err(db)?;
    row.map(|row| row.try_get(0).map_err(db)).transpose()
}

/// Whether `sql`, with `binds` bound in order, returns a row.
pub(crate) async fn exists<'e, DB, E>(
    executor: E,
    sql: &'static str,
    binds: &[&str],
) -> Result<bool, StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let mut query = sqlx::query(sql);
    for b in binds {
        query = query.bind(*b);
    }
    let row = query.fetch_optional(executor).await.map_err(db)?;
    Ok(row.is_some())
}

/// Runs `sql` with `binds` bound in order, for its effect alone.
pub(crate) async fn execute<'e, DB, E>(
    executor: E,
    sql: &'static str,
    binds: &[&str],
) -> Result<(), StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let mut query = sqlx::query(sql);
    for b in binds {
        query = query.bind(*b);
    }
    query.execute(executor).await.map_err(db)?;
    Ok(())
}

/// Authenticate, in the transaction `tx`: the `devices` row upserted (`upsert_sql` binds: id,
/// identity certificate as PEM, serial number, the raw message as the dialect stores it), then
/// the TokenUpdate tally of the device's enrollments reset (`reset_tally_sql` binds: id).
pub(crate) async fn store_authenticate<DB, R>(
    mut tx: Transaction<'static, DB>,
    upsert_sql: &'static str,
    reset_tally_sql: &'static str,
    id: &str,
    msg: &Authenticate,
    raw: R,
    identity_cert_der: Option<&[u8]>,
) -> Result<(), StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    R: for<'q> Encode<'q, DB> + Type<DB>,
{
    // `devices.identity_cert` holds PEM, as NanoMDM stores it.
    let identity_cert = identity_cert_der.map(|der| mdm_proto::pem::encode("CERTIFICATE", der));
    sqlx::query(upsert_sql)
        .bind(id)
        .bind(identity_cert.as_deref())
        .bind(msg.serial_number.as_deref())
        .bind(raw)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    execute(&mut *tx, reset_tally_sql, &[id]).await?;
    tx.commit().await.map_err(db)
}

/// A `users` row upserted, as a user channel's TokenUpdate and UserAuthenticate write it (`sql`
/// binds: id, device id, short name, long name, the raw message as the dialect stores it).
pub(crate) async fn upsert_user<'e, DB, E, R>(
    executor: E,
    sql: &'static str,
    id: &str,
    device_id: &str,
    enrollment: &Enrollment,
    raw: R,
) -> Result<(), StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    R: for<'q> Encode<'q, DB> + Type<DB>,
{
    sqlx::query(sql)
        .bind(id)
        .bind(device_id)
        .bind(enrollment.user_short_name.as_deref())
        .bind(enrollment.user_long_name.as_deref())
        .bind(raw)
        .execute(executor)
        .await
        .map_err(db)?;
    Ok(())
}

/// TokenUpdate's `enrollments` row upserted (`sql` binds: id, device id, user id, type, topic,
/// push magic, token hex).
pub(crate) async fn upsert_enrollment<'e, DB, E>(
    executor: E,
    sql: &'static str,
    id: &EnrollId,
    user_id: Option<&str>,
    msg: &TokenUpdate,
) -> Result<(), StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(sql)
        .bind(id.id().as_str())
        .bind(id.device_channel_id().as_str())
        .bind(user_id)
        .bind(id.kind().as_str())
        .bind(msg.push.topic.as_str())
        .bind(msg.push.push_magic.as_str())
        .bind(msg.push.token_hex().as_str())
        .execute(executor)
        .await
        .map_err(db)?;
    Ok(())
}

/// A push certificate row (`cert_pem`, `key_pem`, `stale_token`) for `topic`; `T` is the
/// dialect's type of `stale_token`.
pub(crate) async fn retrieve_push_cert<'e, DB, E, T>(
    executor: E,
    sql: &'static str,
    topic: &str,
) -> Result<Option<StoredPushCert>, StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    T: for<'r> Decode<'r, DB> + Type<DB> + Into<i64>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::query(sql)
        .bind(topic)
        .fetch_optional(executor)
        .await
        .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(StoredPushCert {
        cert_pem: row.try_get(0).map_err(db)?,
        key_pem: Secret::new(row.try_get(1).map_err(db)?),
        stale_token: row.try_get::<T, _>(2).map_err(db)?.into(),
    }))
}

/// An enrollment's push info from a row (`id`, `topic`, `push_magic`, `token_hex`).
pub(crate) fn push_info_row<R>(row: &R) -> Result<(EnrollmentId, PushInfo), StorageError>
where
    R: Row,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    let id: String = row.try_get(0).map_err(db)?;
    let token_hex: String = row.try_get(3).map_err(db)?;
    let info = common::push_info(
        row.try_get(1).map_err(db)?,
        row.try_get(2).map_err(db)?,
        &token_hex,
    )?;
    Ok((EnrollmentId::new(id), info))
}

/// Push info for `ids` on a dialect without array binds (SQLite, MySQL): one `IN (?, …)`
/// lookup per [`common::IN_LIST_CHUNK`] ids.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) async fn retrieve_push_info_in_lists<'e, DB, E>(
    executor: E,
    ids: &[EnrollmentId],
) -> Result<std::collections::HashMap<EnrollmentId, PushInfo>, StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB> + Copy,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let mut found = std::collections::HashMap::new();
    for chunk in ids.chunks(common::IN_LIST_CHUNK) {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, topic, push_magic, token_hex FROM enrollments \
             WHERE enabled = 1 AND id IN ({})",
            common::placeholders(chunk.len())
        )));
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(executor).await.map_err(db)? {
            let (id, info) = push_info_row(&row)?;
            found.insert(id, info);
        }
    }
    Ok(found)
}

/// The next command for `id` by the PostgreSQL / MySQL `NEXT_COMMAND` (binds: id, `NotNow`,
/// `skip_not_now`; columns: uuid, request type, XML text, exact bytes if enqueued binary).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn retrieve_next_command<'e, DB, E>(
    executor: E,
    sql: &'static str,
    id: &str,
    skip_not_now: bool,
) -> Result<Option<Raw<Command>>, StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    Vec<u8>: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::query(sql)
        .bind(id)
        .bind(common::NOT_NOW)
        .bind(skip_not_now)
        .fetch_optional(executor)
        .await
        .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let text: String = row.try_get(2).map_err(db)?;
    let exact: Option<Vec<u8>> = row.try_get(3).map_err(db)?;
    Ok(Some(common::command(
        row.try_get(0).map_err(db)?,
        row.try_get(1).map_err(db)?,
        exact.unwrap_or_else(|| text.into_bytes()),
    )))
}

/// The command a report answers: `Continue(uuid)`. A report without one (Idle) only marks
/// the enrollment seen (`touch_sql`, binding its id) and `Break`s with its outcome.
pub(crate) async fn answered_command<'e, 'r, DB, E>(
    executor: E,
    touch_sql: &'static str,
    id: &str,
    report: &'r CommandReport,
) -> Result<ControlFlow<ReportOutcome, &'r str>, StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    match (&report.status, report.command_uuid.as_deref()) {
        (Status::Idle, _) | (_, None) => {
            execute(executor, touch_sql, &[id]).await?;
            Ok(ControlFlow::Break(if report.status == Status::Idle {
                ReportOutcome::Idle
            } else {
                // Only Idle may come without a CommandUUID (mdm-proto refuses the rest).
                ReportOutcome::NotQueued
            }))
        }
        (_, Some(uuid)) => Ok(ControlFlow::Continue(uuid)),
    }
}

/// The statements of [`bind_cert_hash`], in a dialect's SQL.
pub(crate) struct CertBindSql {
    /// A row if the hash is bound to the channel (binds: device-channel id, hash).
    pub associated: &'static str,
    /// A row if the channel holds any hash (binds: device-channel id).
    pub enrollment_bound: &'static str,
    /// The id of a channel the hash is bound to (binds: hash).
    pub bound_to: &'static str,
    /// Writes the binding (binds: device-channel id, hash).
    pub associate: &'static str,
}

/// `CertAuthStore::bind_cert_hash` on `conn`: the checks in the trait's order, then the insert.
/// Atomic only because the caller has made sure that no other bind of this channel or this hash
/// runs until it is done (a write transaction on SQLite, locks on PostgreSQL and MySQL); `hash`
/// is lowercase.
pub(crate) async fn bind_cert_hash<DB>(
    conn: &mut DB::Connection,
    sql: &CertBindSql,
    device_id: &str,
    hash: &str,
    mode: CertBindMode,
) -> Result<CertBinding, StorageError>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    if exists(&mut *conn, sql.associated, &[device_id, hash]).await? {
        return Ok(CertBinding::AlreadyBound);
    }
    if mode == CertBindMode::Retro && exists(&mut *conn, sql.enrollment_bound, &[device_id]).await?
    {
        return Ok(CertBinding::EnrollmentBound);
    }
    if let Some(other) = fetch_value::<DB, _, String>(&mut *conn, sql.bound_to, hash).await? {
        return Ok(CertBinding::BoundElsewhere(EnrollmentId::new(other)));
    }
    execute(&mut *conn, sql.associate, &[device_id, hash]).await?;
    Ok(CertBinding::Bound)
}

/// Runs a transaction (`attempt`) again while it loses a deadlock or serialization conflict,
/// up to [`CONFLICT_RETRIES`] times.
#[cfg(any(feature = "postgres", feature = "mysql"))]
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

/// The migration export (NanoMDM's `/migration`): for each device row (`devices_sql`:
/// `authenticate`, `token_update`) its Authenticate, then its TokenUpdate if any; then every
/// user channel's TokenUpdate (`users_sql`). Rows stream from the database as the consumer asks
/// for them; `T` is the dialect's column type for a raw check-in.
pub(crate) fn migration_checkins<'e, DB, E, T>(
    executor: E,
    devices_sql: &'static str,
    users_sql: &'static str,
) -> BoxStream<'e, Result<Bytes, StorageError>>
where
    DB: Database<Arguments: IntoArguments<DB>>,
    E: Executor<'e, Database = DB> + Copy,
    T: for<'r> Decode<'r, DB> + Type<DB> + Into<Bytes> + Send + 'e,
    usize: ColumnIndex<DB::Row>,
{
    let devices = sqlx::query(devices_sql).fetch(executor).flat_map(|row| {
        let device = row.map_err(db).and_then(|row| {
            let authenticate: T = row.try_get(0).map_err(db)?;
            let token_update: Option<T> = row.try_get(1).map_err(db)?;
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
    let users = sqlx::query(users_sql).fetch(executor).map(|row| {
        let row = row.map_err(db)?;
        Ok(row.try_get::<T, _>(0).map_err(db)?.into())
    });
    devices.chain(users).boxed()
}
