//! What every SQL dialect shares: value encodings (as NanoMDM stores them), error mapping and
//! row-to-type conversions. The dialect modules hold only their SQL.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use mdm_proto::{Command, PushInfo, Raw};
use mdm_storage::StorageError;
use sqlx::SqlSafeStr as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `command_results.status` of a command the device put off.
pub(crate) const NOT_NOW: &str = "NotNow";

/// How many ids go in one `IN (…)` lookup: far below every dialect's bound-parameter limit,
/// large enough that a push to thousands of ids takes a handful of queries.
pub(crate) const IN_LIST_CHUNK: usize = 500;

/// A dialect's schema, `(version, description, SQL)` each, as the versioned migrations sqlx runs
/// on open (tracked in `_sqlx_migrations`).
pub(crate) fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Which step of opening a server database failed; each dialect's `OpenError` names its
/// database.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) enum OpenFailure {
    /// Connecting (or parsing the connection string) failed.
    Connect(sqlx::Error),
    /// Bringing the schema up to date failed.
    Migrate(sqlx::migrate::MigrateError),
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl OpenFailure {
    /// As the dialect's `OpenError`, built by its two variants.
    pub(crate) fn into_open_error<E>(
        self,
        connect: fn(Box<dyn std::error::Error + Send + Sync>) -> E,
        migrate: fn(Box<dyn std::error::Error + Send + Sync>) -> E,
    ) -> E {
        match self {
            OpenFailure::Connect(e) => connect(Box::new(e)),
            OpenFailure::Migrate(e) => migrate(Box::new(e)),
        }
    }
}

/// Connects a server database's pool (`pool`, as `storage` sizes it) and runs the dialect's
/// migrations on it: one pool for reads and writes.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn open_pool<DB>(
    pool: sqlx::pool::PoolOptions<DB>,
    connect: <DB::Connection as sqlx::Connection>::Options,
    storage: &crate::StorageOptions,
    migrations: &[(i64, &'static str, &'static str)],
) -> Result<crate::dialect::Connections<DB>, OpenFailure>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    let pool = pool
        .connect_with(connect)
        .await
        .map_err(OpenFailure::Connect)?;
    migrator(migrations)
        .run(&pool)
        .await
        .map_err(OpenFailure::Migrate)?;
    Ok(crate::dialect::Connections::one_pool(
        pool,
        storage.delete_commands,
    ))
}

/// The result of inserting a `commands` row: a CommandUUID already stored is
/// [`StorageError::DuplicateCommand`].
pub(crate) fn command_inserted<T>(
    inserted: Result<T, sqlx::Error>,
    uuid: &str,
) -> Result<T, StorageError> {
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(StorageError::DuplicateCommand(uuid.to_owned())),
        Err(e) => Err(db(e)),
        Ok(done) => Ok(done),
    }
}

/// A sqlx error as a storage error: values that do not decode are [`StorageError::Corrupt`];
/// everything else is the backend's failure.
pub(crate) fn db(e: sqlx::Error) -> StorageError {
    match e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. } => StorageError::Corrupt(e.to_string()),
        e => StorageError::backend(e),
    }
}

/// Refuses a user channel where only a device channel makes sense (Authenticate, bootstrap
/// token).
pub(crate) fn device_only(id: &mdm_enrollment::EnrollId) -> Result<(), StorageError> {
    match id.parent() {
        Some(_) => Err(StorageError::DeviceChannelOnly(id.id().clone())),
        None => Ok(()),
    }
}

/// Whether a transaction failed only because it lost a conflict with another one — SQLSTATE
/// `40P01` (PostgreSQL deadlock) or `40001` (serialization failure; also MySQL's deadlock) —
/// and may simply run again.
pub(crate) fn is_conflict(e: &StorageError) -> bool {
    let StorageError::Backend(source) = e else {
        return false;
    };
    match source.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(d)) => matches!(d.code().as_deref(), Some("40P01" | "40001")),
        _ => false,
    }
}

/// Whether an insert failed on a unique key (a primary key included).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// `devices.bootstrap_token_b64`: standard base64, NULL for none (or an empty token).
pub(crate) fn encode_bootstrap_token(token: Option<&[u8]>) -> Option<String> {
    token.filter(|t| !t.is_empty()).map(|t| STANDARD.encode(t))
}

pub(crate) fn decode_bootstrap_token(b64: &str) -> Result<Vec<u8>, StorageError> {
    STANDARD
        .decode(b64)
        .map_err(|e| StorageError::Corrupt(format!("devices.bootstrap_token_b64: {e}")))
}

/// Push info from an `enrollments` row (`token_hex` is hex, as NanoMDM writes it).
pub(crate) fn push_info(
    topic: String,
    push_magic: String,
    token_hex: &str,
) -> Result<PushInfo, StorageError> {
    let token = PushInfo::token_from_hex(token_hex)
        .map_err(|e| StorageError::Corrupt(format!("enrollments.token_hex: {e}")))?;
    Ok(PushInfo::new(token, push_magic, topic))
}

/// A queued command as read back: its envelope from the `commands` columns, its bytes exactly
/// as enqueued.
pub(crate) fn command(command_uuid: String, request_type: String, bytes: Bytes) -> Raw<Command> {
    Raw::new(
        Command {
            command_uuid,
            request_type,
        },
        bytes,
    )
}

