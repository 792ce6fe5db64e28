//! The planner's face to the lean JS entry (`js/entry.mjs`): one call per request,
//! strings in and one compact plan string out, so a warm request crosses into Wasm
//! once (twice with response-phase work). Anything this path cannot finish from
//! isolate memory answers "slow" and the JS entry hands the request to the
//! workers-rs path, which gives the same answers (both run `crate::proxy`).
//!
//! Plan format: lines joined by `\n` (header names and values, URLs and hosts
//! cannot hold a newline; a body can, so it comes last).
//! - line 0: `S` (slow path) | `R` (respond) | `F` (fetch)
//! - line 1: follow-up: empty | `r` TAB key | `c` TAB key TAB stored-at ms
//! - line 2: debug headers: empty | tier TAB stats
//! - `R`: status, header count n, n × (name, value), then the body
//! - `F`: response id (0 = nothing to call back for), host, domain, timeout ms, url,
//!   the number n of request header edits, then n edits as triples (`s` set |
//!   `a` append | `d` delete | `l` add to list, name, value), then the response
//!   edits of a static response phase, as triples to the end

use super::call_audit::{declared_length, record, Ended};
use super::execute::log_error;
use super::fast_proxy;
use super::headers::{request_id, JsHeaders};
use super::isolate::Isolate;
use super::needs;
use super::resolver::{self, FollowUp, Tier};
use crate::chain::cookies::confine_domains;
use crate::error::ProxyError;
use crate::header_edits::EditLog;
use crate::message::SimpleResponse;
use crate::proxy::parked::Parked;
use crate::proxy::{self, After, Entry, Plan};
use crate::request::{CallAudit, Prefetched};
use std::cell::RefCell;
use std::fmt::Write;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Most plans parked at once (see `crate::proxy::parked`).
const MAX_PENDING: usize = 4096;

/// What waits for the upstream's answer.
enum Waiting {
    /// A route's response phase.
    Route(Box<After>),
    /// A proxy endpoint call's audit facts, request id and, for OAuth2, the hash
    /// of the access token it sent.
    Proxy(Box<CallAudit>, String, Option<String>),
}

thread_local! {
    /// Parked plans with the time their call was planned (for call audits).
    static PENDING: RefCell<Parked<(Waiting, f64)>> = RefCell::new(Parked::new(MAX_PENDING));
}

fn park(waiting: Waiting) -> u32 {
    let now = js_sys::Date::now();
    PENDING.with(|p| p.borrow_mut().park((waiting, now)))
}

fn unpark(id: u32) -> Option<(Waiting, f64)> {
    PENDING.with(|p| p.borrow_mut().take(id))
}

/// Audits a call made with a connection's credential, in the background.
fn audit(
    facts: Option<&CallAudit>,
    request_id: Option<&str>,
    started_ms: f64,
    ended: (u16, Option<u64>),
    env: JsValue,
    ctx: JsValue,
) {
    let Some(facts) = facts else {
        return;
    };
    let env: worker::Env = env.unchecked_into();
    let ctx = worker::Context::new(ctx.unchecked_into());
    let rid = request_id.map_or_else(
        || crate::api::time::new_id("req_").unwrap_or_else(|_| "req_unknown".into()),
        str::to_string,
    );
    let ended = Ended {
        status: ended.0,
        started_ms,
        response_bytes: ended.1,
    };
    record(&env, &ctx, facts.clone(), ended, rid);
}

/// The preamble every plan starts with.
fn preamble(
    out: &mut String,
    kind: char,
    follow_up: Option<&FollowUp>,
    debug: Option<(Option<Tier>, &Isolate)>,
) {
    out.push(kind);
    out.push('\n');
    match follow_up {
        Some(FollowUp::Refresh { key }) => {
            let _ = write!(out, "r\t{key}");
        }
        Some(FollowUp::ColoCheck { key, stored_at_ms }) => {
            let _ = write!(out, "c\t{key}\t{stored_at_ms}");
        }
        None => {}
    }
    out.push('\n');
    if let Some((tier, iso)) = debug {
        let tier = tier.map(Tier::as_str).unwrap_or_default();
        let _ = write!(out, "{tier}\t{}", iso.counters.header_value());
    }
    out.push('\n');
}

fn respond_plan(out: &mut String, res: &SimpleResponse, head: bool) {
    let _ = write!(out, "{}\n{}\n", res.status, res.headers.0.len());
    for (k, v) in &res.headers.0 {
        let _ = write!(out, "{k}\n{v}\n");
    }
    if !res.has_no_body(head) {
        out.push_str(&res.body);
    }
}

/// Why the fast path gave up (nothing decided yet, or only a follow-up).
const SLOW: &str = "S\n\n\n";

/// Entry points for the lean JS entry.
#[wasm_bindgen]
pub struct FastPath;

