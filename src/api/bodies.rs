//! Request bodies of the management API, validated with the same strict reader and
//! route compiler the data plane uses, so a route the API accepts is a route the
//! data plane can run.

use super::route_policy::RoutePolicy;
use crate::config::bindings::Bindings;
use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::config::route::{compile_route, DEFAULT_PRIORITY};
use crate::config::ConfigError;
use crate::domains::public_suffix::wildcard_spans_registrants;
use crate::host::{HostPattern, MAX_DOMAIN_LABELS};
use serde_json::{json, Map, Value};

/// Fields the server owns; a body that sets them is refused.
const READ_ONLY: [&str; 4] = ["id", "tenant_id", "created_at", "updated_at"];

fn refuse_read_only(obj: &Map<String, Value>, except: &[&str], diags: &mut Diagnostics) {
    for key in READ_ONLY {
        if obj.contains_key(key) && !except.contains(&key) {
            diags.error(key, "is read-only");
        }
    }
}

fn object(v: &Value) -> Result<&Map<String, Value>, Vec<ConfigError>> {
    v.as_object().ok_or_else(|| {
        vec![ConfigError {
            path: String::new(),
            message: "the body must be a JSON object".into(),
        }]
    })
}

fn done<T>(diags: Diagnostics, value: Option<T>) -> Result<T, Vec<ConfigError>> {
    match value {
        Some(v) if diags.is_empty() => Ok(v),
        _ => Err(diags.into_errors().0),
    }
}

/// Whether `id` is a valid tenant id (usable in dispatch script names).
pub fn valid_tenant_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

fn name_field(f: &mut Fields<'_>, required: bool, diags: &mut Diagnostics) -> Option<String> {
    let name = if required {
        f.required_string("name", diags)
    } else {
        f.string("name", diags)
    }?;
    if name.trim().is_empty() || name.chars().count() > 200 {
        diags.error("name", "must be 1 to 200 characters");
        return None;
    }
    Some(name.to_string())
}

/// `POST /tenants` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCreate {
    /// Chosen id, if any.
    pub id: Option<String>,
    /// Display name.
    pub name: String,
}

/// Validates `{ id?, name }`. Ids in `reserved` (the control-plane tenant and ids
/// the deployment keeps for itself) are refused with path `id`.
pub fn tenant_create(v: &Value, reserved: &[String]) -> Result<TenantCreate, Vec<ConfigError>> {
    let obj = object(v)?;
    let mut diags = Diagnostics::new();
    refuse_read_only(obj, &["id"], &mut diags);
    let mut f = Fields::new(Some(v), "", &mut diags);
    let _ = (f.raw("tenant_id"), f.raw("created_at"), f.raw("updated_at"));
    let id = f.string("id", &mut diags).map(str::to_string);
    if let Some(id) = &id {
        if !valid_tenant_id(id) {
            diags.error("id", "must match ^[a-z0-9][a-z0-9_-]{0,62}$");
        } else if reserved.iter().any(|r| r.eq_ignore_ascii_case(id)) {
            diags.error("id", "is reserved");
        }
    }
    let name = name_field(&mut f, true, &mut diags);
    f.finish(&mut diags);
    let value = name.map(|name| TenantCreate { id, name });
    done(diags, value)
}

/// Validates `PATCH /tenants/{tid}`: `{ name }`.
pub fn tenant_patch(v: &Value) -> Result<Option<String>, Vec<ConfigError>> {
    let obj = object(v)?;
    let mut diags = Diagnostics::new();
    refuse_read_only(obj, &[], &mut diags);
    let mut f = Fields::new(Some(v), "", &mut diags);
    let _ = (
        f.raw("id"),
        f.raw("tenant_id"),
        f.raw("created_at"),
        f.raw("updated_at"),
    );
    let name = name_field(&mut f, false, &mut diags);
    f.finish(&mut diags);
    done(diags, Some(name))
}

