//! Reading vars and probing bindings on the Worker environment.

use crate::chain::rate_limit::LimiterSpec;
use crate::config::bindings::Bindings;
use wasm_bindgen::{JsCast, JsValue};
use worker::Env;

/// A var as a string: strings as they are, JSON objects (wrangler allows them)
/// stringified. `None` when unset.
pub(crate) fn var(env: &Env, name: &str) -> Option<String> {
    let v = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if v.is_undefined() || v.is_null() {
        return None;
    }
    if let Some(s) = v.as_string() {
        return Some(s);
    }
    js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string())
}

/// A binding object, if present.
pub(crate) fn binding(env: &Env, name: &str) -> Option<JsValue> {
    let v = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    (v.is_object() || v.is_function()).then_some(v)
}

fn has_method(obj: &JsValue, method: &str) -> bool {
    js_sys::Reflect::get(obj, &JsValue::from_str(method))
        .map(|f| f.is_function() || f.dyn_ref::<js_sys::Function>().is_some())
        .unwrap_or(false)
}

/// Binding checks against the live environment and the rate limiters the
/// operator lists (`PORTICO_RATE_LIMITERS`, parsed once per isolate).
pub(crate) struct EnvBindings<'a> {
    pub(crate) env: &'a Env,
    pub(crate) rate_limiters: &'a [LimiterSpec],
}

impl<'a> EnvBindings<'a> {
    pub(crate) fn new(env: &'a Env, rate_limiters: &'a [LimiterSpec]) -> Self {
        Self { env, rate_limiters }
    }
}

impl Bindings for EnvBindings<'_> {
    fn has_service(&self, name: &str) -> bool {
        binding(self.env, name).is_some_and(|b| has_method(&b, "fetch"))
    }

    fn has_dispatch_namespace(&self, name: &str) -> bool {
        binding(self.env, name).is_some_and(|b| has_method(&b, "get"))
    }

    fn rate_limiter_period(&self, name: &str) -> Option<u32> {
        let spec = self.rate_limiters.iter().find(|l| l.name == name)?;
        binding(self.env, name)
            .is_some_and(|b| has_method(&b, "limit"))
            .then_some(spec.period_s)
    }
}