#[wasm_bindgen]
impl FastPath {
    /// Plans a request from isolate memory alone.
    pub fn plan(method: &str, url: &str, headers: &web_sys::Headers, now_ms: f64) -> String {
        let Some(iso) = Isolate::existing() else {
            return SLOW.into();
        };
        let js = JsHeaders(headers);
        // Every read of the inbound headers goes through the log: each name
        // crosses into JS at most once, and the request phase's writes are logged.
        let mut log = EditLog::new(&js, false);
        let debug = iso.debug_headers;
        let is_head = method == "HEAD";
        let head = match proxy::enter(
            &iso.proxy_settings(),
            method,
            url,
            &log,
            &|h| iso.api.is_api_host(h),
            (now_ms / 1000.0) as i64,
        ) {
            Ok(Entry::Proxy(head)) => head,
            Ok(Entry::Api { path, query }) => {
                return proxy_plan(&iso, method, url, &path, &query, headers, &log, now_ms)
                    .unwrap_or_else(|| SLOW.into())
            }
            Err(e) => return error_plan(&iso, None, None, &e, method, url),
        };
        let Some(cached) = resolver::cached(&iso, &head.host, now_ms.max(0.0) as u64) else {
            return SLOW.into();
        };
        let follow_up = cached.follow_up;
        let (config, tier) = match cached.result {
            Ok(c) => c,
            Err(e) => {
                let tier = matches!(e, ProxyError::UnknownHost).then_some(Tier::Negative);
                return error_plan(&iso, follow_up.as_ref(), tier, &e, method, url);
            }
        };
        let dbg = debug.then_some((Some(tier), &*iso));
        let routed = match proxy::route(&head, config, &log, iso.filter_limits) {
            Ok(r) => r,
            Err(e) => return error_plan(&iso, follow_up.as_ref(), Some(tier), &e, method, url),
        };
        let mut slow = String::new();
        preamble(&mut slow, 'S', follow_up.as_ref(), None);
        // Bindings, dispatch and custom terminals stay on the workers-rs path.
        if !routed.chain().terminal.is_fetch_or_local() {
            return slow;
        }
        if head.websocket {
            return slow;
        }
        let mut pre = Prefetched::new();
        if !needs::satisfy_now(&iso, &routed, &head, &log, &mut pre) {
            return slow;
        }
        let mut out = String::with_capacity(256);
        match proxy::plan(head, routed, &pre, &mut log) {
            Plan::Respond { response, error } => {
                if let Some(e) = &error {
                    log_error(e, method, url);
                }
                preamble(&mut out, 'R', follow_up.as_ref(), dbg);
                respond_plan(&mut out, &response, is_head);
            }
            Plan::Call { call, after } => {
                if !proxy::is_plain_fetch(&call) {
                    return slow;
                }
                preamble(&mut out, 'F', follow_up.as_ref(), dbg);
                let host = after.head().host.clone();
                let domain = after.domain().to_string();
                // A static response phase travels in the plan; any other is parked
                // until the upstream answers.
                let (id, response_edits) = if !after.touches_response() {
                    (0, Vec::new())
                } else if let Some(edits) = after.static_response_edits() {
                    (0, edits)
                } else {
                    (park(Waiting::Route(after)), Vec::new())
                };
                let _ = write!(
                    out,
                    "{id}\n{host}\n{domain}\n{}\n{}\n{}",
                    call.timeout_ms,
                    call.url,
                    log.edits().len()
                );
                log.write_to(&mut out);
                EditLog::write_edits(&response_edits, &mut out);
            }
        }
        out
    }

    /// The response phase of plan `id` over the upstream response headers: the
    /// edits to make, as triples (see the module doc); empty when none.
    pub fn respond(
        id: u32,
        status: u16,
        headers: &web_sys::Headers,
        cookies: bool,
        env: JsValue,
        ctx: JsValue,
    ) -> String {
        let Some((waiting, started_ms)) = unpark(id) else {
            return String::new();
        };
        let ended = (status, declared_length(headers));
        let after = match waiting {
            Waiting::Route(after) => after,
            Waiting::Proxy(facts, rid, _) => {
                // Its static edits came with the plan; what is left: the audit, and
                // the headers the upstream's own `Connection` names.
                audit(Some(&facts), Some(&rid), started_ms, ended, env, ctx);
                let base = JsHeaders(headers);
                let mut log = EditLog::new(&base, false);
                crate::upstream::strip_hop_by_hop(&mut log, false);
                let mut out = String::new();
                log.write_to(&mut out);
                return out;
            }
        };
        audit(after.call_audit(), None, started_ms, ended, env, ctx);
        let base = JsHeaders(headers);
        let mut log = EditLog::new(&base, cookies);
        after.on_response(status, &mut log);
        let mut out = String::new();
        log.write_to(&mut out);
        out
    }

    /// An upstream 401 to plan `id`: for a call that carried an OAuth2 access
    /// token (the proxy endpoint, or a route's `credentials`), the hash of that
    /// token — the plan is dropped unaudited: the workers-rs path takes the call
    /// over, replaces the token once and audits it. Empty otherwise (the plan stays
    /// for `respond`).
    pub fn unauthorized(id: u32) -> String {
        PENDING.with(|p| {
            let mut p = p.borrow_mut();
            let hash = match p.get(id) {
                Some((Waiting::Proxy(_, _, Some(hash)), _)) => Some(hash.clone()),
                Some((Waiting::Route(after), _)) => route_oauth_token(after),
                _ => None,
            };
            match hash {
                Some(h) => {
                    p.take(id);
                    h
                }
                None => String::new(),
            }
        })
    }

