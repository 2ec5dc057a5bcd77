use std::collections::HashMap;

use bytes::Bytes;
use futures_util::future::{join, join_all};
use futures_util::stream::BoxStream;
use mdm_enrollment::EnrollId;
use mdm_proto::{
    Authenticate, BootstrapToken, Command, CommandReport, PushInfo, Raw, SetBootstrapToken,
    TokenUpdate, UserAuthenticate,
};

use crate::{
    BootstrapTokenStore, CertAuthStore, CertBindMode, CertBinding, CheckInStore, CommandQueue,
    DynStorage, MigrationStore, PushCertStore, PushStore, ReportOutcome, StorageError,
    StoredPushCert, TokenUpdateTallyStore,
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
}

impl<S: CommandQueue> CommandQueue for MultiStore<S> {
    async fn enqueue_command(
        &self,
        ids: &[String],
        command: &Raw<Command>,
        priority: i8,
    ) -> Result<HashMap<String, StorageError>, StorageError> {
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

    async fn retrieve_next_command(
        &self,
        id: &EnrollId,
        skip_not_now: bool,
    ) -> Result<Option<Raw<Command>>, StorageError> {
        self.first.retrieve_next_command(id, skip_not_now).await
    }

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

    async fn retrieve_bootstrap_token(
        &self,
        id: &EnrollId,
    ) -> Result<Option<BootstrapToken>, StorageError> {
        self.first.retrieve_bootstrap_token(id).await
    }
}

impl<S: TokenUpdateTallyStore> TokenUpdateTallyStore for MultiStore<S> {
    async fn retrieve_token_update_tally(&self, id: &EnrollId) -> Result<u32, StorageError> {
        self.first.retrieve_token_update_tally(id).await
    }
}

impl<S: PushStore> PushStore for MultiStore<S> {
    async fn retrieve_push_info(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, PushInfo>, StorageError> {
        self.first.retrieve_push_info(ids).await
    }
}

impl<S: PushCertStore> PushCertStore for MultiStore<S> {
    async fn is_push_cert_stale(
        &self,
        topic: &str,
        stale_token: i64,
    ) -> Result<bool, StorageError> {
        self.first.is_push_cert_stale(topic, stale_token).await
    }

    async fn retrieve_push_cert(
        &self,
        topic: &str,
    ) -> Result<Option<StoredPushCert>, StorageError> {
        self.first.retrieve_push_cert(topic).await
    }

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
    async fn has_cert_hash(&self, hash: &str) -> Result<bool, StorageError> {
        self.first.has_cert_hash(hash).await
    }

    async fn enrollment_has_cert_hash(&self, id: &EnrollId) -> Result<bool, StorageError> {
        self.first.enrollment_has_cert_hash(id).await
    }

    async fn is_cert_hash_associated(
        &self,
        id: &EnrollId,
        hash: &str,
    ) -> Result<bool, StorageError> {
        self.first.is_cert_hash_associated(id, hash).await
    }

    async fn bind_cert_hash(
        &self,
        id: &EnrollId,
        hash: &str,
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

    async fn associate_cert_hash(&self, id: &EnrollId, hash: &str) -> Result<(), StorageError> {
        self.write_all(
            "associate_cert_hash",
            self.first.associate_cert_hash(id, hash),
            |s| s.associate_cert_hash(id, hash),
        )
        .await
    }

    async fn enrollment_from_cert_hash(&self, hash: &str) -> Result<Option<String>, StorageError> {
        self.first.enrollment_from_cert_hash(hash).await
    }
}

impl<S: MigrationStore> MigrationStore for MultiStore<S> {
    fn retrieve_migration_checkins(&self) -> BoxStream<'_, Result<Bytes, StorageError>> {
        self.first.retrieve_migration_checkins()
    }
}
