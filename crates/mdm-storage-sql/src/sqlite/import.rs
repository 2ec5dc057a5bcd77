//! [`ImportStore`] for SQLite: new statements only, so the store's own flows stay as they are.
//! Each call is one write transaction; an enrollment's whole queue goes in one.

use mdm_enrollment::EnrollId;
use mdm_proto::{Command, Raw};
use mdm_storage::{
    ImportStore, ImportedEnrollmentState, ImportedQueue, ImportedQueueItem, StorageError,
};
use sqlx::Row as _;
use sqlx::sqlite::SqliteTransaction;

use super::SqliteStore;
use crate::common::{self, db};

/// Stores `command` unless its UUID is held; a held one must have the same bytes.
async fn ensure_command(
    tx: &mut SqliteTransaction<'_>,
    command: &Raw<Command>,
) -> Result<(), StorageError> {
    let uuid = &command.command_uuid;
    let held = sqlx::query("SELECT command FROM commands WHERE command_uuid = ?1")
        .bind(uuid)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    if let Some(row) = held {
        let bytes: Vec<u8> = row.try_get(0).map_err(db)?;
        if bytes != command.bytes().as_ref() {
            return Err(StorageError::DuplicateCommand(uuid.clone()));
        }
        return Ok(());
    }
    let inserted = sqlx::query(
        "INSERT INTO commands (command_uuid, request_type, command) VALUES (?1, ?2, ?3)",
    )
    .bind(uuid)
    .bind(&command.request_type)
    .bind(command.bytes().as_ref())
    .execute(&mut **tx)
    .await;
    common::command_inserted(inserted, uuid)
}

async fn require_enrollment(
    tx: &mut SqliteTransaction<'_>,
    id: &EnrollId,
) -> Result<(), StorageError> {
    let known = sqlx::query("SELECT 1 FROM enrollments WHERE id = ?1")
        .bind(id.id().as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    match known {
        Some(_) => Ok(()),
        None => Err(StorageError::UnknownEnrollment(id.id().clone())),
    }
}

impl ImportStore for SqliteStore {
    async fn import_enrollment_state(
        &self,
        id: &EnrollId,
        state: &ImportedEnrollmentState,
    ) -> Result<(), StorageError> {
        let mut tx = self.begin_write().await?;
        // Whole seconds: the column holds CURRENT_TIMESTAMP's 'YYYY-MM-DD HH:MM:SS'.
        let updated = sqlx::query(
            "UPDATE enrollments SET token_update_tally = ?2, enabled = ?3, \
                 last_seen_at = COALESCE(datetime(?4 / 1000000, 'unixepoch'), last_seen_at), \
                 updated_at = CURRENT_TIMESTAMP \
             WHERE id = ?1",
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
                "UPDATE devices SET unlock_token = ?2, \
                     unlock_token_at = COALESCE(unlock_token_at, CURRENT_TIMESTAMP) \
                 WHERE id = ?1",
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
        let mut tx = self.begin_write().await?;
        require_enrollment(&mut tx, id).await?;
        let mut done = ImportedQueue::default();
        for item in items {
            ensure_command(&mut tx, item.command).await?;
            let uuid = &item.command.command_uuid;
            let queued = sqlx::query(
                "INSERT INTO enrollment_queue (id, command_uuid, priority) VALUES (?1, ?2, 0) \
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
                sqlx::query(
                    "INSERT INTO command_results \
                         (id, command_uuid, status, result, not_now_at, not_now_tally) \
                     VALUES (?1, ?2, ?3, ?4, CURRENT_TIMESTAMP, 1) \
                     ON CONFLICT (id, command_uuid) DO NOTHING",
                )
                .bind(id.id().as_str())
                .bind(uuid)
                .bind(common::NOT_NOW)
                .bind(report)
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
        let mut tx = self.begin_write().await?;
        require_enrollment(&mut tx, id).await?;
        ensure_command(&mut tx, command).await?;
        sqlx::query(
            "INSERT INTO command_results (id, command_uuid, status, result) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id, command_uuid) DO UPDATE SET \
                 status = excluded.status, result = excluded.result",
        )
        .bind(id.id().as_str())
        .bind(&command.command_uuid)
        .bind(status)
        .bind(report)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }
}
