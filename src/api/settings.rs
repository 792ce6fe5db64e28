//! Control-plane settings read from vars once per isolate: where the API is served
//! and which tokens it trusts. Bad values are reported (and fail closed), not panics.

use crate::auth::jwks_cache::JwksPolicy;
use crate::auth::{KeySet, VerifyPolicy, MAX_LEEWAY_SECONDS};
use crate::chain::jwt::valid_jwks_url;
use crate::config::diag::Diagnostics;
use crate::host::normalize_host;
use std::rc::Rc;

/// Default id of the control-plane tenant.
pub const DEFAULT_CP_TENANT: &str = "control_plane";

/// Tenant ids reserved when `PORTICO_RESERVED_TENANT_IDS` is unset: names that look
/// like the platform's own and would mislead in URLs, logs and script names.
pub const DEFAULT_RESERVED_TENANT_IDS: [&str; 6] =
    ["api", "admin", "system", "portico", "www", "root"];

/// Everything the management API needs from configuration.
#[derive(Debug, Clone, Default)]
pub struct ApiSettings {
    /// Normalised hosts that serve `/api/v1`.
    pub hosts: Vec<String>,
    /// Tokens whose tenant claim equals this are control-plane tokens.
    pub cp_tenant_id: String,
    /// Inline keys (plus the HMAC dev key when enabled).
    pub keys: Rc<KeySet>,
    /// JWKS URL, when configured.
    pub jwks_url: Option<String>,
    /// Issuer/audience/leeway.
    pub policy: VerifyPolicy,
    /// JWKS refetch policy (shared with the `jwt` handler).
    pub jwks: JwksPolicy,
    /// Problems found in the settings (logged; auth fails closed).
    pub errors: Vec<String>,
    /// `PORTICO_DEV_MODE=true`: local development, where the API may run without
    /// an issuer and audience.
    pub dev_mode: bool,
    /// Tenant ids that cannot be created (always includes `cp_tenant_id`).
    pub reserved_tenant_ids: Vec<String>,
    /// Why the API refuses to serve at all (503), when it does.
    pub refusal: Option<String>,
}

