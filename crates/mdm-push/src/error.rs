//! What can go wrong with one push, and APNs' own reasons.

use std::fmt;
use std::time::{Duration, SystemTime};

/// APNs' `reason` string from an error response, per Apple's "Handling notification responses
/// from APNs". Strings this crate does not know are kept in [`Reason::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// 400: the collapse identifier exceeds the maximum allowed size.
    BadCollapseId,
    /// 400: the device token is invalid, or belongs to the other environment (production vs
    /// development).
    BadDeviceToken,
    /// 400: the `apns-expiration` value is bad.
    BadExpirationDate,
    /// 400: the `apns-id` value is bad.
    BadMessageId,
    /// 400: the `apns-priority` value is bad.
    BadPriority,
    /// 400: the `apns-topic` value is bad.
    BadTopic,
    /// 400: the device token does not match the topic (the device enrolled with another push
    /// certificate).
    DeviceTokenNotForTopic,
    /// 400: one or more headers were repeated.
    DuplicateHeaders,
    /// 400: idle timeout.
    IdleTimeout,
    /// 400: the `apns-push-type` value is invalid.
    InvalidPushType,
    /// 400: the device token is missing from the path.
    MissingDeviceToken,
    /// 400: the `apns-topic` header was required and missing.
    MissingTopic,
    /// 400: the payload was empty.
    PayloadEmpty,
    /// 400: pushing to this topic is not allowed.
    TopicDisallowed,
    /// 403: the certificate is bad (revoked, or not a push certificate).
    BadCertificate,
    /// 403: the certificate is for the other environment.
    BadCertificateEnvironment,
    /// 403: the provider token is stale (token authentication only).
    ExpiredProviderToken,
    /// 403: the action is not allowed.
    Forbidden,
    /// 403: the provider token is invalid (token authentication only).
    InvalidProviderToken,
    /// 403: no certificate and no provider token were presented.
    MissingProviderToken,
    /// 403: the key id in the provider token is unrelated to the topic (token authentication).
    UnrelatedKeyIdInToken,
    /// 403: the environment key in the provider token is wrong (token authentication).
    BadEnvironmentKeyInToken,
    /// 404: the request path is bad.
    BadPath,
    /// 405: the method was not POST.
    MethodNotAllowed,
    /// 410: the device token has expired.
    ExpiredToken,
    /// 410: the device token is no longer active for the topic; stop pushing to it.
    Unregistered,
    /// 413: the payload is too large.
    PayloadTooLarge,
    /// 429: the provider token is being updated too often (token authentication).
    TooManyProviderTokenUpdates,
    /// 429: too many requests for the same device token; back off.
    TooManyRequests,
    /// 500: internal server error.
    InternalServerError,
    /// 503: the service is unavailable.
    ServiceUnavailable,
    /// 503: the APNs server is shutting down.
    Shutdown,
    /// A reason string this crate does not know, verbatim.
    Other(String),
}

/// Every known reason with its string, so parsing and printing cannot drift apart.
const KNOWN: &[(Reason, &str)] = &[
    (Reason::BadCollapseId, "BadCollapseId"),
    (Reason::BadDeviceToken, "BadDeviceToken"),
    (Reason::BadExpirationDate, "BadExpirationDate"),
    (Reason::BadMessageId, "BadMessageId"),
    (Reason::BadPriority, "BadPriority"),
    (Reason::BadTopic, "BadTopic"),
    (Reason::DeviceTokenNotForTopic, "DeviceTokenNotForTopic"),
    (Reason::DuplicateHeaders, "DuplicateHeaders"),
    (Reason::IdleTimeout, "IdleTimeout"),
    (Reason::InvalidPushType, "InvalidPushType"),
    (Reason::MissingDeviceToken, "MissingDeviceToken"),
    (Reason::MissingTopic, "MissingTopic"),
    (Reason::PayloadEmpty, "PayloadEmpty"),
    (Reason::TopicDisallowed, "TopicDisallowed"),
    (Reason::BadCertificate, "BadCertificate"),
    (
        Reason::BadCertificateEnvironment,
        "BadCertificateEnvironment",
    ),
    (Reason::ExpiredProviderToken, "ExpiredProviderToken"),
    (Reason::Forbidden, "Forbidden"),
    (Reason::InvalidProviderToken, "InvalidProviderToken"),
    (Reason::MissingProviderToken, "MissingProviderToken"),
    (Reason::UnrelatedKeyIdInToken, "UnrelatedKeyIdInToken"),
    (Reason::BadEnvironmentKeyInToken, "BadEnvironmentKeyInToken"),
    (Reason::BadPath, "BadPath"),
    (Reason::MethodNotAllowed, "MethodNotAllowed"),
    (Reason::ExpiredToken, "ExpiredToken"),
    (Reason::Unregistered, "Unregistered"),
    (Reason::PayloadTooLarge, "PayloadTooLarge"),
    (
        Reason::TooManyProviderTokenUpdates,
        "TooManyProviderTokenUpdates",
    ),
    (Reason::TooManyRequests, "TooManyRequests"),
    (Reason::InternalServerError, "InternalServerError"),
    (Reason::ServiceUnavailable, "ServiceUnavailable"),
    (Reason::Shutdown, "Shutdown"),
];

