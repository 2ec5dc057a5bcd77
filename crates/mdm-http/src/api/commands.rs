//! `POST /v1/commands/<ids>[?nopush=1]`: a command as JSON, typed by Apple's schema, enqueued
//! and pushed exactly as `/v1/enqueue/` enqueues and pushes a command property list.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use mdm_commands::{CommandEnvelope, DecodeError};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::push::EnqueueTarget;
use crate::body::read_body;
use crate::response::api_json;

/// The `400 Bad Request` body of `POST /v1/commands/`: why the JSON command was refused, and
/// which key or value. Nothing was enqueued.
///
/// ```json
/// {
///     "error": "Command.Queries[1]: expected a string, found an integer",
///     "kind": "wrong_type",
///     "key_path": "Command.Queries[1]",
///     "expected": "a string",
///     "found": "an integer"
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandBodyError {
    /// The whole error, as text (the key path first, when there is one).
    pub error: String,
    /// What is wrong.
    pub kind: CommandBodyErrorKind,
    /// Where the offending key or value is: `Command.Settings[2].Item`. For an unknown
    /// `RequestType`, `Command.RequestType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// The offending value: the `RequestType`, the value outside its closed list, the string
    /// that is not a date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The values the schema allows (`not_allowed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// The type the schema gives the value (`wrong_type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The type found (`wrong_type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

/// What is wrong with a refused JSON command ([`CommandBodyError::kind`]); in JSON, the
/// variant's name in snake case (`"wrong_type"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CommandBodyErrorKind {
    /// The body is not JSON, or not a JSON object of the command's shape.
    InvalidJson,
    /// `Command.RequestType` names no command of the schema.
    UnknownRequestType,
    /// A key the command does not have.
    UnknownKey,
    /// A key the command requires is absent.
    MissingKey,
    /// A value of the wrong type ([`CommandBodyError::expected`], [`CommandBodyError::found`]).
    WrongType,
    /// A value outside its closed list ([`CommandBodyError::allowed`]).
    NotAllowed,
    /// A `<data>` value that is not base64.
    InvalidBase64,
    /// A `<date>` value that is not RFC 3339.
    InvalidDate,
    /// The body, or the values it holds, over the decode limits.
    TooLarge,
    /// Anything else (and, read from a newer server, a kind this version does not know).
    #[default]
    #[serde(other)]
    Invalid,
}

