use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use mdm_proto::{CertHash, CheckIn};
use mdm_storage::{CertAuthStore, CertBindMode, CertBinding, StorageError};

use crate::{MdmError, MdmMessage, MdmRequest, MdmResponse, take_ready};

/// Why a request's identity certificate was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertAuthError {
    /// The request carries no identity certificate.
    #[error("missing MDM certificate")]
    MissingCertificate,
    /// The certificate is bound to another enrollment, or (retro mode) the enrollment is bound to
    /// another certificate.
    #[error("cert re-use not permitted")]
    CertReuse,
    /// The enrollment is not bound to this certificate.
    #[error("enrollment not associated with cert")]
    NotAssociated,
    /// The binding could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Binds each device channel to the identity certificate it enrolled with, and refuses requests
/// that present another device's certificate (NanoMDM's certauth).
///
/// * Authenticate binds its certificate to the device channel, unless the certificate is
///   already bound to a different one.
/// * Every other message (command reports included) must present a certificate bound to its
///   device channel; user channels are checked against their device's binding.
/// * Retro mode admits enrollments that predate the binding: a channel with no binding at all may
///   bind, once, a certificate that is bound nowhere else.
///
/// Every bind is one atomic store call ([`CertAuthStore::bind_cert_hash`]): of requests racing
/// to bind one certificate to different channels (or, in retro mode, certificates to one
/// channel), exactly one wins and the rest are refused.
///
/// Bindings are only ever added, never removed, so once the store has said a channel is bound
/// to a certificate, that stays true: the layer remembers the pairs it has seen bound (up to
/// [`DEFAULT_ASSOCIATION_CACHE`], see [`Self::association_cache`]) and the next request with
/// the same pair needs no store call. A pair is remembered only after the store confirmed it.
///
/// Refusals are [`MdmError::CertAuth`] (500: a device must not be told it is unauthorized).
#[derive(Clone, Debug)]
pub struct CertAuthLayer<C> {
    store: C,
    retro: bool,
    bound: Arc<BoundPairs>,
}

/// How many channel–certificate pairs a [`CertAuthLayer`] remembers by default (a few MiB).
pub const DEFAULT_ASSOCIATION_CACHE: usize = 100_000;

/// The channel–certificate pairs the store has confirmed bound, by certificate (a device's
/// certificate serves its user channels too); forgotten all at once when full (bounded
/// memory, and the store answers again for whoever comes next).
#[derive(Debug)]
struct BoundPairs {
    capacity: usize,
    pairs: Mutex<BoundByHash>,
}

#[derive(Debug, Default)]
struct BoundByHash {
    channels: HashMap<CertHash, Vec<Box<str>>>,
    len: usize,
}

