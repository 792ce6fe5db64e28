//! The workers-rs executor of plans: resolve the host (any tier), meet the needs,
//! plan, send the call, run the response phase. Everything it decides comes from
//! `crate::proxy`; this file only does the I/O and builds JS responses.

use super::body::discard;
use super::call_audit::{declared_length, record, Ended};
use super::grants;
use super::headers::{request_id, JsHeaders};
use super::isolate::Isolate;
use super::needs;
use super::resolver::{resolve, Tier};
use super::upstream;
use crate::connector::AuthSpec;
use crate::error::ProxyError;
use crate::grant::{Grant, Use};
use crate::message::SimpleResponse;
use crate::proxy::{self, After, Plan};
use crate::request::{Prefetched, RequestHead};
use crate::upstream::UpstreamCall;
use crate::vault::inject::set_query_param;
use std::rc::Rc;
use worker::{Context, Env};

/// Debug facts gathered along the way.
#[derive(Default)]
pub(crate) struct Trace {
    pub(crate) tier: Option<Tier>,
}

/// Proxies one data-plane request.
pub(crate) async fn proxy(
    iso: &Rc<Isolate>,
    env: &Env,
    ctx: &Context,
    req: &web_sys::Request,
    head: RequestHead,
    trace: &mut Trace,
) -> Result<web_sys::Response, ProxyError> {
    let (config, tier) = resolve(iso, env, ctx, &head.host).await.inspect_err(|e| {
        if matches!(e, ProxyError::UnknownHost) {
            trace.tier = Some(Tier::Negative);
        }
    })?;
    trace.tier = Some(tier);
    let in_headers = req.headers();
    let inbound = JsHeaders(&in_headers);
    let routed = proxy::route(&head, config, &inbound, iso.filter_limits)?;
    let pre = needs::satisfy(iso, env, &routed, &head, &inbound).await;
    // The upstream request gets its own mutable copy of the headers.
    let up_headers =
        web_sys::Headers::new_with_headers(&in_headers).map_err(|_| ProxyError::HandlerFailed {
            handler: routed.chain().terminal.type_name(),
            detail: "cannot copy request headers".into(),
        })?;
    let is_head = head.method == "HEAD";
    match proxy::plan(head, routed, &pre, &mut JsHeaders(&up_headers)) {
        Plan::Respond { response, error } => {
            if let Some(e) = &error {
                log_error(e, &req.method(), &req.url());
            }
            respond(&response, is_head)
        }
        Plan::Call { mut call, after } => {
            let started_ms = js_sys::Date::now();
            // An OAuth2 credential the upstream refuses (401) is replaced once and a
            // bodyless call sent again; after a fast-path 401, replaced up front.
            let oauth = oauth_grant(&pre, &after);
            let handed_over = oauth.as_ref().and_then(|_| handed_over_401(req));
            if let (Some(g), Some(refused)) = (&oauth, handed_over.clone()) {
                match reinject(iso, env, g, &after, call.clone(), &up_headers, refused).await {
                    Ok(c) => call = c,
                    Err(e) => {
                        log_error(&e, &after.head().method, &after.head().url);
                        return respond(&after.on_error(&e), is_head);
                    }
                }
            }
            let mut sent = upstream::send(env, &call, req, &up_headers).await;
            let refused = match (&oauth, &sent) {
                (Some(g), Ok(r))
                    if r.status() == 401 && handed_over.is_none() && req.body().is_none() =>
                {
                    g.token_hash()
                }
                _ => None,
            };
            if let (Some(g), Some(refused)) = (&oauth, refused) {
                if let Ok(r) = &sent {
                    discard(r.body());
                }
                sent = match reinject(iso, env, g, &after, call.clone(), &up_headers, refused).await
                {
                    Ok(c) => upstream::send(env, &c, req, &up_headers).await,
                    Err(e) => Err(e),
                };
            }
            if let Some(audit) = after.call_audit() {
                let ended = Ended {
                    status: sent
                        .as_ref()
                        .map_or_else(ProxyError::status, |r| r.status()),
                    started_ms,
                    response_bytes: sent
                        .as_ref()
                        .ok()
                        .and_then(|r| declared_length(&r.headers())),
                };
                record(env, ctx, audit.clone(), ended, request_id(&in_headers));
            }
            let res = match sent {
                Ok(r) => r,
                Err(e) => {
                    log_error(&e, &after.head().method, &after.head().url);
                    return respond(&after.on_error(&e), is_head);
                }
            };
            let touches = after.touches_response();
            // Without response-phase work, headers are copied only for a Set-Cookie.
            if !touches && !res.headers().has("set-cookie").unwrap_or(true) {
                return Ok(res);
            }
            let res = with_mutable_headers(res).map_err(|_| internal(call.handler))?;
            let res_headers = res.headers();
            let mut h = JsHeaders(&res_headers);
            if touches {
                after.on_response(res.status(), &mut h);
            } else {
                after.confine(&mut h);
            }
            Ok(res)
        }
    }
}

