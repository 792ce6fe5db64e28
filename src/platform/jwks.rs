//! JWKS fetching with the isolate-wide cache and refetch policy of
//! `crate::auth::jwks_cache` (shared by the management API and `jwt` routes).

use super::isolate::Isolate;
use super::outbound::call;
use crate::auth::jwks_cache::{should_fetch, JwksEntry};
use crate::auth::KeySet;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{Env, Method};

const JWKS_TIMEOUT_MS: u64 = 5_000;

/// One JWKS fetch per URL at a time: concurrent cold requests await the same JS
/// promise (each through its own `then`, so each resumes in its own request
/// context, as for shared host reads). Resolves to the body text.
async fn fetch_shared(iso: &Isolate, env: &Env, url: &str) -> Result<String, String> {
    let existing = iso.jwks_inflight.borrow().get(url).cloned();
    let promise = match existing {
        Some(p) => p,
        None => {
            let env = env.clone();
            let u = url.to_string();
            let p = wasm_bindgen_futures::future_to_promise(async move {
                let r = call(
                    &env,
                    None,
                    Method::Get,
                    &u,
                    &[("accept", "application/json")],
                    None,
                    JWKS_TIMEOUT_MS,
                )
                .await
                .map_err(|e| JsValue::from_str(&e))?;
                if r.status == 200 {
                    Ok(JsValue::from_str(&r.body))
                } else {
                    Err(JsValue::from_str(&format!(
                        "JWKS {u} answered {}",
                        r.status
                    )))
                }
            });
            iso.jwks_inflight
                .borrow_mut()
                .insert(url.to_string(), p.clone());
            p
        }
    };
    let out = JsFuture::from(promise).await;
    iso.jwks_inflight.borrow_mut().remove(url);
    match out {
        Ok(v) => v
            .as_string()
            .ok_or_else(|| "JWKS body is not text".to_string()),
        Err(e) => Err(e.as_string().unwrap_or_else(|| "JWKS fetch failed".into())),
    }
}

/// Keys at `url`, fetching when the policy says so. A failed refetch keeps serving
/// the previous set; a failed first fetch is an error.
pub(crate) async fn keys_for(
    iso: &Isolate,
    env: &Env,
    url: &str,
    kid: Option<&str>,
) -> Result<Rc<KeySet>, String> {
    let now = js_sys::Date::now() as u64;
    let cached = iso.jwks.borrow().get(url).cloned();
    if !should_fetch(cached.as_ref(), kid, now, &iso.api.jwks) {
        if let Some(e) = cached {
            return Ok(e.keys);
        }
    }
    let fetched = fetch_shared(iso, env, url)
        .await
        .and_then(|body| KeySet::from_fetched(&body));
    match fetched {
        Ok(keys) => {
            let keys = Rc::new(keys);
            iso.jwks.borrow_mut().insert(
                url.to_string(),
                JwksEntry {
                    keys: keys.clone(),
                    fetched_at_ms: now,
                },
            );
            Ok(keys)
        }
        Err(e) => {
            worker::console_warn!("portico: JWKS fetch failed: {e}");
            match cached {
                Some(mut entry) => {
                    // Keep the old keys and count the attempt, so neither expiry nor
                    // unknown kids retry on every request while the JWKS is down.
                    entry.fetched_at_ms = now;
                    let keys = entry.keys.clone();
                    iso.jwks.borrow_mut().insert(url.to_string(), entry);
                    Ok(keys)
                }
                None => Err(e),
            }
        }
    }
}
