//! Where a command can run: per OS, the versions, channels, supervision and enrollment modes
//! Apple's schema gives (`supportedOS`).

use std::cmp::Ordering;
use std::fmt;

/// Where a command is available, one entry per OS the schema names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Availability {
    /// The OSes the schema names, in the order iOS, macOS, tvOS, visionOS, watchOS.
    pub platforms: &'static [Platform],
}

impl Availability {
    /// What the schema says for `os`: `None` when it does not name it (not available there).
    pub fn on(&self, os: Os) -> Option<&'static Platform> {
        self.platforms.iter().find(|p| p.os == os)
    }

    /// Whether the command is available on `os` at `version` (`"17.4"`): introduced at or before
    /// it, and not removed at or before it.
    pub fn supports(&self, os: Os, version: &str) -> bool {
        self.on(os).is_some_and(|p| p.supports(version))
    }
}

/// An operating system of Apple's schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Os {
    /// iOS and iPadOS.
    Ios,
    /// macOS.
    MacOs,
    /// tvOS.
    TvOs,
    /// visionOS.
    VisionOs,
    /// watchOS.
    WatchOs,
}

impl Os {
    /// The name as the schema spells it (`iOS`, `macOS` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Ios => "iOS",
            Os::MacOs => "macOS",
            Os::TvOs => "tvOS",
            Os::VisionOs => "visionOS",
            Os::WatchOs => "watchOS",
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a command or key behaves under an enrollment mode (User Enrollment, Shared iPad).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Usable with or without the mode (the default when the schema says nothing).
    #[default]
    Allowed,
    /// Usable only under the mode.
    Required,
    /// Not usable under the mode.
    Forbidden,
    /// Accepted but ignored under the mode.
    Ignored,
}

/// The Shared iPad behaviour of a command on iOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SharedIpad {
    /// Whether the command can be used on a Shared iPad.
    pub mode: Mode,
    /// Whether it is supported on the Shared iPad's device channel, if the schema says.
    pub device_channel: Option<bool>,
    /// Whether it is supported on a Shared iPad's user channel, if the schema says.
    pub user_channel: Option<bool>,
}

/// What the schema says of a command on one OS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// The OS.
    pub os: Os,
    /// The version that introduced the command; `None` when it is not available on this OS
    /// (the schema's `n/a`).
    pub introduced: Option<&'static str>,
    /// The version that deprecated it.
    pub deprecated: Option<&'static str>,
    /// The version that removed it.
    pub removed: Option<&'static str>,
    /// The MDM access right the command needs (`AllowQueryDeviceInformation` …), if the schema
    /// names one.
    pub access_rights: Option<&'static str>,
    /// Whether it runs on the device channel, if the schema says ([`Platform::device_channel`]
    /// gives the default).
    pub device_channel: Option<bool>,
    /// Whether it runs on the user channel, if the schema says ([`Platform::user_channel`]
    /// gives the default).
    pub user_channel: Option<bool>,
    /// Whether the device must be supervised.
    pub supervised: bool,
    /// Whether the device must have been enrolled through Automated Device Enrollment.
    pub requires_dep: bool,
    /// Whether the enrollment must be user-approved (macOS).
    pub user_approved_mdm: bool,
    /// How the command behaves under User Enrollment.
    pub user_enrollment: Mode,
    /// Its Shared iPad behaviour, if the schema gives one.
    pub shared_ipad: Option<SharedIpad>,
}

impl Platform {
    /// Whether the command runs on the device channel: as the schema says, or yes when it says
    /// nothing.
    pub fn device_channel(&self) -> bool {
        self.device_channel.unwrap_or(true)
    }

    /// Whether the command runs on the user channel: as the schema says; when it says nothing,
    /// only if a Shared iPad's user channel takes it.
    pub fn user_channel(&self) -> bool {
        self.user_channel
            .or_else(|| self.shared_ipad.and_then(|s| s.user_channel))
            .unwrap_or(false)
    }

    /// Whether the command is available at `version`: introduced at or before it, and not
    /// removed at or before it.
    pub fn supports(&self, version: &str) -> bool {
        let Some(introduced) = self.introduced else {
            return false;
        };
        compare_versions(introduced, version) != Ordering::Greater
            && self
                .removed
                .is_none_or(|removed| compare_versions(removed, version) == Ordering::Greater)
    }
}

/// Compares dotted versions numerically (`10.15` < `11.0`; missing parts count as 0).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => {
                let x = x.and_then(|x| x.trim().parse::<u64>().ok()).unwrap_or(0);
                let y = y.and_then(|y| y.trim().parse::<u64>().ok()).unwrap_or(0);
                match x.cmp(&y) {
                    Ordering::Equal => {}
                    other => return other,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Platform = Platform {
        os: Os::MacOs,
        introduced: Some("10.15"),
        deprecated: None,
        removed: Some("15.0"),
        access_rights: None,
        device_channel: None,
        user_channel: None,
        supervised: false,
        requires_dep: false,
        user_approved_mdm: false,
        user_enrollment: Mode::Allowed,
        shared_ipad: None,
    };

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("10.15", "11.0"), Ordering::Less);
        assert_eq!(compare_versions("4.2.6", "4.2"), Ordering::Greater);
        assert_eq!(compare_versions("17", "17.0.0"), Ordering::Equal);
    }

    #[test]
    fn support_runs_from_introduction_to_removal() {
        let availability = Availability { platforms: &[MAC] };
        assert!(!availability.supports(Os::MacOs, "10.14.6"));
        assert!(availability.supports(Os::MacOs, "10.15"));
        assert!(availability.supports(Os::MacOs, "14.7"));
        assert!(!availability.supports(Os::MacOs, "15.0"));
        assert!(!availability.supports(Os::Ios, "17.0"));
        assert!(MAC.device_channel());
        assert!(!MAC.user_channel());
    }
}
