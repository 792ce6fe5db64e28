//! Domain verification I/O: look the challenge record up, store the outcome, and on
//! success make the domain servable at once in this colo (purge, like every write).
//! Shared by `POST .../_verify` and the scheduled re-check.

use super::doh::lookup_txt;
use super::isolate::Isolate;
use super::resolver::purge;
use super::store::{AuditCx, DomainRow, GuardedWrite, Store, StoreError};
use crate::domains::verification::{challenge_name, CheckOutcome, DomainStatus};

/// Checks one pending domain now and stores the result.
pub(crate) async fn check_domain(
    iso: &Isolate,
    store: &Store,
    row: &DomainRow,
    audit: &AuditCx<'_>,
) -> Result<CheckOutcome, StoreError> {
    if row.status() == DomainStatus::Active {
        return Ok(CheckOutcome::Verified);
    }
    let Some(token) = row.verification_token.as_deref() else {
        // A pending row without a value cannot be proven; nothing to look up.
        return Ok(CheckOutcome::NotFound);
    };
    let name = challenge_name(&row.domain);
    let outcome = match lookup_txt(&iso.domains, &name).await {
        Ok(records) => CheckOutcome::from_records(&records, token),
        Err(e) => {
            worker::console_warn!("portico: DNS check of {name} failed: {e}");
            CheckOutcome::LookupFailed
        }
    };
    if outcome != CheckOutcome::Verified {
        store.record_check(&row.id, outcome, audit.at).await?;
        return Ok(outcome);
    }
    match store.activate_domain(row, token, audit).await? {
        GuardedWrite::Written => {
            let hosts = store
                .tenant_domain_names(&row.tenant_id)
                .await
                .unwrap_or_default();
            purge(iso, &row.tenant_id, &hosts).await;
            Ok(CheckOutcome::Verified)
        }
        // Renamed (new value) or verified by someone else meanwhile.
        GuardedWrite::Refused => Ok(CheckOutcome::Mismatch),
    }
}

/// What one scheduled run did.
#[derive(Debug, Default)]
pub(crate) struct RecheckSummary {
    pub(crate) checked: u32,
    pub(crate) verified: u32,
}

/// Re-checks a bounded batch of pending domains, oldest check first, so every
/// pending domain is reached over successive runs.
pub(crate) async fn recheck_pending(
    iso: &Isolate,
    store: &Store,
    audit: &AuditCx<'_>,
) -> Result<RecheckSummary, StoreError> {
    let mut summary = RecheckSummary::default();
    for row in store.pending_domains(iso.domains.recheck_batch).await? {
        summary.checked = summary.checked.saturating_add(1);
        if check_domain(iso, store, &row, audit).await? == CheckOutcome::Verified {
            summary.verified = summary.verified.saturating_add(1);
        }
    }
    Ok(summary)
}
