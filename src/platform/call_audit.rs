//! The audit row of every call made with a connection's credential (the proxy
//! endpoint and `credentials` routes, on either executor), written after the
//! response with `waitUntil`, with the connection's last use (one D1 batch).

use super::store::{ProxyAudit, Store};
use crate::api::time::iso8601;
use crate::request::CallAudit;
use worker::{Context, Env};

/// How the call ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ended {
    pub(crate) status: u16,
    pub(crate) started_ms: f64,
    pub(crate) response_bytes: Option<u64>,
}

/// `content-length` of a message, if declared.
pub(crate) fn declared_length(h: &web_sys::Headers) -> Option<u64> {
    h.get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
}

/// Writes the row in the background of the request.
pub(crate) fn record(env: &Env, ctx: &Context, audit: CallAudit, ended: Ended, request_id: String) {
    let env = env.clone();
    let duration_ms = (js_sys::Date::now() - ended.started_ms).max(0.0) as u64;
    ctx.wait_until(async move {
        let Ok(store) = Store::open(&env) else {
            return;
        };
        let at = iso8601(js_sys::Date::now() as u64);
        let row = ProxyAudit {
            tenant: &audit.tenant_id,
            actor: &audit.actor,
            connection_id: &audit.connection_id,
            connector_id: &audit.connector_id,
            connector_version: audit.connector_version,
            method: &audit.method,
            host: &audit.host,
            path: &audit.path,
            status: ended.status,
            duration_ms,
            request_bytes: audit.request_bytes,
            response_bytes: ended.response_bytes,
            request_id: &request_id,
            at: &at,
        };
        if let Err(e) = store.insert_proxy_audit(&row).await {
            worker::console_error!("portico: audit of call {request_id}: {e}");
        }
    });
}

/// A request id for data-plane calls (`cf-ray` when present).
pub(crate) fn data_plane_request_id(headers: &web_sys::Headers) -> String {
    headers
        .get("cf-ray")
        .ok()
        .flatten()
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .or_else(|| crate::api::time::new_id("req_").ok())
        .unwrap_or_else(|| "req_unknown".into())
}
