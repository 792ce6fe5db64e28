//! Freshness of cached host entries and the bounded isolate-memory LRU.
//! Time comes in as a parameter, so every transition is tested with a fake clock.

use super::settings::CacheTtls;
use std::collections::HashMap;

/// Where an entry stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve; no source read.
    Fresh,
    /// Serve, and refresh once in the background.
    Revalidate,
    /// Read the source; serve this only if the source fails.
    StaleIfError,
    /// Useless.
    Expired,
}

/// Classifies an entry of `age_ms`. Negative entries have no stale window.
pub fn classify(age_ms: u64, negative: bool, ttls: &CacheTtls) -> Freshness {
    if negative {
        return if age_ms < ttls.negative_ms {
            Freshness::Fresh
        } else {
            Freshness::Expired
        };
    }
    if age_ms < ttls.fresh_ms {
        Freshness::Fresh
    } else if age_ms < ttls.fresh_ms.saturating_add(ttls.swr_ms) {
        Freshness::Revalidate
    } else if age_ms
        < ttls
            .fresh_ms
            .saturating_add(ttls.swr_ms)
            .saturating_add(ttls.stale_if_error_ms)
    {
        Freshness::StaleIfError
    } else {
        Freshness::Expired
    }
}

#[derive(Debug)]
struct Slot<V> {
    /// `None` = the host is known not to exist.
    value: Option<V>,
    stored_at_ms: u64,
    last_used: u64,
    refreshing: bool,
    /// When this isolate last confirmed the entry against the colo tier.
    checked_at_ms: u64,
    checking: bool,
}

/// What memory had for a host.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryHit<V> {
    /// The cached value (`None` = negative entry).
    pub value: Option<V>,
    /// Its freshness now.
    pub freshness: Freshness,
    /// True when this caller should start the single background refresh.
    pub start_refresh: bool,
    /// True when this caller should start the single background colo check.
    pub start_check: bool,
    /// When the value was produced by the source.
    pub stored_at_ms: u64,
}

/// A bounded LRU of host entries for one isolate.
#[derive(Debug)]
pub struct MemoryCache<V> {
    slots: HashMap<String, Slot<V>>,
    max: usize,
    tick: u64,
}

impl<V: Clone> MemoryCache<V> {
    /// An empty cache holding at most `max` hosts.
    pub fn new(max: usize) -> Self {
        Self {
            slots: HashMap::new(),
            max: max.max(1),
            tick: 0,
        }
    }

    /// Looks a host up. Expired entries are dropped and reported as a miss.
    pub fn get(&mut self, host: &str, now_ms: u64, ttls: &CacheTtls) -> Option<MemoryHit<V>> {
        self.tick = self.tick.saturating_add(1);
        let tick = self.tick;
        let slot = self.slots.get_mut(host)?;
        let freshness = classify(
            now_ms.saturating_sub(slot.stored_at_ms),
            slot.value.is_none(),
            ttls,
        );
        if freshness == Freshness::Expired {
            self.slots.remove(host);
            return None;
        }
        slot.last_used = tick;
        let start_refresh = freshness == Freshness::Revalidate && !slot.refreshing;
        if start_refresh {
            slot.refreshing = true;
        }
        let start_check = freshness == Freshness::Fresh
            && ttls.colo_check_ms > 0
            && ttls.colo_check_ms < ttls.fresh_ms
            && !slot.checking
            && now_ms.saturating_sub(slot.checked_at_ms) >= ttls.colo_check_ms;
        if start_check {
            slot.checking = true;
        }
        Some(MemoryHit {
            value: slot.value.clone(),
            freshness,
            start_refresh,
            start_check,
            stored_at_ms: slot.stored_at_ms,
        })
    }

    /// The colo tier still holds what memory has: fresh for another check window.
    pub fn confirm(&mut self, host: &str, now_ms: u64) {
        if let Some(slot) = self.slots.get_mut(host) {
            slot.checked_at_ms = now_ms;
            slot.checking = false;
        }
    }

