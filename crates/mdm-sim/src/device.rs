//! What a simulated device is: its kind, identifiers, hardware facts, users and push credentials.

use mdm_enrollment::{EnrollId, SHARED_IPAD_USER_ID, enroll_id};
use mdm_proto::Enrollment;

/// The kinds of device, one per way of enrolling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A Mac enrolled with device enrollment: a UUID `UDID`, and a user channel for the user
    /// logged in at the console (`UserID` a GUID).
    MacOs,
    /// An iPhone enrolled with device enrollment: a 40-hex-digit `UDID`, device channel only,
    /// with an `UnlockToken`.
    Ios,
    /// An iPhone with a User Enrollment (personal device): no `UDID` or serial number, an
    /// `EnrollmentID` device channel and an `EnrollmentUserID` user channel.
    UserEnrollment,
    /// A Shared iPad: a `UDID` device channel, and a user channel for the signed-in Managed Apple
    /// Account (`UserID` `FFFFFFFF-…`, told apart by `UserShortName`).
    SharedIpad,
}

impl DeviceKind {
    /// Every kind.
    pub const ALL: [DeviceKind; 4] = [
        DeviceKind::MacOs,
        DeviceKind::Ios,
        DeviceKind::UserEnrollment,
        DeviceKind::SharedIpad,
    ];

    /// A short name for logs and command lines: `macos`, `ios`, `user-enrollment`, `shared-ipad`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::MacOs => "macos",
            DeviceKind::Ios => "ios",
            DeviceKind::UserEnrollment => "user-enrollment",
            DeviceKind::SharedIpad => "shared-ipad",
        }
    }

    /// Parses [`DeviceKind::as_str`]'s names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub(crate) fn is_mac(self) -> bool {
        self == DeviceKind::MacOs
    }
}

/// One of a device's two channels. Each has its own enrollment id, push token and command queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The device channel (`UDID` or `EnrollmentID`).
    Device,
    /// The user channel (`UserID`, `UserShortName` or `EnrollmentUserID` beside the device id).
    User,
}

impl Channel {
    pub(crate) fn index(self) -> usize {
        match self {
            Channel::Device => 0,
            Channel::User => 1,
        }
    }

    /// `device` or `user`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Device => "device",
            Channel::User => "user",
        }
    }
}

/// What APNs needs to wake a channel, as the device reports it in `TokenUpdate`.
#[derive(Clone, PartialEq, Eq)]
pub struct PushCredentials {
    /// `Token`: the APNs device token (32 bytes on real devices).
    pub token: Vec<u8>,
    /// `PushMagic`: the string the device expects in the push payload.
    pub push_magic: String,
}

impl std::fmt::Debug for PushCredentials {
    // The token and magic wake the device: keep them out of logs (docs/ARCHITECTURE.md §5).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushCredentials").finish_non_exhaustive()
    }
}

/// The user behind a user channel.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// `UserID`: the user's GUID on macOS, `FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF` on Shared iPad,
    /// absent on User Enrollment.
    pub user_id: Option<String>,
    /// `EnrollmentUserID`: the user channel id of a User Enrollment.
    pub enrollment_user_id: Option<String>,
    /// `UserShortName`: the short name on macOS, the Managed Apple Account on Shared iPad.
    pub user_short_name: Option<String>,
    /// `UserLongName`: the full name.
    pub user_long_name: Option<String>,
    /// The user channel's push credentials.
    pub push: PushCredentials,
}

