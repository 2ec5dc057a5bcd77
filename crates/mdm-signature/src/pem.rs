//! PEM through `mdm_proto::pem` (the workspace's one reader), with its errors as this crate's.

#[cfg(feature = "signer")]
pub(crate) use mdm_proto::pem::Block;
use mdm_proto::pem::PemError;
pub(crate) use mdm_proto::pem::{LENIENT_BASE64, encode};

use crate::{Error, HeaderError};

impl From<PemError> for Error {
    fn from(e: PemError) -> Self {
        match e {
            PemError::UnclosedBegin => Error::CertificateHeader(HeaderError::UnclosedBegin),
            PemError::MissingEnd { label } => {
                Error::CertificateHeader(HeaderError::MissingEnd { label })
            }
            PemError::Base64 { error, .. } => Error::Base64(error),
            // A reading error this version does not know is still a malformed header.
            _ => Error::CertificateHeader(HeaderError::NoPemBlock),
        }
    }
}

/// The PEM blocks of `input`.
#[cfg(feature = "signer")]
pub(crate) fn blocks(input: &[u8]) -> impl Iterator<Item = Result<Block, Error>> + '_ {
    mdm_proto::pem::blocks(input).map(|block| block.map_err(Error::from))
}

/// The DER of the `CERTIFICATE` blocks of `input`.
pub(crate) fn certificates(input: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, Error>> + '_ {
    mdm_proto::pem::certificates(input).map(|der| der.map_err(Error::from))
}
