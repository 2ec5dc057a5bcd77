//! What a device answers to a command it runs: the result keys of every `RequestType` of Apple's
//! schema (device-management `mdm/commands/*.yaml`) — from the device for the common ones, the
//! schema's examples for the rest — and the side effects a later command can observe (an
//! installed profile shows up in `ProfileList`).

use mdm_commands::AnyResponse;
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{Command, DecodeLimits, ErrorChainEntry, Raw};
use mdm_signature::IdentityCertificate;

use crate::device::{Device, DeviceKind};
use crate::message::Report;

/// A profile the simulated device has installed, as `ProfileList` reports it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InstalledProfile {
    identifier: String,
    uuid: String,
    display_name: Option<String>,
    organization: Option<String>,
    payload_types: Vec<(String, String)>,
}

/// What the device has done that later answers reflect, per channel.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChannelRecord {
    /// Profiles installed with `InstallProfile` (the enrollment profile is listed separately).
    pub(crate) profiles: Vec<InstalledProfile>,
}

/// Everything an answer may draw on.
pub(crate) struct Context<'a> {
    pub(crate) device: &'a Device,
    pub(crate) topic: &'a str,
    /// The device identity certificate, listed by `CertificateList`.
    pub(crate) identity: Option<&'a IdentityCertificate>,
    pub(crate) record: &'a mut ChannelRecord,
}

