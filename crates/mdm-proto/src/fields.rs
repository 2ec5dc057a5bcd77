//! Typed extraction of keys from a decoded top-level dictionary, with errors that name the key.

use plist::{Dictionary, Value};

use crate::{DecodeError, DecodeLimits, Enrollment, limits};

/// The top-level dictionary of a message, consumed key by key.
pub(crate) struct Fields(Dictionary);

impl Fields {
    /// Checks the limits, parses the body (XML or binary) and requires a dictionary on top.
    pub(crate) fn parse(body: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        limits::check(body, limits)?;
        match Value::from_reader(std::io::Cursor::new(body))? {
            Value::Dictionary(dict) => Ok(Self(dict)),
            _ => Err(DecodeError::NotADictionary),
        }
    }

    pub(crate) fn string(&mut self, key: &'static str) -> Result<Option<String>, DecodeError> {
        match self.0.remove(key) {
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
        match self.0.remove(key) {
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
        match self.0.remove(key) {
            None => Ok(false),
            Some(Value::Boolean(b)) => Ok(b),
            Some(_) => Err(wrong_type(key, "a boolean")),
        }
    }

    pub(crate) fn integer(&mut self, key: &'static str) -> Result<Option<i64>, DecodeError> {
        match self.0.remove(key) {
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
        match self.0.remove(key) {
            None => Ok(None),
            Some(Value::Dictionary(d)) => Ok(Some(d)),
            Some(_) => Err(wrong_type(key, "a dictionary")),
        }
    }

    pub(crate) fn array(&mut self, key: &'static str) -> Result<Option<Vec<Value>>, DecodeError> {
        match self.0.remove(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(wrong_type(key, "an array")),
        }
    }

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
        Self(dict)
    }
}

pub(crate) fn wrong_type(key: &'static str, expected: &'static str) -> DecodeError {
    DecodeError::WrongType { key, expected }
}
