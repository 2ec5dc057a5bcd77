use mdm_enrollment::{EnrollId, EnrollmentId};
use mdm_proto::CertHash;

use crate::StorageError;

/// Which new binding [`CertAuthStore::bind_cert_hash`] may add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertBindMode {
    /// Authenticate: a hash bound to no other device channel joins this channel's hashes (a
    /// renewed identity certificate adds one).
    Authenticate,
    /// Retroactive binding (NanoMDM `-retro`): only a device channel holding no hash at all may
    /// bind, and only a hash bound to no device channel.
    Retro,
}

/// What [`CertAuthStore::bind_cert_hash`] found, and did. Only [`CertBinding::Bound`] changed
/// anything.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertBinding {
    /// The hash was bound to no device channel; it is now bound to this one.
    Bound,
    /// The hash was already bound to this device channel; nothing changed. (A database written
    /// without this check may hold it bound to other channels as well.)
    AlreadyBound,
    /// The hash is bound to another device channel, whose id this is; nothing was bound.
    BoundElsewhere(EnrollmentId),
    /// [`CertBindMode::Retro`] only: the device channel already holds another hash; nothing was
    /// bound.
    EnrollmentBound,
}

/// Binds identity certificates to enrollments (NanoMDM's certauth): which certificate, by the
/// hex SHA-256 of its DER, a device channel enrolled with.
///
/// Associations are kept per device channel: every method files a user channel's id under its
/// parent ([`EnrollId::device_channel_id`]). Hashes are compared in lowercase; a store
/// lowercases what it is given. One device channel may hold several hashes (a renewed identity
/// certificate adds one); one hash is bound to one device channel, which
/// [`bind_cert_hash`](CertAuthStore::bind_cert_hash) guarantees.
#[dynosaur::dynosaur(pub DynCertAuthStore = dyn(box) CertAuthStore)]
pub trait CertAuthStore: Send + Sync {
    /// Whether `hash` is bound to any enrollment.
    fn has_cert_hash(
        &self,
        hash: &CertHash,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Whether the device channel of `id` has any hash bound.
    fn enrollment_has_cert_hash(
        &self,
        id: &EnrollId,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Whether `hash` is bound to the device channel of `id`.
    fn is_cert_hash_associated(
        &self,
        id: &EnrollId,
        hash: &CertHash,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Binds `hash` to the device channel of `id`, unless that breaks the rule of `mode` — the
    /// check and the write as one atomic step.
    ///
    /// In order: `hash` already bound to this channel is [`CertBinding::AlreadyBound`]; in
    /// [`CertBindMode::Retro`] a channel holding any other hash is
    /// [`CertBinding::EnrollmentBound`]; `hash` bound to another channel is
    /// [`CertBinding::BoundElsewhere`]; otherwise the binding is written:
    /// [`CertBinding::Bound`].
    ///
    /// However many binds of one fresh hash to different channels run at once (from one process
    /// or several sharing the database), exactly one is `Bound` and the others see its binding;
    /// likewise at most one retro bind succeeds per channel. This, not a lookup followed by
    /// [`associate_cert_hash`](CertAuthStore::associate_cert_hash), is how a certificate gets
    /// bound.
    fn bind_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
        mode: CertBindMode,
    ) -> impl Future<Output = Result<CertBinding, StorageError>> + Send;

    /// Binds `hash` to the device channel of `id` unconditionally (binding it again is not an
    /// error): for imports and mirrors of bindings decided elsewhere. Checking that the hash is
    /// not bound to another channel first is a race; that is
    /// [`bind_cert_hash`](CertAuthStore::bind_cert_hash).
    fn associate_cert_hash(
        &self,
        id: &EnrollId,
        hash: &CertHash,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// [`associate_cert_hash`](CertAuthStore::associate_cert_hash) for each of `bindings`
    /// (device channel, hash), in order: for imports of many at once. The default calls it
    /// one by one and stops at the first error; a store may write them all in one transaction
    /// (the SQL stores do), and then an error writes none.
    fn associate_cert_hashes(
        &self,
        bindings: &[(EnrollId, CertHash)],
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        async move {
            for (id, hash) in bindings {
                self.associate_cert_hash(id, hash).await?;
            }
            Ok(())
        }
    }

    /// The device-channel id `hash` is bound to, if any (the other direction).
    fn enrollment_from_cert_hash(
        &self,
        hash: &CertHash,
    ) -> impl Future<Output = Result<Option<EnrollmentId>, StorageError>> + Send;
}
