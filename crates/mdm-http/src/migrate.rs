//! Moving enrollments to another server: NanoMDM's `nano2nano`. Every stored Authenticate,
//! TokenUpdate (device channels, then user channels) is sent, in that order, to the other
//! server's `/migration` endpoint, which replays it into its core.

use futures_util::StreamExt;
use mdm_storage::{MigrationStore, StorageError};
use url::Url;

use crate::API_USER;
use crate::mdm::CHECK_IN_CONTENT_TYPE;

/// What a migration did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationReport {
    /// Check-ins the other server accepted.
    pub sent: usize,
    /// Check-ins it refused, or that did not reach it (each is logged).
    pub failed: usize,
}

/// Sends every migration check-in of `store` with `PUT` to `url` (the other server's
/// `/migration`), authenticated as user `nanomdm` with `api_key`.
///
/// A check-in the other server refuses is logged and counted, and the migration goes on (as
/// `nano2nano`); reading the store failing stops it.
pub async fn migrate<S: MigrationStore + ?Sized>(
    store: &S,
    url: &Url,
    api_key: &str,
    client: &reqwest::Client,
) -> Result<MigrationReport, StorageError> {
    let mut report = MigrationReport::default();
    let mut checkins = store.retrieve_migration_checkins();
    while let Some(body) = checkins.next().await {
        let body = body?;
        let result = client
            .put(url.clone())
            .basic_auth(API_USER, Some(api_key))
            .header(http::header::CONTENT_TYPE, CHECK_IN_CONTENT_TYPE)
            .body(body)
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => {
                report.sent = report.sent.saturating_add(1);
            }
            Ok(response) => {
                report.failed = report.failed.saturating_add(1);
                tracing::warn!(
                    status = response.status().as_u16(),
                    "migration: check-in refused"
                );
            }
            Err(e) => {
                report.failed = report.failed.saturating_add(1);
                tracing::warn!(error = %e, "migration: sending a check-in failed");
            }
        }
    }
    Ok(report)
}
