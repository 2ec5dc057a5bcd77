//! Every message a simulated device builds decodes with `mdm-proto`, names the enrollment
//! docs/ARCHITECTURE.md §1 gives, and carries an identity that `mdm-signature` accepts.

use std::sync::OnceLock;
use std::time::SystemTime;

use mdm_enrollment::enroll_id;
use mdm_proto::plist::Dictionary;
use mdm_proto::{CheckIn, CommandReport, ErrorChainEntry};
use mdm_signature::{CaPool, CertVerifier, certificate_from_header, verify_mdm_signature};
use mdm_sim::{
    CHECK_IN_CONTENT_TYPE, COMMAND_CONTENT_TYPE, CertHeaderEncoding, CertPresentation, Channel,
    Device, DeviceKind, Identity, KeyKind, MDM_SIGNATURE, MdmClient, MdmPayload, Message, Report,
    Request, TestCa,
};

const SERVER_URL: &str = "https://mdm.example/mdm";
const CHECK_IN_URL: &str = "https://mdm.example/checkin";
const TOPIC: &str = "com.apple.mgmt.External.2a5e7d4c-3b1f-4f7e-9c6d-8e1a0b2c3d4e";

/// One CA for the file, with an RSA-2048 and a P-256 identity (RSA generation is slow).
fn pki() -> &'static (TestCa, Identity, Identity) {
    static PKI: OnceLock<(TestCa, Identity, Identity)> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = TestCa::generate(KeyKind::P256, "Simulator Test CA").unwrap();
        let rsa = Identity::issue(&ca, KeyKind::Rsa2048, "rsa-device").unwrap();
        let p256 = Identity::issue(&ca, KeyKind::P256, "p256-device").unwrap();
        (ca, rsa, p256)
    })
}

