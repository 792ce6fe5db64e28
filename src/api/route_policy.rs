//! What a route written through the API may ask of the platform (DESIGN §4 "What
//! a tenant may configure"). Budgets apply to every caller; the binding and target
//! rules to tenant tokens only (a control-plane token is trusted with everything).

use crate::chain::HandlerKind;
use crate::config::diag::{field, index, Diagnostics};
use crate::host::normalize_host;
use crate::routing::limits::RouteLimits;
use crate::upstream::target::check_tenant_target;
use crate::url::BaseUrl;
use serde_json::{Map, Value};

/// Budgets and tenant rules for routes written through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePolicy {
    /// Regex budgets (also applied when the data plane compiles).
    pub limits: RouteLimits,
    /// `PORTICO_MAX_ROUTE_BYTES`: the stored JSON of one route.
    pub max_route_bytes: usize,
    /// `PORTICO_MAX_ROUTES_PER_TENANT`.
    pub max_routes_per_tenant: u64,
    /// Rules for tenant tokens.
    pub tenant: TenantRules,
}

/// What tenant-token routes may name and reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantRules {
    /// `PORTICO_TENANT_BINDINGS`: service bindings and dispatch namespaces tenants
    /// may name.
    pub bindings: Vec<String>,
    /// `PORTICO_TENANT_MAX_CPU_MS`: cap (and default) of `dispatch_namespace.cpu_ms`.
    pub max_cpu_ms: i64,
    /// `PORTICO_TENANT_MAX_SUBREQUESTS`: cap (and default) of `subrequests`.
    pub max_subrequests: i64,
    /// `PORTICO_TENANT_TARGET_EXCEPTIONS`: exact hosts tenants may reach although
    /// they are not public (e.g. `127.0.0.1` in local development).
    pub target_exceptions: Vec<String>,
    /// The control-plane hosts, which tenant upstreams may never name.
    pub control_plane_hosts: Vec<String>,
}

/// Default `PORTICO_MAX_ROUTE_BYTES`.
pub const DEFAULT_MAX_ROUTE_BYTES: usize = 32 * 1024;
/// Default `PORTICO_MAX_ROUTES_PER_TENANT`.
pub const DEFAULT_MAX_ROUTES_PER_TENANT: u64 = 1000;
/// Default `PORTICO_TENANT_MAX_CPU_MS`.
pub const DEFAULT_TENANT_MAX_CPU_MS: i64 = 50;
/// Default `PORTICO_TENANT_MAX_SUBREQUESTS`.
pub const DEFAULT_TENANT_MAX_SUBREQUESTS: i64 = 50;

impl Default for RoutePolicy {
    fn default() -> Self {
        Self {
            limits: RouteLimits::default(),
            max_route_bytes: DEFAULT_MAX_ROUTE_BYTES,
            max_routes_per_tenant: DEFAULT_MAX_ROUTES_PER_TENANT,
            tenant: TenantRules {
                max_cpu_ms: DEFAULT_TENANT_MAX_CPU_MS,
                max_subrequests: DEFAULT_TENANT_MAX_SUBREQUESTS,
                ..TenantRules::default()
            },
        }
    }
}

fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl RoutePolicy {
    /// Reads the vars; a malformed number keeps its default and is reported.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        control_plane_hosts: &[String],
    ) -> (Self, Vec<String>) {
        let mut p = Self::default();
        let mut errors = Vec::new();
        let mut num = |name: &str, min: u64, max: u64, slot: &mut u64| {
            if let Some(raw) = var(name).filter(|v| !v.trim().is_empty()) {
                match raw.trim().parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => *slot = n,
                    _ => errors.push(format!(
                        "{name}={raw:?} must be an integer in {min}..={max}; using {slot}"
                    )),
                }
            }
        };
        let mut v = p.limits.regex_size as u64;
        num("PORTICO_MAX_REGEX_SIZE", 256, 1 << 20, &mut v);
        p.limits.regex_size = usize::try_from(v).unwrap_or(p.limits.regex_size);
        let mut v = p.limits.regexes_per_route as u64;
        num("PORTICO_MAX_REGEXES_PER_ROUTE", 0, 1024, &mut v);
        p.limits.regexes_per_route = usize::try_from(v).unwrap_or(p.limits.regexes_per_route);
        let mut v = p.max_route_bytes as u64;
        num("PORTICO_MAX_ROUTE_BYTES", 1024, 1 << 20, &mut v);
        p.max_route_bytes = usize::try_from(v).unwrap_or(p.max_route_bytes);
        num(
            "PORTICO_MAX_ROUTES_PER_TENANT",
            1,
            1_000_000,
            &mut p.max_routes_per_tenant,
        );
        let mut v = p.tenant.max_cpu_ms.unsigned_abs();
        num("PORTICO_TENANT_MAX_CPU_MS", 1, 300_000, &mut v);
        p.tenant.max_cpu_ms = i64::try_from(v).unwrap_or(p.tenant.max_cpu_ms);
        let mut v = p.tenant.max_subrequests.unsigned_abs();
        num("PORTICO_TENANT_MAX_SUBREQUESTS", 1, 100_000, &mut v);
        p.tenant.max_subrequests = i64::try_from(v).unwrap_or(p.tenant.max_subrequests);
        p.tenant.bindings = var("PORTICO_TENANT_BINDINGS")
            .map(|r| list(&r))
            .unwrap_or_default();
        for raw in var("PORTICO_TENANT_TARGET_EXCEPTIONS")
            .map(|r| list(&r))
            .unwrap_or_default()
        {
            match normalize_host(&raw) {
                Ok(h) => p.tenant.target_exceptions.push(h),
                Err(_) => errors.push(format!(
                    "PORTICO_TENANT_TARGET_EXCEPTIONS: {raw:?} is not a host"
                )),
            }
        }
        p.tenant.control_plane_hosts = control_plane_hosts.to_vec();
        (p, errors)
    }
}

