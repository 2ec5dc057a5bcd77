//! What every command type has: its request type, availability, plist envelope and response.

use std::fmt;

use bytes::Bytes;
use mdm_proto::{Command, CommandReport, DecodeLimits, Enrollment, ErrorChainEntry, Raw, Status};
use plist::{Dictionary, Value};

use crate::codec::source::{BinarySource, Source};
use crate::codec::tree::TreeSource;
use crate::codec::xml::XmlSource;
use crate::codec::{self, Decode, Decoder, Encode, Intercept, Settings};
use crate::envelope::plist_kind;
use crate::error::{Error, Result};
use crate::{AnyCommand, Availability, DecodeError};

/// An MDM command: one `RequestType` of Apple's schema, with its payload keys as fields.
///
/// ```
/// use mdm_commands::{MdmCommand, device_information::{DeviceInformation, QueriesItem}};
///
/// let command = DeviceInformation::new(vec![QueriesItem::DeviceName]);
/// let plist = command.build("0b0c9a6e-3f0d-4c1a-9d9b-6d2f3c1e5a70");
/// assert_eq!(plist.request_type, "DeviceInformation");
/// assert_eq!(DeviceInformation::from_payload(&command.to_payload()).unwrap(), command);
/// ```
pub trait MdmCommand: Decode + Encode + Clone + fmt::Debug + PartialEq + Into<AnyCommand> {
    /// The command's `RequestType`.
    const REQUEST_TYPE: &'static str;

    /// Where the command is available (the schema's `supportedOS`).
    const AVAILABILITY: Availability;

    /// The keys of an acknowledged report of this command (`()` when it has none).
    type Response: Decode + Encode + Clone + fmt::Debug + PartialEq;

    /// The `Command` dictionary's payload keys (everything but `RequestType`).
    fn to_payload(&self) -> Dictionary {
        codec::into_dictionary(self.encode())
    }

    /// The command as the property list a server queues: `CommandUUID`, and `Command` with
    /// `RequestType` and the payload.
    ///
    /// # Panics
    ///
    /// If an `<any>` value holds a [`Value::Uid`], which XML property lists cannot carry.
    fn build(&self, command_uuid: impl Into<String>) -> Raw<Command> {
        Command::build(command_uuid, Self::REQUEST_TYPE, self.to_payload())
    }

    /// Reads the command from its `Command` dictionary (with or without `RequestType`; a
    /// different `RequestType` is an error). Every key must be one the schema defines.
    fn from_payload(payload: &Dictionary) -> Result<Self, DecodeError> {
        match payload.get("RequestType") {
            None => {}
            Some(Value::String(request_type)) if request_type == Self::REQUEST_TYPE => {}
            Some(Value::String(other)) => {
                return Err(DecodeError::UnknownRequestType(other.clone()));
            }
            Some(other) => {
                return Err(Error::wrong_type("a string", plist_kind(other))
                    .in_key("RequestType")
                    .in_key("Command")
                    .into());
            }
        }
        let value = Value::Dictionary(payload.clone());
        decode_command_tree(&value)
    }

    /// Decodes a report of this command (its raw bytes, XML or binary) with the default
    /// [`DecodeLimits`]: the envelope, and the typed result when the status is `Acknowledged`.
    fn decode_response(
        body: impl Into<Bytes>,
    ) -> Result<Raw<Response<Self::Response>>, DecodeError> {
        decode_report(body.into(), &DecodeLimits::default())
    }

    /// [`decode_response`](Self::decode_response) with explicit limits.
    fn decode_response_with(
        body: impl Into<Bytes>,
        limits: &DecodeLimits,
    ) -> Result<Raw<Response<Self::Response>>, DecodeError> {
        decode_report(body.into(), limits)
    }
}

/// A command report decoded for a known command: the envelope `mdm-proto` reads (status,
/// enrollment ids, `CommandUUID`, `ErrorChain`) and the command's typed result.
///
/// The result is read only from `Acknowledged` reports; for every other status it is `None`
/// (whatever keys the report carries stay in its raw bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct Response<R> {
    /// The envelope.
    pub report: CommandReport,
    /// The result keys, on `Acknowledged`.
    pub result: Option<R>,
}

impl<R> Response<R> {
    /// The report's `Status`.
    pub fn status(&self) -> &Status {
        &self.report.status
    }

    /// The result, on `Acknowledged`.
    pub fn result(&self) -> Option<&R> {
        self.result.as_ref()
    }

    /// The same response with its result mapped (into an [`AnyResponse`](crate::AnyResponse)
    /// variant, say).
    pub fn map<S>(self, f: impl FnOnce(R) -> S) -> Response<S> {
        Response {
            report: self.report,
            result: self.result.map(f),
        }
    }
}

#[cfg(feature = "examples")]
impl crate::AnyResponse {
    /// Example result keys of an acknowledged report of `request_type`: every key the schema
    /// gives the command's response, with placeholder values of the schema's types (`Example`,
    /// `7`, the first value of a closed list, every kind of a union), made from the schema by
    /// the generator; an empty dictionary for a command without result keys; `None` for a
    /// request type the schema does not have. Simulated devices (`mdm-sim`) answer with them.
    ///
    /// ```
    /// let keys = mdm_commands::AnyResponse::example("SecurityInfo").unwrap();
    /// assert!(keys.contains_key("SecurityInfo"));
    /// assert!(mdm_commands::AnyResponse::example("RestartDevice").unwrap().is_empty());
    /// assert!(mdm_commands::AnyResponse::example("MakeCoffee").is_none());
    /// ```
    pub fn example(request_type: &str) -> Option<Dictionary> {
        let xml = crate::examples::example_xml(request_type)?;
        // Generated, and each one is read in this crate's tests: reading cannot fail.
        Value::from_reader_xml(xml.as_bytes())
            .ok()
            .and_then(Value::into_dictionary)
    }
}