impl Reason {
    /// Every reason APNs documents (without [`Reason::Other`]).
    pub fn all() -> impl Iterator<Item = Reason> {
        KNOWN.iter().map(|(r, _)| r.clone())
    }

    /// Parses APNs' reason string; unknown strings become [`Reason::Other`].
    pub fn parse(s: &str) -> Reason {
        KNOWN
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(r, _)| r.clone())
            .unwrap_or_else(|| Reason::Other(s.to_owned()))
    }

    /// The string APNs uses for this reason, when it is one this crate knows: a `'static` name,
    /// from a closed set (for metrics labels and the like).
    pub fn known_name(&self) -> Option<&'static str> {
        KNOWN.iter().find(|(r, _)| r == self).map(|(_, name)| *name)
    }

    /// The string APNs uses for this reason.
    pub fn as_str(&self) -> &str {
        match self {
            Reason::Other(s) => s,
            known => KNOWN
                .iter()
                .find(|(r, _)| r == known)
                .map(|(_, name)| *name)
                .unwrap_or_default(),
        }
    }

    /// The HTTP status APNs answers this reason with (500 for unknown reasons).
    pub fn status(&self) -> u16 {
        use Reason::*;
        match self {
            BadCollapseId
            | BadDeviceToken
            | BadExpirationDate
            | BadMessageId
            | BadPriority
            | BadTopic
            | DeviceTokenNotForTopic
            | DuplicateHeaders
            | IdleTimeout
            | InvalidPushType
            | MissingDeviceToken
            | MissingTopic
            | PayloadEmpty
            | TopicDisallowed => 400,
            BadCertificate
            | BadCertificateEnvironment
            | ExpiredProviderToken
            | Forbidden
            | InvalidProviderToken
            | MissingProviderToken
            | UnrelatedKeyIdInToken
            | BadEnvironmentKeyInToken => 403,
            BadPath => 404,
            MethodNotAllowed => 405,
            ExpiredToken | Unregistered => 410,
            PayloadTooLarge => 413,
            TooManyProviderTokenUpdates | TooManyRequests => 429,
            InternalServerError => 500,
            ServiceUnavailable | Shutdown => 503,
            Other(_) => 500,
        }
    }

    /// Whether sending the same push again later may succeed without changing anything (rate
    /// limits and server trouble), as opposed to errors that need a fix or mean "stop".
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Reason::IdleTimeout
                | Reason::TooManyRequests
                | Reason::InternalServerError
                | Reason::ServiceUnavailable
                | Reason::Shutdown
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one push did not reach APNs or was refused by it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// APNs answered with an error status and reason.
    #[error("APNs refused the push (HTTP {status} {reason}){}", unregistered_since(.timestamp))]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// APNs' reason.
        reason: Reason,
        /// For 410 responses: when APNs last learned the token was invalid.
        timestamp: Option<SystemTime>,
        /// The `apns-id` of the refused notification, when APNs sent one.
        apns_id: Option<String>,
    },
    /// APNs (or something in between) answered in a way that is not APNs' protocol.
    #[error("unexpected APNs response (HTTP {status}): {detail}")]
    UnexpectedResponse {
        /// The HTTP status.
        status: u16,
        /// What was wrong, with a bounded excerpt of the body.
        detail: String,
    },
    /// TLS with APNs failed: the server refused the client certificate (revoked, expired, wrong
    /// environment, unknown issuer) or the server certificate is not trusted.
    #[error("TLS with APNs failed: {detail}")]
    Tls {
        /// The innermost cause, as text.
        detail: String,
        /// The HTTP client's error (without the URL, which holds the device token).
        #[source]
        source: reqwest::Error,
    },
    /// No connection could be made (DNS, refused, unreachable).
    #[error("could not connect to APNs: {detail}")]
    Connect {
        /// The innermost cause, as text.
        detail: String,
        /// The HTTP client's error (without the URL).
        #[source]
        source: reqwest::Error,
    },
    /// APNs sent GOAWAY with an error code before handling the push; it may be retried on a new
    /// connection.
    #[error("APNs closed the connection (HTTP/2 GOAWAY, {code})")]
    GoAway {
        /// The HTTP/2 error code, as `h2` names it.
        code: String,
    },
    /// The push's stream was reset by the server.
    #[error("APNs reset the request stream ({code})")]
    StreamReset {
        /// The HTTP/2 error code, as `h2` names it.
        code: String,
    },
    /// The connection broke while the push was in flight; it may or may not have been delivered.
    #[error("connection to APNs lost: {detail}")]
    ConnectionLost {
        /// The innermost cause, as text.
        detail: String,
        /// The HTTP client's error (without the URL).
        #[source]
        source: reqwest::Error,
    },
    /// No answer within the configured request timeout.
    #[error("APNs did not answer within {0:?}")]
    Timeout(Duration),
    /// The request could not be built (for example a base URL that is not a valid URL).
    #[error("invalid push request: {0}")]
    InvalidRequest(String),
}

