//! One payload of a profile: the keys every payload has, and the payload type's own.

use mdm_commands::codec::UnknownKeys;
use plist::{Dictionary, Value};

use crate::{AnyPayload, ProfileError};

/// A payload of a profile's `PayloadContent`: the keys common to every payload (identifier,
/// UUID, version, names) and the payload type's own keys ([`AnyPayload`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    /// `PayloadIdentifier`: reverse-DNS, unique within the profile.
    pub identifier: String,
    /// `PayloadUUID`. A profile replacement updates the payloads whose identifier and UUID are
    /// the same in the old and the new profile.
    pub uuid: String,
    /// `PayloadVersion` (1 in every release so far).
    pub version: i64,
    /// `PayloadDisplayName`.
    pub display_name: Option<String>,
    /// `PayloadDescription`.
    pub description: Option<String>,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// The payload type and its own keys.
    pub content: AnyPayload,
}

impl Payload {
    /// A payload with a new random UUID, version 1 and no names.
    pub fn new(identifier: impl Into<String>, content: impl Into<AnyPayload>) -> Self {
        Self {
            identifier: identifier.into(),
            uuid: new_uuid(),
            version: 1,
            display_name: None,
            description: None,
            organization: None,
            content: content.into(),
        }
    }

    /// Sets the UUID (to keep one across profile updates, or to be named by another payload,
    /// as the MDM payload names its identity).
    pub fn with_uuid(mut self, uuid: impl Into<String>) -> Self {
        self.uuid = uuid.into();
        self
    }

    /// Sets `PayloadDisplayName`.
    pub fn with_display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// The `PayloadType`.
    pub fn payload_type(&self) -> &str {
        self.content.payload_type()
    }

    /// The payload dictionary: the common keys first, then the payload type's.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut dict = Dictionary::new();
        dict.insert("PayloadType".into(), self.payload_type().into());
        dict.insert("PayloadIdentifier".into(), self.identifier.clone().into());
        dict.insert("PayloadUUID".into(), self.uuid.clone().into());
        dict.insert("PayloadVersion".into(), Value::Integer(self.version.into()));
        for (key, value) in [
            ("PayloadDisplayName", &self.display_name),
            ("PayloadDescription", &self.description),
            ("PayloadOrganization", &self.organization),
        ] {
            if let Some(value) = value {
                dict.insert(key.into(), value.clone().into());
            }
        }
        if let Value::Dictionary(keys) = self.content.to_value() {
            dict.extend(keys);
        }
        dict
    }

    /// Reads a payload dictionary; `at` names it in errors (`PayloadContent[2]`).
    pub fn from_dictionary(
        dict: &Dictionary,
        unknown_keys: UnknownKeys,
        index: usize,
    ) -> Result<Self, ProfileError> {
        let at = || format!("PayloadContent[{index}]");
        let mut keys = dict.clone();
        let payload_type = take_string(&mut keys, "PayloadType", &at)?.ok_or_else(|| {
            ProfileError::MissingKey {
                at: at(),
                key: "PayloadType",
            }
        })?;
        let identifier = take_string(&mut keys, "PayloadIdentifier", &at)?.ok_or_else(|| {
            ProfileError::MissingKey {
                at: at(),
                key: "PayloadIdentifier",
            }
        })?;
        let uuid = take_string(&mut keys, "PayloadUUID", &at)?.ok_or_else(|| {
            ProfileError::MissingKey {
                at: at(),
                key: "PayloadUUID",
            }
        })?;
        let version = match keys.remove("PayloadVersion") {
            None => {
                return Err(ProfileError::MissingKey {
                    at: at(),
                    key: "PayloadVersion",
                });
            }
            Some(value) => value
                .as_signed_integer()
                .ok_or_else(|| ProfileError::InvalidValue {
                    at: at(),
                    key: "PayloadVersion",
                    expected: "an integer",
                })?,
        };
        let display_name = take_string(&mut keys, "PayloadDisplayName", &at)?;
        let description = take_string(&mut keys, "PayloadDescription", &at)?;
        let organization = take_string(&mut keys, "PayloadOrganization", &at)?;
        let content = AnyPayload::from_value(&payload_type, &Value::Dictionary(keys), unknown_keys)
            .map_err(|source| ProfileError::Payload {
                index,
                payload_type: payload_type.clone(),
                source,
            })?;
        Ok(Self {
            identifier,
            uuid,
            version,
            display_name,
            description,
            organization,
            content,
        })
    }
}

/// A new random UUID, upper case as Apple's tools write them.
pub(crate) fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// Removes a string value from `dict`.
pub(crate) fn take_string(
    dict: &mut Dictionary,
    key: &'static str,
    at: &dyn Fn() -> String,
) -> Result<Option<String>, ProfileError> {
    match dict.remove(key) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ProfileError::InvalidValue {
            at: at(),
            key,
            expected: "a string",
        }),
    }
}
