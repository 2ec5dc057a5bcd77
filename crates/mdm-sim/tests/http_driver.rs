//! The reqwest driver against a stub MDM server on loopback, over HTTP and HTTPS.
#![cfg(feature = "http")]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use bytes::Bytes;
use mdm_enrollment::{EnrollmentId, enroll_id};
use mdm_proto::{CheckIn, Command, CommandReport, Raw, Status};
use mdm_signature::verify_mdm_signature;
use mdm_sim::{
    CHECK_IN_CONTENT_TYPE, CertPresentation, Channel, Device, DeviceKind, DriverError, Error,
    Event, HttpDriver, Identity, KeyKind, MdmClient, MdmPayload, TestCa,
};
use tokio::net::{TcpListener, TcpStream};

const TOPIC: &str = "com.apple.mgmt.External.2a5e7d4c-3b1f-4f7e-9c6d-8e1a0b2c3d4e";

/// What the stub saw: (enrollment id, check-in type or report status, command uuid).
type Seen = Vec<(EnrollmentId, String, Option<String>)>;

#[derive(Default)]
struct Stub {
    queue: Mutex<VecDeque<Raw<Command>>>,
    seen: Mutex<Seen>,
}

/// A stand-in for an MDM server: it checks the signature (400 without a good one, as servers
/// do), decodes the body, answers check-ins with an empty 200, and answers reports with the next
/// queued command.
async fn mdm(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let Some(signature) = headers.get("mdm-signature") else {
        return (StatusCode::BAD_REQUEST, "no signature".into());
    };
    if verify_mdm_signature(signature.as_bytes(), &body).is_err() {
        return (StatusCode::BAD_REQUEST, "bad signature".into());
    }
    let check_in =
        headers.get("content-type").map(|v| v.as_bytes()) == Some(CHECK_IN_CONTENT_TYPE.as_bytes());
    if check_in {
        let Ok(message) = CheckIn::decode(body) else {
            return (StatusCode::BAD_REQUEST, "bad check-in".into());
        };
        let id = enroll_id(message.enrollment()).unwrap().id().clone();
        let name = message.message_type().to_owned();
        stub.seen.lock().unwrap().push((id.clone(), name, None));
        return (StatusCode::OK, Bytes::new());
    }
    let Ok(report) = CommandReport::decode(body) else {
        return (StatusCode::BAD_REQUEST, "bad report".into());
    };
    let id = enroll_id(&report.enrollment).unwrap().id().clone();
    let status = report.status.as_str().to_owned();
    stub.seen
        .lock()
        .unwrap()
        .push((id.clone(), status, report.command_uuid.clone()));
    match stub.queue.lock().unwrap().pop_front() {
        Some(command) => (StatusCode::OK, command.bytes().clone()),
        None => (StatusCode::OK, Bytes::new()),
    }
}

fn router(stub: Arc<Stub>) -> Router {
    Router::new().route("/mdm", put(mdm)).with_state(stub)
}

async fn serve_http(stub: Arc<Stub>) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(stub)).await });
    addr
}

fn identity() -> &'static (TestCa, Identity) {
    static PKI: OnceLock<(TestCa, Identity)> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = TestCa::generate(KeyKind::P256, "Simulator Test CA").unwrap();
        let id = Identity::issue(&ca, KeyKind::P256, "device").unwrap();
        (ca, id)
    })
}

fn signed_client(kind: DeviceKind, seed: u64, server_url: &str) -> MdmClient {
    MdmClient::new(
        Device::generate(kind, seed),
        MdmPayload::new(server_url, TOPIC),
    )
    .with_identity(identity().1.clone(), CertPresentation::MdmSignature)
}