/// The OAuth2 connection a route's call carries the credential of, if any.
fn oauth_grant(pre: &Prefetched, after: &After) -> Option<Rc<Grant>> {
    let used = after.credential_use()?;
    let grant = pre.grant(&used.connection_id)?.as_ref().ok()?;
    matches!(grant.spec.auth, AuthSpec::OAuth2(_)).then(|| Rc::clone(grant))
}

/// The hash of the token an upstream refused, when the fast path handed this
/// request over after a 401 (a property of the request object: no client can set it).
pub(crate) fn handed_over_401(req: &web_sys::Request) -> Option<String> {
    let key = js_sys::Symbol::for_("portico.replace_token");
    js_sys::Reflect::get(req, &key)
        .ok()
        .and_then(|v| v.as_string())
        .filter(|h| !h.is_empty())
}

/// `call` with the keeper's replacement for the refused token in its header or
/// query (the call's other edits stay).
async fn reinject(
    iso: &Rc<Isolate>,
    env: &Env,
    grant: &Grant,
    after: &After,
    mut call: UpstreamCall,
    headers: &web_sys::Headers,
    refused: String,
) -> Result<UpstreamCall, ProxyError> {
    let used = after.credential_use();
    let call_use = Use {
        method: &after.head().method,
        url: &call.url,
        subject: used.and_then(|u| u.subject.as_deref()),
        scopes: used.and_then(|u| u.scopes.as_deref()),
    };
    let injection = grants::reauthorize(&iso.grants, env, grant, refused, &call_use).await?;
    if let Some((name, value)) = &injection.header {
        let _ = headers.set(name, value.as_str());
    }
    if let Some((name, value)) = &injection.query {
        call.url = set_query_param(&call.url, name, value.as_str());
    }
    Ok(call)
}

/// Logs an operator-facing failure: method and path only, since query strings can
/// carry tokens and logs must not.
pub(crate) fn log_error(err: &ProxyError, method: &str, url: &str) {
    if err.should_log() {
        let (_, path, _) = crate::url::split_request_url(url);
        worker::console_error!("portico: {method} {path}: {err}");
    }
}

fn respond(res: &SimpleResponse, head: bool) -> Result<web_sys::Response, ProxyError> {
    to_js_response(res, head).map_err(|_| internal("portico"))
}

pub(crate) fn internal(handler: &'static str) -> ProxyError {
    ProxyError::HandlerFailed {
        handler,
        detail: "cannot build response".into(),
    }
}

/// Responses from `fetch` have immutable headers: re-wrap them (the body stream is
/// handed over, never read).
pub(crate) fn with_mutable_headers(res: web_sys::Response) -> worker::Result<web_sys::Response> {
    let headers = web_sys::Headers::new_with_headers(&res.headers())?;
    let init = web_sys::ResponseInit::new();
    init.set_status(res.status());
    init.set_status_text(&res.status_text());
    init.set_headers(&headers);
    // A 101 carries the upstream WebSocket; the new response must hand it on.
    if res.status() == 101 {
        let ws = js_sys::Reflect::get(&res, &"webSocket".into())?;
        if !ws.is_null() && !ws.is_undefined() {
            js_sys::Reflect::set(&init, &"webSocket".into(), &ws)?;
        }
    }
    let body = res.body();
    Ok(web_sys::Response::new_with_opt_readable_stream_and_init(
        body.as_ref(),
        &init,
    )?)
}

/// A response Portico made itself, as a JS response (no body for `HEAD` and for
/// statuses that cannot have one).
pub(crate) fn to_js_response(
    res: &SimpleResponse,
    head: bool,
) -> worker::Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    for (k, v) in &res.headers.0 {
        let _ = headers.append(k, v);
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(res.status);
    init.set_headers(&headers);
    let body = (!res.has_no_body(head)).then_some(res.body.as_str());
    Ok(web_sys::Response::new_with_opt_str_and_init(body, &init)?)
}