impl BoundPairs {
    fn new(capacity: usize) -> Self {
        BoundPairs {
            capacity,
            pairs: Mutex::new(BoundByHash::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoundByHash> {
        // A map of whole entries is valid whatever panicked while it was held.
        self.pairs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn contains(&self, id: &str, hash: &CertHash) -> bool {
        self.capacity > 0
            && self
                .lock()
                .channels
                .get(hash)
                .is_some_and(|ids| ids.iter().any(|bound| &**bound == id))
    }

    fn remember(&self, id: &str, hash: &CertHash) {
        if self.capacity == 0 {
            return;
        }
        let mut pairs = self.lock();
        if pairs.len >= self.capacity {
            *pairs = BoundByHash::default();
        }
        let ids = pairs.channels.entry(*hash).or_default();
        if !ids.iter().any(|bound| &**bound == id) {
            ids.push(id.into());
            pairs.len += 1;
        }
    }
}

impl<C> CertAuthLayer<C> {
    /// A layer checking bindings in `store`.
    pub fn new(store: C) -> Self {
        CertAuthLayer {
            store,
            retro: false,
            bound: Arc::new(BoundPairs::new(DEFAULT_ASSOCIATION_CACHE)),
        }
    }

    /// How many channel–certificate pairs to remember as bound (0: ask the store on every
    /// request). Remembering is correct as long as bindings are only added, as every store
    /// in this workspace and NanoMDM's do; a deployment that removes bindings by hand from
    /// a shared database should set 0, or restart the servers after.
    pub fn association_cache(mut self, capacity: usize) -> Self {
        self.bound = Arc::new(BoundPairs::new(capacity));
        self
    }

    /// Enables retroactive binding (NanoMDM `-retro`).
    pub fn retro(mut self, retro: bool) -> Self {
        self.retro = retro;
        self
    }
}

impl<C: Clone, S> tower::Layer<S> for CertAuthLayer<C> {
    type Service = CertAuth<C, S>;

    fn layer(&self, inner: S) -> Self::Service {
        CertAuth {
            store: self.store.clone(),
            retro: self.retro,
            bound: self.bound.clone(),
            inner,
        }
    }
}

/// The service [`CertAuthLayer`] produces.
#[derive(Clone, Debug)]
pub struct CertAuth<C, S> {
    store: C,
    retro: bool,
    bound: Arc<BoundPairs>,
    inner: S,
}

async fn authorize<C: CertAuthStore>(
    store: &C,
    retro: bool,
    bound: &BoundPairs,
    request: &MdmRequest,
) -> Result<(), CertAuthError> {
    let identity = request
        .identity
        .as_ref()
        .ok_or(CertAuthError::MissingCertificate)?;
    let hash = identity.hash();
    let id = &request.enroll_id;
    let is_authenticate = matches!(&request.message, MdmMessage::CheckIn(c) if matches!(c.value(), CheckIn::Authenticate(_)));
    let mode = if is_authenticate {
        CertBindMode::Authenticate
    } else {
        // Bindings are only ever added, so a binding read here (or remembered from an earlier
        // request) still holds: the common case needs no write, and mostly no store call.
        if bound.contains(id.id().as_str(), hash) {
            return Ok(());
        }
        if store.is_cert_hash_associated(id, hash).await? {
            bound.remember(id.id().as_str(), hash);
            return Ok(());
        }
        if !retro {
            return Err(CertAuthError::NotAssociated);
        }
        CertBindMode::Retro
    };
    // The check and the bind are one atomic step in the store: of several requests racing to
    // bind one certificate (or, retro, one channel), exactly one wins.
    match store.bind_cert_hash(id, hash, mode).await? {
        CertBinding::Bound | CertBinding::AlreadyBound => Ok(()),
        CertBinding::BoundElsewhere(_) | CertBinding::EnrollmentBound => {
            Err(CertAuthError::CertReuse)
        }
        // A refusal this layer does not know yet is still a refusal.
        _ => Err(CertAuthError::CertReuse),
    }
}

impl<C, S> tower::Service<MdmRequest> for CertAuth<C, S>
where
    C: CertAuthStore + Clone + 'static,
    S: tower::Service<MdmRequest, Response = MdmResponse, Error = MdmError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = MdmResponse;
    type Error = MdmError;
    type Future = BoxFuture<'static, Result<MdmResponse, MdmError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MdmRequest) -> Self::Future {
        let store = self.store.clone();
        let retro = self.retro;
        let bound = self.bound.clone();
        let mut inner = take_ready(&mut self.inner);
        Box::pin(async move {
            authorize(&store, retro, &bound, &request).await?;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mdm_enrollment::{EnrollId, EnrollmentId};
    use mdm_proto::CommandReport;
    use mdm_storage::MemoryStore;

    use super::*;
    use crate::DeviceIdentity;

    /// A memory store that counts the association lookups it answers.
    struct Counting {
        store: MemoryStore,
        lookups: AtomicUsize,
    }

    impl CertAuthStore for Counting {
        async fn has_cert_hash(&self, hash: &CertHash) -> Result<bool, StorageError> {
            self.store.has_cert_hash(hash).await
        }
        async fn enrollment_has_cert_hash(&self, id: &EnrollId) -> Result<bool, StorageError> {
            self.store.enrollment_has_cert_hash(id).await
        }
        async fn is_cert_hash_associated(
            &self,
            id: &EnrollId,
            hash: &CertHash,
        ) -> Result<bool, StorageError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            self.store.is_cert_hash_associated(id, hash).await
        }
        async fn bind_cert_hash(
            &self,
            id: &EnrollId,
            hash: &CertHash,
            mode: CertBindMode,
        ) -> Result<CertBinding, StorageError> {
            self.store.bind_cert_hash(id, hash, mode).await
        }
        async fn associate_cert_hash(
            &self,
            id: &EnrollId,
            hash: &CertHash,
        ) -> Result<(), StorageError> {
            self.store.associate_cert_hash(id, hash).await
        }
        async fn enrollment_from_cert_hash(
            &self,
            hash: &CertHash,
        ) -> Result<Option<EnrollmentId>, StorageError> {
            self.store.enrollment_from_cert_hash(hash).await
        }
    }

    /// An Idle from `udid` (or its user channel) presenting the certificate hashed `hash`.
    fn idle(udid: &str, user: Option<&str>, hash: CertHash) -> MdmRequest {
        let user = user.map_or(String::new(), |u| {
            format!("<key>UserID</key><string>{u}</string>")
        });
        let body = format!(
            "<plist><dict><key>UDID</key><string>{udid}</string>{user}\
             <key>Status</key><string>Idle</string></dict></plist>"
        );
        MdmRequest::report(CommandReport::decode(body.into_bytes()).unwrap())
            .unwrap()
            .with_identity(DeviceIdentity::new(Vec::new(), hash))
    }

    #[tokio::test]
    async fn a_confirmed_binding_is_remembered_and_a_refusal_is_not() {
        let store = Counting {
            store: MemoryStore::new(),
            lookups: AtomicUsize::new(0),
        };
        let (alice, mallory) = (CertHash::from_bytes([1; 32]), CertHash::from_bytes([2; 32]));
        let device = EnrollId::device("ALICE");
        store.associate_cert_hash(&device, &alice).await.unwrap();
        let bound = BoundPairs::new(DEFAULT_ASSOCIATION_CACHE);
        let lookups = || store.lookups.load(Ordering::SeqCst);

        for _ in 0..3 {
            authorize(&store, false, &bound, &idle("ALICE", None, alice))
                .await
                .unwrap();
        }
        assert_eq!(lookups(), 1, "the binding is read once, then remembered");

        // The user channel presents the device's certificate: its own pair, read once too.
        for _ in 0..2 {
            authorize(&store, false, &bound, &idle("ALICE", Some("U1"), alice))
                .await
                .unwrap();
        }
        assert_eq!(lookups(), 2);

        // Another certificate on Alice's channel, and Alice's certificate on another channel,
        // are refused every time: only confirmed pairs are remembered.
        for _ in 0..2 {
            let err = authorize(&store, false, &bound, &idle("ALICE", None, mallory)).await;
            assert!(matches!(err, Err(CertAuthError::NotAssociated)), "{err:?}");
            let err = authorize(&store, false, &bound, &idle("BOB", None, alice)).await;
            assert!(matches!(err, Err(CertAuthError::NotAssociated)), "{err:?}");
        }
        assert_eq!(lookups(), 6);
    }

    #[tokio::test]
    async fn the_memory_is_bounded_and_can_be_turned_off() {
        let store = Counting {
            store: MemoryStore::new(),
            lookups: AtomicUsize::new(0),
        };
        let hashes: Vec<CertHash> = (0..3u8).map(|i| CertHash::from_bytes([i; 32])).collect();
        for (i, hash) in hashes.iter().enumerate() {
            let id = EnrollId::device(format!("D{i}"));
            store.associate_cert_hash(&id, hash).await.unwrap();
        }
        let lookups = || store.lookups.load(Ordering::SeqCst);

        // Room for two: the third pair forgets the first two.
        let bound = BoundPairs::new(2);
        for (i, hash) in hashes.iter().enumerate() {
            let request = idle(&format!("D{i}"), None, *hash);
            authorize(&store, false, &bound, &request).await.unwrap();
        }
        assert_eq!(bound.lock().len, 1);
        authorize(&store, false, &bound, &idle("D2", None, hashes[2]))
            .await
            .unwrap();
        assert_eq!(lookups(), 3, "the last pair is still remembered");
        authorize(&store, false, &bound, &idle("D0", None, hashes[0]))
            .await
            .unwrap();
        assert_eq!(lookups(), 4, "the first was forgotten");

        let off = BoundPairs::new(0);
        for _ in 0..2 {
            authorize(&store, false, &off, &idle("D1", None, hashes[1]))
                .await
                .unwrap();
        }
        assert_eq!(lookups(), 6, "capacity 0 asks the store every time");
    }
}
