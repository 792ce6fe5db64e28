//! The isolate's JWKS cache, as decisions over an injected clock: use the cached
//! keys, fetch, or fail fast. JWKS URLs are written by tenants (`jwt` routes), so
//! every dimension is bounded: URLs kept (LRU), keys per set, body bytes, how often
//! a failing URL is asked again, and how long a stale set is still trusted.
//! The platform only carries out `Fetch` and reports the outcome.

use super::keys::{FetchedJwksError, KeySet};
use crate::body_limit::TooLarge;
use std::collections::HashMap;
use std::rc::Rc;

/// Largest JWKS body read (bytes); larger bodies count as a failed fetch.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most entries a JWKS may list; more counts as a failed fetch.
pub const MAX_JWKS_KEYS: usize = 32;
/// Most JWKS URLs remembered per isolate (least recently used goes first).
pub const MAX_JWKS_URLS: usize = 64;

/// Why keys for a URL are not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The request could not be sent or its body not read.
    #[error("JWKS request failed: {0}")]
    Network(String),
    /// No complete answer within the deadline.
    #[error("JWKS request timed out")]
    Timeout,
    /// A status other than 2xx.
    #[error("JWKS answered HTTP {0}")]
    Status(u16),
    /// Declared or streamed body over the cap.
    #[error("JWKS body: {0}")]
    TooLarge(#[from] TooLarge),
    /// The body is not a usable JWKS document.
    #[error(transparent)]
    Invalid(#[from] FetchedJwksError),
    /// The last fetch failed less than the minimum refetch interval ago.
    #[error("JWKS fetch failed recently ({0}); not retried before the minimum refetch interval")]
    RecentlyFailed(Box<JwksError>),
    /// Only a key set older than its TTL plus the stale allowance is left.
    #[error("JWKS keys are stale beyond the allowed time and refetching fails")]
    Stale,
}

/// Cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksPolicy {
    /// How long a fetched set is used without asking again.
    pub ttl_ms: u64,
    /// Minimum time between fetches of one URL after a fetch for an unknown `kid`
    /// or a failed fetch.
    pub min_refetch_ms: u64,
    /// How long past its TTL a set is still trusted while refetches fail.
    pub max_stale_ms: u64,
    /// Entries a set may list.
    pub max_keys: usize,
    /// Body bytes read.
    pub max_bytes: usize,
    /// URLs remembered.
    pub max_urls: usize,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            ttl_ms: 600_000,
            min_refetch_ms: 60_000,
            max_stale_ms: 1_800_000,
            max_keys: MAX_JWKS_KEYS,
            max_bytes: MAX_JWKS_BYTES,
            max_urls: MAX_JWKS_URLS,
        }
    }
}

/// What to do for one request.
#[derive(Debug, Clone)]
pub enum JwksDecision {
    /// Verify with these keys; no fetch.
    Use(Rc<KeySet>),
    /// Fetch now, then report with [`JwksCache::record`].
    Fetch,
    /// Fail the request without fetching.
    Fail(JwksError),
}

#[derive(Debug, Clone)]
struct Good {
    keys: Rc<KeySet>,
    fetched_at_ms: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    good: Option<Good>,
    attempted_at_ms: u64,
    last_error: Option<JwksError>,
    last_used: u64,
}

/// Whether a set fetched at `fetched_at_ms` may still be used: within its TTL plus
/// the stale allowance. Past that, requests fail closed rather than trust keys the
/// issuer may long have revoked.
fn trusted(p: &JwksPolicy, fetched_at_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(fetched_at_ms) < p.ttl_ms.saturating_add(p.max_stale_ms)
}

/// Key sets by URL, bounded.
#[derive(Debug)]
pub struct JwksCache {
    policy: JwksPolicy,
    entries: HashMap<String, Entry>,
    tick: u64,
    /// Never evicted: the control plane's own JWKS must not be pushed out by
    /// tenants' URLs.
    pinned: Option<String>,
}

