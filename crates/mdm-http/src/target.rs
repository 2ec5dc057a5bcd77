//! Request targets longer than the `http` crate's URI limit.
//!
//! `http::Uri` keeps its offsets in `u16`s, so neither it nor hyper accepts a request target of
//! more than 65,534 bytes (hyper answers `414`). Go's server, which NanoMDM runs on, takes a
//! request head of up to 1 MiB, and NanoMDM's API names its enrollment ids in the path: one
//! `/v1/enqueue/` call can carry some 28,000 UUIDs there. [`serve`](crate::serve) closes that gap
//! below hyper:
//!
//! * [`TargetRewriter`] sits between the socket and hyper. It finds each request head (with
//!   `httparse`, the parser hyper uses, so both see the same requests), and when an origin-form
//!   target is too long for `http::Uri` it hands hyper a *stand-in* instead: the target's path cut
//!   after its last `/` within the first 4 KiB (or the whole path, when only the query is long),
//!   with no query. The real target goes to a per-connection queue, tagged with the request's
//!   position on the connection. Bodies are skipped by their `Content-Length`; after a request
//!   whose framing it does not follow (`Transfer-Encoding`, an upgrade, `CONNECT`, anything
//!   unparsable) it passes the rest of the connection through untouched, so hyper alone decides
//!   (and such a connection's later over-long targets get hyper's `414`, as before).
//! * [`TargetSlot::attach`] runs as hyper hands each request over, takes that request's real
//!   target from the queue, checks it with the `http` crate's own rules, and puts what the
//!   stand-in left out in the request's extensions ([`LongTarget`]).
//! * The crate's handlers read the path and query through [`path`] and [`query`], which put the
//!   two back together. The router routes on the stand-in: a prefix of the real path that ends in
//!   `/`, so it reaches the same subtree route (`/v1/enqueue/`, `/v1/push/`, `/authproxy/`) or,
//!   like the real path, no route at all.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use http::{Extensions, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request target `http::Uri` (and so hyper) accepts.
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

/// How much of a long path the stand-in keeps at most (it is cut after a `/` within this).
const STAND_IN_PATH: usize = 4096;

/// Most headers hyper accepts in one request (its default).
const MAX_HEADERS: usize = 100;

/// What the request's URI (a stand-in) leaves out of an over-long request target.
#[derive(Clone, Debug)]
pub(crate) struct LongTarget {
    /// The rest of the path after the stand-in's path.
    rest: Arc<str>,
    /// The query (the stand-in has none).
    query: Option<Arc<str>>,
}

/// The request's path as the client sent it (percent-encoded, relative to where the router is
/// mounted): the URI's path, plus what [`serve`](crate::serve) had to keep out of it.
pub(crate) fn path<'a>(uri: &'a Uri, extensions: &Extensions) -> Cow<'a, str> {
    match extensions.get::<LongTarget>() {
        Some(long) if !long.rest.is_empty() => Cow::Owned(format!("{}{}", uri.path(), long.rest)),
        _ => Cow::Borrowed(uri.path()),
    }
}

/// The request's query as the client sent it (see [`path`]).
pub(crate) fn query<'a>(uri: &'a Uri, extensions: &'a Extensions) -> Option<&'a str> {
    match extensions.get::<LongTarget>() {
        Some(long) => long.query.as_deref(),
        None => uri.query(),
    }
}

/// What a [`TargetRewriter`] did to a request, by its position on the connection.
type Queue = Arc<Mutex<VecDeque<(u64, Rewritten)>>>;

/// A request a [`TargetRewriter`] changed.
#[derive(Debug)]
enum Rewritten {
    /// Its target was replaced by a stand-in; this is the real one.
    Target(String),
    /// Its head was over the limit and replaced by [`TOO_LARGE_STAND_IN`].
    TooLarge,
}

/// What hyper is given instead of a request head over the limit: a request it parses at once,
/// which [`TargetSlot::attach`] then refuses. (hyper's own limit only holds while a head is
/// still arriving; handed one whole, it would parse it however large.)
const TOO_LARGE_STAND_IN: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

/// Wraps a connection's stream; the returned slot matches hyper's requests with their targets.
pub(crate) fn rewrite_long_targets<IO>(
    io: IO,
    max_head: usize,
) -> (TargetRewriter<IO>, TargetSlot) {
    let queue = Queue::default();
    let rewriter = TargetRewriter {
        io,
        state: State::Head,
        head: BytesMut::new(),
        scanned: 0,
        out: BytesMut::new(),
        max_head,
        heads: 0,
        queue: queue.clone(),
        eof: false,
    };
    let slot = TargetSlot {
        queue,
        served: Arc::new(AtomicU64::new(0)),
    };
    (rewriter, slot)
}

