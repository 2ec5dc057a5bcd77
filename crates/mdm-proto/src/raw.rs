use std::ops::Deref;

use bytes::Bytes;

/// A decoded message together with the exact bytes it was decoded from.
///
/// A server stores, forwards (webhooks) and signs over the bytes a device sent, and returns a
/// queued command exactly as it was enqueued; keeping the bytes beside the value means nothing is
/// re-encoded and nothing is lost. Derefs to the decoded value.
#[derive(Clone, Debug, PartialEq)]
pub struct Raw<T> {
    value: T,
    bytes: Bytes,
}

impl<T> Raw<T> {
    /// Pairs a value with the bytes it was decoded from. The caller vouches that they agree.
    pub fn new(value: T, bytes: Bytes) -> Self {
        Self { value, bytes }
    }

    /// The decoded value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The exact bytes the value was decoded from.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Splits into the value and the bytes.
    pub fn into_parts(self) -> (T, Bytes) {
        (self.value, self.bytes)
    }
}

impl<T> Deref for Raw<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}
