//! Whole commands — `CommandUUID` and a typed `Command` — from JSON or a property list.

use bytes::Bytes;
use mdm_proto::{Command, DecodeLimits, Raw};
use plist::{Dictionary, Value};

use crate::codec::Settings;
use crate::codec::tree::TreeSource;
use crate::command::decode_command;
use crate::error::Error;
use crate::{AnyCommand, DecodeError};

/// A whole command: its `CommandUUID` and its typed `Command`.
///
/// ```
/// use mdm_commands::{AnyCommand, CommandEnvelope};
///
/// let json = br#"{"CommandUUID": "7d5b0e5c-2a3f-4c8e-9b1a-0f6e2d4c8a10",
///                 "Command": {"RequestType": "InstallProfile", "Payload": "PHBsaXN0Lz4="}}"#;
/// let envelope = CommandEnvelope::from_json(json).unwrap();
/// let AnyCommand::InstallProfile(install) = &envelope.command else { unreachable!() };
/// assert_eq!(install.payload, b"<plist/>");
/// // The plist a server queues: the payload is <data>, as the schema types it.
/// let queued = envelope.to_plist();
/// let payload = queued.payload().unwrap();
/// assert_eq!(payload["Payload"], mdm_commands::plist::Value::Data(b"<plist/>".to_vec()));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CommandEnvelope {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `Command`.
    pub command: AnyCommand,
}

impl CommandEnvelope {
    /// A command with a new random (version 4) `CommandUUID`.
    pub fn new(command: impl Into<AnyCommand>) -> Self {
        Self {
            command_uuid: new_command_uuid(),
            command: command.into(),
        }
    }

    /// The property list a server queues for this command.
    ///
    /// # Panics
    ///
    /// If an `<any>` value holds a [`Value::Uid`], which XML property lists cannot carry.
    pub fn to_plist(&self) -> Raw<Command> {
        self.command.build(self.command_uuid.clone())
    }

    /// Reads a JSON command: `{"CommandUUID": "…", "Command": {"RequestType": "…", …}}`, with
    /// Apple's key names. `CommandUUID` is optional (a version 4 UUID is made when it is absent).
    /// The schema decides every value's property-list type: `<data>` values are base64 strings,
    /// `<date>` values RFC 3339 strings, `<real>` values take JSON integers too, and `<any>`
    /// values take JSON's own types (`null` nowhere).
    ///
    /// Errors name the offending key path: malformed JSON, an unknown `RequestType`, an unknown
    /// key, a wrong type, a missing required key, a value outside a closed list, invalid base64,
    /// an invalid date.
    pub fn from_json(body: &[u8]) -> Result<Self, DecodeError> {
        Self::from_json_with(body, &DecodeLimits::default())
    }

    /// [`from_json`](Self::from_json) with explicit limits: the body size, the nesting depth,
    /// and the number of values and keys ([`DecodeLimits::max_objects`], checked by a scan of
    /// the bytes before any value is built, so a body of many tiny values cannot make the
    /// parsed tree many times its size). This is the entry point a server uses
    /// (`POST /v1/commands` of `mdm-http`), and the one the `json_command` fuzz target feeds.
    pub fn from_json_with(body: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        if body.len() > limits.max_body_bytes {
            return Err(mdm_proto::DecodeError::TooLarge {
                size: body.len(),
                limit: limits.max_body_bytes,
            }
            .into());
        }
        let values = count_json_values(body);
        if values > limits.max_objects {
            return Err(mdm_proto::DecodeError::TooManyObjects {
                limit: limits.max_objects,
            }
            .into());
        }
        let json: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| DecodeError::Json {
                line: e.line(),
                column: e.column(),
                reason: e.to_string(),
            })?;
        let serde_json::Value::Object(top) = &json else {
            return Err(Error::wrong_type("a JSON object", json_kind(&json)).into());
        };
        let mut command_uuid = None;
        let mut command = None;
        for (key, value) in top {
            match key.as_str() {
                "CommandUUID" => match value {
                    serde_json::Value::String(s) if !s.is_empty() => command_uuid = Some(s),
                    serde_json::Value::String(_) => {
                        return Err(Error::wrong_type("a non-empty string", "an empty string")
                            .in_key(key)
                            .into());
                    }
                    other => {
                        return Err(Error::wrong_type("a string", json_kind(other))
                            .in_key(key)
                            .into());
                    }
                },
                "Command" => command = Some(value),
                _ => return Err(Error::unknown_key(key).into()),
            }
        }
        let command = command.ok_or_else(|| Error::missing_key("Command"))?;
        let request_type = match command {
            serde_json::Value::Object(map) => match map.get("RequestType") {
                Some(serde_json::Value::String(s)) => s.as_str(),
                Some(other) => {
                    return Err(Error::wrong_type("a string", json_kind(other))
                        .in_key("RequestType")
                        .in_key("Command")
                        .into());
                }
                None => {
                    return Err(Error::missing_key("RequestType").in_key("Command").into());
                }
            },
            other => {
                return Err(Error::wrong_type("a JSON object", json_kind(other))
                    .in_key("Command")
                    .into());
            }
        };
        let mut source = TreeSource::new(command);
        let settings = Settings::new(true, limits, body.len());
        let command = decode_command(&mut source, settings, |d| {
            AnyCommand::decode_request(request_type, d)
        })
        .map_err(|e| e.in_key("Command"))?;
        Ok(Self {
            command_uuid: command_uuid.map_or_else(new_command_uuid, String::clone),
            command,
        })
    }

    /// Reads a command property list (XML or binary), as queued, with the default
    /// [`DecodeLimits`]. Every key must be one the schema defines.
    pub fn from_plist(body: impl Into<Bytes>) -> Result<Self, DecodeError> {
        let body = body.into();
        let top = mdm_proto::decode_dictionary(&body, &DecodeLimits::default())?;
        let mut command_uuid = None;
        let mut command = None;
        for (key, value) in &top {
            match (key.as_str(), value) {
                ("CommandUUID", Value::String(s)) => command_uuid = Some(s.clone()),
                ("Command", Value::Dictionary(dict)) => command = Some(dict),
                ("CommandUUID", other) => {
                    return Err(Error::wrong_type("a string", plist_kind(other))
                        .in_key(key)
                        .into());
                }
                ("Command", other) => {
                    return Err(Error::wrong_type("a dictionary", plist_kind(other))
                        .in_key(key)
                        .into());
                }
                _ => return Err(Error::unknown_key(key).into()),
            }
        }
        let command_uuid = command_uuid.ok_or_else(|| Error::missing_key("CommandUUID"))?;
        let command = command.ok_or_else(|| Error::missing_key("Command"))?;
        Ok(Self {
            command_uuid,
            command: AnyCommand::from_dictionary(command)?,
        })
    }
}