/// Normalises a domain as written by a user, or says what is wrong with it.
pub fn normalize_domain(input: &str, control_plane_hosts: &[String]) -> Result<String, String> {
    let mut d = input.to_ascii_lowercase();
    if d.ends_with('.') {
        d.pop();
    }
    if d.is_empty() {
        return Err("must not be empty".into());
    }
    if d.len() > 253 {
        return Err("must be at most 253 characters".into());
    }
    if d.contains(':') {
        return Err("must not include a port (or be an IPv6 literal)".into());
    }
    let (wild, rest) = match d.strip_prefix("*.") {
        Some(r) => (true, r),
        None => (false, d.as_str()),
    };
    for label in rest.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if !ok {
            return Err(format!(
                "label {label:?} is invalid (letters, digits and inner hyphens only; a leading \"*.\" makes a wildcard)"
            ));
        }
    }
    if !rest.contains('.') {
        // `localhost`, `com`: a single label is a TLD or a local name, never a
        // tenant's domain.
        return Err(if wild {
            "a wildcard needs at least two labels after \"*.\"".into()
        } else {
            "must have at least two labels (a single label like \"localhost\" is refused)".into()
        });
    }
    if d.split('.').count() > MAX_DOMAIN_LABELS {
        // Deeper names are never looked up (see `host::lookup_candidates`).
        return Err(format!("must have at most {MAX_DOMAIN_LABELS} labels"));
    }
    if wild && wildcard_spans_registrants(rest) {
        // `*.co.uk` / `*.github.io` would claim every registrant's names below it.
        return Err(format!(
            "a wildcard directly under a public suffix ({rest:?}, Public Suffix List) is refused"
        ));
    }
    let pattern = HostPattern::parse(&d);
    for cp in control_plane_hosts {
        if pattern.as_ref().is_ok_and(|p| p.matches(cp)) {
            return Err("is reserved for the control plane".into());
        }
    }
    Ok(d)
}

/// Validates `{ domain }` (create and patch).
pub fn domain_body(v: &Value, control_plane_hosts: &[String]) -> Result<String, Vec<ConfigError>> {
    let obj = object(v)?;
    let mut diags = Diagnostics::new();
    refuse_read_only(obj, &[], &mut diags);
    let mut f = Fields::new(Some(v), "", &mut diags);
    let _ = (
        f.raw("id"),
        f.raw("tenant_id"),
        f.raw("created_at"),
        f.raw("updated_at"),
    );
    let domain = f.required_string("domain", &mut diags);
    f.finish(&mut diags);
    let domain = domain.and_then(|d| match normalize_domain(d, control_plane_hosts) {
        Ok(d) => Some(d),
        Err(m) => {
            diags.error("domain", m);
            None
        }
    });
    done(diags, domain)
}

/// The writable fields of a route, as given (each optional for PATCH).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteFields {
    /// `Some(None)`: explicitly null (all domains).
    pub custom_domain_id: Option<Option<String>>,
    /// Raw `priority` (checked in [`validate_route`]).
    pub priority: Option<Value>,
    /// Raw `match`.
    pub match_: Option<Value>,
    /// Raw `handlers`.
    pub handlers: Option<Value>,
}

/// Reads a route body's top level: unknown and read-only keys, `custom_domain_id` type.
pub fn route_fields(v: &Value) -> Result<RouteFields, Vec<ConfigError>> {
    let obj = object(v)?;
    let mut diags = Diagnostics::new();
    refuse_read_only(obj, &[], &mut diags);
    let mut out = RouteFields::default();
    for (k, val) in obj {
        match k.as_str() {
            "custom_domain_id" => match val {
                Value::Null => out.custom_domain_id = Some(None),
                Value::String(s) if !s.is_empty() => out.custom_domain_id = Some(Some(s.clone())),
                _ => diags.error("custom_domain_id", "must be a domain id or null"),
            },
            // null means "not given" (default on create, unchanged on patch).
            "priority" => out.priority = (!val.is_null()).then(|| val.clone()),
            "match" => out.match_ = (!val.is_null()).then(|| val.clone()),
            "handlers" => out.handlers = Some(val.clone()),
            k if READ_ONLY.contains(&k) => {}
            other => diags.error(other, "unknown field"),
        }
    }
    done(diags, Some(out))
}

impl RouteFields {
    /// Whether nothing was given (a PATCH that changes nothing).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A route ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRoute {
    /// Domain scope.
    pub custom_domain_id: Option<String>,
    /// Priority.
    pub priority: i64,
    /// `match` object.
    pub match_: Value,
    /// `handlers` list.
    pub handlers: Value,
}

