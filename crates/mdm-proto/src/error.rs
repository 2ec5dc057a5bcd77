/// Why a body could not be decoded into a protocol message.
///
/// Every variant is a property of the input: a server answers all of them with 400 Bad Request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is larger than [`DecodeLimits::max_body_bytes`](crate::DecodeLimits).
    #[error("body is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Size of the body.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Containers nest deeper than [`DecodeLimits::max_depth`](crate::DecodeLimits).
    #[error("property list nests deeper than {limit} levels")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// The property list holds more objects than [`DecodeLimits::max_objects`](crate::DecodeLimits)
    /// (a binary list's shared objects counted once per reference).
    #[error("property list holds more than {limit} objects")]
    TooManyObjects {
        /// The configured limit.
        limit: usize,
    },
    /// The keys a message reads hold more values than
    /// [`DecodeLimits::max_kept_values`](crate::DecodeLimits).
    #[error("the keys read from the property list hold more than {limit} values")]
    TooManyKeptValues {
        /// The configured limit.
        limit: usize,
    },
    /// A binary property list whose structure is broken (bad trailer, offsets or references).
    #[error("malformed binary property list: {0}")]
    MalformedBinary(&'static str),
    /// The body is not a well-formed binary property list.
    #[error("malformed property list: {0}")]
    Plist(#[from] plist::Error),
    /// The body is not a well-formed XML property list.
    #[error("malformed XML property list at byte {offset}: {reason}")]
    MalformedXml {
        /// Where in the body the reader was.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The body's elements do not form a property list (a dictionary key that is not a string,
    /// a key without a value, more than one top-level value).
    #[error("malformed property list: {0}")]
    Malformed(&'static str),
    /// The top-level object is not a dictionary.
    #[error("property list top level is not a dictionary")]
    NotADictionary,
    /// A key the message requires is absent (or an empty string).
    #[error("missing required key {0}")]
    MissingKey(&'static str),
    /// A key is present with the wrong property-list type.
    #[error("key {key} should be {expected}")]
    WrongType {
        /// The key, dotted for nested keys (`Command.RequestType`).
        key: &'static str,
        /// The expected property-list type.
        expected: &'static str,
    },
    /// A check-in with a `MessageType` this crate does not know.
    #[error("unknown check-in MessageType {0:?}")]
    UnknownMessageType(String),
}
