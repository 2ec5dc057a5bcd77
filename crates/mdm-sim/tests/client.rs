//! The device state machine, driven without a network: enroll, check in, answer commands,
//! re-enroll, check out.

use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{CheckIn, Command, CommandReport, ErrorChainEntry, Raw, Status};
use mdm_sim::{
    Answer, Channel, Device, DeviceKind, Error, Event, MdmClient, MdmPayload, Message, Request,
    Response,
};

const TOPIC: &str = "com.apple.mgmt.External.2a5e7d4c-3b1f-4f7e-9c6d-8e1a0b2c3d4e";

fn client(kind: DeviceKind) -> MdmClient {
    let payload = MdmPayload::new("http://127.0.0.1:9/mdm", TOPIC);
    MdmClient::new(Device::generate(kind, 99), payload)
}

fn ok() -> Response {
    Response::new(200, "")
}

fn next(client: &mut MdmClient) -> Request {
    client.poll_request().unwrap().expect("a request is queued")
}

fn check_in_type(request: &Request) -> &'static str {
    CheckIn::decode(request.body().clone())
        .unwrap()
        .message_type()
}

fn report(request: &Request) -> Raw<CommandReport> {
    CommandReport::decode(request.body().clone()).unwrap()
}

/// The result keys of a report: its top-level dictionary.
fn report_dict(request: &Request) -> Dictionary {
    Value::from_reader(std::io::Cursor::new(request.body().as_ref()))
        .unwrap()
        .into_dictionary()
        .unwrap()
}

/// Sends an Idle on `channel`, answers it with `command`, and returns the device's answer.
fn run_command(client: &mut MdmClient, channel: Channel, command: &Raw<Command>) -> Request {
    client.check_in(channel);
    let idle = next(client);
    assert_eq!(report(&idle).status, Status::Idle);
    let event = client
        .handle_response(Response::new(200, command.bytes().clone()))
        .unwrap();
    match event {
        Event::Report {
            status: Status::Idle,
            next_command: Some(got),
            channel: c,
            ..
        } => {
            assert_eq!(c, channel);
            assert_eq!(got, *command);
        }
        other => panic!("unexpected {other:?}"),
    }
    let answer = next(client);
    assert_eq!(
        report(&answer).command_uuid.as_deref(),
        Some(command.command_uuid.as_str())
    );
    let event = client.handle_response(ok()).unwrap();
    assert!(matches!(
        event,
        Event::Report {
            next_command: None,
            ..
        }
    ));
    assert!(client.is_idle());
    answer
}

fn command(uuid: &str, request_type: &str, payload: Dictionary) -> Raw<Command> {
    Command::build(uuid, request_type, payload)
}

#[test]
fn enrollment_sends_authenticate_then_a_token_update_per_channel() {
    let mut c = client(DeviceKind::MacOs);
    assert!(c.is_idle());
    c.enroll();
    let mut sent = Vec::new();
    while let Some(request) = c.poll_request().unwrap() {
        // One exchange at a time: nothing more until this one is answered.
        assert!(c.poll_request().unwrap().is_none());
        sent.push((request.channel(), check_in_type(&request)));
        let event = c.handle_response(ok()).unwrap();
        assert!(matches!(event, Event::CheckIn { .. }));
    }
    assert_eq!(
        sent,
        [
            (Channel::Device, "Authenticate"),
            (Channel::Device, "TokenUpdate"),
            (Channel::User, "TokenUpdate"),
        ]
    );
    assert!(c.is_enrolled(Channel::Device) && c.is_enrolled(Channel::User));

    // A device without a user channel enrolls its device channel only.
    let mut ios = client(DeviceKind::Ios);
    ios.enroll();
    let mut n = 0;
    while ios.poll_request().unwrap().is_some() {
        ios.handle_response(ok()).unwrap();
        n += 1;
    }
    assert_eq!(n, 2);
    assert!(ios.is_enrolled(Channel::Device) && !ios.is_enrolled(Channel::User));
}

