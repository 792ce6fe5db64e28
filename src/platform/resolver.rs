//! Host resolution: isolate memory → Cache API → source, with stale-while-revalidate,
//! stale-if-error, negative caching and one shared source read per host.

use super::d1;
use super::env::EnvBindings;
use super::isolate::{Compiled, Counters, Isolate, SourceKind};
use super::remote;
use super::shared::{with_deadline, Elapsed};
use crate::config::diag::Diagnostics;
use crate::config::host::{HostConfig, HostRecord};
use crate::error::ProxyError;
use crate::host::{lookup_candidates, HostPattern};
use crate::resolve::cache::classify;
use crate::resolve::Freshness;
use futures_util::future::FutureExt;
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{Cache, Context, Env};

/// Which tier answered (the `x-portico-host-cache` debug header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    Memory,
    MemoryStale,
    CacheApi,
    CacheApiStale,
    Source,
    StaleIfError,
    Static,
    Negative,
}

impl Tier {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::MemoryStale => "memory-stale",
            Self::CacheApi => "cache-api",
            Self::CacheApiStale => "cache-api-stale",
            Self::Source => "source",
            Self::StaleIfError => "stale-if-error",
            Self::Static => "static",
            Self::Negative => "negative",
        }
    }
}

/// What the Cache API tier stores per host.
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    stored_at_ms: u64,
    record: Option<HostRecord>,
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn cache_key(host: &str) -> String {
    // Keys must be URLs; using the host's own name keeps them on our zone. A
    // shared wildcard entry (`*.example.com`) lives under its base name.
    match host.strip_prefix("*.") {
        Some(base) => format!("https://{base}/.portico/host-cache/v1/wildcard"),
        None => format!("https://{host}/.portico/host-cache/v1"),
    }
}

fn compile(iso: &Isolate, env: &Env, record: &HostRecord) -> Compiled {
    Counters::bump(&iso.counters.route_compiles);
    let mut diags = Diagnostics::new();
    match HostConfig::compile(
        record,
        "routes",
        Some(&EnvBindings::new(env, &iso.rate_limiters)),
        &iso.route_policy.limits,
        &mut diags,
    ) {
        Some(c) if diags.is_empty() => Ok(Rc::new(c)),
        _ => {
            let errors = diags.into_errors();
            worker::console_error!(
                "portico: stored config for host {} is invalid: {errors}",
                record.domain
            );
            Err(Rc::from(errors.to_string()))
        }
    }
}

/// Background work a memory hit asks for; the caller schedules it (`wait_until`
/// on the workers-rs path, `ctx.waitUntil` in the JS entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FollowUp {
    /// Re-read the source for this cache key (stale-while-revalidate).
    Refresh { key: String },
    /// Compare this cache key's memory entry with the colo's Cache API.
    ColoCheck { key: String, stored_at_ms: u64 },
}

/// What the synchronous memory tier answered.
pub(crate) struct Cached {
    pub(crate) result: Result<(Rc<HostConfig>, Tier), ProxyError>,
    pub(crate) follow_up: Option<FollowUp>,
}

/// The synchronous tier: isolate memory (and the parsed static document). `None`
/// means I/O is needed: a cold isolate, an unknown or stale host.
pub(crate) fn cached(iso: &Isolate, host: &str, now: u64) -> Option<Cached> {
    let done = |result| Cached {
        result,
        follow_up: None,
    };
    match &iso.source {
        SourceKind::Unsupported(_) => return Some(done(Err(ProxyError::ConfigInvalid))),
        SourceKind::Static => {
            let doc = iso.parsed_static_document()?;
            return Some(done(match doc {
                Ok(doc) => doc
                    .lookup(host)
                    .map(|c| (c, Tier::Static))
                    .ok_or(ProxyError::UnknownHost),
                Err(_) => Err(ProxyError::ConfigInvalid),
            }));
        }
        SourceKind::D1 | SourceKind::Remote(_) => {}
    }
    let hit = iso.memory.borrow_mut().get(host, now, &iso.ttls);
    if let Some(hit) = hit {
        match hit.freshness {
            Freshness::Fresh => {
                return Some(Cached {
                    result: finish(hit.value, Tier::Memory, host),
                    follow_up: hit.start_check.then(|| FollowUp::ColoCheck {
                        key: host.to_string(),
                        stored_at_ms: hit.stored_at_ms,
                    }),
                });
            }
            Freshness::Revalidate => {
                return Some(Cached {
                    result: finish(hit.value, Tier::MemoryStale, host),
                    follow_up: hit.start_refresh.then(|| FollowUp::Refresh {
                        key: host.to_string(),
                    }),
                });
            }
            Freshness::StaleIfError | Freshness::Expired => {}
        }
    }
    exclusive_wildcard(iso, host, now)
}