/// Hands each request of one connection its real target; cloned into the connection's service.
#[derive(Clone, Debug)]
pub(crate) struct TargetSlot {
    queue: Queue,
    /// Requests hyper has handed over on this connection.
    served: Arc<AtomicU64>,
}

/// Why [`TargetSlot::attach`] refuses a request; [`Refusal::response`] is the answer.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The real target does not fit the stand-in, or is no valid URI.
    InvalidTarget,
    /// The request head is over the limit.
    HeadTooLarge,
}

impl Refusal {
    /// The answer, closing the connection: for an invalid target what hyper answers (an empty
    /// `400`), for a head over the limit what Go's server answers (`431` with its status line
    /// as plain text).
    pub(crate) fn response(&self) -> axum::response::Response {
        use http::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
        let (status, body) = match self {
            Refusal::InvalidTarget => (http::StatusCode::BAD_REQUEST, ""),
            Refusal::HeadTooLarge => (
                http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "431 Request Header Fields Too Large",
            ),
        };
        let mut response = axum::response::Response::new(axum::body::Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if !body.is_empty() {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

impl TargetSlot {
    /// Called once for every request hyper parses on the connection, in order: if the rewriter
    /// gave this one a stand-in, records the rest of its real target in its extensions.
    pub(crate) fn attach<B>(&self, request: &mut http::Request<B>) -> Result<(), Refusal> {
        let index = self.served.fetch_add(1, Ordering::Relaxed);
        let target = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            while queue.front().is_some_and(|(i, _)| *i < index) {
                queue.pop_front();
            }
            match queue.front() {
                Some((i, _)) if *i == index => queue.pop_front().map(|(_, rewritten)| rewritten),
                _ => None,
            }
        };
        let target = match target {
            None => return Ok(()),
            Some(Rewritten::TooLarge) => return Err(Refusal::HeadTooLarge),
            Some(Rewritten::Target(target)) => target,
        };
        let long = split_target(&target, request.uri().path())?;
        request.extensions_mut().insert(long);
        Ok(())
    }
}

/// `target` (which must start with `stand_in`, and follow the `http` crate's rules for a path
/// and query) as what the stand-in leaves out. A fragment is dropped, as `http::Uri` does.
fn split_target(target: &str, stand_in: &str) -> Result<LongTarget, Refusal> {
    let target = target.split_once('#').map_or(target, |(before, _)| before);
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let rest = path.strip_prefix(stand_in).ok_or(Refusal::InvalidTarget)?;
    // The `http` crate's checks, a piece at a time (each piece well under its length limit).
    let valid = |prefix: &str, text: &str| {
        chunks(text, MAX_URI_LEN / 2).all(|chunk| {
            http::uri::PathAndQuery::try_from(format!("{prefix}{chunk}").as_str()).is_ok()
        })
    };
    if !valid("/", rest) || !query.is_none_or(|q| valid("/?", q)) {
        return Err(Refusal::InvalidTarget);
    }
    Ok(LongTarget {
        rest: rest.into(),
        query: query.map(Into::into),
    })
}

/// `text` in pieces of at most `max` bytes, cut at character boundaries.
fn chunks(text: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        // At least one character, whatever `max` is, so that the iteration ends.
        let first = rest.chars().next().map_or(0, char::len_utf8);
        let end = rest.floor_char_boundary(max).max(first);
        let (chunk, tail) = rest.split_at_checked(end)?;
        rest = tail;
        Some(chunk)
    })
}

/// Where the rewriter is in the byte stream of requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a request head.
    Head,
    /// Passing on this many more bytes of a body.
    Body(u64),
    /// Passing everything on unchanged from here on.
    Passthrough,
    /// A head over the limit was replaced: nothing more is read (the answer closes the
    /// connection).
    Refused,
}

/// A connection's stream as hyper reads it: over-long request targets replaced by stand-ins
/// (see the module docs). Writes go straight through.
#[derive(Debug)]
pub(crate) struct TargetRewriter<IO> {
    io: IO,
    state: State,
    /// The request head read so far (in [`State::Head`]).
    head: BytesMut,
    /// How much of `head` has been searched for the head's end.
    scanned: usize,
    /// Bytes ready for hyper.
    out: BytesMut,
    max_head: usize,
    /// Request heads seen on the connection.
    heads: u64,
    queue: Queue,
    eof: bool,
}

