//! Carries out a request's needs (DESIGN §9): every need of a round runs
//! concurrently, results go into `Prefetched`, and the chain is asked again until
//! it needs nothing more. The chain itself never awaits.

use super::env::binding;
use super::grants;
use super::isolate::Isolate;
use super::jwks;
use crate::message::HeaderAccess;
use crate::proxy::Routed;
use crate::request::{GrantResult, Need, NeedError, Prefetched, RateDecision, RequestHead};
use futures_util::future::join_all;
use js_sys::{Array, Object, Promise, Reflect};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Env;

/// Rounds of needs one request may take (a claim-keyed limit needs the keys first).
const MAX_ROUNDS: usize = 3;

enum Met {
    Jwks(Rc<str>, Result<Rc<crate::auth::KeySet>, NeedError>),
    Rate(Rc<str>, String, Result<RateDecision, NeedError>),
    Grant(String, GrantResult),
}

/// Everything the selected chain needs, fetched.
pub(crate) async fn satisfy(
    iso: &Rc<Isolate>,
    env: &Env,
    routed: &Routed,
    head: &RequestHead,
    inbound: &dyn HeaderAccess,
) -> Prefetched {
    let mut pre = Prefetched::new();
    for _ in 0..MAX_ROUNDS {
        let needs = routed.needs(head, &pre, inbound);
        if needs.is_empty() {
            break;
        }
        let tenant = &routed.config().tenant_id;
        for met in join_all(needs.into_iter().map(|n| meet(iso, env, tenant, n))).await {
            match met {
                Met::Jwks(url, keys) => pre.put_jwks(url, keys),
                Met::Rate(limiter, key, d) => pre.put_rate_limit(limiter, key, d),
                Met::Grant(id, g) => pre.put_grant(id, g),
            }
        }
    }
    pre
}

/// Meets the needs isolate memory can answer without I/O; `false` when some
/// need would have to wait (the JS entry then hands the request to this path).
pub(crate) fn satisfy_now(
    iso: &Isolate,
    routed: &Routed,
    head: &RequestHead,
    inbound: &dyn HeaderAccess,
    pre: &mut Prefetched,
) -> bool {
    for _ in 0..MAX_ROUNDS {
        let needs = routed.needs(head, pre, inbound);
        if needs.is_empty() {
            return true;
        }
        for n in needs {
            match n {
                Need::Jwks { url, kid } => match jwks::keys_now(iso, &url, kid.as_deref()) {
                    Some(keys) => pre.put_jwks(url, keys.map_err(NeedError::from)),
                    None => return false,
                },
                Need::RateLimit { .. } => return false,
                Need::Credential { connection_id } => {
                    let tenant = &routed.config().tenant_id;
                    let now = js_sys::Date::now();
                    match iso.grants.now(tenant, &connection_id, now) {
                        // An OAuth2 token due for renewal needs its keeper.
                        Some(Ok(g)) if g.token_due(now) => return false,
                        Some(g) => pre.put_grant(connection_id, g.map_err(NeedError::from)),
                        None => return false,
                    }
                }
            }
        }
    }
    false
}

async fn meet(iso: &Rc<Isolate>, env: &Env, tenant: &str, need: Need) -> Met {
    match need {
        Need::Credential { connection_id } => {
            let g = grants::open_for_call(&iso.grants, &iso.vault, env, tenant, &connection_id)
                .await
                .map_err(NeedError::from);
            Met::Grant(connection_id, g)
        }
        Need::Jwks { url, kid } => {
            let keys = jwks::keys_for(iso, &url, kid.as_deref())
                .await
                .map_err(NeedError::from);
            Met::Jwks(url, keys)
        }
        Need::RateLimit { limiter, key } => {
            let decision = rate_limit(env, &limiter, &key).await;
            if let Err(e) = &decision {
                worker::console_error!("portico: rate limiter {limiter}: {e}");
            }
            Met::Rate(limiter, key, decision)
        }
    }
}

/// One `limit({ key })` call on a Rate Limiting binding. Read through `Reflect`
/// rather than workers-rs' typed binding: the local emulation's constructor name
/// differs from production's, and the typed getter checks it.
async fn rate_limit(env: &Env, limiter: &str, key: &str) -> Result<RateDecision, NeedError> {
    let fail = |what: &str| NeedError::RateLimiter(what.to_string());
    let b = binding(env, limiter).ok_or_else(|| fail("no such binding"))?;
    let f: js_sys::Function = Reflect::get(&b, &JsValue::from_str("limit"))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| fail("binding has no limit()"))?;
    let arg = Object::new();
    Reflect::set(&arg, &"key".into(), &JsValue::from_str(key)).map_err(|_| fail("key"))?;
    let p = Reflect::apply(&f, &b, &Array::of1(&arg)).map_err(|_| fail("limit() threw"))?;
    let outcome = JsFuture::from(Promise::resolve(&p))
        .await
        .map_err(|_| fail("limit() rejected"))?;
    let success = Reflect::get(&outcome, &"success".into())
        .ok()
        .and_then(|v| v.as_bool())
        .ok_or_else(|| fail("limit() gave no success flag"))?;
    Ok(if success {
        RateDecision::Allowed
    } else {
        RateDecision::Limited
    })
}