/// Schedules a follow-up in the background of the current request.
pub(crate) fn schedule(iso: &Rc<Isolate>, env: &Env, ctx: &Context, f: FollowUp) {
    match f {
        FollowUp::Refresh { key } => spawn_refresh(iso, env, ctx, &key),
        FollowUp::ColoCheck { key, stored_at_ms } => {
            spawn_colo_check(iso, env, ctx, &key, stored_at_ms)
        }
    }
}

/// Resolves a normalised host to its compiled config.
pub(crate) async fn resolve(
    iso: &Rc<Isolate>,
    env: &Env,
    ctx: &Context,
    host: &str,
) -> Result<(Rc<HostConfig>, Tier), ProxyError> {
    if let SourceKind::Static = iso.source {
        // Parses the document on first use (the sync tier only reads it).
        iso.static_document(env)
            .map_err(|_| ProxyError::ConfigInvalid)?;
    }
    let now = now_ms();
    if let Some(c) = cached(iso, host, now) {
        if let Some(f) = c.follow_up {
            schedule(iso, env, ctx, f);
        }
        return c.result;
    }
    // Memory had nothing usable, or only a copy to serve if the source fails.
    let mut stale: Option<Option<Compiled>> = None;
    if let Some(hit) = iso.memory.borrow_mut().get(host, now, &iso.ttls) {
        if hit.freshness == Freshness::StaleIfError {
            stale = Some(hit.value);
        }
    }
    // Second tier: the colo's Cache API.
    let cache = Cache::default();
    Counters::bump(&iso.counters.cache_api_reads);
    if let Some(entry) = read_cache(&cache, host).await {
        let age = now.saturating_sub(entry.stored_at_ms);
        let freshness = classify(age, entry.record.is_none(), &iso.ttls);
        if matches!(
            freshness,
            Freshness::Fresh | Freshness::Revalidate | Freshness::StaleIfError
        ) {
            let value = entry.record.as_ref().map(|r| compile(iso, env, r));
            iso.memory
                .borrow_mut()
                .put_checked(host, value.clone(), entry.stored_at_ms, now);
            match freshness {
                Freshness::Fresh => return finish(value, Tier::CacheApi, host),
                Freshness::Revalidate => {
                    // Mark the refresh as started in memory so others do not repeat it.
                    let _ = iso.memory.borrow_mut().get(host, now, &iso.ttls);
                    spawn_refresh(iso, env, ctx, host);
                    return finish(value, Tier::CacheApiStale, host);
                }
                Freshness::StaleIfError | Freshness::Expired => {
                    if stale.is_none() {
                        stale = Some(value);
                    }
                }
            }
        }
    }
    match load_shared(iso, env, host).await {
        Ok(record) => {
            let (value, write) = store(iso, env, host, record, now_ms());
            if let Some(w) = write {
                ctx.wait_until(w);
            }
            let tier = if value.is_some() {
                Tier::Source
            } else {
                Tier::Negative
            };
            finish(value, tier, host)
        }
        Err(err) => match stale {
            Some(value) => {
                worker::console_warn!(
                    "portico: host source failed for {host} ({err}); serving stale config"
                );
                finish(value, Tier::StaleIfError, host)
            }
            None => Err(err),
        },
    }
}

/// A fresh in-memory wildcard record that no other domain lies under serves every
/// host it covers: random subdomains cost no source read, compile or memory slot
/// of their own (DESIGN §2.5).
fn exclusive_wildcard(iso: &Isolate, host: &str, now: u64) -> Option<Cached> {
    for key in lookup_candidates(host).iter().skip(1) {
        let Some(hit) = iso.memory.borrow_mut().get(key, now, &iso.ttls) else {
            continue;
        };
        let usable = matches!(&hit.value, Some(Ok(c)) if c.exclusive && c.covers(host));
        if !usable {
            continue;
        }
        let value = hit.value;
        match hit.freshness {
            Freshness::Fresh => {
                // Writes through other isolates purge the colo tier: check it in
                // the background, as for per-host entries.
                return Some(Cached {
                    result: finish(value, Tier::Memory, host),
                    follow_up: hit.start_check.then(|| FollowUp::ColoCheck {
                        key: key.clone(),
                        stored_at_ms: hit.stored_at_ms,
                    }),
                });
            }
            Freshness::Revalidate => {
                return Some(Cached {
                    result: finish(value, Tier::MemoryStale, host),
                    follow_up: hit
                        .start_refresh
                        .then(|| FollowUp::Refresh { key: key.clone() }),
                });
            }
            Freshness::StaleIfError | Freshness::Expired => {}
        }
    }
    None
}

