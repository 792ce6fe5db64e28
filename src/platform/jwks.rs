//! JWKS fetching with the isolate-wide cache and refetch policy of
//! `crate::auth::jwks_cache` (shared by the management API and `jwt` routes).

use super::isolate::Isolate;
use super::outbound::call;
use crate::auth::jwks_cache::{should_fetch, JwksEntry};
use crate::auth::KeySet;
use std::rc::Rc;
use worker::{Env, Method};

const JWKS_TIMEOUT_MS: u64 = 5_000;

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
    let fetched = call(
        env,
        None,
        Method::Get,
        url,
        &[("accept", "application/json")],
        None,
        JWKS_TIMEOUT_MS,
    )
    .await
    .and_then(|r| {
        if r.status == 200 {
            KeySet::from_fetched(&r.body)
        } else {
            Err(format!("JWKS {url} answered {}", r.status))
        }
    });
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
