//! Carries out an `UpstreamCall`: `fetch`, a service binding, or a dispatch namespace,
//! with the body streamed through untouched and a timeout to response headers.

use super::env::binding;
use super::shared::{with_deadline, Elapsed};
use crate::error::ProxyError;
use crate::upstream::{Target, UpstreamCall};
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Env;

fn failed(handler: &'static str, detail: impl Into<String>) -> ProxyError {
    ProxyError::HandlerFailed {
        handler,
        detail: detail.into(),
    }
}

fn js_detail(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// Calls `obj[method](...args)` with `Reflect.apply`; on an RPC stub `.call` would
/// itself be taken as a remote method, so `Function::call*` is not used.
fn apply(obj: &JsValue, method: &str, args: &Array) -> Result<JsValue, JsValue> {
    let f = Reflect::get(obj, &JsValue::from_str(method))?;
    let f: js_sys::Function = f
        .dyn_into()
        .map_err(|_| JsValue::from_str(&format!("{method} is not a function")))?;
    Reflect::apply(&f, obj, args)
}

/// Builds the upstream request: same method, the edited headers, the original
/// body stream, manual redirects and an abort signal.
fn build_request(
    call: &UpstreamCall,
    original: &web_sys::Request,
    headers: &web_sys::Headers,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<web_sys::Request, ProxyError> {
    let init = web_sys::RequestInit::new();
    init.set_method(&original.method());
    init.set_headers(headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(signal);
    if let Some(body) = original.body() {
        init.set_body(&body);
    }
    web_sys::Request::new_with_str_and_init(&call.url, &init).map_err(|e| {
        failed(
            call.handler,
            format!("cannot build upstream request: {}", js_detail(&e)),
        )
    })
}

/// `fetch`es `call.url` with `method`, `headers` and `body` (a stream or bytes, as
/// a JS value), manual redirects, and a timeout to response headers: the outbound
/// proxy's sender, whose body may be one Portico rewrote.
pub(crate) async fn fetch_with_body(
    call: &UpstreamCall,
    method: &str,
    headers: &web_sys::Headers,
    body: Option<&JsValue>,
) -> Result<web_sys::Response, ProxyError> {
    let handler = call.handler;
    let controller = web_sys::AbortController::new().map_err(|e| failed(handler, js_detail(&e)))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(Some(&controller.signal()));
    if let Some(body) = body {
        init.set_body(body);
    }
    let request = web_sys::Request::new_with_str_and_init(&call.url, &init).map_err(|e| {
        failed(
            handler,
            format!("cannot build upstream request: {}", js_detail(&e)),
        )
    })?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let res = with_timeout(
        handler,
        call.timeout_ms,
        JsFuture::from(global.fetch_with_request(&request)),
        &controller,
    )
    .await?;
    res.dyn_into::<web_sys::Response>()
        .map_err(|_| failed(handler, "upstream did not return a Response"))
}

/// Sends the request and waits for response headers, at most `timeout_ms`.
pub(crate) async fn send(
    env: &Env,
    call: &UpstreamCall,
    original: &web_sys::Request,
    headers: &web_sys::Headers,
) -> Result<web_sys::Response, ProxyError> {
    let handler = call.handler;
    let controller = web_sys::AbortController::new().map_err(|e| failed(handler, js_detail(&e)))?;
    // A signal cannot cross an RPC boundary (the local dispatch emulator), so only
    // fetch and service bindings get one; the timeout below applies to all.
    let signal = match call.target {
        Target::Fetch | Target::Service { .. } => Some(controller.signal()),
        Target::Dispatch { .. } => None,
    };
    let request = build_request(call, original, headers, signal.as_ref())?;
    let promise: Promise = match &call.target {
        Target::Fetch => {
            let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
            global.fetch_with_request(&request)
        }
        Target::Service { binding: name } => {
            let b = binding(env, name).ok_or_else(|| {
                ProxyError::HostConfigInvalid(format!("no service binding named {name}"))
            })?;
            apply(&b, "fetch", &Array::of1(&request))
                .map(|v| Promise::resolve(&v))
                .map_err(|e| failed(handler, js_detail(&e)))?
        }
        Target::Dispatch {
            binding: name,
            script,
            cpu_ms,
            subrequests,
        } => {
            let ns = binding(env, name).ok_or_else(|| {
                ProxyError::HostConfigInvalid(format!("no dispatch namespace named {name}"))
            })?;
            let options = Object::new();
            let limits = Object::new();
            if let Some(cpu) = cpu_ms {
                let _ = Reflect::set(&limits, &"cpuMs".into(), &JsValue::from_f64(*cpu as f64));
            }
            if let Some(sub) = subrequests {
                let _ = Reflect::set(
                    &limits,
                    &"subRequests".into(),
                    &JsValue::from_f64(*sub as f64),
                );
            }
            if cpu_ms.is_some() || subrequests.is_some() {
                let _ = Reflect::set(&options, &"limits".into(), &limits);
            }
            let args = Array::of3(&JsValue::from_str(script), &Object::new(), &options);
            // A real namespace returns a Fetcher at once; the local emulator returns
            // an RPC promise. Promise.resolve covers both.
            let got = apply(&ns, "get", &args).map_err(|e| failed(handler, js_detail(&e)))?;
            let fetcher = with_timeout(
                handler,
                call.timeout_ms,
                JsFuture::from(Promise::resolve(&got)),
                &controller,
            )
            .await?;
            apply(&fetcher, "fetch", &Array::of1(&request))
                .map(|v| Promise::resolve(&v))
                .map_err(|e| failed(handler, js_detail(&e)))?
        }
    };
    let res = with_timeout(
        handler,
        call.timeout_ms,
        JsFuture::from(promise),
        &controller,
    )
    .await?;
    res.dyn_into::<web_sys::Response>()
        .map_err(|_| failed(handler, "upstream did not return a Response"))
}

async fn with_timeout(
    handler: &'static str,
    timeout_ms: u32,
    fut: JsFuture,
    controller: &web_sys::AbortController,
) -> Result<JsValue, ProxyError> {
    match with_deadline(u64::from(timeout_ms), fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(failed(handler, js_detail(&e))),
        Err(Elapsed) => {
            controller.abort();
            Err(ProxyError::HandlerTimeout { handler })
        }
    }
}
