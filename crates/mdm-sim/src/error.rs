//! The crate's error type.

use bytes::Bytes;

use crate::device::{Channel, DeviceKind};

/// Why a simulated device could not build, sign or complete an exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message was asked for on the user channel of a device that has none.
    #[error("a {} device has no user channel", .0.as_str())]
    NoUserChannel(DeviceKind),

    /// The server answered with a status other than 2xx.
    #[error("server answered {sent} on the {} channel with HTTP {status}", channel.as_str())]
    Refused {
        /// The channel the request came from.
        channel: Channel,
        /// The check-in `MessageType` or report `Status` that was refused.
        sent: String,
        /// The HTTP status.
        status: u16,
        /// The response body (servers often explain themselves in it).
        body: Bytes,
    },

    /// The server answered a report with a body that is not a command.
    #[error("server sent a body that is not a command: {0}")]
    MalformedCommand(#[source] mdm_proto::DecodeError),

    /// A response was handed to a client that has no request in flight.
    #[error("no request is waiting for a response")]
    NoRequestInFlight,

    /// Signing failed, or a certificate or key could not be loaded or issued.
    #[error("identity: {0}")]
    Identity(#[from] mdm_signature::signer::SignerError),
}

impl From<mdm_signature::Error> for Error {
    fn from(e: mdm_signature::Error) -> Self {
        Error::Identity(e.into())
    }
}
