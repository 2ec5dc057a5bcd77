//! The APNs client against `MockApns`: real HTTP/2 over TLS with client certificates, on loopback.

#![cfg(feature = "mock")]

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use mdm_push::mock::{Disconnect, MockApns, MockReply};
use mdm_push::{
    ApnsClient, ApnsConfig, Environment, Expiration, PushCertificate, PushError, Reason,
};
use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

const TOPIC: &str = "com.apple.mgmt.External.5f1d1a3e-1c1b-4a5e-9d43-7a4b1f6c2e10";

async fn mock_and_cert() -> (MockApns, PushCertificate) {
    let mock = MockApns::start().await.unwrap();
    let issued = mock.issue_push_certificate(TOPIC).unwrap();
    let cert = PushCertificate::from_pem(&issued.cert_pem, &issued.key_pem).unwrap();
    (mock, cert)
}

fn token(i: u32) -> Vec<u8> {
    let mut t = vec![0xab; 32];
    t[..4].copy_from_slice(&i.to_be_bytes());
    t
}

#[tokio::test]
async fn success_returns_apns_id_and_sends_what_apns_expects() {
    let (mock, cert) = mock_and_cert().await;
    let config = mock
        .config()
        .expiration(Expiration::After(Duration::from_secs(3600)));
    let client = ApnsClient::new(&cert, &config).unwrap();
    assert_eq!(client.topic(), TOPIC);

    let magic = "5F2B-\"quoted\"\\-\u{e9}";
    let id = client.push(&token(1), magic).await.unwrap();

    let pushes = mock.pushes();
    assert_eq!(pushes.len(), 1);
    let p = &pushes[0];
    assert_eq!(p.apns_id, id.as_str());
    assert!(!id.as_str().is_empty());
    assert_eq!(p.token_hex, hex::encode(token(1)));
    assert_eq!(p.topic, TOPIC);
    assert_eq!(p.push_magic, magic, "push magic survives JSON escaping");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = p.expiration.expect("apns-expiration sent");
    assert!(exp > now && exp <= now + 3601);
    assert_eq!(p.connection, 1);
}

#[tokio::test]
async fn every_apns_reason_becomes_a_typed_error() {
    let (mock, cert) = mock_and_cert().await;
    let client = ApnsClient::new(&cert, &mock.config()).unwrap();

    for reason in Reason::all() {
        mock.set_reply(MockReply::reject(reason.clone()));
        let err = client.push(&token(2), "m").await.unwrap_err();
        match &err {
            PushError::Rejected {
                status,
                reason: got,
                timestamp,
                apns_id,
            } => {
                assert_eq!(got, &reason);
                assert_eq!(*status, reason.status());
                assert_eq!(*timestamp, None);
                assert!(apns_id.is_some());
            }
            other => panic!("{reason}: unexpected {other:?}"),
        }
        assert!(err.to_string().contains(reason.as_str()));
    }

    // Unregistered carries the time APNs learned the token was invalid.
    let since = SystemTime::UNIX_EPOCH + Duration::from_millis(1_720_000_000_456);
    mock.set_reply(MockReply::unregistered(since));
    let err = client.push(&token(2), "m").await.unwrap_err();
    assert!(matches!(
        &err,
        PushError::Rejected { status: 410, reason: Reason::Unregistered, timestamp: Some(t), .. } if *t == since
    ));
    assert!(err.is_token_invalid());

    // A reason newer than this crate is kept verbatim.
    mock.set_reply(MockReply::reject(Reason::Other("BrandNewReason".into())));
    let err = client.push(&token(2), "m").await.unwrap_err();
    assert_eq!(err.reason(), Some(&Reason::Other("BrandNewReason".into())));

    // Something that is not APNs (a proxy's HTML page) is reported, not parsed into nonsense.
    mock.set_reply(MockReply::Raw {
        status: 502,
        body: b"<html>Bad Gateway</html>".to_vec(),
    });
    let err = client.push(&token(2), "m").await.unwrap_err();
    assert!(matches!(
        err,
        PushError::UnexpectedResponse { status: 502, .. }
    ));
    assert!(err.is_retryable());

    mock.clear_replies();
    client.push(&token(2), "m").await.unwrap();
    assert_eq!(
        mock.connections_accepted(),
        1,
        "errors do not cost the connection"
    );
}

#[tokio::test]
async fn per_token_replies_only_affect_that_token() {
    let (mock, cert) = mock_and_cert().await;
    let client = ApnsClient::new(&cert, &mock.config()).unwrap();
    mock.set_reply_for_token(&token(7), MockReply::reject(Reason::BadDeviceToken));
    assert!(client.push(&token(6), "m").await.is_ok());
    let err = client.push(&token(7), "m").await.unwrap_err();
    assert_eq!(err.reason(), Some(&Reason::BadDeviceToken));
    assert!(err.is_token_invalid());
}

