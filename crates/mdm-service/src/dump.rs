use std::io::Write;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;

use crate::{MdmError, MdmRequest, MdmResponse, take_ready};

/// Writes every request body the service receives, and every response body it sends back
/// (including the commands it hands out), to a writer — NanoMDM's `-dump`, to stdout.
///
/// Bodies are written as they are, each followed by a newline. Bodies hold secrets (unlock and
/// bootstrap tokens): dump only where such output is safe.
#[derive(Clone)]
pub struct DumpLayer {
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for DumpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpLayer").finish_non_exhaustive()
    }
}

impl DumpLayer {
    /// Dumps to `writer`.
    pub fn new(writer: impl Write + Send + 'static) -> Self {
        DumpLayer {
            writer: Arc::new(Mutex::new(Box::new(writer))),
        }
    }

    /// Dumps to standard output.
    pub fn stdout() -> Self {
        Self::new(std::io::stdout())
    }

    fn dump(&self, bytes: &[u8]) {
        // A poisoned lock only means another dump panicked mid-write; keep dumping.
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writer
            .write_all(bytes)
            .and_then(|()| writer.write_all(b"\n"))
            .and_then(|()| writer.flush())
        {
            tracing::warn!(error = %e, "dump: write failed");
        }
    }
}

impl<S> tower::Layer<S> for DumpLayer {
    type Service = DumpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DumpService {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`DumpLayer`] produces.
#[derive(Clone, Debug)]
pub struct DumpService<S> {
    layer: DumpLayer,
    inner: S,
}

impl<S> tower::Service<MdmRequest> for DumpService<S>
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
            if let Ok(MdmResponse { body: Some(body) }) = &result {
                layer.dump(body);
            }
            result
        })
    }
}
