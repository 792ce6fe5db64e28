//! JWKS fetches for the isolate-wide cache of `crate::auth::jwks_cache` (shared by
//! the management API and `jwt` routes). The cache decides; this module only
//! fetches, with the body capped while it streams, and reports the outcome.

use super::body::{discard, read_capped, ReadError};
use super::isolate::Isolate;
use super::shared::{with_deadline, Elapsed};
use crate::auth::jwks_cache::{JwksDecision, JwksError, JwksPolicy};
use crate::auth::KeySet;
use crate::body_limit::check_declared;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Longest wait for a whole JWKS answer, body included.
const JWKS_TIMEOUT_MS: u64 = 5_000;

fn now_ms() -> u64 {
    // Date.now() is a non-negative integer well below 2^53.
    js_sys::Date::now().max(0.0) as u64
}

fn js_detail(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// One GET, status and size checked, body read up to the cap and parsed.
async fn fetch_once(
    url: &str,
    policy: &JwksPolicy,
    signal: &web_sys::AbortSignal,
) -> Result<KeySet, JwksError> {
    let net = |e: JsValue| JwksError::Network(js_detail(&e));
    let headers = web_sys::Headers::new().map_err(net)?;
    headers.set("accept", "application/json").map_err(net)?;
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&headers);
    init.set_signal(Some(signal));
    // A redirect is not followed: the URL was checked (https, or loopback http)
    // when it was configured; its target was not.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let req = web_sys::Request::new_with_str_and_init(url, &init).map_err(net)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let res: web_sys::Response = JsFuture::from(global.fetch_with_request(&req))
        .await
        .map_err(net)?
        .dyn_into()
        .map_err(|_| JwksError::Network("fetch did not return a Response".into()))?;
    let status = res.status();
    if !(200..300).contains(&status) {
        discard(res.body());
        return Err(JwksError::Status(status));
    }
    let declared = res.headers().get("content-length").ok().flatten();
    if let Err(e) = check_declared(declared.as_deref(), policy.max_bytes) {
        discard(res.body());
        return Err(e.into());
    }
    let bytes = match res.body() {
        Some(stream) => read_capped(&stream, policy.max_bytes)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge(t) => JwksError::TooLarge(t),
                ReadError::Stream(s) => JwksError::Network(s),
            })?,
        None => Vec::new(),
    };
    Ok(KeySet::from_fetched(&bytes, policy.max_keys)?)
}

/// `fetch_once` under the deadline; on timeout the request (and its body) is aborted.
async fn fetch_keys(url: &str, policy: &JwksPolicy) -> Result<KeySet, JwksError> {
    let controller =
        web_sys::AbortController::new().map_err(|e| JwksError::Network(js_detail(&e)))?;
    let signal = controller.signal();
    match with_deadline(JWKS_TIMEOUT_MS, fetch_once(url, policy, &signal)).await {
        Ok(r) => r,
        Err(Elapsed) => {
            controller.abort();
            Err(JwksError::Timeout)
        }
    }
}

/// One fetch per URL at a time, shared by concurrent requests (see
/// `SingleFlight`). The fetch records its outcome in the cache itself, so waiters
/// just ask again.
fn shared_fetch(iso: &Rc<Isolate>, url: &str) -> js_sys::Promise {
    let (promise, ()) = iso.jwks_inflight.join(url, || {
        let iso2 = iso.clone();
        let u = url.to_string();
        let promise = wasm_bindgen_futures::future_to_promise(async move {
            let policy = *iso2.jwks.borrow().policy();
            let outcome = fetch_keys(&u, &policy).await;
            if let Err(e) = &outcome {
                worker::console_warn!(
                    "portico: JWKS {} failed: {e}",
                    crate::url::without_query(&u)
                );
            }
            let _ = iso2.jwks.borrow_mut().record(&u, outcome, now_ms());
            iso2.jwks_inflight.forget(&u);
            Ok(JsValue::UNDEFINED)
        });
        (promise, ())
    });
    promise
}

/// Keys at `url` for a token naming `kid` if isolate memory can answer now (keys, or
/// a remembered failure); `None` when a fetch is due.
pub(crate) fn keys_now(
    iso: &Isolate,
    url: &str,
    kid: Option<&str>,
) -> Option<Result<Rc<KeySet>, JwksError>> {
    match iso.jwks.borrow_mut().decide(url, kid, now_ms()) {
        JwksDecision::Use(keys) => Some(Ok(keys)),
        JwksDecision::Fail(e) => Some(Err(e)),
        JwksDecision::Fetch => None,
    }
}

/// Keys at `url` for a token naming `kid`: cached, fetched, or a fast failure
/// while a failed fetch is remembered or the only set left is too stale.
pub(crate) async fn keys_for(
    iso: &Rc<Isolate>,
    url: &str,
    kid: Option<&str>,
) -> Result<Rc<KeySet>, JwksError> {
    let decision = iso.jwks.borrow_mut().decide(url, kid, now_ms());
    match decision {
        JwksDecision::Use(keys) => return Ok(keys),
        JwksDecision::Fail(e) => return Err(e),
        JwksDecision::Fetch => {}
    }
    let _ = JsFuture::from(shared_fetch(iso, url)).await;
    // The fetch recorded its outcome; the kid has had its chance, so ask without it.
    let after = iso.jwks.borrow_mut().decide(url, None, now_ms());
    match after {
        JwksDecision::Use(keys) => Ok(keys),
        JwksDecision::Fail(e) => Err(e),
        JwksDecision::Fetch => Err(JwksError::Network("the JWKS fetch did not settle".into())),
    }
}
