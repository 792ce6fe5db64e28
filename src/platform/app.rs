//! One request's life: host → tenant → route → middleware → terminal → response, and
//! the single place where errors become responses.

use super::headers::JsHeaders;
use super::isolate::Isolate;
use super::resolver::{resolve, Tier};
use super::upstream;
use super::{api, jwks};
use crate::auth::token_kid;
use crate::canonical_path::canonicalize;
use crate::chain::cookies::confine_domains;
use crate::chain::jwt::JwksView;
use crate::chain::{Middleware, RequestCx, RequestState};
use crate::error::ProxyError;
use crate::host::normalize_host;
use crate::message::SimpleResponse;
use crate::routing::limits::FilterLimits;
use crate::routing::RequestFacts;
use crate::upstream::{is_websocket_upgrade, strip_hop_by_hop, TerminalPlan};
use std::rc::Rc;
use worker::{Context, Env};

/// Route filters read request facts straight from the JS request headers.
struct Facts<'a> {
    limits: FilterLimits,
    method: &'a str,
    host: &'a str,
    query: &'a str,
    headers: &'a web_sys::Headers,
}

impl RequestFacts for Facts<'_> {
    fn method(&self) -> &str {
        self.method
    }
    fn host(&self) -> &str {
        self.host
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }
    fn query(&self) -> &str {
        self.query
    }
    fn filter_limits(&self) -> FilterLimits {
        self.limits
    }
}

/// Debug facts gathered along the way.
#[derive(Default)]
struct Trace {
    tier: Option<Tier>,
}

/// Handles one request; never returns `Err` for request-caused problems.
pub(crate) async fn handle(
    req: web_sys::Request,
    env: Env,
    ctx: Context,
) -> worker::Result<web_sys::Response> {
    let iso = Isolate::get(&env);
    let mut trace = Trace::default();
    let result = run(&iso, &req, &env, &ctx, &mut trace).await;
    let res = match result {
        Ok(res) => res,
        Err(err) => {
            if err.should_log() {
                // Path only: query strings can carry tokens, and logs must not.
                let url = req.url();
                let (_, path, _) = split_url(&url);
                worker::console_error!("portico: {} {path}: {err}", req.method());
            }
            to_js_response(&err.to_response(), false)?
        }
    };
    if iso.debug_headers {
        let res = with_mutable_headers(res)?;
        let h = res.headers();
        if let Some(tier) = trace.tier {
            let _ = h.set("x-portico-host-cache", tier.as_str());
        }
        let _ = h.set("x-portico-stats", &iso.counters.header_value());
        return Ok(res);
    }
    Ok(res)
}

/// Splits `scheme://authority/path?query#fragment` into scheme, path and query.
fn split_url(url: &str) -> (&'static str, &str, &str) {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = url.strip_prefix("http://") {
        ("http", r)
    } else {
        ("https", url)
    };
    let (_, rest) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let rest = rest.split('#').next().unwrap_or_default();
    match rest.split_once('?') {
        Some((p, q)) => (scheme, p, q),
        None => (scheme, rest, ""),
    }
}