/// A simulated Apple device: the facts it reports in check-ins and command results.
///
/// Generate one with [`Device::generate`] (deterministic for a seed) and change any field
/// afterwards; the fields are the protocol's keys. `Debug` leaves out the secrets (push
/// credentials, unlock token).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Device {
    /// How the device is enrolled.
    pub kind: DeviceKind,
    /// `UDID` (absent on User Enrollment).
    pub udid: Option<String>,
    /// `EnrollmentID` (User Enrollment only).
    pub enrollment_id: Option<String>,
    /// `SerialNumber` (absent on User Enrollment, which hides it from the server).
    pub serial_number: Option<String>,
    /// `ProductName`, which devices also send as `Model` in `Authenticate`: `Mac15,6`,
    /// `iPhone16,1`.
    pub product_name: String,
    /// `ModelName`: `MacBook Pro`, `iPhone`, `iPad Air`.
    pub model_name: String,
    /// The order number `DeviceInformation` reports as `Model`: `MRX33LL/A`.
    pub model_number: String,
    /// `OSVersion`: `15.1`.
    pub os_version: String,
    /// `BuildVersion`: `24B83`.
    pub build_version: String,
    /// `DeviceName`.
    pub device_name: String,
    /// `IMEI` (iPhones with device enrollment).
    pub imei: Option<String>,
    /// `MEID` (iPhones with device enrollment).
    pub meid: Option<String>,
    /// `WiFiMAC`.
    pub wifi_mac: String,
    /// `BluetoothMAC`.
    pub bluetooth_mac: String,
    /// The device channel's push credentials.
    pub push: PushCredentials,
    /// `UnlockToken`, sent in the device channel's `TokenUpdate` (iOS and iPadOS device
    /// enrollments). A secret.
    pub unlock_token: Option<Vec<u8>>,
    /// The user channel's user, if the device has one.
    pub user: Option<User>,
    /// Seeds the details generated on demand (the installed-application list), so they stay the
    /// same between answers.
    pub(crate) seed: u64,
}

/// Models and OS releases to pick from: (ProductName, ModelName, order number).
const MACS: &[(&str, &str, &str)] = &[
    ("Mac15,6", "MacBook Pro", "MRX33LL/A"),
    ("Mac15,3", "MacBook Pro", "MTL73LL/A"),
    ("Mac14,2", "MacBook Air", "MLY33LL/A"),
    ("Mac15,12", "MacBook Air", "MRXN3LL/A"),
    ("Mac16,10", "Mac mini", "MU9D3LL/A"),
    ("Mac14,13", "Mac Studio", "MQH73LL/A"),
];
const MAC_OS: &[(&str, &str)] = &[
    ("15.1", "24B83"),
    ("15.3.1", "24D70"),
    ("15.5", "24F74"),
    ("14.7.1", "23H222"),
];
const IPHONES: &[(&str, &str, &str)] = &[
    ("iPhone16,1", "iPhone", "MTLT3LL/A"),
    ("iPhone16,2", "iPhone", "MU663LL/A"),
    ("iPhone17,3", "iPhone", "MYE43LL/A"),
    ("iPhone15,4", "iPhone", "MTLX3LL/A"),
    ("iPhone14,5", "iPhone", "MLMP3LL/A"),
];
const IPADS: &[(&str, &str, &str)] = &[
    ("iPad13,16", "iPad Air", "MM9C3LL/A"),
    ("iPad14,1", "iPad mini", "MK7M3LL/A"),
    ("iPad12,1", "iPad", "MK2K3LL/A"),
    ("iPad13,18", "iPad", "MPQ03LL/A"),
];
const IOS: &[(&str, &str)] = &[
    ("18.1", "22B83"),
    ("18.3.2", "22D82"),
    ("18.5", "22F76"),
    ("17.7.2", "21H221"),
];
const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Dennis",
    "Margaret",
    "Ken",
    "Radia",
    "Linus",
    "Hedy",
    "John",
    "Sophie",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "Ritchie",
    "Hamilton", "Thompson", "Perlman", "Torvalds", "Lamarr", "Backus", "Wilson",
];

