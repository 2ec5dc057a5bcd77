//! The top-level `Configuration` dictionary, written as and read from a `.mobileconfig`.

use std::collections::BTreeMap;

use mdm_commands::codec::UnknownKeys;
use mdm_proto::DecodeLimits;
use plist::{Date, Dictionary, Value};

use crate::payload::{new_uuid, take_string};
use crate::{Payload, ProfileError};

/// `PayloadScope`: whether a macOS profile installs for the device or for the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadScope {
    /// `System`.
    System,
    /// `User`.
    User,
}

impl PayloadScope {
    /// The value as Apple spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "System",
            Self::User => "User",
        }
    }
}

/// A configuration profile: the top-level `Configuration` dictionary of a `.mobileconfig`
/// (`TopLevel.yaml`), with its payloads.
///
/// ```
/// use mdm_profiles::{Payload, Profile, ProfileError};
/// use mdm_profiles::security_root::SecurityRoot;
///
/// # fn main() -> Result<(), ProfileError> {
/// let mut profile = Profile::new("com.example.trust");
/// profile.display_name = Some("Example root".into());
/// let root = SecurityRoot::new(b"DER of the certificate".to_vec());
/// profile.payloads.push(Payload::new("com.example.trust.root", root));
///
/// let mobileconfig = profile.to_xml();
/// assert_eq!(Profile::from_bytes(&mobileconfig)?, profile);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// `PayloadIdentifier`: reverse-DNS; a profile with the identifier of an installed one
    /// replaces it.
    pub identifier: String,
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadVersion` (1).
    pub version: i64,
    /// `PayloadDisplayName`: what the device shows.
    pub display_name: Option<String>,
    /// `PayloadDescription`.
    pub description: Option<String>,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// `PayloadScope` (macOS).
    pub scope: Option<PayloadScope>,
    /// `PayloadRemovalDisallowed`: the user may not remove it (supervised devices).
    pub removal_disallowed: Option<bool>,
    /// `HasRemovalPasscode`: a `com.apple.profileRemovalPassword` payload guards removal.
    pub has_removal_passcode: Option<bool>,
    /// `RemovalDate`: when the device removes the profile.
    pub removal_date: Option<Date>,
    /// `DurationUntilRemoval`: seconds after installation when the device removes it.
    pub duration_until_removal: Option<f64>,
    /// `PayloadExpirationDate`: when the profile expires (email and calendar accounts).
    pub expiration_date: Option<Date>,
    /// `TargetDeviceType` (0 any, 1 a Watch, 2 HomePod, 3 Apple TV …, 5 Apple Vision Pro).
    pub target_device_type: Option<i64>,
    /// `ConsentText`: text shown before installation, by language code (`default`, `en`).
    pub consent_text: Option<BTreeMap<String, String>>,
    /// `PayloadContent`.
    pub payloads: Vec<Payload>,
}

/// The keys of the top-level dictionary that [`Profile`] reads.
const TOP_LEVEL_KEYS: &[&str] = &[
    "PayloadType",
    "PayloadIdentifier",
    "PayloadUUID",
    "PayloadVersion",
    "PayloadDisplayName",
    "PayloadDescription",
    "PayloadOrganization",
    "PayloadScope",
    "PayloadRemovalDisallowed",
    "HasRemovalPasscode",
    "RemovalDate",
    "DurationUntilRemoval",
    "PayloadExpirationDate",
    "TargetDeviceType",
    "ConsentText",
    "PayloadContent",
];

impl Profile {
    /// An empty profile with a new random UUID.
    pub fn new(identifier: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            uuid: new_uuid(),
            version: 1,
            display_name: None,
            description: None,
            organization: None,
            scope: None,
            removal_disallowed: None,
            has_removal_passcode: None,
            removal_date: None,
            duration_until_removal: None,
            expiration_date: None,
            target_device_type: None,
            consent_text: None,
            payloads: Vec::new(),
        }
    }

    /// The top-level dictionary.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut dict = Dictionary::new();
        let mut put = |key: &str, value: Value| {
            dict.insert(key.to_owned(), value);
        };
        put(
            "PayloadContent",
            Value::Array(
                self.payloads
                    .iter()
                    .map(|p| Value::Dictionary(p.to_dictionary()))
                    .collect(),
            ),
        );
        put("PayloadType", "Configuration".into());
        put("PayloadIdentifier", self.identifier.clone().into());
        put("PayloadUUID", self.uuid.clone().into());
        put("PayloadVersion", Value::Integer(self.version.into()));
        let strings = [
            ("PayloadDisplayName", &self.display_name),
            ("PayloadDescription", &self.description),
            ("PayloadOrganization", &self.organization),
        ];
        for (key, value) in strings {
            if let Some(value) = value {
                put(key, value.clone().into());
            }
        }
        if let Some(scope) = self.scope {
            put("PayloadScope", scope.as_str().into());
        }
        for (key, value) in [
            ("PayloadRemovalDisallowed", self.removal_disallowed),
            ("HasRemovalPasscode", self.has_removal_passcode),
        ] {
            if let Some(value) = value {
                put(key, Value::Boolean(value));
            }
        }
        if let Some(date) = self.removal_date {
            put("RemovalDate", Value::Date(date));
        }
        if let Some(seconds) = self.duration_until_removal {
            put("DurationUntilRemoval", Value::Real(seconds));
        }
        if let Some(date) = self.expiration_date {
            put("PayloadExpirationDate", Value::Date(date));
        }
        if let Some(target) = self.target_device_type {
            put("TargetDeviceType", Value::Integer(target.into()));
        }
        if let Some(text) = &self.consent_text {
            put(
                "ConsentText",
                Value::Dictionary(
                    text.iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect(),
                ),
            );
        }
        dict
    }

    /// The profile as an XML property list: the bytes of an unsigned `.mobileconfig`.
    ///
    /// Empty when an `<any>` value holds a [`plist::Value::Uid`], the one value XML property
    /// lists cannot carry (nothing read from a profile holds one).
    pub fn to_xml(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing a tree of strings, numbers, dates and data to a Vec cannot fail; a `Uid`
        // (which XML cannot carry) can only come from an `<any>` value a caller built.
        if Value::Dictionary(self.to_dictionary())
            .to_writer_xml(&mut out)
            .is_err()
        {
            out.clear();
        }
        out
    }

    /// Reads an unsigned `.mobileconfig` (XML or binary property list) with the default
    /// [`DecodeLimits`], skipping payload keys the schema does not know.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProfileError> {
        Self::from_bytes_with(bytes, &DecodeLimits::default(), UnknownKeys::Skip)
    }

    /// [`from_bytes`](Self::from_bytes) with explicit limits and unknown-key handling
    /// ([`UnknownKeys::Reject`] refuses any key a typed payload could not carry).
    pub fn from_bytes_with(
        bytes: &[u8],
        limits: &DecodeLimits,
        unknown_keys: UnknownKeys,
    ) -> Result<Self, ProfileError> {
        let dict = mdm_proto::decode_dictionary(bytes, limits)?;
        Self::from_dictionary(&dict, unknown_keys)
    }

    /// Reads the top-level dictionary.
    pub fn from_dictionary(
        dict: &Dictionary,
        unknown_keys: UnknownKeys,
    ) -> Result<Self, ProfileError> {
        let at = || "profile".to_owned();
        let mut keys = dict.clone();
        match take_string(&mut keys, "PayloadType", &at)? {
            Some(t) if t == "Configuration" => {}
            Some(other) => return Err(ProfileError::NotConfiguration(other)),
            None => {
                return Err(ProfileError::MissingKey {
                    at: at(),
                    key: "PayloadType",
                });
            }
        }
        if keys.contains_key("EncryptedPayloadContent")
            || keys.get("IsEncrypted").and_then(Value::as_boolean) == Some(true)
        {
            return Err(ProfileError::Encrypted);
        }
        let invalid = |key, expected| ProfileError::InvalidValue {
            at: at(),
            key,
            expected,
        };
        let required =
            |value: Option<String>, key| value.ok_or(ProfileError::MissingKey { at: at(), key });
        let identifier = required(
            take_string(&mut keys, "PayloadIdentifier", &at)?,
            "PayloadIdentifier",
        )?;
        let uuid = required(take_string(&mut keys, "PayloadUUID", &at)?, "PayloadUUID")?;
        let version = match keys.remove("PayloadVersion") {
            Some(v) => v
                .as_signed_integer()
                .ok_or_else(|| invalid("PayloadVersion", "an integer"))?,
            None => {
                return Err(ProfileError::MissingKey {
                    at: at(),
                    key: "PayloadVersion",
                });
            }
        };
        let scope = match take_string(&mut keys, "PayloadScope", &at)?.as_deref() {
            None => None,
            Some("System") => Some(PayloadScope::System),
            Some("User") => Some(PayloadScope::User),
            Some(_) => return Err(invalid("PayloadScope", "'System' or 'User'")),
        };
        let boolean = |keys: &mut Dictionary, key| match keys.remove(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(b)),
            Some(_) => Err(invalid(key, "a boolean")),
        };
        let date = |keys: &mut Dictionary, key| match keys.remove(key) {
            None => Ok(None),
            Some(Value::Date(d)) => Ok(Some(d)),
            Some(_) => Err(invalid(key, "a date")),
        };
        let removal_disallowed = boolean(&mut keys, "PayloadRemovalDisallowed")?;
        let has_removal_passcode = boolean(&mut keys, "HasRemovalPasscode")?;
        let removal_date = date(&mut keys, "RemovalDate")?;
        let expiration_date = date(&mut keys, "PayloadExpirationDate")?;
        let duration_until_removal = match keys.remove("DurationUntilRemoval") {
            None => None,
            Some(Value::Real(r)) => Some(r),
            // Written by hand, a whole number of seconds is often an <integer>.
            Some(Value::Integer(i)) => i.as_signed().map(|i| i as f64),
            Some(_) => return Err(invalid("DurationUntilRemoval", "a number")),
        };
        let target_device_type = match keys.remove("TargetDeviceType") {
            None => None,
            Some(v) => Some(
                v.as_signed_integer()
                    .ok_or_else(|| invalid("TargetDeviceType", "an integer"))?,
            ),
        };
        let consent_text = match keys.remove("ConsentText") {
            None => None,
            Some(Value::Dictionary(d)) => Some(
                d.into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k, s)),
                        _ => Err(invalid("ConsentText", "a dictionary of strings")),
                    })
                    .collect::<Result<BTreeMap<_, _>, _>>()?,
            ),
            Some(_) => return Err(invalid("ConsentText", "a dictionary of strings")),
        };
        let payloads = match keys.remove("PayloadContent") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::Dictionary(d) => Payload::from_dictionary(d, unknown_keys, index),
                    _ => Err(ProfileError::InvalidValue {
                        at: format!("PayloadContent[{index}]"),
                        key: "PayloadContent",
                        expected: "a dictionary",
                    }),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("PayloadContent", "an array")),
        };
        let profile = Self {
            identifier,
            uuid,
            version,
            display_name: take_string(&mut keys, "PayloadDisplayName", &at)?,
            description: take_string(&mut keys, "PayloadDescription", &at)?,
            organization: take_string(&mut keys, "PayloadOrganization", &at)?,
            scope,
            removal_disallowed,
            has_removal_passcode,
            removal_date,
            duration_until_removal,
            expiration_date,
            target_device_type,
            consent_text,
            payloads,
        };
        if unknown_keys == UnknownKeys::Reject
            && let Some(key) = keys.keys().find(|k| !TOP_LEVEL_KEYS.contains(&k.as_str()))
        {
            return Err(ProfileError::UnknownKey(key.clone()));
        }
        Ok(profile)
    }

    /// An `InstallProfile` command carrying this profile, unsigned.
    pub fn install_command(&self) -> mdm_commands::install_profile::InstallProfile {
        mdm_commands::install_profile::InstallProfile {
            payload: self.to_xml(),
        }
    }
}