impl CommandBodyErrorKind {
    /// The kind as the JSON body writes it (`"wrong_type"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::UnknownRequestType => "unknown_request_type",
            Self::UnknownKey => "unknown_key",
            Self::MissingKey => "missing_key",
            Self::WrongType => "wrong_type",
            Self::NotAllowed => "not_allowed",
            Self::InvalidBase64 => "invalid_base64",
            Self::InvalidDate => "invalid_date",
            Self::TooLarge => "too_large",
            Self::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for CommandBodyErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&DecodeError> for CommandBodyError {
    fn from(error: &DecodeError) -> Self {
        let mut body = CommandBodyError {
            error: error.to_string(),
            key_path: error.path().map(ToString::to_string),
            ..CommandBodyError::default()
        };
        let kind = match error {
            DecodeError::Json { .. } => CommandBodyErrorKind::InvalidJson,
            DecodeError::UnknownRequestType(request_type) => {
                body.error = format!("Command.RequestType: {error}");
                body.key_path = Some("Command.RequestType".into());
                body.value = Some(request_type.clone());
                CommandBodyErrorKind::UnknownRequestType
            }
            DecodeError::UnknownKey { .. } => CommandBodyErrorKind::UnknownKey,
            DecodeError::MissingKey { .. } => CommandBodyErrorKind::MissingKey,
            DecodeError::WrongType {
                expected, found, ..
            } => {
                body.expected = Some((*expected).to_owned());
                body.found = Some((*found).to_owned());
                CommandBodyErrorKind::WrongType
            }
            DecodeError::NotAllowed { value, allowed, .. } => {
                body.value = Some(value.clone());
                body.allowed.clone_from(allowed);
                CommandBodyErrorKind::NotAllowed
            }
            DecodeError::InvalidBase64 { .. } => CommandBodyErrorKind::InvalidBase64,
            DecodeError::InvalidDate { value, .. } => {
                body.value = Some(value.clone());
                CommandBodyErrorKind::InvalidDate
            }
            DecodeError::TooLargeDecoded { .. }
            | DecodeError::Plist(
                mdm_proto::DecodeError::TooLarge { .. }
                | mdm_proto::DecodeError::TooDeep { .. }
                | mdm_proto::DecodeError::TooManyObjects { .. },
            ) => CommandBodyErrorKind::TooLarge,
            _ => CommandBodyErrorKind::Invalid,
        };
        body.kind = kind;
        body
    }
}

/// `POST /v1/commands/<ids>[?nopush=1]`: reads the JSON command (see
/// [`CommandEnvelope::from_json_with`]), builds its property list from the typed command, and
/// enqueues and pushes it with `/v1/enqueue/`'s code, answering with the same `APIResult`. A
/// body that is not a valid command is `400` with a [`CommandBodyError`], and nothing is
/// enqueued.
pub(crate) async fn commands(State(api): State<ApiState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let target = match EnqueueTarget::from_parts(&parts, "/v1/commands/") {
        Ok(target) => target,
        Err(e) => return EnqueueTarget::refuse(e),
    };
    let body = match read_body(&parts.headers, body, api.limits.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let envelope = match CommandEnvelope::from_json_with(&body, &api.limits) {
        Ok(envelope) => envelope,
        Err(e) => {
            return api_json(StatusCode::BAD_REQUEST, &CommandBodyError::from(&e));
        }
    };
    // The body is no longer needed: free it before the storage round trips.
    drop(body);
    // A JSON value never becomes a `Uid`, the one value an XML property list cannot carry, so
    // building cannot panic.
    let command = envelope.to_plist();
    api.enqueue_and_respond(&target, &command).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> CommandBodyError {
        let e = CommandEnvelope::from_json(json.as_bytes()).unwrap_err();
        CommandBodyError::from(&e)
    }

    #[test]
    fn kinds_are_snake_case_strings_and_unknown_ones_read_as_invalid() {
        let b = body(r#"{"Command": {"RequestType": "MakeCoffee"}}"#);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["kind"], "unknown_request_type");
        assert_eq!(json["kind"], b.kind.as_str());
        let newer = r#"{"error": "x", "kind": "something_new"}"#;
        let read: CommandBodyError = serde_json::from_str(newer).unwrap();
        assert_eq!(read.kind, CommandBodyErrorKind::Invalid);
    }

    #[test]
    fn each_error_names_its_key_and_value() {
        let b = body(r#"{"Command": {"RequestType": "MakeCoffee"}}"#);
        assert_eq!(b.kind, CommandBodyErrorKind::UnknownRequestType);
        assert_eq!(b.key_path.as_deref(), Some("Command.RequestType"));
        assert_eq!(b.value.as_deref(), Some("MakeCoffee"));

        let b = body(r#"{"Command": {"RequestType": "EraseDevice", "ObliterationBehavior": "X"}}"#);
        assert_eq!(b.kind, CommandBodyErrorKind::NotAllowed);
        assert_eq!(b.key_path.as_deref(), Some("Command.ObliterationBehavior"));
        assert_eq!(b.value.as_deref(), Some("X"));
        assert_eq!(b.allowed.len(), 4);

        let b = body(r#"{"Command": {"RequestType": "DeviceInformation", "Queries": 1}}"#);
        assert_eq!(b.kind, CommandBodyErrorKind::WrongType);
        assert_eq!(b.expected.as_deref(), Some("an array"));
        assert_eq!(b.found.as_deref(), Some("an integer"));
        assert_eq!(
            b.error,
            "Command.Queries: expected an array, found an integer"
        );

        let b = body("{");
        assert_eq!(b.kind, CommandBodyErrorKind::InvalidJson);
        assert_eq!(b.key_path, None);
    }
}
