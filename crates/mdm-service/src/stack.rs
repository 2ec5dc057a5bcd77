//! NanoMDM's service stack, with room for the user's own layers.

use std::io::Write;

use mdm_storage::{
    BootstrapTokenStore, CertAuthStore, CheckInStore, CommandQueue, TokenUpdateTallyStore,
};
use tower::util::{BoxCloneSyncService, BoxCloneSyncServiceLayer};
use tower::{Layer, Service};

use crate::{
    CertAuthLayer, DumpLayer, MdmError, MdmRequest, MdmResponse, MdmService, MdmTraceLayer,
    MetricsLayer, WebhookConfig, WebhookLayer, WebhookWorker,
};

/// A type-erased MDM service stack, as [`StackBuilder`] builds it.
pub type BoxMdmService = BoxCloneSyncService<MdmRequest, MdmResponse, MdmError>;

type BoxMdmLayer = BoxCloneSyncServiceLayer<BoxMdmService, MdmRequest, MdmResponse, MdmError>;

/// Where in the stack a user's layer goes ([`StackBuilder::layer`]). From the outside in, the
/// stack is: tracing, dump, certauth, webhook, core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StackPosition {
    /// Outside everything: sees every request first, before it has a tracing span.
    Outermost,
    /// Inside tracing and dump, before certauth: sees requests certauth will refuse (a block
    /// list, a rate limit).
    BeforeCertAuth,
    /// After certauth, before the webhook: sees only requests from their own device, and what
    /// it refuses is not reported to the webhook.
    AfterCertAuth,
    /// Around the core, inside the webhook: the webhook reports what this layer answers.
    AroundCore,
}

/// Composes the core the way NanoMDM's server does — tracing (and [`MetricsLayer`]'s counters),
/// then dump (which sees even requests certauth refuses), then certauth, then the webhook around
/// the core (so it sees the core's outcome, and nothing certauth refused) — plus the user's
/// layers at the positions they name.
///
/// ```
/// use mdm_service::{MdmService, StackBuilder, StackPosition};
/// use mdm_storage::MemoryStore;
///
/// let store = std::sync::Arc::new(MemoryStore::new());
/// let stack = StackBuilder::new(MdmService::new(store))
///     .retro(true)
///     // Any tower layer over the boxed service: here one that sees every answer certauth lets
///     // through, before the webhook reports it.
///     .layer(
///         StackPosition::AfterCertAuth,
///         tower::util::MapResponseLayer::new(|response: mdm_service::MdmResponse| response),
///     )
///     .build();
/// assert!(stack.webhook_worker.is_none());
/// ```
pub struct StackBuilder<S> {
    core: MdmService<S>,
    retro: bool,
    dump: Option<DumpLayer>,
    webhook: Option<WebhookConfig>,
    layers: Vec<(StackPosition, BoxMdmLayer)>,
}

impl<S> std::fmt::Debug for StackBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackBuilder")
            .field("retro", &self.retro)
            .field("dump", &self.dump.is_some())
            .field("webhook", &self.webhook)
            .field(
                "layers",
                &self.layers.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// What [`StackBuilder::build`] makes: the service, and the webhook's delivery worker when a
/// webhook is configured, which the caller runs (`tokio::spawn(worker.run())`).
#[derive(Debug)]
#[non_exhaustive]
pub struct Stack {
    /// The composed service.
    pub service: BoxMdmService,
    /// Delivers webhook events; ends once the service (every clone) is dropped and the queued
    /// events are delivered.
    pub webhook_worker: Option<WebhookWorker>,
}

impl<S> StackBuilder<S>
where
    S: CheckInStore
        + CommandQueue
        + BootstrapTokenStore
        + TokenUpdateTallyStore
        + CertAuthStore
        + Clone
        + 'static,
{
    /// A stack around `core`: tracing and certauth, no dump, no webhook, no retro binding.
    pub fn new(core: MdmService<S>) -> Self {
        StackBuilder {
            core,
            retro: false,
            dump: None,
            webhook: None,
            layers: Vec::new(),
        }
    }

    /// Retroactive certificate binding (`-retro`).
    pub fn retro(mut self, retro: bool) -> Self {
        self.retro = retro;
        self
    }

    /// Dumps request and response bodies to `writer` (`-dump`).
    pub fn dump(mut self, writer: impl Write + Send + 'static) -> Self {
        self.dump = Some(DumpLayer::new(writer));
        self
    }

    /// Delivers webhook events (`-webhook-url`, `-webhook-hmac-key`).
    pub fn webhook(mut self, config: WebhookConfig) -> Self {
        self.webhook = Some(config);
        self
    }

    /// Adds a layer at `position`. Layers at the same position wrap in the order they are added:
    /// the first added is the innermost.
    pub fn layer<L>(mut self, position: StackPosition, layer: L) -> Self
    where
        L: Layer<BoxMdmService> + Clone + Send + Sync + 'static,
        L::Service: Service<MdmRequest, Response = MdmResponse, Error = MdmError>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<MdmRequest>>::Future: Send + 'static,
    {
        self.layers
            .push((position, BoxCloneSyncServiceLayer::new(layer)));
        self
    }

    /// Composes the stack.
    pub fn build(self) -> Stack {
        let StackBuilder {
            core,
            retro,
            dump,
            webhook,
            layers,
        } = self;
        let store = core.store().clone();
        let at = |position: StackPosition, mut service: BoxMdmService| {
            for (_, layer) in layers.iter().filter(|(p, _)| *p == position) {
                service = layer.layer(service);
            }
            service
        };
        let mut service = at(StackPosition::AroundCore, BoxCloneSyncService::new(core));
        let mut webhook_worker = None;
        if let Some(config) = webhook {
            let (layer, worker) = WebhookLayer::new(config, store.clone());
            service = BoxCloneSyncService::new(layer.layer(service));
            webhook_worker = Some(worker);
        }
        service = at(StackPosition::AfterCertAuth, service);
        service = BoxCloneSyncService::new(CertAuthLayer::new(store).retro(retro).layer(service));
        service = at(StackPosition::BeforeCertAuth, service);
        if let Some(dump) = dump {
            service = BoxCloneSyncService::new(dump.layer(service));
        }
        service = BoxCloneSyncService::new(MdmTraceLayer.layer(MetricsLayer.layer(service)));
        service = at(StackPosition::Outermost, service);
        Stack {
            service,
            webhook_worker,
        }
    }
}
