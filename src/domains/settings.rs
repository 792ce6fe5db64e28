//! Operator settings for domain ownership, read from vars once per isolate.

use super::doh::{valid_doh_url, DEFAULT_DOH_URL};

/// Default `PORTICO_MAX_DOMAINS_PER_TENANT`.
pub const DEFAULT_MAX_DOMAINS_PER_TENANT: u32 = 100;
/// Default `PORTICO_DOH_TIMEOUT_MS`.
pub const DEFAULT_DOH_TIMEOUT_MS: u64 = 5_000;
/// Default `PORTICO_DOMAIN_RECHECK_BATCH`: pending domains one scheduled run checks
/// (one DoH subrequest each; the free plan allows 50 per invocation).
pub const DEFAULT_RECHECK_BATCH: u32 = 20;
/// Default `PORTICO_PENDING_DOMAIN_DAYS`: an unproven claim blocks the name for
/// everyone else only this long (a squatter cannot hold another's name forever).
pub const DEFAULT_PENDING_DAYS: u32 = 7;

/// Domain ownership settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSettings {
    /// DNS-over-HTTPS JSON endpoint.
    pub doh_url: String,
    /// Deadline of one DoH lookup.
    pub doh_timeout_ms: u64,
    /// Domains a tenant token may hold per tenant (pending ones count).
    pub max_domains_per_tenant: u32,
    /// Pending domains one scheduled run re-checks.
    pub recheck_batch: u32,
    /// Days a domain may stay pending before the scheduled job removes it (0 = never).
    pub pending_days: u32,
}

impl DomainSettings {
    /// Reads the vars; a bad value keeps the safe default and is reported.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let get = |n: &str| {
            var(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut s = Self {
            doh_url: DEFAULT_DOH_URL.to_string(),
            doh_timeout_ms: DEFAULT_DOH_TIMEOUT_MS,
            max_domains_per_tenant: DEFAULT_MAX_DOMAINS_PER_TENANT,
            recheck_batch: DEFAULT_RECHECK_BATCH,
            pending_days: DEFAULT_PENDING_DAYS,
        };
        if let Some(url) = get("PORTICO_DOH_URL") {
            if valid_doh_url(&url) {
                s.doh_url = url;
            } else {
                warnings.push(format!(
                    "PORTICO_DOH_URL must be an https URL (http only for loopback); using {DEFAULT_DOH_URL}"
                ));
            }
        }
        let mut num = |name: &str, min: u64, max: u64, slot: &mut u64| {
            if let Some(v) = get(name) {
                match v.parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => *slot = n,
                    _ => warnings.push(format!("{name} must be {min}..={max}; using {slot}")),
                }
            }
        };
        let mut timeout = s.doh_timeout_ms;
        num("PORTICO_DOH_TIMEOUT_MS", 100, 30_000, &mut timeout);
        let mut max = u64::from(s.max_domains_per_tenant);
        num("PORTICO_MAX_DOMAINS_PER_TENANT", 0, 100_000, &mut max);
        let mut batch = u64::from(s.recheck_batch);
        num("PORTICO_DOMAIN_RECHECK_BATCH", 1, 500, &mut batch);
        let mut days = u64::from(s.pending_days);
        num("PORTICO_PENDING_DOMAIN_DAYS", 0, 3650, &mut days);
        s.pending_days = u32::try_from(days).unwrap_or(DEFAULT_PENDING_DAYS);
        s.doh_timeout_ms = timeout;
        s.max_domains_per_tenant = u32::try_from(max).unwrap_or(DEFAULT_MAX_DOMAINS_PER_TENANT);
        s.recheck_batch = u32::try_from(batch).unwrap_or(DEFAULT_RECHECK_BATCH);
        (s, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let (d, w) = DomainSettings::from_vars(|_| None);
        assert_eq!(d.doh_url, DEFAULT_DOH_URL);
        assert_eq!(d.max_domains_per_tenant, 100);
        assert_eq!(d.pending_days, DEFAULT_PENDING_DAYS);
        assert!(w.is_empty());
        let (s, w) = DomainSettings::from_vars(|n| match n {
            "PORTICO_DOH_URL" => Some("http://127.0.0.1:8053/dns-query".into()),
            "PORTICO_MAX_DOMAINS_PER_TENANT" => Some("3".into()),
            "PORTICO_DOH_TIMEOUT_MS" => Some("nope".into()),
            "PORTICO_DOMAIN_RECHECK_BATCH" => Some("0".into()),
            "PORTICO_PENDING_DOMAIN_DAYS" => Some("0".into()),
            _ => None,
        });
        assert_eq!(s.pending_days, 0, "0 turns expiry off");
        assert_eq!(s.doh_url, "http://127.0.0.1:8053/dns-query");
        assert_eq!(s.max_domains_per_tenant, 3);
        assert_eq!(s.doh_timeout_ms, DEFAULT_DOH_TIMEOUT_MS);
        assert_eq!(s.recheck_batch, DEFAULT_RECHECK_BATCH);
        assert_eq!(w.len(), 2, "{w:?}");
        let (s, w) = DomainSettings::from_vars(|n| {
            (n == "PORTICO_DOH_URL").then(|| "http://evil.example/q".into())
        });
        assert_eq!((s.doh_url.as_str(), w.len()), (DEFAULT_DOH_URL, 1));
    }
}
