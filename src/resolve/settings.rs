//! Cache and resolution settings read from wrangler vars.

/// Freshness windows of the host cache (both tiers), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTtls {
    /// Served without a source read.
    pub fresh_ms: u64,
    /// After fresh: served while one background refresh runs.
    pub swr_ms: u64,
    /// After that: served only when the source fails.
    pub stale_if_error_ms: u64,
    /// How long "unknown host" is remembered (no stale window).
    pub negative_ms: u64,
    /// How often a fresh memory entry is checked, in the background, against the
    /// colo's Cache API (which management writes purge), so writes made through
    /// another isolate show up here within this window rather than the fresh TTL.
    /// 0 turns the check off; it only runs when shorter than `fresh_ms`.
    pub colo_check_ms: u64,
    /// Most hosts kept in isolate memory.
    pub max_entries: usize,
    /// Longest wait for the source.
    pub resolve_timeout_ms: u64,
}

impl Default for CacheTtls {
    fn default() -> Self {
        Self {
            fresh_ms: 30_000,
            swr_ms: 60_000,
            stale_if_error_ms: 300_000,
            negative_ms: 10_000,
            colo_check_ms: 2_000,
            max_entries: 1_000,
            resolve_timeout_ms: 5_000,
        }
    }
}

impl CacheTtls {
    /// Builds from `(var name, value)` lookups; invalid numbers keep the default
    /// and are returned as warnings (never a panic, never a refusal to serve).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        let mut out = Self::default();
        let mut warnings = Vec::new();
        let mut read = |name: &str, default: u64, scale: u64| -> u64 {
            match get(name) {
                None => default,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) => n.saturating_mul(scale),
                    Err(_) => {
                        warnings.push(format!(
                            "{name}={v:?} is not a whole number; using the default"
                        ));
                        default
                    }
                },
            }
        };
        out.fresh_ms = read("PORTICO_HOST_CACHE_FRESH_SECONDS", out.fresh_ms, 1000);
        out.swr_ms = read("PORTICO_HOST_CACHE_SWR_SECONDS", out.swr_ms, 1000);
        out.stale_if_error_ms = read(
            "PORTICO_HOST_CACHE_STALE_IF_ERROR_SECONDS",
            out.stale_if_error_ms,
            1000,
        );
        out.negative_ms = read("PORTICO_HOST_CACHE_NEGATIVE_SECONDS", out.negative_ms, 1000);
        out.colo_check_ms = read(
            "PORTICO_HOST_CACHE_COLO_CHECK_SECONDS",
            out.colo_check_ms,
            1000,
        );
        out.resolve_timeout_ms =
            read("PORTICO_RESOLVE_TIMEOUT_MS", out.resolve_timeout_ms, 1).max(1);
        out.max_entries = usize::try_from(read(
            "PORTICO_HOST_CACHE_MAX_ENTRIES",
            out.max_entries as u64,
            1,
        ))
        .unwrap_or(1_000)
        .max(1);
        (out, warnings)
    }

    /// Total time an entry is worth keeping (for the Cache API `max-age`).
    pub fn retain_ms(&self, negative: bool) -> u64 {
        if negative {
            self.negative_ms
        } else {
            self.fresh_ms
                .saturating_add(self.swr_ms)
                .saturating_add(self.stale_if_error_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vars_and_keeps_defaults_on_garbage() {
        let (t, warnings) = CacheTtls::from_vars(|name| match name {
            "PORTICO_HOST_CACHE_FRESH_SECONDS" => Some("5".into()),
            "PORTICO_HOST_CACHE_SWR_SECONDS" => Some("ten".into()),
            "PORTICO_HOST_CACHE_MAX_ENTRIES" => Some("0".into()),
            _ => None,
        });
        assert_eq!(t.fresh_ms, 5_000);
        assert_eq!(t.swr_ms, 60_000);
        assert_eq!(t.max_entries, 1);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("PORTICO_HOST_CACHE_SWR_SECONDS"));
    }
}
