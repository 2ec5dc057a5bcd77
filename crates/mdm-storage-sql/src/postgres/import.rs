//! [`ImportStore`] for PostgreSQL: new statements only, so the store's own flows stay as they
//! are. Each call is one transaction; an enrollment's whole queue goes in one. Commands and
//! results go through the same XML-or-exact-bytes encoding as the store's own writes.

use mdm_enrollment::EnrollId;
use mdm_proto::{Command, Raw};
use mdm_storage::{
    ImportStore, ImportedEnrollmentState, ImportedQueue, ImportedQueueItem, StorageError,
};
use sqlx::Row as _;
use sqlx::postgres::PgTransaction;

use super::PostgresStore;
use crate::common::{self, db};

/// Stores `command` unless its UUID is held; a held one must have the same bytes.
async fn ensure_command(
    tx: &mut PgTransaction<'_>,
    command: &Raw<Command>,
) -> Result<(), StorageError> {
    let uuid = &command.command_uuid;
    let held = sqlx::query("SELECT command, command_bytes FROM commands WHERE command_uuid = $1")
        .bind(uuid)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    if let Some(row) = held {
        let text: String = row.try_get(0).map_err(db)?;
        let exact: Option<Vec<u8>> = row.try_get(1).map_err(db)?;
        let bytes = exact.unwrap_or_else(|| text.into_bytes());
        if bytes != command.bytes().as_ref() {
            return Err(StorageError::DuplicateCommand(uuid.clone()));
        }
        return Ok(());
    }
    let (text, exact) = common::plist_text("commands.command", command.bytes())?;
    let inserted = sqlx::query(
        "INSERT INTO commands (command_uuid, request_type, command, command_bytes) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(uuid)
    .bind(&command.request_type)
    .bind(text)
    .bind(exact)
    .execute(&mut **tx)
    .await;
    common::command_inserted(inserted, uuid)
}

async fn require_enrollment(tx: &mut PgTransaction<'_>, id: &EnrollId) -> Result<(), StorageError> {
    let known = sqlx::query("SELECT 1 FROM enrollments WHERE id = $1")
        .bind(id.id().as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    match known {
        Some(_) => Ok(()),
        None => Err(StorageError::UnknownEnrollment(id.id().clone())),
    }
}

impl ImportStore for PostgresStore {
    async fn import_enrollment_state(
        &self,
        id: &EnrollId,
        state: &ImportedEnrollmentState,
    ) -> Result<(), StorageError> {
        let mut tx = self.begin().await?;
        // `::timestamp` converts in the session's time zone, as `now()` does for this column.
        let updated = sqlx::query(
            "UPDATE enrollments SET token_update_tally = $2, enabled = $3, \
                 last_seen_at = COALESCE(to_timestamp($4::bigint / 1000000.0)::timestamp, \
                     last_seen_at), \
                 updated_at = now() \
             WHERE id = $1",
        )
        .bind(id.id().as_str())
        .bind(i64::from(state.token_update_tally))
        .bind(state.enabled)
        .bind(state.last_seen_unix_micros)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StorageError::UnknownEnrollment(id.id().clone()));
        }
        if let (None, Some(token)) = (id.parent(), state.unlock_token.as_deref())
            && !token.is_empty()
        {
            sqlx::query(
                "UPDATE devices SET unlock_token = $2, \
                     unlock_token_at = COALESCE(unlock_token_at, now()) \
                 WHERE id = $1",
            )
            .bind(id.id().as_str())
            .bind(token)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn import_queue(
        &self,
        id: &EnrollId,
        items: &[ImportedQueueItem<'_>],
    ) -> Result<ImportedQueue, StorageError> {
        let mut tx = self.begin().await?;
        require_enrollment(&mut tx, id).await?;
        let mut done = ImportedQueue::default();
        for item in items {
            ensure_command(&mut tx, item.command).await?;
            let uuid = &item.command.command_uuid;
            // One transaction gives every row the same created_at; seq keeps their order.
            let queued = sqlx::query(
                "INSERT INTO enrollment_queue (id, command_uuid, priority) VALUES ($1, $2, 0) \
                 ON CONFLICT (id, command_uuid) DO NOTHING",
            )
            .bind(id.id().as_str())
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if queued.rows_affected() == 0 {
                done.already_queued += 1;
            } else {
                done.queued += 1;
            }
            if let Some(report) = item.not_now_report {
                let (result, _) = common::plist_text("command_results.result", report)?;
                sqlx::query(
                    "INSERT INTO command_results \
                         (id, command_uuid, status, result, not_now_at, not_now_tally) \
                     VALUES ($1, $2, $3, $4, now(), 1) \
                     ON CONFLICT (id, command_uuid) DO NOTHING",
                )
                .bind(id.id().as_str())
                .bind(uuid)
                .bind(common::NOT_NOW)
                .bind(result)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(done)
    }

    async fn import_command_result(
        &self,
        id: &EnrollId,
        command: &Raw<Command>,
        status: &str,
        report: &[u8],
    ) -> Result<(), StorageError> {
        let (result, _) = common::plist_text("command_results.result", report)?;
        let mut tx = self.begin().await?;
        require_enrollment(&mut tx, id).await?;
        ensure_command(&mut tx, command).await?;
        sqlx::query(
            "INSERT INTO command_results (id, command_uuid, status, result) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id, command_uuid) DO UPDATE SET \
                 status = excluded.status, result = excluded.result",
        )
        .bind(id.id().as_str())
        .bind(&command.command_uuid)
        .bind(status)
        .bind(result)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }
}
