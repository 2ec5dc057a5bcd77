use std::io::Write;

use mdm_storage::{
    BootstrapTokenStore, CertAuthStore, CheckInStore, CommandQueue, TokenUpdateTallyStore,
};
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

use crate::{
    CertAuthLayer, DumpLayer, MdmError, MdmRequest, MdmResponse, MdmService, TraceLayer,
    WebhookConfig, WebhookLayer,
};

/// A type-erased MDM service stack, as [`nanomdm_stack`] builds it.
pub type BoxMdmService = BoxCloneSyncService<MdmRequest, MdmResponse, MdmError>;

/// The optional layers of NanoMDM's service stack.
#[derive(Default)]
pub struct NanoMdmOptions {
    /// Retroactive certificate binding (`-retro`).
    pub retro: bool,
    /// Where to dump bodies (`-dump`), if anywhere.
    pub dump: Option<Box<dyn Write + Send>>,
    /// Webhook delivery (`-webhook-url`, `-webhook-hmac-key`), if any.
    pub webhook: Option<WebhookConfig>,
}

impl std::fmt::Debug for NanoMdmOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NanoMdmOptions")
            .field("retro", &self.retro)
            .field("dump", &self.dump.is_some())
            .field("webhook", &self.webhook)
            .finish()
    }
}

/// Composes the core the way NanoMDM's server does: tracing, then dump (which sees even requests
/// certauth refuses), then certauth, then the webhook around the core (so it sees the core's
/// outcome, and nothing certauth refused).
///
/// Must be called inside a tokio runtime when a webhook is configured (it starts the delivery
/// task).
pub fn nanomdm_stack<S>(core: MdmService<S>, options: NanoMdmOptions) -> BoxMdmService
where
    S: CheckInStore
        + CommandQueue
        + BootstrapTokenStore
        + TokenUpdateTallyStore
        + CertAuthStore
        + Clone
        + 'static,
{
    let store = core.store().clone();
    let webhook = options
        .webhook
        .map(|config| WebhookLayer::new(config, store.clone()));
    let dump = options.dump.map(DumpLayer::new);
    let service = ServiceBuilder::new()
        .layer(TraceLayer)
        .option_layer(dump)
        .layer(CertAuthLayer::new(store).retro(options.retro))
        .option_layer(webhook)
        .service(core);
    BoxCloneSyncService::new(service)
}