impl<IO> TargetRewriter<IO> {
    /// Moves what `head` holds along: request heads (rewritten if need be) and the bodies after
    /// them into `out`, until `head` is empty or holds only part of a head.
    fn process(&mut self) {
        loop {
            match self.state {
                State::Passthrough => {
                    let rest = self.head.split();
                    self.out.extend_from_slice(&rest);
                    return;
                }
                State::Refused => {
                    self.head.clear();
                    return;
                }
                State::Body(remaining) => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(self.head.len());
                    // `take` is at most `head.len()`.
                    let body = self.head.split_to(take);
                    self.out.extend_from_slice(&body);
                    let left = remaining.saturating_sub(take as u64);
                    if left > 0 {
                        self.state = State::Body(left);
                        return;
                    }
                    self.state = State::Head;
                    self.scanned = 0;
                }
                State::Head => {
                    if self.head.is_empty() || !self.head_may_be_complete() {
                        if self.head.len() > self.max_head {
                            self.refuse_head();
                            continue;
                        }
                        return;
                    }
                    match self.parse_head() {
                        Some(next) => self.state = next,
                        None if self.head.len() > self.max_head => self.refuse_head(),
                        None => return,
                    }
                }
            }
        }
    }

    /// Replaces the head being read (over the limit) with [`TOO_LARGE_STAND_IN`], for
    /// [`TargetSlot::attach`] to refuse.
    fn refuse_head(&mut self) {
        self.out.extend_from_slice(TOO_LARGE_STAND_IN);
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back((self.heads, Rewritten::TooLarge));
        self.heads = self.heads.saturating_add(1);
        self.head.clear();
        self.state = State::Refused;
    }

    /// Whether `head` holds an empty line after a line end, the earliest a head can end (so an
    /// incomplete head is not parsed again for every read).
    fn head_may_be_complete(&mut self) -> bool {
        let from = self.scanned.saturating_sub(2);
        let unsearched = self.head.get(from..).unwrap_or_default();
        let found = unsearched.windows(2).any(|w| w == b"\n\n")
            || unsearched.windows(3).any(|w| w == b"\n\r\n");
        self.scanned = self.head.len();
        found
    }

    /// Parses the head at the start of `head`. Complete: moves it to `out`, with a stand-in for
    /// its target if that is too long, and returns the state after it. Incomplete: `None`.
    /// Unparsable: [`State::Passthrough`], the bytes left where they are for hyper to refuse.
    /// Over the limit: refused (see [`TargetRewriter::refuse_head`]).
    fn parse_head(&mut self) -> Option<State> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let length = match request.parse(&self.head) {
            Ok(httparse::Status::Complete(length)) if length > self.max_head => {
                self.refuse_head();
                return Some(State::Refused);
            }
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return None,
            Err(_) => return Some(State::Passthrough),
        };
        let index = self.heads;
        self.heads = self.heads.saturating_add(1);
        let next = framing(&request).unwrap_or(State::Passthrough);
        let base = self.head.as_ptr() as usize;
        // The target is a slice of `head[..length]` (httparse borrows it): the bytes before and
        // after it are found by its address.
        let long = request
            .path
            .filter(|path| path.len() > MAX_URI_LEN && path.starts_with('/'))
            .and_then(|path| {
                let start = (path.as_ptr() as usize).checked_sub(base)?;
                let end = start.checked_add(path.len())?;
                let before = self.head.get(..start)?;
                let after = self.head.get(end..length)?;
                Some((before, path.to_owned(), after))
            });
        match long {
            Some((before, target, after)) => {
                self.out.extend_from_slice(before);
                self.out.extend_from_slice(stand_in(&target).as_bytes());
                self.out.extend_from_slice(after);
                self.queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_back((index, Rewritten::Target(target)));
            }
            // httparse's `Complete(length)` is at most what it was given.
            None => self
                .out
                .extend_from_slice(self.head.get(..length).unwrap_or_default()),
        }
        self.head.advance(length);
        self.scanned = 0;
        Some(next)
    }
}

