use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use mdm_proto::{GetToken, GetTokenResponse, Secret};

use crate::MdmRequest;

/// Why a GetToken check-in could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GetTokenError {
    /// No handler is registered for the requested `TokenServiceType`.
    #[error("no handler for TokenServiceType {0:?}")]
    NoHandler(String),
    /// `com.apple.watch.pairing` requires `TokenParameters`.
    #[error("TokenServiceType {0:?} requires TokenParameters")]
    MissingTokenParameters(String),
    /// A handler failed.
    #[error("handler for {service_type:?}: {source}")]
    Handler {
        /// The `TokenServiceType`.
        service_type: String,
        /// What the handler said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Answers GetToken check-ins for one (or more) `TokenServiceType`s.
pub trait GetTokenHandler: Send + Sync {
    /// Produces the token for `msg`.
    fn get_token<'a>(
        &'a self,
        request: &'a MdmRequest,
        msg: &'a GetToken,
    ) -> BoxFuture<'a, Result<GetTokenResponse, GetTokenError>>;
}

/// Dispatches GetToken check-ins to a handler by `TokenServiceType`, as NanoMDM's token mux.
#[derive(Clone, Default)]
pub struct GetTokenMux {
    handlers: HashMap<String, Arc<dyn GetTokenHandler>>,
}

impl std::fmt::Debug for GetTokenMux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetTokenMux")
            .field("service_types", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl GetTokenMux {
    /// An empty mux: every GetToken fails with [`GetTokenError::NoHandler`] (NanoMDM's stock
    /// behaviour).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `service_type`, replacing any earlier one.
    pub fn handle(
        mut self,
        service_type: impl Into<String>,
        handler: impl GetTokenHandler + 'static,
    ) -> Self {
        self.handlers.insert(service_type.into(), Arc::new(handler));
        self
    }
}

impl GetTokenHandler for GetTokenMux {
    fn get_token<'a>(
        &'a self,
        request: &'a MdmRequest,
        msg: &'a GetToken,
    ) -> BoxFuture<'a, Result<GetTokenResponse, GetTokenError>> {
        let service_type = &msg.token_service_type;
        if service_type == "com.apple.watch.pairing" && msg.token_parameters.is_none() {
            return Box::pin(std::future::ready(Err(
                GetTokenError::MissingTokenParameters(service_type.clone()),
            )));
        }
        match self.handlers.get(service_type) {
            Some(handler) => handler.get_token(request, msg),
            None => Box::pin(std::future::ready(Err(GetTokenError::NoHandler(
                service_type.clone(),
            )))),
        }
    }
}

/// A handler that answers with the same token data every time (tests, simple deployments).
#[derive(Clone, Debug)]
pub struct StaticToken(pub Secret<Vec<u8>>);

impl GetTokenHandler for StaticToken {
    fn get_token<'a>(
        &'a self,
        _request: &'a MdmRequest,
        _msg: &'a GetToken,
    ) -> BoxFuture<'a, Result<GetTokenResponse, GetTokenError>> {
        Box::pin(std::future::ready(Ok(GetTokenResponse::new(
            self.0.clone(),
        ))))
    }
}