/// A decoded response with its result wrapped (into an `AnyResponse` variant).
pub(crate) fn wrap<R, T>(raw: Raw<Response<R>>, variant: impl FnOnce(Response<R>) -> T) -> Raw<T> {
    let (response, bytes) = raw.into_parts();
    Raw::new(variant(response), bytes)
}

/// Decodes a command's typed value from its `Command` dictionary, strictly, skipping
/// `RequestType`.
pub(crate) fn decode_command_tree<C: Decode>(command: &Value) -> Result<C, DecodeError> {
    let limits = DecodeLimits::default();
    let mut source = TreeSource::new(command);
    let settings = Settings::new(true, &limits, limits.max_body_bytes);
    decode_command(&mut source, settings, |d| d.decode()).map_err(|e| e.in_key("Command").into())
}

/// Decodes a command's `Command` dictionary with `read`, skipping `RequestType`.
pub(crate) fn decode_command<'a, C>(
    source: &mut dyn Source<'a>,
    settings: Settings,
    read: impl FnOnce(&mut Decoder<'a, '_>) -> Result<C>,
) -> Result<C> {
    let mut d = Decoder::new(source, settings);
    d.skip_key("RequestType");
    let command = read(&mut d)?;
    d.finish()?;
    Ok(command)
}

/// Decodes a report in one pass over its bytes: the envelope and the result together. On a
/// result that does not decode, the envelope is read again with `mdm-proto`: a report that is not
/// `Acknowledged` has no result to read, and is not an error.
pub(crate) fn decode_report<R: Decode>(
    body: Bytes,
    limits: &DecodeLimits,
) -> Result<Raw<Response<R>>, DecodeError> {
    if body.len() > limits.max_body_bytes {
        return Err(mdm_proto::DecodeError::TooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        }
        .into());
    }
    let settings = Settings::new(false, limits, body.len());
    let mut envelope = Envelope::default();
    let decoded = if body.starts_with(b"bplist00") {
        // mdm-proto bounds the object graph before anything follows its references.
        let report = CommandReport::decode_with(body.clone(), limits)?
            .into_parts()
            .0;
        let mut source = BinarySource::new(&body);
        let result = decode_result::<R>(&mut source, settings, &mut envelope);
        result.map(|result| (report.clone(), result))
    } else {
        let mut source = XmlSource::new(&body);
        decode_result::<R>(&mut source, settings, &mut envelope)
            .and_then(|result| Ok((envelope.into_report()?, result)))
    };
    let response = match decoded {
        Ok((report, result)) => {
            let result = (report.status == Status::Acknowledged).then_some(result);
            Response { report, result }
        }
        Err(error) => {
            let report = CommandReport::decode_with(body.clone(), limits)?
                .into_parts()
                .0;
            if report.status == Status::Acknowledged {
                return Err(error.into());
            }
            Response {
                report,
                result: None,
            }
        }
    };
    Ok(Raw::new(response, body))
}

fn decode_result<'a, R: Decode>(
    source: &mut dyn Source<'a>,
    settings: Settings,
    envelope: &mut Envelope,
) -> Result<R> {
    let mut d = Decoder::new(source, settings);
    d.intercept(envelope);
    let result = d.decode()?;
    d.finish()?;
    Ok(result)
}

/// The envelope keys of a report, read as `mdm-proto` reads them: empty strings are absent.
#[derive(Default)]
struct Envelope {
    enrollment: Enrollment,
    command_uuid: Option<String>,
    status: Option<String>,
    error_chain: Vec<ErrorChainEntry>,
}

impl Envelope {
    fn into_report(self) -> Result<CommandReport> {
        let status = Status::from(
            self.status
                .as_deref()
                .ok_or_else(|| Error::missing_key("Status"))?,
        );
        if self.command_uuid.is_none() && status != Status::Idle {
            return Err(Error::missing_key("CommandUUID"));
        }
        let mut report = CommandReport::new(self.enrollment, status);
        report.command_uuid = self.command_uuid;
        report.error_chain = self.error_chain;
        Ok(report)
    }
}

/// A string key, absent when empty.
fn non_empty(d: &mut Decoder<'_, '_>) -> Result<Option<String>> {
    let s: String = d.decode()?;
    Ok((!s.is_empty()).then_some(s))
}

impl<'a> Intercept<'a> for Envelope {
    fn key(&mut self, key: &str, d: &mut Decoder<'a, '_>) -> Result<bool> {
        let e = &mut self.enrollment;
        match key {
            "UDID" => e.udid = non_empty(d)?,
            "UserID" => e.user_id = non_empty(d)?,
            "UserShortName" => e.user_short_name = non_empty(d)?,
            "UserLongName" => e.user_long_name = non_empty(d)?,
            "EnrollmentID" => e.enrollment_id = non_empty(d)?,
            "EnrollmentUserID" => e.enrollment_user_id = non_empty(d)?,
            "CommandUUID" => self.command_uuid = non_empty(d)?,
            "Status" => self.status = non_empty(d)?,
            "ErrorChain" => {
                self.error_chain = d.array(|d| {
                    let mut entry = ErrorChainEntry::default();
                    d.dictionary(|key, d| {
                        match key {
                            "ErrorCode" => entry.error_code = Some(d.decode()?),
                            "ErrorDomain" => entry.error_domain = non_empty(d)?,
                            "LocalizedDescription" => entry.localized_description = non_empty(d)?,
                            "USEnglishDescription" => {
                                entry.us_english_description = non_empty(d)?;
                            }
                            _ => return Ok(false),
                        }
                        Ok(true)
                    })?;
                    Ok(entry)
                })?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
