use std::collections::HashMap;
use std::time::SystemTime;

use futures_util::future::{join, join_all};
use mdm_enrollment::{EnrollId, EnrollmentId};
use mdm_proto::{
    Authenticate, CertHash, Command, CommandReport, Raw, SetBootstrapToken, TokenUpdate,
    UserAuthenticate,
};

use crate::{
    BootstrapTokenStore, CertAuthStore, CertBindMode, CertBinding, CheckInStore, CheckInWrite,
    CommandQueue, DynStorage, InspectionStore, MigrationStore, PushCertStore, PushStore,
    ReportOutcome, StorageError, TokenUpdateTallyStore,
};

/// Writes to several stores, reads from the first (NanoMDM's multi-storage).
///
/// Every write goes to the first store and to each of the others concurrently; the caller gets
/// the first store's result, and the others' errors are only logged (`tracing` warnings naming
/// the store by its position, 1 being the first of `others`). Reads — next command, tallies,
/// push info, certificates, bindings, migration — ask the first store alone. A certificate
/// bind ([`CertAuthStore::bind_cert_hash`]) is decided by the first store, and only a binding
/// it made is then written to the others. Typical use: keep a second database (or a logging
/// store) in step while the first one serves.
#[derive(Debug)]
pub struct MultiStore<S> {
    first: S,
    others: Vec<DynStorage>,
}

impl<S> MultiStore<S> {
    /// Dispatches to `first` and `others`.
    pub fn new(first: S, others: Vec<DynStorage>) -> Self {
        Self { first, others }
    }

    /// The store reads come from.
    pub fn first(&self) -> &S {
        &self.first
    }

    /// Runs `first` and `other` on every other store concurrently; returns `first`'s result and
    /// logs the others' errors.
    async fn write_all<'a, T, Fut>(
        &'a self,
        operation: &'static str,
        first: impl Future<Output = Result<T, StorageError>>,
        other: impl FnMut(&'a DynStorage) -> Fut,
    ) -> Result<T, StorageError>
    where
        Fut: Future<Output = Result<(), StorageError>>,
    {
        let (result, others) = join(first, join_all(self.others.iter().map(other))).await;
        for (n, r) in others.into_iter().enumerate() {
            if let Err(error) = r {
                tracing::warn!(store = n + 1, operation, %error, "secondary store failed");
            }
        }
        result
    }
}

impl<S: CheckInStore> CheckInStore for MultiStore<S> {
    async fn store_authenticate(
        &self,
        id: &EnrollId,
        msg: &Authenticate,
        raw: &[u8],
        identity_cert_der: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        self.write_all(
            "store_authenticate",
            self.first
                .store_authenticate(id, msg, raw, identity_cert_der),
            |s| s.store_authenticate(id, msg, raw, identity_cert_der),
        )
        .await
    }

    async fn store_token_update(
        &self,
        id: &EnrollId,
        msg: &TokenUpdate,
        raw: &[u8],
    ) -> Result<(), StorageError> {
        self.write_all(
            "store_token_update",
            self.first.store_token_update(id, msg, raw),
            |s| s.store_token_update(id, msg, raw),
        )
        .await
    }

    async fn store_user_authenticate(
        &self,
        id: &EnrollId,
        msg: &UserAuthenticate,
        raw: &[u8],
    ) -> Result<(), StorageError> {
        self.write_all(
            "store_user_authenticate",
            self.first.store_user_authenticate(id, msg, raw),
            |s| s.store_user_authenticate(id, msg, raw),
        )
        .await
    }

    async fn disable(&self, id: &EnrollId) -> Result<(), StorageError> {
        self.write_all("disable", self.first.disable(id), |s| s.disable(id))
            .await
    }

    async fn store_check_ins(
        &self,
        check_ins: &[CheckInWrite<'_>],
    ) -> Result<Vec<Result<(), StorageError>>, StorageError> {
        self.write_all(
            "store_check_ins",
            self.first.store_check_ins(check_ins),
            |s| async move {
                let outcomes = s.store_check_ins(check_ins).await?;
                if let Some(Err(error)) = outcomes.into_iter().find(Result::is_err) {
                    return Err(error);
                }
                Ok(())
            },
        )
        .await
    }
}

impl<S: CommandQueue> CommandQueue for MultiStore<S> {
    async fn enqueue_command(
        &self,
        ids: &[EnrollmentId],
        command: &Raw<Command>,
        priority: i8,
    ) -> Result<HashMap<EnrollmentId, StorageError>, StorageError> {
        self.write_all(
            "enqueue_command",
            self.first.enqueue_command(ids, command, priority),
            |s| async move {
                let failed = s.enqueue_command(ids, command, priority).await?;
                if !failed.is_empty() {
                    tracing::warn!(
                        failed = failed.len(),
                        "secondary store did not queue the command for some ids"
                    );
                }
                Ok(())
            },
        )
        .await
    }

