use bytes::Bytes;
use mdm_enrollment::{EnrollmentError, EnrollmentId};
use mdm_proto::DecodeError;
use mdm_storage::StorageError;

use crate::{CertAuthError, DeclarativeManagementError, GetTokenError};

/// Why the service could not answer a device, and the status the device should see.
///
/// A device is never answered 401: it may unenroll itself. Problems with the message are 400, a
/// declined UserAuthenticate is 410, everything else (certificate binding, storage, upstream
/// services) is 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MdmError {
    /// The body is not a valid message.
    #[error("bad message: {0}")]
    Decode(#[from] DecodeError),
    /// The message names no enrollment.
    #[error("bad enrollment: {0}")]
    Enrollment(#[from] EnrollmentError),
    /// The service was asked to answer a message this kind of service does not handle.
    #[error("unsupported message: {0}")]
    Unsupported(&'static str),
    /// The identity certificate is not (or may not be) bound to this enrollment.
    #[error("cert auth: {0}")]
    CertAuth(#[from] CertAuthError),
    /// UserAuthenticate declined: the device should not manage this user (HTTP 410).
    #[error("declining management of user {0}")]
    UserAuthenticateDeclined(EnrollmentId),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Declarative Management forwarding failed.
    #[error("declarative management: {0}")]
    DeclarativeManagement(#[from] DeclarativeManagementError),
    /// GetToken failed.
    #[error("get token: {0}")]
    GetToken(#[from] GetTokenError),
    /// A layer refused the request with a status (and body) of its own choosing, which the
    /// HTTP adapter sends as it is — e.g. a block list answering 403 with Apple's
    /// `{"code": "com.apple.unrecognized.device"}`. See [`MdmError::refused`].
    #[error("refused with HTTP status {}", .0.status)]
    Refused(Refusal),
}

/// The answer a layer gives instead of the service's ([`MdmError::Refused`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The body's `Content-Type`, when there is a body.
    pub content_type: Option<&'static str>,
    /// The body (empty for none).
    pub body: Bytes,
}

impl MdmError {
    /// A refusal with `status` and no body.
    ///
    /// Choose the status with care: a device that is answered 401 may remove its MDM profile,
    /// which is why nothing in Rootstock ever answers one.
    pub fn refused(status: u16) -> Self {
        MdmError::Refused(Refusal {
            status,
            content_type: None,
            body: Bytes::new(),
        })
    }

    /// A refusal with `status` and a JSON body.
    ///
    /// ```
    /// let error = mdm_service::MdmError::refused_json(
    ///     403,
    ///     &serde_json::json!({"code": "com.apple.unrecognized.device"}),
    /// );
    /// assert_eq!(error.status(), 403);
    /// ```
    pub fn refused_json(status: u16, body: &impl serde::Serialize) -> Self {
        // Serializing a value to memory fails only for a map with non-string keys, which JSON
        // cannot hold: that is the caller's value, refused with an empty body instead.
        let body = serde_json::to_vec(body).unwrap_or_default();
        MdmError::Refused(Refusal {
            status,
            content_type: Some("application/json"),
            body: body.into(),
        })
    }

    /// The HTTP status a device should get for this error: 400, 410 or 500.
    pub fn status(&self) -> u16 {
        match self {
            MdmError::Decode(_) | MdmError::Enrollment(_) | MdmError::Unsupported(_) => 400,
            MdmError::UserAuthenticateDeclined(_) => 410,
            MdmError::CertAuth(_)
            | MdmError::Storage(_)
            | MdmError::DeclarativeManagement(_)
            | MdmError::GetToken(_) => 500,
            MdmError::Refused(refusal) => refusal.status,
        }
    }
}
