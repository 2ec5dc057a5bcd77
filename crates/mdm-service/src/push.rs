//! Push to enrollment ids: look up push info, then one APNs client per topic, rebuilt when the
//! stored push certificate changes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use futures_util::future::join_all;
use mdm_enrollment::EnrollmentId;
use mdm_proto::{Command, PushInfo, Raw};
use mdm_push::{
    ApnsClient, ApnsConfig, ApnsId, ClientError, PushCertError, PushCertificate, PushError,
};
use mdm_storage::{CommandQueue, PushCertStore, PushStore, StorageError};

/// Why one enrollment id was not pushed to. Displayable as-is for API responses.
///
/// Errors that concern a whole topic (no certificate, an unusable certificate) are reported for
/// every id of that topic; the `Arc`s let one such error be shared by all of them.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushFailure {
    /// The id is unknown, not enabled, or has not sent a TokenUpdate yet.
    #[error("no push info for this enrollment id")]
    NoPushInfo,
    /// No push certificate is stored for the enrollment's topic.
    #[error("no push certificate stored for topic {topic}")]
    NoPushCert {
        /// The enrollment's topic.
        topic: String,
    },
    /// The stored certificate or key cannot be used.
    #[error("the stored push certificate for topic {topic} is unusable: {source}")]
    InvalidPushCert {
        /// The enrollment's topic.
        topic: String,
        /// What is wrong with it.
        #[source]
        source: Arc<PushCertError>,
    },
    /// The certificate stored under `topic` is for another topic.
    #[error("the push certificate stored for topic {topic} is for topic {cert_topic}")]
    TopicMismatch {
        /// The enrollment's topic (the storage key).
        topic: String,
        /// The topic in the stored certificate.
        cert_topic: String,
    },
    /// Reading the push certificate from storage failed.
    #[error("could not read the push certificate for topic {topic}: {source}")]
    Storage {
        /// The enrollment's topic.
        topic: String,
        /// The storage error.
        #[source]
        source: Arc<StorageError>,
    },
    /// The APNs client for the topic could not be set up.
    #[error("could not set up the APNs client for topic {topic}: {source}")]
    Client {
        /// The enrollment's topic.
        topic: String,
        /// Why.
        #[source]
        source: Arc<ClientError>,
    },
    /// The push itself failed or APNs refused it.
    #[error(transparent)]
    Push(#[from] Arc<PushError>),
}

impl From<PushError> for PushFailure {
    fn from(e: PushError) -> Self {
        PushFailure::Push(Arc::new(e))
    }
}

/// The outcome of [`Pusher::push`] for each requested id: APNs' id, or why not.
pub type PushResults = HashMap<EnrollmentId, Result<ApnsId, PushFailure>>;

/// Why a push failed, from a closed set (a metrics label): APNs' own reason when it refused.
fn failure_reason(failure: &PushFailure) -> &'static str {
    match failure {
        PushFailure::NoPushInfo => "no_push_info",
        PushFailure::NoPushCert { .. } => "no_push_cert",
        PushFailure::InvalidPushCert { .. } => "invalid_push_cert",
        PushFailure::TopicMismatch { .. } => "topic_mismatch",
        PushFailure::Storage { .. } => "storage",
        PushFailure::Client { .. } => "client",
        PushFailure::Push(e) => match &**e {
            PushError::Rejected { reason, .. } => reason.known_name().unwrap_or("other"),
            PushError::Timeout(_) => "timeout",
            _ => "transport",
        },
    }
}

struct Provider {
    client: ApnsClient,
    stale_token: i64,
}

