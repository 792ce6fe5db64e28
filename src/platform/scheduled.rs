//! The cron entry point (`[triggers] crons` in wrangler.toml). Every job runs on
//! every trigger; a job is idempotent, bounded per run and records its own outcome
//! (the handler's return value is discarded). Add a job as a `Job` variant.

use super::isolate::Isolate;
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
}

impl Job {
    const ALL: [Job; 2] = [Job::RecheckPendingDomains, Job::ExpirePendingDomains];

    fn name(self) -> &'static str {
        match self {
            Self::RecheckPendingDomains => "recheck-pending-domains",
            Self::ExpirePendingDomains => "expire-pending-domains",
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
            Self::RecheckPendingDomains => recheck_pending(iso, &store, &audit).await.map(|s| {
                format!(
                    "checked {} pending domains, {} verified",
                    s.checked, s.verified
                )
            }),
        }
    }
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
