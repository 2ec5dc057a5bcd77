//! Which enrollment (channel) a message comes from, and the id a server files it under.
//!
//! An MDM enrollment has a device channel and, on macOS, Shared iPad and User Enrollment, user
//! channels beside it. Each message names its channel with some of the [`Enrollment`] keys; this
//! crate turns them into one string per channel, the way NanoMDM does, so that a server built on
//! Rootstock can share a database with NanoMDM:
//!
//! | keys present | type | enrollment id | parent |
//! |---|---|---|---|
//! | `UDID` | Device | `UDID` | — |
//! | `UDID` + `UserID` | User | `UDID:UserID` | `UDID` |
//! | `UDID` + `UserID` = `FFFFFFFF-…` | Shared iPad | `UDID:UserShortName` | `UDID` |
//! | `EnrollmentID` | User Enrollment (Device) | `EnrollmentID` | — |
//! | `EnrollmentID` + `EnrollmentUserID` | User Enrollment | `EnrollmentID:EnrollmentUserID` | `EnrollmentID` |
//!
//! `UDID` wins when both `UDID` and `EnrollmentID` are present.
//!
//! ```
//! use mdm_enrollment::{EnrollType, enroll_id};
//! use mdm_proto::Enrollment;
//!
//! let user = Enrollment::user(
//!     "5B6A1C2D-8E9F-4A0B-9C1D-2E3F4A5B6C7D",
//!     "A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D",
//! );
//! let id = enroll_id(&user).unwrap();
//! assert_eq!(id.kind(), EnrollType::User);
//! assert_eq!(id.id(), "5B6A1C2D-8E9F-4A0B-9C1D-2E3F4A5B6C7D:A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D");
//! assert_eq!(id.device_channel_id(), "5B6A1C2D-8E9F-4A0B-9C1D-2E3F4A5B6C7D");
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

use std::fmt;
use std::str::FromStr;

pub use mdm_proto::Enrollment;

/// The `UserID` every Shared iPad user channel sends; the user is told apart by
/// `UserShortName` (the managed Apple Account) instead.
pub const SHARED_IPAD_USER_ID: &str = "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF";

/// The kind of channel an enrollment id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnrollType {
    /// A device channel identified by `UDID`.
    Device,
    /// A user channel on a device channel identified by `UDID` (macOS).
    User,
    /// The device channel of a User Enrollment, identified by `EnrollmentID`.
    UserEnrollmentDevice,
    /// The user channel of a User Enrollment.
    UserEnrollment,
    /// A Shared iPad user channel.
    SharedIPad,
}

impl EnrollType {
    /// Every type, in NanoMDM's numbering order.
    pub const ALL: [EnrollType; 5] = [
        EnrollType::Device,
        EnrollType::User,
        EnrollType::UserEnrollmentDevice,
        EnrollType::UserEnrollment,
        EnrollType::SharedIPad,
    ];

    /// NanoMDM's name for the type, as stored in its databases and sent in webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollType::Device => "Device",
            EnrollType::User => "User",
            EnrollType::UserEnrollmentDevice => "User Enrollment (Device)",
            EnrollType::UserEnrollment => "User Enrollment",
            EnrollType::SharedIPad => "Shared iPad",
        }
    }

    /// Whether this type names a user channel (one with a parent device channel).
    pub fn is_user_channel(self) -> bool {
        matches!(
            self,
            EnrollType::User | EnrollType::UserEnrollment | EnrollType::SharedIPad
        )
    }
}

impl fmt::Display for EnrollType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of NanoMDM's enrollment type names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown enrollment type {0:?}")]
pub struct UnknownEnrollType(pub String);

impl FromStr for EnrollType {
    type Err = UnknownEnrollType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EnrollType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEnrollType(s.to_owned()))
    }
}

/// Why a message's enrollment keys name no channel.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollmentError {
    /// Neither `UDID` nor `EnrollmentID` is present.
    #[error("no device id: the message has neither UDID nor EnrollmentID")]
    MissingDeviceId,
    /// A Shared iPad user channel (`UserID` `FFFFFFFF-…`) without `UserShortName`.
    #[error("Shared iPad user channel without UserShortName")]
    MissingUserShortName,
}

/// The channels a message's keys name: its device channel, and its user channel if it is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedEnrollment {
    /// The channel type.
    pub kind: EnrollType,
    /// The device channel's id (`UDID` or `EnrollmentID`).
    pub device_channel_id: String,
    /// The user channel's part of the id, for user channels.
    pub user_channel_id: Option<String>,
}

/// The id a channel is stored and addressed under: a device channel's `UDID` or `EnrollmentID`,
/// or `<device channel id>:<user part>` for a user channel. Enrollment ids in API paths, push
/// calls, queue targets and certificate bindings are all this type.
///
/// Its `Debug` is the string's (quoted, control characters escaped), so it can be logged with
/// `?` whatever the device put in it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EnrollmentId(String);