fn finish(
    value: Option<Compiled>,
    tier: Tier,
    host: &str,
) -> Result<(Rc<HostConfig>, Tier), ProxyError> {
    match value {
        None => Err(ProxyError::UnknownHost),
        // A record is only ever used for a host its domain covers.
        Some(Ok(c)) if !c.covers(host) => Err(ProxyError::UnknownHost),
        Some(Ok(c)) => Ok((c, tier)),
        Some(Err(e)) => Err(ProxyError::HostConfigInvalid(e.to_string())),
    }
}

/// A pending Cache API write.
type CacheWrite = futures_util::future::LocalBoxFuture<'static, ()>;

/// Compiles a fresh source result, keeps it in memory and returns the Cache API
/// write for the caller to schedule (`wait_until`) or await (inside a refresh).
fn store(
    iso: &Rc<Isolate>,
    env: &Env,
    host: &str,
    (record, generation): (Option<HostRecord>, u64),
    now: u64,
) -> (Option<Compiled>, Option<CacheWrite>) {
    let value = record.as_ref().map(|r| compile(iso, env, r));
    if iso.purge_generation.get() != generation {
        // A purge ran while this read was in flight: answer with it, cache nothing.
        return (value, None);
    }
    // One entry for a whole exclusive wildcard (memory and colo tier): no
    // per-host slot, so a flood of random subdomains cannot evict other hosts.
    let key = record
        .as_ref()
        .filter(|r| r.exclusive)
        .map_or_else(|| host.to_string(), |r| r.domain.clone());
    iso.memory.borrow_mut().put(&key, value.clone(), now);
    if key != host && host.starts_with("*.") {
        // A shared wildcard entry whose domain is now answered by another record
        // (it was deleted under a wider one) must not keep serving its hosts.
        iso.memory.borrow_mut().put(host, None, now);
    }
    let entry = StoredEntry {
        stored_at_ms: now,
        record,
    };
    let max_age = iso.ttls.retain_ms(entry.record.is_none()) / 1000;
    let Ok(body) = serde_json::to_string(&entry) else {
        return (value, None);
    };
    if max_age == 0 {
        return (value, None);
    }
    Counters::bump(&iso.counters.cache_api_writes);
    let key = cache_key(&key);
    let iso2 = iso.clone();
    let write = async move {
        if iso2.purge_generation.get() != generation {
            return;
        }
        let Ok(mut res) = worker::Response::ok(body) else {
            return;
        };
        let _ = res
            .headers_mut()
            .set("cache-control", &format!("max-age={max_age}"));
        let _ = res.headers_mut().set("content-type", "application/json");
        if let Err(e) = Cache::default().put(key.as_str(), res).await {
            worker::console_warn!("portico: host cache write failed: {e}");
        }
    }
    .boxed_local();
    (value, Some(write))
}

async fn read_cache(cache: &Cache, host: &str) -> Option<StoredEntry> {
    let key = cache_key(host);
    let mut res = cache.get(key.as_str(), true).await.ok()??;
    let text = res.text().await.ok()?;
    serde_json::from_str(&text).ok()
}

/// One source read per host at a time; concurrent misses await the same read.
/// Also returns the purge generation the read started under.
async fn load_shared(
    iso: &Rc<Isolate>,
    env: &Env,
    host: &str,
) -> Result<(Option<HostRecord>, u64), ProxyError> {
    let (promise, generation) = iso.inflight.join(host, || {
        let generation = iso.purge_generation.get();
        Counters::bump(&iso.counters.source_reads);
        let env = env.clone();
        let h = host.to_string();
        let iso2 = iso.clone();
        let p = wasm_bindgen_futures::future_to_promise(async move {
            let record = match &iso2.source {
                SourceKind::Remote(s) => remote::load_host(&iso2, &env, s, &h)
                    .await
                    .map_err(|e| e.to_string()),
                // Static and unsupported sources never get here: `cached` answers
                // them from memory. D1 is the reader otherwise.
                SourceKind::D1 | SourceKind::Static | SourceKind::Unsupported(_) => {
                    d1::load_host(&env, &h).await.map_err(|e| e.to_string())
                }
            }
            .map_err(|e| JsValue::from_str(&e))?;
            serde_json::to_string(&record)
                .map(|s| JsValue::from_str(&s))
                .map_err(|e| JsValue::from_str(&e.to_string()))
        });
        (p, generation)
    });
    let outcome = with_deadline(iso.ttls.resolve_timeout_ms, JsFuture::from(promise)).await;
    // Whoever finishes first clears the slot (if it is still this read's: a purge
    // may have replaced it); a later miss starts a new read.
    iso.inflight.forget_if(host, |g| *g == generation);
    match outcome {
        Ok(Ok(v)) => {
            let text = v.as_string().unwrap_or_default();
            serde_json::from_str(&text)
                .map(|r| (r, generation))
                .map_err(|e| ProxyError::ResolveFailed(format!("host record: {e}")))
        }
        Ok(Err(e)) => {
            let e = e.as_string().unwrap_or_else(|| "host source failed".into());
            worker::console_error!("portico: host lookup failed for {host}: {e}");
            Err(ProxyError::ResolveFailed(e))
        }
        Err(Elapsed) => Err(ProxyError::ResolveTimeout),
    }
}