/// How the request's body is framed, if this is a request the rewriter can follow: the state
/// after its head.
fn framing(request: &httparse::Request<'_, '_>) -> Option<State> {
    if request.method == Some("CONNECT") {
        return None;
    }
    let mut length: Option<u64> = None;
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding")
            || header.name.eq_ignore_ascii_case("upgrade")
        {
            return None;
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            // Digits only, every copy the same; anything hyper might read otherwise is left
            // to hyper.
            let value = header.value;
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n = std::str::from_utf8(value).ok()?.parse::<u64>().ok()?;
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        }
    }
    Some(match length {
        Some(n) if n > 0 => State::Body(n),
        _ => State::Head,
    })
}

/// The target hyper is given instead of `target` (an origin-form target longer than
/// [`MAX_URI_LEN`]): its path, cut after the last `/` within [`STAND_IN_PATH`] bytes when it is
/// longer than that, and no query.
fn stand_in(target: &str) -> &str {
    let path = target.split(['?', '#']).next().unwrap_or(target);
    if path.len() <= STAND_IN_PATH {
        return path;
    }
    // The target starts with `/`, so there is one; a cut after an ASCII `/` is a character
    // boundary.
    let cut = path
        .as_bytes()
        .get(..STAND_IN_PATH)
        .and_then(|head| head.iter().rposition(|&b| b == b'/'))
        .map_or(1, |i| i.saturating_add(1));
    path.get(..cut).unwrap_or("/")
}

