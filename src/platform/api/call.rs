//! One management API request as the operation handlers see it (`mod.rs` routes
//! and authenticates it; the resource files serve it), the JSON helpers they share,
//! and how a storage failure becomes a problem.

use crate::api::authz::Principal;
use crate::api::paging::{parse_page, PageRequest};
use crate::api::router::Matched;
use crate::api::time::iso8601;
use crate::api::Problem;
use crate::body_limit::check_declared;
use crate::message::{HeaderList, SimpleResponse};
use crate::platform::body::{discard, read_capped, ReadError};
use crate::platform::isolate::Isolate;
use crate::platform::resolver::purge;
use crate::platform::store::{AuditCx, Store, StoreError};
use crate::platform::vault::VaultFailure;
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
    /// Who called; `None` only for public operations (no scope, no token).
    pub(super) caller: Option<Caller>,
    pub(super) request_id: String,
}

/// The authenticated caller.
pub(super) struct Caller {
    /// Whom the token speaks for (tenant tokens meet budgets and proofs).
    pub(super) principal: Principal,
    /// The token's subject: the audit rows' actor.
    pub(super) actor: String,
    /// The token's `scope` claim (connection policies may require one).
    pub(super) scopes: Option<String>,
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(column) => Problem::conflict(&column, "is already in use"),
            StoreError::Randomness(_) => Problem::internal().caused_by(e),
            StoreError::Unavailable(_) => Problem::unavailable().caused_by(e),
        }
    }
}

impl From<VaultFailure> for Problem {
    fn from(e: VaultFailure) -> Self {
        match e {
            VaultFailure::Unavailable(_) => Problem::vault_unavailable(),
            other => Problem::internal().caused_by(other),
        }
    }
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

    /// The caller; a handler that needs one was given one by `mod.rs` unless its
    /// operation is public (a table error, answered as "no token").
    pub(super) fn caller(&self) -> Result<&Caller, Problem> {
        self.caller
            .as_ref()
            .ok_or_else(|| Problem::unauthorized(None))
    }

    /// Whom the token speaks for.
    pub(super) fn principal(&self) -> Result<&Principal, Problem> {
        Ok(&self.caller()?.principal)
    }

    /// Who is writing, for the audit row of a write at `at`.
    pub(super) fn audit<'b>(&'b self, at: &'b str) -> Result<AuditCx<'b>, Problem> {
        Ok(AuditCx {
            actor: &self.caller()?.actor,
            request_id: &self.request_id,
            at,
        })
    }

    /// The `limit` / `cursor` query of a list operation.
    pub(super) fn page(&self) -> Result<PageRequest, Problem> {
        parse_page(self.query).map_err(Problem::bad_query)
    }

    /// The path's tenant, which must exist (else 404).
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
