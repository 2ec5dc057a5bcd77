//! What the device sends on the command channel: its status, and the result of a command.

use std::fmt;

use bytes::Bytes;
use plist::Value;

use crate::fields::{Fields, wrong_type};
use crate::parse::Keep;
use crate::{DecodeError, DecodeLimits, Enrollment, Raw};

/// A command-channel request: the device's `Status`, for the command `CommandUUID` when it
/// answers one, with the command's result keys in the raw bytes.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct CommandReport {
    /// Enrollment keys.
    pub enrollment: Enrollment,
    /// `CommandUUID`: absent on `Idle`.
    pub command_uuid: Option<String>,
    /// `Status`.
    pub status: Status,
    /// `ErrorChain`, on `Error` and `CommandFormatError`.
    pub error_chain: Vec<ErrorChainEntry>,
}

/// The `Status` of a command report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// `Idle`: the device asks for the next command and answers none.
    #[default]
    Idle,
    /// `Acknowledged`: the command ran; its result is in the report.
    Acknowledged,
    /// `Error`: the command failed; see the error chain.
    Error,
    /// `CommandFormatError`: the command could not be understood.
    CommandFormatError,
    /// `NotNow`: the device cannot run the command now and will ask again later.
    NotNow,
    /// A status this crate does not know, kept as sent.
    Other(String),
}

impl Status {
    /// The status as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Idle => "Idle",
            Status::Acknowledged => "Acknowledged",
            Status::Error => "Error",
            Status::CommandFormatError => "CommandFormatError",
            Status::NotNow => "NotNow",
            Status::Other(s) => s,
        }
    }

    /// Whether this status ends the command's life in the queue: every status but `Idle` and
    /// `NotNow`.
    pub fn is_final(&self) -> bool {
        !matches!(self, Status::Idle | Status::NotNow)
    }
}

impl From<&str> for Status {
    fn from(s: &str) -> Self {
        match s {
            "Idle" => Status::Idle,
            "Acknowledged" => Status::Acknowledged,
            "Error" => Status::Error,
            "CommandFormatError" => Status::CommandFormatError,
            "NotNow" => Status::NotNow,
            other => Status::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of an `ErrorChain`. Devices do not always send every key, so all are optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorChainEntry {
    /// `ErrorCode`.
    pub error_code: Option<i64>,
    /// `ErrorDomain`.
    pub error_domain: Option<String>,
    /// `LocalizedDescription`.
    pub localized_description: Option<String>,
    /// `USEnglishDescription`.
    pub us_english_description: Option<String>,
}

/// The keys a command report is read for; decoding drops the others (the command's result, kept
/// in the raw bytes).
const REPORT_KEYS: Keep = Keep::Keys(&[
    Fields::ENROLLMENT_KEYS,
    &[
        ("Status", Keep::All),
        ("CommandUUID", Keep::All),
        ("ErrorChain", Keep::All),
    ],
]);

impl CommandReport {
    /// A report of `status` from an enrollment; `command_uuid` and `error_chain` are public
    /// fields to set.
    pub fn new(enrollment: Enrollment, status: Status) -> Self {
        CommandReport {
            enrollment,
            status,
            ..Default::default()
        }
    }

    /// Decodes a command-channel body with the default [`DecodeLimits`].
    pub fn decode(body: impl Into<Bytes>) -> Result<Raw<CommandReport>, DecodeError> {
        Self::decode_with(body, &DecodeLimits::default())
    }

    /// Decodes a command-channel body with explicit limits, keeping the bytes beside the value.
    pub fn decode_with(
        body: impl Into<Bytes>,
        limits: &DecodeLimits,
    ) -> Result<Raw<CommandReport>, DecodeError> {
        let body = body.into();
        let mut f = Fields::parse(&body, limits, REPORT_KEYS)?;
        let status = Status::from(f.required_string("Status")?.as_str());
        let command_uuid = f.string("CommandUUID")?;
        if command_uuid.is_none() && status != Status::Idle {
            return Err(DecodeError::MissingKey("CommandUUID"));
        }
        let error_chain = f
            .array("ErrorChain")?
            .unwrap_or_default()
            .into_iter()
            .map(|entry| match entry {
                Value::Dictionary(d) => ErrorChainEntry::from_fields(d.into()),
                _ => Err(wrong_type("ErrorChain", "an array of dictionaries")),
            })
            .collect::<Result<_, _>>()?;
        let report = CommandReport {
            enrollment: f.enrollment()?,
            command_uuid,
            status,
            error_chain,
        };
        Ok(Raw::new(report, body))
    }
}

impl ErrorChainEntry {
    /// An entry with its `ErrorCode` and `ErrorDomain`; see [`description`](Self::description)
    /// for the texts.
    pub fn new(error_code: i64, error_domain: impl Into<String>) -> Self {
        ErrorChainEntry {
            error_code: Some(error_code),
            error_domain: Some(error_domain.into()),
            ..Default::default()
        }
    }

    /// Sets `LocalizedDescription` and `USEnglishDescription` to `text`, as a device whose
    /// language is English sends them.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        let text = text.into();
        self.localized_description = Some(text.clone());
        self.us_english_description = Some(text);
        self
    }

    fn from_fields(mut f: Fields) -> Result<Self, DecodeError> {
        Ok(ErrorChainEntry {
            error_code: f.integer("ErrorCode")?,
            error_domain: f.string("ErrorDomain")?,
            localized_description: f.string("LocalizedDescription")?,
            us_english_description: f.string("USEnglishDescription")?,
        })
    }
}
