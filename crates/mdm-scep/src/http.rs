//! The axum adapter (feature `axum`): SCEP over HTTP.
//!
//! [`router`] answers SCEP on every path of the router it returns, so it can be mounted where
//! clients expect it — `/scep` for micromdm-style profiles, `/cgi-bin/pkiclient.exe` for older
//! clients — with one shared [`Scep`] (CA and challenge policy):
//!
//! ```no_run
//! # async fn demo(scep: std::sync::Arc<mdm_scep::Scep<mdm_scep::StaticChallenge, mdm_scep::FileCa>>) {
//! let app = axum::Router::new().nest_service("/scep", mdm_scep::http::router(scep));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```
//!
//! Status codes: 200 for every SCEP answer, refusals included (a refusal is a CertRep
//! FAILURE); 400 for a request that is not SCEP or a message that cannot be decoded (too large,
//! truncated, not base64, not a PKIMessage); 503 when the challenge policy or the CA is
//! unavailable; 500 when the answer could not be built.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

use crate::ca::CertificateAuthority;
use crate::challenge::ChallengePolicy;
use crate::error::{RequestError, ScepError};
use crate::service::{Method, Outcome, Scep, ScepResponse};

/// A router answering SCEP at every path, for [`Router::nest_service`] or
/// [`Router::fallback_service`].
pub fn router<P, C>(scep: Arc<Scep<P, C>>) -> Router
where
    P: ChallengePolicy + 'static,
    C: CertificateAuthority + 'static,
{
    Router::new().fallback(handle::<P, C>).with_state(scep)
}

async fn handle<P, C>(State(scep): State<Arc<Scep<P, C>>>, request: Request) -> Response
where
    P: ChallengePolicy + 'static,
    C: CertificateAuthority + 'static,
{
    let method = match *request.method() {
        http::Method::GET | http::Method::HEAD => Method::Get,
        http::Method::POST => Method::Post,
        _ => Method::Other,
    };
    let query = request.uri().query().map(str::to_owned);
    let max = scep.server().options().max_message_len;
    let body = match axum::body::to_bytes(request.into_body(), max.saturating_add(1)).await {
        Ok(body) => body,
        Err(_) => {
            return error_response(&ScepError::Request(RequestError::MessageTooLarge {
                len: max.saturating_add(1),
                max,
            }));
        }
    };
    match scep
        .handle_http(method, query.as_deref(), &body, SystemTime::now())
        .await
    {
        Ok(answer) => {
            log(&answer);
            ([(header::CONTENT_TYPE, answer.content_type)], answer.body).into_response()
        }
        Err(e) => error_response(&e),
    }
}

fn log(answer: &ScepResponse) {
    match &answer.outcome {
        Outcome::Issued { transaction_id, .. } => {
            tracing::info!(transaction_id = %transaction_id.as_str(), "scep: certificate issued");
        }
        Outcome::Refused(refused) => tracing::warn!(
            transaction_id = %refused.transaction_id.as_str(),
            message_type = %refused.message_type,
            fail_info = %refused.refusal.fail_info(),
            reason = %refused.refusal,
            "scep: request refused"
        ),
        Outcome::CaCaps | Outcome::CaCert => {}
    }
}

fn error_response(e: &ScepError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(error = %e, "scep: request failed");
    } else {
        tracing::info!(error = %e, "scep: bad request");
    }
    let mut response = Response::new(Body::from(format!("{e}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