#[tokio::test]
async fn devices_enroll_and_answer_commands_over_http() {
    let stub = Arc::new(Stub::default());
    let addr = serve_http(stub.clone()).await;
    let url = format!("http://{addr}/mdm");
    let driver = HttpDriver::new().unwrap();

    let mut mac = signed_client(DeviceKind::MacOs, 1, &url);
    mac.enroll();
    let events = driver.run(&mut mac).await.unwrap();
    assert_eq!(events.len(), 3);
    assert!(mac.is_enrolled(Channel::Device) && mac.is_enrolled(Channel::User));

    stub.queue.lock().unwrap().extend([
        Command::build("CMD-1", "DeviceInformation", Default::default()),
        Command::build("CMD-2", "ProfileList", Default::default()),
    ]);
    mac.check_in(Channel::User);
    let events = driver.run(&mut mac).await.unwrap();
    let summary: Vec<_> = events
        .iter()
        .map(|e| match e {
            Event::Report {
                status,
                next_command,
                ..
            } => (
                status.clone(),
                next_command.as_ref().map(|c| c.request_type.clone()),
            ),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Status::Idle, Some("DeviceInformation".into())),
            (Status::Acknowledged, Some("ProfileList".into())),
            (Status::Acknowledged, None),
        ]
    );

    let device_id = mac.enroll_id(Channel::Device).unwrap().id().clone();
    let user_id = mac.enroll_id(Channel::User).unwrap().id().clone();
    let seen = stub.seen.lock().unwrap().clone();
    let expected: Seen = vec![
        (device_id.clone(), "Authenticate".into(), None),
        (device_id.clone(), "TokenUpdate".into(), None),
        (user_id.clone(), "TokenUpdate".into(), None),
        (user_id.clone(), "Idle".into(), None),
        (user_id.clone(), "Acknowledged".into(), Some("CMD-1".into())),
        (user_id, "Acknowledged".into(), Some("CMD-2".into())),
    ];
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_refusal_and_an_unreachable_server_are_errors_and_leave_the_device_idle() {
    let stub = Arc::new(Stub::default());
    let addr = serve_http(stub.clone()).await;
    let driver = HttpDriver::new().unwrap();

    // Unsigned: the server refuses the Authenticate, and the device sends nothing more.
    let mut unsigned = MdmClient::new(
        Device::generate(DeviceKind::Ios, 2),
        MdmPayload::new(format!("http://{addr}/mdm"), TOPIC),
    );
    unsigned.enroll();
    match driver.run(&mut unsigned).await {
        Err(DriverError::Device(Error::Refused { status, sent, .. })) => {
            assert_eq!((status, sent.as_str()), (400, "Authenticate"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(unsigned.is_idle() && !unsigned.is_enrolled(Channel::Device));
    assert!(stub.seen.lock().unwrap().is_empty());

    // Nothing listens on the port of a listener that was dropped.
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let mut c = signed_client(DeviceKind::Ios, 3, &format!("http://{closed_addr}/mdm"));
    c.enroll();
    assert!(matches!(
        driver.run(&mut c).await,
        Err(DriverError::Transport { .. })
    ));
    assert!(c.is_idle(), "the device gives up until it is woken again");
}

/// A TLS listener for axum: the handshake happens in `accept`.
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves the stub over HTTPS with a certificate from a fresh CA; returns the address and the
/// CA's PEM.
async fn serve_https(stub: Arc<Stub>) -> (SocketAddr, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
    let cert = params.signed_by(&key, &ca).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, router(stub)).await });
    (addr, ca.pem())
}

#[tokio::test]
async fn https_with_a_given_root() {
    let stub = Arc::new(Stub::default());
    let (addr, ca_pem) = serve_https(stub.clone()).await;
    let url = format!("https://{addr}/mdm");

    let driver = HttpDriver::builder()
        .trust_root_pem(ca_pem)
        .build()
        .unwrap();
    let mut c = signed_client(DeviceKind::SharedIpad, 4, &url);
    c.enroll();
    c.check_in(Channel::User);
    let events = driver.run(&mut c).await.unwrap();
    assert_eq!(events.len(), 4);
    assert!(c.is_enrolled(Channel::User));
    let shared_ipad_user = c.enroll_id(Channel::User).unwrap().id().clone();
    assert!(
        stub.seen
            .lock()
            .unwrap()
            .iter()
            .any(|(id, name, _)| *id == shared_ipad_user && name == "Idle")
    );

    // Without the root the server is not trusted.
    let untrusting = HttpDriver::builder()
        .trust_root_pem(identity().0.cert_pem())
        .build()
        .unwrap();
    c.check_in(Channel::Device);
    assert!(matches!(
        untrusting.run(&mut c).await,
        Err(DriverError::Transport { .. })
    ));
}
