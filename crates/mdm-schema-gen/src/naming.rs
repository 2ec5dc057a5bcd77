//! Rust names for Apple's keys and values: `MDMOptions` → `MdmOptions` / `mdm_options`,
//! `iTunesStoreID` → `itunes_store_id`, `type` → `r#type`.

use std::collections::BTreeSet;

/// Apple's mixed-case brand words, read as one word each.
const BRANDS: &[(&str, &str)] = &[
    ("iPadOS", "Ipados"),
    ("visionOS", "Visionos"),
    ("watchOS", "Watchos"),
    ("macOS", "Macos"),
    ("tvOS", "Tvos"),
    ("iOS", "Ios"),
    ("iTunes", "Itunes"),
    ("iCloud", "Icloud"),
    ("iPhone", "Iphone"),
    ("iPad", "Ipad"),
    ("eSIM", "Esim"),
    ("IPv4", "Ipv4"),
    ("IPv6", "Ipv6"),
    ("WiFi", "Wifi"),
    ("dNSName", "DnsName"),
];

/// Words the 2024 edition reserves: a field or module of that name is written `r#name`.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers: a field of that name gets a trailing `_`.
const NOT_RAW: &[&str] = &["crate", "self", "super", "Self", "_"];

/// The words of a key or value: split at anything not alphanumeric, where lower case (or a
/// digit) meets upper case, and before the last capital of an acronym that starts a word
/// (`MDMOptions` → `MDM`, `Options`).
pub fn words(name: &str) -> Vec<String> {
    let mut name = name.to_owned();
    for (brand, word) in BRANDS {
        name = name.replace(brand, word);
    }
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if let Some(prev) = word.chars().last() {
            // An acronym's plural `s` (`UUIDs`, `AppIDs`) stays with it, unless a lower-case
            // word starts there (`IDsomething` has no such plural).
            let plural = chars.get(i + 1) == Some(&'s')
                && !chars.get(i + 2).is_some_and(|n| n.is_lowercase());
            let next_is_lower = !plural && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = ((prev.is_lowercase() || prev.is_ascii_digit()) && c.is_uppercase())
                || (prev.is_uppercase() && c.is_uppercase() && next_is_lower);
            if boundary {
                words.push(std::mem::take(&mut word));
            }
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// A type or variant name: `UpperCamelCase`, acronyms as words (`MdmOptions`).
pub fn type_name(name: &str) -> String {
    let name: String = words(name).iter().map(|w| capitalized(w)).collect();
    match name.chars().next() {
        None => "Unnamed".to_owned(),
        Some(c) if c.is_ascii_digit() => format!("V{name}"),
        Some(_) => name,
    }
}

/// A field, module or function name: `snake_case`, keywords escaped (`r#type`).
pub fn field_name(name: &str) -> String {
    let name = words(name)
        .iter()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    let name = match name.chars().next() {
        None => "unnamed".to_owned(),
        Some(c) if c.is_ascii_digit() => format!("n{name}"),
        Some(_) => name,
    };
    escape(name)
}

/// `name` made usable as an identifier when it is a keyword.
pub fn escape(name: String) -> String {
    if NOT_RAW.contains(&name.as_str()) {
        format!("{name}_")
    } else if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

/// The names taken in one scope (a module's types, a struct's fields, an enum's variants).
#[derive(Debug, Default)]
pub struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    /// A scope where `reserved` are taken already.
    pub fn with_reserved(reserved: &[&str]) -> Self {
        Self {
            taken: reserved.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Takes the first free name of `candidates`, or the first candidate numbered from 2.
    pub fn claim(&mut self, candidates: &[String]) -> String {
        let name = candidates
            .iter()
            .find(|c| !self.taken.contains(c.as_str()))
            .cloned()
            .unwrap_or_else(|| {
                let base = candidates.first().map_or("Unnamed", String::as_str);
                // Raw identifiers are numbered without their `r#`.
                let base = base.strip_prefix("r#").unwrap_or(base);
                (2..)
                    .map(|n| format!("{base}{n}"))
                    .find(|c| !self.taken.contains(c))
                    .unwrap_or_default()
            });
        self.taken.insert(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_snake_case_fields() {
        for (key, field) in [
            ("MDMOptions", "mdm_options"),
            ("OSUpdateSettings", "os_update_settings"),
            ("iTunesStoreID", "itunes_store_id"),
            ("SupportsiOSAppInstalls", "supports_ios_app_installs"),
            ("eSIMServerURL", "esim_server_url"),
            ("PrimaryIPv6AddressList", "primary_ipv6_address_list"),
            (
                "ServerURLPinningCertificateUUIDs",
                "server_url_pinning_certificate_uuids",
            ),
            ("AllowListedAppBundleIDs", "allow_listed_app_bundle_ids"),
            ("dNSName", "dns_name"),
            ("WiFiMAC", "wifi_mac"),
            (
                "FDE_PersonalRecoveryKeyCMS",
                "fde_personal_recovery_key_cms",
            ),
            ("MaxCachePressureLast1Hour", "max_cache_pressure_last1_hour"),
            ("sha256-size", "sha256_size"),
            ("className", "class_name"),
            ("UDID", "udid"),
            ("Category Name", "category_name"),
            ("type", "r#type"),
            ("Where", "r#where"),
            ("self", "self_"),
            ("3DTouch", "n3_d_touch"),
        ] {
            assert_eq!(field_name(key), field, "{key}");
        }
    }

    #[test]
    fn request_types_and_values_become_camel_case_types() {
        for (name, ty) in [
            ("DeviceInformation", "DeviceInformation"),
            ("LOMDeviceRequest", "LomDeviceRequest"),
            ("NSExtensionMappings", "NsExtensionMappings"),
            ("OSUpdateStatus", "OsUpdateStatus"),
            ("com.apple.cloudvpp", "ComAppleCloudvpp"),
            ("ANY app identifier", "AnyAppIdentifier"),
            ("802.1X", "V8021X"),
        ] {
            assert_eq!(type_name(name), ty, "{name}");
        }
    }

    #[test]
    fn collisions_take_the_next_candidate_then_a_number() {
        let mut names = Names::with_reserved(&["Option", "Status"]);
        assert_eq!(
            names.claim(&["Status".into(), "ItemStatus".into()]),
            "ItemStatus"
        );
        assert_eq!(
            names.claim(&["Status".into(), "ItemStatus".into()]),
            "Status2"
        );
        assert_eq!(names.claim(&["Option".into()]), "Option2");
        let mut fields = Names::default();
        assert_eq!(fields.claim(&["r#type".into()]), "r#type");
        assert_eq!(fields.claim(&["r#type".into()]), "type2");
        assert_eq!(fields.claim(&["type2".into()]), "type22");
    }
}
