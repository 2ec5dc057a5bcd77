//! A tiny TCP proxy for "the database goes away, comes back" tests: it forwards to the real
//! server while up. Taking it [`down`](Proxy::down) closes every forwarded connection, and
//! while down it accepts new connections only to close them at once; taking it
//! [`refuse`](Proxy::refuse)-down also stops listening, so new connections are refused, as
//! when the database server is stopped. [`up`](Proxy::up) forwards again on the same address.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

type Conns = Arc<Mutex<Vec<JoinHandle<()>>>>;

/// A proxy to one upstream address; see the [module documentation](self).
pub struct Proxy {
    /// Where the proxy listens: connect here instead of to the upstream.
    pub addr: SocketAddr,
    upstream: String,
    up: Arc<AtomicBool>,
    conns: Conns,
    /// The accept loop, which owns the listener; `None` while refusing.
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Conns::default();
        let accept = accept_loop(listener, upstream.clone(), up.clone(), conns.clone());
        Self {
            addr,
            upstream,
            up,
            conns,
            accept: Mutex::new(Some(accept)),
        }
    }

    /// Closes every forwarded connection (both sides closed when this returns); new ones are
    /// closed as soon as accepted.
    pub async fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.close_all().await;
    }

    /// Stops listening (new connections are refused once this returns) and closes every
    /// forwarded connection, until [`up`](Self::up).
    pub async fn refuse(&self) {
        self.up.store(false, Ordering::SeqCst);
        let accept = self.accept.lock().unwrap().take();
        if let Some(accept) = accept {
            accept.abort();
            // The aborted task has dropped its listener once it is joined.
            let _ = accept.await;
        }
        self.close_all().await;
    }

    /// Forwards new connections again, listening on the same address if it had stopped.
    pub fn up(&self) {
        let mut accept = self.accept.lock().unwrap();
        if accept.is_none() {
            *accept = Some(accept_loop(
                rebind(self.addr),
                self.upstream.clone(),
                self.up.clone(),
                self.conns.clone(),
            ));
        }
        self.up.store(true, Ordering::SeqCst);
    }

    async fn close_all(&self) {
        let conns = std::mem::take(&mut *self.conns.lock().unwrap());
        for conn in &conns {
            conn.abort();
        }
        for conn in conns {
            let _ = conn.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.lock().unwrap().take() {
            accept.abort();
        }
        self.up.store(false, Ordering::SeqCst);
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    upstream: String,
    up: Arc<AtomicBool>,
    conns: Conns,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            if !up.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let upstream = upstream.clone();
            let task = tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
            let mut conns = conns.lock().unwrap();
            conns.retain(|c| !c.is_finished());
            conns.push(task);
        }
    })
}

/// Listens on `addr` again. `SO_REUSEADDR` lets it bind while connections it accepted before
/// linger in TIME_WAIT; a few retries cover the port being briefly taken by another socket.
fn rebind(addr: SocketAddr) -> TcpListener {
    let mut tries = 0;
    loop {
        let listener = TcpSocket::new_v4().and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(1024)
        });
        match listener {
            Ok(listener) => return listener,
            Err(e) if tries < 50 => {
                tries += 1;
                eprintln!("proxy: listening on {addr} again: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("proxy: listening on {addr} again: {e}"),
        }
    }
}

/// `host:port` of a `scheme://[user[:password]@]host[:port]/…` URL.
pub fn upstream(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    }
}
