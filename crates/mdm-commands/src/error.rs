//! What can be wrong with a command or a report, and where.

use std::fmt;

/// Where in a property list or JSON document a value sits: keys and array indices from the top,
/// shown as `Command.Settings[2].Item`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(Vec<PathSegment>);

/// One step of a [`KeyPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A dictionary key.
    Key(String),
    /// An array index.
    Index(usize),
}

impl KeyPath {
    /// The steps from the top of the document.
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    /// The last key of the path (the key that is missing, unknown or wrong), if it ends in one.
    pub fn last_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|segment| match segment {
            PathSegment::Key(key) => Some(key.as_str()),
            PathSegment::Index(_) => None,
        })
    }

    pub(crate) fn from_reversed(mut segments: Vec<PathSegment>) -> Self {
        segments.reverse();
        Self(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if i == 0 => f.write_str(key)?,
                PathSegment::Key(key) => write!(f, ".{key}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Why a command or a report could not be decoded into its type.
///
/// Every variant that concerns one value names it by its [`KeyPath`]. A server answers all of
/// them with 400 Bad Request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not a well-formed property list, or is over a [`DecodeLimits`] bound
    /// (size, nesting depth, number of objects); also an envelope `mdm-proto` refuses.
    ///
    /// [`DecodeLimits`]: mdm_proto::DecodeLimits
    #[error(transparent)]
    Plist(#[from] mdm_proto::DecodeError),
    /// The body is not well-formed JSON.
    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    Json {
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// What the JSON parser found wrong.
        reason: String,
    },
    /// A `RequestType` this crate has no type for.
    #[error("unknown RequestType {0:?}")]
    UnknownRequestType(String),
    /// A key the schema does not define for this command (commands are checked strictly; a
    /// report's unknown keys are skipped).
    #[error("{path}: unknown key")]
    UnknownKey {
        /// The key, after the path of its dictionary.
        path: KeyPath,
    },
    /// A required key is absent.
    #[error("{path}: missing required key")]
    MissingKey {
        /// The key, after the path of its dictionary.
        path: KeyPath,
    },
    /// A value of the wrong type.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// The value.
        path: KeyPath,
        /// The type the schema gives the value.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A value outside the closed list of values the schema allows for its key.
    #[error("{path}: {value:?} is not one of the allowed values {allowed:?}")]
    NotAllowed {
        /// The value.
        path: KeyPath,
        /// The value found.
        value: String,
        /// The values the schema allows.
        allowed: Vec<String>,
    },
    /// A JSON string given for a `<data>` value is not standard base64.
    #[error("{path}: invalid base64")]
    InvalidBase64 {
        /// The value.
        path: KeyPath,
    },
    /// The decoded value would take more memory than its input allows (four times the input's
    /// size, plus 64 KiB): a body of many tiny values that each become a large struct.
    #[error("the decoded value would take more than {limit} bytes")]
    TooLargeDecoded {
        /// The budget, in bytes.
        limit: usize,
    },
    /// A JSON string given for a `<date>` value is not an RFC 3339 date and time.
    #[error("{path}: {value:?} is not an RFC 3339 date")]
    InvalidDate {
        /// The value.
        path: KeyPath,
        /// The string found.
        value: String,
    },
}

impl DecodeError {
    /// The path of the offending value, for the variants that concern one value.
    pub fn path(&self) -> Option<&KeyPath> {
        match self {
            DecodeError::UnknownKey { path }
            | DecodeError::MissingKey { path }
            | DecodeError::WrongType { path, .. }
            | DecodeError::NotAllowed { path, .. }
            | DecodeError::InvalidBase64 { path }
            | DecodeError::InvalidDate { path, .. } => Some(path),
            DecodeError::Plist(_)
            | DecodeError::Json { .. }
            | DecodeError::TooLargeDecoded { .. }
            | DecodeError::UnknownRequestType(_) => None,
        }
    }
}

/// What went wrong, without the path (which [`Error`] gathers on the way out).
#[derive(Debug)]
pub(crate) enum Kind {
    Plist(mdm_proto::DecodeError),
    UnknownRequestType(String),
    UnknownKey,
    MissingKey,
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    NotAllowed {
        value: String,
        allowed: Vec<String>,
    },
    InvalidBase64,
    InvalidDate(String),
    OverBudget {
        limit: usize,
    },
}

/// The error of the decoding internals: boxed, so that results stay small on the hot path, with
/// the path gathered innermost first as the error travels out of nested values.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: Kind,
    reversed_path: Vec<PathSegment>,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Self(Box::new(Inner {
            kind,
            reversed_path: Vec::new(),
        }))
    }

    pub(crate) fn plist(error: mdm_proto::DecodeError) -> Self {
        Self::new(Kind::Plist(error))
    }

    pub(crate) fn unknown_request_type(request_type: &str) -> Self {
        Self::new(Kind::UnknownRequestType(request_type.to_owned()))
    }

    pub(crate) fn malformed(reason: &'static str) -> Self {
        Self::plist(mdm_proto::DecodeError::Malformed(reason))
    }

    pub(crate) fn wrong_type(expected: &'static str, found: &'static str) -> Self {
        Self::new(Kind::WrongType { expected, found })
    }

    /// A required key is absent from its dictionary.
    pub(crate) fn missing_key(key: &str) -> Self {
        Self::new(Kind::MissingKey).in_key(key)
    }

    pub(crate) fn unknown_key(key: &str) -> Self {
        Self::new(Kind::UnknownKey).in_key(key)
    }

    pub(crate) fn not_allowed(value: String, allowed: Vec<String>) -> Self {
        Self::new(Kind::NotAllowed { value, allowed })
    }

    /// The error happened under `key`.
    pub(crate) fn in_key(mut self, key: &str) -> Self {
        self.0.reversed_path.push(PathSegment::Key(key.to_owned()));
        self
    }

    /// The error happened at `index` of an array.
    pub(crate) fn in_index(mut self, index: usize) -> Self {
        self.0.reversed_path.push(PathSegment::Index(index));
        self
    }
}

impl From<Error> for DecodeError {
    fn from(error: Error) -> Self {
        let Inner {
            kind,
            reversed_path,
        } = *error.0;
        let path = KeyPath::from_reversed(reversed_path);
        match kind {
            Kind::Plist(error) => DecodeError::Plist(error),
            Kind::UnknownRequestType(request_type) => DecodeError::UnknownRequestType(request_type),
            Kind::UnknownKey => DecodeError::UnknownKey { path },
            Kind::MissingKey => DecodeError::MissingKey { path },
            Kind::WrongType { expected, found } => DecodeError::WrongType {
                path,
                expected,
                found,
            },
            Kind::NotAllowed { value, allowed } => DecodeError::NotAllowed {
                path,
                value,
                allowed,
            },
            Kind::InvalidBase64 => DecodeError::InvalidBase64 { path },
            Kind::InvalidDate(value) => DecodeError::InvalidDate { path, value },
            Kind::OverBudget { limit } => DecodeError::TooLargeDecoded { limit },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = KeyPath::from_reversed(self.0.reversed_path.clone());
        match &self.0.kind {
            Kind::Plist(error) => write!(f, "{error}"),
            Kind::UnknownRequestType(request_type) => {
                write!(f, "unknown RequestType {request_type:?}")
            }
            Kind::UnknownKey => write!(f, "{path}: unknown key"),
            Kind::MissingKey => write!(f, "{path}: missing required key"),
            Kind::WrongType { expected, found } => {
                write!(f, "{path}: expected {expected}, found {found}")
            }
            Kind::NotAllowed { value, .. } => write!(f, "{path}: {value:?} is not allowed"),
            Kind::InvalidBase64 => write!(f, "{path}: invalid base64"),
            Kind::InvalidDate(value) => write!(f, "{path}: {value:?} is not an RFC 3339 date"),
            Kind::OverBudget { limit } => {
                write!(f, "the decoded value would take more than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for Error {}

/// The result of the decoding internals.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_from_the_top() {
        let error = Error::missing_key("Item")
            .in_index(2)
            .in_key("Settings")
            .in_key("Command");
        let error = DecodeError::from(error);
        assert_eq!(
            error.path().map(ToString::to_string).as_deref(),
            Some("Command.Settings[2].Item")
        );
        assert_eq!(error.path().and_then(KeyPath::last_key), Some("Item"));
        assert_eq!(
            error.to_string(),
            "Command.Settings[2].Item: missing required key"
        );
        assert_eq!(KeyPath::default().to_string(), "(top level)");
    }
}
