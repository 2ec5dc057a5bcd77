//! Typed extraction of keys from a decoded top-level dictionary, with errors that name the key.

use plist::{Dictionary, Value};

use crate::parse::{self, Keep};
use crate::{DecodeError, DecodeLimits, Enrollment};

/// The top-level dictionary of a message, consumed key by key.
pub(crate) struct Fields {
    dict: Dictionary,
    /// What decoding kept: reading any other key is a bug in this crate (the key was dropped).
    kept: Keep,
}

impl Fields {
    /// Parses the body (XML or binary) within the limits, keeping what `kept` names, and requires
    /// a dictionary on top.
    pub(crate) fn parse(
        body: &[u8],
        limits: &DecodeLimits,
        kept: Keep,
    ) -> Result<Self, DecodeError> {
        Ok(Self {
            dict: parse::dictionary(body, limits, kept)?,
            kept,
        })
    }

    fn take(&mut self, key: &'static str) -> Option<Value> {
        debug_assert!(
            self.kept.key(key).is_some(),
            "{key} is read but not in the keys decoding keeps"
        );
        self.dict.remove(key)
    }

    pub(crate) fn string(&mut self, key: &'static str) -> Result<Option<String>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(key, "a string")),
        }
    }

    pub(crate) fn required_string(&mut self, key: &'static str) -> Result<String, DecodeError> {
        self.string(key)?.ok_or(DecodeError::MissingKey(key))
    }

    pub(crate) fn data(&mut self, key: &'static str) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Data(d)) => Ok(Some(d)),
            Some(_) => Err(wrong_type(key, "data")),
        }
    }

    pub(crate) fn required_data(&mut self, key: &'static str) -> Result<Vec<u8>, DecodeError> {
        self.data(key)?.ok_or(DecodeError::MissingKey(key))
    }

    /// A boolean that defaults to false when absent, as Apple's schema specifies for the
    /// optional flags (`AwaitingConfiguration`, `NotOnConsole`).
    pub(crate) fn flag(&mut self, key: &'static str) -> Result<bool, DecodeError> {
        match self.take(key) {
            None => Ok(false),
            Some(Value::Boolean(b)) => Ok(b),
            Some(_) => Err(wrong_type(key, "a boolean")),
        }
    }

    pub(crate) fn integer(&mut self, key: &'static str) -> Result<Option<i64>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => i
                .as_signed()
                .map(Some)
                .ok_or_else(|| wrong_type(key, "a signed 64-bit integer")),
            Some(_) => Err(wrong_type(key, "an integer")),
        }
    }

    pub(crate) fn dictionary(
        &mut self,
        key: &'static str,
    ) -> Result<Option<Dictionary>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Dictionary(d)) => Ok(Some(d)),
            Some(_) => Err(wrong_type(key, "a dictionary")),
        }
    }

    pub(crate) fn array(&mut self, key: &'static str) -> Result<Option<Vec<Value>>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(wrong_type(key, "an array")),
        }
    }

    /// The enrollment keys every check-in and report may carry, for [`Keep::Keys`].
    pub(crate) const ENROLLMENT_KEYS: &'static [(&'static str, Keep)] = &[
        ("UDID", Keep::All),
        ("UserID", Keep::All),
        ("UserShortName", Keep::All),
        ("UserLongName", Keep::All),
        ("EnrollmentID", Keep::All),
        ("EnrollmentUserID", Keep::All),
    ];

    /// The enrollment keys every check-in and report may carry.
    pub(crate) fn enrollment(&mut self) -> Result<Enrollment, DecodeError> {
        Ok(Enrollment {
            udid: self.string("UDID")?,
            user_id: self.string("UserID")?,
            user_short_name: self.string("UserShortName")?,
            user_long_name: self.string("UserLongName")?,
            enrollment_id: self.string("EnrollmentID")?,
            enrollment_user_id: self.string("EnrollmentUserID")?,
        })
    }
}

impl From<Dictionary> for Fields {
    fn from(dict: Dictionary) -> Self {
        Self {
            dict,
            kept: Keep::All,
        }
    }
}

pub(crate) fn wrong_type(key: &'static str, expected: &'static str) -> DecodeError {
    DecodeError::WrongType { key, expected }
}
