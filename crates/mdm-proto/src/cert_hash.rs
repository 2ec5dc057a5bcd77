//! The key under which a device identity certificate is bound to an enrollment.

use std::fmt;
use std::str::FromStr;

/// The SHA-256 of a device identity certificate's DER: the key of the certificate binding
/// (NanoMDM's certauth), written as 64 lowercase hex digits wherever it is stored or shown.
///
/// Computing it is `mdm-signature`'s business (`IdentityCertificate::cert_hash`); this type only
/// carries it, so that storage and services need no cryptography.
///
/// ```
/// use mdm_proto::CertHash;
///
/// let hash: CertHash = "AB".repeat(32).parse().unwrap();
/// assert_eq!(hash.to_string(), "ab".repeat(32));
/// assert!("ab".parse::<CertHash>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertHash([u8; 32]);

impl CertHash {
    /// A hash from its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        CertHash(bytes)
    }

    /// The 32 bytes of the hash.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for CertHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CertHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertHash({self})")
    }
}

/// Text that is not 64 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a certificate hash is 64 hex digits")]
pub struct InvalidCertHash;

impl FromStr for CertHash {
    type Err = InvalidCertHash;

    /// Hex digits of either case: databases written by other servers may hold upper case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| InvalidCertHash)?;
        Ok(CertHash(bytes))
    }
}

impl From<[u8; 32]> for CertHash {
    fn from(bytes: [u8; 32]) -> Self {
        CertHash(bytes)
    }
}