impl JwksCache {
    /// An empty cache; `pinned` (the control plane's JWKS URL) is never evicted.
    pub fn new(policy: JwksPolicy, pinned: Option<String>) -> Self {
        Self {
            policy,
            entries: HashMap::new(),
            tick: 0,
            pinned,
        }
    }

    /// The settings.
    pub fn policy(&self) -> &JwksPolicy {
        &self.policy
    }

    /// URLs currently remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decides for a request whose token names `kid`.
    pub fn decide(&mut self, url: &str, kid: Option<&str>, now_ms: u64) -> JwksDecision {
        self.tick = self.tick.saturating_add(1);
        let tick = self.tick;
        let p = self.policy;
        let Some(e) = self.entries.get_mut(url) else {
            return JwksDecision::Fetch;
        };
        e.last_used = tick;
        let since_attempt = now_ms.saturating_sub(e.attempted_at_ms);
        let may_retry = since_attempt >= p.min_refetch_ms;
        let Some(g) = &e.good else {
            // Only failures so far: remember them for the minimum interval.
            return match (&e.last_error, may_retry) {
                (Some(err), false) => {
                    JwksDecision::Fail(JwksError::RecentlyFailed(Box::new(err.clone())))
                }
                (None, _) | (Some(_), true) => JwksDecision::Fetch,
            };
        };
        let age = now_ms.saturating_sub(g.fetched_at_ms);
        if age < p.ttl_ms {
            let unknown_kid = kid.is_some_and(|k| !g.keys.has_kid(k));
            return if unknown_kid && may_retry {
                JwksDecision::Fetch
            } else {
                JwksDecision::Use(g.keys.clone())
            };
        }
        // Expired. Refetch unless the last attempt failed within the interval.
        if e.last_error.is_none() || may_retry {
            return JwksDecision::Fetch;
        }
        if trusted(&p, g.fetched_at_ms, now_ms) {
            JwksDecision::Use(g.keys.clone())
        } else {
            JwksDecision::Fail(JwksError::Stale)
        }
    }

    /// Records the outcome of a fetch and says what the request that fetched uses:
    /// the new keys; after a failure the previous keys while they are within the
    /// stale allowance, else the error.
    pub fn record(
        &mut self,
        url: &str,
        outcome: Result<KeySet, JwksError>,
        now_ms: u64,
    ) -> Result<Rc<KeySet>, JwksError> {
        self.tick = self.tick.saturating_add(1);
        let tick = self.tick;
        if !self.entries.contains_key(url) {
            self.make_room();
        }
        let previous = self.entries.remove(url);
        match outcome {
            Ok(keys) => {
                let keys = Rc::new(keys);
                self.entries.insert(
                    url.to_string(),
                    Entry {
                        good: Some(Good {
                            keys: keys.clone(),
                            fetched_at_ms: now_ms,
                        }),
                        attempted_at_ms: now_ms,
                        last_error: None,
                        last_used: tick,
                    },
                );
                Ok(keys)
            }
            Err(err) => {
                // Keep the last good set (and its age), so neither expiry nor
                // unknown kids refetch on every request while the JWKS is down.
                let good = previous.and_then(|p| p.good);
                let result = match &good {
                    Some(g) if trusted(&self.policy, g.fetched_at_ms, now_ms) => Ok(g.keys.clone()),
                    _ => Err(err.clone()),
                };
                self.entries.insert(
                    url.to_string(),
                    Entry {
                        good,
                        attempted_at_ms: now_ms,
                        last_error: Some(err),
                        last_used: tick,
                    },
                );
                result
            }
        }
    }

    /// Evicts least recently used URLs (never the pinned one) until one more fits.
    fn make_room(&mut self) {
        let max = self.policy.max_urls.max(1);
        while self.entries.len() >= max {
            let victim = self
                .entries
                .iter()
                .filter(|(u, _)| Some(u.as_str()) != self.pinned.as_deref())
                .min_by_key(|(_, e)| e.last_used)
                .map(|(u, _)| u.clone());
            match victim {
                Some(u) => {
                    self.entries.remove(&u);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests;
