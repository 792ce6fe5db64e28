//! The audit row of every call made with a connection's credential (the proxy
//! endpoint and `credentials` routes, on either executor).
//!
//! A D1 write costs a Worker several hundred µs of CPU — more than the whole rest
//! of a proxied call — so rows are not written one per call: each isolate buffers
//! them and one flush writes every pending row (and each connection's last use) in
//! a single D1 batch. The first call that finds no flush scheduled schedules one,
//! `PORTICO_AUDIT_FLUSH_MS` later, in its own `waitUntil`, which keeps that request
//! alive until the rows are written; a full buffer is flushed at once.

use super::env::var;
use super::store::{CallRow, Store};
use crate::api::time::iso8601;
use crate::request::CallAudit;
use std::cell::RefCell;
use std::time::Duration;
use worker::{Context, Delay, Env};

/// Default `PORTICO_AUDIT_FLUSH_MS`.
const DEFAULT_FLUSH_MS: u64 = 1000;
/// Longest accepted `PORTICO_AUDIT_FLUSH_MS` (waitUntil work must end within 30 s).
const MAX_FLUSH_MS: u64 = 10_000;
/// Rows that trigger an immediate flush (one D1 batch stays small).
const FLUSH_AT_ROWS: usize = 120;

/// How the call ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ended {
    pub(crate) status: u16,
    pub(crate) started_ms: f64,
    pub(crate) response_bytes: Option<u64>,
}

#[derive(Default)]
struct Pending {
    rows: Vec<CallRow>,
    /// When the flush that will take every row present was scheduled (`None`:
    /// none is). One that has not run well after its time was cancelled with its
    /// request, and the next call schedules another.
    scheduled_at: Option<f64>,
}

/// After this long a scheduled flush that never ran is taken for lost.
const LOST_AFTER_MS: f64 = 35_000.0;

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

/// `content-length` of a message, if declared.
pub(crate) fn declared_length(h: &web_sys::Headers) -> Option<u64> {
    h.get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
}

fn flush_ms(env: &Env) -> u64 {
    var(env, "PORTICO_AUDIT_FLUSH_MS")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_FLUSH_MS)
        .min(MAX_FLUSH_MS)
}

/// Queues the call's row; the flush that writes it runs in the background of this
/// request or of an earlier one.
pub(crate) fn record(env: &Env, ctx: &Context, audit: CallAudit, ended: Ended, request_id: String) {
    let now = js_sys::Date::now();
    let row = CallRow {
        tenant: audit.tenant_id,
        actor: audit.actor,
        connection_id: audit.connection_id,
        connector_id: audit.connector_id,
        connector_version: audit.connector_version,
        method: audit.method,
        host: audit.host,
        path: audit.path,
        status: ended.status,
        duration_ms: (now - ended.started_ms).max(0.0) as u64,
        request_bytes: audit.request_bytes,
        response_bytes: ended.response_bytes,
        request_id,
        at: iso8601(now.max(0.0) as u64),
    };
    let (schedule, full) = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.rows.push(row);
        let schedule = p
            .scheduled_at
            .is_none_or(|at| now - at > LOST_AFTER_MS + MAX_FLUSH_MS as f64);
        if schedule {
            p.scheduled_at = Some(now);
        }
        (schedule, p.rows.len() >= FLUSH_AT_ROWS)
    });
    if full {
        let env = env.clone();
        ctx.wait_until(async move { flush(&env).await });
    } else if schedule {
        let wait = flush_ms(env);
        let env = env.clone();
        ctx.wait_until(async move {
            if wait > 0 {
                Delay::from(Duration::from_millis(wait)).await;
            }
            flush(&env).await;
        });
    }
}

/// Writes every pending row in one batch.
async fn flush(env: &Env) {
    let rows = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.scheduled_at = None;
        std::mem::take(&mut p.rows)
    });
    if rows.is_empty() {
        return;
    }
    let written = match Store::open(env) {
        Ok(store) => store.insert_call_audits(&rows).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        // Request ids only: the rows themselves carry nothing secret, but the log
        // line stays short.
        let first = rows.first().map_or("", |r| r.request_id.as_str());
        worker::console_error!(
            "portico: {} call audit rows (first {first}) not written: {e}",
            rows.len()
        );
    }
}
