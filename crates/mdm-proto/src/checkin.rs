//! Check-in messages (`Content-Type: application/x-apple-aspen-mdm-checkin`).

use bytes::Bytes;
use plist::Dictionary;

use crate::fields::Fields;
use crate::parse::Keep;
use crate::{DecodeError, DecodeLimits, Enrollment, PushInfo, Raw, Secret};

/// A check-in message, by its `MessageType`.
///
/// Apple adds a message type most years, so the enum is `non_exhaustive`: a `match` needs an arm
/// for types this version does not know.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CheckIn {
    /// The first message of an enrollment, before any push token exists.
    Authenticate(Authenticate),
    /// The device (or user) channel's push token, and on the device channel its unlock token.
    TokenUpdate(TokenUpdate),
    /// The MDM profile is being removed.
    CheckOut(CheckOut),
    /// A user channel on macOS asks to be authenticated (digest challenge).
    UserAuthenticate(UserAuthenticate),
    /// The device escrows (or clears) its bootstrap token.
    SetBootstrapToken(SetBootstrapToken),
    /// The device asks for its escrowed bootstrap token.
    GetBootstrapToken(GetBootstrapToken),
    /// Declarative Device Management: the device fetches declarations or reports status.
    DeclarativeManagement(DeclarativeManagement),
    /// The device asks for a token for a named service.
    GetToken(GetToken),
    /// The device asks for its Return to Service configuration (iOS 26).
    ReturnToService(ReturnToService),
}

/// `Authenticate`: sent when the MDM profile is installed. The server should forget what it knew
/// about a previous enrollment of the same device.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Authenticate {
    /// Enrollment keys (`UDID` or `EnrollmentID`).
    pub enrollment: Enrollment,
    /// `Topic`: the push topic the profile names.
    pub topic: String,
    /// `BuildVersion`.
    pub build_version: Option<String>,
    /// `DeviceName`.
    pub device_name: Option<String>,
    /// `IMEI`.
    pub imei: Option<String>,
    /// `MEID`.
    pub meid: Option<String>,
    /// `Model`.
    pub model: Option<String>,
    /// `ModelName`.
    pub model_name: Option<String>,
    /// `OSVersion`.
    pub os_version: Option<String>,
    /// `ProductName`.
    pub product_name: Option<String>,
    /// `SerialNumber`.
    pub serial_number: Option<String>,
}

/// `TokenUpdate`: the channel's push token; the enrollment is usable once one arrives.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct TokenUpdate {
    /// Enrollment keys.
    pub enrollment: Enrollment,
    /// `Token`, `PushMagic` and `Topic`.
    pub push: PushInfo,
    /// `UnlockToken`: clears the passcode (device channel only).
    pub unlock_token: Option<Secret<Vec<u8>>>,
    /// `AwaitingConfiguration`: the device waits in Setup Assistant for `DeviceConfigured`.
    pub awaiting_configuration: bool,
    /// `NotOnConsole`: the user channel's user is not logged in at the console.
    pub not_on_console: bool,
}

/// `CheckOut`: the MDM profile is being removed (only when the profile asks for it).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct CheckOut {
    /// Enrollment keys.
    pub enrollment: Enrollment,
    /// `Topic`.
    pub topic: Option<String>,
}

/// `UserAuthenticate`: first without a digest response, then with one if the server sent a
/// challenge.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct UserAuthenticate {
    /// Enrollment keys (`UDID` and `UserID`).
    pub enrollment: Enrollment,
    /// `DigestResponse`, present on the second message of the exchange.
    pub digest_response: Option<String>,
}

/// `SetBootstrapToken`: escrow the bootstrap token; absent `BootstrapToken` clears it.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SetBootstrapToken {
    /// Enrollment keys.
    pub enrollment: Enrollment,
    /// `BootstrapToken`.
    pub bootstrap_token: Option<Secret<Vec<u8>>>,
    /// `AwaitingConfiguration`.
    pub awaiting_configuration: bool,
}

/// `GetBootstrapToken`: the device asks for the token it escrowed.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct GetBootstrapToken {
    /// Enrollment keys.
    pub enrollment: Enrollment,
    /// `AwaitingConfiguration`.
    pub awaiting_configuration: bool,
}

/// `DeclarativeManagement`: a request to the declarative management endpoint named `Endpoint`.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct DeclarativeManagement {
    /// Enrollment keys.
    pub enrollment: Enrollment,
    /// `Endpoint`: `tokens`, `declaration-items`, `status`, `declaration/<type>/<id>`.
    pub endpoint: String,
    /// `Data`: the JSON body for endpoints that take one (`status`).
    pub data: Option<Vec<u8>>,
}

