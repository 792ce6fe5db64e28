//! The cron entry point (`[triggers] crons` in wrangler.toml). Every job runs on
//! every trigger; a job is idempotent, bounded per run and records its own outcome
//! (the handler's return value is discarded). Add a job as a `Job` variant.

use super::env::var;
use super::isolate::Isolate;
use super::rotation::{reencrypt_batch, RotationError};
use super::store::{AuditCx, Store, StoreError};
use super::verify::recheck_pending;
use crate::api::time::iso8601;
use worker::{event, Env, ScheduleContext, ScheduledEvent};

/// The scheduled jobs.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// Re-check pending domains' DNS challenge records.
    RecheckPendingDomains,
    /// Remove domains pending longer than `PORTICO_PENDING_DOMAIN_DAYS`, so an
    /// unproven claim cannot block a name for its real owner forever.
    ExpirePendingDomains,
    /// Re-seal vault records still under an old kid (one batch per run).
    ReencryptVault,
    /// Delete audit rows older than `PORTICO_AUDIT_RETENTION_DAYS`.
    PurgeAudit,
    /// Delete OAuth2 connections left `pending` longer than
    /// `PORTICO_PENDING_CONNECTION_HOURS` with no live state (abandoned attempts).
    SweepPendingConnections,
}

impl Job {
    const ALL: [Job; 5] = [
        Job::RecheckPendingDomains,
        Job::ExpirePendingDomains,
        Job::ReencryptVault,
        Job::PurgeAudit,
        Job::SweepPendingConnections,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::RecheckPendingDomains => "recheck-pending-domains",
            Self::ExpirePendingDomains => "expire-pending-domains",
            Self::ReencryptVault => "vault-reencrypt",
            Self::PurgeAudit => "purge-audit",
            Self::SweepPendingConnections => "sweep-pending-connections",
        }
    }

    async fn run(
        self,
        iso: &Isolate,
        env: &Env,
        now_ms: u64,
        at: &str,
        run_id: &str,
    ) -> Result<String, StoreError> {
        let store = Store::open(env)?;
        let audit = AuditCx {
            actor: "portico:scheduled",
            request_id: run_id,
            at,
        };
        match self {
            Self::ReencryptVault => {
                if iso.vault.ring().is_none() {
                    return Ok("off (no vault key ring)".into());
                }
                reencrypt_batch(iso, env, &store, at)
                    .await
                    .map(|v| v.to_string())
                    .map_err(|e| match e {
                        RotationError::Store(s) => s,
                        RotationError::Vault(v) => StoreError::Unavailable(v.to_string()),
                    })
            }
            Self::PurgeAudit => {
                // Expired OAuth states and old state tombstones go with the audit.
                store.purge_oauth_states(now_ms as f64).await?;
                let days = audit_retention_days(env);
                if days == 0 {
                    return Ok("off (PORTICO_AUDIT_RETENTION_DAYS=0)".into());
                }
                let cutoff = iso8601(now_ms.saturating_sub(days.saturating_mul(86_400_000)));
                store
                    .purge_audit(&cutoff, AUDIT_PURGE_BATCH)
                    .await
                    .map(|n| format!("removed {n} audit rows older than {cutoff}"))
            }
            Self::ExpirePendingDomains => {
                let days = u64::from(iso.domains.pending_days);
                if days == 0 {
                    return Ok("off (PORTICO_PENDING_DOMAIN_DAYS=0)".into());
                }
                let cutoff = iso8601(now_ms.saturating_sub(days.saturating_mul(86_400_000)));
                store
                    .expire_pending(&cutoff, iso.domains.recheck_batch, &audit)
                    .await
                    .map(|n| format!("removed {n} domains pending since before {cutoff}"))
            }
            Self::SweepPendingConnections => {
                let hours = pending_connection_hours(env);
                if hours == 0 {
                    return Ok("off (PORTICO_PENDING_CONNECTION_HOURS=0)".into());
                }
                let cutoff = iso8601(now_ms.saturating_sub(hours.saturating_mul(3_600_000)));
                let swept = store
                    .sweep_pending_connections(&cutoff, now_ms as f64, SWEEP_BATCH)
                    .await?;
                let mut connectors: Vec<&str> = Vec::new();
                for c in &swept {
                    store
                        .oauth_event(&c.tenant_id, &c.id, "connection.expired", &audit)
                        .await?;
                    if !connectors.contains(&c.connector_id.as_str()) {
                        connectors.push(&c.connector_id);
                    }
                }
                for cid in connectors {
                    store
                        .settle_versions(cid, &iso.api.cp_tenant_id, &audit)
                        .await?;
                }
                Ok(format!(
                    "removed {} connections pending since before {cutoff}",
                    swept.len()
                ))
            }
            Self::RecheckPendingDomains => recheck_pending(iso, &store, &audit).await.map(|s| {
                format!(
                    "checked {} pending domains, {} verified",
                    s.checked, s.verified
                )
            }),
        }
    }
}

/// Default `PORTICO_AUDIT_RETENTION_DAYS`.
const DEFAULT_AUDIT_RETENTION_DAYS: u64 = 90;
/// Rows deleted per run (a backlog drains over a few runs).
const AUDIT_PURGE_BATCH: u32 = 5000;

/// Default `PORTICO_PENDING_CONNECTION_HOURS`.
const DEFAULT_PENDING_CONNECTION_HOURS: u64 = 24;
/// Pending connections removed per run.
const SWEEP_BATCH: u32 = 100;

fn pending_connection_hours(env: &Env) -> u64 {
    var(env, "PORTICO_PENDING_CONNECTION_HOURS")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_PENDING_CONNECTION_HOURS)
}

fn audit_retention_days(env: &Env) -> u64 {
    var(env, "PORTICO_AUDIT_RETENTION_DAYS")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_AUDIT_RETENTION_DAYS)
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let iso = Isolate::get(&env);
    let scheduled_ms = event.schedule();
    let now_ms = if scheduled_ms.is_finite() && scheduled_ms > 0.0 {
        scheduled_ms as u64
    } else {
        js_sys::Date::now() as u64
    };
    let at = iso8601(now_ms);
    let run_id = format!("cron:{}@{at}", event.cron());
    for job in Job::ALL {
        match job.run(&iso, &env, now_ms, &at, &run_id).await {
            Ok(msg) => worker::console_log!("portico: {} ({run_id}): {msg}", job.name()),
            Err(e) => worker::console_error!("portico: {} ({run_id}) failed: {e}", job.name()),
        }
    }
}