#[test]
fn a_refused_authenticate_stops_the_enrollment() {
    let mut c = client(DeviceKind::SharedIpad);
    c.enroll();
    let auth = next(&mut c);
    assert_eq!(check_in_type(&auth), "Authenticate");
    let err = c
        .handle_response(Response::new(400, "bad signature"))
        .unwrap_err();
    match err {
        Error::Refused {
            channel,
            sent,
            status,
            body,
        } => {
            assert_eq!(
                (channel, sent.as_str(), status, &body[..]),
                (Channel::Device, "Authenticate", 400, &b"bad signature"[..])
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        c.poll_request().unwrap().is_none(),
        "no TokenUpdate after a refusal"
    );
    assert!(c.is_idle() && !c.is_enrolled(Channel::Device));
}

#[test]
fn responses_without_a_request_and_bodies_that_are_not_commands_are_errors() {
    let mut c = client(DeviceKind::Ios);
    assert!(matches!(
        c.handle_response(ok()),
        Err(Error::NoRequestInFlight)
    ));

    c.check_in(Channel::Device);
    next(&mut c);
    let err = c
        .handle_response(Response::new(200, "<plist><dict><key>Nope"))
        .unwrap_err();
    assert!(matches!(err, Error::MalformedCommand(_)), "{err}");
    assert!(c.is_idle(), "nothing is answered");

    // A whitespace-only body means "nothing queued", as an empty one does.
    c.check_in(Channel::Device);
    next(&mut c);
    let event = c.handle_response(Response::new(200, "\n")).unwrap();
    assert!(matches!(
        event,
        Event::Report {
            next_command: None,
            ..
        }
    ));
}

#[test]
fn commands_the_server_sends_back_to_back_are_answered_in_turn() {
    let mut c = client(DeviceKind::Ios);
    c.check_in(Channel::Device);
    let first = command("C-1", "ProfileList", Dictionary::new());
    let second = command("C-2", "RestartDevice", Dictionary::new());
    next(&mut c);
    c.handle_response(Response::new(200, first.bytes().clone()))
        .unwrap();
    // A check-in queued meanwhile waits until the command is answered.
    c.check_in(Channel::Device);
    let answer = next(&mut c);
    assert_eq!(report(&answer).command_uuid.as_deref(), Some("C-1"));
    let event = c
        .handle_response(Response::new(200, second.bytes().clone()))
        .unwrap();
    match event {
        Event::Report {
            status,
            command_uuid,
            next_command,
            ..
        } => {
            assert_eq!(status, Status::Acknowledged);
            assert_eq!(command_uuid.as_deref(), Some("C-1"));
            assert_eq!(next_command.unwrap().command_uuid, "C-2");
        }
        other => panic!("unexpected {other:?}"),
    }
    let answer = next(&mut c);
    let r = report(&answer);
    assert_eq!(
        (r.status.clone(), r.command_uuid.as_deref()),
        (Status::Acknowledged, Some("C-2"))
    );
    c.handle_response(ok()).unwrap();
    assert_eq!(report(&next(&mut c)).status, Status::Idle);
}

#[test]
fn device_information_answers_exactly_the_queries_the_device_knows() {
    let mut c = client(DeviceKind::Ios);
    let mut payload = Dictionary::new();
    let queries = [
        "UDID",
        "SerialNumber",
        "OSVersion",
        "IMEI",
        "BatteryLevel",
        "NoSuchQuery",
    ];
    payload.insert(
        "Queries".into(),
        Value::Array(queries.iter().map(|q| Value::String((*q).into())).collect()),
    );
    let cmd = command("DI-1", "DeviceInformation", payload.clone());
    let answer = run_command(&mut c, Channel::Device, &cmd);
    let r = report(&answer);
    assert_eq!(r.status, Status::Acknowledged);
    let dict = report_dict(&answer);
    let responses = dict["QueryResponses"].as_dictionary().unwrap();
    let keys: Vec<&str> = responses.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["UDID", "SerialNumber", "OSVersion", "IMEI", "BatteryLevel"]
    );
    let d = c.device();
    assert_eq!(responses["UDID"].as_string(), d.udid.as_deref());
    assert_eq!(
        responses["SerialNumber"].as_string(),
        d.serial_number.as_deref()
    );
    assert_eq!(
        responses["OSVersion"].as_string(),
        Some(d.os_version.as_str())
    );
    let battery = responses["BatteryLevel"].as_real().unwrap();
    assert!((0.0..=1.0).contains(&battery));

    // A User Enrollment keeps the device's identifiers from the server.
    let mut ue = client(DeviceKind::UserEnrollment);
    let answer = run_command(&mut ue, Channel::Device, &cmd);
    let dict = report_dict(&answer);
    let responses = dict["QueryResponses"].as_dictionary().unwrap();
    assert!(!responses.contains_key("UDID") && !responses.contains_key("SerialNumber"));
    assert!(!responses.contains_key("IMEI"));
    assert!(responses.contains_key("OSVersion"));
}

#[test]
fn profile_list_reflects_installed_and_removed_profiles() {
    let identifiers = |answer: &Request| -> Vec<String> {
        report_dict(answer)["ProfileList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p.as_dictionary().unwrap()["PayloadIdentifier"]
                    .as_string()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let mut c = client(DeviceKind::MacOs);
    let list = command("PL-1", "ProfileList", Dictionary::new());
    let enrollment_only = identifiers(&run_command(&mut c, Channel::Device, &list));
    assert_eq!(enrollment_only, [format!("{TOPIC}.enroll")]);

    let profile = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
  <key>PayloadIdentifier</key><string>com.example.wifi</string>
  <key>PayloadUUID</key><string>0D6A9B3C-1111-4222-8333-944455566677</string>
  <key>PayloadDisplayName</key><string>Wi-Fi</string>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadContent</key><array><dict>
    <key>PayloadType</key><string>com.apple.wifi.managed</string>
    <key>PayloadIdentifier</key><string>com.example.wifi.1</string>
  </dict></array>
</dict></plist>"#;
    // A signed profile: the XML inside some CMS bytes.
    let mut signed = vec![0x30, 0x80, 0x06, 0x09];
    signed.extend_from_slice(profile);
    signed.extend_from_slice(&[0, 0]);
    let mut install = Dictionary::new();
    install.insert("Payload".into(), Value::Data(signed));
    let answer = run_command(
        &mut c,
        Channel::Device,
        &command("IP-1", "InstallProfile", install),
    );
    assert_eq!(report(&answer).status, Status::Acknowledged);

    let listed = identifiers(&run_command(&mut c, Channel::Device, &list));
    assert_eq!(
        listed,
        [format!("{TOPIC}.enroll"), "com.example.wifi".to_owned()]
    );
    // Profiles are per channel.
    let user = identifiers(&run_command(&mut c, Channel::User, &list));
    assert_eq!(user.len(), 1);

    let mut remove = Dictionary::new();
    remove.insert(
        "Identifier".into(),
        Value::String("com.example.wifi".into()),
    );
    run_command(
        &mut c,
        Channel::Device,
        &command("RP-1", "RemoveProfile", remove),
    );
    assert_eq!(
        identifiers(&run_command(&mut c, Channel::Device, &list)),
        enrollment_only
    );
}

#[test]
fn installed_application_list_is_realistically_sized_stable_and_filterable() {
    let mut c = client(DeviceKind::Ios);
    let apps = |answer: &Request| -> Vec<Dictionary> {
        report_dict(answer)["InstalledApplicationList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_dictionary().unwrap().clone())
            .collect()
    };
    let cmd = command("AL-1", "InstalledApplicationList", Dictionary::new());
    let answer = run_command(&mut c, Channel::Device, &cmd);
    let all = apps(&answer);
    assert!((60..=140).contains(&all.len()), "{} apps", all.len());
    assert!(
        answer.body().len() > 30_000,
        "{} bytes",
        answer.body().len()
    );
    for app in &all {
        for key in ["Identifier", "Name", "ShortVersion", "Version"] {
            assert!(app[key].as_string().is_some(), "{key}");
        }
        assert!(app["BundleSize"].as_unsigned_integer().is_some());
    }
    // The same device lists the same apps each time.
    let again = apps(&run_command(&mut c, Channel::Device, &cmd));
    let ids = |list: &[Dictionary]| -> Vec<String> {
        list.iter()
            .map(|a| a["Identifier"].as_string().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&all), ids(&again));

    let wanted = ids(&all)[3].clone();
    let mut payload = Dictionary::new();
    payload.insert(
        "Identifiers".into(),
        Value::Array(vec![Value::String(wanted.clone())]),
    );
    let filtered = apps(&run_command(
        &mut c,
        Channel::Device,
        &command("AL-2", "InstalledApplicationList", payload),
    ));
    assert_eq!(ids(&filtered), [wanted]);

    let mut managed = Dictionary::new();
    managed.insert("ManagedAppsOnly".into(), Value::Boolean(true));
    let none = apps(&run_command(
        &mut c,
        Channel::Device,
        &command("AL-3", "InstalledApplicationList", managed),
    ));
    assert!(none.is_empty());
}

#[test]
fn chosen_answers_not_now_error_and_exact_results() {
    let mut c = client(DeviceKind::Ios);
    let chain = vec![
        ErrorChainEntry::new(4, "MCProfileErrorDomain")
            .description("The profile could not be installed."),
    ];
    c.set_answer("InstallProfile", Answer::Error(chain.clone()));
    c.answer_next(Answer::NotNow);

    // The one-shot answer wins over the per-type one, then the per-type one applies.
    let install = command("IP-9", "InstallProfile", Dictionary::new());
    let r = report(&run_command(&mut c, Channel::Device, &install));
    assert_eq!(r.status, Status::NotNow);
    assert!(r.error_chain.is_empty());
    let r = report(&run_command(&mut c, Channel::Device, &install));
    assert_eq!(r.status, Status::Error);
    assert_eq!(r.error_chain, chain);

    let mut exact = Dictionary::new();
    exact.insert("Custom".into(), Value::String("value".into()));
    c.answer_next(Answer::Acknowledged(exact));
    let answer = run_command(
        &mut c,
        Channel::Device,
        &command("X-1", "Anything", Dictionary::new()),
    );
    assert_eq!(report(&answer).status, Status::Acknowledged);
    assert_eq!(report_dict(&answer)["Custom"].as_string(), Some("value"));

    c.answer_next(Answer::CommandFormatError(Vec::new()));
    let r = report(&run_command(&mut c, Channel::Device, &install));
    assert_eq!(r.status, Status::CommandFormatError);

    c.set_answer("InstallProfile", Answer::Run);
    let r = report(&run_command(&mut c, Channel::Device, &install));
    assert_eq!(r.status, Status::Acknowledged);
}

#[test]
fn unknown_request_types_get_an_error_chain() {
    let mut c = client(DeviceKind::MacOs);
    let r = report(&run_command(
        &mut c,
        Channel::Device,
        &command("U-1", "FlyToTheMoon", Dictionary::new()),
    ));
    assert_eq!(r.status, Status::Error);
    assert_eq!(r.error_chain.len(), 1);
    assert_eq!(r.error_chain[0].error_code, Some(12021));
    assert_eq!(
        r.error_chain[0].error_domain.as_deref(),
        Some("MCMDMErrorDomain")
    );
}

#[test]
fn common_request_types_are_acknowledged_with_their_result_keys() {
    let cases = [
        ("SecurityInfo", Some("SecurityInfo")),
        ("CertificateList", Some("CertificateList")),
        ("ProvisioningProfileList", Some("ProvisioningProfileList")),
        ("ManagedApplicationList", Some("ManagedApplicationList")),
        ("AvailableOSUpdates", Some("AvailableOSUpdates")),
        ("OSUpdateStatus", Some("OSUpdateStatus")),
        ("UserList", Some("Users")),
        ("RestartDevice", None),
        ("DeviceLock", None),
        ("InstallApplication", None),
        ("Settings", None),
    ];
    let mut c = client(DeviceKind::MacOs);
    for (i, (request_type, key)) in cases.into_iter().enumerate() {
        let answer = run_command(
            &mut c,
            Channel::Device,
            &command(&format!("K-{i}"), request_type, Dictionary::new()),
        );
        assert_eq!(
            report(&answer).status,
            Status::Acknowledged,
            "{request_type}"
        );
        if let Some(key) = key {
            assert!(
                report_dict(&answer).contains_key(key),
                "{request_type}: {key}"
            );
        }
    }
}

#[test]
fn check_out_unenrolls_and_enrolling_again_reenrolls() {
    let mut c = client(DeviceKind::UserEnrollment);
    let drain = |c: &mut MdmClient| -> Vec<String> {
        let mut sent = Vec::new();
        while let Some(r) = c.poll_request().unwrap() {
            sent.push(r.name().to_owned());
            c.handle_response(ok()).unwrap();
        }
        sent
    };
    c.enroll();
    drain(&mut c);
    assert!(c.is_enrolled(Channel::User));

    c.check_out();
    assert_eq!(drain(&mut c), ["CheckOut"]);
    assert!(!c.is_enrolled(Channel::Device) && !c.is_enrolled(Channel::User));

    c.enroll();
    assert_eq!(
        drain(&mut c),
        ["Authenticate", "TokenUpdate", "TokenUpdate"]
    );
    assert!(c.is_enrolled(Channel::Device) && c.is_enrolled(Channel::User));

    // Authenticate alone (a re-enrollment in progress) leaves nothing enrolled.
    c.queue(Channel::Device, Message::Authenticate);
    drain(&mut c);
    assert!(!c.is_enrolled(Channel::Device) && !c.is_enrolled(Channel::User));
}

#[test]
fn check_ins_go_to_the_check_in_url_and_reports_to_the_server_url() {
    let payload = MdmPayload::new("https://mdm.example/mdm", TOPIC)
        .with_check_in_url("https://mdm.example/checkin");
    let mut c = MdmClient::new(Device::generate(DeviceKind::MacOs, 1), payload);
    c.enroll();
    assert_eq!(next(&mut c).url(), "https://mdm.example/checkin");
    c.abort();
    assert!(c.is_idle(), "abort forgets what was in flight and queued");
    c.check_in(Channel::User);
    assert_eq!(next(&mut c).url(), "https://mdm.example/mdm");
}

#[test]
fn check_in_answers_reach_the_caller() {
    let mut c = client(DeviceKind::MacOs);
    c.queue(Channel::Device, Message::GetBootstrapToken);
    next(&mut c);
    let event = c.handle_response(Response::new(200, "<plist/>")).unwrap();
    assert_eq!(
        event,
        Event::CheckIn {
            channel: Channel::Device,
            message_type: "GetBootstrapToken",
            body: "<plist/>".into(),
        }
    );
}

#[test]
fn certificate_list_shows_the_identity_and_results_cannot_replace_report_keys() {
    use mdm_sim::{CertPresentation, Identity, KeyKind, TestCa};
    let ca = TestCa::generate(KeyKind::P256, "CA").unwrap();
    let identity = Identity::issue(&ca, KeyKind::P256, "sim-device-7").unwrap();
    let mut c = client(DeviceKind::Ios).with_identity(identity.clone(), CertPresentation::Omitted);
    let answer = run_command(
        &mut c,
        Channel::Device,
        &command("CL-1", "CertificateList", Dictionary::new()),
    );
    let dict = report_dict(&answer);
    let list = dict["CertificateList"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let item = list[0].as_dictionary().unwrap();
    assert_eq!(item["CommonName"].as_string(), Some("sim-device-7"));
    assert_eq!(item["Data"].as_data(), Some(identity.certificate_der()));
    assert_eq!(item["IsIdentity"].as_boolean(), Some(true));

    let mut sneaky = Dictionary::new();
    sneaky.insert("Status".into(), Value::String("Idle".into()));
    sneaky.insert("UDID".into(), Value::String("someone-else".into()));
    sneaky.insert("Extra".into(), Value::Boolean(true));
    c.answer_next(Answer::Acknowledged(sneaky));
    let answer = run_command(
        &mut c,
        Channel::Device,
        &command("S-1", "X", Dictionary::new()),
    );
    let r = report(&answer);
    assert_eq!(r.status, Status::Acknowledged);
    assert_eq!(r.enrollment.udid, c.device().udid);
    assert_eq!(report_dict(&answer)["Extra"].as_boolean(), Some(true));
}

#[test]
fn a_replaced_payload_sends_to_the_new_server() {
    let mut c = client(DeviceKind::Ios);
    c.set_payload(mdm_sim::MdmPayload::new("https://new.example/mdm", TOPIC));
    c.check_in(Channel::Device);
    let request = c.poll_request().unwrap().unwrap();
    assert_eq!(request.url(), "https://new.example/mdm");
}

/// Every command of Apple's schema is answered with a report that decodes to the command's own
/// typed response (`mdm-commands`), with its result: not a hand-picked few.
#[test]
fn every_command_of_the_schema_is_answered_with_its_typed_response() {
    use mdm_commands::{AnyCommand, AnyResponse};

    for kind in [DeviceKind::MacOs, DeviceKind::Ios] {
        let mut c = client(kind);
        for (i, request_type) in AnyCommand::REQUEST_TYPES.iter().enumerate() {
            let uuid = format!("S-{i}");
            let answer = run_command(
                &mut c,
                Channel::Device,
                &command(&uuid, request_type, Dictionary::new()),
            );
            let decoded = AnyResponse::decode(request_type, answer.body().clone())
                .unwrap_or_else(|e| panic!("{kind:?} {request_type}: {e}"));
            let response = decoded.value();
            assert_eq!(response.request_type(), *request_type);
            assert_eq!(
                response.report().status,
                Status::Acknowledged,
                "{kind:?} {request_type}"
            );
            assert_eq!(response.report().command_uuid.as_deref(), Some(&*uuid));
            let result = response
                .result_plist()
                .unwrap_or_else(|| panic!("{kind:?} {request_type}: no result"));
            // A command with result keys in the schema gets some.
            let example = AnyResponse::example(request_type).unwrap();
            if !example.is_empty() {
                let Value::Dictionary(keys) = result else {
                    panic!("{request_type}: {result:?}")
                };
                assert!(!keys.is_empty(), "{kind:?} {request_type}: empty result");
            }
        }
    }
}
