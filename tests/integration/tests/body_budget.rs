//! The body budget (`-body-budget`): request bodies in flight share one bound, and a request that
//! does not fit gets 503 with `Retry-After` instead of the server holding it.

use std::time::Duration;

use mdm_sim::DeviceKind;
use rootstock_integration_tests::harness::{API_KEY, Harness};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KIB: usize = 1024;

/// A command plist of about `size` bytes (a long string in its payload).
fn command_of(size: usize) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CommandUUID</key>\
         <string>budget</string><key>Command</key><dict><key>RequestType</key>\
         <string>ProfileList</string><key>Pad</key><string>{}</string></dict></dict></plist>",
        "x".repeat(size)
    )
    .into_bytes()
}

fn assert_busy(response: &reqwest::Response) {
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_budget_get_503_and_the_budget_comes_back() {
    let mut h = Harness::start(&["-body-budget", "1MiB", "-body-timeout", "3s"]).await;
    let client = h.enrolled(DeviceKind::Ios).await;
    let id = rootstock_integration_tests::harness::id(&client, mdm_sim::Channel::Device);
    let enqueue = |body: reqwest::Body| {
        h.api(reqwest::Method::PUT, &format!("/v1/enqueue/{id}?nopush=1"))
            .body(body)
    };

    // Declared over the budget (though under the body limit): refused before it is read.
    let response = enqueue(command_of(2 * KIB * KIB).into())
        .send()
        .await
        .unwrap();
    assert_busy(&response);

    // The same, chunked: refused once what has arrived no longer fits.
    let chunks = futures_util::stream::iter(
        command_of(2 * KIB * KIB)
            .chunks(64 * KIB)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = enqueue(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_busy(&response);

    // A slow client holding 700 KiB of the budget: a 500 KiB request does not fit beside it.
    let addr = h.server.base.trim_start_matches("http://").to_owned();
    let mut held = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /v1/enqueue/{id}?nopush=1 HTTP/1.1\r\nHost: rootstock\r\n\
         Authorization: Basic {}\r\nContent-Length: {}\r\n\r\n",
        base64_auth(),
        700 * KIB
    );
    held.write_all(head.as_bytes()).await.unwrap();
    held.write_all(&[b'<'; 1024]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = enqueue(command_of(500 * KIB).into()).send().await.unwrap();
    assert_busy(&response);

    // Its body deadline passes, its reservation ends, and the same request fits.
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), held.read_to_end(&mut answer)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"));
    let response = enqueue(command_of(500 * KIB).into()).send().await.unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    h.stop().await;
}

fn base64_auth() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("nanomdm:{API_KEY}"))
}
