//! `Pusher` with the in-memory store and `MockApns`: enrollment ids in, per-id results out.

use std::sync::Arc;

use bytes::Bytes;
use mdm_enrollment::enroll_id;
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{CheckIn, Enrollment};
use mdm_push::mock::{MockApns, MockReply};
use mdm_push::{PushError, Reason};
use mdm_service::{PushFailure, Pusher};
use mdm_storage::{CheckInStore, DynStorage, MemoryStore, PushCertStore};
use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

const TOPIC: &str = "com.apple.mgmt.External.3e0c7d55-8d2a-4f7e-a0a4-1c9b2e6f5d44";
const OTHER_TOPIC: &str = "com.apple.mgmt.External.b1f0e3aa-2c4d-4e6f-8a9b-0c1d2e3f4a5b";

fn plist(entries: &[(&str, Value)]) -> Bytes {
    let mut dict = Dictionary::new();
    for (k, v) in entries {
        dict.insert((*k).to_owned(), v.clone());
    }
    let mut xml = Vec::new();
    Value::Dictionary(dict).to_writer_xml(&mut xml).unwrap();
    Bytes::from(xml)
}

fn token_of(udid: &str) -> Vec<u8> {
    let mut t = udid.as_bytes().to_vec();
    t.resize(32, 0x5a);
    t
}

fn magic_of(udid: &str) -> String {
    format!("magic-{udid}")
}

/// Authenticate + TokenUpdate, as a device enrolling with `topic` would send them.
async fn enroll(store: &MemoryStore, udid: &str, topic: &str) {
    let id = enroll_id(&Enrollment::device(udid)).unwrap();
    let s = |v: &str| Value::String(v.to_owned());
    let raw = plist(&[
        ("MessageType", s("Authenticate")),
        ("UDID", s(udid)),
        ("Topic", s(topic)),
    ]);
    let CheckIn::Authenticate(msg) = CheckIn::decode(raw.clone()).unwrap().into_parts().0 else {
        panic!("not an Authenticate")
    };
    store
        .store_authenticate(&id, &msg, &raw, None)
        .await
        .unwrap();
    let raw = plist(&[
        ("MessageType", s("TokenUpdate")),
        ("UDID", s(udid)),
        ("Topic", s(topic)),
        ("PushMagic", s(&magic_of(udid))),
        ("Token", Value::Data(token_of(udid))),
    ]);
    let CheckIn::TokenUpdate(msg) = CheckIn::decode(raw.clone()).unwrap().into_parts().0 else {
        panic!("not a TokenUpdate")
    };
    store.store_token_update(&id, &msg, &raw).await.unwrap();
}

async fn store_issued_cert(store: &MemoryStore, mock: &MockApns, topic: &str) {
    let issued = mock.issue_push_certificate(topic).unwrap();
    store
        .store_push_cert(topic, &issued.cert_pem, &issued.key_pem)
        .await
        .unwrap();
}

fn ids(list: &[&str]) -> Vec<mdm_storage::EnrollmentId> {
    list.iter().map(|&s| s.into()).collect()
}

#[tokio::test]
async fn pushes_known_ids_and_reports_unknown_ids_per_id() {
    let mock = MockApns::start().await.unwrap();
    let store = Arc::new(MemoryStore::new());
    store_issued_cert(&store, &mock, TOPIC).await;
    enroll(&store, "DEV-A", TOPIC).await;
    enroll(&store, "DEV-B", TOPIC).await;
    let pusher = Pusher::new(store.clone(), mock.config());

    let results = pusher
        .push(&ids(&["DEV-A", "nobody", "DEV-B", "DEV-A"]))
        .await
        .unwrap();

    assert_eq!(results.len(), 3, "one entry per distinct id");
    let pushes = mock.pushes();
    assert_eq!(pushes.len(), 2, "a duplicate id is pushed once");
    for udid in ["DEV-A", "DEV-B"] {
        let apns_id = results[udid].as_ref().unwrap();
        let recorded = pushes
            .iter()
            .find(|p| p.apns_id == apns_id.as_str())
            .unwrap();
        assert_eq!(recorded.token_hex, hex::encode(token_of(udid)));
        assert_eq!(recorded.push_magic, magic_of(udid));
        assert_eq!(recorded.topic, TOPIC);
    }
    let unknown = results["nobody"].as_ref().unwrap_err();
    assert!(matches!(unknown, PushFailure::NoPushInfo));
    assert_eq!(unknown.to_string(), "no push info for this enrollment id");
}