/// Merges `patch` over `base` (create: `base` = None) and validates the whole route
/// with the data plane's compiler. Errors carry body-relative paths.
/// `tenant` is true for tenant tokens: their routes also obey
/// [`TenantRules`](super::route_policy::TenantRules).
pub fn validate_route(
    base: Option<&ValidRoute>,
    patch: RouteFields,
    bindings: Option<&dyn Bindings>,
    policy: &RoutePolicy,
    tenant: bool,
) -> Result<ValidRoute, Vec<ConfigError>> {
    let mut diags = Diagnostics::new();
    let custom_domain_id = match patch.custom_domain_id {
        Some(c) => c,
        None => base.and_then(|b| b.custom_domain_id.clone()),
    };
    let priority = patch
        .priority
        .or_else(|| base.map(|b| json!(b.priority)))
        .unwrap_or(json!(DEFAULT_PRIORITY));
    let match_ = patch
        .match_
        .or_else(|| base.map(|b| b.match_.clone()))
        .unwrap_or_else(|| json!({"path": "/*"}));
    let handlers = match (patch.handlers, base) {
        (Some(mut given), Some(b)) => {
            keep_stored_secrets(&mut given, &b.handlers);
            Some(given)
        }
        (Some(given), None) => Some(given),
        (None, b) => b.map(|b| b.handlers.clone()),
    };
    if base.is_none() && handlers.is_none() {
        diags.error("handlers", "is required");
        return Err(diags.into_errors().0);
    }
    let mut handlers = handlers.unwrap_or(Value::Null);
    if tenant {
        policy.tenant.apply(&mut handlers, "handlers", &mut diags);
    }
    let candidate = json!({ "priority": priority, "match": match_, "handlers": handlers });
    let compiled = compile_route(&candidate, "", bindings, &policy.limits, &mut diags);
    if compiled.is_none() || !diags.is_empty() {
        return Err(diags.into_errors().0);
    }
    seal_secrets(&mut handlers);
    check_route_size(&match_, &handlers, policy.max_route_bytes, &mut diags);
    if !diags.is_empty() {
        return Err(diags.into_errors().0);
    }
    Ok(ValidRoute {
        custom_domain_id,
        priority: priority.as_i64().unwrap_or(DEFAULT_PRIORITY),
        match_,
        handlers,
    })
}

/// Refuses a route whose stored JSON would exceed `max` bytes, naming the larger
/// of `match` and `handlers`.
fn check_route_size(match_: &Value, handlers: &Value, max: usize, diags: &mut Diagnostics) {
    let m = match_.to_string().len();
    let h = handlers.to_string().len();
    let total = m.saturating_add(h);
    if total > max {
        let name = if h >= m { "handlers" } else { "match" };
        diags.error(
            name,
            format!("the route is {total} bytes stored; at most {max} are allowed (PORTICO_MAX_ROUTE_BYTES)"),
        );
    }
}

/// Replaces credentials in a validated handler list by their stored form (see
/// [`crate::chain::basic_auth::seal_options`]).
fn seal_secrets(handlers: &mut Value) {
    let Value::Array(list) = handlers else { return };
    for h in list {
        if h.get("type").and_then(Value::as_str) == Some("basic_auth") {
            if let Some(Value::Object(opts)) = h.get_mut("options") {
                crate::chain::basic_auth::seal_options(opts);
            }
        }
    }
}

/// For each `basic_auth` handler given without a credential, takes the stored
/// digest of the handler at the same position (same type and username), so a
/// client can write back a route as it read it (see
/// [`crate::chain::basic_auth::keep_stored_secret`]).
fn keep_stored_secrets(given: &mut Value, stored: &Value) {
    let (Value::Array(list), Value::Array(old)) = (given, stored) else {
        return;
    };
    for (h, o) in list.iter_mut().zip(old) {
        let both_basic = [&*h, o]
            .iter()
            .all(|x| x.get("type").and_then(Value::as_str) == Some("basic_auth"));
        if !both_basic {
            continue;
        }
        if let (Some(Value::Object(new_opts)), Some(Value::Object(old_opts))) =
            (h.get_mut("options"), o.get("options"))
        {
            crate::chain::basic_auth::keep_stored_secret(new_opts, old_opts);
        }
    }
}