    async fn store_command_report(
        &self,
        id: &EnrollId,
        report: &CommandReport,
        raw: &[u8],
    ) -> Result<ReportOutcome, StorageError> {
        self.write_all(
            "store_command_report",
            self.first.store_command_report(id, report, raw),
            |s| async move { s.store_command_report(id, report, raw).await.map(drop) },
        )
        .await
    }

    crate::forward_methods!(first: retrieve_next_command);

    async fn clear_queue(&self, id: &EnrollId) -> Result<(), StorageError> {
        self.write_all("clear_queue", self.first.clear_queue(id), |s| {
            s.clear_queue(id)
        })
        .await
    }
}

impl<S: BootstrapTokenStore> BootstrapTokenStore for MultiStore<S> {
    async fn store_bootstrap_token(
        &self,
        id: &EnrollId,
        msg: &SetBootstrapToken,
    ) -> Result<(), StorageError> {
        self.write_all(
            "store_bootstrap_token",
            self.first.store_bootstrap_token(id, msg),
            |s| s.store_bootstrap_token(id, msg),
        )
        .await
    }

    crate::forward_methods!(first: retrieve_bootstrap_token);
}

// Reads ask the first store alone.
crate::forward_store!(impl[S: TokenUpdateTallyStore] MultiStore<S> => first: TokenUpdateTallyStore);
crate::forward_store!(impl[S: PushStore] MultiStore<S> => first: PushStore);
crate::forward_store!(impl[S: MigrationStore] MultiStore<S> => first: MigrationStore);

impl<S: PushCertStore> PushCertStore for MultiStore<S> {
    crate::forward_methods!(first: is_push_cert_stale, retrieve_push_cert);

    async fn store_push_cert(
        &self,
        topic: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<(), StorageError> {
        self.write_all(
            "store_push_cert",
            self.first.store_push_cert(topic, cert_pem, key_pem),
            |s| s.store_push_cert(topic, cert_pem, key_pem),
        )
        .await
    }
}

impl<S: CertAuthStore> CertAuthStore for MultiStore<S> {
    crate::forward_methods!(
        first: has_cert_hash,
        enrollment_has_cert_hash,
        is_cert_hash_associated,
        enrollment_from_cert_hash
    );

    async fn bind_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
        mode: CertBindMode,
    ) -> Result<CertBinding, StorageError> {
        // The first store decides, atomically; the others are told its decision, not asked to
        // make their own.
        let outcome = self.first.bind_cert_hash(id, hash, mode).await?;
        if outcome == CertBinding::Bound {
            let others = join_all(self.others.iter().map(|s| s.associate_cert_hash(id, hash)));
            for (n, r) in others.await.into_iter().enumerate() {
                if let Err(error) = r {
                    tracing::warn!(
                        store = n + 1,
                        operation = "bind_cert_hash",
                        %error,
                        "secondary store failed"
                    );
                }
            }
        }
        Ok(outcome)
    }

    async fn associate_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
    ) -> Result<(), StorageError> {
        self.write_all(
            "associate_cert_hash",
            self.first.associate_cert_hash(id, hash),
            |s| s.associate_cert_hash(id, hash),
        )
        .await
    }

    async fn associate_cert_hashes(
        &self,
        bindings: &[(EnrollId, CertHash)],
    ) -> Result<(), StorageError> {
        self.write_all(
            "associate_cert_hashes",
            self.first.associate_cert_hashes(bindings),
            |s| s.associate_cert_hashes(bindings),
        )
        .await
    }
}

// Inspection reads the first store; queue removals and retention are writes, to every store.
impl<S: InspectionStore> InspectionStore for MultiStore<S> {
    crate::forward_methods!(
        first: list_enrollments,
        enrollment,
        queued_commands,
        command
    );

    async fn remove_queued_command(
        &self,
        id: &EnrollmentId,
        command_uuid: &str,
    ) -> Result<bool, StorageError> {
        self.write_all(
            "remove_queued_command",
            self.first.remove_queued_command(id, command_uuid),
            |s| async move { s.remove_queued_command(id, command_uuid).await.map(drop) },
        )
        .await
    }

    async fn clear_enrollment_queue(&self, id: &EnrollmentId) -> Result<u64, StorageError> {
        self.write_all(
            "clear_enrollment_queue",
            self.first.clear_enrollment_queue(id),
            |s| async move { s.clear_enrollment_queue(id).await.map(drop) },
        )
        .await
    }

    async fn delete_answered_commands_batch(
        &self,
        enqueued_before: SystemTime,
        limit: usize,
    ) -> Result<u64, StorageError> {
        self.write_all(
            "delete_answered_commands_batch",
            self.first
                .delete_answered_commands_batch(enqueued_before, limit),
            |s| async move {
                s.delete_answered_commands_batch(enqueued_before, limit)
                    .await
                    .map(drop)
            },
        )
        .await
    }
}
