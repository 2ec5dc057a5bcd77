use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use mdm_enrollment::EnrollId;
use mdm_proto::{
    Authenticate, BootstrapToken, Command, CommandReport, PushInfo, Raw, SetBootstrapToken,
    TokenUpdate, UserAuthenticate,
};

use crate::{
    BootstrapTokenStore, CertAuthStore, CertBindMode, CertBinding, CheckInStore, CommandQueue,
    DynBootstrapTokenStore, DynCertAuthStore, DynCheckInStore, DynCommandQueue, DynMigrationStore,
    DynPushCertStore, DynPushStore, DynTokenUpdateTallyStore, MigrationStore, PushCertStore,
    PushStore, ReportOutcome, StorageError, StoredPushCert, TokenUpdateTallyStore,
};

/// Everything a NanoMDM-compatible server stores: implemented automatically for any type that
/// implements all the storage traits. Use it as a bound (`S: Storage`) for static dispatch, or
/// wrap a store in [`DynStorage`] to choose the backend at run time.
pub trait Storage:
    CheckInStore
    + CommandQueue
    + BootstrapTokenStore
    + TokenUpdateTallyStore
    + PushStore
    + PushCertStore
    + CertAuthStore
    + MigrationStore
{
}

impl<T> Storage for T where
    T: CheckInStore
        + CommandQueue
        + BootstrapTokenStore
        + TokenUpdateTallyStore
        + PushStore
        + PushCertStore
        + CertAuthStore
        + MigrationStore
{
}

/// A [`Storage`] behind dynamic dispatch: one concrete type for whatever backend a flag chose.
///
/// Each concern is held as its own `Arc<Dyn…>`, so the parts can also come from different
/// stores ([`DynStorage::from_parts`]). Calls box their futures; use a concrete store generically
/// where that matters.
#[derive(Clone)]
pub struct DynStorage {
    check_in: Arc<DynCheckInStore<'static>>,
    queue: Arc<DynCommandQueue<'static>>,
    bootstrap_token: Arc<DynBootstrapTokenStore<'static>>,
    tally: Arc<DynTokenUpdateTallyStore<'static>>,
    push: Arc<DynPushStore<'static>>,
    push_cert: Arc<DynPushCertStore<'static>>,
    cert_auth: Arc<DynCertAuthStore<'static>>,
    migration: Arc<DynMigrationStore<'static>>,
}

impl std::fmt::Debug for DynStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynStorage").finish_non_exhaustive()
    }
}

/// The parts of a [`DynStorage`], one per storage concern.
pub struct DynStorageParts {
    /// Check-ins: Authenticate, TokenUpdate, UserAuthenticate, disable.
    pub check_in: Arc<DynCheckInStore<'static>>,
    /// The command queue.
    pub queue: Arc<DynCommandQueue<'static>>,
    /// Bootstrap tokens.
    pub bootstrap_token: Arc<DynBootstrapTokenStore<'static>>,
    /// TokenUpdate tallies.
    pub tally: Arc<DynTokenUpdateTallyStore<'static>>,
    /// Push info.
    pub push: Arc<DynPushStore<'static>>,
    /// Push certificates.
    pub push_cert: Arc<DynPushCertStore<'static>>,
    /// Certificate bindings.
    pub cert_auth: Arc<DynCertAuthStore<'static>>,
    /// Migration check-ins.
    pub migration: Arc<DynMigrationStore<'static>>,
}

impl DynStorage {
    /// Wraps one store that implements everything.
    pub fn new<S: Storage + 'static>(store: S) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// Wraps a shared store that implements everything (the `Arc` is shared, not copied).
    pub fn from_arc<S: Storage + 'static>(store: Arc<S>) -> Self {
        Self::from_parts(DynStorageParts {
            check_in: DynCheckInStore::new_arc(store.clone()),
            queue: DynCommandQueue::new_arc(store.clone()),
            bootstrap_token: DynBootstrapTokenStore::new_arc(store.clone()),
            tally: DynTokenUpdateTallyStore::new_arc(store.clone()),
            push: DynPushStore::new_arc(store.clone()),
            push_cert: DynPushCertStore::new_arc(store.clone()),
            cert_auth: DynCertAuthStore::new_arc(store.clone()),
            migration: DynMigrationStore::new_arc(store),
        })
    }

    /// Assembles a storage from separate parts, e.g. push certificates from one backend and
    /// everything else from another.
    pub fn from_parts(parts: DynStorageParts) -> Self {
        let DynStorageParts {
            check_in,
            queue,
            bootstrap_token,
            tally,
            push,
            push_cert,
            cert_auth,
            migration,
        } = parts;
        Self {
            check_in,
            queue,
            bootstrap_token,
            tally,
            push,
            push_cert,
            cert_auth,
            migration,
        }
    }
}