impl EnrollmentId {
    /// An enrollment id from its text.
    pub fn new(id: impl Into<String>) -> Self {
        EnrollmentId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id's text, unwrapped.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EnrollmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EnrollmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<String> for EnrollmentId {
    fn from(id: String) -> Self {
        EnrollmentId(id)
    }
}

impl From<&str> for EnrollmentId {
    fn from(id: &str) -> Self {
        EnrollmentId(id.to_owned())
    }
}

impl From<EnrollmentId> for String {
    fn from(id: EnrollmentId) -> Self {
        id.0
    }
}

impl AsRef<str> for EnrollmentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for EnrollmentId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for EnrollmentId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for EnrollmentId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A channel: its enrollment id, its type, and for a user channel the device channel it belongs
/// to. A user channel always has a parent and a device channel never does; the constructors keep
/// it so.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnrollId {
    id: EnrollmentId,
    kind: EnrollType,
    parent: Option<EnrollmentId>,
}

/// A type and a parent that do not go together: a user channel without a device channel, or a
/// device channel with one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a {kind} channel {}", if kind.is_user_channel() { "needs its device channel's id" } else { "has no parent" })]
pub struct ParentMismatch {
    /// The type asked for.
    pub kind: EnrollType,
}

impl EnrollId {
    /// A device channel (`Device` or `User Enrollment (Device)`).
    pub fn device_channel(
        id: impl Into<EnrollmentId>,
        kind: EnrollType,
    ) -> Result<Self, ParentMismatch> {
        Self::new(id, kind, None)
    }

    /// A channel of any type, with its parent exactly when it is a user channel.
    pub fn new(
        id: impl Into<EnrollmentId>,
        kind: EnrollType,
        parent: Option<EnrollmentId>,
    ) -> Result<Self, ParentMismatch> {
        if parent.is_some() != kind.is_user_channel() {
            return Err(ParentMismatch { kind });
        }
        Ok(EnrollId {
            id: id.into(),
            kind,
            parent,
        })
    }

    /// A `Device` channel: the commonest case, which cannot fail.
    pub fn device(udid: impl Into<EnrollmentId>) -> Self {
        EnrollId {
            id: udid.into(),
            kind: EnrollType::Device,
            parent: None,
        }
    }

    /// The enrollment id: the device channel id, or `<device channel id>:<user channel id>`.
    pub fn id(&self) -> &EnrollmentId {
        &self.id
    }

    /// The channel type.
    pub fn kind(&self) -> EnrollType {
        self.kind
    }

    /// For a user channel, the device channel's id.
    pub fn parent(&self) -> Option<&EnrollmentId> {
        self.parent.as_ref()
    }

    /// The id of the device channel this enrollment belongs to: its own id on a device channel,
    /// its parent's on a user channel.
    pub fn device_channel_id(&self) -> &EnrollmentId {
        self.parent.as_ref().unwrap_or(&self.id)
    }
}

impl fmt::Display for EnrollId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id.as_str())
    }
}

/// Resolves a message's enrollment keys into its channels.
pub fn resolve(e: &Enrollment) -> Result<ResolvedEnrollment, EnrollmentError> {
    if let Some(udid) = &e.udid {
        let (kind, user_channel_id) = match e.user_id.as_deref() {
            None => (EnrollType::Device, None),
            Some(SHARED_IPAD_USER_ID) => (
                EnrollType::SharedIPad,
                Some(
                    e.user_short_name
                        .clone()
                        .ok_or(EnrollmentError::MissingUserShortName)?,
                ),
            ),
            Some(user_id) => (EnrollType::User, Some(user_id.to_owned())),
        };
        return Ok(ResolvedEnrollment {
            kind,
            device_channel_id: udid.clone(),
            user_channel_id,
        });
    }
    if let Some(enrollment_id) = &e.enrollment_id {
        let kind = match e.enrollment_user_id {
            None => EnrollType::UserEnrollmentDevice,
            Some(_) => EnrollType::UserEnrollment,
        };
        return Ok(ResolvedEnrollment {
            kind,
            device_channel_id: enrollment_id.clone(),
            user_channel_id: e.enrollment_user_id.clone(),
        });
    }
    Err(EnrollmentError::MissingDeviceId)
}

impl ResolvedEnrollment {
    /// The channel's enrollment id.
    pub fn normalize(self) -> EnrollId {
        match self.user_channel_id {
            None => EnrollId {
                id: EnrollmentId(self.device_channel_id),
                kind: self.kind,
                parent: None,
            },
            Some(user) => EnrollId {
                id: EnrollmentId(format!("{}:{user}", self.device_channel_id)),
                kind: self.kind,
                parent: Some(EnrollmentId(self.device_channel_id)),
            },
        }
    }
}

