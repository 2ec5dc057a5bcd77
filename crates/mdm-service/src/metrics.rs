//! Counters and latencies of the MDM service, through the [`metrics`] facade: an application
//! installs the recorder (exporter) it likes — the reference server a Prometheus one — and
//! without one every call here costs next to nothing.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `mdm_requests_total` | counter | `kind` (`check_in`, `report`), `message` (`MessageType` or `Status`), `status` (HTTP status) |
//! | `mdm_request_duration_seconds` | histogram | `kind`, `message` |
//! | `mdm_command_reports_total` | counter | `outcome` (`final`, `not_now`, `not_queued`, `idle`) |
//! | `mdm_storage_errors_total` | counter | — |
//! | `mdm_commands_enqueued_total` | counter | — (one per enrollment a command was queued for) |
//! | `mdm_pushes_total` | counter | `outcome` (`sent`, `failed`), `reason` (APNs' reason, or why no push was made) |
//! | `mdm_webhook_deliveries_total` | counter | `outcome` (`delivered`, `failed`, `dropped`) |
//! | `mdm_dm_forward_failures_total` | counter | — |
//!
//! Every label takes values from a closed set (a device-chosen `Status` is `other`), so a
//! hostile client cannot grow the number of series.

use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::future::BoxFuture;
use mdm_proto::Status;
use mdm_storage::ReportOutcome;

use crate::{MdmError, MdmMessage, MdmRequest, MdmResponse, MessageKind};

/// Counts every request with its kind, message and the HTTP status it is answered with, and
/// records how long it took; see the [module documentation](self) for every metric.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsLayer;

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metrics { inner }
    }
}

/// The service [`MetricsLayer`] produces.
#[derive(Clone, Debug)]
pub struct Metrics<S> {
    inner: S,
}

impl<S> tower::Service<MdmRequest> for Metrics<S>
where
    S: tower::Service<MdmRequest, Response = MdmResponse, Error = MdmError>,
    S::Future: Send + 'static,
{
    type Response = MdmResponse;
    type Error = MdmError;
    type Future = BoxFuture<'static, Result<MdmResponse, MdmError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MdmRequest) -> Self::Future {
        let (kind, message) = labels(&request.message);
        let start = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            let status = match &result {
                Ok(_) => 200,
                Err(e) => e.status(),
            };
            metrics::counter!(
                "mdm_requests_total",
                "kind" => kind,
                "message" => message,
                "status" => status_label(status),
            )
            .increment(1);
            metrics::histogram!(
                "mdm_request_duration_seconds",
                "kind" => kind,
                "message" => message,
            )
            .record(start.elapsed().as_secs_f64());
            match &result {
                Ok(response) => {
                    if let Some(outcome) = response.report_outcome {
                        metrics::counter!(
                            "mdm_command_reports_total",
                            "outcome" => outcome_label(outcome),
                        )
                        .increment(1);
                    }
                }
                Err(MdmError::Storage(_)) => {
                    metrics::counter!("mdm_storage_errors_total").increment(1)
                }
                Err(_) => {}
            }
            result
        })
    }
}

fn labels(message: &MdmMessage) -> (&'static str, &'static str) {
    match message.kind() {
        MessageKind::CheckIn(message_type) => ("check_in", message_type),
        MessageKind::Report(status) => (
            "report",
            match status {
                Status::Idle => "Idle",
                Status::Acknowledged => "Acknowledged",
                Status::Error => "Error",
                Status::CommandFormatError => "CommandFormatError",
                Status::NotNow => "NotNow",
                // A status the device made up: one series for all of them.
                _ => "other",
            },
        ),
    }
}

fn outcome_label(outcome: ReportOutcome) -> &'static str {
    match outcome {
        ReportOutcome::Idle => "idle",
        ReportOutcome::NotNow => "not_now",
        ReportOutcome::Final => "final",
        ReportOutcome::NotQueued => "not_queued",
        _ => "other",
    }
}

/// The HTTP status as a label, from a closed set.
pub(crate) fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        403 => "403",
        404 => "404",
        410 => "410",
        500 => "500",
        _ => "other",
    }
}
