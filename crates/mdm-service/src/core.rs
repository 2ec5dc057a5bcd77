use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use mdm_proto::{CheckIn, CommandReport, Raw};
use mdm_storage::{BootstrapTokenStore, CheckInStore, CommandQueue, ReportOutcome};

use crate::declarative::DeclarativeManagementError;
use crate::get_token::GetTokenError;
use crate::user_authenticate::ZERO_LENGTH_DIGEST_CHALLENGE;
use crate::{
    DeclarativeManagementHandler, GetTokenHandler, MdmError, MdmMessage, MdmRequest, MdmResponse,
    UserAuthenticatePolicy,
};

/// The MDM core: protocol decisions for every check-in and the command channel, over the storage
/// traits.
///
/// | message | does | answers |
/// |---|---|---|
/// | Authenticate | stores it, clears the queue, disables the enrollment until its next TokenUpdate | empty |
/// | TokenUpdate | stores it (enables the enrollment) | empty |
/// | CheckOut | disables the enrollment (and a device channel's user channels) | empty |
/// | UserAuthenticate | per [`UserAuthenticatePolicy`] | 410, a zero-length challenge, or empty |
/// | SetBootstrapToken / GetBootstrapToken | stores / returns the token | empty / `BootstrapToken` plist |
/// | DeclarativeManagement | the configured [`DeclarativeManagementHandler`] handler | its body |
/// | GetToken | the configured [`GetTokenHandler`] | `TokenData` plist |
/// | ReturnToService | not supported (as NanoMDM v0.9) | 400 |
/// | command report | stores the result; `NotNow` skips not-now commands for this answer | next command, byte-exact, or empty |
///
/// Cloning is cheap when the store is (`Arc<…>`, or a pool handle).
pub struct MdmService<S> {
    store: S,
    user_authenticate: UserAuthenticatePolicy,
    declarative: Option<Arc<dyn DeclarativeManagementHandler>>,
    get_token: Option<Arc<dyn GetTokenHandler>>,
}

impl<S: Clone> Clone for MdmService<S> {
    fn clone(&self) -> Self {
        MdmService {
            store: self.store.clone(),
            user_authenticate: self.user_authenticate,
            declarative: self.declarative.clone(),
            get_token: self.get_token.clone(),
        }
    }
}

