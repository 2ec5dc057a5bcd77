use mdm_enrollment::EnrollId;
use mdm_proto::{Authenticate, BootstrapToken, SetBootstrapToken, TokenUpdate, UserAuthenticate};

use crate::StorageError;

/// Stores the check-ins that create, update and end enrollments.
///
/// Every call takes the channel's [`EnrollId`], the decoded message and, where the message is
/// kept, its exact bytes (`raw`): NanoMDM's tables hold the last raw Authenticate and TokenUpdate,
/// and migration replays them.
#[dynosaur::dynosaur(pub DynCheckInStore = dyn(box) CheckInStore)]
pub trait CheckInStore: Send + Sync {
    /// Stores an `Authenticate` (device channels only): the device row with its serial number,
    /// the raw message and the identity certificate (DER; stored as PEM by SQL backends, as
    /// NanoMDM does).
    ///
    /// A new Authenticate means a new enrollment of the device, so this also forgets the
    /// escrowed bootstrap token and resets the TokenUpdate tally of the device's channels to 0.
    /// A server then calls [`CommandQueue::clear_queue`](crate::CommandQueue::clear_queue) and
    /// [`disable`](Self::disable): the enrollment stays disabled until its next TokenUpdate.
    ///
    /// Errors with [`StorageError::DeviceChannelOnly`] for a user channel.
    fn store_authenticate(
        &self,
        id: &EnrollId,
        msg: &Authenticate,
        raw: &[u8],
        identity_cert_der: Option<&[u8]>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Stores a `TokenUpdate`: creates or updates the enrollment (type, push topic, push magic,
    /// token) and enables it, adds one to its TokenUpdate tally, and keeps the raw message — on
    /// the device for a device channel (with the `UnlockToken`, when one is sent), on the user
    /// row for a user channel.
    ///
    /// Errors with [`StorageError::UnknownEnrollment`] when the device (the parent, for a user
    /// channel) never sent Authenticate.
    fn store_token_update(
        &self,
        id: &EnrollId,
        msg: &TokenUpdate,
        raw: &[u8],
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Stores a `UserAuthenticate` on the user row: the first message of the exchange, or the
    /// second (with `DigestResponse`) beside it.
    ///
    /// Errors with [`StorageError::UnknownEnrollment`] when the parent device is unknown.
    fn store_user_authenticate(
        &self,
        id: &EnrollId,
        msg: &UserAuthenticate,
        raw: &[u8],
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Disables an enrollment (after Authenticate, or on CheckOut) and resets its TokenUpdate
    /// tally: a disabled enrollment gets no pushes until its next TokenUpdate.
    ///
    /// Disabling a device channel disables its user channels too; disabling a user channel
    /// disables only that channel. An unknown id is not an error: there is nothing to disable.
    fn disable(&self, id: &EnrollId) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Stores several check-ins in order, each exactly as its own method would (replaying
    /// another server's check-ins in bulk, as an import does), and returns each one's outcome in
    /// the same order. A check-in that fails writes nothing and does not stop the others.
    ///
    /// The default calls the methods one by one. A store may write the lot in fewer
    /// transactions (the SQL stores write each call in one); then an error that is no single
    /// check-in's (the database went away) fails the whole call with nothing written.
    fn store_check_ins(
        &self,
        check_ins: &[CheckInWrite<'_>],
    ) -> impl Future<Output = Result<Vec<Result<(), StorageError>>, StorageError>> + Send {
        async move {
            let mut outcomes = Vec::with_capacity(check_ins.len());
            for check_in in check_ins {
                let outcome = match *check_in {
                    CheckInWrite::Authenticate {
                        id,
                        msg,
                        raw,
                        identity_cert_der,
                    } => {
                        self.store_authenticate(id, msg, raw, identity_cert_der)
                            .await
                    }
                    CheckInWrite::TokenUpdate { id, msg, raw } => {
                        self.store_token_update(id, msg, raw).await
                    }
                    CheckInWrite::UserAuthenticate { id, msg, raw } => {
                        self.store_user_authenticate(id, msg, raw).await
                    }
                };
                outcomes.push(outcome);
            }
            Ok(outcomes)
        }
    }
}

/// One check-in for [`CheckInStore::store_check_ins`]: the arguments of the method that stores
/// it alone.
#[derive(Clone, Copy, Debug)]
pub enum CheckInWrite<'a> {
    /// As [`CheckInStore::store_authenticate`].
    Authenticate {
        /// The device channel.
        id: &'a EnrollId,
        /// The message.
        msg: &'a Authenticate,
        /// Its exact bytes.
        raw: &'a [u8],
        /// The identity certificate, DER.
        identity_cert_der: Option<&'a [u8]>,
    },
    /// As [`CheckInStore::store_token_update`].
    TokenUpdate {
        /// The channel.
        id: &'a EnrollId,
        /// The message.
        msg: &'a TokenUpdate,
        /// Its exact bytes.
        raw: &'a [u8],
    },
    /// As [`CheckInStore::store_user_authenticate`].
    UserAuthenticate {
        /// The user channel.
        id: &'a EnrollId,
        /// The message.
        msg: &'a UserAuthenticate,
        /// Its exact bytes.
        raw: &'a [u8],
    },
}

/// Counts the TokenUpdates an enrollment sent since it was (re-)enrolled: a server tells the
/// first TokenUpdate (tally 1, the enrollment is new) from later ones.
#[dynosaur::dynosaur(pub DynTokenUpdateTallyStore = dyn(box) TokenUpdateTallyStore)]
pub trait TokenUpdateTallyStore: Send + Sync {
    /// The number of TokenUpdates since the enrollment's last Authenticate or disable; 0 for an
    /// unknown enrollment (not an error, as in NanoMDM).
    fn retrieve_token_update_tally(
        &self,
        id: &EnrollId,
    ) -> impl Future<Output = Result<u32, StorageError>> + Send;
}

/// Escrows the bootstrap token a device sends with `SetBootstrapToken` (device channels only).
#[dynosaur::dynosaur(pub DynBootstrapTokenStore = dyn(box) BootstrapTokenStore)]
pub trait BootstrapTokenStore: Send + Sync {
    /// Stores the token, or clears it when the message has none.
    ///
    /// Errors with [`StorageError::UnknownEnrollment`] for an unknown device and with
    /// [`StorageError::DeviceChannelOnly`] for a user channel.
    fn store_bootstrap_token(
        &self,
        id: &EnrollId,
        msg: &SetBootstrapToken,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The escrowed token; `None` when none is escrowed or the device is unknown.
    ///
    /// Errors with [`StorageError::DeviceChannelOnly`] for a user channel.
    fn retrieve_bootstrap_token(
        &self,
        id: &EnrollId,
    ) -> impl Future<Output = Result<Option<BootstrapToken>, StorageError>> + Send;
}
