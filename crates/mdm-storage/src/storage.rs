use std::sync::Arc;

use crate::{
    BootstrapTokenStore, CertAuthStore, CheckInStore, CommandQueue, DynBootstrapTokenStore,
    DynCertAuthStore, DynCheckInStore, DynCommandQueue, DynInspectionStore, DynMigrationStore,
    DynPushCertStore, DynPushStore, DynTokenUpdateTallyStore, InspectionStore, MigrationStore,
    PushCertStore, PushStore, TokenUpdateTallyStore,
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
    + InspectionStore
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
        + InspectionStore
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
    inspection: Arc<DynInspectionStore<'static>>,
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
    /// Inspection and retention.
    pub inspection: Arc<DynInspectionStore<'static>>,
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
            migration: DynMigrationStore::new_arc(store.clone()),
            inspection: DynInspectionStore::new_arc(store),
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
            inspection,
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
            inspection,
        }
    }
}

// Each concern to its own part.
crate::forward_store!(impl[] DynStorage => check_in: CheckInStore);
crate::forward_store!(impl[] DynStorage => queue: CommandQueue);
crate::forward_store!(impl[] DynStorage => bootstrap_token: BootstrapTokenStore);
crate::forward_store!(impl[] DynStorage => tally: TokenUpdateTallyStore);
crate::forward_store!(impl[] DynStorage => push: PushStore);
crate::forward_store!(impl[] DynStorage => push_cert: PushCertStore);
crate::forward_store!(impl[] DynStorage => cert_auth: CertAuthStore);
crate::forward_store!(impl[] DynStorage => migration: MigrationStore);
crate::forward_store!(impl[] DynStorage => inspection: InspectionStore);