impl Device {
    /// Generates a device of `kind` with realistic keys: model, OS version, serial number, push
    /// token and magic, unlock token, and a user for the kinds that have a user channel. The same
    /// seed gives the same device; different seeds give different identifiers.
    pub fn generate(kind: DeviceKind, seed: u64) -> Device {
        let mut rng = fastrand::Rng::with_seed(seed);
        let rng = &mut rng;
        let first = pick(rng, FIRST_NAMES);
        let last = pick(rng, LAST_NAMES);
        let (models, releases) = match kind {
            DeviceKind::MacOs => (MACS, MAC_OS),
            DeviceKind::Ios | DeviceKind::UserEnrollment => (IPHONES, IOS),
            DeviceKind::SharedIpad => (IPADS, IOS),
        };
        let &(product_name, model_name, model_number) = pick(rng, models);
        let &(os_version, build_version) = pick(rng, releases);
        let push = push_credentials(rng);

        let (udid, enrollment_id) = match kind {
            // Macs name themselves by a hardware UUID.
            DeviceKind::MacOs => (Some(uuid(rng)), None),
            // Apple documents the 40-hex-digit form; devices send it lowercase.
            DeviceKind::Ios | DeviceKind::SharedIpad => (Some(hex_id(rng).to_lowercase()), None),
            DeviceKind::UserEnrollment => (None, Some(hex_id(rng))),
        };
        let serial_number = (kind != DeviceKind::UserEnrollment).then(|| serial(rng));
        // Cellular identifiers only for iPhones whose organisation may see them.
        let (imei, meid) = if kind == DeviceKind::Ios {
            let digits =
                |rng: &mut fastrand::Rng, n| -> String { (0..n).map(|_| rng.digit(10)).collect() };
            let tac = digits(rng, 8);
            let rest = digits(rng, 6);
            let check = digits(rng, 1);
            (
                Some(format!("{} {} {rest} {check}", &tac[..2], &tac[2..])),
                Some(format!("{tac}{rest}")),
            )
        } else {
            (None, None)
        };
        let device_name = match kind {
            DeviceKind::MacOs => format!("{first}’s {model_name}"),
            DeviceKind::Ios | DeviceKind::UserEnrollment => "iPhone".to_owned(),
            DeviceKind::SharedIpad => format!("Lab iPad {}", rng.u32(1..100)),
        };
        let unlock_token = matches!(kind, DeviceKind::Ios | DeviceKind::SharedIpad).then(|| {
            // Real unlock tokens are opaque keybags of about this size.
            let mut token = vec![0; 1184];
            rng.fill(&mut token);
            token
        });
        let long_name = format!("{first} {last}");
        let user = match kind {
            DeviceKind::Ios => None,
            DeviceKind::MacOs => Some(User {
                user_id: Some(uuid(rng)),
                enrollment_user_id: None,
                user_short_name: Some(first.to_lowercase()),
                user_long_name: Some(long_name),
                push: push_credentials(rng),
            }),
            DeviceKind::SharedIpad => Some(User {
                user_id: Some(SHARED_IPAD_USER_ID.to_owned()),
                enrollment_user_id: None,
                user_short_name: Some(format!(
                    "{}.{}{}@school.example",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    rng.u32(1..1000)
                )),
                user_long_name: Some(long_name),
                push: push_credentials(rng),
            }),
            DeviceKind::UserEnrollment => Some(User {
                user_id: None,
                enrollment_user_id: Some(hex_id(rng)),
                user_short_name: None,
                user_long_name: Some(long_name),
                push: push_credentials(rng),
            }),
        };
        Device {
            kind,
            udid,
            enrollment_id,
            serial_number,
            product_name: product_name.to_owned(),
            model_name: model_name.to_owned(),
            model_number: model_number.to_owned(),
            os_version: os_version.to_owned(),
            build_version: build_version.to_owned(),
            device_name,
            imei,
            meid,
            wifi_mac: mac_address(rng),
            bluetooth_mac: mac_address(rng),
            push,
            unlock_token,
            user,
            seed,
        }
    }

    /// Generates a device of `kind` from a random seed.
    pub fn random(kind: DeviceKind) -> Device {
        Device::generate(kind, fastrand::u64(..))
    }

    /// Whether the device has a user channel.
    pub fn has_user_channel(&self) -> bool {
        self.user.is_some()
    }