/// `enrollments.token_update_tally`, which no statement of ours makes negative.
pub(crate) fn tally(value: i64) -> Result<u32, StorageError> {
    u32::try_from(value)
        .map_err(|_| StorageError::Corrupt(format!("enrollments.token_update_tally is {value}")))
}

/// A time the database computed as whole seconds since the Unix epoch (before it, negative).
pub(crate) fn system_time(epoch_seconds: i64) -> SystemTime {
    let offset = Duration::from_secs(epoch_seconds.unsigned_abs());
    if epoch_seconds < 0 {
        UNIX_EPOCH.checked_sub(offset).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_add(offset).unwrap_or(UNIX_EPOCH)
    }
}

/// `t` as whole seconds since the Unix epoch, rounded down (a cut-off bound as the dialects
/// compare it with their time columns, which hold whole seconds on SQLite and MySQL).
pub(crate) fn epoch_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            // Rounded down: a fraction of a second before the epoch is second -1.
            if before.subsec_nanos() > 0 {
                -secs.saturating_add(1)
            } else {
                -secs
            }
        }
    }
}

/// `enrollments.type` read back.
pub(crate) fn enroll_type(stored: &str) -> Result<mdm_enrollment::EnrollType, StorageError> {
    stored
        .parse()
        .map_err(|_| StorageError::Corrupt(format!("enrollments.type is {stored:?}")))
}

/// A count or limit as bound to SQL (`LIMIT`): at most `i64::MAX`.
pub(crate) fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Why a raw property list cannot go into one of NanoMDM's TEXT columns.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Debug, thiserror::Error)]
#[error("{column}: not an XML property list and not convertible to one: {reason}")]
pub(crate) struct NotAPlist {
    column: &'static str,
    reason: String,
}

/// A raw property list as NanoMDM's TEXT columns hold it (`<?xml…`, enforced by CHECKs on
/// `commands.command` and `command_results.result`): XML is stored as is; a binary property
/// list is stored as its XML rendering (the same values, so a NanoMDM server reading the row
/// understands it) — the second value is then `Some(bytes)`, for a caller that must keep the
/// exact bytes elsewhere. Anything else is refused with [`NotAPlist`] as a backend error.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn plist_text(
    column: &'static str,
    raw: &[u8],
) -> Result<(String, Option<Vec<u8>>), StorageError> {
    let refuse = |reason: String| StorageError::backend(NotAPlist { column, reason });
    if raw.starts_with(b"bplist") {
        // The bytes decoded once already (their size is the caller's limit), but shared objects
        // in a binary list expand when it is rendered as XML: the bounded decoder caps what the
        // rendering holds.
        let limits = mdm_proto::DecodeLimits::default().max_body_bytes(raw.len());
        let value = mdm_proto::decode_dictionary(raw, &limits)
            .map(mdm_proto::plist::Value::Dictionary)
            .map_err(|e| refuse(e.to_string()))?;
        let mut xml = Vec::new();
        value
            .to_writer_xml(&mut xml)
            .map_err(|e| refuse(e.to_string()))?;
        let xml = String::from_utf8(xml).map_err(|e| refuse(e.to_string()))?;
        return Ok((xml, Some(raw.to_vec())));
    }
    let text = std::str::from_utf8(raw).map_err(|e| refuse(format!("not UTF-8: {e}")))?;
    // PostgreSQL TEXT cannot hold NUL; an XML document cannot contain one either.
    if text.contains('\0') {
        return Err(refuse("contains a NUL character".into()));
    }
    // Only `commands.command` and `command_results.result` carry NanoMDM's CHECK; refuse here
    // with a clear message rather than as a constraint violation.
    if column.starts_with("command") && !text.starts_with("<?xml") {
        return Err(refuse("does not start with \"<?xml\"".into()));
    }
    Ok((text.to_owned(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_token_round_trips_and_empty_is_none() {
        assert_eq!(encode_bootstrap_token(Some(b"")), None);
        assert_eq!(encode_bootstrap_token(None), None);
        let b64 = encode_bootstrap_token(Some(b"\x00\xfftoken")).unwrap();
        assert_eq!(decode_bootstrap_token(&b64).unwrap(), b"\x00\xfftoken");
        assert!(matches!(
            decode_bootstrap_token("not base64!"),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn corrupt_values_are_reported_not_panicked_on() {
        assert!(matches!(
            push_info("t".into(), "m".into(), "zz"),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(tally(-1), Err(StorageError::Corrupt(_))));
        assert_eq!(tally(3).unwrap(), 3);
        assert!(enroll_type("Robot").is_err());
    }

    #[test]
    fn epoch_seconds_round_trip_and_round_down() {
        for secs in [0, 1, 1_800_000_000, -1, -86_400] {
            assert_eq!(epoch_seconds(system_time(secs)), secs);
        }
        let half = Duration::from_millis(500);
        assert_eq!(epoch_seconds(system_time(10) + half), 10);
        assert_eq!(epoch_seconds(UNIX_EPOCH - half), -1);
    }
}
