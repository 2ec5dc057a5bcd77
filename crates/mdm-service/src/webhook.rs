use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;
use mdm_enrollment::EnrollId;
use mdm_proto::CheckIn;
use mdm_storage::TokenUpdateTallyStore;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};
use url::Url;

use crate::{MdmError, MdmMessage, MdmRequest, MdmResponse, hmac_sig, take_ready};

/// Where and how webhook events are delivered.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// The receiver's URL; events are `POST`ed to it.
    pub url: Url,
    /// Signs each body with `X-Hmac-Signature` (NanoMDM `-webhook-hmac-key`).
    pub hmac_key: Option<Vec<u8>>,
    /// How long one delivery may take before it is abandoned. Default 30 s.
    pub timeout: Duration,
    /// Events waiting for delivery; when full, new events are dropped (and logged) rather than
    /// slowing devices down. Default 1024.
    pub queue_capacity: usize,
    /// Deliveries in flight at once. Default 16.
    pub max_in_flight: usize,
}

impl WebhookConfig {
    /// Delivery to `url` with the defaults.
    pub fn new(url: Url) -> Self {
        WebhookConfig {
            url,
            hmac_key: None,
            timeout: Duration::from_secs(30),
            queue_capacity: 1024,
            max_in_flight: 16,
        }
    }
}

type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// Sends a MicroMDM-compatible webhook event for every request the inner service answers (or
/// fails to answer), without making the device wait for the delivery.
///
/// Topics are `mdm.<MessageType>` for check-ins and `mdm.Connect` for every command report,
/// `Idle` included, with NanoMDM's JSON. TokenUpdate events carry `token_update_tally`, read after
/// the inner service stored the TokenUpdate.
#[derive(Clone)]
pub struct WebhookLayer<T> {
    tally: T,
    sender: mpsc::Sender<Vec<u8>>,
    clock: Clock,
}

impl<T> std::fmt::Debug for WebhookLayer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookLayer").finish_non_exhaustive()
    }
}

impl<T> WebhookLayer<T> {
    /// The layer, and the worker that delivers its events: run the worker on a tokio runtime
    /// (`tokio::spawn(worker.run())`). `tally` is where TokenUpdate tallies are read.
    ///
    /// Nothing is started here, so this works outside a runtime; events queue (up to
    /// [`WebhookConfig::queue_capacity`]) until the worker runs.
    pub fn new(config: WebhookConfig, tally: T) -> (Self, WebhookWorker) {
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let layer = WebhookLayer {
            tally,
            sender,
            clock: Arc::new(OffsetDateTime::now_utc),
        };
        (layer, WebhookWorker { config, receiver })
    }

    /// Replaces the clock that stamps `created_at` (for reproducible events in tests).
    pub fn with_clock(
        mut self,
        clock: impl Fn() -> OffsetDateTime + Send + Sync + 'static,
    ) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

/// Delivers the events of a [`WebhookLayer`] ([`WebhookWorker::run`]).
pub struct WebhookWorker {
    config: WebhookConfig,
    receiver: mpsc::Receiver<Vec<u8>>,
}

impl std::fmt::Debug for WebhookWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookWorker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebhookWorker {
    /// Delivers events until the layer and every service made from it are dropped, then
    /// delivers what is still queued and waits for the deliveries in flight (each bounded by
    /// [`WebhookConfig::timeout`]): a server that drops its service at shutdown and awaits this
    /// loses no event it accepted.
    pub async fn run(self) {
        let WebhookWorker {
            config,
            mut receiver,
        } = self;
        let client = match reqwest::Client::builder().timeout(config.timeout).build() {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "webhook: cannot build the HTTP client; events dropped");
                return;
            }
        };
        let slots = u32::try_from(config.max_in_flight.clamp(1, Semaphore::MAX_PERMITS))
            .unwrap_or(u32::MAX);
        let in_flight = Arc::new(Semaphore::new(slots as usize));
        let config = Arc::new(config);
        while let Some(body) = receiver.recv().await {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            deliver(&client, &config, body, permit);
        }
        // Every permit back means every delivery has finished.
        let _all = in_flight.acquire_many(slots).await;
    }
}

/// Posts one event in its own task; the permit is held until the delivery ends.
fn deliver(
    client: &reqwest::Client,
    config: &Arc<WebhookConfig>,
    body: Vec<u8>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let client = client.clone();
    let config = config.clone();
    tokio::spawn(async move {
        let mut request = client.post(config.url.clone()).header(
            http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        );
        if let Some(key) = &config.hmac_key {
            request = request.header(hmac_sig::HEADER, hmac_sig::sign(key, &body));
        }
        match request.body(body).send().await {
            Ok(response) if response.status() == reqwest::StatusCode::OK => {
                metrics::counter!("mdm_webhook_deliveries_total", "outcome" => "delivered")
                    .increment(1);
            }
            Ok(response) => {
                metrics::counter!("mdm_webhook_deliveries_total", "outcome" => "failed")
                    .increment(1);
                tracing::warn!(status = %response.status(), "webhook: unexpected HTTP status")
            }
            Err(e) => {
                metrics::counter!("mdm_webhook_deliveries_total", "outcome" => "failed")
                    .increment(1);
                tracing::warn!(error = %e, "webhook: delivery failed")
            }
        }
        drop(permit);
    });
}

