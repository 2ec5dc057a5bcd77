use std::io::Write;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::{MdmError, MdmRequest, MdmResponse, take_ready};

/// Writes every request body the service receives, and every response body it sends back
/// (including the commands it hands out), to a writer — NanoMDM's `-dump`, to stdout.
///
/// Bodies are written as they are, each followed by a newline. Bodies hold secrets (unlock and
/// bootstrap tokens): dump only where such output is safe.
///
/// Writing happens on a thread of its own, so a slow writer (a terminal, a pipe) never blocks
/// the runtime that serves devices; when it falls [`DumpLayer::BACKLOG`] bodies behind, further
/// bodies are dropped (and logged) until it catches up.
#[derive(Clone)]
pub struct DumpLayer {
    bodies: SyncSender<Bytes>,
}

impl std::fmt::Debug for DumpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpLayer").finish_non_exhaustive()
    }
}

impl DumpLayer {
    /// How many bodies may wait for the writer.
    pub const BACKLOG: usize = 4096;

    /// Dumps to `writer`, on a thread started here that ends when the layer and every service
    /// made from it are dropped.
    pub fn new(mut writer: impl Write + Send + 'static) -> Self {
        let (bodies, queue) = sync_channel::<Bytes>(Self::BACKLOG);
        let spawned = std::thread::Builder::new()
            .name("mdm-dump".into())
            .spawn(move || {
                for body in queue {
                    if let Err(e) = writer
                        .write_all(&body)
                        .and_then(|()| writer.write_all(b"\n"))
                        .and_then(|()| writer.flush())
                    {
                        tracing::warn!(error = %e, "dump: write failed");
                    }
                }
            });
        if let Err(e) = spawned {
            // The receiver went with the thread: every dump reports the channel closed.
            tracing::error!(error = %e, "dump: cannot start the writer thread; nothing is dumped");
        }
        DumpLayer { bodies }
    }

    /// Dumps to standard output.
    pub fn stdout() -> Self {
        Self::new(std::io::stdout())
    }

    fn dump(&self, body: &Bytes) {
        match self.bodies.try_send(body.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("dump: the writer is behind; body dropped")
            }
            Err(TrySendError::Disconnected(_)) => tracing::warn!("dump: the writer is gone"),
        }
    }
}

impl<S> tower::Layer<S> for DumpLayer {
    type Service = Dump<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Dump {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`DumpLayer`] produces.
#[derive(Clone, Debug)]
pub struct Dump<S> {
    layer: DumpLayer,
    inner: S,
}

impl<S> tower::Service<MdmRequest> for Dump<S>
where
    S: tower::Service<MdmRequest, Response = MdmResponse, Error = MdmError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = MdmResponse;
    type Error = MdmError;
    type Future = BoxFuture<'static, Result<MdmResponse, MdmError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MdmRequest) -> Self::Future {
        self.layer.dump(request.message.bytes());
        let layer = self.layer.clone();
        let mut inner = take_ready(&mut self.inner);
        Box::pin(async move {
            let result = inner.call(request).await;
            if let Ok(MdmResponse {
                body: Some(body), ..
            }) = &result
            {
                layer.dump(body);
            }
            result
        })
    }
}