    /// The device's channels: the device channel, then the user channel if there is one.
    pub fn channels(&self) -> impl Iterator<Item = Channel> + use<> {
        let user = self.has_user_channel().then_some(Channel::User);
        std::iter::once(Channel::Device).chain(user)
    }

    /// The enrollment keys a message on `channel` carries, or `None` if the device has no such
    /// channel.
    pub fn enrollment(&self, channel: Channel) -> Option<Enrollment> {
        let mut keys = {
            let mut v = Enrollment::default();
            v.udid = self.udid.clone();
            v.enrollment_id = self.enrollment_id.clone();
            v
        };
        if channel == Channel::User {
            let user = self.user.as_ref()?;
            keys.user_id = user.user_id.clone();
            keys.enrollment_user_id = user.enrollment_user_id.clone();
            keys.user_short_name = user.user_short_name.clone();
            keys.user_long_name = user.user_long_name.clone();
        }
        Some(keys)
    }

    /// The enrollment id a server files `channel` under (docs/ARCHITECTURE.md §1), or `None` if the device has
    /// no such channel.
    pub fn enroll_id(&self, channel: Channel) -> Option<EnrollId> {
        // A generated device always has a device id; one edited to have none has no enrollment id.
        enroll_id(&self.enrollment(channel)?).ok()
    }

