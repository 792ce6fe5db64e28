//! The cron entry point (`[triggers] crons` in wrangler.toml). Every job runs on
//! every trigger; a job is idempotent, bounded per run and records its own outcome
//! (the handler's return value is discarded). Add a job as a `Job` variant.

use super::isolate::Isolate;
use super::store::{AuditCx, Store};
use super::verify::recheck_pending;
use crate::api::time::iso8601;
use worker::{event, Env, ScheduleContext, ScheduledEvent};

/// The scheduled jobs.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// Re-check pending domains' DNS challenge records.
    RecheckPendingDomains,
}

impl Job {
    const ALL: [Job; 1] = [Job::RecheckPendingDomains];

    fn name(self) -> &'static str {
        match self {
            Self::RecheckPendingDomains => "recheck-pending-domains",
        }
    }

    async fn run(self, iso: &Isolate, env: &Env, at: &str, run_id: &str) -> Result<String, String> {
        match self {
            Self::RecheckPendingDomains => {
                let store = Store::open(env).map_err(|p| p.detail)?;
                let audit = AuditCx {
                    actor: "portico:scheduled",
                    request_id: run_id,
                    at,
                };
                recheck_pending(iso, &store, &audit)
                    .await
                    .map(|s| {
                        format!(
                            "checked {} pending domains, {} verified",
                            s.checked, s.verified
                        )
                    })
                    .map_err(|p| p.detail)
            }
        }
    }
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let iso = Isolate::get(&env);
    let scheduled_ms = event.schedule();
    let at = iso8601(if scheduled_ms.is_finite() && scheduled_ms > 0.0 {
        scheduled_ms as u64
    } else {
        js_sys::Date::now() as u64
    });
    let run_id = format!("cron:{}@{at}", event.cron());
    for job in Job::ALL {
        match job.run(&iso, &env, &at, &run_id).await {
            Ok(msg) => worker::console_log!("portico: {} ({run_id}): {msg}", job.name()),
            Err(e) => worker::console_error!("portico: {} ({run_id}) failed: {e}", job.name()),
        }
    }
}