/// A stored route (or host record route) as the API shows it: write-only
/// credentials removed.
pub fn redact_route(route: &mut Value) {
    let Some(Value::Array(list)) = route.get_mut("handlers") else {
        return;
    };
    for h in list {
        if h.get("type").and_then(Value::as_str) == Some("basic_auth") {
            if let Some(Value::Object(opts)) = h.get_mut("options") {
                crate::chain::basic_auth::redact_options(opts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(e: Vec<ConfigError>) -> Vec<String> {
        e.into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn tenants() {
        let reserved = vec!["api".to_string(), "control_plane".to_string()];
        assert_eq!(
            paths(
                tenant_create(&json!({"id":"control_plane","name":"x"}), &reserved)
                    .expect_err("reserved")
            ),
            ["id"]
        );
        assert_eq!(
            paths(tenant_create(&json!({"id":"api"}), &reserved).expect_err("reserved")),
            ["id", "name"],
            "every problem at once"
        );
        assert!(tenant_create(&json!({"id":"api2","name":"x"}), &reserved).is_ok());
        assert_eq!(
            tenant_create(&json!({"id":"acme","name":"Acme"}), &[]),
            Ok(TenantCreate {
                id: Some("acme".into()),
                name: "Acme".into()
            })
        );
        assert_eq!(
            paths(
                tenant_create(&json!({"id":"Bad Id","color":1,"created_at":"x"}), &[])
                    .expect_err("invalid")
            ),
            ["created_at", "id", "name", "color"]
        );
        assert_eq!(
            paths(tenant_patch(&json!({"name":""})).expect_err("invalid")),
            ["name"]
        );
        assert!(tenant_create(&json!([1]), &[]).is_err());
    }

    #[test]
    fn domains() {
        let cp = vec!["api.portico.test".to_string()];
        assert_eq!(
            normalize_domain("Api.Example.TEST.", &cp).as_deref(),
            Ok("api.example.test")
        );
        assert_eq!(
            normalize_domain("*.Example.test", &cp).as_deref(),
            Ok("*.example.test")
        );
        for bad in [
            "a.com:8080",
            "a..com",
            "-a.com",
            "a_b.com",
            "*.com",
            "",
            "[::1]",
            "api.portico.test",
            "*.portico.test",
            "a b.com",
            "*.co.uk",
            "*.github.io",
            "*.localhost",
            "*.test",
            "localhost",
            "com",
        ] {
            assert!(normalize_domain(bad, &cp).is_err(), "{bad}");
        }
        for good in [
            "*.shop.co.uk",
            "*.me.github.io",
            "*.acme.localhost",
            "x.test",
            "co.uk",
        ] {
            assert!(normalize_domain(good, &cp).is_ok(), "{good}");
        }
        let deep = format!("{}example.com", "a.".repeat(31));
        assert!(normalize_domain(&deep, &cp).is_err(), "33 labels");
        assert!(normalize_domain(&format!("{}example.com", "a.".repeat(30)), &cp).is_ok());
        assert_eq!(
            paths(domain_body(&json!({"domain":"*.co.uk"}), &cp).expect_err("invalid")),
            ["domain"]
        );
        assert_eq!(
            paths(domain_body(&json!({"domain":"x.com","id":"d"}), &cp).expect_err("invalid")),
            ["id"]
        );
    }

    #[test]
    fn rate_limit_routes_name_a_limiter_the_deployment_offers() {
        struct Limiters;
        impl Bindings for Limiters {
            fn has_service(&self, _: &str) -> bool {
                false
            }
            fn has_dispatch_namespace(&self, _: &str) -> bool {
                false
            }
            fn rate_limiter_period(&self, name: &str) -> Option<u32> {
                (name == "RL_STANDARD").then_some(60)
            }
        }
        let write = |handlers: Value| {
            let f = route_fields(&json!({ "handlers": handlers })).expect("fields");
            validate_route(None, f, Some(&Limiters), &RoutePolicy::default(), true)
        };
        let origin = json!({"type":"static","options":{"body":"hi"}});
        write(json!([{"type":"rate_limit","options":{"limiter":"RL_STANDARD","key":"header:x-api-key"}}, origin]))
            .expect("valid");
        let errs = paths(
            write(json!([{"type":"cors"},{"type":"rate_limit","options":{"limiter":"RL_ELSEWHERE"}}, origin]))
                .expect_err("unknown limiter"),
        );
        assert_eq!(errs, ["handlers[1].options.limiter"]);
        let errs = paths(
            write(json!([{"type":"rate_limit","options":{"limiter":"RL_STANDARD","key":"user"}}, origin]))
                .expect_err("bad key"),
        );
        assert_eq!(errs, ["handlers[0].options.key"]);
    }

    #[test]
    fn routes_merge_and_validate_with_paths() {
        let f = route_fields(&json!({"handlers":[{"type":"static","options":{"body":"hi"}}]}))
            .expect("fields");
        let r = validate_route(None, f, None, &RoutePolicy::default(), false).expect("valid");
        assert_eq!(r.priority, 100);
        assert_eq!(r.match_, json!({"path":"/*"}));
        let bad = route_fields(&json!({"priority":"high","handlers":[{"type":"cors","options":{"origins":[1]}},{"type":"nope"}]})).expect("fields");
        let errs = paths(
            validate_route(None, bad, None, &RoutePolicy::default(), false).expect_err("invalid"),
        );
        assert!(errs.contains(&"priority".to_string()), "{errs:?}");
        assert!(
            errs.contains(&"handlers[0].options.origins[0]".to_string()),
            "{errs:?}"
        );
        assert!(errs.contains(&"handlers[1].type".to_string()), "{errs:?}");
        assert_eq!(
            paths(
                route_fields(&json!({"id":"x","color":1,"custom_domain_id":5}))
                    .expect_err("invalid")
            ),
            ["id", "color", "custom_domain_id"]
        );
        assert_eq!(
            paths(
                validate_route(
                    None,
                    RouteFields::default(),
                    None,
                    &RoutePolicy::default(),
                    false
                )
                .expect_err("invalid")
            ),
            ["handlers"]
        );
        // PATCH keeps unspecified fields and validates the merged route.
        let p = route_fields(&json!({"priority": 5})).expect("fields");
        let merged =
            validate_route(Some(&r), p, None, &RoutePolicy::default(), false).expect("valid");
        assert_eq!(
            (merged.priority, merged.handlers.clone()),
            (5, r.handlers.clone())
        );
        // A basic_auth password is stored (and returned) only as its SHA-256.
        let b = route_fields(&json!({"handlers": [{"type":"basic_auth","options":{"username":"u","password":"pw"}}, {"type":"static"}]})).expect("fields");
        let sealed = validate_route(None, b, None, &RoutePolicy::default(), false).expect("valid");
        assert_eq!(
            sealed.handlers[0]["options"],
            json!({"username":"u","password_sha256":"30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"})
        );
        // Responses never show it; writing back what was shown keeps it.
        let mut shown = json!({"handlers": sealed.handlers.clone()});
        redact_route(&mut shown);
        assert_eq!(shown["handlers"][0]["options"], json!({"username":"u"}));
        let back = route_fields(&json!({"priority": 7, "handlers": shown["handlers"].clone()}))
            .expect("fields");
        let kept = validate_route(Some(&sealed), back, None, &RoutePolicy::default(), false)
            .expect("valid");
        assert_eq!(kept.handlers, sealed.handlers);
        // A PATCH that does not mention handlers keeps them as stored.
        let prio = route_fields(&json!({"priority": 8})).expect("fields");
        assert_eq!(
            validate_route(Some(&sealed), prio, None, &RoutePolicy::default(), false)
                .expect("valid")
                .handlers,
            sealed.handlers
        );
        // A new username needs a new credential.
        let renamed = route_fields(&json!({"handlers": [{"type":"basic_auth","options":{"username":"v"}}, {"type":"static"}]})).expect("fields");
        assert_eq!(
            paths(
                validate_route(Some(&sealed), renamed, None, &RoutePolicy::default(), false)
                    .expect_err("no credential")
            ),
            ["handlers[0].options.password"]
        );
        let p = route_fields(&json!({"handlers": []})).expect("fields");
        assert_eq!(
            paths(
                validate_route(Some(&r), p, None, &RoutePolicy::default(), false)
                    .expect_err("invalid")
            ),
            ["handlers"]
        );
    }
}
