//! The property lists a device sends: check-in messages and command reports.

use std::borrow::Cow;

use bytes::Bytes;
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{ErrorChainEntry, Status};

use crate::Error;
use crate::device::{Channel, Device, DeviceKind};

/// What a device sends: a check-in message (to the check-in URL) or a command report (to the
/// server URL). The enrollment keys, topic and device facts are filled in from the [`Device`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// `Authenticate`: model, OS, serial number and the other facts of the device.
    Authenticate,
    /// `TokenUpdate`: the channel's push token and magic, and the unlock token on the device
    /// channel.
    TokenUpdate,
    /// `CheckOut`: the MDM profile is being removed.
    CheckOut,
    /// `UserAuthenticate` (macOS user channel), first without and then with a `DigestResponse`.
    UserAuthenticate {
        /// `DigestResponse`.
        digest_response: Option<String>,
    },
    /// `SetBootstrapToken`; `None` clears the escrowed token.
    SetBootstrapToken {
        /// `BootstrapToken`. A secret.
        bootstrap_token: Option<Vec<u8>>,
    },
    /// `GetBootstrapToken`.
    GetBootstrapToken,
    /// `DeclarativeManagement` for `Endpoint`, with `Data` for the endpoints that take a body.
    DeclarativeManagement {
        /// `Endpoint`: `tokens`, `declaration-items`, `status`, `declaration/<type>/<id>`.
        endpoint: String,
        /// `Data`: the JSON body (for `status`).
        data: Option<Vec<u8>>,
    },
    /// `GetToken` for a service.
    GetToken {
        /// `TokenServiceType`, e.g. `com.apple.maid`.
        token_service_type: String,
        /// `TokenParameters`.
        token_parameters: Option<Dictionary>,
    },
    /// `ReturnToService`.
    ReturnToService,
    /// A command report on the command channel.
    Report(Report),
}

impl Message {
    /// Whether the message is a check-in (sent to the check-in URL) rather than a report.
    pub fn is_check_in(&self) -> bool {
        !matches!(self, Message::Report(_))
    }

    /// The check-in's `MessageType`, or the report's `Status`.
    pub fn name(&self) -> &str {
        match self {
            Message::Report(report) => report.status.as_str(),
            check_in => check_in.check_in_type().unwrap_or_default(),
        }
    }

    /// The check-in's `MessageType`; `None` for a report.
    pub(crate) fn check_in_type(&self) -> Option<&'static str> {
        Some(match self {
            Message::Authenticate => "Authenticate",
            Message::TokenUpdate => "TokenUpdate",
            Message::CheckOut => "CheckOut",
            Message::UserAuthenticate { .. } => "UserAuthenticate",
            Message::SetBootstrapToken { .. } => "SetBootstrapToken",
            Message::GetBootstrapToken => "GetBootstrapToken",
            Message::DeclarativeManagement { .. } => "DeclarativeManagement",
            Message::GetToken { .. } => "GetToken",
            Message::ReturnToService => "ReturnToService",
            Message::Report(_) => return None,
        })
    }

    /// [`Message::name`], borrowed from a static string where it can be.
    pub(crate) fn static_name(&self) -> Cow<'static, str> {
        match self {
            Message::Report(report) => match &report.status {
                Status::Idle => Cow::Borrowed("Idle"),
                Status::Acknowledged => Cow::Borrowed("Acknowledged"),
                Status::Error => Cow::Borrowed("Error"),
                Status::CommandFormatError => Cow::Borrowed("CommandFormatError"),
                Status::NotNow => Cow::Borrowed("NotNow"),
                other => Cow::Owned(other.as_str().to_owned()),
            },
            check_in => Cow::Borrowed(check_in.check_in_type().unwrap_or_default()),
        }
    }
}

/// A command-channel report: the device's `Status`, for `CommandUUID`, with the command's result
/// keys or an `ErrorChain`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// `Status`.
    pub status: Status,
    /// `CommandUUID` (absent on `Idle`).
    pub command_uuid: Option<String>,
    /// `ErrorChain` (on `Error` and `CommandFormatError`).
    pub error_chain: Vec<ErrorChainEntry>,
    /// The command's result keys, placed at the top level of the report beside `Status`
    /// (`QueryResponses`, `ProfileList` …).
    pub results: Dictionary,
}

impl Report {
    /// `Idle`: the device asks for its next command.
    pub fn idle() -> Report {
        Report::default()
    }

    /// `Acknowledged` for `command_uuid`, with the command's result keys.
    pub fn acknowledged(command_uuid: impl Into<String>, results: Dictionary) -> Report {
        Report {
            status: Status::Acknowledged,
            command_uuid: Some(command_uuid.into()),
            ..Report::default()
        }
        .with_results(results)
    }

    /// `NotNow` for `command_uuid`: the device cannot run it now and will ask again later.
    pub fn not_now(command_uuid: impl Into<String>) -> Report {
        Report {
            status: Status::NotNow,
            command_uuid: Some(command_uuid.into()),
            ..Report::default()
        }
    }

    /// `Error` for `command_uuid`, with an `ErrorChain`.
    pub fn error(command_uuid: impl Into<String>, error_chain: Vec<ErrorChainEntry>) -> Report {
        Report {
            status: Status::Error,
            command_uuid: Some(command_uuid.into()),
            error_chain,
            ..Report::default()
        }
    }

    /// `CommandFormatError` for `command_uuid`, with an `ErrorChain`.
    pub fn command_format_error(
        command_uuid: impl Into<String>,
        error_chain: Vec<ErrorChainEntry>,
    ) -> Report {
        Report {
            status: Status::CommandFormatError,
            ..Report::error(command_uuid, error_chain)
        }
    }