    /// Cookie confinement alone, for responses no middleware edits.
    pub fn confine(host: &str, domain: &str, headers: &web_sys::Headers) {
        confine_domains(&mut JsHeaders(headers), host, domain);
    }

    /// The answer when the upstream call of plan `id` failed (`timeout`: no
    /// response headers in time), through the response phase; an `R` plan.
    pub fn fail(
        id: u32,
        timeout: bool,
        method: &str,
        url: &str,
        head: bool,
        env: JsValue,
        ctx: JsValue,
    ) -> String {
        let parked = unpark(id);
        let handler = match &parked {
            Some((Waiting::Proxy(..), _)) => "proxy",
            _ => crate::chain::HandlerKind::Http.as_str(),
        };
        let err = if timeout {
            ProxyError::HandlerTimeout { handler }
        } else {
            ProxyError::HandlerFailed {
                handler,
                detail: "fetch failed".into(),
            }
        };
        log_error(&err, method, url);
        let ended = (err.status(), None);
        let res = match parked {
            Some((Waiting::Route(after), started_ms)) => {
                audit(after.call_audit(), None, started_ms, ended, env, ctx);
                after.on_error(&err)
            }
            Some((Waiting::Proxy(facts, rid, _), started_ms)) => {
                audit(Some(&facts), Some(&rid), started_ms, ended, env, ctx);
                err.to_response()
            }
            None => err.to_response(),
        };
        let mut out = String::new();
        preamble(&mut out, 'R', None, None);
        respond_plan(&mut out, &res, head);
        out
    }

    /// Runs a follow-up a plan asked for, in the background of the request.
    pub fn follow_up(env: JsValue, ctx: JsValue, kind: &str, key: &str, stored_at_ms: f64) {
        let Some(iso) = Isolate::existing() else {
            return;
        };
        let f = match kind {
            "r" => FollowUp::Refresh { key: key.into() },
            "c" => FollowUp::ColoCheck {
                key: key.into(),
                stored_at_ms: stored_at_ms.max(0.0) as u64,
            },
            _ => return,
        };
        let env: worker::Env = env.unchecked_into();
        let ctx = worker::Context::new(ctx.unchecked_into());
        resolver::schedule(&iso, &env, &ctx, f);
    }
}

/// The hash of the OAuth2 access token a route's `credentials` put into its call
/// (the isolate's copy of the connection, which the plan used).
fn route_oauth_token(after: &After) -> Option<String> {
    let used = after.credential_use()?;
    let tenant = &after.call_audit()?.tenant_id;
    let iso = Isolate::existing()?;
    let grant = iso
        .grants
        .now(tenant, &used.connection_id, js_sys::Date::now())?
        .ok()?;
    if !matches!(grant.spec.auth, crate::connector::AuthSpec::OAuth2(_)) {
        return None;
    }
    grant.token_hash()
}

/// The `F` plan of a warm proxy endpoint call (see `fast_proxy`), or `None`.
#[allow(clippy::too_many_arguments)]
fn proxy_plan(
    iso: &Rc<Isolate>,
    method: &str,
    url: &str,
    path: &str,
    query: &str,
    headers: &web_sys::Headers,
    log: &EditLog<'_>,
    now_ms: f64,
) -> Option<String> {
    let names: Vec<String> = headers
        .keys()
        .into_iter()
        .filter_map(|k| k.ok().and_then(|k| k.as_string()))
        .collect();
    let host = crate::url::authority_host(crate::url::authority_of(url)).to_ascii_lowercase();
    let get = |n: &str| crate::message::HeaderAccess::get(log, n);
    let rid = request_id(headers);
    let p = fast_proxy::plan(iso, method, &host, path, query, &names, &get, rid, now_ms)?;
    let mut out = String::with_capacity(256);
    let dbg = iso.debug_headers.then_some((None, &**iso));
    preamble(&mut out, 'F', None, dbg);
    let id = park(Waiting::Proxy(
        Box::new(p.audit),
        p.request_id,
        p.oauth_token,
    ));
    let _ = write!(
        out,
        "{id}\n{}\n{}\n{}\n{}\n{}",
        p.host,
        p.host,
        p.timeout_ms,
        p.url,
        p.request_edits.len()
    );
    EditLog::write_edits(&p.request_edits, &mut out);
    EditLog::write_edits(&p.response_edits, &mut out);
    Some(out)
}

fn error_plan(
    iso: &Rc<Isolate>,
    follow_up: Option<&FollowUp>,
    tier: Option<Tier>,
    err: &ProxyError,
    method: &str,
    url: &str,
) -> String {
    log_error(err, method, url);
    let mut out = String::new();
    let dbg = iso.debug_headers.then_some((tier, &**iso));
    preamble(&mut out, 'R', follow_up, dbg);
    respond_plan(&mut out, &err.to_response(), false);
    out
}
