use mdm_enrollment::EnrollmentId;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The backend itself failed: the database is unreachable, a query failed, a file could not
    /// be written. Usually transient; a server answers 500.
    #[error("storage backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data could not be read back (a corrupt row, an undecodable value).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The call needs an enrollment (or, for a user channel, its device channel) that the store
    /// does not know: e.g. a TokenUpdate from a device that never sent Authenticate, or a command
    /// enqueued for an id that never enrolled. Carries the id that is missing.
    #[error("unknown enrollment {0:?}")]
    UnknownEnrollment(EnrollmentId),
    /// A command with this `CommandUUID` is already stored; nothing was enqueued.
    #[error("a command with CommandUUID {0:?} already exists")]
    DuplicateCommand(String),
    /// The call only makes sense on a device channel (Authenticate, bootstrap token) and was
    /// given the user channel with this id.
    #[error("{0:?} is a user channel; this operation needs a device channel")]
    DeviceChannelOnly(EnrollmentId),
}

impl StorageError {
    /// Wraps a backend's own error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Backend(Box::new(e))
    }
}
