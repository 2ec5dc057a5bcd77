//! Availability as the schema gives it (`supportedOS` of `mdm/commands/device.lock.yaml` and
//! `information.device.yaml`), queryable without strings.

use mdm_commands::device_information::DeviceInformation;
use mdm_commands::device_lock::DeviceLock;
use mdm_commands::{AnyCommand, MdmCommand, Mode, Os};

#[test]
fn device_lock() {
    let availability = DeviceLock::AVAILABILITY;
    let mac = availability.on(Os::MacOs).unwrap();
    assert_eq!(mac.introduced, Some("10.7"));
    assert_eq!(mac.access_rights, Some("AllowPasscodeRemovalAndLock"));
    assert!(mac.device_channel());
    assert!(!mac.user_channel());
    assert_eq!(mac.user_enrollment, Mode::Forbidden);
    assert!(availability.supports(Os::MacOs, "10.7"));
    assert!(!availability.supports(Os::MacOs, "10.6.8"));
    // `introduced: n/a`: named, but not available.
    let tv = availability.on(Os::TvOs).unwrap();
    assert_eq!(tv.introduced, None);
    assert!(!availability.supports(Os::TvOs, "18.0"));
    assert!(availability.supports(Os::VisionOs, "2.0"));
}

#[test]
fn device_information_on_a_shared_ipad() {
    let ios = DeviceInformation::AVAILABILITY.on(Os::Ios).unwrap();
    let shared = ios.shared_ipad.unwrap();
    assert_eq!(shared.mode, Mode::Allowed);
    assert_eq!(shared.user_channel, Some(true));
    // iOS says nothing of channels outside Shared iPad: the device channel, and the user
    // channel a Shared iPad takes.
    assert!(ios.device_channel());
    assert!(ios.user_channel());
    assert!(!ios.supervised);
}

#[test]
fn every_command_is_available_somewhere() {
    for request_type in AnyCommand::REQUEST_TYPES {
        let availability = AnyCommand::availability_of(request_type).unwrap();
        assert!(
            availability
                .platforms
                .iter()
                .any(|p| p.introduced.is_some()),
            "{request_type}"
        );
    }
    assert!(AnyCommand::availability_of("MakeCoffee").is_none());
}