    fn with_results(mut self, results: Dictionary) -> Report {
        self.results = results;
        self
    }
}

/// Builds the XML property list `device` sends for `message` on `channel`.
pub(crate) fn body(
    device: &Device,
    channel: Channel,
    topic: &str,
    message: &Message,
) -> Result<Bytes, Error> {
    let mut d = Dictionary::new();
    let keys = device
        .enrollment(channel)
        .ok_or(Error::NoUserChannel(device.kind))?;
    let put_string = |d: &mut Dictionary, key: &str, value: &Option<String>| {
        if let Some(v) = value {
            d.insert(key.into(), Value::String(v.clone()));
        }
    };
    put_string(&mut d, "UDID", &keys.udid);
    put_string(&mut d, "EnrollmentID", &keys.enrollment_id);
    put_string(&mut d, "UserID", &keys.user_id);
    put_string(&mut d, "EnrollmentUserID", &keys.enrollment_user_id);
    put_string(&mut d, "UserShortName", &keys.user_short_name);
    put_string(&mut d, "UserLongName", &keys.user_long_name);

    let string = |s: &str| Value::String(s.to_owned());
    if message.is_check_in() {
        d.insert("MessageType".into(), string(message.name()));
    }
    match message {
        Message::Authenticate => {
            d.insert("Topic".into(), string(topic));
            d.insert("BuildVersion".into(), string(&device.build_version));
            d.insert("DeviceName".into(), string(&device.device_name));
            // Devices send their product name as `Model` here; `DeviceInformation` reports the
            // order number under the same key.
            d.insert("Model".into(), string(&device.product_name));
            d.insert("ModelName".into(), string(&device.model_name));
            d.insert("OSVersion".into(), string(&device.os_version));
            d.insert("ProductName".into(), string(&device.product_name));
            put_string(&mut d, "SerialNumber", &device.serial_number);
            put_string(&mut d, "IMEI", &device.imei);
            put_string(&mut d, "MEID", &device.meid);
        }
        Message::TokenUpdate => {
            let push = device
                .push(channel)
                .ok_or(Error::NoUserChannel(device.kind))?;
            d.insert("Topic".into(), string(topic));
            d.insert("Token".into(), Value::Data(push.token.clone()));
            d.insert("PushMagic".into(), string(&push.push_magic));
            match channel {
                Channel::Device => {
                    if let Some(unlock) = &device.unlock_token {
                        d.insert("UnlockToken".into(), Value::Data(unlock.clone()));
                    }
                    if device.kind != DeviceKind::UserEnrollment {
                        d.insert("AwaitingConfiguration".into(), Value::Boolean(false));
                    }
                }
                Channel::User if device.kind.is_mac() => {
                    d.insert("NotOnConsole".into(), Value::Boolean(false));
                }
                Channel::User => {}
            }
        }
        Message::CheckOut => {
            d.insert("Topic".into(), string(topic));
        }
        Message::UserAuthenticate { digest_response } => {
            put_string(&mut d, "DigestResponse", digest_response);
        }
        Message::SetBootstrapToken { bootstrap_token } => {
            if let Some(token) = bootstrap_token {
                d.insert("BootstrapToken".into(), Value::Data(token.clone()));
            }
            d.insert("AwaitingConfiguration".into(), Value::Boolean(false));
        }
        Message::GetBootstrapToken => {
            d.insert("AwaitingConfiguration".into(), Value::Boolean(false));
        }
        Message::DeclarativeManagement { endpoint, data } => {
            d.insert("Endpoint".into(), string(endpoint));
            if let Some(data) = data {
                d.insert("Data".into(), Value::Data(data.clone()));
            }
        }
        Message::GetToken {
            token_service_type,
            token_parameters,
        } => {
            d.insert("TokenServiceType".into(), string(token_service_type));
            if let Some(params) = token_parameters {
                d.insert("TokenParameters".into(), Value::Dictionary(params.clone()));
            }
        }
        Message::ReturnToService => {}
        Message::Report(report) => {
            // A result key never replaces the report's own keys or the enrollment keys.
            for (key, value) in &report.results {
                let own = matches!(key.as_str(), "Status" | "CommandUUID" | "ErrorChain");
                if !own && !d.contains_key(key) {
                    d.insert(key.clone(), value.clone());
                }
            }
            d.insert("Status".into(), string(report.status.as_str()));
            if let Some(uuid) = &report.command_uuid {
                d.insert("CommandUUID".into(), string(uuid));
            }
            if !report.error_chain.is_empty() {
                let chain = report.error_chain.iter().map(error_chain_entry).collect();
                d.insert("ErrorChain".into(), Value::Array(chain));
            }
        }
    }
    Ok(to_xml(d))
}

fn error_chain_entry(e: &ErrorChainEntry) -> Value {
    let mut d = Dictionary::new();
    if let Some(code) = e.error_code {
        d.insert("ErrorCode".into(), Value::Integer(code.into()));
    }
    let mut put = |key: &str, v: &Option<String>| {
        if let Some(v) = v {
            d.insert(key.into(), Value::String(v.clone()));
        }
    };
    put("ErrorDomain", &e.error_domain);
    put("LocalizedDescription", &e.localized_description);
    put("USEnglishDescription", &e.us_english_description);
    Value::Dictionary(d)
}

/// Serializes with keys sorted, as devices (CoreFoundation) write them.
pub(crate) fn to_xml(mut d: Dictionary) -> Bytes {
    d.sort_keys();
    let mut xml = Vec::with_capacity(1024);
    Value::Dictionary(d)
        .to_writer_xml(&mut xml)
        .expect("writing a property list of plain values to memory cannot fail");
    Bytes::from(xml)
}