    /// The push credentials of `channel`.
    pub fn push(&self, channel: Channel) -> Option<&PushCredentials> {
        match channel {
            Channel::Device => Some(&self.push),
            Channel::User => self.user.as_ref().map(|u| &u.push),
        }
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("kind", &self.kind)
            .field("udid", &self.udid)
            .field("enrollment_id", &self.enrollment_id)
            .field("serial_number", &self.serial_number)
            .field("product_name", &self.product_name)
            .field("os_version", &self.os_version)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

/// An uppercase random (version 4) UUID, the form Apple uses for UDIDs, GUIDs and push magic.
pub(crate) fn uuid(rng: &mut fastrand::Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// 40 uppercase hex digits (20 random bytes), the form of `EnrollmentID` and old-style UDIDs.
fn hex_id(rng: &mut fastrand::Rng) -> String {
    let mut b = [0u8; 20];
    rng.fill(&mut b);
    hex::encode_upper(b)
}

/// A 10-character serial number in the randomized style Apple has used since 2021 (no vowels
/// that could spell words; digits and consonants).
fn serial(rng: &mut fastrand::Rng) -> String {
    const ALPHABET: &[u8] = b"0123456789BCDFGHJKLMNPQRSTVWXYZ";
    (0..10).map(|_| char::from(*pick(rng, ALPHABET))).collect()
}

fn mac_address(rng: &mut fastrand::Rng) -> String {
    let mut b = [0u8; 6];
    rng.fill(&mut b);
    // Locally administered unicast, so it never collides with a real vendor prefix.
    b[0] = (b[0] & 0xfc) | 0x02;
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn push_credentials(rng: &mut fastrand::Rng) -> PushCredentials {
    let mut token = vec![0; 32];
    rng.fill(&mut token);
    PushCredentials {
        token,
        push_magic: uuid(rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdm_enrollment::EnrollType;

    #[test]
    fn each_kind_resolves_to_the_enrollment_ids_of_design_section_1() {
        for seed in 0..20 {
            let mac = Device::generate(DeviceKind::MacOs, seed);
            let udid = mac.udid.clone().unwrap();
            let user_id = mac.user.as_ref().unwrap().user_id.clone().unwrap();
            let device = mac.enroll_id(Channel::Device).unwrap();
            assert_eq!(
                (device.id().as_str(), device.kind()),
                (udid.as_str(), EnrollType::Device)
            );
            assert_eq!(device.parent(), None);
            let user = mac.enroll_id(Channel::User).unwrap();
            assert_eq!(user.id().as_str(), format!("{udid}:{user_id}"));
            assert_eq!(user.kind(), EnrollType::User);
            assert_eq!(user.parent().map(|p| p.as_str()), Some(udid.as_str()));

            let ios = Device::generate(DeviceKind::Ios, seed);
            let id = ios.enroll_id(Channel::Device).unwrap();
            assert_eq!(
                (id.id().as_str(), id.kind()),
                (ios.udid.as_deref().unwrap(), EnrollType::Device)
            );
            assert_eq!(ios.enroll_id(Channel::User), None);

            let ue = Device::generate(DeviceKind::UserEnrollment, seed);
            let eid = ue.enrollment_id.clone().unwrap();
            let euid = ue
                .user
                .as_ref()
                .unwrap()
                .enrollment_user_id
                .clone()
                .unwrap();
            let id = ue.enroll_id(Channel::Device).unwrap();
            assert_eq!(
                (id.id().as_str(), id.kind()),
                (eid.as_str(), EnrollType::UserEnrollmentDevice)
            );
            let id = ue.enroll_id(Channel::User).unwrap();
            assert_eq!(id.id().as_str(), format!("{eid}:{euid}"));
            assert_eq!(id.kind(), EnrollType::UserEnrollment);
            assert_eq!(id.parent().map(|p| p.as_str()), Some(eid.as_str()));

            let ipad = Device::generate(DeviceKind::SharedIpad, seed);
            let udid = ipad.udid.clone().unwrap();
            let user = ipad.user.as_ref().unwrap();
            assert_eq!(user.user_id.as_deref(), Some(SHARED_IPAD_USER_ID));
            let short = user.user_short_name.clone().unwrap();
            let id = ipad.enroll_id(Channel::User).unwrap();
            assert_eq!(id.id().as_str(), format!("{udid}:{short}"));
            assert_eq!(id.kind(), EnrollType::SharedIPad);
            assert_eq!(
                ipad.enroll_id(Channel::Device).unwrap().kind(),
                EnrollType::Device
            );
        }
    }

    #[test]
    fn identifiers_have_the_shapes_devices_send() {
        let mac = Device::generate(DeviceKind::MacOs, 7);
        let udid = mac.udid.unwrap();
        assert_eq!(udid.len(), 36);
        assert_eq!(udid, udid.to_uppercase());
        assert_eq!(udid.matches('-').count(), 4);
        assert_eq!(mac.unlock_token, None);

        let ios = Device::generate(DeviceKind::Ios, 7);
        let udid = ios.udid.unwrap();
        assert_eq!(udid.len(), 40);
        assert!(
            udid.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(ios.push.token.len(), 32);
        assert!(ios.unlock_token.is_some() && ios.imei.is_some());
        assert_eq!(ios.serial_number.as_ref().unwrap().len(), 10);

        let ue = Device::generate(DeviceKind::UserEnrollment, 7);
        assert_eq!(ue.udid, None);
        assert_eq!(ue.serial_number, None);
        assert_eq!(ue.unlock_token, None);
        assert_eq!(ue.enrollment_id.unwrap().len(), 40);
    }

    #[test]
    fn generation_is_deterministic_per_seed_and_differs_across_seeds() {
        for kind in DeviceKind::ALL {
            assert_eq!(Device::generate(kind, 42), Device::generate(kind, 42));
            let a = Device::generate(kind, 1);
            let b = Device::generate(kind, 2);
            assert_ne!(a.enroll_id(Channel::Device), b.enroll_id(Channel::Device));
            assert_ne!(a.push.token, b.push.token);
            assert_ne!(a.push.push_magic, b.push.push_magic);
        }
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in DeviceKind::ALL {
            assert_eq!(DeviceKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(DeviceKind::from_name("android"), None);
    }

    #[test]
    fn debug_output_hides_push_secrets() {
        let d = Device::generate(DeviceKind::Ios, 3);
        let text = format!("{:?}", d.push);
        assert!(!text.contains(&d.push.push_magic));
    }
}
