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
}

impl StorageError {
    /// Wraps a backend's own error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Backend(Box::new(e))
    }
}