    /// A colo check could not finish; try again after the next window.
    pub fn check_failed(&mut self, host: &str, now_ms: u64) {
        self.confirm(host, now_ms);
    }

    /// Stores a value (or a negative entry) observed at `stored_at_ms`.
    pub fn put(&mut self, host: &str, value: Option<V>, stored_at_ms: u64) {
        self.put_checked(host, value, stored_at_ms, stored_at_ms);
    }

    /// Stores a value produced at `stored_at_ms` and confirmed current at `now_ms`
    /// (e.g. just read from the colo tier).
    pub fn put_checked(&mut self, host: &str, value: Option<V>, stored_at_ms: u64, now_ms: u64) {
        self.tick = self.tick.saturating_add(1);
        if !self.slots.contains_key(host) && self.slots.len() >= self.max {
            self.evict_one();
        }
        self.slots.insert(
            host.to_string(),
            Slot {
                value,
                stored_at_ms,
                last_used: self.tick,
                refreshing: false,
                checked_at_ms: now_ms,
                checking: false,
            },
        );
    }

    /// Clears the refreshing flag after a failed background refresh, so a later
    /// request may try again.
    pub fn refresh_failed(&mut self, host: &str) {
        if let Some(slot) = self.slots.get_mut(host) {
            slot.refreshing = false;
        }
    }

    /// Forgets a host (after a write through the management API).
    pub fn remove(&mut self, host: &str) {
        self.slots.remove(host);
    }

    /// Forgets every host for which `pred(host, value)` holds (`value` None = a
    /// negative entry); used to purge a tenant's hosts after a write.
    pub fn remove_where(&mut self, pred: impl Fn(&str, Option<&V>) -> bool) {
        self.slots.retain(|h, s| !pred(h, s.value.as_ref()));
    }

