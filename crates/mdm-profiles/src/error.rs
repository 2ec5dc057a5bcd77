//! Why a profile could not be read, signed or verified.

/// Why a `.mobileconfig` (signed or not) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The bytes are not a property list within the decode limits.
    #[error("not a property list: {0}")]
    Plist(#[from] mdm_proto::DecodeError),
    /// The top-level `PayloadType` is not `Configuration`.
    #[error("the top-level PayloadType is {0:?}, not \"Configuration\"")]
    NotConfiguration(String),
    /// A key a profile or payload must have is missing.
    #[error("{at}: the required key {key} is missing")]
    MissingKey {
        /// `profile` or `PayloadContent[n]`.
        at: String,
        /// The key.
        key: &'static str,
    },
    /// A key has a value of the wrong type or outside its allowed values.
    #[error("{at}: {key} must be {expected}")]
    InvalidValue {
        /// `profile` or `PayloadContent[n]`.
        at: String,
        /// The key.
        key: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A payload's own keys do not fit its payload type's schema.
    #[error("PayloadContent[{index}] ({payload_type}): {source}")]
    Payload {
        /// Its place in `PayloadContent`.
        index: usize,
        /// Its `PayloadType`.
        payload_type: String,
        /// What is wrong, with the key path.
        source: mdm_commands::DecodeError,
    },
    /// A top-level key the schema does not define (when unknown keys are refused).
    #[error("profile: unknown key {0:?}")]
    UnknownKey(String),
    /// The profile's content is encrypted (`EncryptedPayloadContent`), which this crate does not
    /// decrypt.
    #[error("the profile's payloads are encrypted")]
    Encrypted,
}

/// Why a profile could not be signed or a signed profile verified.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The signer's certificate, chain or key could not be loaded.
    #[error("signing identity: {0}")]
    Identity(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Signing(String),
    /// The signed profile is not a valid, correctly signed CMS SignedData with content.
    #[error("signature: {0}")]
    Verify(#[from] mdm_signature::Error),
    /// The signer's certificate does not chain to a trusted CA.
    #[error("the signer is not trusted: {0}")]
    Untrusted(mdm_signature::Error),
    /// The signed content is not a profile.
    #[error("signed content: {0}")]
    Profile(#[from] ProfileError),
}
