//! `HeaderAccess` over JS `Headers`: only the headers a handler touches cross into Wasm.

use crate::message::HeaderAccess;
use wasm_bindgen::JsCast;

/// Borrowed JS headers.
pub(crate) struct JsHeaders<'a>(pub(crate) &'a web_sys::Headers);

impl HeaderAccess for JsHeaders<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).ok().flatten()
    }

    fn set_cookies(&self) -> Vec<String> {
        let Ok(f) = js_sys::Reflect::get(self.0, &"getSetCookie".into()) else {
            return Vec::new();
        };
        let Some(f) = f.dyn_ref::<js_sys::Function>() else {
            return Vec::new();
        };
        match js_sys::Reflect::apply(f, self.0, &js_sys::Array::new()) {
            Ok(list) => js_sys::Array::from(&list)
                .iter()
                .filter_map(|v| v.as_string())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        // Names and values were validated when the config was written; a runtime
        // refusal (e.g. an immutable guard) just leaves the header unchanged.
        let _ = self.0.set(name, value);
    }

    fn append(&mut self, name: &str, value: &str) {
        let _ = self.0.append(name, value);
    }

    fn remove(&mut self, name: &str) {
        let _ = self.0.delete(name);
    }
}

/// The request id of an inbound request: its `cf-ray` when sane, else a new one
/// (management API responses, audit rows).
pub(crate) fn request_id(headers: &web_sys::Headers) -> String {
    headers
        .get("cf-ray")
        .ok()
        .flatten()
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .or_else(|| crate::api::time::new_id("req_").ok())
        .unwrap_or_else(|| "req_unknown".into())
}
