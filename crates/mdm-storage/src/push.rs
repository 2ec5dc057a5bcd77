use std::collections::HashMap;

use mdm_enrollment::EnrollmentId;
use mdm_proto::{PushInfo, Secret};

use crate::StorageError;

/// Looks up what APNs needs to wake enrollments.
#[dynosaur::dynosaur(pub DynPushStore = dyn(box) PushStore)]
pub trait PushStore: Send + Sync {
    /// Push info for each id that is known and enabled; other ids — unknown, or disabled (by
    /// CheckOut, or after a new Authenticate until the next TokenUpdate) — are simply absent from
    /// the map, never an error for the whole call. An empty `ids` gives an empty map.
    fn retrieve_push_info(
        &self,
        ids: &[EnrollmentId],
    ) -> impl Future<Output = Result<HashMap<EnrollmentId, PushInfo>, StorageError>> + Send;
}

/// A push certificate as stored: PEM certificate and key, and the token that changes whenever the
/// certificate for the topic is replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPushCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM.
    pub key_pem: Secret<String>,
    /// Changes every time the certificate for this topic is stored.
    pub stale_token: i64,
}

/// Stores MDM push certificates by topic.
#[dynosaur::dynosaur(pub DynPushCertStore = dyn(box) PushCertStore)]
pub trait PushCertStore: Send + Sync {
    /// Whether the certificate for `topic` changed since `stale_token` was read. A topic with no
    /// certificate (any more) is stale.
    fn is_push_cert_stale(
        &self,
        topic: &str,
        stale_token: i64,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// The stored certificate for `topic`, if any.
    fn retrieve_push_cert(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<StoredPushCert>, StorageError>> + Send;

    /// Stores (or replaces) the certificate for `topic`; its stale token changes.
    fn store_push_cert(
        &self,
        topic: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}
