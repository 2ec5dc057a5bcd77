//! Messages for storage tests and benchmarks: real property lists, decoded with `mdm-proto`, so
//! the raw bytes and the typed values always agree.

use bytes::Bytes;
use mdm_enrollment::{EnrollId, EnrollType, enroll_id};
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{
    Authenticate, CheckIn, Command, CommandReport, Enrollment, PushInfo, Raw, Status, TokenUpdate,
    UserAuthenticate,
};

use crate::CheckInStore;

/// The push topic every fixture uses.
pub const TOPIC: &str = "com.apple.mgmt.External.0b8d5d2c-4f1e-4c3a-9e7b-2f6a1d0c9b8e";

fn plist_xml(entries: &[(&str, Value)]) -> Bytes {
    let mut dict = Dictionary::new();
    for (k, v) in entries {
        dict.insert((*k).to_owned(), v.clone());
    }
    let mut xml = Vec::new();
    Value::Dictionary(dict)
        .to_writer_xml(&mut xml)
        .expect("writing a plist to memory");
    Bytes::from(xml)
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn decode_check_in(raw: Bytes) -> CheckIn {
    CheckIn::decode(raw)
        .expect("fixture decodes")
        .into_parts()
        .0
}

/// A device channel (`UDID`), and the check-ins it sends.
#[derive(Clone, Debug)]
pub struct Device {
    /// The device's `UDID`.
    pub udid: String,
    /// Its enrollment id.
    pub id: EnrollId,
}

impl Device {
    /// A device with this `UDID`.
    pub fn new(udid: &str) -> Self {
        let id = enroll_id(&Enrollment::device(udid)).expect("device id");
        Self {
            udid: udid.to_owned(),
            id,
        }
    }

    /// Its `Authenticate` (with a serial number derived from the UDID).
    pub fn authenticate(&self) -> (Authenticate, Bytes) {
        let raw = plist_xml(&[
            ("MessageType", s("Authenticate")),
            ("UDID", s(&self.udid)),
            ("Topic", s(TOPIC)),
            ("SerialNumber", s(&format!("SN{}", self.udid))),
        ]);
        match decode_check_in(raw.clone()) {
            CheckIn::Authenticate(m) => (m, raw),
            other => panic!("fixture is {}", other.message_type()),
        }
    }

    /// The push info its TokenUpdate carries.
    pub fn push(&self) -> PushInfo {
        push_info(&self.udid)
    }

    /// Its `TokenUpdate`, with an `UnlockToken`.
    pub fn token_update(&self) -> (TokenUpdate, Bytes) {
        let push = self.push();
        let raw = plist_xml(&[
            ("MessageType", s("TokenUpdate")),
            ("UDID", s(&self.udid)),
            ("Topic", s(&push.topic)),
            ("PushMagic", s(&push.push_magic)),
            ("Token", Value::Data(push.token)),
            ("UnlockToken", Value::Data(b"unlock".to_vec())),
        ]);
        match decode_check_in(raw.clone()) {
            CheckIn::TokenUpdate(m) => (m, raw),
            other => panic!("fixture is {}", other.message_type()),
        }
    }

    /// Stores its Authenticate (with a placeholder identity certificate); panics on error.
    pub async fn authenticate_with(&self, store: &(impl CheckInStore + ?Sized)) {
        let (msg, raw) = self.authenticate();
        store
            .store_authenticate(&self.id, &msg, &raw, Some(b"not really DER"))
            .await
            .expect("store_authenticate");
    }

    /// Stores its TokenUpdate; panics on error.
    pub async fn token_update_with(&self, store: &(impl CheckInStore + ?Sized)) {
        let (msg, raw) = self.token_update();
        store
            .store_token_update(&self.id, &msg, &raw)
            .await
            .expect("store_token_update");
    }

    /// Authenticate then TokenUpdate: a usable enrollment.
    pub async fn enroll(&self, store: &(impl CheckInStore + ?Sized)) {
        self.authenticate_with(store).await;
        self.token_update_with(store).await;
    }

    /// A user channel on this device (`UserID`, with short and long names derived from it).
    pub fn user(&self, user_id: &str) -> User {
        let enrollment = {
            let mut v = Enrollment::default();
            v.udid = Some(self.udid.clone());
            v.user_id = Some(user_id.to_owned());
            v.user_short_name = Some(format!("short-{user_id}"));
            v.user_long_name = Some(format!("Long {user_id}"));
            v
        };
        User {
            id: enroll_id(&enrollment).expect("user id"),
            enrollment,
        }
    }
}

/// A user channel on a [`Device`].
#[derive(Clone, Debug)]
pub struct User {
    /// Its enrollment keys.
    pub enrollment: Enrollment,
    /// Its enrollment id (`<UDID>:<UserID>`).
    pub id: EnrollId,
}

impl User {
    /// The push info its TokenUpdate carries.
    pub fn push(&self) -> PushInfo {
        push_info(self.id.id().as_str())
    }

    fn keys(&self) -> Vec<(&'static str, Value)> {
        let e = &self.enrollment;
        let key = |v: &Option<String>| s(v.as_deref().unwrap_or_default());
        vec![
            ("UDID", key(&e.udid)),
            ("UserID", key(&e.user_id)),
            ("UserShortName", key(&e.user_short_name)),
            ("UserLongName", key(&e.user_long_name)),
        ]
    }

    /// Its `TokenUpdate`.
    pub fn token_update(&self) -> (TokenUpdate, Bytes) {
        let push = self.push();
        let mut entries = self.keys();
        entries.extend([
            ("MessageType", s("TokenUpdate")),
            ("Topic", s(&push.topic)),
            ("PushMagic", s(&push.push_magic)),
            ("Token", Value::Data(push.token)),
        ]);
        let raw = plist_xml(&entries);
        match decode_check_in(raw.clone()) {
            CheckIn::TokenUpdate(m) => (m, raw),
            other => panic!("fixture is {}", other.message_type()),
        }
    }

    /// Its first `UserAuthenticate` (no digest response).
    pub fn user_authenticate(&self) -> (UserAuthenticate, Bytes) {
        let mut entries = self.keys();
        entries.push(("MessageType", s("UserAuthenticate")));
        let raw = plist_xml(&entries);
        match decode_check_in(raw.clone()) {
            CheckIn::UserAuthenticate(m) => (m, raw),
            other => panic!("fixture is {}", other.message_type()),
        }
    }

    /// Stores its TokenUpdate; panics on error.
    pub async fn token_update_with(&self, store: &(impl CheckInStore + ?Sized)) {
        let (msg, raw) = self.token_update();
        store
            .store_token_update(&self.id, &msg, &raw)
            .await
            .expect("user store_token_update");
    }
}

/// Push info derived from an enrollment id, so a mix-up between enrollments shows.
pub fn push_info(id: &str) -> PushInfo {
    let mut token = id.as_bytes().to_vec();
    token.resize(32, 0xA5);
    PushInfo::new(token, format!("magic-{id}"), TOPIC)
}

/// A `DeviceInformation` command, XML.
pub fn command(uuid: &str) -> Raw<Command> {
    let mut payload = Dictionary::new();
    payload.insert("Queries".into(), Value::Array(vec![s("UDID")]));
    Command::build(uuid, "DeviceInformation", payload)
}

/// A `ProfileList` command as a binary property list: a backend must keep bytes, not text.
pub fn binary_command(uuid: &str) -> Raw<Command> {
    let mut inner = Dictionary::new();
    inner.insert("RequestType".into(), s("ProfileList"));
    let mut outer = Dictionary::new();
    outer.insert("Command".into(), Value::Dictionary(inner));
    outer.insert("CommandUUID".into(), s(uuid));
    let mut bin = Vec::new();
    Value::Dictionary(outer)
        .to_writer_binary(&mut bin)
        .expect("writing a plist to memory");
    Command::decode(bin).expect("binary command decodes")
}

/// A command report from `id`: `Status`, and `CommandUUID` when given.
pub fn report(id: &EnrollId, uuid: Option<&str>, status: Status) -> (CommandReport, Bytes) {
    padded_report(id, uuid, status, 0)
}

/// [`report`] with a `Padding` string of `padding` bytes, for results of a given size.
pub fn padded_report(
    id: &EnrollId,
    uuid: Option<&str>,
    status: Status,
    padding: usize,
) -> (CommandReport, Bytes) {
    let mut entries = vec![("Status", s(status.as_str()))];
    let own = id.id().as_str();
    match (id.parent(), id.kind()) {
        (Some(parent), _) => {
            entries.push(("UDID", s(parent.as_str())));
            let user = own.strip_prefix(&format!("{parent}:")).unwrap_or(own);
            entries.push(("UserID", s(user)));
        }
        (None, EnrollType::UserEnrollmentDevice) => entries.push(("EnrollmentID", s(own))),
        (None, _) => entries.push(("UDID", s(own))),
    }
    if let Some(uuid) = uuid {
        entries.push(("CommandUUID", s(uuid)));
    }
    if padding > 0 {
        entries.push(("Padding", s(&"p".repeat(padding))));
    }
    let raw = plist_xml(&entries);
    let decoded = CommandReport::decode(raw.clone()).expect("report decodes");
    (decoded.into_parts().0, raw)
}