impl TenantRules {
    /// Checks (and completes) a tenant-written `handlers` list: binding names,
    /// dispatch script names and limits, upstream and JWKS targets. Limits the
    /// tenant left out are filled in with the caps, so none is ever unbounded.
    pub fn apply(&self, handlers: &mut Value, path: &str, diags: &mut Diagnostics) {
        let Value::Array(list) = handlers else { return };
        for (i, h) in list.iter_mut().enumerate() {
            let hpath = index(path, i);
            // Unknown types are the compiler's to report.
            let Some(kind) = h
                .get("type")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<HandlerKind>().ok())
            else {
                continue;
            };
            let opath = field(&hpath, "options");
            // Missing options are the compiler's to report.
            let Some(Value::Object(opts)) = h.get_mut("options") else {
                continue;
            };
            match kind {
                HandlerKind::ServiceBinding => self.check_binding(opts, &opath, diags),
                HandlerKind::DispatchNamespace => {
                    self.check_binding(opts, &opath, diags);
                    self.check_dispatch(opts, &opath, diags);
                }
                HandlerKind::Http => self.check_url(opts, "upstream_url", &opath, diags),
                HandlerKind::Jwt => self.check_url(opts, "jwks_url", &opath, diags),
                HandlerKind::Cors
                | HandlerKind::BasicAuth
                | HandlerKind::Headers
                | HandlerKind::Cache
                | HandlerKind::ForwardedHeaders
                | HandlerKind::RewriteCookies
                | HandlerKind::RewriteLocation
                | HandlerKind::Credentials
                | HandlerKind::RateLimit
                | HandlerKind::Redirect
                | HandlerKind::Static => {}
            }
        }
    }

    fn check_binding(&self, opts: &Map<String, Value>, opath: &str, diags: &mut Diagnostics) {
        let Some(name) = opts.get("binding").and_then(Value::as_str) else {
            return;
        };
        if !self.bindings.iter().any(|b| b == name) {
            diags.error(
                field(opath, "binding"),
                format!("binding '{name}' is not available to tenants (PORTICO_TENANT_BINDINGS)"),
            );
        }
    }

    fn check_dispatch(&self, opts: &mut Map<String, Value>, opath: &str, diags: &mut Diagnostics) {
        if let Some(script) = opts.get("script_name").and_then(Value::as_str) {
            if !script.contains("{tenant_id}") {
                diags.error(
                    field(opath, "script_name"),
                    "must contain {tenant_id}: a tenant may only run its own scripts",
                );
            }
        }
        for (name, cap, var) in [
            ("cpu_ms", self.max_cpu_ms, "PORTICO_TENANT_MAX_CPU_MS"),
            (
                "subrequests",
                self.max_subrequests,
                "PORTICO_TENANT_MAX_SUBREQUESTS",
            ),
        ] {
            match opts.get(name) {
                None | Some(Value::Null) => {
                    opts.insert(name.to_string(), Value::from(cap));
                }
                Some(v) => {
                    if v.as_i64().is_some_and(|n| n > cap) {
                        diags.error(field(opath, name), format!("must be at most {cap} ({var})"));
                    }
                }
            }
        }
    }

    fn check_url(
        &self,
        opts: &Map<String, Value>,
        key: &str,
        opath: &str,
        diags: &mut Diagnostics,
    ) {
        let Some(raw) = opts.get(key).and_then(Value::as_str) else {
            return;
        };
        // Malformed URLs are the compiler's to report.
        let Ok(base) = BaseUrl::parse(raw) else {
            return;
        };
        if let Err(e) = check_tenant_target(
            &base.host,
            &self.target_exceptions,
            &self.control_plane_hosts,
        ) {
            diags.error(field(opath, key), e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> TenantRules {
        TenantRules {
            bindings: vec!["DISPATCHER".into(), "EXAMPLE_SERVICE".into()],
            max_cpu_ms: 50,
            max_subrequests: 10,
            target_exceptions: vec!["127.0.0.1".into()],
            control_plane_hosts: vec!["api.example.com".into()],
        }
    }

    fn errors(mut handlers: Value) -> (Vec<String>, Value) {
        let mut d = Diagnostics::new();
        rules().apply(&mut handlers, "handlers", &mut d);
        (
            d.into_errors()
                .0
                .into_iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect(),
            handlers,
        )
    }

    #[test]
    fn tenant_routes_name_only_allowed_bindings_and_own_scripts() {
        let (e, _) = errors(json!([
            {"type": "service_binding", "options": {"binding": "PORTICO"}},
        ]));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("handlers[0].options.binding: binding 'PORTICO' is not available"));
        let (e, _) = errors(json!([
            {"type": "dispatch_namespace", "options": {"binding": "DISPATCHER", "script_name": "tenant-globex", "cpu_ms": 500}},
        ]));
        assert_eq!(
            e,
            vec![
                "handlers[0].options.script_name: must contain {tenant_id}: a tenant may only run its own scripts",
                "handlers[0].options.cpu_ms: must be at most 50 (PORTICO_TENANT_MAX_CPU_MS)",
            ]
        );
        let (e, h) = errors(json!([
            {"type": "dispatch_namespace", "options": {"binding": "DISPATCHER", "script_name": "tenant-{tenant_id}"}},
        ]));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            h[0]["options"]["cpu_ms"],
            json!(50),
            "caps fill in what was left out"
        );
        assert_eq!(h[0]["options"]["subrequests"], json!(10));
    }

    #[test]
    fn tenant_upstreams_and_jwks_must_be_public() {
        let (e, _) = errors(json!([
            {"type": "jwt", "options": {"jwks_url": "http://169.254.169.254/keys"}},
            {"type": "http", "options": {"upstream_url": "http://2130706433:8080/"}},
            {"type": "http", "options": {"upstream_url": "https://api.example.com/"}},
            {"type": "http", "options": {"upstream_url": "http://127.0.0.1:9001/"}},
            {"type": "http", "options": {"upstream_url": "https://origin.example.net/"}},
        ]));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("handlers[0].options.jwks_url: points at a non-public address"));
        assert!(e[1].starts_with(
            "handlers[1].options.upstream_url: points at a non-public address (127.0.0.1)"
        ));
        assert!(
            e[2].starts_with("handlers[2].options.upstream_url: points at a control-plane host")
        );
    }

    #[test]
    fn vars_override_defaults_and_bad_values_are_reported() {
        let vars = |n: &str| match n {
            "PORTICO_MAX_REGEX_SIZE" => Some("2048".to_string()),
            "PORTICO_MAX_ROUTES_PER_TENANT" => Some("ten".to_string()),
            "PORTICO_TENANT_BINDINGS" => Some(" A, B ,".to_string()),
            "PORTICO_TENANT_TARGET_EXCEPTIONS" => Some("127.0.0.1, bad host".to_string()),
            _ => None,
        };
        let (p, errs) = RoutePolicy::from_vars(vars, &["api.x".into()]);
        assert_eq!(p.limits.regex_size, 2048);
        assert_eq!(p.max_routes_per_tenant, DEFAULT_MAX_ROUTES_PER_TENANT);
        assert_eq!(p.tenant.bindings, vec!["A", "B"]);
        assert_eq!(p.tenant.target_exceptions, vec!["127.0.0.1"]);
        assert_eq!(p.tenant.control_plane_hosts, vec!["api.x"]);
        assert_eq!(errs.len(), 2, "{errs:?}");
    }
}
