//! The SCEP service: a [`ScepServer`] driven with a challenge policy and a CA, over requests as
//! any HTTP stack delivers them (operation, query, body). No I/O of its own.

use std::borrow::Cow;
use std::time::SystemTime;

use base64::Engine;

use crate::ca::{CertificateAuthority, IssueRequest};
use crate::challenge::{ChallengePolicy, ChallengeRequest};
use crate::error::{
    ChallengeError, ConfigError, IssueError, Refusal, RequestError, ScepError, ServiceError,
};
use crate::identity::ScepIdentity;
use crate::message::TransactionId;
use crate::server::{Decoded, RefusedRequest, ScepServer, ServerOptions};

/// A SCEP operation (the `operation` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `GetCACaps`.
    GetCaCaps,
    /// `GetCACert`.
    GetCaCert,
    /// `PKIOperation`.
    PkiOperation,
    /// `GetNextCACert` (not supported).
    GetNextCaCert,
}

impl Operation {
    /// Reads an `operation` value.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "GetCACaps" => Operation::GetCaCaps,
            "GetCACert" => Operation::GetCaCert,
            "PKIOperation" => Operation::PkiOperation,
            "GetNextCACert" => Operation::GetNextCaCert,
            _ => return None,
        })
    }

    /// The operation's name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetCaCaps => "GetCACaps",
            Operation::GetCaCert => "GetCACert",
            Operation::PkiOperation => "PKIOperation",
            Operation::GetNextCaCert => "GetNextCACert",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The HTTP method of a request, as far as SCEP cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET` (and `HEAD`).
    Get,
    /// `POST`.
    Post,
    /// Anything else.
    Other,
}

/// A SCEP request, decoded from HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScepRequest<'a> {
    /// GetCACaps.
    GetCaCaps,
    /// GetCACert.
    GetCaCert,
    /// PKIOperation with its message (decoded from the query for GET, the body for POST).
    PkiOperation(Cow<'a, [u8]>),
}

impl<'a> ScepRequest<'a> {
    /// Reads a request from its method, raw query string (without `?`) and body. A message
    /// longer than `max_message_len` is refused before it is decoded.
    ///
    /// A GET PKIOperation's `message` is percent-decoded (a `+` stays a `+`: clients differ in
    /// whether they escape base64's `+`, so it is never read as a space) and then base64-decoded
    /// (standard or URL-safe alphabet, padding optional, line breaks ignored).
    pub fn from_http(
        method: Method,
        query: Option<&str>,
        body: &'a [u8],
        max_message_len: usize,
    ) -> Result<Self, RequestError> {
        let operation = query_param(query, "operation").ok_or(RequestError::MissingOperation)?;
        let operation = percent_decode(operation.as_bytes())
            .and_then(|name| Operation::from_name(&String::from_utf8_lossy(&name)))
            .ok_or(RequestError::UnknownOperation)?;
        match (operation, method) {
            (Operation::GetNextCaCert, _) => Err(RequestError::UnsupportedOperation(operation)),
            (Operation::GetCaCaps, Method::Get) => Ok(ScepRequest::GetCaCaps),
            (Operation::GetCaCert, Method::Get) => Ok(ScepRequest::GetCaCert),
            (Operation::PkiOperation, Method::Post) => {
                if body.is_empty() {
                    return Err(RequestError::MissingMessage);
                }
                if body.len() > max_message_len {
                    return Err(RequestError::MessageTooLarge {
                        len: body.len(),
                        max: max_message_len,
                    });
                }
                Ok(ScepRequest::PkiOperation(Cow::Borrowed(body)))
            }
            (Operation::PkiOperation, Method::Get) => {
                let encoded = query_param(query, "message").ok_or(RequestError::MissingMessage)?;
                let encoded =
                    percent_decode(encoded.as_bytes()).ok_or(RequestError::MessageEncoding)?;
                // base64 is 4/3 of the message: refuse what cannot decode to at most the limit.
                let max_encoded = max_message_len
                    .saturating_div(3)
                    .saturating_mul(4)
                    .saturating_add(1024);
                if encoded.len() > max_encoded {
                    return Err(RequestError::MessageTooLarge {
                        len: encoded.len().saturating_div(4).saturating_mul(3),
                        max: max_message_len,
                    });
                }
                let message = decode_base64(&encoded).ok_or(RequestError::MessageEncoding)?;
                if message.is_empty() {
                    return Err(RequestError::MissingMessage);
                }
                if message.len() > max_message_len {
                    return Err(RequestError::MessageTooLarge {
                        len: message.len(),
                        max: max_message_len,
                    });
                }
                Ok(ScepRequest::PkiOperation(Cow::Owned(message)))
            }
            (op, _) => Err(RequestError::MethodNotAllowed(op)),
        }
    }
}

/// The first value of `name` in a query string, still percent-encoded.
fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k.as_bytes())? == name.as_bytes()).then_some(v)
    })
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = input.iter();
    while let Some(&b) = i.next() {
        if b == b'%' {
            let hi = (*i.next()? as char).to_digit(16)?;
            let lo = (*i.next()? as char).to_digit(16)?;
            out.push(u8::try_from(hi.checked_mul(16)?.checked_add(lo)?).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    // A space is a `+` that went through form decoding somewhere; line breaks are PEM habit.
    let cleaned: Vec<u8> = text
        .iter()
        .filter(|b| !matches!(b, b'\r' | b'\n' | b'\t'))
        .map(|&b| if b == b' ' { b'+' } else { b })
        .collect();
    let trimmed = cleaned
        .strip_suffix(b"==")
        .or_else(|| cleaned.strip_suffix(b"="))
        .unwrap_or(&cleaned);
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
        .ok()
}

/// What a SCEP request ended in (for logs and metrics).
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// GetCACaps answered.
    CaCaps,
    /// GetCACert answered.
    CaCert,
    /// A certificate was issued.
    Issued {
        /// The request's transaction id.
        transaction_id: TransactionId,
        /// The issued certificate, DER.
        certificate: Vec<u8>,
    },
    /// A PKIOperation was refused with a CertRep FAILURE.
    Refused(RefusedRequest),
}

/// A SCEP answer: HTTP 200 with this content type and body.
#[derive(Debug)]
pub struct ScepResponse {
    /// `text/plain`, `application/x-x509-ca-cert`, `application/x-x509-ca-ra-cert` or
    /// `application/x-pki-message`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// What happened.
    pub outcome: Outcome,
}

/// A SCEP server with its challenge policy and CA: answers [`ScepRequest`]s.
///
/// Share it (`Arc<Scep<..>>`) between the tasks of an HTTP server; see
/// [`http::router`](crate::http) with the `axum` feature.
#[derive(Debug)]
pub struct Scep<P, C> {
    server: ScepServer,
    challenge: P,
    ca: C,
}

impl<P: ChallengePolicy, C: CertificateAuthority> Scep<P, C> {
    /// A SCEP service exchanging messages as `identity`, for the CA whose chain (DER, issuing
    /// CA first) GetCACert returns, admitting requests with `challenge` and issuing with `ca`.
    pub fn new(
        identity: ScepIdentity,
        ca_chain: &[Vec<u8>],
        challenge: P,
        ca: C,
        options: ServerOptions,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            server: ScepServer::new(identity, ca_chain, options)?,
            challenge,
            ca,
        })
    }

    /// The protocol core.
    pub fn server(&self) -> &ScepServer {
        &self.server
    }

    /// The challenge policy.
    pub fn challenge_policy(&self) -> &P {
        &self.challenge
    }

    /// The CA.
    pub fn ca(&self) -> &C {
        &self.ca
    }

    /// Reads an HTTP request ([`ScepRequest::from_http`]) and answers it at time `now`.
    pub async fn handle_http(
        &self,
        method: Method,
        query: Option<&str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<ScepResponse, ScepError> {
        let request =
            ScepRequest::from_http(method, query, body, self.server.options().max_message_len)?;
        self.handle(&request, now).await
    }

    /// Answers `request` at time `now`.
    pub async fn handle(
        &self,
        request: &ScepRequest<'_>,
        now: SystemTime,
    ) -> Result<ScepResponse, ScepError> {
        match request {
            ScepRequest::GetCaCaps => Ok(ScepResponse {
                content_type: "text/plain",
                body: self.server.ca_caps().as_bytes().to_vec(),
                outcome: Outcome::CaCaps,
            }),
            ScepRequest::GetCaCert => {
                let answer = self.server.ca_cert();
                Ok(ScepResponse {
                    content_type: answer.content_type,
                    body: answer.body.to_vec(),
                    outcome: Outcome::CaCert,
                })
            }
            ScepRequest::PkiOperation(message) => self.pki_operation(message, now).await,
        }
    }

    async fn pki_operation(
        &self,
        message: &[u8],
        now: SystemTime,
    ) -> Result<ScepResponse, ScepError> {
        let request = match self.server.decode(message, now)? {
            Decoded::Request(request) => request,
            Decoded::Refused(refused) => return self.refuse(refused),
        };
        let transaction_id = request.transaction_id.as_str();
        let public_key = request.csr.public_key_der();
        let verdict = self
            .challenge
            .check(&ChallengeRequest {
                message_type: request.message_type,
                password: request.csr.challenge_password(),
                transaction_id: &transaction_id,
                public_key: &public_key,
                subject: request.csr.subject(),
                renewal_of: request.renewal_of.as_ref(),
                now,
            })
            .await;
        match verdict {
            Ok(()) => {}
            Err(ChallengeError::Refused(why)) => {
                return self.refuse(request.refuse(Refusal::Challenge(why)));
            }
            Err(ChallengeError::Unavailable(e)) => {
                return Err(ServiceError::ChallengeUnavailable(e).into());
            }
        }
        let issued = self
            .ca
            .issue(&IssueRequest {
                message_type: request.message_type,
                csr: request.csr.request(),
                transaction_id: &transaction_id,
                renewal_of: request.renewal_of.as_ref(),
                now,
            })
            .await;
        let certificate = match issued {
            Ok(der) => der,
            Err(IssueError::Refused(info)) => {
                return self.refuse(request.refuse(Refusal::Ca(info)));
            }
            Err(IssueError::Unavailable(e)) => return Err(ServiceError::CaUnavailable(e).into()),
            Err(IssueError::Build) => return Err(ServiceError::Issue.into()),
        };
        let body = self.server.reply_issued(&request, &certificate)?;
        Ok(ScepResponse {
            content_type: "application/x-pki-message",
            body,
            outcome: Outcome::Issued {
                transaction_id: request.transaction_id.clone(),
                certificate,
            },
        })
    }

    fn refuse(&self, refused: RefusedRequest) -> Result<ScepResponse, ScepError> {
        let body = self.server.reply_refused(&refused)?;
        Ok(ScepResponse {
            content_type: "application/x-pki-message",
            body,
            outcome: Outcome::Refused(refused),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_and_methods() {
        let r = |m, q| ScepRequest::from_http(m, q, b"", 1000);
        assert_eq!(
            r(Method::Get, Some("operation=GetCACaps&message=x")),
            Ok(ScepRequest::GetCaCaps)
        );
        assert_eq!(
            r(Method::Get, Some("operation=GetCACert&message=0")),
            Ok(ScepRequest::GetCaCert)
        );
        assert_eq!(r(Method::Get, None), Err(RequestError::MissingOperation));
        assert_eq!(
            r(Method::Get, Some("operation=Nope")),
            Err(RequestError::UnknownOperation)
        );
        assert_eq!(
            r(Method::Get, Some("operation=GetNextCACert")),
            Err(RequestError::UnsupportedOperation(Operation::GetNextCaCert))
        );
        assert_eq!(
            r(Method::Post, Some("operation=GetCACert")),
            Err(RequestError::MethodNotAllowed(Operation::GetCaCert))
        );
        assert_eq!(
            r(Method::Post, Some("operation=PKIOperation")),
            Err(RequestError::MissingMessage)
        );
        assert_eq!(
            r(Method::Get, Some("operation=PKIOperation")),
            Err(RequestError::MissingMessage)
        );
    }

    #[test]
    fn get_message_decoding_is_lenient_about_escaping() {
        let msg = [0xfb_u8, 0xff, 0xbe, 0x01, 0x02];
        let std = base64::engine::general_purpose::STANDARD.encode(msg); // "+/++AQI="
        let escaped = std
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        for form in [
            std.clone(),
            escaped,
            std.replace('+', " "),
            std.trim_end_matches('=').to_owned(),
        ] {
            let q = format!("operation=PKIOperation&message={form}");
            assert_eq!(
                ScepRequest::from_http(Method::Get, Some(&q), b"", 1000),
                Ok(ScepRequest::PkiOperation(Cow::Owned(msg.to_vec()))),
                "{form}"
            );
        }
        let q = "operation=PKIOperation&message=%%%";
        assert_eq!(
            ScepRequest::from_http(Method::Get, Some(q), b"", 1000),
            Err(RequestError::MessageEncoding)
        );
    }

    #[test]
    fn oversized_messages_are_refused_before_decoding() {
        let body = vec![0x30; 11];
        assert_eq!(
            ScepRequest::from_http(Method::Post, Some("operation=PKIOperation"), &body, 10),
            Err(RequestError::MessageTooLarge { len: 11, max: 10 })
        );
        let q = format!("operation=PKIOperation&message={}", "A".repeat(4000));
        assert!(matches!(
            ScepRequest::from_http(Method::Get, Some(&q), b"", 10),
            Err(RequestError::MessageTooLarge { .. })
        ));
    }
}