#[tokio::test]
async fn certificate_rotation_is_picked_up_without_restart() {
    let mock = MockApns::start().await.unwrap();
    let store = Arc::new(MemoryStore::new());
    store_issued_cert(&store, &mock, TOPIC).await;
    enroll(&store, "DEV-A", TOPIC).await;
    let pusher = Pusher::new(store.clone(), mock.config());
    let a = ids(&["DEV-A"]);

    pusher.push(&a).await.unwrap()["DEV-A"].as_ref().unwrap();
    pusher.push(&a).await.unwrap()["DEV-A"].as_ref().unwrap();
    assert_eq!(
        mock.connections_accepted(),
        1,
        "unchanged certificate: client reused"
    );

    // Rotate to a certificate APNs does not accept: the very next push uses it and fails.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
        DnValue::Utf8String(TOPIC.into()),
    );
    let rogue = params.self_signed(&key).unwrap();
    store
        .store_push_cert(TOPIC, &rogue.pem(), &key.serialize_pem())
        .await
        .unwrap();
    let failure = pusher.push(&a).await.unwrap().remove("DEV-A").unwrap();
    match failure {
        Err(PushFailure::Push(e)) => assert!(matches!(*e, PushError::Tls { .. }), "{e:?}"),
        other => panic!("expected a TLS failure, got {other:?}"),
    }

    // Rotate to a good one again: a new client, a new connection, success.
    store_issued_cert(&store, &mock, TOPIC).await;
    pusher.push(&a).await.unwrap()["DEV-A"].as_ref().unwrap();
    assert_eq!(mock.connections_accepted(), 2);
    assert_eq!(mock.push_count(), 3);
}

#[tokio::test]
async fn certificate_problems_are_reported_for_each_id_of_the_topic() {
    let mock = MockApns::start().await.unwrap();
    let store = Arc::new(MemoryStore::new());
    store_issued_cert(&store, &mock, TOPIC).await;
    enroll(&store, "DEV-A", TOPIC).await;
    enroll(&store, "DEV-X", OTHER_TOPIC).await;
    enroll(&store, "DEV-Y", OTHER_TOPIC).await;
    let pusher = Pusher::new(store.clone(), mock.config());
    let all = ids(&["DEV-A", "DEV-X", "DEV-Y"]);

    // No certificate for the other topic: its ids fail, DEV-A does not.
    let results = pusher.push(&all).await.unwrap();
    assert!(results["DEV-A"].is_ok());
    for id in ["DEV-X", "DEV-Y"] {
        let e = results[id].as_ref().unwrap_err();
        assert!(matches!(e, PushFailure::NoPushCert { topic } if topic == OTHER_TOPIC));
        assert!(e.to_string().contains(OTHER_TOPIC));
    }

    // A certificate that does not parse.
    store
        .store_push_cert(OTHER_TOPIC, "not a certificate", "not a key")
        .await
        .unwrap();
    let results = pusher.push(&all).await.unwrap();
    assert!(matches!(
        results["DEV-X"],
        Err(PushFailure::InvalidPushCert { .. })
    ));

    // A certificate for another topic stored under this one.
    let issued = mock.issue_push_certificate(TOPIC).unwrap();
    store
        .store_push_cert(OTHER_TOPIC, &issued.cert_pem, &issued.key_pem)
        .await
        .unwrap();
    let results = pusher.push(&all).await.unwrap();
    assert!(matches!(
        &results["DEV-Y"],
        Err(PushFailure::TopicMismatch { cert_topic, .. }) if cert_topic == TOPIC
    ));

    // Fixed: both topics push, each over its own connection.
    store_issued_cert(&store, &mock, OTHER_TOPIC).await;
    let results = pusher.push(&all).await.unwrap();
    assert!(results.values().all(Result::is_ok), "{results:?}");
    let topics: std::collections::HashSet<String> =
        mock.pushes().into_iter().map(|p| p.topic).collect();
    assert!(topics.contains(OTHER_TOPIC));
}

#[tokio::test]
async fn apns_errors_are_per_id() {
    let mock = MockApns::start().await.unwrap();
    let store = Arc::new(MemoryStore::new());
    store_issued_cert(&store, &mock, TOPIC).await;
    enroll(&store, "DEV-A", TOPIC).await;
    enroll(&store, "DEV-B", TOPIC).await;
    mock.set_reply_for_token(&token_of("DEV-B"), MockReply::reject(Reason::Unregistered));
    let pusher = Pusher::new(store, mock.config());

    let results = pusher.push(&ids(&["DEV-A", "DEV-B"])).await.unwrap();
    assert!(results["DEV-A"].is_ok());
    let e = results["DEV-B"].as_ref().unwrap_err();
    match e {
        PushFailure::Push(push) => {
            assert_eq!(push.reason(), Some(&Reason::Unregistered));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("410 Unregistered"), "{e}");
}

#[tokio::test]
async fn works_behind_dynamic_dispatch_and_its_future_is_send() {
    let mock = MockApns::start().await.unwrap();
    let memory = Arc::new(MemoryStore::new());
    store_issued_cert(&memory, &mock, TOPIC).await;
    enroll(&memory, "DEV-A", TOPIC).await;
    let pusher = Arc::new(Pusher::new(
        DynStorage::from_arc(memory.clone()),
        mock.config(),
    ));

    // A server spawns pushes onto a multi-threaded runtime.
    let task = tokio::spawn({
        let pusher = pusher.clone();
        async move { pusher.push(&ids(&["DEV-A"])).await }
    });
    let results = task.await.unwrap().unwrap();
    assert!(results["DEV-A"].is_ok());
}

#[tokio::test]
async fn no_ids_is_no_work() {
    let mock = MockApns::start().await.unwrap();
    let pusher = Pusher::new(MemoryStore::new(), mock.config());
    assert!(pusher.push(&[]).await.unwrap().is_empty());
    assert_eq!(mock.connections_accepted(), 0);
}
