//! When to (re)fetch a JWKS: on first use, after its TTL, and when a token names a
//! `kid` the cached set lacks, but then at most once per minimum interval, so a
//! stream of bogus kids cannot turn Portico into a JWKS hammer.

use super::keys::KeySet;
use std::rc::Rc;

/// A fetched key set.
#[derive(Debug, Clone)]
pub struct JwksEntry {
    /// The keys.
    pub keys: Rc<KeySet>,
    /// When they were fetched (ms).
    pub fetched_at_ms: u64,
}

/// Refetch settings.
#[derive(Debug, Clone, Copy)]
pub struct JwksPolicy {
    /// How long a fetched set is used without asking again.
    pub ttl_ms: u64,
    /// Minimum time between fetches caused by unknown `kid`s.
    pub min_refetch_ms: u64,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            ttl_ms: 600_000,
            min_refetch_ms: 60_000,
        }
    }
}

/// Whether to fetch before verifying a token that names `kid`.
pub fn should_fetch(
    entry: Option<&JwksEntry>,
    kid: Option<&str>,
    now_ms: u64,
    policy: &JwksPolicy,
) -> bool {
    let Some(e) = entry else { return true };
    let age = now_ms.saturating_sub(e.fetched_at_ms);
    if age >= policy.ttl_ms {
        return true;
    }
    match kid {
        Some(kid) if !e.keys.has_kid(kid) => age >= policy.min_refetch_ms,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_policy() {
        let p = JwksPolicy {
            ttl_ms: 600_000,
            min_refetch_ms: 60_000,
        };
        assert!(should_fetch(None, None, 0, &p));
        let e = JwksEntry {
            keys: Rc::new(KeySet::default()),
            fetched_at_ms: 1_000,
        };
        assert!(!should_fetch(Some(&e), None, 2_000, &p));
        assert!(
            !should_fetch(Some(&e), Some("new"), 60_999, &p),
            "unknown kid within a minute"
        );
        assert!(should_fetch(Some(&e), Some("new"), 61_000, &p));
        assert!(should_fetch(Some(&e), None, 601_000, &p), "ttl");
    }
}