/// Sends MDM pushes to enrollment ids using push info and push certificates from storage.
///
/// One [`ApnsClient`] (one HTTP/2 connection) is kept per topic and reused until the stored
/// certificate's stale token changes, so a certificate renewed through the API is picked up on
/// the next push without a restart.
pub struct Pusher<S> {
    store: S,
    config: ApnsConfig,
    providers: Mutex<HashMap<String, Provider>>,
    /// One gate per topic so a burst of pushes after a certificate change builds one client,
    /// not one per caller.
    rebuild_gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<S> std::fmt::Debug for Pusher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<S: PushStore + PushCertStore> Pusher<S> {
    /// A pusher reading from `store` and pushing with `config` (environment, timeouts, limits).
    pub fn new(store: S, config: ApnsConfig) -> Self {
        Self {
            store,
            config,
            providers: Mutex::new(HashMap::new()),
            rebuild_gates: Mutex::new(HashMap::new()),
        }
    }

    /// The store it reads from.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Pushes to every id, all topics and ids concurrently (bounded per topic by
    /// [`ApnsConfig::max_in_flight`]).
    ///
    /// Every requested id gets an entry; unknown ids get [`PushFailure::NoPushInfo`]. The call
    /// as a whole fails only when the push info cannot be read at all.
    pub async fn push(&self, ids: &[EnrollmentId]) -> Result<PushResults, StorageError> {
        let mut infos = self.store.retrieve_push_info(ids).await?;
        let mut results = PushResults::with_capacity(ids.len());
        let mut by_topic: HashMap<String, Vec<(EnrollmentId, PushInfo)>> = HashMap::new();
        let mut seen = HashSet::with_capacity(ids.len());
        for id in ids {
            if !seen.insert(id) {
                continue;
            }
            match infos.remove(id) {
                Some(info) => by_topic
                    .entry(info.topic.clone())
                    .or_default()
                    .push((id.clone(), info)),
                None => {
                    results.insert(id.clone(), Err(PushFailure::NoPushInfo));
                }
            }
        }

        let per_topic = by_topic
            .into_iter()
            .map(|(topic, targets)| self.push_topic(topic, targets));
        for topic_results in join_all(per_topic).await {
            results.extend(topic_results);
        }
        for outcome in results.values() {
            let (label, reason) = match outcome {
                Ok(_) => ("sent", "ok"),
                Err(failure) => ("failed", failure_reason(failure)),
            };
            metrics::counter!("mdm_pushes_total", "outcome" => label, "reason" => reason)
                .increment(1);
        }
        Ok(results)
    }

    async fn push_topic(
        &self,
        topic: String,
        targets: Vec<(EnrollmentId, PushInfo)>,
    ) -> Vec<(EnrollmentId, Result<ApnsId, PushFailure>)> {
        let client = match self.provider(&topic).await {
            Ok(client) => client,
            Err(failure) => {
                tracing::warn!(%topic, error = %failure, "no APNs client for topic");
                return targets
                    .into_iter()
                    .map(|(id, _)| (id, Err(failure.clone())))
                    .collect();
            }
        };
        let pushes = targets.into_iter().map(|(id, info)| {
            let client = &client;
            async move {
                let result = client
                    .push(&info.token, &info.push_magic)
                    .await
                    .map_err(PushFailure::from);
                if let Err(e) = &result {
                    tracing::debug!(enrollment_id = ?id, error = %e, "push failed");
                }
                (id, result)
            }
        });
        join_all(pushes).await
    }

    /// The client for `topic`, rebuilt from storage when missing or stale.
    async fn provider(&self, topic: &str) -> Result<ApnsClient, PushFailure> {
        let storage_err = |e: StorageError| PushFailure::Storage {
            topic: topic.to_owned(),
            source: Arc::new(e),
        };
        let seen = self.cached(topic);
        if let Some((client, token)) = &seen
            && !self
                .store
                .is_push_cert_stale(topic, *token)
                .await
                .map_err(storage_err)?
        {
            return Ok(client.clone());
        }

        let gate = lock(&self.rebuild_gates)
            .entry(topic.to_owned())
            .or_default()
            .clone();
        let _rebuilding = gate.lock().await;
        // Someone else may have rebuilt it while this task waited at the gate.
        if let Some((client, token)) = self.cached(topic)
            && seen.as_ref().map(|(_, t)| *t) != Some(token)
        {
            return Ok(client);
        }

        let stored = self
            .store
            .retrieve_push_cert(topic)
            .await
            .map_err(storage_err)?
            .ok_or_else(|| PushFailure::NoPushCert {
                topic: topic.to_owned(),
            })?;
        let cert =
            PushCertificate::from_pem(&stored.cert_pem, stored.key_pem.expose()).map_err(|e| {
                PushFailure::InvalidPushCert {
                    topic: topic.to_owned(),
                    source: Arc::new(e),
                }
            })?;
        if cert.topic() != topic {
            return Err(PushFailure::TopicMismatch {
                topic: topic.to_owned(),
                cert_topic: cert.topic().to_owned(),
            });
        }
        if cert.is_expired_at(SystemTime::now()) {
            // APNs will refuse the TLS handshake; say why in the log, the pushes say the rest.
            tracing::warn!(%topic, "the stored push certificate has expired");
        }
        let client = ApnsClient::new(&cert, &self.config).map_err(|e| PushFailure::Client {
            topic: topic.to_owned(),
            source: Arc::new(e),
        })?;
        tracing::info!(%topic, "loaded push certificate");
        lock(&self.providers).insert(
            topic.to_owned(),
            Provider {
                client: client.clone(),
                stale_token: stored.stale_token,
            },
        );
        Ok(client)
    }

    fn cached(&self, topic: &str) -> Option<(ApnsClient, i64)> {
        lock(&self.providers)
            .get(topic)
            .map(|p| (p.client.clone(), p.stale_token))
    }
}

/// Enqueues commands and wakes the enrollments they are for: what NanoMDM's `/v1/enqueue/`
/// does, as one type that the HTTP API and code embedding the server both call.
///
/// ```no_run
/// # async fn demo(store: mdm_storage::DynStorage, command: mdm_proto::Raw<mdm_proto::Command>)
/// #     -> Result<(), mdm_storage::StorageError> {
/// use mdm_service::Enqueuer;
/// use mdm_storage::EnrollmentId;
///
/// let enqueuer = Enqueuer::new(store, mdm_push::ApnsConfig::default());
/// let ids = [EnrollmentId::new("00008030-001A2B3C4D5E6F70")];
/// let enqueued = enqueuer.enqueue(&ids, &command, true).await?;
/// assert!(enqueued.not_queued.is_empty());
/// # Ok(()) }
/// ```
pub struct Enqueuer<S> {
    store: S,
    pusher: Arc<Pusher<S>>,
}

impl<S: Clone> Clone for Enqueuer<S> {
    fn clone(&self) -> Self {
        Enqueuer {
            store: self.store.clone(),
            pusher: self.pusher.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Enqueuer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enqueuer")
            .field("pusher", &self.pusher)
            .finish_non_exhaustive()
    }
}

/// What [`Enqueuer::enqueue`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct Enqueued {
    /// The ids the command was not queued for, and why (an enrollment the store does not know).
    pub not_queued: HashMap<EnrollmentId, StorageError>,
    /// The pushes, when asked for: per id, or why no push info could be read.
    pub pushed: Option<Result<PushResults, StorageError>>,
}

impl<S> Enqueuer<S>
where
    S: CommandQueue + PushStore + PushCertStore + Clone,
{
    /// Enqueues into `store` and pushes with APNs settings `apns`.
    pub fn new(store: S, apns: ApnsConfig) -> Self {
        Enqueuer {
            pusher: Arc::new(Pusher::new(store.clone(), apns)),
            store,
        }
    }

    /// The pusher it wakes enrollments with.
    pub fn pusher(&self) -> &Pusher<S> {
        &self.pusher
    }

    /// Enqueues `command` for each id (a repeated id once), then, if `push`, pushes to every id
    /// — those it was not queued for too, as NanoMDM does. Fails as a whole only when the
    /// store cannot enqueue at all (e.g. a `CommandUUID` already used).
    pub async fn enqueue(
        &self,
        ids: &[EnrollmentId],
        command: &Raw<Command>,
        push: bool,
    ) -> Result<Enqueued, StorageError> {
        let mut seen = HashSet::with_capacity(ids.len());
        let targets: Vec<EnrollmentId> =
            ids.iter().filter(|id| seen.insert(*id)).cloned().collect();
        let not_queued = self.store.enqueue_command(&targets, command, 0).await?;
        let queued = targets.len().saturating_sub(not_queued.len());
        metrics::counter!("mdm_commands_enqueued_total").increment(queued as u64);
        tracing::info!(
            command_uuid = %command.command_uuid,
            request_type = %command.request_type,
            ids = targets.len(),
            "command enqueued"
        );
        let pushed = if push {
            Some(self.pusher.push(ids).await)
        } else {
            None
        };
        Ok(Enqueued { not_queued, pushed })
    }

    /// Pushes to every id: see [`Pusher::push`].
    pub async fn push(&self, ids: &[EnrollmentId]) -> Result<PushResults, StorageError> {
        self.pusher.push(ids).await
    }
}