    /// Hosts for which `pred(host, value)` holds.
    pub fn hosts_where(&self, pred: impl Fn(&str, Option<&V>) -> bool) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(h, s)| pred(h, s.value.as_ref()))
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// Number of hosts held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn evict_one(&mut self) {
        // O(n) on insert only, and only when full: inserts happen on misses, which
        // already cost a source read, so the scan is noise next to it.
        if let Some(victim) = self
            .slots
            .iter()
            .min_by_key(|(_, s)| s.last_used)
            .map(|(k, _)| k.clone())
        {
            self.slots.remove(&victim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttls() -> CacheTtls {
        CacheTtls {
            fresh_ms: 1_000,
            swr_ms: 2_000,
            stale_if_error_ms: 4_000,
            negative_ms: 500,
            colo_check_ms: 0,
            max_entries: 3,
            resolve_timeout_ms: 100,
        }
    }

    #[test]
    fn timeline_fresh_swr_stale_if_error_expired() {
        let t = ttls();
        assert_eq!(classify(0, false, &t), Freshness::Fresh);
        assert_eq!(classify(999, false, &t), Freshness::Fresh);
        assert_eq!(classify(1_000, false, &t), Freshness::Revalidate);
        assert_eq!(classify(2_999, false, &t), Freshness::Revalidate);
        assert_eq!(classify(3_000, false, &t), Freshness::StaleIfError);
        assert_eq!(classify(6_999, false, &t), Freshness::StaleIfError);
        assert_eq!(classify(7_000, false, &t), Freshness::Expired);
    }

    #[test]
    fn negative_entries_have_no_stale_window() {
        let t = ttls();
        assert_eq!(classify(499, true, &t), Freshness::Fresh);
        assert_eq!(classify(500, true, &t), Freshness::Expired);
        let mut c: MemoryCache<u32> = MemoryCache::new(3);
        c.put("gone.com", None, 0);
        let hit = c.get("gone.com", 100, &t).expect("negative hit");
        assert_eq!((hit.value, hit.freshness), (None, Freshness::Fresh));
        assert!(c.get("gone.com", 600, &t).is_none());
    }

    #[test]
    fn only_one_background_refresh_per_stale_entry() {
        let t = ttls();
        let mut c = MemoryCache::new(3);
        c.put("a.com", Some(1), 0);
        let h = c.get("a.com", 10, &t).expect("hit");
        assert_eq!((h.freshness, h.start_refresh), (Freshness::Fresh, false));
        let h = c.get("a.com", 1_500, &t).expect("hit");
        assert_eq!(
            (h.freshness, h.start_refresh),
            (Freshness::Revalidate, true)
        );
        let h = c.get("a.com", 1_600, &t).expect("hit");
        assert_eq!(
            (h.freshness, h.start_refresh),
            (Freshness::Revalidate, false),
            "already refreshing"
        );
        c.refresh_failed("a.com");
        assert!(
            c.get("a.com", 1_700, &t).expect("hit").start_refresh,
            "may retry after a failure"
        );
        c.put("a.com", Some(2), 1_800);
        let h = c.get("a.com", 1_900, &t).expect("hit");
        assert_eq!((h.value, h.freshness), (Some(2), Freshness::Fresh));
        assert_eq!(
            c.get("a.com", 5_000, &t).expect("hit").freshness,
            Freshness::StaleIfError
        );
        assert!(
            c.get("a.com", 9_000, &t).is_none(),
            "expired entries are dropped"
        );
        assert!(c.is_empty());
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let t = ttls();
        let mut c = MemoryCache::new(3);
        c.put("a", Some(1), 0);
        c.put("b", Some(2), 0);
        c.put("c", Some(3), 0);
        assert!(c.get("a", 1, &t).is_some());
        c.put("d", Some(4), 1);
        assert_eq!(c.len(), 3);
        assert!(c.get("b", 2, &t).is_none(), "b was least recently used");
        assert!(c.get("a", 2, &t).is_some());
        assert!(c.get("d", 2, &t).is_some());
        c.remove("a");
        assert!(c.get("a", 3, &t).is_none());
    }

    #[test]
    fn remove_where_purges_matching_and_negative_entries() {
        let mut c: MemoryCache<&'static str> = MemoryCache::new(10);
        c.put("a.test", Some("acme"), 0);
        c.put("b.test", Some("globex"), 0);
        c.put("c.test", None, 0);
        assert_eq!(c.hosts_where(|_, v| v == Some(&"acme")), ["a.test"]);
        c.remove_where(|_, v| v.is_none_or(|t| *t == "acme"));
        assert_eq!(c.len(), 1);
        let ttls = CacheTtls::default();
        assert!(c.get("b.test", 0, &ttls).is_some());
    }

    #[test]
    fn one_colo_check_per_window_while_fresh() {
        let t = CacheTtls {
            fresh_ms: 10_000,
            colo_check_ms: 1_000,
            ..ttls()
        };
        let mut c = MemoryCache::new(3);
        c.put("a.com", Some(1), 0);
        assert!(!c.get("a.com", 999, &t).expect("hit").start_check);
        let h = c.get("a.com", 1_000, &t).expect("hit");
        assert!(h.start_check && h.freshness == Freshness::Fresh);
        assert!(
            !c.get("a.com", 1_100, &t).expect("hit").start_check,
            "already checking"
        );
        c.confirm("a.com", 1_200);
        assert!(!c.get("a.com", 2_100, &t).expect("hit").start_check);
        assert!(c.get("a.com", 2_200, &t).expect("hit").start_check);
        // Stale entries take the refresh path instead; a check window ≥ fresh is off.
        assert!(!c.get("a.com", 10_500, &t).expect("hit").start_check);
        let off = CacheTtls {
            colo_check_ms: 10_000,
            ..t
        };
        c.put("b.com", Some(2), 0);
        assert!(!c.get("b.com", 9_000, &off).expect("hit").start_check);
    }
}
