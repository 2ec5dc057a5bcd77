//! [`ImportStore`] for MySQL / MariaDB: new statements only, so the store's own flows stay as they
//! are. Each call is one transaction; an enrollment's whole queue goes in one. Commands and
//! results go through the same XML-or-exact-bytes encoding as the store's own writes.

use mdm_enrollment::EnrollId;
use mdm_proto::{Command, Raw};
use mdm_storage::{
    ImportStore, ImportedEnrollmentState, ImportedQueue, ImportedQueueItem, StorageError,
};
use sqlx::Row as _;
use sqlx::mysql::MySqlTransaction;

use super::MySqlStore;
use crate::common::{self, db};

/// Stores `command` unless its UUID is held; a held one must have the same bytes.
async fn ensure_command(
    tx: &mut MySqlTransaction<'_>,
    command: &Raw<Command>,
) -> Result<(), StorageError> {
    let uuid = &command.command_uuid;
    let held = sqlx::query("SELECT command, command_bytes FROM commands WHERE command_uuid = ?")
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
         VALUES (?, ?, ?, ?)",
    )
    .bind(uuid)
    .bind(&command.request_type)
    .bind(text)
    .bind(exact)
    .execute(&mut **tx)
    .await;
    common::command_inserted(inserted, uuid)
}

async fn require_enrollment(
    tx: &mut MySqlTransaction<'_>,
    id: &EnrollId,
) -> Result<(), StorageError> {
    let known = sqlx::query("SELECT 1 FROM enrollments WHERE id = ?")
        .bind(id.id().as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    match known {
        Some(_) => Ok(()),
        None => Err(StorageError::UnknownEnrollment(id.id().clone())),
    }
}

impl ImportStore for MySqlStore {
    async fn import_enrollment_state(
        &self,
        id: &EnrollId,
        state: &ImportedEnrollmentState,
    ) -> Result<(), StorageError> {
        let mut tx = self.begin().await?;
        // FROM_UNIXTIME gives the session's time zone, as CURRENT_TIMESTAMP does for this column.
        // MySQL counts matched rows only when asked (sqlx does not), so a row whose values
        // are unchanged counts 0: look the enrollment up first.
        require_enrollment(&mut tx, id).await?;
        sqlx::query(
            "UPDATE enrollments SET token_update_tally = ?, enabled = ?, \
                 last_seen_at = COALESCE(FROM_UNIXTIME(? DIV 1000000), last_seen_at) \
             WHERE id = ?",
        )
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
            sqlx::query(
                "UPDATE devices SET unlock_token = ?, \
                     unlock_token_at = COALESCE(unlock_token_at, CURRENT_TIMESTAMP) \
                 WHERE id = ?",
            )
            .bind(token)
            .bind(id.id().as_str())
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
            // sqlx asks MySQL for found rows, so an upsert that changes nothing still counts
            // 1: look first (the transaction holds the enrollment's rows).
            let held = sqlx::query(
                "SELECT 1 FROM enrollment_queue WHERE id = ? AND command_uuid = ? FOR UPDATE",
            )
            .bind(id.id().as_str())
            .bind(uuid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            if held.is_some() {
                done.already_queued += 1;
            } else {
                // seq (AUTO_INCREMENT) keeps their order within one created_at second.
                sqlx::query(
                    "INSERT INTO enrollment_queue (id, command_uuid, priority) VALUES (?, ?, 0)",
                )
                .bind(id.id().as_str())
                .bind(uuid)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                done.queued += 1;
            }
            if let Some(report) = item.not_now_report {
                let (result, _) = common::plist_text("command_results.result", report)?;
                sqlx::query(
                    "INSERT INTO command_results \
                         (id, command_uuid, status, result, not_now_at, not_now_tally) \
                     VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP, 1) \
                     ON DUPLICATE KEY UPDATE command_uuid = command_uuid",
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
             VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE status = VALUES(status), result = VALUES(result)",
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