/// `GetToken`: the device asks for a token for `TokenServiceType`.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct GetToken {
    /// Enrollment keys.
    pub enrollment: Enrollment,
    /// `TokenServiceType`, e.g. `com.apple.maid` or `com.apple.watch.pairing`.
    pub token_service_type: String,
    /// `TokenParameters`: service-specific parameters.
    pub token_parameters: Option<Dictionary>,
    /// `SecurityToken`.
    pub security_token: Option<String>,
    /// `PhoneUDID` (watch pairing).
    pub phone_udid: Option<String>,
    /// `WatchUDID` (watch pairing).
    pub watch_udid: Option<String>,
}

/// `ReturnToService`: the device asks for its Return to Service configuration.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ReturnToService {
    /// Enrollment keys (`UDID`).
    pub enrollment: Enrollment,
}

impl Authenticate {
    /// An `Authenticate` with its required keys; the optional ones are public fields to set.
    pub fn new(enrollment: Enrollment, topic: impl Into<String>) -> Self {
        Authenticate {
            enrollment,
            topic: topic.into(),
            ..Default::default()
        }
    }
}

impl TokenUpdate {
    /// A `TokenUpdate` with its required keys (`Token`, `PushMagic`, `Topic`).
    pub fn new(enrollment: Enrollment, push: PushInfo) -> Self {
        TokenUpdate {
            enrollment,
            push,
            ..Default::default()
        }
    }
}

impl CheckOut {
    /// A `CheckOut` for an enrollment.
    pub fn new(enrollment: Enrollment) -> Self {
        CheckOut {
            enrollment,
            topic: None,
        }
    }
}

impl UserAuthenticate {
    /// A `UserAuthenticate`: the first of the exchange without `digest_response`, the second
    /// with it.
    pub fn new(enrollment: Enrollment, digest_response: Option<String>) -> Self {
        UserAuthenticate {
            enrollment,
            digest_response,
        }
    }
}

impl SetBootstrapToken {
    /// A `SetBootstrapToken` escrowing `bootstrap_token` (`None` clears it).
    pub fn new(enrollment: Enrollment, bootstrap_token: Option<Secret<Vec<u8>>>) -> Self {
        SetBootstrapToken {
            enrollment,
            bootstrap_token,
            awaiting_configuration: false,
        }
    }
}

impl GetBootstrapToken {
    /// A `GetBootstrapToken`.
    pub fn new(enrollment: Enrollment) -> Self {
        GetBootstrapToken {
            enrollment,
            awaiting_configuration: false,
        }
    }
}

impl DeclarativeManagement {
    /// A `DeclarativeManagement` request to `endpoint`, with its `Data` if any.
    pub fn new(enrollment: Enrollment, endpoint: impl Into<String>, data: Option<Vec<u8>>) -> Self {
        DeclarativeManagement {
            enrollment,
            endpoint: endpoint.into(),
            data,
        }
    }
}

impl GetToken {
    /// A `GetToken` for `token_service_type`; the optional keys are public fields to set.
    pub fn new(enrollment: Enrollment, token_service_type: impl Into<String>) -> Self {
        GetToken {
            enrollment,
            token_service_type: token_service_type.into(),
            ..Default::default()
        }
    }
}

impl ReturnToService {
    /// A `ReturnToService` request.
    pub fn new(enrollment: Enrollment) -> Self {
        ReturnToService { enrollment }
    }
}

/// The keys a check-in of any type is read for; decoding drops the others.
const CHECK_IN_KEYS: Keep = Keep::Keys(&[
    Fields::ENROLLMENT_KEYS,
    &[
        ("MessageType", Keep::All),
        ("Topic", Keep::All),
        // Authenticate
        ("BuildVersion", Keep::All),
        ("DeviceName", Keep::All),
        ("IMEI", Keep::All),
        ("MEID", Keep::All),
        ("Model", Keep::All),
        ("ModelName", Keep::All),
        ("OSVersion", Keep::All),
        ("ProductName", Keep::All),
        ("SerialNumber", Keep::All),
        // TokenUpdate
        ("Token", Keep::All),
        ("PushMagic", Keep::All),
        ("UnlockToken", Keep::All),
        ("AwaitingConfiguration", Keep::All),
        ("NotOnConsole", Keep::All),
        // UserAuthenticate
        ("DigestResponse", Keep::All),
        // SetBootstrapToken
        ("BootstrapToken", Keep::All),
        // DeclarativeManagement
        ("Endpoint", Keep::All),
        ("Data", Keep::All),
        // GetToken
        ("TokenServiceType", Keep::All),
        ("TokenParameters", Keep::All),
        ("SecurityToken", Keep::All),
        ("PhoneUDID", Keep::All),
        ("WatchUDID", Keep::All),
    ],
]);