impl CheckInStore for DynStorage {
    fn store_authenticate(
        &self,
        id: &EnrollId,
        msg: &Authenticate,
        raw: &[u8],
        identity_cert_der: Option<&[u8]>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        self.check_in
            .store_authenticate(id, msg, raw, identity_cert_der)
    }

    fn store_token_update(
        &self,
        id: &EnrollId,
        msg: &TokenUpdate,
        raw: &[u8],
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        self.check_in.store_token_update(id, msg, raw)
    }

    fn store_user_authenticate(
        &self,
        id: &EnrollId,
        msg: &UserAuthenticate,
        raw: &[u8],
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        self.check_in.store_user_authenticate(id, msg, raw)
    }

    fn disable(&self, id: &EnrollId) -> impl Future<Output = Result<(), StorageError>> + Send {
        self.check_in.disable(id)
    }
}

impl CommandQueue for DynStorage {
    fn enqueue_command(
        &self,
        ids: &[String],
        command: &Raw<Command>,
        priority: i8,
    ) -> impl Future<Output = Result<HashMap<String, StorageError>, StorageError>> + Send {
        self.queue.enqueue_command(ids, command, priority)
    }

    fn store_command_report(
        &self,
        id: &EnrollId,
        report: &CommandReport,
        raw: &[u8],
    ) -> impl Future<Output = Result<ReportOutcome, StorageError>> + Send {
        self.queue.store_command_report(id, report, raw)
    }

    fn retrieve_next_command(
        &self,
        id: &EnrollId,
        skip_not_now: bool,
    ) -> impl Future<Output = Result<Option<Raw<Command>>, StorageError>> + Send {
        self.queue.retrieve_next_command(id, skip_not_now)
    }

    fn clear_queue(&self, id: &EnrollId) -> impl Future<Output = Result<(), StorageError>> + Send {
        self.queue.clear_queue(id)
    }
}

impl BootstrapTokenStore for DynStorage {
    fn store_bootstrap_token(
        &self,
        id: &EnrollId,
        msg: &SetBootstrapToken,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        self.bootstrap_token.store_bootstrap_token(id, msg)
    }

    fn retrieve_bootstrap_token(
        &self,
        id: &EnrollId,
    ) -> impl Future<Output = Result<Option<BootstrapToken>, StorageError>> + Send {
        self.bootstrap_token.retrieve_bootstrap_token(id)
    }
}

impl TokenUpdateTallyStore for DynStorage {
    fn retrieve_token_update_tally(
        &self,
        id: &EnrollId,
    ) -> impl Future<Output = Result<u32, StorageError>> + Send {
        self.tally.retrieve_token_update_tally(id)
    }
}

impl PushStore for DynStorage {
    fn retrieve_push_info(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, PushInfo>, StorageError>> + Send {
        self.push.retrieve_push_info(ids)
    }
}

impl PushCertStore for DynStorage {
    fn is_push_cert_stale(
        &self,
        topic: &str,
        stale_token: i64,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send {
        self.push_cert.is_push_cert_stale(topic, stale_token)
    }

    fn retrieve_push_cert(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<StoredPushCert>, StorageError>> + Send {
        self.push_cert.retrieve_push_cert(topic)
    }

    fn store_push_cert(
        &self,
        topic: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        self.push_cert.store_push_cert(topic, cert_pem, key_pem)
    }
}

impl CertAuthStore for DynStorage {
    fn has_cert_hash(&self, hash: &str) -> impl Future<Output = Result<bool, StorageError>> + Send {
        self.cert_auth.has_cert_hash(hash)
    }

    fn enrollment_has_cert_hash(
        &self,
        id: &EnrollId,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send {
        self.cert_auth.enrollment_has_cert_hash(id)
    }

    fn is_cert_hash_associated(
        &self,
        id: &EnrollId,
        hash: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send {
        self.cert_auth.is_cert_hash_associated(id, hash)
    }

    fn bind_cert_hash(
        &self,
        id: &EnrollId,
        hash: &str,
        mode: CertBindMode,
    ) -> impl Future<Output = Result<CertBinding, StorageError>> + Send {
        self.cert_auth.bind_cert_hash(id, hash, mode)
    }

    fn associate_cert_hash(
        &self,
        id: &EnrollId,
        hash: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        self.cert_auth.associate_cert_hash(id, hash)
    }

    fn enrollment_from_cert_hash(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<Option<String>, StorageError>> + Send {
        self.cert_auth.enrollment_from_cert_hash(hash)
    }
}

impl MigrationStore for DynStorage {
    fn retrieve_migration_checkins(&self) -> BoxStream<'_, Result<Bytes, StorageError>> {
        self.migration.retrieve_migration_checkins()
    }
}