fn unregistered_since(ts: &Option<SystemTime>) -> String {
    match ts.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()) {
        Some(d) => format!(
            ", token invalid since {} ms after the Unix epoch",
            d.as_millis()
        ),
        None => String::new(),
    }
}

impl PushError {
    /// APNs' reason, when APNs refused the push.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            PushError::Rejected { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Whether the same push may succeed if sent again later unchanged: transport failures and
    /// APNs' rate-limit and server-side reasons.
    pub fn is_retryable(&self) -> bool {
        match self {
            PushError::Rejected { reason, .. } => reason.is_retryable(),
            PushError::UnexpectedResponse { status, .. } => *status >= 500,
            PushError::Tls { .. } | PushError::InvalidRequest(_) => false,
            PushError::Connect { .. }
            | PushError::GoAway { .. }
            | PushError::StreamReset { .. }
            | PushError::ConnectionLost { .. }
            | PushError::Timeout(_) => true,
        }
    }

    /// Whether APNs says the device token is dead for this topic (`Unregistered`,
    /// `ExpiredToken`, `BadDeviceToken`, `DeviceTokenNotForTopic`): pushing again is pointless
    /// until the device sends a new TokenUpdate.
    pub fn is_token_invalid(&self) -> bool {
        matches!(
            self.reason(),
            Some(
                Reason::Unregistered
                    | Reason::ExpiredToken
                    | Reason::BadDeviceToken
                    | Reason::DeviceTokenNotForTopic
            )
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_strings_round_trip() {
        let all: Vec<Reason> = Reason::all().collect();
        assert_eq!(all.len(), 32);
        for r in all {
            assert_eq!(Reason::parse(r.as_str()), r);
            if r != Reason::InternalServerError {
                assert_ne!(r.status(), 500, "{r} has a documented status");
            }
        }
        assert_eq!(Reason::parse("Nope"), Reason::Other("Nope".into()));
        assert_eq!(Reason::Other("Nope".into()).to_string(), "Nope");
    }

    #[test]
    fn statuses_follow_apple_table() {
        assert_eq!(Reason::BadDeviceToken.status(), 400);
        assert_eq!(Reason::BadCertificate.status(), 403);
        assert_eq!(Reason::BadPath.status(), 404);
        assert_eq!(Reason::MethodNotAllowed.status(), 405);
        assert_eq!(Reason::Unregistered.status(), 410);
        assert_eq!(Reason::PayloadTooLarge.status(), 413);
        assert_eq!(Reason::TooManyRequests.status(), 429);
        assert_eq!(Reason::InternalServerError.status(), 500);
        assert_eq!(Reason::Shutdown.status(), 503);
    }

    #[test]
    fn rejected_display_names_reason_and_timestamp() {
        let e = PushError::Rejected {
            status: 410,
            reason: Reason::Unregistered,
            timestamp: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            apns_id: None,
        };
        let s = e.to_string();
        assert!(s.contains("410 Unregistered"), "{s}");
        assert!(s.contains("1700000000123"), "{s}");
        assert!(e.is_token_invalid());
        assert!(!e.is_retryable());
    }
}