impl CheckIn {
    /// Decodes a check-in body (XML or binary property list) with the default [`DecodeLimits`].
    pub fn decode(body: impl Into<Bytes>) -> Result<Raw<CheckIn>, DecodeError> {
        Self::decode_with(body, &DecodeLimits::default())
    }

    /// Decodes a check-in body with explicit limits, keeping the bytes beside the value.
    pub fn decode_with(
        body: impl Into<Bytes>,
        limits: &DecodeLimits,
    ) -> Result<Raw<CheckIn>, DecodeError> {
        let body = body.into();
        let mut fields = Fields::parse(&body, limits, CHECK_IN_KEYS)?;
        let message_type = fields.required_string("MessageType")?;
        let enrollment = fields.enrollment()?;
        let f = &mut fields;
        let check_in = match message_type.as_str() {
            "Authenticate" => CheckIn::Authenticate(Authenticate {
                enrollment,
                topic: f.required_string("Topic")?,
                build_version: f.string("BuildVersion")?,
                device_name: f.string("DeviceName")?,
                imei: f.string("IMEI")?,
                meid: f.string("MEID")?,
                model: f.string("Model")?,
                model_name: f.string("ModelName")?,
                os_version: f.string("OSVersion")?,
                product_name: f.string("ProductName")?,
                serial_number: f.string("SerialNumber")?,
            }),
            "TokenUpdate" => CheckIn::TokenUpdate(TokenUpdate {
                enrollment,
                push: PushInfo {
                    token: f.required_data("Token")?,
                    push_magic: f.required_string("PushMagic")?,
                    topic: f.required_string("Topic")?,
                },
                unlock_token: f.data("UnlockToken")?.map(Secret::new),
                awaiting_configuration: f.flag("AwaitingConfiguration")?,
                not_on_console: f.flag("NotOnConsole")?,
            }),
            "CheckOut" => CheckIn::CheckOut(CheckOut {
                enrollment,
                topic: f.string("Topic")?,
            }),
            "UserAuthenticate" => CheckIn::UserAuthenticate(UserAuthenticate {
                enrollment,
                digest_response: f.string("DigestResponse")?,
            }),
            "SetBootstrapToken" => CheckIn::SetBootstrapToken(SetBootstrapToken {
                enrollment,
                bootstrap_token: f.data("BootstrapToken")?.map(Secret::new),
                awaiting_configuration: f.flag("AwaitingConfiguration")?,
            }),
            "GetBootstrapToken" => CheckIn::GetBootstrapToken(GetBootstrapToken {
                enrollment,
                awaiting_configuration: f.flag("AwaitingConfiguration")?,
            }),
            "DeclarativeManagement" => CheckIn::DeclarativeManagement(DeclarativeManagement {
                enrollment,
                endpoint: f.required_string("Endpoint")?,
                data: f.data("Data")?,
            }),
            "GetToken" => CheckIn::GetToken(GetToken {
                enrollment,
                token_service_type: f.required_string("TokenServiceType")?,
                token_parameters: f.dictionary("TokenParameters")?,
                security_token: f.string("SecurityToken")?,
                phone_udid: f.string("PhoneUDID")?,
                watch_udid: f.string("WatchUDID")?,
            }),
            "ReturnToService" => CheckIn::ReturnToService(ReturnToService { enrollment }),
            _ => return Err(DecodeError::UnknownMessageType(message_type)),
        };
        Ok(Raw::new(check_in, body))
    }

    /// The `MessageType` string of this check-in.
    pub fn message_type(&self) -> &'static str {
        match self {
            CheckIn::Authenticate(_) => "Authenticate",
            CheckIn::TokenUpdate(_) => "TokenUpdate",
            CheckIn::CheckOut(_) => "CheckOut",
            CheckIn::UserAuthenticate(_) => "UserAuthenticate",
            CheckIn::SetBootstrapToken(_) => "SetBootstrapToken",
            CheckIn::GetBootstrapToken(_) => "GetBootstrapToken",
            CheckIn::DeclarativeManagement(_) => "DeclarativeManagement",
            CheckIn::GetToken(_) => "GetToken",
            CheckIn::ReturnToService(_) => "ReturnToService",
        }
    }

    /// The enrollment keys of this check-in.
    pub fn enrollment(&self) -> &Enrollment {
        match self {
            CheckIn::Authenticate(m) => &m.enrollment,
            CheckIn::TokenUpdate(m) => &m.enrollment,
            CheckIn::CheckOut(m) => &m.enrollment,
            CheckIn::UserAuthenticate(m) => &m.enrollment,
            CheckIn::SetBootstrapToken(m) => &m.enrollment,
            CheckIn::GetBootstrapToken(m) => &m.enrollment,
            CheckIn::DeclarativeManagement(m) => &m.enrollment,
            CheckIn::GetToken(m) => &m.enrollment,
            CheckIn::ReturnToService(m) => &m.enrollment,
        }
    }
}