impl<T: Clone, S> tower::Layer<S> for WebhookLayer<T> {
    type Service = Webhook<T, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Webhook {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`WebhookLayer`] produces.
#[derive(Clone, Debug)]
pub struct Webhook<T, S> {
    layer: WebhookLayer<T>,
    inner: S,
}

impl<T, S> tower::Service<MdmRequest> for Webhook<T, S>
where
    T: TokenUpdateTallyStore + Clone + 'static,
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
        let layer = self.layer.clone();
        let mut event = WebhookEvent::for_request(&request, (layer.clock)());
        let is_token_update = matches!(&request.message, MdmMessage::CheckIn(c) if matches!(c.value(), CheckIn::TokenUpdate(_)));
        let enroll_id = request.enroll_id.clone();
        let mut inner = take_ready(&mut self.inner);
        Box::pin(async move {
            let result = inner.call(request).await;
            // NanoMDM sends the event whether or not the core succeeded.
            if is_token_update {
                match layer.tally.retrieve_token_update_tally(&enroll_id).await {
                    Ok(tally) => event.set_token_update_tally(tally),
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook: reading the TokenUpdate tally failed; event not sent");
                        return result;
                    }
                }
            }
            if layer.sender.try_send(event.to_json()).is_err() {
                metrics::counter!("mdm_webhook_deliveries_total", "outcome" => "dropped")
                    .increment(1);
                tracing::warn!("webhook: delivery queue full or closed; event dropped");
            }
            result
        })
    }
}

/// One webhook event, in NanoMDM's (MicroMDM-compatible) JSON shape. Fields serialize in
/// alphabetical order, as NanoMDM's generated encoder writes them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WebhookEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledge_event: Option<AcknowledgeEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkin_event: Option<CheckinEvent>,
    created_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    event_id: String,
    topic: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct CheckinEvent {
    #[serde(skip_serializing_if = "String::is_empty")]
    enrollment_id: String,
    ids: Ids,
    raw_payload: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_update_tally: Option<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    udid: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    url_params: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct AcknowledgeEvent {
    #[serde(skip_serializing_if = "String::is_empty")]
    command_uuid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    enrollment_id: String,
    ids: Ids,
    raw_payload: String,
    status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    udid: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    url_params: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Ids {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl From<&EnrollId> for Ids {
    fn from(id: &EnrollId) -> Self {
        Ids {
            id: id.id().to_string(),
            parent_id: id.parent().map(ToString::to_string),
            kind: id.kind().as_str(),
        }
    }
}

impl WebhookEvent {
    /// The event for a request, stamped `created_at`.
    pub fn for_request(request: &MdmRequest, created_at: OffsetDateTime) -> Self {
        let enrollment = request.message.enrollment();
        let udid = enrollment.udid.clone().unwrap_or_default();
        let enrollment_id = enrollment.enrollment_id.clone().unwrap_or_default();
        let raw_payload = STANDARD.encode(request.message.bytes());
        let ids = Ids::from(&request.enroll_id);
        let url_params = request.params.clone();
        let (topic, checkin_event, acknowledge_event) = match &request.message {
            MdmMessage::CheckIn(check_in) => (
                format!("mdm.{}", check_in.message_type()),
                Some(CheckinEvent {
                    enrollment_id,
                    ids,
                    raw_payload,
                    token_update_tally: None,
                    udid,
                    url_params,
                }),
                None,
            ),
            MdmMessage::Report(report) => (
                "mdm.Connect".to_owned(),
                None,
                Some(AcknowledgeEvent {
                    command_uuid: report.command_uuid.clone().unwrap_or_default(),
                    enrollment_id,
                    ids,
                    raw_payload,
                    status: report.status.to_string(),
                    udid,
                    url_params,
                }),
            ),
        };
        WebhookEvent {
            acknowledge_event,
            checkin_event,
            created_at: rfc3339_nano(created_at),
            event_id: request.request_id.to_string(),
            topic,
        }
    }

    fn set_token_update_tally(&mut self, tally: u32) {
        if let Some(checkin) = &mut self.checkin_event {
            checkin.token_update_tally = Some(tally);
        }
    }

    /// The event as NanoMDM serializes it: compact JSON with `<`, `>`, `&`, U+2028 and U+2029
    /// escaped, no trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let json = serde_json::to_string(self).expect("the event is plain data");
        let mut escaped = String::with_capacity(json.len());
        for c in json.chars() {
            match c {
                '<' => escaped.push_str("\\u003c"),
                '>' => escaped.push_str("\\u003e"),
                '&' => escaped.push_str("\\u0026"),
                '\u{2028}' => escaped.push_str("\\u2028"),
                '\u{2029}' => escaped.push_str("\\u2029"),
                c => escaped.push(c),
            }
        }
        escaped.into_bytes()
    }
}

/// RFC 3339 with nanoseconds, trailing zeros trimmed (Go's `time.RFC3339Nano`).
fn rfc3339_nano(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let offset = t.offset();
    if offset.is_utc() {
        s.push('Z');
    } else {
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        s.push_str(&format!(
            "{sign}{:02}:{:02}",
            h.unsigned_abs(),
            m.unsigned_abs()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_match_go_rfc3339_nano() {
        assert_eq!(
            rfc3339_nano(datetime!(2024-01-02 03:04:05 UTC)),
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(
            rfc3339_nano(datetime!(2024-01-02 03:04:05.120 UTC)),
            "2024-01-02T03:04:05.12Z"
        );
        assert_eq!(
            rfc3339_nano(datetime!(2024-01-02 03:04:05.000000001 -05:30)),
            "2024-01-02T03:04:05.000000001-05:30"
        );
    }
}
