//! Challenge policies: who may enroll. A PKCSReq is authenticated by its challenge password; a
//! RenewalReq by the certificate it is signed with (which [`crate::ScepServer`] has already
//! checked), and the policy decides whether renewals are allowed at all.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq;
use x509_cert::Certificate;

use crate::error::{ChallengeError, ChallengeRefusal};
use crate::message::MessageType;

/// What a challenge policy decides on.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ChallengeRequest<'a> {
    /// PKCSReq or RenewalReq.
    pub message_type: MessageType,
    /// The challenge password of the PKCS #10 request, if any.
    pub password: Option<&'a str>,
    /// The transaction id (a client retrying a request sends the same one).
    pub transaction_id: &'a str,
    /// The requested public key, as encoded SubjectPublicKeyInfo.
    pub public_key: &'a [u8],
    /// The requested subject.
    pub subject: &'a x509_cert::name::Name,
    /// For a RenewalReq, the certificate being renewed (already checked: this CA issued it and
    /// it is valid).
    pub renewal_of: Option<&'a Certificate>,
    /// The time of the request.
    pub now: SystemTime,
}

/// Decides whether a request may be issued a certificate.
///
/// Called once per PKIOperation whose message checks passed, before the CA. `Ok` admits the
/// request; [`ChallengeError::Refused`] answers it with a CertRep FAILURE (badRequest);
/// [`ChallengeError::Unavailable`] with HTTP 503.
#[dynosaur::dynosaur(pub DynChallengePolicy = dyn(box) ChallengePolicy)]
pub trait ChallengePolicy: Send + Sync {
    /// Checks `request`.
    fn check(
        &self,
        request: &ChallengeRequest<'_>,
    ) -> impl Future<Output = Result<(), ChallengeError>> + Send;
}

impl<T: ChallengePolicy + ?Sized> ChallengePolicy for std::sync::Arc<T> {
    fn check(
        &self,
        request: &ChallengeRequest<'_>,
    ) -> impl Future<Output = Result<(), ChallengeError>> + Send {
        (**self).check(request)
    }
}

fn renewal_allowed(
    request: &ChallengeRequest<'_>,
    allow: bool,
) -> Option<Result<(), ChallengeError>> {
    (request.message_type == MessageType::RenewalReq).then(|| {
        if allow {
            Ok(())
        } else {
            Err(ChallengeRefusal::RenewalNotAllowed.into())
        }
    })
}

/// One shared challenge password for every PKCSReq (micromdm's `-challenge`), compared in
/// constant time. Renewals are allowed unless [`StaticChallenge::allow_renewal`] says otherwise.
pub struct StaticChallenge {
    password: Vec<u8>,
    allow_renewal: bool,
}

impl std::fmt::Debug for StaticChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticChallenge")
            .field("allow_renewal", &self.allow_renewal)
            .finish_non_exhaustive()
    }
}

impl StaticChallenge {
    /// The policy requiring `password`.
    pub fn new(password: impl Into<String>) -> Self {
        Self {
            password: password.into().into_bytes(),
            allow_renewal: true,
        }
    }

    /// Whether RenewalReq (authenticated by the certificate being renewed) is admitted.
    pub fn allow_renewal(mut self, allow: bool) -> Self {
        self.allow_renewal = allow;
        self
    }
}

impl ChallengePolicy for StaticChallenge {
    async fn check(&self, request: &ChallengeRequest<'_>) -> Result<(), ChallengeError> {
        if let Some(renewal) = renewal_allowed(request, self.allow_renewal) {
            return renewal;
        }
        let given = request.password.ok_or(ChallengeRefusal::Missing)?;
        if bool::from(given.as_bytes().ct_eq(&self.password)) {
            Ok(())
        } else {
            Err(ChallengeRefusal::Wrong.into())
        }
    }
}

/// One-time challenges, in memory: each is issued with an expiry and admits one request.
///
/// The first request that presents a challenge consumes it and binds it to itself (its
/// transaction id and public key). A retransmission of that same request — a client that lost
/// the reply resends it with the same transaction id and key — is admitted again until the
/// challenge expires; any other request presenting it is refused with
/// [`ChallengeRefusal::AlreadyUsed`]. Expired challenges are forgotten when new ones are
/// issued.
pub struct OneTimeChallenges {
    ttl: Duration,
    allow_renewal: bool,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    expires: SystemTime,
    used_by: Option<Binding>,
}

#[derive(PartialEq, Eq)]
struct Binding {
    transaction_id: String,
    public_key: Vec<u8>,
}

impl std::fmt::Debug for OneTimeChallenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTimeChallenges")
            .field("ttl", &self.ttl)
            .field("allow_renewal", &self.allow_renewal)
            .finish_non_exhaustive()
    }
}

impl OneTimeChallenges {
    /// Challenges valid for `ttl` after they are issued.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            allow_renewal: true,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether RenewalReq (authenticated by the certificate being renewed, no challenge) is
    /// admitted.
    pub fn allow_renewal(mut self, allow: bool) -> Self {
        self.allow_renewal = allow;
        self
    }

    /// Issues a new challenge, valid from now (the system clock).
    pub fn issue(&self) -> String {
        self.issue_at(SystemTime::now())
    }

    /// Issues a new challenge valid from `now`: 32 hexadecimal digits (128 random bits; hex is
    /// a PrintableString, which every client can put in its request).
    pub fn issue_at(&self, now: SystemTime) -> String {
        let challenge = hex::encode(crate::rng::bytes::<16>());
        let expires = now.checked_add(self.ttl).unwrap_or(now);
        let mut entries = self.lock();
        entries.retain(|_, e| e.expires > now);
        entries.insert(
            challenge.clone(),
            Entry {
                expires,
                used_by: None,
            },
        );
        challenge
    }

    /// How many challenges are held (issued and not yet forgotten).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no challenge is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is one
        // call), so a poisoned lock is still sound.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ChallengePolicy for OneTimeChallenges {
    async fn check(&self, request: &ChallengeRequest<'_>) -> Result<(), ChallengeError> {
        if let Some(renewal) = renewal_allowed(request, self.allow_renewal) {
            return renewal;
        }
        let given = request.password.ok_or(ChallengeRefusal::Missing)?;
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(given) else {
            return Err(ChallengeRefusal::Wrong.into());
        };
        if request.now >= entry.expires {
            entries.remove(given);
            return Err(ChallengeRefusal::Expired.into());
        }
        let binding = Binding {
            transaction_id: request.transaction_id.to_owned(),
            public_key: request.public_key.to_vec(),
        };
        match &entry.used_by {
            None => {
                entry.used_by = Some(binding);
                Ok(())
            }
            Some(bound) if *bound == binding => Ok(()),
            Some(_) => Err(ChallengeRefusal::AlreadyUsed.into()),
        }
    }
}
