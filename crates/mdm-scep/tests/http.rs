//! The axum adapter's status codes, through the router itself (no socket): 200 for every SCEP
//! answer, refusals included; 400 for what is not SCEP or cannot be decoded; 503 when the
//! challenge policy or the CA is unavailable; 500 when the certificate cannot be built.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{CHALLENGE, Pki, device, pkcs_req};
use mdm_scep::client::RequestOptions;
use mdm_scep::{
    CertificateAuthority, ChallengeError, ChallengePolicy, ChallengeRequest, IssueError,
    IssueRequest, Scep, ServerOptions, StaticChallenge,
};
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Vec<u8>,
) -> (StatusCode, String, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, content_type, body)
}

fn router<P: ChallengePolicy + 'static, C: CertificateAuthority + 'static>(
    pki: &Pki,
    policy: P,
    ca: C,
    options: ServerOptions,
) -> axum::Router {
    let scep = Scep::new(
        pki.ca.scep_identity().unwrap(),
        &pki.ca.chain(),
        policy,
        ca,
        options,
    )
    .unwrap();
    axum::Router::new().nest_service("/scep", mdm_scep::http::router(Arc::new(scep)))
}

#[tokio::test]
async fn answers_and_refusals_are_200_and_malformed_requests_400() {
    let pki = Pki::rsa();
    let app = router(
        &pki,
        StaticChallenge::new(CHALLENGE),
        pki.ca.clone(),
        ServerOptions::default().max_message_len(32 * 1024),
    );
    let (s, ct, body) = call(&app, "GET", "/scep?operation=GetCACaps", vec![]).await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "text/plain"));
    assert!(String::from_utf8(body).unwrap().contains("SCEPStandard"));
    let (s, ct, body) = call(&app, "GET", "/scep?operation=GetCACert&message=0", vec![]).await;
    assert_eq!(
        (s, ct.as_str(), body),
        (
            StatusCode::OK,
            "application/x-x509-ca-cert",
            pki.exchange_der.clone()
        )
    );

    let dev = device("http");
    let good = pkcs_req(
        &pki,
        &dev,
        "http",
        Some(CHALLENGE),
        &RequestOptions::default(),
    );
    let (s, ct, _) = call(
        &app,
        "POST",
        "/scep?operation=PKIOperation",
        good.message.clone(),
    )
    .await;
    assert_eq!(
        (s, ct.as_str()),
        (StatusCode::OK, "application/x-pki-message")
    );
    // A refusal is a CertRep: 200.
    let wrong = pkcs_req(
        &pki,
        &dev,
        "http",
        Some("wrong"),
        &RequestOptions::default(),
    );
    let (s, ct, _) = call(&app, "POST", "/scep?operation=PKIOperation", wrong.message).await;
    assert_eq!(
        (s, ct.as_str()),
        (StatusCode::OK, "application/x-pki-message")
    );

    for (method, uri, body, says) in [
        (
            "POST",
            "/scep?operation=PKIOperation",
            vec![0x30; 32 * 1024 + 1],
            "limit is 32768",
        ),
        (
            "POST",
            "/scep?operation=PKIOperation",
            good.message[..good.message.len() / 3].to_vec(),
            "malformed",
        ),
        (
            "POST",
            "/scep?operation=PKIOperation",
            b"hello".to_vec(),
            "malformed",
        ),
        ("POST", "/scep?operation=PKIOperation", vec![], "no message"),
        (
            "GET",
            "/scep?operation=PKIOperation&message=%%",
            vec![],
            "base64",
        ),
        (
            "GET",
            "/scep?operation=GetNextCACert",
            vec![],
            "not supported",
        ),
        ("GET", "/scep?operation=Hello", vec![], "unknown operation"),
        ("GET", "/scep", vec![], "no operation"),
        (
            "PUT",
            "/scep?operation=GetCACaps",
            vec![],
            "does not accept",
        ),
    ] {
        let (s, ct, body) = call(&app, method, uri, body).await;
        let text = String::from_utf8(body).unwrap();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{method} {uri}: {text}");
        assert!(ct.starts_with("text/plain"), "{ct}");
        assert!(text.contains(says), "{method} {uri}: {text}");
    }
}

struct Unavailable;

impl ChallengePolicy for Unavailable {
    async fn check(&self, _: &ChallengeRequest<'_>) -> Result<(), ChallengeError> {
        Err(ChallengeError::Unavailable(
            "the challenge store is down".into(),
        ))
    }
}

struct BrokenCa;

impl CertificateAuthority for BrokenCa {
    async fn issue(&self, _: &IssueRequest<'_>) -> Result<Vec<u8>, IssueError> {
        Err(IssueError::Build)
    }
}

struct RemoteCaDown;

impl CertificateAuthority for RemoteCaDown {
    async fn issue(&self, _: &IssueRequest<'_>) -> Result<Vec<u8>, IssueError> {
        Err(IssueError::Unavailable("connection refused".into()))
    }
}

#[tokio::test]
async fn backend_failures_are_503_and_500() {
    let pki = Pki::rsa();
    let dev = device("backend");
    let msg = pkcs_req(
        &pki,
        &dev,
        "backend",
        Some(CHALLENGE),
        &RequestOptions::default(),
    )
    .message;
    let post = |app: axum::Router, msg: Vec<u8>| async move {
        call(&app, "POST", "/scep?operation=PKIOperation", msg)
            .await
            .0
    };
    let opts = ServerOptions::default;
    assert_eq!(
        post(
            router(&pki, Unavailable, pki.ca.clone(), opts()),
            msg.clone()
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        post(
            router(&pki, StaticChallenge::new(CHALLENGE), RemoteCaDown, opts()),
            msg.clone()
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        post(
            router(&pki, StaticChallenge::new(CHALLENGE), BrokenCa, opts()),
            msg
        )
        .await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
