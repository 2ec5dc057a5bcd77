//! The command envelope a server queues and returns to the device.

use bytes::Bytes;
use plist::{Dictionary, Value};

use crate::fields::{Fields, wrong_type};
use crate::parse::Keep;
use crate::{DecodeError, DecodeLimits, Raw};

/// The envelope of an MDM command: `CommandUUID` and `Command.RequestType`.
///
/// The rest of the command is whatever the sender put in the payload; a server keeps the bytes
/// ([`Raw::bytes`]) and returns them to the device unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// `CommandUUID`: the command's id, echoed by the device in its report.
    pub command_uuid: String,
    /// `Command.RequestType`, e.g. `DeviceInformation`.
    pub request_type: String,
}

/// The keys a command's envelope is read for: its payload is dropped (and kept in the raw bytes).
const ENVELOPE_KEYS: Keep = Keep::Keys(&[&[
    ("CommandUUID", Keep::All),
    ("Command", Keep::Keys(&[&[("RequestType", Keep::All)]])),
]]);

/// The keys [`Raw::<Command>::payload`] reads.
const PAYLOAD_KEYS: Keep = Keep::Keys(&[&[("Command", Keep::All)]]);

impl Command {
    /// Decodes a command property list (as submitted to an enqueue API) with the default
    /// [`DecodeLimits`].
    pub fn decode(body: impl Into<Bytes>) -> Result<Raw<Command>, DecodeError> {
        Self::decode_with(body, &DecodeLimits::default())
    }

    /// Decodes a command property list with explicit limits, keeping the bytes.
    pub fn decode_with(
        body: impl Into<Bytes>,
        limits: &DecodeLimits,
    ) -> Result<Raw<Command>, DecodeError> {
        let body = body.into();
        let mut f = Fields::parse(&body, limits, ENVELOPE_KEYS)?;
        let command_uuid = f.required_string("CommandUUID")?;
        let mut inner: Fields = f
            .dictionary("Command")?
            .ok_or(DecodeError::MissingKey("Command"))?
            .into();
        let request_type = match inner.string("RequestType") {
            Ok(Some(request_type)) => request_type,
            Ok(None) => return Err(DecodeError::MissingKey("Command.RequestType")),
            Err(_) => return Err(wrong_type("Command.RequestType", "a string")),
        };
        Ok(Raw::new(
            Command {
                command_uuid,
                request_type,
            },
            body,
        ))
    }

    /// Builds a command as an XML property list: `CommandUUID`, and `Command` holding
    /// `RequestType` plus the given payload keys.
    ///
    /// # Panics
    ///
    /// If the payload holds a [`Value::Uid`], which XML property lists cannot carry.
    pub fn build(
        command_uuid: impl Into<String>,
        request_type: impl Into<String>,
        payload: Dictionary,
    ) -> Raw<Command> {
        let command = Command {
            command_uuid: command_uuid.into(),
            request_type: request_type.into(),
        };
        let mut inner = Dictionary::new();
        inner.insert(
            "RequestType".into(),
            Value::String(command.request_type.clone()),
        );
        for (key, value) in payload {
            if key != "RequestType" {
                inner.insert(key, value);
            }
        }
        let mut outer = Dictionary::new();
        outer.insert("Command".into(), Value::Dictionary(inner));
        outer.insert(
            "CommandUUID".into(),
            Value::String(command.command_uuid.clone()),
        );
        let mut xml = Vec::new();
        // Writing to memory has no I/O error; the only other failure is a `Uid`, documented above
        // as the caller's error (the payload is the caller's own, never a device's).
        #[allow(clippy::expect_used)]
        Value::Dictionary(outer)
            .to_writer_xml(&mut xml)
            .expect("a command payload holds no Uid");
        Raw::new(command, Bytes::from(xml))
    }
}

impl Raw<Command> {
    /// The `Command` dictionary of this command: its `RequestType` and payload keys.
    pub fn payload(&self) -> Result<Dictionary, DecodeError> {
        let mut f = Fields::parse(self.bytes(), &DecodeLimits::default(), PAYLOAD_KEYS)?;
        f.dictionary("Command")?
            .ok_or(DecodeError::MissingKey("Command"))
    }
}
