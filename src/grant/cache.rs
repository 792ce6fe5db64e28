//! How long an isolate keeps an opened connection, as decisions over an injected
//! clock (the platform does the loading): fresh for the TTL; after it, the first
//! request reloads while concurrent ones keep using the old copy (no stampede of
//! reloads); a reload that fails falls back to the old copy for a bounded while
//! (a D1 or KV blip must not fail every call), never beyond it.

use std::collections::HashMap;

/// Entries kept; cleared when full (a bound, not an LRU).
pub const MAX_ENTRIES: usize = 1024;
/// How long one reload may take before another request tries its own.
const RELOAD_GRACE_MS: f64 = 10_000.0;

/// What the cache says about a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<T> {
    /// Use this.
    Fresh(T),
    /// Expired, and another request is reloading it: use this meanwhile.
    Reloading(T),
    /// Load it (this request now holds the reload).
    Load,
}

#[derive(Debug)]
struct Entry<T> {
    fresh_until: f64,
    value: T,
    reload_since: Option<f64>,
}

/// Opened connections by (tenant, connection id).
#[derive(Debug)]
pub struct Cache<T> {
    ttl_ms: f64,
    stale_ms: f64,
    entries: HashMap<(String, String), Entry<T>>,
}

impl<T: Clone> Cache<T> {
    /// `ttl_ms` fresh (0: nothing is kept), then usable for `stale_ms` more while a
    /// reload is running or after one failed.
    pub fn new(ttl_ms: f64, stale_ms: f64) -> Self {
        Self {
            ttl_ms,
            stale_ms,
            entries: HashMap::new(),
        }
    }

    fn key(tenant: &str, id: &str) -> (String, String) {
        (tenant.to_string(), id.to_string())
    }

    /// The decision for a request at `now`.
    pub fn lookup(&mut self, tenant: &str, id: &str, now: f64) -> Lookup<T> {
        let stale_ms = self.stale_ms;
        let Some(e) = self.entries.get_mut(&Self::key(tenant, id)) else {
            return Lookup::Load;
        };
        if now < e.fresh_until {
            return Lookup::Fresh(e.value.clone());
        }
        let usable = now < e.fresh_until + stale_ms;
        match e.reload_since {
            Some(since) if usable && now - since < RELOAD_GRACE_MS => {
                Lookup::Reloading(e.value.clone())
            }
            _ => {
                e.reload_since = Some(now);
                Lookup::Load
            }
        }
    }

    /// What a request that must not wait may use now (the fast path): fresh, or
    /// the old copy while a reload runs.
    pub fn peek(&self, tenant: &str, id: &str, now: f64) -> Option<T> {
        let e = self.entries.get(&Self::key(tenant, id))?;
        let reloading = e.reload_since.is_some() && now < e.fresh_until + self.stale_ms;
        (now < e.fresh_until || reloading).then(|| e.value.clone())
    }

    /// Keeps a loaded value.
    pub fn store(&mut self, tenant: &str, id: &str, now: f64, value: T) {
        if self.ttl_ms <= 0.0 {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(
            Self::key(tenant, id),
            Entry {
                fresh_until: now + self.ttl_ms,
                value,
                reload_since: None,
            },
        );
    }

    /// A reload failed: the old copy if it is still within its stale window (the
    /// next request tries again).
    pub fn fallback(&mut self, tenant: &str, id: &str, now: f64) -> Option<T> {
        let e = self.entries.get_mut(&Self::key(tenant, id))?;
        e.reload_since = None;
        (now < e.fresh_until + self.stale_ms).then(|| e.value.clone())
    }

    /// Forgets a connection (a write to it in this isolate).
    pub fn forget(&mut self, tenant: &str, id: &str) {
        self.entries.remove(&Self::key(tenant, id));
    }

    /// Forgets everything (a connector changed).
    pub fn forget_all(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_then_one_reload_while_others_use_the_old_copy() {
        let mut c: Cache<u32> = Cache::new(5_000.0, 30_000.0);
        assert_eq!(c.lookup("t", "a", 0.0), Lookup::Load);
        c.store("t", "a", 0.0, 1);
        assert_eq!(c.lookup("t", "a", 4_999.0), Lookup::Fresh(1));
        assert_eq!(c.peek("t", "a", 4_999.0), Some(1));
        // Expired: the first request reloads, concurrent ones keep the old copy.
        assert_eq!(c.peek("t", "a", 5_000.0), None);
        assert_eq!(c.lookup("t", "a", 5_000.0), Lookup::Load);
        assert_eq!(c.lookup("t", "a", 5_001.0), Lookup::Reloading(1));
        assert_eq!(c.peek("t", "a", 5_001.0), Some(1));
        c.store("t", "a", 5_050.0, 2);
        assert_eq!(c.lookup("t", "a", 5_051.0), Lookup::Fresh(2));
        // Another tenant's connection of the same id is another entry.
        assert_eq!(c.lookup("u", "a", 5_051.0), Lookup::Load);
    }

    #[test]
    fn a_failed_reload_falls_back_only_within_the_stale_window() {
        let mut c: Cache<u32> = Cache::new(5_000.0, 30_000.0);
        c.store("t", "a", 0.0, 1);
        assert_eq!(c.lookup("t", "a", 6_000.0), Lookup::Load);
        assert_eq!(c.fallback("t", "a", 6_100.0), Some(1));
        // The next request tries again (the failed reload no longer holds it).
        assert_eq!(c.lookup("t", "a", 6_200.0), Lookup::Load);
        assert_eq!(c.fallback("t", "a", 35_001.0), None);
        // A reload that never finished stops holding others back after the grace.
        assert_eq!(c.lookup("t", "a", 36_000.0), Lookup::Load);
        assert_eq!(c.lookup("t", "a", 36_001.0), Lookup::Load);
    }

    #[test]
    fn writes_forget_and_zero_ttl_keeps_nothing() {
        let mut c: Cache<u32> = Cache::new(5_000.0, 30_000.0);
        c.store("t", "a", 0.0, 1);
        c.forget("t", "a");
        assert_eq!(c.lookup("t", "a", 1.0), Lookup::Load);
        c.store("t", "b", 0.0, 1);
        c.forget_all();
        assert_eq!(c.peek("t", "b", 1.0), None);
        let mut off: Cache<u32> = Cache::new(0.0, 30_000.0);
        off.store("t", "a", 0.0, 1);
        assert_eq!(off.lookup("t", "a", 0.0), Lookup::Load);
    }
}
