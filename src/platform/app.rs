//! Entry routing for the workers-rs path: the management API on control-plane
//! hosts, everything else to the plan executor; the one place a failure before a
//! route was chosen becomes a response.

use super::api;
use super::execute::{self, to_js_response, Trace};
use super::headers::JsHeaders;
use super::isolate::Isolate;
use crate::error::ProxyError;
use crate::proxy::{self, Entry};
use std::rc::Rc;
use worker::{Context, Env};

/// Handles one request; never returns `Err` for request-caused problems.
pub(crate) async fn handle(
    req: web_sys::Request,
    env: Env,
    ctx: Context,
) -> worker::Result<web_sys::Response> {
    let iso = Isolate::get(&env);
    let mut trace = Trace::default();
    let res = match run(&iso, &req, &env, &ctx, &mut trace).await {
        Ok(res) => res,
        Err(err) => {
            execute::log_error(&err, &req.method(), &req.url());
            to_js_response(&err.to_response(), false)?
        }
    };
    if iso.debug_headers {
        let res = execute::with_mutable_headers(res)?;
        let h = res.headers();
        if let Some(tier) = trace.tier {
            let _ = h.set("x-portico-host-cache", tier.as_str());
        }
        let _ = h.set("x-portico-stats", &iso.counters.header_value());
        let _ = h.set("x-portico-path", "workers-rs");
        return Ok(res);
    }
    Ok(res)
}

/// Unix seconds now.
pub(crate) fn now_s() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

async fn run(
    iso: &Rc<Isolate>,
    req: &web_sys::Request,
    env: &Env,
    ctx: &Context,
    trace: &mut Trace,
) -> Result<web_sys::Response, ProxyError> {
    let in_headers = req.headers();
    let method = req.method();
    let entry = proxy::enter(
        &iso.proxy_settings(),
        &method,
        &req.url(),
        &JsHeaders(&in_headers),
        &|h| iso.api.is_api_host(h),
        now_s(),
    )?;
    match entry {
        Entry::Api { path, query } => api::handle(iso, env, ctx, req, &path, &query)
            .await
            .map_err(|_| execute::internal("api")),
        Entry::Proxy(head) => execute::proxy(iso, env, ctx, req, head, trace).await,
    }
}
