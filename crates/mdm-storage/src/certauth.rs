use std::sync::Arc;

use mdm_enrollment::EnrollId;

use crate::StorageError;

/// Binds identity certificates to enrollments (NanoMDM's certauth): which certificate, by the
/// hex SHA-256 of its DER, a device channel enrolled with.
///
/// Associations are kept per device channel: every method files a user channel's id under its
/// parent ([`EnrollId::device_channel_id`]). Hashes are compared in lowercase; a store
/// lowercases what it is given. One device channel may hold several hashes (a renewed identity
/// certificate adds one).
#[dynosaur::dynosaur(pub DynCertAuthStore = dyn(box) CertAuthStore)]
pub trait CertAuthStore: Send + Sync {
    /// Whether `hash` is bound to any enrollment.
    fn has_cert_hash(&self, hash: &str) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Whether the device channel of `id` has any hash bound.
    fn enrollment_has_cert_hash(
        &self,
        id: &EnrollId,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Whether `hash` is bound to the device channel of `id`.
    fn is_cert_hash_associated(
        &self,
        id: &EnrollId,
        hash: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Binds `hash` to the device channel of `id` (binding it again is not an error).
    fn associate_cert_hash(
        &self,
        id: &EnrollId,
        hash: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The device-channel id `hash` is bound to, if any (the other direction).
    fn enrollment_from_cert_hash(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<Option<String>, StorageError>> + Send;
}

impl<T: CertAuthStore + ?Sized> CertAuthStore for Arc<T> {
    fn has_cert_hash(&self, hash: &str) -> impl Future<Output = Result<bool, StorageError>> + Send {
        (**self).has_cert_hash(hash)
    }

    fn enrollment_has_cert_hash(
        &self,
        id: &EnrollId,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send {
        (**self).enrollment_has_cert_hash(id)
    }

    fn is_cert_hash_associated(
        &self,
        id: &EnrollId,
        hash: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send {
        (**self).is_cert_hash_associated(id, hash)
    }

    fn associate_cert_hash(
        &self,
        id: &EnrollId,
        hash: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        (**self).associate_cert_hash(id, hash)
    }

    fn enrollment_from_cert_hash(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<Option<String>, StorageError>> + Send {
        (**self).enrollment_from_cert_hash(hash)
    }
}
