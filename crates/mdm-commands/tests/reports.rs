//! Acknowledged reports written from Apple's documentation and the schema's response keys, each
//! with keys this schema does not know (as a newer OS sends them), decoded to their types.

use std::path::Path;

use bytes::Bytes;
use mdm_commands::certificate_list::CertificateList;
use mdm_commands::device_information::DeviceInformation;
use mdm_commands::installed_application_list::InstalledApplicationList;
use mdm_commands::managed_application_list::{ManagedApplicationList, Status as AppStatus};
use mdm_commands::plist::Date;
use mdm_commands::profile_list::ProfileList;
use mdm_commands::security_info::{
    BootstrapTokenAllowedForAuthentication, LoggingOption, ReducedSecurityItems, SecureBootLevel,
    SecurityInfo,
};
use mdm_commands::user_list::UserList;
use mdm_commands::{AnyResponse, MdmCommand, Response};
use mdm_proto::{CommandReport, Raw, Status};

fn report(name: &str) -> Bytes {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/reports")
            .join(name),
    )
    .unwrap()
    .into()
}

/// Decodes `name` as a report of `C`, checks what every report shares, and returns the result.
fn decode<C: MdmCommand>(name: &str) -> C::Response {
    let body = report(name);
    let response: Raw<Response<C::Response>> =
        C::decode_response(body.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(response.bytes(), &body, "the raw bytes stay available");
    assert_eq!(*response.status(), Status::Acknowledged);
    // The one-pass envelope is the envelope mdm-proto reads.
    let envelope = CommandReport::decode(body.clone()).unwrap();
    assert_eq!(response.report, *envelope.value());
    // The same through AnyResponse.
    let any = AnyResponse::decode(C::REQUEST_TYPE, body).unwrap();
    assert_eq!(any.request_type(), C::REQUEST_TYPE);
    assert!(any.result_plist().is_some());
    let (response, _) = response.into_parts();
    response
        .result
        .expect("an acknowledged report has a result")
}

#[test]
fn device_information() {
    let result = decode::<DeviceInformation>("device_information.plist");
    let q = result.query_responses.unwrap();
    assert_eq!(q.device_name.as_deref(), Some("Front Desk iPhone"));
    assert_eq!(q.os_version.as_deref(), Some("18.1"));
    assert_eq!(q.product_name.as_deref(), Some("iPhone16,1"));
    assert_eq!(q.udid.as_deref(), Some("00008120-001A2B3C4D5E6F70"));
    assert_eq!(q.device_capacity, Some(128.0));
    assert_eq!(q.battery_level, Some(0.86));
    assert_eq!(q.cellular_technology, Some(3));
    assert_eq!(q.is_supervised, Some(true));
    assert_eq!(q.push_token.as_deref(), Some(&[0xde, 0xad, 0xbe, 0xef][..]));
    assert_eq!(
        q.last_cloud_backup_date,
        Some(Date::from_xml_format("2024-11-02T03:14:15Z").unwrap())
    );
    let mdm_options = q.mdm_options.unwrap();
    assert_eq!(
        mdm_options.activation_lock_allowed_while_supervised,
        Some(false)
    );
    let updates = q.os_update_settings.unwrap();
    assert_eq!(updates.auto_check_enabled, Some(true));
    assert!(updates.previous_scan_date.is_some());
    let subscriptions = q.service_subscriptions.unwrap();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].label.as_deref(), Some("Primary"));
    assert_eq!(subscriptions[0].is_data_preferred, Some(true));
    // Keys the device did not send stay absent.
    assert_eq!(q.imei.as_deref(), Some("35 123456 789012 3"));
    assert_eq!(q.meid, None);
}

#[test]
fn security_info() {
    let info = decode::<SecurityInfo>("security_info.plist")
        .security_info
        .unwrap();
    assert_eq!(info.fde_enabled, Some(true));
    assert_eq!(info.fde_has_personal_recovery_key, Some(true));
    assert_eq!(info.system_integrity_protection_enabled, Some(true));
    assert_eq!(
        info.bootstrap_token_allowed_for_authentication,
        Some(BootstrapTokenAllowedForAuthentication::Allowed)
    );
    let firewall = info.firewall_settings.unwrap();
    assert_eq!(firewall.firewall_enabled, Some(true));
    assert_eq!(firewall.logging_option, Some(LoggingOption::Throttled));
    let apps = firewall.applications.unwrap();
    assert_eq!(
        apps[0].bundle_id.as_deref(),
        Some("com.apple.screensharing")
    );
    let secure_boot = info.secure_boot.unwrap();
    assert_eq!(secure_boot.secure_boot_level, Some(SecureBootLevel::Full));
    // A value a newer OS reports in an open list is kept as sent.
    assert_eq!(
        secure_boot.reduced_security,
        Some(vec![
            ReducedSecurityItems::AllowsMdm,
            ReducedSecurityItems::Other("AllowsSomethingNew".into())
        ])
    );
    let management = info.management_status.unwrap();
    assert_eq!(management.enrolled_via_dep, Some(true));
    assert_eq!(management.is_user_enrollment, Some(false));
}