fn every_message() -> Vec<Message> {
    vec![
        Message::Authenticate,
        Message::TokenUpdate,
        Message::CheckOut,
        Message::UserAuthenticate {
            digest_response: None,
        },
        Message::UserAuthenticate {
            digest_response: Some("digest".into()),
        },
        Message::SetBootstrapToken {
            bootstrap_token: Some(b"bootstrap".to_vec()),
        },
        Message::SetBootstrapToken {
            bootstrap_token: None,
        },
        Message::GetBootstrapToken,
        Message::DeclarativeManagement {
            endpoint: "status".into(),
            data: Some(br#"{"StatusItems":{}}"#.to_vec()),
        },
        Message::GetToken {
            token_service_type: "com.apple.maid".into(),
            token_parameters: Some(Dictionary::new()),
        },
        Message::ReturnToService,
        Message::Report(Report::idle()),
        Message::Report(Report::acknowledged("uuid-1", Dictionary::new())),
        Message::Report(Report::not_now("uuid-2")),
        Message::Report(Report::error(
            "uuid-3",
            vec![{
                let mut entry = ErrorChainEntry::new(4, "MCProfileErrorDomain");
                entry.localized_description = Some("nope".into());
                entry
            }],
        )),
        Message::Report(Report::command_format_error("uuid-4", Vec::new())),
    ]
}

fn client(kind: DeviceKind, seed: u64, identity: &Identity, how: CertPresentation) -> MdmClient {
    let payload = MdmPayload::new(SERVER_URL, TOPIC).with_check_in_url(CHECK_IN_URL);
    MdmClient::new(Device::generate(kind, seed), payload).with_identity(identity.clone(), how)
}

fn signed(client: &MdmClient, channel: Channel, message: &Message) -> Request {
    client
        .sign(client.build_request(channel, message).unwrap())
        .unwrap()
}

#[test]
fn every_message_of_every_kind_decodes_and_its_signature_verifies() {
    let (ca, rsa, p256) = pki();
    let pool = CaPool::from_pem(ca.cert_pem()).unwrap();
    for (seed, kind) in DeviceKind::ALL.into_iter().enumerate() {
        for identity in [rsa, p256] {
            let client = client(kind, seed as u64, identity, CertPresentation::MdmSignature);
            for channel in client.device().channels() {
                let expected_keys = client.device().enrollment(channel).unwrap();
                let expected_id = client.device().enroll_id(channel).unwrap();
                for message in every_message() {
                    let request = signed(&client, channel, &message);
                    let what = format!("{kind:?} {channel:?} {}", message.name());

                    // The identity: Mdm-Signature over exactly this body, by this certificate,
                    // issued by the CA the server is given.
                    let header = request.headers().get(MDM_SIGNATURE).expect(&what);
                    let cert = verify_mdm_signature(header.as_bytes(), request.body())
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(&cert, identity.certificate(), "{what}");
                    pool.verify_cert(&cert, SystemTime::now()).unwrap();

                    let content_type = request.headers()["content-type"].to_str().unwrap();
                    let enrollment = if message.is_check_in() {
                        assert_eq!(content_type, CHECK_IN_CONTENT_TYPE, "{what}");
                        assert_eq!(request.url(), CHECK_IN_URL, "{what}");
                        let check_in = CheckIn::decode(request.body().clone())
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        assert_eq!(check_in.message_type(), message.name(), "{what}");
                        check_in.enrollment().clone()
                    } else {
                        assert_eq!(content_type, COMMAND_CONTENT_TYPE, "{what}");
                        assert_eq!(request.url(), SERVER_URL, "{what}");
                        let report = CommandReport::decode(request.body().clone())
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        let Message::Report(sent) = &message else {
                            unreachable!()
                        };
                        assert_eq!(report.status, sent.status, "{what}");
                        assert_eq!(report.command_uuid, sent.command_uuid, "{what}");
                        assert_eq!(report.error_chain, sent.error_chain, "{what}");
                        report.enrollment.clone()
                    };
                    assert_eq!(enrollment, expected_keys, "{what}");
                    assert_eq!(enroll_id(&enrollment).unwrap(), expected_id, "{what}");
                    assert_eq!(request.channel(), channel);
                    assert_eq!(request.name(), message.name());
                }
            }
        }
    }
}

#[test]
fn check_ins_carry_the_device_facts_a_real_device_sends() {
    let (_, _, p256) = pki();
    for kind in DeviceKind::ALL {
        let client = client(kind, 11, p256, CertPresentation::MdmSignature);
        let d = client.device();
        let auth = signed(&client, Channel::Device, &Message::Authenticate);
        let CheckIn::Authenticate(auth) = CheckIn::decode(auth.body().clone())
            .unwrap()
            .value()
            .clone()
        else {
            panic!("not an Authenticate");
        };
        assert_eq!(auth.topic, TOPIC);
        assert_eq!(auth.os_version.as_ref(), Some(&d.os_version));
        assert_eq!(auth.build_version.as_ref(), Some(&d.build_version));
        assert_eq!(auth.product_name.as_ref(), Some(&d.product_name));
        assert_eq!(auth.model.as_ref(), Some(&d.product_name));
        assert_eq!(auth.model_name.as_ref(), Some(&d.model_name));
        assert_eq!(auth.serial_number, d.serial_number);
        assert_eq!(
            auth.serial_number.is_none(),
            kind == DeviceKind::UserEnrollment
        );
        assert_eq!(auth.imei, d.imei);

        for channel in d.channels() {
            let update = signed(&client, channel, &Message::TokenUpdate);
            let CheckIn::TokenUpdate(update) = CheckIn::decode(update.body().clone())
                .unwrap()
                .value()
                .clone()
            else {
                panic!("not a TokenUpdate");
            };
            let push = d.push(channel).unwrap();
            assert_eq!(update.push.token, push.token);
            assert_eq!(update.push.push_magic, push.push_magic);
            assert_eq!(update.push.topic, TOPIC);
            // Only the device channel of iOS and iPadOS device enrollments escrows an unlock
            // token.
            let unlock = channel == Channel::Device
                && matches!(kind, DeviceKind::Ios | DeviceKind::SharedIpad);
            assert_eq!(
                update.unlock_token.is_some(),
                unlock,
                "{kind:?} {channel:?}"
            );
            assert_eq!(
                update.unlock_token.as_ref().map(|t| t.expose().as_slice()),
                d.unlock_token
                    .as_ref()
                    .filter(|_| unlock)
                    .map(|t| t.as_slice())
            );
        }
    }
}

#[test]
fn the_user_channel_of_a_device_without_one_is_an_error() {
    let (_, _, p256) = pki();
    let client = client(DeviceKind::Ios, 1, p256, CertPresentation::MdmSignature);
    let err = client
        .build_request(Channel::User, &Message::TokenUpdate)
        .unwrap_err();
    assert!(
        matches!(err, mdm_sim::Error::NoUserChannel(DeviceKind::Ios)),
        "{err}"
    );
}

#[test]
fn proxy_headers_carry_the_certificate_in_both_encodings() {
    let (_, rsa, _) = pki();
    for encoding in [CertHeaderEncoding::EscapedPem, CertHeaderEncoding::Rfc9440] {
        let how = CertPresentation::Header {
            name: "x-ssl-client-cert".parse().unwrap(),
            encoding,
        };
        let client = client(DeviceKind::MacOs, 3, rsa, how);
        let request = signed(&client, Channel::User, &Message::TokenUpdate);
        assert!(request.headers().get(MDM_SIGNATURE).is_none());
        let value = request.headers()["x-ssl-client-cert"].as_bytes();
        assert_eq!(
            value.first() == Some(&b':'),
            encoding == CertHeaderEncoding::Rfc9440
        );
        let cert = certificate_from_header(value).unwrap();
        assert_eq!(&cert, rsa.certificate(), "{encoding:?}");
    }

    let client = client(DeviceKind::MacOs, 3, rsa, CertPresentation::Omitted);
    let request = signed(&client, Channel::Device, &Message::Authenticate);
    assert_eq!(request.headers().len(), 1, "only Content-Type");
}

#[test]
fn presigned_requests_clone_cheaply_and_stay_valid() {
    let (_, _, p256) = pki();
    let client = client(
        DeviceKind::SharedIpad,
        5,
        p256,
        CertPresentation::MdmSignature,
    );
    let idle = signed(&client, Channel::User, &Message::Report(Report::idle()));
    let copy = idle.clone();
    // The body is shared, not copied.
    assert_eq!(copy.body().as_ptr(), idle.body().as_ptr());
    let header = copy.headers().get(MDM_SIGNATURE).unwrap();
    assert_eq!(
        &verify_mdm_signature(header.as_bytes(), copy.body()).unwrap(),
        p256.certificate()
    );
    // A clone for a tower service needs no network either.
    let http = copy.to_http().unwrap();
    assert_eq!(http.method(), "PUT");
    assert_eq!(http.uri(), SERVER_URL);
    assert_eq!(http.headers()[MDM_SIGNATURE], *header);
    assert_eq!(http.body(), idle.body());
}

#[test]
fn the_default_signature_has_the_shape_devices_send() {
    let (_, rsa, _) = pki();
    let header = rsa.mdm_signature(b"body").unwrap();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(header)
        .unwrap();
    // BER with an indefinite length on the outer ContentInfo, as captured from devices.
    assert_eq!(&der[..2], &[0x30, 0x80]);
    // SHA-1 (1.3.14.3.2.26) is the digest algorithm.
    let sha1_oid = [0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a];
    assert!(der.windows(sha1_oid.len()).any(|w| w == sha1_oid));
}

#[test]
fn identities_round_trip_through_pem() {
    let (ca, rsa, _) = pki();
    let loaded = Identity::from_pem(rsa.cert_pem(), rsa.key_pem()).unwrap();
    assert_eq!(loaded.certificate(), rsa.certificate());
    let header = loaded.mdm_signature(b"x").unwrap();
    assert_eq!(
        &verify_mdm_signature(&header, b"x").unwrap(),
        rsa.certificate()
    );

    // A CA loaded from PEM issues identities that chain to it.
    let ca2 = TestCa::from_pem(&ca.cert_pem(), &ca.key_pem()).unwrap();
    let issued = Identity::issue(&ca2, KeyKind::P256, "from-loaded-ca").unwrap();
    CaPool::from_pem(ca.cert_pem())
        .unwrap()
        .verify_cert(issued.certificate(), SystemTime::now())
        .unwrap();
    assert!(Identity::from_pem("not pem", "nor this").is_err());
}
