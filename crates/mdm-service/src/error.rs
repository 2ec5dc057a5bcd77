use mdm_enrollment::EnrollmentError;
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
    UserAuthenticateDeclined(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Declarative Management forwarding failed.
    #[error("declarative management: {0}")]
    DeclarativeManagement(#[from] DeclarativeManagementError),
    /// GetToken failed.
    #[error("get token: {0}")]
    GetToken(#[from] GetTokenError),
}

impl MdmError {
    /// The HTTP status a device should get for this error: 400, 410 or 500.
    pub fn status(&self) -> u16 {
        match self {
            MdmError::Decode(_) | MdmError::Enrollment(_) | MdmError::Unsupported(_) => 400,
            MdmError::UserAuthenticateDeclined(_) => 410,
            MdmError::CertAuth(_)
            | MdmError::Storage(_)
            | MdmError::DeclarativeManagement(_)
            | MdmError::GetToken(_) => 500,
        }
    }
}