impl ApiSettings {
    /// Reads settings through `var` (name → value).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut s = Self {
            cp_tenant_id: DEFAULT_CP_TENANT.to_string(),
            ..Self::default()
        };
        let get = |n: &str| {
            var(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(hosts) = get("CONTROL_PLANE_HOSTS") {
            for h in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                match normalize_host(h) {
                    Ok(h) => s.hosts.push(h),
                    Err(_) => s
                        .errors
                        .push(format!("CONTROL_PLANE_HOSTS: {h:?} is not a host")),
                }
            }
        }
        if let Some(t) = get("CONTROL_PLANE_TENANT_ID") {
            s.cp_tenant_id = t;
        }
        let mut keys = KeySet::default();
        if let Some(raw) = get("PORTICO_AUTH_KEYS") {
            let mut d = Diagnostics::new();
            match serde_json::from_str(&raw) {
                Ok(v) => {
                    if let Some(k) = KeySet::from_config(&v, "PORTICO_AUTH_KEYS", &mut d) {
                        keys = k;
                    }
                }
                Err(e) => d.error("PORTICO_AUTH_KEYS", format!("is not JSON: {e}")),
            }
            s.errors
                .extend(d.into_errors().0.iter().map(ToString::to_string));
        }
        if get("PORTICO_AUTH_ALLOW_HMAC_DEV").as_deref() == Some("true") {
            match get("PORTICO_AUTH_HMAC_SECRET") {
                Some(secret) if secret.len() >= 16 => keys.push_hmac(secret.as_bytes()),
                Some(_) => s
                    .errors
                    .push("PORTICO_AUTH_HMAC_SECRET must be at least 16 bytes".into()),
                None => s
                    .errors
                    .push("PORTICO_AUTH_ALLOW_HMAC_DEV=true needs PORTICO_AUTH_HMAC_SECRET".into()),
            }
        }
        s.keys = Rc::new(keys);
        if let Some(url) = get("PORTICO_AUTH_JWKS_URL") {
            if valid_jwks_url(&url) {
                s.jwks_url = Some(url);
            } else {
                s.errors.push(
                    "PORTICO_AUTH_JWKS_URL must be an https URL (http only for localhost)".into(),
                );
            }
        }
        s.policy.issuer = get("PORTICO_AUTH_ISSUER");
        s.policy.audiences = get("PORTICO_AUTH_AUDIENCE")
            .map(|a| {
                a.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        s.policy.leeway_seconds = 30;
        if let Some(l) = get("PORTICO_AUTH_LEEWAY_SECONDS") {
            match l.parse::<u32>() {
                Ok(n) if n <= MAX_LEEWAY_SECONDS => s.policy.leeway_seconds = n,
                _ => s.errors.push(format!(
                    "PORTICO_AUTH_LEEWAY_SECONDS must be 0..={MAX_LEEWAY_SECONDS}; using 30"
                )),
            }
        }
        let secs = |name: &str, default: u64, min: u64| -> u64 {
            match get(name).map(|v| v.parse::<u64>()) {
                None => default,
                Some(Ok(n)) if n >= min => n,
                Some(_) => default,
            }
        };
        let ttl_s = secs("PORTICO_AUTH_JWKS_TTL_SECONDS", 600, 1);
        s.jwks = JwksPolicy {
            ttl_ms: ttl_s.saturating_mul(1000),
            min_refetch_ms: secs("PORTICO_AUTH_JWKS_MIN_REFETCH_SECONDS", 60, 1)
                .saturating_mul(1000),
            // A stale set (kept while refetches fail) is trusted this much longer.
            max_stale_ms: secs(
                "PORTICO_AUTH_JWKS_MAX_STALE_SECONDS",
                ttl_s.saturating_mul(3),
                0,
            )
            .saturating_mul(1000),
            ..JwksPolicy::default()
        };
        s.dev_mode = get("PORTICO_DEV_MODE").as_deref() == Some("true");
        s.reserved_tenant_ids = match get("PORTICO_RESERVED_TENANT_IDS") {
            Some(list) => list
                .split(',')
                .map(|x| x.trim().to_ascii_lowercase())
                .filter(|x| !x.is_empty())
                .collect(),
            None => DEFAULT_RESERVED_TENANT_IDS
                .iter()
                .map(|x| x.to_string())
                .collect(),
        };
        if !s.reserved_tenant_ids.contains(&s.cp_tenant_id) {
            s.reserved_tenant_ids.push(s.cp_tenant_id.clone());
        }
        if !s.hosts.is_empty() && !s.dev_mode {
            let mut missing = Vec::new();
            if s.policy.issuer.is_none() {
                missing.push("PORTICO_AUTH_ISSUER");
            }
            if s.policy.audiences.is_empty() {
                missing.push("PORTICO_AUTH_AUDIENCE");
            }
            if !missing.is_empty() {
                let why = format!(
                    "{} unset: the management API answers 503 to every request (set both, or PORTICO_DEV_MODE=true for local development)",
                    missing.join(" and ")
                );
                s.errors.push(why.clone());
                s.refusal = Some(why);
            }
        }
        if !s.hosts.is_empty() && s.keys.keys.is_empty() && s.jwks_url.is_none() {
            s.errors.push("CONTROL_PLANE_HOSTS is set but no keys are configured (PORTICO_AUTH_KEYS or PORTICO_AUTH_JWKS_URL): every API call will be refused".into());
        }
        s
    }

    /// Whether `id` may not be used for a new tenant.
    pub fn is_reserved_tenant_id(&self, id: &str) -> bool {
        self.reserved_tenant_ids
            .iter()
            .any(|r| r.eq_ignore_ascii_case(id))
    }

    /// Whether `host` (normalised) serves the management API.
    pub fn is_api_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h == host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_checks_vars() {
        let vars = |n: &str| match n {
            "CONTROL_PLANE_HOSTS" => Some("API.example.com:443, cp.test".to_string()),
            "PORTICO_AUTH_JWKS_URL" => Some("http://evil.example/jwks".to_string()),
            "PORTICO_AUTH_LEEWAY_SECONDS" => Some("600".to_string()),
            "PORTICO_AUTH_HMAC_SECRET" => Some("0123456789abcdef0123".to_string()),
            _ => None,
        };
        let s = ApiSettings::from_vars(vars);
        assert_eq!(s.hosts, ["api.example.com", "cp.test"]);
        assert!(s.is_api_host("cp.test"));
        assert_eq!(s.jwks_url, None);
        assert_eq!(s.policy.leeway_seconds, 30);
        // The HMAC secret alone does nothing without the dev flag.
        assert!(s.keys.keys.is_empty());
        assert!(s.errors.len() >= 3, "{:?}", s.errors);
        let dev = ApiSettings::from_vars(|n| match n {
            "PORTICO_AUTH_ALLOW_HMAC_DEV" => Some("true".into()),
            "PORTICO_AUTH_HMAC_SECRET" => Some("0123456789abcdef0123".into()),
            _ => None,
        });
        assert_eq!(dev.keys.keys.len(), 1);
    }

    fn with(pairs: &'static [(&'static str, &'static str)]) -> ApiSettings {
        ApiSettings::from_vars(|n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn api_refuses_to_serve_without_issuer_and_audience_unless_dev_mode() {
        let none = with(&[("CONTROL_PLANE_HOSTS", "cp.test")]);
        let why = none.refusal.as_deref().unwrap_or_default();
        assert!(why.contains("PORTICO_AUTH_ISSUER") && why.contains("PORTICO_AUTH_AUDIENCE"));
        let no_aud = with(&[
            ("CONTROL_PLANE_HOSTS", "cp.test"),
            ("PORTICO_AUTH_ISSUER", "iss"),
        ]);
        assert!(no_aud
            .refusal
            .as_deref()
            .is_some_and(|w| w.contains("PORTICO_AUTH_AUDIENCE") && !w.contains("ISSUER")));
        let blank = with(&[
            ("CONTROL_PLANE_HOSTS", "cp.test"),
            ("PORTICO_AUTH_ISSUER", "iss"),
            ("PORTICO_AUTH_AUDIENCE", " , "),
        ]);
        assert!(
            blank.refusal.is_some(),
            "an audience list of blanks is unset"
        );
        let flag_off = with(&[
            ("CONTROL_PLANE_HOSTS", "cp.test"),
            ("PORTICO_DEV_MODE", "yes"),
        ]);
        assert!(
            flag_off.refusal.is_some(),
            "only \"true\" turns dev mode on"
        );
        let dev = with(&[
            ("CONTROL_PLANE_HOSTS", "cp.test"),
            ("PORTICO_DEV_MODE", "true"),
        ]);
        assert_eq!(dev.refusal, None);
        let prod = with(&[
            ("CONTROL_PLANE_HOSTS", "cp.test"),
            ("PORTICO_AUTH_ISSUER", "iss"),
            ("PORTICO_AUTH_AUDIENCE", "aud"),
        ]);
        assert_eq!(prod.refusal, None);
        assert_eq!(with(&[]).refusal, None, "no API hosts: nothing to refuse");
    }

    #[test]
    fn reserved_tenant_ids() {
        let d = with(&[]);
        for id in [
            "api",
            "admin",
            "system",
            "portico",
            "www",
            "root",
            "control_plane",
            "API",
        ] {
            assert!(d.is_reserved_tenant_id(id), "{id}");
        }
        assert!(!d.is_reserved_tenant_id("acme"));
        let own = with(&[
            ("PORTICO_RESERVED_TENANT_IDS", " Billing, ,ops "),
            ("CONTROL_PLANE_TENANT_ID", "cp"),
        ]);
        assert_eq!(own.reserved_tenant_ids, ["billing", "ops", "cp"]);
        assert!(
            !own.is_reserved_tenant_id("api"),
            "the list replaces the defaults"
        );
    }

    #[test]
    fn jwks_policy_vars() {
        let d = with(&[]);
        assert_eq!(d.jwks.ttl_ms, 600_000);
        assert_eq!(d.jwks.max_stale_ms, 1_800_000, "3 x TTL by default");
        let s = with(&[
            ("PORTICO_AUTH_JWKS_TTL_SECONDS", "10"),
            ("PORTICO_AUTH_JWKS_MIN_REFETCH_SECONDS", "2"),
            ("PORTICO_AUTH_JWKS_MAX_STALE_SECONDS", "0"),
        ]);
        assert_eq!(
            (s.jwks.ttl_ms, s.jwks.min_refetch_ms, s.jwks.max_stale_ms),
            (10_000, 2_000, 0)
        );
        let huge = with(&[("PORTICO_AUTH_JWKS_TTL_SECONDS", "18446744073709551615")]);
        assert_eq!(
            huge.jwks.ttl_ms,
            u64::MAX,
            "saturates instead of overflowing"
        );
    }
}