/// `url` with its path replaced by the canonical one (fragment dropped).
fn canonical_url(url: &str, path: &str, query: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let mut out = format!("{scheme}://{authority}{path}");
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

async fn run(
    iso: &Rc<Isolate>,
    req: &web_sys::Request,
    env: &Env,
    ctx: &Context,
    trace: &mut Trace,
) -> Result<web_sys::Response, ProxyError> {
    let in_headers = req.headers();
    let authority = in_headers
        .get("host")
        .ok()
        .flatten()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| in_headers.get("x-forwarded-host").ok().flatten())
        .ok_or(ProxyError::MissingHost)?;
    let host = normalize_host(&authority).map_err(|e| match e {
        crate::host::HostError::Missing => ProxyError::MissingHost,
        crate::host::HostError::Invalid => ProxyError::InvalidHost,
    })?;
    let url = req.url();
    let method = req.method();
    let (scheme, raw_path, query) = split_url(&url);
    if iso.api.is_api_host(&host) {
        if let Some(sub) = raw_path.strip_prefix("/api/v1") {
            if sub.is_empty() || sub.starts_with('/') {
                let res = api::handle(iso, env, req, sub, query).await;
                return to_js_response(&res, method == "HEAD").map_err(|_| internal("api"));
            }
        }
    }
    let path = canonicalize(raw_path, iso.encoded_slashes).map_err(ProxyError::InvalidPath)?;
    let (config, tier) = resolve(iso, env, ctx, &host).await.inspect_err(|e| {
        if matches!(e, ProxyError::UnknownHost) {
            trace.tier = Some(Tier::Negative);
        }
    })?;
    trace.tier = Some(tier);

    let facts = Facts {
        limits: iso.filter_limits,
        method: &method,
        host: &host,
        query,
        headers: &in_headers,
    };
    let selected = config
        .table
        .select(&path.matching, &facts)
        .ok_or(ProxyError::NoRoute)?;
    let chain = &selected.route.chain;
    let jwks = fetch_jwks(iso, chain, &in_headers).await;
    // Upstreams and X-Original-URL see the canonical spelling only.
    let canonical_url = if path.upstream == raw_path {
        None
    } else {
        Some(canonical_url(&url, &path.upstream, query))
    };
    let cx = RequestCx {
        method: &method,
        url: canonical_url.as_deref().unwrap_or(&url),
        scheme,
        authority: &authority,
        host: &host,
        path: &path.upstream,
        query,
        tenant_id: &config.tenant_id,
        custom_domain_id: config.custom_domain_id.as_deref(),
        domain: &config.domain,
        params: &selected.params,
        now_s: (js_sys::Date::now() / 1000.0) as i64,
        jwks: &jwks,
    };

    // The upstream request gets its own mutable copy of the headers.
    let up_headers =
        web_sys::Headers::new_with_headers(&in_headers).map_err(|_| ProxyError::HandlerFailed {
            handler: chain.terminal.type_name(),
            detail: "cannot copy request headers".into(),
        })?;
    let mut up = JsHeaders(&up_headers);
    let mut state = RequestState::default();
    let outcome = chain.on_request(&cx, &mut state, &mut up);
    if let Some(mut early) = outcome.early {
        chain.on_response(&cx, &state, outcome.ran, early.status, &mut early.headers);
        confine_domains(&mut early.headers, &host, &config.domain);
        return to_js_response(&early, method == "HEAD")
            .map_err(|_| internal(chain.terminal.type_name()));
    }
    let plan = match chain.terminal.plan(&cx, &mut up) {
        Ok(p) => p,
        Err(e) => return error_through_chain(&cx, chain, &state, outcome.ran, e, req),
    };
    match plan {
        TerminalPlan::Respond(mut res) => {
            chain.on_response(&cx, &state, outcome.ran, res.status, &mut res.headers);
            confine_domains(&mut res.headers, &host, &config.domain);
            to_js_response(&res, method == "HEAD").map_err(|_| internal(chain.terminal.type_name()))
        }
        TerminalPlan::Call(call) => {
            let websocket = is_websocket_upgrade(&JsHeaders(&in_headers));
            strip_hop_by_hop(&mut up, websocket);
            let res = match upstream::send(env, &call, req, &up_headers).await {
                Ok(r) => r,
                Err(e) => return error_through_chain(&cx, chain, &state, outcome.ran, e, req),
            };
            let touches = chain.touches_response(outcome.ran);
            // Without response-phase work, headers are copied only for a Set-Cookie.
            if !touches && !res.headers().has("set-cookie").unwrap_or(true) {
                return Ok(res);
            }
            let res = with_mutable_headers(res).map_err(|_| internal(call.handler))?;
            let res_headers = res.headers();
            let mut h = JsHeaders(&res_headers);
            if touches {
                chain.on_response(&cx, &state, outcome.ran, res.status(), &mut h);
            }
            if res_headers.has("set-cookie").unwrap_or(true) {
                confine_domains(&mut h, &host, &config.domain);
            }
            Ok(res)
        }
    }
}

/// A terminal's own error (502/504/...) still passes back through the response phase
/// of the middleware that ran, so e.g. `cors` headers reach the browser with it.
fn error_through_chain(
    cx: &RequestCx<'_>,
    chain: &crate::chain::Chain,
    state: &RequestState,
    ran: usize,
    err: ProxyError,
    req: &web_sys::Request,
) -> Result<web_sys::Response, ProxyError> {
    if err.should_log() {
        worker::console_error!("portico: {} {}: {err}", cx.method, cx.path);
    }
    let mut res = err.to_response();
    chain.on_response(cx, state, ran, res.status, &mut res.headers);
    to_js_response(&res, req.method() == "HEAD").map_err(|_| internal(chain.terminal.type_name()))
}

/// Fetches (or takes from the isolate cache) the JWKS of every `jwt` handler in the
/// chain, so the request phase itself stays synchronous.
async fn fetch_jwks(
    iso: &Rc<Isolate>,
    chain: &crate::chain::Chain,
    headers: &web_sys::Headers,
) -> JwksView {
    let mut view = JwksView::default();
    for m in &chain.middleware {
        let Middleware::Jwt(j) = m else { continue };
        let Some(url) = j.jwks_url() else { continue };
        if view.sets.iter().any(|(u, _)| u == url) {
            continue;
        }
        let kid = j.token(&JsHeaders(headers)).and_then(|t| token_kid(&t));
        let keys = jwks::keys_for(iso, url, kid.as_deref())
            .await
            .map_err(|e| e.to_string());
        view.sets.push((url.to_string(), keys));
    }
    view
}

fn internal(handler: &'static str) -> ProxyError {
    ProxyError::HandlerFailed {
        handler,
        detail: "cannot build response".into(),
    }
}

/// Responses from `fetch` have immutable headers: re-wrap them (the body stream is
/// handed over, never read).
fn with_mutable_headers(res: web_sys::Response) -> worker::Result<web_sys::Response> {
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

fn to_js_response(res: &SimpleResponse, head: bool) -> worker::Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    for (k, v) in &res.headers.0 {
        let _ = headers.append(k, v);
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(res.status);
    init.set_headers(&headers);
    let no_body = head || res.body.is_empty() || matches!(res.status, 101 | 204 | 205 | 304);
    let body = (!no_body).then_some(res.body.as_str());
    Ok(web_sys::Response::new_with_opt_str_and_init(body, &init)?)
}