#[test]
fn installed_application_list() {
    let apps = decode::<InstalledApplicationList>("installed_application_list.plist")
        .installed_application_list
        .unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].identifier.as_deref(), Some("com.microsoft.Outlook"));
    assert_eq!(apps[0].bundle_size, Some(219_754_496));
    assert_eq!(apps[0].external_version_identifier, Some(869_613_216));
    assert_eq!(apps[0].device_based_vpp, Some(true));
    assert_eq!(apps[1].name.as_deref(), Some("Field Notes & Checklists"));
    assert_eq!(apps[1].source.as_deref(), Some("Enterprise"));
    assert_eq!(apps[1].is_validated, Some(false));
}

#[test]
fn profile_list() {
    let profiles = decode::<ProfileList>("profile_list.plist")
        .profile_list
        .unwrap();
    assert_eq!(profiles.len(), 1);
    let profile = &profiles[0];
    assert_eq!(
        profile.payload_identifier.as_deref(),
        Some("com.example.mdm.enroll")
    );
    assert_eq!(
        profile.payload_uuid.as_deref(),
        Some("1A6E1C3B-1F0D-4D2E-8B5A-6C7D8E9FA0B1")
    );
    assert_eq!(
        profile.payload_display_name.as_deref(),
        Some("Example MDM enrollment")
    );
    assert_eq!(profile.is_managed, Some(true));
    assert_eq!(profile.signer_certificates.as_ref().map(Vec::len), Some(1));
    let content = profile.payload_content.as_ref().unwrap();
    assert_eq!(content.len(), 2);
    assert_eq!(content[0].payload_type.as_deref(), Some("com.apple.mdm"));
    assert_eq!(
        content[1].payload_type.as_deref(),
        Some("com.apple.security.scep")
    );
    assert_eq!(content[1].payload_version, Some(1));
}

#[test]
fn certificate_list() {
    let certificates = decode::<CertificateList>("certificate_list.plist")
        .certificate_list
        .unwrap();
    assert_eq!(certificates.len(), 2);
    assert_eq!(
        certificates[0].common_name.as_deref(),
        Some("Example MDM Device Identity")
    );
    assert_eq!(certificates[0].is_identity, Some(true));
    assert!(
        certificates[0]
            .data
            .as_ref()
            .unwrap()
            .starts_with(&[0x30, 0x82])
    );
    assert_eq!(certificates[1].is_identity, Some(false));
}

#[test]
fn managed_application_list() {
    let apps = decode::<ManagedApplicationList>("managed_application_list.plist")
        .managed_application_list
        .unwrap();
    assert_eq!(apps.len(), 2);
    let expenses = &apps["com.example.expenses"];
    assert_eq!(expenses.status, Some(AppStatus::Managed));
    assert_eq!(expenses.management_flags, Some(1));
    assert_eq!(expenses.has_configuration, Some(true));
    // The schema calls HasConfiguration required; a device sends it only for some apps.
    let new_app = &apps["com.example.newapp"];
    assert_eq!(new_app.has_configuration, None);
    assert_eq!(
        new_app.status,
        Some(AppStatus::Other("WaitingForNetwork".into()))
    );
}

#[test]
fn user_list() {
    let users = decode::<UserList>("user_list.plist").users.unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].user_name.as_deref(), Some("robin"));
    assert_eq!(users[0].full_name.as_deref(), Some("Robin Appleseed"));
    assert_eq!(users[0].uid, Some(501));
    assert_eq!(users[0].is_logged_in, Some(true));
    assert_eq!(users[0].has_secure_token, Some(true));
    assert_eq!(users[1].user_name.as_deref(), Some("kiosk"));
    assert_eq!(users[1].full_name, None);
}

#[test]
fn a_report_without_a_key_the_schema_calls_required_still_decodes() {
    let body = report("user_list.plist");
    let without = String::from_utf8(body.to_vec())
        .unwrap()
        .replace("<key>UserName</key>\n\t\t\t<string>kiosk</string>", "");
    let response = UserList::decode_response(without.into_bytes()).unwrap();
    let users = response.result().unwrap().users.as_ref().unwrap();
    assert_eq!(users[1].user_name, None);
    assert_eq!(users[1].is_logged_in, Some(false));
}

#[test]
fn a_report_with_a_value_of_the_wrong_type_is_an_error_that_names_it() {
    let body = report("user_list.plist");
    let broken = String::from_utf8(body.to_vec())
        .unwrap()
        .replace("<integer>501</integer>", "<string>501</string>");
    let error = UserList::decode_response(broken.into_bytes()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Users[0].UID: expected an integer, found a string"
    );
}