impl<IO: AsyncRead + Unpin> AsyncRead for TargetRewriter<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.out.is_empty() {
                let n = this.out.len().min(buf.remaining());
                buf.put_slice(&this.out.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match this.state {
                State::Passthrough => return Pin::new(&mut this.io).poll_read(cx, buf),
                // Nothing more for hyper: it answers the refused request and closes.
                State::Refused => return Poll::Pending,
                State::Body(remaining) => {
                    // Straight into hyper's buffer; whatever came after the body goes back
                    // through the head parser.
                    let before = buf.filled().len();
                    ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
                    let got = buf.filled().len().saturating_sub(before);
                    if got == 0 {
                        this.eof = true;
                        return Poll::Ready(Ok(()));
                    }
                    if let Some(left) = remaining.checked_sub(got as u64) {
                        this.state = match left {
                            0 => State::Head,
                            left => State::Body(left),
                        };
                        this.scanned = 0;
                        return Poll::Ready(Ok(()));
                    }
                    // `remaining` < `got`, so it fits a usize; the bytes after it are the next
                    // head.
                    let body_end = before.saturating_add(remaining as usize);
                    this.head
                        .extend_from_slice(buf.filled().get(body_end..).unwrap_or_default());
                    buf.set_filled(body_end);
                    this.state = State::Head;
                    this.scanned = 0;
                    this.process();
                    return Poll::Ready(Ok(()));
                }
                State::Head => {
                    let mut scratch = [0u8; 8192];
                    let mut read = ReadBuf::new(&mut scratch);
                    ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
                    if read.filled().is_empty() {
                        // The client is gone: hand over whatever part of a head there is.
                        this.eof = true;
                        let rest = this.head.split();
                        this.out.extend_from_slice(&rest);
                        continue;
                    }
                    this.head.extend_from_slice(read.filled());
                    this.process();
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for TargetRewriter<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    /// What hyper would read from `input`, with small reads so heads arrive in pieces, and what
    /// the rewriter queued.
    async fn rewrite(input: &[u8], max_head: usize) -> (Vec<u8>, Vec<(u64, String)>) {
        let (mut rewriter, slot) = rewrite_long_targets(input, max_head);
        let mut out = Vec::new();
        let mut buf = [0u8; 977];
        loop {
            let n = rewriter.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let queued = slot
            .queue
            .lock()
            .unwrap()
            .drain(..)
            .map(|(i, r)| match r {
                Rewritten::Target(t) => (i, t),
                Rewritten::TooLarge => (i, "too large".into()),
            })
            .collect();
        (out, queued)
    }

    fn put(target: &str, body: &str) -> String {
        format!(
            "PUT {target} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn ordinary_requests_pass_unchanged() {
        // Pipelined, a body that looks like a request, leading empty lines, bare LF lines.
        let input = format!(
            "{}\r\n{}{}GET /b HTTP/1.1\nHost: h\n\n",
            put("/a", "GET /x HTTP/1.1\r\n\r\n"),
            put("/b", ""),
            put("/c?q=1", &"z".repeat(5000))
        );
        let (out, queued) = rewrite(input.as_bytes(), 1 << 20).await;
        assert_eq!(out, input.as_bytes());
        assert!(queued.is_empty());
    }

    #[tokio::test]
    async fn long_targets_get_a_stand_in() {
        let long = format!("/v1/enqueue/{}?nopush=1", "A,".repeat(40_000));
        let body = format!("PUT {long} HTTP/1.1\r\n\r\n");
        let input = format!(
            "{}{}{}",
            put("/short", "x"),
            put(&long, &body),
            put("/after", "y")
        );
        let (out, queued) = rewrite(input.as_bytes(), 1 << 20).await;
        let expected = format!(
            "{}{}{}",
            put("/short", "x"),
            put("/v1/enqueue/", &body),
            put("/after", "y")
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(queued, [(1, long.clone())]);

        // What the stand-in leaves out goes back together.
        let mut request = http::Request::builder()
            .uri("/v1/enqueue/")
            .body(())
            .unwrap();
        let long_target = split_target(&long, "/v1/enqueue/").unwrap();
        request.extensions_mut().insert(long_target);
        let (uri, ext) = (request.uri(), request.extensions());
        assert_eq!(path(uri, ext), long.split_once('?').unwrap().0);
        assert_eq!(query(uri, ext), Some("nopush=1"));
        // Nested under a prefix the router strips, the same rest follows the shorter path.
        let nested: Uri = "/enqueue/".parse().unwrap();
        assert!(path(&nested, ext).starts_with("/enqueue/A,A,"));
    }

    #[tokio::test]
    async fn unfollowed_framing_passes_the_rest_through() {
        let long = format!("/v1/push/{}", "B".repeat(70_000));
        let chunked = format!(
            "PUT {long} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let input = format!("{chunked}GET {long} HTTP/1.1\r\n\r\n");
        let (out, queued) = rewrite(input.as_bytes(), 1 << 20).await;
        // The first head is still rewritten; after its chunked body nothing is.
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("PUT /v1/push/ HTTP/1.1\r\nTransfer-Encoding"));
        assert!(out.ends_with(&format!("GET {long} HTTP/1.1\r\n\r\n")));
        assert_eq!(queued.len(), 1);
        // Conflicting or odd lengths are hyper's to judge.
        for header in [
            "Content-Length: 1\r\nContent-Length: 2",
            "Content-Length: +5",
        ] {
            let input = format!("PUT /a HTTP/1.1\r\n{header}\r\n\r\nGET {long} HTTP/1.1\r\n\r\n");
            let (out, queued) = rewrite(input.as_bytes(), 1 << 20).await;
            assert_eq!(out, input.as_bytes());
            assert!(queued.is_empty());
        }
    }

    #[tokio::test]
    async fn heads_over_the_limit_are_refused() {
        for input in [
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(5000)),
            format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(5000)),
            // Never finished.
            format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(5000)),
        ] {
            let (mut rewriter, slot) = rewrite_long_targets(input.as_bytes(), 4096);
            let mut out = vec![0u8; TOO_LARGE_STAND_IN.len()];
            rewriter.read_exact(&mut out).await.unwrap();
            assert_eq!(out, TOO_LARGE_STAND_IN);
            let mut request = http::Request::new(());
            assert!(matches!(
                slot.attach(&mut request),
                Err(Refusal::HeadTooLarge)
            ));
            // And nothing more is read.
            let more = tokio::time::timeout(
                std::time::Duration::from_millis(20),
                rewriter.read(&mut [0u8; 16]),
            )
            .await;
            assert!(more.is_err());
        }
    }

    #[test]
    fn stand_ins_end_at_a_slash() {
        assert_eq!(stand_in("/a/b?q"), "/a/b");
        let long = format!("/v1/enqueue/{}", "x".repeat(70_000));
        assert_eq!(stand_in(&long), "/v1/enqueue/");
        let deep = format!("/v1/push/{}/{}", "y".repeat(100), "z".repeat(70_000));
        assert_eq!(stand_in(&deep), format!("/v1/push/{}/", "y".repeat(100)));
        assert_eq!(stand_in(&format!("/{}", "w".repeat(70_000))), "/");
    }

    #[test]
    fn invalid_or_mismatched_targets_are_refused() {
        assert!(split_target("/v1/push/a<b", "/v1/push/").is_err());
        assert!(split_target("/v1/push/a?b\"", "/v1/push/").is_err());
        assert!(split_target("/v1/enqueue/a", "/v1/push/").is_err());
        let ok = split_target("/v1/push/a,b?x=1#frag", "/v1/push/").unwrap();
        assert_eq!(&*ok.rest, "a,b");
        assert_eq!(ok.query.as_deref(), Some("x=1"));
    }
}
