use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use mdm_proto::CheckIn;
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
/// Refusals are [`MdmError::CertAuth`] (500: a device must not be told it is unauthorized).
#[derive(Clone, Debug)]
pub struct CertAuthLayer<C> {
    store: C,
    retro: bool,
}

impl<C> CertAuthLayer<C> {
    /// A layer checking bindings in `store`.
    pub fn new(store: C) -> Self {
        CertAuthLayer {
            store,
            retro: false,
        }
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
            inner,
        }
    }
}

/// The service [`CertAuthLayer`] produces.
#[derive(Clone, Debug)]
pub struct CertAuth<C, S> {
    store: C,
    retro: bool,
    inner: S,
}

async fn authorize<C: CertAuthStore>(
    store: &C,
    retro: bool,
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
        // Bindings are only ever added, so a binding read here still holds: the common case
        // needs no write.
        if store.is_cert_hash_associated(id, hash).await? {
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
        let mut inner = take_ready(&mut self.inner);
        Box::pin(async move {
            authorize(&store, retro, &request).await?;
            inner.call(request).await
        })
    }
}