#[tokio::test]
async fn client_certificate_from_unknown_ca_is_refused() {
    let mock = MockApns::start().await.unwrap();
    // Same topic, but self-signed rather than issued by the CA the server trusts.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
        DnValue::Utf8String(TOPIC.into()),
    );
    let rogue = params.self_signed(&key).unwrap();
    let cert = PushCertificate::from_pem(rogue.pem(), key.serialize_pem()).unwrap();
    let client = ApnsClient::new(&cert, &mock.config()).unwrap();

    let err = client.push(&token(1), "m").await.unwrap_err();
    assert!(matches!(err, PushError::Tls { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("UnknownCA"), "the TLS alert is named: {text}");
    let chain = format!("{err:?}");
    assert!(
        !chain.contains(&hex::encode(token(1))),
        "the device token stays out of errors: {chain}"
    );
    assert_eq!(mock.push_count(), 0);
    assert!(mock.handshake_failures() >= 1);
    assert_eq!(mock.connections_accepted(), 0);
}

#[tokio::test]
async fn untrusted_server_certificate_is_refused() {
    let (mock, cert) = mock_and_cert().await;
    // The platform roots do not include the mock's test CA.
    let config = ApnsConfig::new(Environment::Custom(mock.base_url()));
    let client = ApnsClient::new(&cert, &config).unwrap();
    let err = client.push(&token(1), "m").await.unwrap_err();
    assert!(matches!(err, PushError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert_eq!(mock.push_count(), 0);
}

#[tokio::test]
async fn push_certificate_for_another_topic_is_refused_by_topic_check() {
    let mock = MockApns::start().await.unwrap();
    let issued = mock
        .issue_push_certificate("com.apple.mgmt.External.other")
        .unwrap();
    let cert = PushCertificate::from_pem(&issued.cert_pem, &issued.key_pem).unwrap();
    // The client always sends its own certificate's topic, so the mock accepts it; this guards
    // the client against ever sending someone else's.
    let client = ApnsClient::new(&cert, &mock.config()).unwrap();
    client.push(&token(1), "m").await.unwrap();
    assert_eq!(mock.pushes()[0].topic, "com.apple.mgmt.External.other");
}

#[tokio::test]
async fn abrupt_close_mid_burst_fails_in_flight_pushes_then_reconnects() {
    let (mock, cert) = mock_and_cert().await;
    let client = ApnsClient::new(&cert, &mock.config()).unwrap();
    mock.disconnect_after(50, Disconnect::Abrupt);

    let results = join_all((0..200).map(|i| {
        let client = client.clone();
        async move { client.push(&token(i), "m").await }
    }))
    .await;

    let failures: Vec<&PushError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        !failures.is_empty(),
        "the request that triggered the close is never answered"
    );
    for e in &failures {
        assert!(
            matches!(
                e,
                PushError::ConnectionLost { .. }
                    | PushError::GoAway { .. }
                    | PushError::StreamReset { .. }
            ),
            "{e:?}"
        );
        assert!(e.is_retryable());
    }
    // Every success is a push the mock really accepted, never a fabricated one.
    let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
    assert!(ok <= mock.push_count(), "{ok} > {}", mock.push_count());

    // The client recovers on a new connection.
    client.push(&token(999), "m").await.unwrap();
    assert!(mock.connections_accepted() >= 2);
}

#[tokio::test]
async fn goaway_mid_burst_fails_only_what_was_sent_then_reconnects() {
    // A stream limit, like APNs has, keeps most of the burst queued in the client: those were
    // never sent, so the HTTP stack replays them on a new connection. Streams the server had
    // received when it sent GOAWAY only see the connection end.
    let mock = MockApns::builder()
        .max_concurrent_streams(10)
        .start()
        .await
        .unwrap();
    let issued = mock.issue_push_certificate(TOPIC).unwrap();
    let cert = PushCertificate::from_pem(&issued.cert_pem, &issued.key_pem).unwrap();
    let client = ApnsClient::new(&cert, &mock.config()).unwrap();
    // INTERNAL_ERROR: not a graceful close.
    mock.disconnect_after(5, Disconnect::GoAway(2));

    let results = join_all((0..100).map(|i| {
        let client = client.clone();
        async move { client.push(&token(i), "m").await }
    }))
    .await;
    let errors: Vec<&PushError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        !errors.is_empty(),
        "the request that triggered GOAWAY is never answered"
    );
    assert!(
        errors.len() <= 10,
        "at most the streams that were open: {errors:#?}"
    );
    for e in &errors {
        assert!(
            matches!(
                e,
                PushError::GoAway { .. } | PushError::ConnectionLost { .. }
            ),
            "{e:?}"
        );
        assert!(e.is_retryable());
    }
    assert!(mock.connections_accepted() >= 2);
    let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
    assert!(ok <= mock.push_count());
}

#[tokio::test]
async fn goaway_before_any_answer_is_reported_as_goaway() {
    let (mock, cert) = mock_and_cert().await;
    let client = ApnsClient::new(&cert, &mock.config()).unwrap();
    mock.goaway_next_connection(11, Reason::Shutdown); // ENHANCE_YOUR_CALM
    let err = client.push(&token(1), "m").await.unwrap_err();
    assert!(matches!(&err, PushError::GoAway { .. }), "{err:?}");
    assert!(err.to_string().contains("GOAWAY"), "{err}");
    assert_eq!(mock.push_count(), 0);
    // The next connection is served normally.
    client.push(&token(1), "m").await.unwrap();
    assert_eq!(mock.connections_accepted(), 2);
}

#[tokio::test]
async fn unanswered_push_times_out() {
    let (mock, cert) = mock_and_cert().await;
    let config = mock.config().request_timeout(Duration::from_millis(300));
    let client = ApnsClient::new(&cert, &config).unwrap();
    mock.set_reply(MockReply::Hold);
    let err = client.push(&token(1), "m").await.unwrap_err();
    assert!(
        matches!(err, PushError::Timeout(d) if d == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn thousand_concurrent_pushes_share_one_connection() {
    let (mock, cert) = mock_and_cert().await;
    let client = ApnsClient::new(&cert, &mock.config()).unwrap();

    let results = join_all((0..1000).map(|i| {
        let client = client.clone();
        async move { client.push(&token(i), &format!("magic-{i}")).await }
    }))
    .await;

    let ids: HashSet<String> = results
        .into_iter()
        .map(|r| r.unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1000, "every push got its own apns-id");
    assert_eq!(mock.push_count(), 1000);
    assert_eq!(mock.connections_accepted(), 1);
    let tokens: HashSet<String> = mock.pushes().into_iter().map(|p| p.token_hex).collect();
    assert_eq!(tokens.len(), 1000);
}

#[tokio::test]
async fn in_flight_pushes_are_bounded() {
    let (mock, cert) = mock_and_cert().await;
    let client = ApnsClient::new(&cert, &mock.config().max_in_flight(8)).unwrap();
    let results = join_all((0..300).map(|i| {
        let client = client.clone();
        async move { client.push(&token(i), "m").await }
    }))
    .await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert!(
        mock.max_concurrent_requests() <= 8,
        "{}",
        mock.max_concurrent_requests()
    );
}

#[tokio::test]
async fn bad_base_url_or_trusted_root_is_refused() {
    let (mock, cert) = mock_and_cert().await;
    let err = ApnsClient::new(
        &cert,
        &ApnsConfig::new(Environment::Custom("http://127.0.0.1:1".into())),
    )
    .unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
    let err = ApnsClient::new(
        &cert,
        &ApnsConfig::new(Environment::Custom("not a url".into())),
    )
    .unwrap_err();
    assert!(matches!(err, mdm_push::ClientError::InvalidBaseUrl { .. }));
    let err = ApnsClient::new(&cert, &mock.config().trusted_root_pem("no pem here")).unwrap_err();
    assert!(
        matches!(err, mdm_push::ClientError::InvalidTrustedRoot(_)),
        "{err}"
    );
}

#[tokio::test]
async fn apple_environments_build_without_connecting() {
    let (mock, cert) = mock_and_cert().await;
    for env in [Environment::Production, Environment::Development] {
        let client = ApnsClient::new(&cert, &ApnsConfig::new(env)).unwrap();
        assert_eq!(client.topic(), TOPIC);
    }
    assert_eq!(mock.connections_accepted(), 0);
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let (mock, cert) = mock_and_cert().await;
    // A port that was free a moment ago and has no listener now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = ApnsConfig::new(Environment::Custom(format!("https://127.0.0.1:{port}")))
        .trusted_root_pem(mock.ca_certificate_pem());
    let client = ApnsClient::new(&cert, &config).unwrap();
    let err = client.push(&token(1), "m").await.unwrap_err();
    assert!(matches!(err, PushError::Connect { .. }), "{err:?}");
    assert!(err.is_retryable());
}