/// Resolves and normalizes in one step: the enrollment id of the channel a message comes from.
pub fn enroll_id(e: &Enrollment) -> Result<EnrollId, EnrollmentError> {
    resolve(e).map(ResolvedEnrollment::normalize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDID: &str = "00008103-000A1C2E3F40801E";
    const EID: &str = "8A3E2F4B6C7D9E0F1A2B3C4D5E6F7A8B9C0D1E2F";

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn device() {
        let e = {
            let mut v = Enrollment::default();
            v.udid = some(UDID);
            v
        };
        let id = enroll_id(&e).unwrap();
        assert_eq!(id, EnrollId::device(UDID));
        assert_eq!(id.device_channel_id(), UDID);
    }

    #[test]
    fn user_channel() {
        let e = {
            let mut v = Enrollment::default();
            v.udid = some(UDID);
            v.user_id = some("A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D");
            v.user_short_name = some("ada");
            v.user_long_name = some("Ada Lovelace");
            v
        };
        let id = enroll_id(&e).unwrap();
        assert_eq!(id.kind(), EnrollType::User);
        assert_eq!(
            id.id().as_str(),
            format!("{UDID}:A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D")
        );
        assert_eq!(id.parent().map(EnrollmentId::as_str), Some(UDID));
        assert_eq!(id.device_channel_id(), UDID);
    }

    #[test]
    fn shared_ipad_uses_the_short_name() {
        let e = {
            let mut v = Enrollment::default();
            v.udid = some(UDID);
            v.user_id = some(SHARED_IPAD_USER_ID);
            v.user_short_name = some("student9@school.example");
            v
        };
        let id = enroll_id(&e).unwrap();
        assert_eq!(id.kind(), EnrollType::SharedIPad);
        assert_eq!(id.id().as_str(), format!("{UDID}:student9@school.example"));
        assert_eq!(id.parent().map(EnrollmentId::as_str), Some(UDID));

        let no_name = {
            let mut v = e;
            v.user_short_name = None;
            v
        };
        assert_eq!(
            enroll_id(&no_name),
            Err(EnrollmentError::MissingUserShortName)
        );
    }

    #[test]
    fn user_enrollment_device_and_user() {
        let device = {
            let mut v = Enrollment::default();
            v.enrollment_id = some(EID);
            v
        };
        let id = enroll_id(&device).unwrap();
        assert_eq!(
            id,
            EnrollId::device_channel(EID, EnrollType::UserEnrollmentDevice).unwrap()
        );

        let user = {
            let mut v = Enrollment::default();
            v.enrollment_id = some(EID);
            v.enrollment_user_id = some("B7C8D9E0");
            v.user_long_name = some("Grace Hopper");
            v
        };
        let id = enroll_id(&user).unwrap();
        assert_eq!(id.kind(), EnrollType::UserEnrollment);
        assert_eq!(id.id().as_str(), format!("{EID}:B7C8D9E0"));
        assert_eq!(id.parent().map(EnrollmentId::as_str), Some(EID));
    }

    #[test]
    fn udid_wins_over_enrollment_id() {
        let both = {
            let mut v = Enrollment::default();
            v.udid = some(UDID);
            v.enrollment_id = some(EID);
            v.enrollment_user_id = some("B7C8D9E0");
            v
        };
        assert_eq!(enroll_id(&both).unwrap(), EnrollId::device(UDID));
    }

    #[test]
    fn no_device_id_is_an_error() {
        assert_eq!(
            enroll_id(&Enrollment::default()),
            Err(EnrollmentError::MissingDeviceId)
        );
        let only_user = {
            let mut v = Enrollment::default();
            v.user_id = some("u");
            v.enrollment_user_id = some("x");
            v
        };
        assert_eq!(enroll_id(&only_user), Err(EnrollmentError::MissingDeviceId));
    }

    #[test]
    fn type_names_match_nanomdm_and_parse_back() {
        let names: Vec<_> = EnrollType::ALL.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            names,
            [
                "Device",
                "User",
                "User Enrollment (Device)",
                "User Enrollment",
                "Shared iPad"
            ]
        );
        for t in EnrollType::ALL {
            assert_eq!(t.as_str().parse::<EnrollType>(), Ok(t));
        }
        assert_eq!(
            "device".parse::<EnrollType>(),
            Err(UnknownEnrollType("device".into()))
        );
        assert!(
            !EnrollType::Device.is_user_channel()
                && !EnrollType::UserEnrollmentDevice.is_user_channel()
        );
        assert!(EnrollType::User.is_user_channel() && EnrollType::SharedIPad.is_user_channel());
    }

    #[test]
    fn a_parent_exactly_for_user_channels() {
        assert_eq!(
            EnrollId::device_channel(UDID, EnrollType::User),
            Err(ParentMismatch {
                kind: EnrollType::User
            })
        );
        assert!(EnrollId::new(UDID, EnrollType::Device, Some(UDID.into())).is_err());
        let user = EnrollId::new("u:1", EnrollType::User, Some(UDID.into())).unwrap();
        assert_eq!(user.device_channel_id().as_str(), UDID);
        assert_eq!(format!("{:?}", EnrollmentId::new("a\nb")), r#""a\nb""#);
    }
}

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
