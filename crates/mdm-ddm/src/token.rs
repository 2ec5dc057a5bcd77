//! Server tokens: the revision marks the device compares to decide what to fetch again.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How many bytes of a SHA-256 digest a token keeps: 16 bytes, 32 hexadecimal characters
/// (under the 64 octets Apple's `declarationbase.yaml` allows a `ServerToken`).
const TOKEN_BYTES: usize = 16;

/// A declaration's `ServerToken`: the revision of its content the device compares with the
/// one it holds. Any change to the content gives a new token, and the same content always
/// gives the same token, on any server and after any restart.
///
/// Tokens this crate computes are 32 lowercase hexadecimal characters (see
/// [`Declaration::server_token`](crate::Declaration::server_token)); a token read from a device
/// or a store may be any string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerToken(String);

impl ServerToken {
    /// A token as a device reported it or a store kept it.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ServerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for ServerToken {
    fn from(token: String) -> Self {
        Self(token)
    }
}

impl AsRef<str> for ServerToken {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A hash over length-prefixed fields under a domain label, so that no two different field
/// lists (or the same fields under another label) hash the same input bytes.
pub(crate) struct TokenHasher(Sha256);

impl TokenHasher {
    pub(crate) fn new(label: &str) -> Self {
        let mut hasher = Self(Sha256::new());
        hasher.field(label.as_bytes());
        hasher
    }

    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    pub(crate) fn number(&mut self, n: u64) {
        self.0.update(n.to_be_bytes());
    }

    pub(crate) fn finish_hex(self) -> String {
        let digest = self.0.finalize();
        let mut hex = String::with_capacity(TOKEN_BYTES.saturating_mul(2));
        for byte in digest.iter().take(TOKEN_BYTES) {
            hex.push(hex_digit(byte >> 4));
            hex.push(hex_digit(byte & 0x0f));
        }
        hex
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}
