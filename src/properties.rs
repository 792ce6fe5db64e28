//! Property tests for the parsers and transformers that read what tenants write
//! and what clients and upstreams send (issue "hostile-tenant safety": every one
//! is total). Each test is named `prop_*`: `cargo test` runs a short pass and
//! `npm run fuzz` (scripts/fuzz.sh) runs each with many more cases.
//! Canonical paths, JWT verification and JWKS parsing have theirs beside the code.

use crate::api::audit_query::parse_audit_query;
use crate::api::bodies::{route_fields, validate_route};
use crate::api::route_policy::RoutePolicy;
use crate::canonical_path::EncodedSlashes;
use crate::chain::cookies::{confine_domain, RewriteCookies};
use crate::chain::location::RewriteLocation;
use crate::chain::HandlerKind;
use crate::config::diag::Diagnostics;
use crate::config::route::{compile_route, sort_routes};
use crate::connection::body::{connection_create, connection_patch};
use crate::connection::policy::Policy;
use crate::connection_proxy::target as proxy_target;
use crate::connector::{validate_version, ConnectorSpec, UrlRules};
use crate::host::{lookup_candidates, normalize_host, HostPattern, MAX_DOMAIN_LABELS};
use crate::message::{HeaderAccess, HeaderList};
use crate::request::testing::cx;
use crate::routing::limits::RouteLimits;
use crate::routing::{PathPattern, RequestFacts, RouteTable};
use crate::url::split_origin;
use crate::url::BaseUrl;
use crate::vault::inject::{inject_body, set_query_param};
use crate::vault::{Credential, Envelope, KeyRing, Secret};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Text that mixes the characters parsers care about with arbitrary ones.
fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_string()),
        Just(":".to_string()),
        Just(".".to_string()),
        Just("*".to_string()),
        Just("?".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("%".to_string()),
        Just("@".to_string()),
        Just(";".to_string()),
        Just("=".to_string()),
        Just("http://".to_string()),
        Just("https://".to_string()),
        Just("\u{e9}".to_string()),
        Just("\u{1f600}".to_string()),
        "[a-z0-9]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..max).prop_map(|v| v.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        tricky_text(6).prop_map(Value::from),
    ];
    let key = prop_oneof![
        Just("path".to_string()),
        Just("methods".to_string()),
        Just("hosts".to_string()),
        Just("headers".to_string()),
        Just("query".to_string()),
        Just("type".to_string()),
        Just("options".to_string()),
        Just("upstream_url".to_string()),
        Just("binding".to_string()),
        Just("script_name".to_string()),
        Just("origins".to_string()),
        Just("status".to_string()),
        "[a-z_]{1,8}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// Route-shaped JSON: real handler types and field names with arbitrary values.
fn route_json() -> impl Strategy<Value = Value> {
    let handler = (
        proptest::sample::select(HandlerKind::ALL.map(HandlerKind::as_str).to_vec()),
        json_value(),
    )
        .prop_map(|(t, o)| json!({ "type": t, "options": o }));
    (
        tricky_text(12),
        proptest::option::of(json_value()),
        proptest::collection::vec(handler, 0..4),
        any::<i64>(),
    )
        .prop_map(|(path, extra, handlers, priority)| {
            let mut m = json!({ "path": path });
            if let (Some(Value::Object(e)), Value::Object(mm)) = (extra, &mut m) {
                for (k, v) in e {
                    mm.insert(k, v);
                }
            }
            json!({ "priority": priority, "match": m, "handlers": handlers })
        })
}

struct Facts<'a> {
    headers: &'a [(String, String)],
    query: &'a str,
}

impl RequestFacts for Facts<'_> {
    fn method(&self) -> &str {
        "GET"
    }
    fn host(&self) -> &str {
        "a.example.com"
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
    fn query(&self) -> &str {
        self.query
    }
}

