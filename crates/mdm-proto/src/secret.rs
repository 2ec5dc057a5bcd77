//! Values that must never reach a log.

use std::fmt;

/// A secret a message carries or a server keeps — an unlock token, a bootstrap token, a token a
/// `GetToken` service issued, a private key. `Debug` says only that there is one (and, for bytes,
/// how long it is), so a `{:?}` of a message, a request or a store record never prints it; the
/// value is reached only by asking for it by name ([`Secret::expose`]).
///
/// ```
/// use mdm_proto::Secret;
///
/// let token = Secret::new(b"unlock".to_vec());
/// assert_eq!(format!("{token:?}"), "Secret([6 bytes])");
/// assert_eq!(token.expose(), b"unlock");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub const fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret value, for the code that has to use it (store it, send it to its owner).
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The secret value, unwrapped.
    pub fn into_exposed(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

/// What a secret's `Debug` may show: its size, never its content.
pub trait RedactedDebug {
    /// Writes a description of the value that gives nothing of it away.
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl RedactedDebug for Vec<u8> {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} bytes]", self.len())
    }
}

impl RedactedDebug for String {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: RedactedDebug> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(")?;
        self.0.fmt_redacted(f)?;
        f.write_str(")")
    }
}

impl serde::Serialize for Secret<Vec<u8>> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}