/// Background check of a fresh memory entry against the colo's Cache API: a write
/// made through another isolate purged it there, so a missing entry means "read the
/// source again" and a newer one replaces ours. The request that triggered it was
/// already answered from memory (the warm path does no Cache API read).
fn spawn_colo_check(iso: &Rc<Isolate>, env: &Env, ctx: &Context, host: &str, stored_at_ms: u64) {
    let iso2 = iso.clone();
    let env2 = env.clone();
    let host2 = host.to_string();
    ctx.wait_until(async move {
        Counters::bump(&iso2.counters.cache_api_reads);
        let now = now_ms();
        match read_cache(&Cache::default(), &host2).await {
            Some(entry) if entry.stored_at_ms <= stored_at_ms => {
                iso2.memory.borrow_mut().confirm(&host2, now);
            }
            Some(entry) => {
                let value = entry.record.as_ref().map(|r| compile(&iso2, &env2, r));
                iso2.memory
                    .borrow_mut()
                    .put_checked(&host2, value, entry.stored_at_ms, now);
            }
            None => match load_shared(&iso2, &env2, &host2).await {
                Ok(record) => {
                    if let (_, Some(write)) = store(&iso2, &env2, &host2, record, now_ms()) {
                        write.await;
                    }
                }
                Err(e) => {
                    worker::console_warn!("portico: colo check of {host2} failed: {e}");
                    iso2.memory.borrow_mut().check_failed(&host2, now);
                }
            },
        }
    });
}

fn spawn_refresh(iso: &Rc<Isolate>, env: &Env, ctx: &Context, host: &str) {
    let iso2 = iso.clone();
    let env2 = env.clone();
    let host2 = host.to_string();
    ctx.wait_until(async move {
        match load_shared(&iso2, &env2, &host2).await {
            Ok(record) => {
                if let (_, Some(write)) = store(&iso2, &env2, &host2, record, now_ms()) {
                    write.await;
                }
            }
            Err(e) => {
                worker::console_warn!("portico: background refresh of {host2} failed: {e}");
                iso2.memory.borrow_mut().refresh_failed(&host2);
            }
        }
    });
}

/// Most negative entries under a newly served wildcard one purge deletes.
const MAX_NEGATIVE_PURGES: usize = 32;

/// Makes a management write visible: purges the Cache API entries of `hosts` (exact
/// names) and of every host this isolate holds for the tenant, and drops this
/// isolate's memory entries for the tenant plus every negative and invalid entry.
pub(crate) async fn purge(iso: &Isolate, tenant_id: &str, hosts: &[String]) {
    iso.purge_generation
        .set(iso.purge_generation.get().saturating_add(1));
    // Reads in flight may return what this purge removes: later misses start anew.
    iso.inflight.clear();
    // Concrete hosts this isolate resolved for the tenant (e.g. a.example.com through
    // `*.example.com`) have Cache API entries no domain row names: purge those too.
    let mut keys: Vec<String> = iso
        .memory
        .borrow()
        .hosts_where(|_, v| matches!(v, Some(Ok(c)) if c.tenant_id == tenant_id));
    // Hosts remembered as unknown under a wildcard that is now served (a new or
    // just verified `*.` domain) have negative Cache API entries no row names either.
    let wildcards: Vec<HostPattern> = hosts
        .iter()
        .filter(|h| h.starts_with("*."))
        .filter_map(|h| HostPattern::parse(h).ok())
        .collect();
    if !wildcards.is_empty() {
        // Anyone can fill the isolate with unknown hosts under a pending wildcard;
        // each purge is a subrequest, so only a bounded number is worth it (the
        // rest expire within the negative TTL).
        let negatives = iso
            .memory
            .borrow()
            .hosts_where(|h, v| v.is_none() && wildcards.iter().any(|p| p.matches(h)));
        keys.extend(negatives.into_iter().take(MAX_NEGATIVE_PURGES));
    }
    iso.memory.borrow_mut().remove_where(|h, v| match v {
        None | Some(Err(_)) => true,
        Some(Ok(c)) => c.tenant_id == tenant_id || hosts.iter().any(|x| x == h),
    });
    // Every name, wildcards too: a shared wildcard entry has a colo key.
    keys.extend(hosts.iter().cloned());
    keys.sort();
    keys.dedup();
    let cache = Cache::default();
    for h in keys {
        if let Err(e) = cache.delete(cache_key(&h).as_str(), true).await {
            worker::console_warn!("portico: host cache purge failed for {h}: {e}");
        }
    }
}
