//! One management API request as the operation handlers see it (`control.rs`
//! routes and authenticates it; `control.rs` and `domain_api.rs` serve it), and
//! the JSON helpers both use.

use super::body::{discard, read_capped, ReadError};
use super::isolate::Isolate;
use super::resolver::purge;
use super::store::{AuditCx, Store};
use crate::api::authz::Principal;
use crate::api::router::Matched;
use crate::api::time::iso8601;
use crate::api::Problem;
use crate::auth::VerifiedClaims;
use crate::body_limit::check_declared;
use crate::message::{HeaderList, SimpleResponse};
use serde_json::Value;
use std::rc::Rc;
use worker::Env;

/// Largest accepted request body, enforced while it streams.
const MAX_BODY: usize = 256 * 1024;

/// One API request, as the handlers need it.
pub(super) struct Call<'a> {
    pub(super) iso: &'a Rc<Isolate>,
    pub(super) env: &'a Env,
    pub(super) req: &'a web_sys::Request,
    pub(super) query: &'a str,
    pub(super) m: Matched,
    pub(super) claims: VerifiedClaims,
    /// Whom the token speaks for (tenant tokens meet budgets and proofs).
    pub(super) principal: Principal,
    pub(super) request_id: String,
}

pub(super) fn json_response(status: u16, body: &Value) -> SimpleResponse {
    let mut r = SimpleResponse::text(status, body.to_string());
    r.headers = HeaderList::new()
        .with("content-type", "application/json")
        .with("cache-control", "no-store");
    r
}

pub(super) async fn read_json(req: &web_sys::Request) -> Result<Value, Problem> {
    let ct = req
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(Problem::unsupported_media_type());
    }
    // Refuse a declared oversize body unread; otherwise read the stream (chunked
    // bodies too) chunk by chunk and cut it off at the cap.
    let declared = req.headers().get("content-length").ok().flatten();
    if check_declared(declared.as_deref(), MAX_BODY).is_err() {
        discard(req.body());
        return Err(Problem::too_large(MAX_BODY));
    }
    let bytes = match req.body() {
        Some(stream) => read_capped(&stream, MAX_BODY).await.map_err(|e| match e {
            ReadError::TooLarge(_) => Problem::too_large(MAX_BODY),
            ReadError::Stream(_) => Problem::invalid_json("the body could not be read"),
        })?,
        None => Vec::new(),
    };
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Problem::invalid_json(format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(Problem::invalid_json("the body must be a JSON object"));
    }
    Ok(v)
}

pub(super) fn now_iso() -> String {
    iso8601(js_sys::Date::now() as u64)
}

impl Call<'_> {
    pub(super) fn tid(&self) -> &str {
        self.m.param("tid")
    }

    pub(super) fn audit<'b>(&'b self, at: &'b str) -> AuditCx<'b> {
        AuditCx {
            actor: &self.claims.sub,
            request_id: &self.request_id,
            at,
        }
    }

    pub(super) async fn require_tenant(&self, store: &Store) -> Result<Value, Problem> {
        store
            .get_tenant(self.tid())
            .await?
            .ok_or_else(|| Problem::not_found("tenant"))
    }

    pub(super) async fn purge_tenant(&self, store: &Store, extra: &[String]) {
        let mut hosts = store
            .tenant_domain_names(self.tid())
            .await
            .unwrap_or_default();
        hosts.extend(extra.iter().cloned());
        purge(self.iso, self.tid(), &hosts).await;
    }
}