/// Turns a JSON command into its typed value and the property list a server queues (see
/// [`CommandEnvelope::from_json`]).
///
/// ```
/// let json = br#"{"Command": {"RequestType": "DeviceInformation",
///                             "Queries": ["DeviceName", "OSVersion"]}}"#;
/// let (envelope, plist) = mdm_commands::command_from_json(json).unwrap();
/// assert_eq!(plist.request_type, "DeviceInformation");
/// assert_eq!(plist.command_uuid, envelope.command_uuid);
///
/// let error = mdm_commands::command_from_json(
///     br#"{"Command": {"RequestType": "DeviceInformation", "Queries": "DeviceName"}}"#,
/// )
/// .unwrap_err();
/// assert_eq!(error.to_string(), "Command.Queries: expected an array, found a string");
/// ```
pub fn command_from_json(body: &[u8]) -> Result<(CommandEnvelope, Raw<Command>), DecodeError> {
    let envelope = CommandEnvelope::from_json(body)?;
    let plist = envelope.to_plist();
    Ok((envelope, plist))
}

impl AnyCommand {
    /// Reads a whole command property list (XML or binary, as queued: `CommandUUID` and
    /// `Command`) and returns the typed command; [`CommandEnvelope::from_plist`] keeps the
    /// `CommandUUID` too.
    pub fn from_plist(body: impl Into<Bytes>) -> Result<Self, DecodeError> {
        CommandEnvelope::from_plist(body).map(|envelope| envelope.command)
    }

    /// Reads a command from its `Command` dictionary: `RequestType` and the payload keys. Every
    /// key must be one the schema defines.
    pub fn from_dictionary(command: &Dictionary) -> Result<Self, DecodeError> {
        let request_type = match command.get("RequestType") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(Error::wrong_type("a string", plist_kind(other))
                    .in_key("RequestType")
                    .in_key("Command")
                    .into());
            }
            None => return Err(Error::missing_key("RequestType").in_key("Command").into()),
        };
        let limits = DecodeLimits::default();
        let value = Value::Dictionary(command.clone());
        let mut source = TreeSource::new(&value);
        let settings = Settings::new(true, &limits, limits.max_body_bytes);
        Ok(decode_command(&mut source, settings, |d| {
            Self::decode_request(request_type, d)
        })
        .map_err(|e| e.in_key("Command"))?)
    }
}

/// An upper bound on the values and keys a JSON document holds, without parsing it: one for the
/// document, and one more per `,`, `:`, `[` and `{` outside strings (each starts at most one
/// value or key). Bytes that are not JSON only make the count larger; the parser refuses them.
fn count_json_values(body: &[u8]) -> usize {
    let mut count = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
        } else if matches!(byte, b',' | b':' | b'[' | b'{') {
            count = count.saturating_add(1);
        }
    }
    count
}

fn new_command_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_f64() => "a real",
        serde_json::Value::Number(_) => "an integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "a dictionary",
    }
}

pub(crate) fn plist_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "an array",
        Value::Dictionary(_) => "a dictionary",
        Value::Boolean(_) => "a boolean",
        Value::Data(_) => "data",
        Value::Date(_) => "a date",
        Value::Real(_) => "a real",
        Value::Integer(_) => "an integer",
        Value::String(_) => "a string",
        _ => "a UID",
    }
}