impl<S> std::fmt::Debug for MdmService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdmService")
            .field("user_authenticate", &self.user_authenticate)
            .field("declarative", &self.declarative.is_some())
            .field("get_token", &self.get_token.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> MdmService<S>
where
    S: CheckInStore + CommandQueue + BootstrapTokenStore,
{
    /// A core over `store` that declines UserAuthenticate and has no Declarative Management or
    /// GetToken handler.
    pub fn new(store: S) -> Self {
        MdmService {
            store,
            user_authenticate: UserAuthenticatePolicy::default(),
            declarative: None,
            get_token: None,
        }
    }

    /// Sets how UserAuthenticate is answered.
    pub fn user_authenticate(mut self, policy: UserAuthenticatePolicy) -> Self {
        self.user_authenticate = policy;
        self
    }

    /// Sets the Declarative Management handler (e.g. a [`DeclarativeManagementForwarder`](crate::DeclarativeManagementForwarder)).
    pub fn declarative_management(
        mut self,
        handler: impl DeclarativeManagementHandler + 'static,
    ) -> Self {
        self.declarative = Some(Arc::new(handler));
        self
    }

    /// Sets the GetToken handler (usually a [`GetTokenMux`](crate::GetTokenMux)).
    pub fn get_token(mut self, handler: impl GetTokenHandler + 'static) -> Self {
        self.get_token = Some(Arc::new(handler));
        self
    }

    /// The store this core writes to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answers one request.
    pub async fn handle(&self, request: &MdmRequest) -> Result<MdmResponse, MdmError> {
        match &request.message {
            MdmMessage::CheckIn(check_in) => self.check_in(request, check_in).await,
            MdmMessage::Report(report) => self.command_report(request, report).await,
        }
    }

    async fn check_in(
        &self,
        request: &MdmRequest,
        check_in: &Raw<CheckIn>,
    ) -> Result<MdmResponse, MdmError> {
        let id = &request.enroll_id;
        let raw = check_in.bytes();
        match check_in.value() {
            CheckIn::Authenticate(msg) => {
                let identity = request.identity.as_ref().map(|i| i.der().as_ref());
                self.store
                    .store_authenticate(id, msg, raw, identity)
                    .await?;
                // A new Authenticate is a new enrollment: nothing queued for the old one may
                // reach it, and it is not usable until it sends a TokenUpdate.
                self.store.clear_queue(id).await?;
                self.store.disable(id).await?;
                Ok(MdmResponse::empty())
            }
            CheckIn::TokenUpdate(msg) => {
                self.store.store_token_update(id, msg, raw).await?;
                Ok(MdmResponse::empty())
            }
            CheckIn::CheckOut(_) => {
                self.store.disable(id).await?;
                Ok(MdmResponse::empty())
            }
            CheckIn::UserAuthenticate(msg) => match self.user_authenticate {
                UserAuthenticatePolicy::Decline => match msg.digest_response {
                    None => Err(MdmError::UserAuthenticateDeclined(id.id().clone())),
                    Some(_) => Ok(MdmResponse::empty()),
                },
                UserAuthenticatePolicy::ZeroLengthDigestChallenge => {
                    self.store.store_user_authenticate(id, msg, raw).await?;
                    Ok(match msg.digest_response {
                        None => MdmResponse::with_body(ZERO_LENGTH_DIGEST_CHALLENGE),
                        Some(_) => MdmResponse::empty(),
                    })
                }
            },
            CheckIn::SetBootstrapToken(msg) => {
                self.store.store_bootstrap_token(id, msg).await?;
                Ok(MdmResponse::empty())
            }
            CheckIn::GetBootstrapToken(_) => {
                Ok(match self.store.retrieve_bootstrap_token(id).await? {
                    Some(token) => MdmResponse::with_body(token.to_xml()),
                    None => MdmResponse::empty(),
                })
            }
            CheckIn::DeclarativeManagement(msg) => {
                let handler = self
                    .declarative
                    .as_ref()
                    .ok_or(DeclarativeManagementError::NotConfigured)?;
                let body = handler.declarative_management(request, msg).await?;
                Ok(MdmResponse::with_body(body))
            }
            CheckIn::GetToken(msg) => {
                let handler = self
                    .get_token
                    .as_ref()
                    .ok_or_else(|| GetTokenError::NoHandler(msg.token_service_type.clone()))?;
                let response = handler.get_token(request, msg).await?;
                Ok(MdmResponse::with_body(response.to_xml()))
            }
            CheckIn::ReturnToService(_) => Err(MdmError::Unsupported("ReturnToService")),
            other => Err(MdmError::Unsupported(other.message_type())),
        }
    }

    async fn command_report(
        &self,
        request: &MdmRequest,
        report: &Raw<CommandReport>,
    ) -> Result<MdmResponse, MdmError> {
        let id = &request.enroll_id;
        // A NotNow passes over the not-now commands for this one answer, so the device is not
        // handed the command it just declined; the store does the report and the lookup in one
        // call (one round trip where it can).
        let (outcome, next) = self
            .store
            .report_and_next_command(id, report, report.bytes())
            .await?;
        if outcome == ReportOutcome::NotQueued {
            // A device answering a command it was never given (or answering twice): nothing
            // changes, and the device still gets its next command.
            tracing::info!(
                command_uuid = ?report.command_uuid,
                status = %report.status,
                "report for a command that is not queued"
            );
        }
        let response = match next {
            Some(command) => MdmResponse::with_body(command.bytes().clone()),
            None => MdmResponse::empty(),
        };
        Ok(response.report_outcome(outcome))
    }
}

impl<S> tower::Service<MdmRequest> for MdmService<S>
where
    S: CheckInStore + CommandQueue + BootstrapTokenStore + Clone + 'static,
{
    type Response = MdmResponse;
    type Error = MdmError;
    type Future = BoxFuture<'static, Result<MdmResponse, MdmError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: MdmRequest) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { service.handle(&request).await })
    }
}