/// How a device answers `command` when it runs it: `Acknowledged` with the result keys of the
/// `RequestType`, or `Error` for a `RequestType` it does not know.
///
/// The commands whose answers tests look into (device facts, installed profiles and apps,
/// the identity certificate) are answered from the device; every other command of Apple's
/// schema with the schema's own example result keys (`mdm-commands`' `AnyResponse::example`,
/// generated with the typed commands), so that each is answered with a report that decodes to
/// its typed response.
pub(crate) fn run(ctx: &mut Context<'_>, command: &Raw<Command>) -> Report {
    let uuid = command.command_uuid.clone();
    // The envelope decoded already, so the payload parses too; an empty payload is the fallback
    // rather than a panic if it somehow does not.
    let payload = command.payload().unwrap_or_default();
    let mut results = Dictionary::new();
    let d = ctx.device;
    match command.request_type.as_str() {
        "DeviceInformation" => {
            results.insert(
                "QueryResponses".into(),
                Value::Dictionary(device_information(d, &payload)),
            );
        }
        "ProfileList" => {
            let mut list = vec![enrollment_profile(d, ctx.topic)];
            list.extend(ctx.record.profiles.iter().map(profile_item));
            results.insert("ProfileList".into(), Value::Array(list));
        }
        "InstalledApplicationList" => {
            results.insert(
                "InstalledApplicationList".into(),
                Value::Array(installed_applications(d, &payload)),
            );
        }
        "SecurityInfo" => {
            results.insert("SecurityInfo".into(), Value::Dictionary(security_info(d)));
        }
        "CertificateList" => {
            let mut list = Vec::new();
            if let Some(cert) = ctx.identity {
                let mut item = Dictionary::new();
                item.insert("CommonName".into(), string(&common_name(cert)));
                item.insert("Data".into(), Value::Data(cert.der().to_vec()));
                item.insert("IsIdentity".into(), Value::Boolean(true));
                list.push(Value::Dictionary(item));
            }
            results.insert("CertificateList".into(), Value::Array(list));
        }
        "UserList" if d.kind.is_mac() => {
            results.insert("Users".into(), Value::Array(user_list(d)));
        }
        "RestrictionsList" => {
            results.insert(
                "GlobalRestrictions".into(),
                Value::Dictionary(Dictionary::new()),
            );
        }
        "InstallProfile" => {
            if let Some(profile) = payload
                .get("Payload")
                .and_then(Value::as_data)
                .and_then(parse_profile)
            {
                let records = &mut ctx.record.profiles;
                records.retain(|p| p.identifier != profile.identifier);
                records.push(profile);
            }
        }
        "RemoveProfile" => {
            if let Some(id) = payload.get("Identifier").and_then(Value::as_string) {
                ctx.record.profiles.retain(|p| p.identifier != id);
            }
        }
        other => match AnyResponse::example(other) {
            Some(keys) => results = keys,
            // mdmclient's answer to a RequestType it does not implement.
            None => {
                return Report::error(
                    uuid,
                    vec![
                        ErrorChainEntry::new(12021, "MCMDMErrorDomain")
                            .description(format!("Unknown command “{other}”.")),
                    ],
                );
            }
        },
    }
    Report::acknowledged(uuid, results)
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// The queries answered when a `DeviceInformation` command names none.
const DEFAULT_QUERIES: &[&str] = &[
    "UDID",
    "DeviceName",
    "OSVersion",
    "BuildVersion",
    "ModelName",
    "Model",
    "ProductName",
    "SerialNumber",
    "DeviceCapacity",
    "AvailableDeviceCapacity",
    "IsSupervised",
    "WiFiMAC",
    "BluetoothMAC",
];

/// `QueryResponses` for the `Queries` in `payload`. Queries the device does not know, or that
/// its enrollment does not reveal (User Enrollment hides `UDID`, `SerialNumber` …), are left out,
/// as devices do.
fn device_information(d: &Device, payload: &Dictionary) -> Dictionary {
    let queries: Vec<&str> = match payload.get("Queries").and_then(Value::as_array) {
        Some(list) => list.iter().filter_map(Value::as_string).collect(),
        None => DEFAULT_QUERIES.to_vec(),
    };
    let mut rng = fastrand::Rng::with_seed(d.seed ^ 0x0DE7_1CE1);
    let mac = d.kind.is_mac();
    let user_enrollment = d.kind == DeviceKind::UserEnrollment;
    let capacity: f64 = if mac { 494.38 } else { 119.09 };
    let available = (capacity * rng.f64() * 0.8 * 100.0).round() / 100.0;
    let battery = ((0.2 + rng.f64() * 0.8) * 100.0).round() / 100.0;
    let has_battery = !(mac && d.model_name != "MacBook Pro" && d.model_name != "MacBook Air");
    let model_number = d
        .model_number
        .split(['L', '/'])
        .next()
        .unwrap_or(&d.model_number);
    let mut out = Dictionary::new();
    for query in queries {
        let opt_string = |v: &Option<String>| v.as_deref().map(string);
        let value = match query {
            "UDID" => opt_string(&d.udid),
            "DeviceName" => Some(string(&d.device_name)),
            "OSVersion" => Some(string(&d.os_version)),
            "BuildVersion" => Some(string(&d.build_version)),
            "ModelName" => Some(string(&d.model_name)),
            "Model" => Some(string(&d.model_number)),
            "ModelNumber" => Some(string(model_number)),
            "ProductName" => Some(string(&d.product_name)),
            "SerialNumber" => opt_string(&d.serial_number),
            "IMEI" => opt_string(&d.imei),
            "MEID" => opt_string(&d.meid),
            "DeviceCapacity" => Some(Value::Real(capacity)),
            "AvailableDeviceCapacity" => Some(Value::Real(available)),
            "BatteryLevel" if has_battery => Some(Value::Real(battery)),
            "HasBattery" if mac => Some(Value::Boolean(has_battery)),
            "IsSupervised" if !user_enrollment => Some(Value::Boolean(!mac)),
            "IsMultiUser" if !mac => Some(Value::Boolean(d.kind == DeviceKind::SharedIpad)),
            "IsAppleSilicon" if mac => Some(Value::Boolean(true)),
            "IsActivationLockEnabled" if !user_enrollment => Some(Value::Boolean(false)),
            "IsDeviceLocatorServiceEnabled" if !user_enrollment => Some(Value::Boolean(true)),
            "IsCloudBackupEnabled" if !mac && !user_enrollment => Some(Value::Boolean(true)),
            "IsMDMLostModeEnabled" if !mac && !user_enrollment => Some(Value::Boolean(false)),
            "AwaitingConfiguration" if !user_enrollment => Some(Value::Boolean(false)),
            "SystemIntegrityProtectionEnabled" if mac => Some(Value::Boolean(true)),
            "WiFiMAC" if !user_enrollment => Some(string(&d.wifi_mac)),
            "BluetoothMAC" if !user_enrollment => Some(string(&d.bluetooth_mac)),
            "LocalHostName" | "HostName" if mac => {
                let host: String = d
                    .device_name
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                Some(string(&if query == "HostName" {
                    format!("{host}.local")
                } else {
                    host
                }))
            }
            "TimeZone" => Some(string("America/Los_Angeles")),
            "OSUpdateSettings" if !user_enrollment => {
                let mut s = Dictionary::new();
                s.insert("AutoCheckEnabled".into(), Value::Boolean(true));
                s.insert("BackgroundDownloadEnabled".into(), Value::Boolean(true));
                s.insert("CatalogURL".into(), string("https://swscan.apple.com/"));
                s.insert("IsDefaultCatalog".into(), Value::Boolean(true));
                s.insert("PerformPeriodicCheck".into(), Value::Boolean(true));
                Some(Value::Dictionary(s))
            }
            "ServiceSubscriptions" if d.imei.is_some() => {
                let mut s = Dictionary::new();
                s.insert("CarrierSettingsVersion".into(), string("57.0"));
                s.insert("IsDataPreferred".into(), Value::Boolean(true));
                s.insert("IsVoicePreferred".into(), Value::Boolean(true));
                s.insert("Label".into(), string("Primary"));
                s.insert("Slot".into(), string("CTSubscriptionSlotOne"));
                if let Some(imei) = &d.imei {
                    s.insert("IMEI".into(), string(imei));
                }
                Some(Value::Array(vec![Value::Dictionary(s)]))
            }
            _ => None,
        };
        if let Some(value) = value {
            out.insert(query.to_owned(), value);
        }
    }
    out
}

/// The enrollment profile itself, which every `ProfileList` includes.
fn enrollment_profile(d: &Device, topic: &str) -> Value {
    let mut rng = fastrand::Rng::with_seed(d.seed ^ 0x9A0F_11E5);
    let mdm = payload_content(
        "com.apple.mdm",
        &format!("{topic}.mdm"),
        &crate::device::uuid(&mut rng),
        "MDM",
    );
    let identity_type = if d.kind == DeviceKind::UserEnrollment {
        "com.apple.security.acme"
    } else {
        "com.apple.security.scep"
    };
    let identity = payload_content(
        identity_type,
        &format!("{topic}.identity"),
        &crate::device::uuid(&mut rng),
        "Device Identity",
    );
    let mut p = Dictionary::new();
    p.insert("PayloadContent".into(), Value::Array(vec![identity, mdm]));
    p.insert("PayloadDisplayName".into(), string("MDM Enrollment"));
    p.insert(
        "PayloadIdentifier".into(),
        string(&format!("{topic}.enroll")),
    );
    p.insert("PayloadOrganization".into(), string("Rootstock"));
    p.insert("PayloadRemovalDisallowed".into(), Value::Boolean(false));
    p.insert("PayloadUUID".into(), string(&crate::device::uuid(&mut rng)));
    p.insert("PayloadVersion".into(), Value::Integer(1.into()));
    p.insert("HasRemovalPasscode".into(), Value::Boolean(false));
    p.insert("IsEncrypted".into(), Value::Boolean(false));
    p.insert("IsManaged".into(), Value::Boolean(true));
    Value::Dictionary(p)
}

fn payload_content(payload_type: &str, identifier: &str, uuid: &str, name: &str) -> Value {
    let mut c = Dictionary::new();
    c.insert("PayloadDisplayName".into(), string(name));
    c.insert("PayloadIdentifier".into(), string(identifier));
    c.insert("PayloadType".into(), string(payload_type));
    c.insert("PayloadUUID".into(), string(uuid));
    c.insert("PayloadVersion".into(), Value::Integer(1.into()));
    Value::Dictionary(c)
}

fn profile_item(p: &InstalledProfile) -> Value {
    let mut d = Dictionary::new();
    let content = p
        .payload_types
        .iter()
        .map(|(payload_type, identifier)| {
            payload_content(payload_type, identifier, &p.uuid, payload_type)
        })
        .collect();
    d.insert("PayloadContent".into(), Value::Array(content));
    if let Some(name) = &p.display_name {
        d.insert("PayloadDisplayName".into(), string(name));
    }
    d.insert("PayloadIdentifier".into(), string(&p.identifier));
    if let Some(org) = &p.organization {
        d.insert("PayloadOrganization".into(), string(org));
    }
    d.insert("PayloadRemovalDisallowed".into(), Value::Boolean(false));
    d.insert("PayloadUUID".into(), string(&p.uuid));
    d.insert("PayloadVersion".into(), Value::Integer(1.into()));
    d.insert("HasRemovalPasscode".into(), Value::Boolean(false));
    d.insert("IsEncrypted".into(), Value::Boolean(false));
    d.insert("IsManaged".into(), Value::Boolean(true));
    Value::Dictionary(d)
}

/// Reads the identity of a configuration profile sent with `InstallProfile`: a plain XML
/// property list, or one inside a CMS signature (where the XML appears verbatim). Anything else
/// (encrypted profiles, binary lists) is installed without being listed.
fn parse_profile(data: &[u8]) -> Option<InstalledProfile> {
    // The server is not trusted to send small, shallow property lists: the bounded decoder
    // refuses what is too large or too deep.
    let limits = DecodeLimits::default()
        .max_body_bytes(1 << 20)
        .max_depth(32);
    let start = find(data, b"<?xml").or_else(|| find(data, b"<plist"))?;
    let end = find(data.get(start..)?, b"</plist>")? + start + b"</plist>".len();
    let dict = mdm_proto::decode_dictionary(data.get(start..end)?, &limits).ok()?;
    let get = |key: &str| dict.get(key).and_then(Value::as_string).map(str::to_owned);
    let payload_types = dict
        .get("PayloadContent")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_dictionary)
                .filter_map(|c| {
                    let t = c.get("PayloadType")?.as_string()?;
                    let id = c.get("PayloadIdentifier")?.as_string()?;
                    Some((t.to_owned(), id.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(InstalledProfile {
        identifier: get("PayloadIdentifier")?,
        uuid: get("PayloadUUID")?,
        display_name: get("PayloadDisplayName"),
        organization: get("PayloadOrganization"),
        payload_types,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Apps a device of this kind typically has: (bundle id, name). A device lists a seeded
/// selection of these and of generic third-party apps, 60 to 140 in all, as real phones and
/// Macs do.
const KNOWN_APPS: &[(&str, &str)] = &[
    ("com.google.chrome.ios", "Chrome"),
    ("com.microsoft.Office.Outlook", "Microsoft Outlook"),
    ("com.microsoft.skype.teams", "Microsoft Teams"),
    ("com.microsoft.Office.Word", "Microsoft Word"),
    ("com.microsoft.Office.Excel", "Microsoft Excel"),
    ("com.microsoft.Office.Powerpoint", "Microsoft PowerPoint"),
    ("com.microsoft.azureauthenticator", "Authenticator"),
    ("com.tinyspeck.chatlyio", "Slack"),
    ("us.zoom.videomeetings", "Zoom Workplace"),
    ("com.google.Gmail", "Gmail"),
    ("com.google.Drive", "Google Drive"),
    ("com.google.Maps", "Google Maps"),
    ("com.google.calendar", "Google Calendar"),
    ("com.getdropbox.Dropbox", "Dropbox"),
    ("com.box.BoxNet", "Box"),
    ("com.spotify.client", "Spotify"),
    ("net.whatsapp.WhatsApp", "WhatsApp"),
    ("com.burbn.instagram", "Instagram"),
    ("com.linkedin.LinkedIn", "LinkedIn"),
    ("com.netflix.Netflix", "Netflix"),
    ("com.apple.Pages", "Pages"),
    ("com.apple.Numbers", "Numbers"),
    ("com.apple.Keynote", "Keynote"),
    ("com.apple.iMovie", "iMovie"),
    ("com.apple.TestFlight", "TestFlight"),
    ("com.1password.1password", "1Password"),
    ("com.okta.mobile", "Okta Verify"),
    ("com.duosecurity.DuoMobile", "Duo Mobile"),
    ("com.salesforce.chatter", "Salesforce"),
    ("com.evernote.iPhone.Evernote", "Evernote"),
    ("com.atlassian.jira.app", "Jira Cloud"),
    ("notion.id", "Notion"),
    ("com.webex.meeting", "Webex Meetings"),
    ("com.ubercab.UberClient", "Uber"),
    ("com.airbnb.app", "Airbnb"),
];
const VENDORS: &[&str] = &[
    "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne", "tyrell",
    "soylent",
];
const WORDS: &[&str] = &[
    "Notes",
    "Scanner",
    "Weather",
    "Tasks",
    "Budget",
    "Fitness",
    "Reader",
    "Photos",
    "Timer",
    "Chat",
    "Maps",
    "Wallet",
    "Recipes",
    "Music",
    "Translate",
    "Habits",
];

fn installed_applications(d: &Device, payload: &Dictionary) -> Vec<Value> {
    // Only apps installed by this MDM server are managed, and the simulator tracks none.
    if payload.get("ManagedAppsOnly").and_then(Value::as_boolean) == Some(true) {
        return Vec::new();
    }
    let filter: Option<Vec<&str>> = payload
        .get("Identifiers")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_string).collect());
    let mut rng = fastrand::Rng::with_seed(d.seed ^ 0xA995_u64);
    let total = rng.usize(60..=140);
    let known = rng.usize(KNOWN_APPS.len() / 2..=KNOWN_APPS.len());
    let mut apps: Vec<(String, String)> = rng
        .choose_multiple(KNOWN_APPS.iter(), known)
        .into_iter()
        .map(|&(id, name)| (id.to_owned(), name.to_owned()))
        .collect();
    let mut n = 0;
    while apps.len() < total {
        let vendor = VENDORS[rng.usize(..VENDORS.len())];
        let word = WORDS[rng.usize(..WORDS.len())];
        n += 1;
        apps.push((
            format!("com.{vendor}.{}{n}", word.to_lowercase()),
            format!("{word} {n}"),
        ));
    }
    apps.into_iter()
        .filter(|(id, _)| filter.as_ref().is_none_or(|f| f.contains(&id.as_str())))
        .map(|(id, name)| {
            let (major, minor, patch) = (rng.u32(1..30), rng.u32(0..20), rng.u32(0..10));
            let apple = id.starts_with("com.apple.");
            let mut a = Dictionary::new();
            a.insert("AdHocCodeSigned".into(), Value::Boolean(false));
            a.insert("AppStoreVendable".into(), Value::Boolean(true));
            a.insert("BetaApp".into(), Value::Boolean(false));
            a.insert(
                "BundleSize".into(),
                Value::Integer(rng.u64(8_000_000..600_000_000).into()),
            );
            a.insert("DeviceBasedVPP".into(), Value::Boolean(false));
            a.insert("DownloadCancelled".into(), Value::Boolean(false));
            a.insert("DownloadFailed".into(), Value::Boolean(false));
            a.insert("DownloadPaused".into(), Value::Boolean(false));
            a.insert("DownloadWaiting".into(), Value::Boolean(false));
            a.insert(
                "DynamicSize".into(),
                Value::Integer(rng.u64(100_000..900_000_000).into()),
            );
            a.insert(
                "ExternalVersionIdentifier".into(),
                Value::Integer(rng.u64(800_000_000..880_000_000).into()),
            );
            a.insert(
                "HasUpdateAvailable".into(),
                Value::Boolean(rng.u8(..10) == 0),
            );
            a.insert("Identifier".into(), string(&id));
            a.insert("Installing".into(), Value::Boolean(false));
            a.insert("IsAppClip".into(), Value::Boolean(false));
            a.insert("IsValidated".into(), Value::Boolean(!apple));
            a.insert("Name".into(), string(&name));
            a.insert(
                "ShortVersion".into(),
                string(&format!("{major}.{minor}.{patch}")),
            );
            a.insert(
                "Version".into(),
                string(&format!("{}", rng.u32(100..99_999))),
            );
            Value::Dictionary(a)
        })
        .collect()
}

fn security_info(d: &Device) -> Dictionary {
    let mut s = Dictionary::new();
    let mut status = Dictionary::new();
    status.insert(
        "EnrolledViaDEP".into(),
        Value::Boolean(d.kind != DeviceKind::UserEnrollment),
    );
    status.insert(
        "IsUserEnrollment".into(),
        Value::Boolean(d.kind == DeviceKind::UserEnrollment),
    );
    status.insert("UserApprovedEnrollment".into(), Value::Boolean(true));
    s.insert("ManagementStatus".into(), Value::Dictionary(status));
    if d.kind.is_mac() {
        s.insert("FDE_Enabled".into(), Value::Boolean(true));
        s.insert(
            "FDE_HasInstitutionalRecoveryKey".into(),
            Value::Boolean(false),
        );
        s.insert("FDE_HasPersonalRecoveryKey".into(), Value::Boolean(true));
        s.insert(
            "SystemIntegrityProtectionEnabled".into(),
            Value::Boolean(true),
        );
        s.insert(
            "AuthenticatedRootVolumeEnabled".into(),
            Value::Boolean(true),
        );
        s.insert(
            "BootstrapTokenAllowedForAuthentication".into(),
            string("allowed"),
        );
        s.insert("IsRecoveryLockEnabled".into(), Value::Boolean(false));
        s.insert("RemoteDesktopEnabled".into(), Value::Boolean(false));
        let mut firewall = Dictionary::new();
        firewall.insert("FirewallEnabled".into(), Value::Boolean(true));
        firewall.insert("BlockAllIncoming".into(), Value::Boolean(false));
        firewall.insert("StealthMode".into(), Value::Boolean(false));
        s.insert("FirewallSettings".into(), Value::Dictionary(firewall));
        let mut boot = Dictionary::new();
        boot.insert("SecureBootLevel".into(), string("full"));
        boot.insert("ExternalBootLevel".into(), string("disallowed"));
        s.insert("SecureBoot".into(), Value::Dictionary(boot));
    } else {
        // Data protection and file-level encryption: `HardwareEncryptionCaps` 3.
        s.insert("HardwareEncryptionCaps".into(), Value::Integer(3.into()));
        s.insert("PasscodePresent".into(), Value::Boolean(true));
        s.insert("PasscodeCompliant".into(), Value::Boolean(true));
        s.insert("PasscodeCompliantWithProfiles".into(), Value::Boolean(true));
        s.insert(
            "PasscodeLockGracePeriodEnforced".into(),
            Value::Integer(0.into()),
        );
    }
    s
}

fn user_list(d: &Device) -> Vec<Value> {
    let Some(user) = &d.user else {
        return Vec::new();
    };
    let mut u = Dictionary::new();
    if let Some(name) = &user.user_short_name {
        u.insert("UserName".into(), string(name));
    }
    if let Some(name) = &user.user_long_name {
        u.insert("FullName".into(), string(name));
    }
    if let Some(guid) = &user.user_id {
        u.insert("UserGUID".into(), string(guid));
    }
    u.insert("UID".into(), Value::Integer(501.into()));
    u.insert("IsLoggedIn".into(), Value::Boolean(true));
    u.insert("HasSecureToken".into(), Value::Boolean(true));
    u.insert("MobileAccount".into(), Value::Boolean(false));
    u.insert("HasDataToSync".into(), Value::Boolean(false));
    vec![Value::Dictionary(u)]
}

/// The subject's common name, as `CertificateList` shows it; the whole subject without one.
fn common_name(cert: &IdentityCertificate) -> String {
    let subject = cert.subject();
    subject
        .split(',')
        .find_map(|rdn| rdn.strip_prefix("CN="))
        .map_or_else(|| subject.clone(), str::to_owned)
}