proptest! {
    #[test]
    fn prop_host_normalisation_is_total_and_idempotent(raw in tricky_text(20)) {
        if let Ok(h) = normalize_host(&raw) {
            let again = normalize_host(&h);
            prop_assert_eq!(again.as_deref(), Ok(h.as_str()));
            let c = lookup_candidates(&h);
            prop_assert!(c.len() <= MAX_DOMAIN_LABELS);
            for cand in &c {
                prop_assert!(HostPattern::parse(cand).is_ok_and(|p| p.matches(&h)), "{} covers {}", cand, h);
            }
        }
        let _ = HostPattern::parse(&raw);
    }

    #[test]
    fn prop_pattern_compilation_is_total(raw in tricky_text(16), path in tricky_text(16)) {
        if let Ok(p) = PathPattern::parse_limited(&format!("/{raw}"), 2048) {
            let route = crate::routing::table::TableRoute {
                path: p,
                spec: crate::routing::MatchSpec::default(),
                payload: (),
            };
            if let Ok(table) = RouteTable::build(vec![route]) {
                let path = format!("/{path}");
                let _ = table.select(&path, &Facts { headers: &[], query: "" });
            }
        }
    }

    #[test]
    fn prop_route_reader_is_total(
        routes in proptest::collection::vec(route_json(), 1..4),
        path in tricky_text(10),
        headers in proptest::collection::vec(("[a-z-]{1,6}", tricky_text(8)), 0..3),
        query in tricky_text(10),
    ) {
        let mut compiled = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            let mut d = Diagnostics::new();
            let c = compile_route(r, &format!("routes[{i}]"), None, &RouteLimits::default(), &mut d);
            prop_assert_eq!(c.is_some(), d.is_empty());
            compiled.extend(c);
        }
        sort_routes(&mut compiled);
        if let Ok(table) = RouteTable::build(compiled) {
            let path = format!("/{path}");
            let _ = table.select(&path, &Facts { headers: &headers, query: &query });
        }
    }

    #[test]
    fn prop_api_route_validation_is_total(body in json_value(), tenant in any::<bool>()) {
        if let Ok(fields) = route_fields(&body) {
            let _ = validate_route(None, fields, None, &RoutePolicy::default(), tenant);
        }
    }

    /// Joining any canonical path under a base URL never changes its origin or
    /// climbs above its base path.
    #[test]
    fn prop_url_join_stays_under_the_base(
        base in tricky_text(12),
        path in tricky_text(12),
        query in "[a-z=&%]{0,8}",
    ) {
        let _ = split_origin(&base);
        if let Ok(b) = BaseUrl::parse(&format!("https://api.example.com/{base}")) {
            if let Ok(p) = crate::canonical_path::canonicalize(&format!("/{path}"), crate::canonical_path::EncodedSlashes::Reject) {
                let joined = b.join(&p.upstream, &query);
                let (origin, rest) = split_origin(&joined).expect("joined URL is absolute"); // ok: test-only
                prop_assert_eq!(&origin, &b.origin);
                prop_assert!(rest.starts_with(&b.base_path));
            }
        }
        if let Ok(b) = BaseUrl::parse(&base) {
            prop_assert!(b.join("/x", "").starts_with(&b.origin));
        }
    }

    #[test]
    fn prop_location_and_cookie_rewriting_are_total(
        location in tricky_text(16),
        cookie in tricky_text(24),
        status in 100u16..600,
    ) {
        let r = RewriteLocation { upstream_origin: "http://127.0.0.1:9001".into() };
        let mut h = HeaderList::new().with("location", &location);
        r.on_response(&cx(), status, &mut h);
        let out = h.get("location").unwrap_or_default();
        prop_assert!(out == location || out.starts_with("https://app.example.com"));

        let c = RewriteCookies { upstream_host: "127.0.0.1".into() };
        let _ = c.rewrite_one(&cookie, "app.example.com");
        if let Some(confined) = confine_domain(&cookie, "a.b.example.com", "*.example.com") {
            prop_assert!(confined.len() < cookie.len());
        }
    }

    #[test]
    fn prop_vault_bodies_are_total(body in json_value(), base in json_value(), dev in any::<bool>()) {
        let rules = UrlRules { allow_loopback_http: dev, tenant: None };
        let _ = validate_version(&body, Some(&base), &rules);
        let _ = validate_version(&body, None, &rules);
        let _ = connection_create(&body);
        let _ = connection_patch(&body);
        if let Ok(p) = Policy::compile(&body, "policy") {
            // What a policy stores compiles back to the same policy.
            let again = Policy::compile(&p.to_json(), "policy").map(|q| q.to_json());
            prop_assert_eq!(again.ok(), Some(p.to_json()));
        }
        let _ = ConnectorSpec::from_stored(&body);
    }

    #[test]
    fn prop_proxy_targets_stay_under_the_base(
        rest in tricky_text(24),
        query in tricky_text(8),
        base_path in "(/[a-z0-9]{1,4}){0,2}",
    ) {
        let base = BaseUrl::parse(&format!("https://api.example.com{base_path}")).expect("valid base"); // ok: test-only
        if let Ok(t) = proxy_target(&base, &rest, &query, EncodedSlashes::Reject) {
            let (origin, path) = split_origin(&t.url).expect("absolute"); // ok: test-only
            prop_assert_eq!(origin, "https://api.example.com");
            prop_assert!(path.starts_with(&base.base_path));
        }
    }

    #[test]
    fn prop_injection_and_stored_secrets_are_total(
        raw in tricky_text(24),
        field in "[a-z_]{1,8}",
        value in tricky_text(8),
        json in any::<bool>(),
        query in tricky_text(24),
    ) {
        let ct = if json { "application/json" } else { "application/x-www-form-urlencoded" };
        let _ = inject_body(Some(ct), raw.as_bytes(), &field, &value);
        let url = format!("https://a.example/p?{query}");
        let out = set_query_param(&url, &field, &value);
        prop_assert!(out.starts_with("https://a.example/p?"));
        let _ = Envelope::parse(&raw);
        let _ = Credential::from_plaintext(&Secret::new(raw.clone().into_bytes()));
        let _ = parse_audit_query(&query);
        let _ = KeyRing::parse(&raw);
        let _ = crate::oauth::token_set::TokenSet::parse(raw.as_bytes(), u64::MAX);
        let _ = crate::oauth::token_set::classify(599, raw.as_bytes());
        prop_assert!(!crate::oauth::pkce::valid_verifier(&raw) || raw.len() >= 43);
    }

    #[test]
    fn prop_token_sets_are_total(body in json_value(), now in any::<u64>()) {
        if let Ok(t) = crate::oauth::token_set::TokenSet::parse(body.to_string().as_bytes(), now) {
            prop_assert_eq!(crate::oauth::token_set::TokenSet::from_stored(&t.to_json()), Some(t.clone()));
            let _ = t.needs_refresh(now);
        }
        let _ = crate::oauth::token_set::TokenSet::from_stored(&body);
    }

    #[test]
    fn prop_oauth_callbacks_and_return_to_are_total(query in tricky_text(32), url in tricky_text(32)) {
        let _ = crate::oauth::authorize::parse_callback(&query);
        let allowed = vec!["https://app.example".to_string()];
        if crate::oauth::authorize::return_to_allowed(&url, &allowed) {
            prop_assert!(url.to_ascii_lowercase().starts_with("https://app.example"));
        }
    }

    #[test]
    fn prop_oauth_states_and_keeper_are_total(state in tricky_text(80), query in tricky_text(48), now in any::<u64>(), expires in any::<u64>()) {
        // Any text either splits into the issued shape or not; never a panic.
        if let Some(p) = crate::oauth::state::StateParts::split(&state) {
            prop_assert_eq!(p.row_key().len(), 64);
            let b = crate::oauth::state::StateBinding { tenant: "t", connection: "c", sub: "s", expires_at_ms: expires };
            let _ = p.verify(&[0; 32], &b);
        }
        let _ = crate::oauth::authorize::state_param(&query);
        // The keeper decides for any clock and expiry without panicking, and never
        // refreshes a token that is not due for a plain use.
        let t = crate::oauth::token_set::TokenSet {
            access_token: "a".into(),
            refresh_token: Some("r".into()),
            expires_at_ms: Some(expires),
            scope: None,
        };
        let m = crate::oauth::keeper::KeeperMeta::new("t", "c");
        let d = m.decide(Some(&t), crate::oauth::keeper::Ask::Usable, now);
        let due = crate::oauth::keeper::refresh_at_ms(&t, 0).is_some_and(|at| now >= at);
        prop_assert_eq!(d == crate::oauth::keeper::Decision::Refresh, due);
        let _ = crate::oauth::keeper::alarm_at_ms(&t, now);
    }
}
