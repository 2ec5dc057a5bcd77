use bytes::Bytes;
use futures_util::stream::BoxStream;

use crate::StorageError;

/// Reads back the check-ins needed to re-create every enrollment in another server (NanoMDM's
/// `/migration` and its `nano2nano` tool).
#[dynosaur::dynosaur(pub DynMigrationStore = dyn(box) MigrationStore)]
pub trait MigrationStore: Send + Sync {
    /// The raw check-in bodies, in replay order: for each device its Authenticate, then its
    /// TokenUpdate (when it sent one); after all devices, each user channel's TokenUpdate.
    ///
    /// A stream, because a store may hold millions of enrollments: a backend reads lazily and
    /// the consumer sets the pace. A failed read ends the stream with an error item.
    fn retrieve_migration_checkins(&self) -> BoxStream<'_, Result<Bytes, StorageError>>;
}
