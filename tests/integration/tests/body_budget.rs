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

    // These two are sent over a socket of their own: the server answers without reading the
    // body and closes the connection, and an HTTP client still writing its body then reports
    // the broken pipe instead of the answer.
    let addr = h.server.base.trim_start_matches("http://").to_owned();
    let path = format!("/v1/enqueue/{id}?nopush=1");
    let body = command_of(2 * KIB * KIB);

    // Declared over the budget (though under the body limit): refused before it is read, so
    // the answer comes with no byte of the body sent.
    let head = enqueue_head(&path, &format!("Content-Length: {}", body.len()));
    let answer = exchange(&addr, head, Vec::new()).await;
    assert_busy_raw(&answer);

    // The same, chunked: refused once what has arrived no longer fits.
    let chunks = body
        .chunks(64 * KIB)
        .map(|c| [format!("{:x}\r\n", c.len()).as_bytes(), c, b"\r\n"].concat())
        .chain([b"0\r\n\r\n".to_vec()])
        .collect();
    let answer = exchange(
        &addr,
        enqueue_head(&path, "Transfer-Encoding: chunked"),
        chunks,
    )
    .await;
    assert_busy_raw(&answer);

    // A slow client holding 700 KiB of the budget: a 500 KiB request does not fit beside it.
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

/// An enqueue's request head with `framing` (its Content-Length or Transfer-Encoding).
fn enqueue_head(path: &str, framing: &str) -> String {
    format!(
        "PUT {path} HTTP/1.1\r\nHost: rootstock\r\nAuthorization: Basic {}\r\n{framing}\r\n\r\n",
        base64_auth()
    )
}

/// Sends `head`, then the `chunks` of a body while the server takes them (a write the server
/// no longer reads is no error here), and returns the head of the server's answer, read
/// meanwhile.
async fn exchange(addr: &str, head: String, chunks: Vec<Vec<u8>>) -> String {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        for chunk in chunks {
            write.write_all(&chunk).await?;
            // Paced, so that the answer is read before the connection is closed under it.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok::<_, std::io::Error>(write)
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read_head = async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_head)
        .await
        .expect("an answer within 10 s");
    writer.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

fn assert_busy_raw(answer: &str) {
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nretry-after: 1\r\n"),
        "{answer}"
    );
}

fn base64_auth() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("nanomdm:{API_KEY}"))
}
