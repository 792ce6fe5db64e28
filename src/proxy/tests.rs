//! Host to plan, natively: a static document stands in for the host source, a
//! closure for the platform's needs I/O, a `HeaderList` for the JS headers.

use super::*;
use crate::config::document::StaticDocument;
use crate::message::HeaderList;
use crate::request::{NeedError, RateDecision};
use crate::routing::limits::RouteLimits;
use jwt_compact::alg::Ed25519;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use serde_json::{json, Value};

const NOW: i64 = 1_800_000_000;
const JWKS: &str = "https://idp.example/jwks.json";

fn settings() -> ProxySettings {
    ProxySettings {
        encoded_slashes: EncodedSlashes::Reject,
        filter_limits: FilterLimits::default(),
    }
}

struct AllBindings;
impl crate::config::Bindings for AllBindings {
    fn has_service(&self, _: &str) -> bool {
        true
    }
    fn has_dispatch_namespace(&self, _: &str) -> bool {
        true
    }
    fn rate_limiter_period(&self, name: &str) -> Option<u32> {
        match name {
            "RL_STANDARD" => Some(60),
            "RL_STRICT" => Some(10),
            _ => None,
        }
    }
}

fn doc(routes: Value) -> StaticDocument {
    let raw = json!({ "hosts": {
        "app.example.com": { "tenant_id": "acme", "routes": routes },
        "*.wild.example": { "tenant_id": "wild", "routes": [
            {"match": {"path": "/*"}, "handlers": [{"type": "static", "options": {"body": "w"}}]}
        ]}
    }});
    StaticDocument::parse(
        &raw.to_string(),
        Some(&AllBindings),
        &RouteLimits::default(),
    )
    .expect("valid document")
}

fn route(path: &str, handlers: Value) -> Value {
    json!({"match": {"path": path}, "handlers": handlers})
}

fn origin() -> Value {
    json!({"type": "http", "options": {"upstream_url": "https://origin.example/base"}})
}

/// What a request came to: the response, or the call with its upstream headers.
#[derive(Debug)]
enum Outcome {
    Respond(SimpleResponse, Option<ProxyError>),
    Call(UpstreamCall, HeaderList, Box<After>),
    Api(String),
}

impl Outcome {
    fn response(self) -> SimpleResponse {
        match self {
            Self::Respond(r, _) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }
    fn call(self) -> (UpstreamCall, HeaderList, Box<After>) {
        match self {
            Self::Call(c, h, a) => (c, h, a),
            other => panic!("expected a call, got {other:?}"),
        }
    }
}

/// The whole lifecycle the platform runs, with `fetch` answering needs.
fn run_with(
    doc: &StaticDocument,
    method: &str,
    url: &str,
    headers: HeaderList,
    fetch: &dyn Fn(&Need) -> Prefetched,
) -> Outcome {
    let is_api = |h: &str| h == "api.example.com";
    let head = match enter(&settings(), method, url, &headers, &is_api, NOW) {
        Ok(Entry::Proxy(head)) => head,
        Ok(Entry::Api { path, .. }) => return Outcome::Api(path),
        Err(e) => return Outcome::Respond(e.to_response(), Some(e)),
    };
    let Some(config) = doc.lookup(&head.host) else {
        let e = ProxyError::UnknownHost;
        return Outcome::Respond(e.to_response(), Some(e));
    };
    let routed = match super::route(&head, config, &headers, FilterLimits::default()) {
        Ok(r) => r,
        Err(e) => return Outcome::Respond(e.to_response(), Some(e)),
    };
    let mut pre = Prefetched::new();
    for _round in 0..4 {
        let needs = routed.needs(&head, &pre, &headers);
        if needs.is_empty() {
            break;
        }
        for n in &needs {
            let got = fetch(n);
            merge(&mut pre, got, n);
        }
    }
    let mut up = headers.clone();
    match plan(head, routed, &pre, &mut up) {
        Plan::Respond { response, error } => Outcome::Respond(response, error),
        Plan::Call { call, after } => Outcome::Call(call, up, after),
    }
}

fn merge(pre: &mut Prefetched, got: Prefetched, need: &Need) {
    match need {
        Need::Jwks { url, .. } => {
            if let Some(r) = got.jwks(url) {
                pre.put_jwks(url.clone(), r.clone());
            }
        }
        Need::RateLimit { limiter, key } => {
            if let Some(r) = got.rate_limit(limiter, key) {
                pre.put_rate_limit(limiter.clone(), key.clone(), r.clone());
            }
        }
        Need::Credential { connection_id } => {
            if let Some(r) = got.grant(connection_id) {
                pre.put_grant(connection_id.clone(), r.clone());
            }
        }
    }
}

fn no_io(n: &Need) -> Prefetched {
    panic!("unexpected need {n:?}")
}

fn run(doc: &StaticDocument, method: &str, url: &str, headers: HeaderList) -> Outcome {
    run_with(doc, method, url, headers, &no_io)
}

fn host(h: &str) -> HeaderList {
    HeaderList::new().with("host", h)
}

#[test]
fn every_error_row_the_planner_owns() {
    let d = doc(json!([
        route("/ok", json!([origin()])),
        route(
            "/t/{tenant_script}",
            json!([{"type": "dispatch_namespace", "options": {"binding": "NS", "script_name": "{tenant_id}-{host}"}}])
        ),
    ]));
    let cases: Vec<(HeaderList, &str, u16, Option<&str>)> = vec![
        (HeaderList::new(), "https://x/ok", 400, None),
        (host("bad host!"), "https://x/ok", 400, None),
        (
            host("nobody.example"),
            "https://nobody.example/ok",
            404,
            None,
        ),
        (
            host("app.example.com"),
            "https://app.example.com/nope",
            404,
            None,
        ),
        (
            host("app.example.com"),
            "https://app.example.com/%zz",
            400,
            Some("invalid_path"),
        ),
        (
            host("app.example.com"),
            "https://app.example.com/../../etc",
            400,
            Some("invalid_path"),
        ),
        (
            host("app.example.com"),
            "https://app.example.com/a%2Fb",
            400,
            Some("invalid_path"),
        ),
    ];
    for (headers, url, status, code) in cases {
        let r = run(&d, "GET", url, headers.clone()).response();
        assert_eq!(r.status, status, "{url} {headers:?}");
        assert_eq!(r.headers.get("x-portico-error").as_deref(), code, "{url}");
        assert_eq!(r.headers.get("cache-control").as_deref(), Some("no-store"));
    }
    // X-Forwarded-Host stands in for a missing Host.
    let xfh = HeaderList::new().with("x-forwarded-host", "app.example.com");
    assert!(matches!(
        run(&d, "GET", "https://app.example.com/ok", xfh),
        Outcome::Call(..)
    ));
}

#[test]
fn the_api_prefix_on_a_control_plane_host_leaves_the_data_plane() {
    let d = doc(json!([route("/api/v1/x", json!([origin()]))]));
    match run(
        &d,
        "GET",
        "https://api.example.com/api/v1/tenants?x=1",
        host("api.example.com"),
    ) {
        Outcome::Api(p) => assert_eq!(p, "/tenants"),
        other => panic!("{other:?}"),
    }
    // Not under /api/v1 exactly, or another host: tenants' routes.
    for (h, url) in [
        ("api.example.com", "https://api.example.com/api/v10"),
        ("app.example.com", "https://app.example.com/api/v1/x"),
    ] {
        assert!(
            !matches!(run(&d, "GET", url, host(h)), Outcome::Api(_)),
            "{url}"
        );
    }
}

#[test]
fn http_call_is_fully_decided_and_headers_are_what_to_send() {
    let d = doc(json!([route("/a/*", json!([origin()]))]));
    let inbound = host("app.example.com")
        .with("connection", "keep-alive, x-hop")
        .with("x-hop", "1")
        .with("te", "trailers")
        .with("expect", "100-continue")
        .with("x-keep", "yes");
    let (call, up, after) = run(
        &d,
        "POST",
        "https://app.example.com/a/./b//c?q=1#frag",
        inbound,
    )
    .call();
    assert!(is_plain_fetch(&call));
    assert_eq!(call.url, "https://origin.example/base/a/b/c?q=1");
    assert_eq!(call.handler, "http");
    assert_eq!(call.timeout_ms, 30_000);
    for gone in ["connection", "x-hop", "te", "expect", "host"] {
        assert_eq!(up.get(gone), None, "{gone} must not go upstream");
    }
    assert_eq!(up.get("x-keep").as_deref(), Some("yes"));
    assert_eq!(
        up.get("x-forwarded-host").as_deref(),
        Some("app.example.com")
    );
    assert_eq!(
        up.get("x-original-url").as_deref(),
        Some("https://app.example.com/a/b/c?q=1"),
        "the canonical URL, fragment dropped"
    );
    assert_eq!(after.head().method, "POST");
    // Only forwarded_headers ran: no response-phase work.
    assert!(!after.touches_response());
}

#[test]
fn preserve_host_sets_host_and_websocket_keeps_upgrade() {
    let d = doc(json!([route(
        "/ws",
        json!([{"type": "http", "options": {"upstream_url": "https://o.example", "preserve_host": true}}])
    )]));
    let inbound = host("app.example.com")
        .with("connection", "Upgrade")
        .with("upgrade", "websocket");
    let (_, up, _) = run(&d, "GET", "https://app.example.com/ws", inbound).call();
    assert_eq!(up.get("host").as_deref(), Some("app.example.com"));
    assert_eq!(up.get("upgrade").as_deref(), Some("websocket"));
    assert_eq!(up.get("connection"), None);
}

#[test]
fn bindings_and_dispatch_are_not_plain_fetches() {
    let d = doc(json!([
        route(
            "/s",
            json!([{"type": "service_binding", "options": {"binding": "SVC"}}])
        ),
        route(
            "/d",
            json!([{"type": "dispatch_namespace", "options": {"binding": "NS", "script_name": "{tenant_id}"}}])
        ),
    ]));
    let (s, ..) = run(
        &d,
        "GET",
        "https://app.example.com/s",
        host("app.example.com"),
    )
    .call();
    assert_eq!(
        s.target,
        Target::Service {
            binding: "SVC".into()
        }
    );
    assert!(!is_plain_fetch(&s));
    let (dc, ..) = run(
        &d,
        "GET",
        "https://app.example.com/d",
        host("app.example.com"),
    )
    .call();
    assert!(matches!(dc.target, Target::Dispatch { ref script, .. } if script == "acme"));
}

#[test]
fn dispatch_misconfiguration_is_a_500_through_the_chain() {
    let d = doc(json!([route(
        "/d",
        json!([
            {"type": "cors", "options": {"origins": ["https://web.example"]}},
            {"type": "dispatch_namespace", "options": {"binding": "NS", "script_name": "{tenant_id}-{custom_domain_id}"}}
        ])
    )]));
    // The static source has no custom domain ids: the placeholder has no value.
    let r = run(
        &d,
        "GET",
        "https://app.example.com/d",
        host("app.example.com").with("origin", "https://web.example"),
    );
    match r {
        Outcome::Respond(r, Some(e)) => {
            assert_eq!(r.status, 500);
            assert_eq!(
                r.headers.get("x-portico-error").as_deref(),
                Some("dispatch_namespace_failed")
            );
            assert_eq!(
                r.headers.get("access-control-allow-origin").as_deref(),
                Some("https://web.example"),
                "errors pass back through the middleware that ran"
            );
            assert!(e.should_log());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn static_and_redirect_answer_without_upstream_and_confine_cookies() {
    let d = doc(json!([
        route(
            "/s",
            json!([
                {"type": "headers", "options": {"response": {"x-r": "1"}}},
                {"type": "static", "options": {"status": 201, "body": "made", "headers": {
                    "set-cookie": "a=1; Domain=example.com"
                }}}
            ])
        ),
        route(
            "/r",
            json!([{"type": "redirect", "options": {"upstream_url": "https://new.example"}}])
        ),
    ]));
    let r = run(
        &d,
        "GET",
        "https://app.example.com/s",
        host("app.example.com"),
    )
    .response();
    assert_eq!((r.status, r.body.as_str()), (201, "made"));
    assert_eq!(
        r.headers.get("x-r").as_deref(),
        Some("1"),
        "response phase ran"
    );
    assert_eq!(
        r.headers.set_cookies(),
        vec!["a=1".to_string()],
        "a Domain on a parent other tenants share is dropped"
    );
    let r = run(
        &d,
        "GET",
        "https://app.example.com/r?x=1",
        host("app.example.com"),
    )
    .response();
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers.get("location").as_deref(),
        Some("https://new.example/r?x=1")
    );
}

#[test]
fn cors_preflight_answers_and_actual_request_edits_the_response() {
    let d = doc(json!([route(
        "/c",
        json!([{"type": "cors", "options": {"origins": ["https://web.example"]}}, origin()])
    )]));
    let pre = host("app.example.com")
        .with("origin", "https://web.example")
        .with("access-control-request-method", "PUT");
    let r = run(&d, "OPTIONS", "https://app.example.com/c", pre).response();
    assert_eq!(r.status, 204);
    assert_eq!(
        r.headers.get("access-control-allow-origin").as_deref(),
        Some("https://web.example")
    );
    let (_, _, after) = run(
        &d,
        "GET",
        "https://app.example.com/c",
        host("app.example.com").with("origin", "https://web.example"),
    )
    .call();
    assert!(after.touches_response());
    let mut res = HeaderList::new().with("set-cookie", "s=1; Domain=origin.example");
    after.on_response(200, &mut res);
    assert_eq!(
        res.get("access-control-allow-origin").as_deref(),
        Some("https://web.example")
    );
    assert_eq!(res.set_cookies(), vec!["s=1".to_string()]);
    // A failed upstream still carries the CORS headers back.
    let err = ProxyError::HandlerTimeout { handler: "http" };
    let r = after.on_error(&err);
    assert_eq!(r.status, 504);
    assert_eq!(
        r.headers.get("x-portico-error").as_deref(),
        Some("http_timeout")
    );
    assert_eq!(
        r.headers.get("access-control-allow-origin").as_deref(),
        Some("https://web.example")
    );
}

#[test]
fn middleware_request_and_response_phases_through_the_plan() {
    let d = doc(json!([route(
        "/m",
        json!([
            {"type": "headers", "options": {
                "request": {"x-added": "1"}, "remove_request": ["x-drop"],
                "response": {"x-resp": "2"}, "remove_response": ["server"]
            }},
            {"type": "cache", "options": {"ttl_seconds": 60}},
            {"type": "rewrite_cookies"},
            {"type": "rewrite_location"},
            origin()
        ])
    )]));
    let (_, up, after) = run(
        &d,
        "GET",
        "https://app.example.com/m",
        host("app.example.com").with("x-drop", "1"),
    )
    .call();
    assert_eq!(up.get("x-added").as_deref(), Some("1"));
    assert_eq!(up.get("x-drop"), None);
    let mut res = HeaderList::new()
        .with("server", "nginx")
        .with("location", "https://origin.example/base/next?y=2")
        .with("set-cookie", "c=1; Domain=origin.example; Path=/");
    after.on_response(301, &mut res);
    assert_eq!(res.get("x-resp").as_deref(), Some("2"));
    assert_eq!(res.get("server"), None);
    assert_eq!(
        res.get("cache-control").as_deref(),
        Some("private, max-age=60")
    );
    assert_eq!(
        res.get("location").as_deref(),
        Some("https://app.example.com/base/next?y=2")
    );
    assert_eq!(
        res.set_cookies(),
        vec!["c=1; Domain=app.example.com; Path=/".to_string()]
    );
}

#[test]
fn basic_auth_refuses_before_the_terminal() {
    let d = doc(json!([route(
        "/b",
        json!([{"type": "basic_auth", "options": {"username": "u", "password": "pw"}}, origin()])
    )]));
    let r = run(
        &d,
        "GET",
        "https://app.example.com/b",
        host("app.example.com"),
    )
    .response();
    assert_eq!(r.status, 401);
    let ok = host("app.example.com").with("authorization", "Basic dTpwdw==");
    let (_, up, _) = run(&d, "GET", "https://app.example.com/b", ok).call();
    assert_eq!(
        up.get("authorization"),
        None,
        "the credential is not forwarded"
    );
}

fn signing_key() -> <Ed25519 as jwt_compact::Algorithm>::SigningKey {
    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32])).sk
}

fn jwk() -> Value {
    let mut v = serde_json::to_value(JsonWebKey::from(&signing_key().public_key())).expect("jwk");
    v["kid"] = json!("k1");
    v
}

fn token(extra: Value) -> String {
    let map: serde_json::Map<String, Value> = extra.as_object().cloned().unwrap_or_default();
    let mut claims = Claims::new(map);
    claims.expiration = chrono::DateTime::from_timestamp(NOW + 60, 0);
    Ed25519
        .token(&Header::empty().with_key_id("k1"), &claims, &signing_key())
        .expect("sign")
}

fn jwks_route() -> Value {
    route(
        "/j",
        json!([
            {"type": "cors", "options": {"origins": ["https://web.example"]}},
            {"type": "jwt", "options": {"jwks_url": JWKS, "forward_claims": {"sub": "x-user"}}},
            origin()
        ]),
    )
}

#[test]
fn jwt_needs_are_met_missing_or_failed() {
    let d = doc(json!([jwks_route()]));
    let t = token(json!({"sub": "u1"}));
    let bearer = host("app.example.com")
        .with("authorization", &format!("Bearer {t}"))
        .with("origin", "https://web.example")
        .with("x-user", "forged");
    // Met: the platform fetched the keys the need named.
    let seen = std::cell::RefCell::new(Vec::new());
    let fetch = |n: &Need| {
        seen.borrow_mut().push(n.clone());
        let mut p = Prefetched::new();
        let keys =
            crate::auth::KeySet::from_fetched(json!({"keys": [jwk()]}).to_string().as_bytes(), 8)
                .expect("keys");
        p.put_jwks(JWKS.into(), Ok(Rc::new(keys)));
        p
    };
    let (_, up, _) = run_with(
        &d,
        "GET",
        "https://app.example.com/j",
        bearer.clone(),
        &fetch,
    )
    .call();
    assert_eq!(up.get("x-user").as_deref(), Some("u1"));
    assert_eq!(
        *seen.borrow(),
        vec![Need::Jwks {
            url: JWKS.into(),
            kid: Some("k1".into())
        }],
        "one need, asked once"
    );
    // Failed: 502 jwt_failed, through the cors response phase.
    let failing = |_: &Need| {
        let mut p = Prefetched::new();
        p.put_jwks(
            JWKS.into(),
            Err(NeedError::Jwks(crate::auth::jwks_cache::JwksError::Timeout)),
        );
        p
    };
    match run_with(
        &d,
        "GET",
        "https://app.example.com/j",
        bearer.clone(),
        &failing,
    ) {
        Outcome::Respond(r, Some(e)) => {
            assert_eq!(r.status, 502);
            assert_eq!(
                r.headers.get("x-portico-error").as_deref(),
                Some("jwt_failed")
            );
            assert_eq!(
                r.headers.get("access-control-allow-origin").as_deref(),
                Some("https://web.example")
            );
            assert!(e.should_log());
        }
        other => panic!("{other:?}"),
    }
    // Missing (the platform met nothing): fails closed, never skips verification.
    let r = run_with(&d, "GET", "https://app.example.com/j", bearer, &|_| {
        Prefetched::new()
    })
    .response();
    assert_eq!(r.status, 502);
    // No token: no need at all, 401.
    let r = run(
        &d,
        "GET",
        "https://app.example.com/j",
        host("app.example.com"),
    )
    .response();
    assert_eq!(r.status, 401);
}

#[test]
fn wildcard_hosts_plan_with_their_own_tenant() {
    let d = doc(json!([]));
    let r = run(
        &d,
        "GET",
        "https://x.wild.example/any",
        host("X.Wild.Example."),
    )
    .response();
    assert_eq!((r.status, r.body.as_str()), (200, "w"));
}

#[test]
fn unmet_rate_decision_is_never_read_as_allowed() {
    // The Prefetched API keeps decisions per limiter and key.
    let mut p = Prefetched::new();
    p.put_rate_limit("RL".into(), "k".into(), Ok(RateDecision::Limited));
    assert_eq!(p.rate_limit("RL", "k"), Some(&Ok(RateDecision::Limited)));
    assert_eq!(p.rate_limit("RL", "other"), None);
    assert_eq!(p.rate_limit("RL2", "k"), None);
}

fn limited_route(key: &str) -> Value {
    json!({"id": "rl", "match": {"path": "/rl"}, "handlers": [
        {"type": "cors", "options": {"origins": ["https://web.example"]}},
        {"type": "jwt", "options": {"jwks_url": JWKS}},
        {"type": "rate_limit", "options": {"limiter": "RL_STRICT", "key": key}},
        origin()
    ]})
}

/// Answers JWKS with the test keys and every limiter hit with `decision`,
/// recording the needs asked for, round by round.
fn limiter_io(
    decision: Result<RateDecision, NeedError>,
    seen: &std::cell::RefCell<Vec<Need>>,
) -> impl Fn(&Need) -> Prefetched + '_ {
    move |n: &Need| {
        seen.borrow_mut().push(n.clone());
        let mut p = Prefetched::new();
        match n {
            Need::Jwks { url, .. } => {
                let keys = crate::auth::KeySet::from_fetched(
                    json!({"keys": [jwk()]}).to_string().as_bytes(),
                    8,
                )
                .expect("keys");
                p.put_jwks(url.clone(), Ok(Rc::new(keys)));
            }
            Need::RateLimit { limiter, key } => {
                p.put_rate_limit(limiter.clone(), key.clone(), decision.clone());
            }
            Need::Credential { .. } => {}
        }
        p
    }
}

#[test]
fn claim_keys_wait_for_the_keys_then_count_once() {
    let d = doc(json!([limited_route("claim:sub")]));
    let t = token(json!({"sub": "u1"}));
    let req = host("app.example.com")
        .with("authorization", &format!("Bearer {t}"))
        .with("origin", "https://web.example");
    let seen = std::cell::RefCell::new(Vec::new());
    let io = limiter_io(Ok(RateDecision::Allowed), &seen);
    run_with(&d, "GET", "https://app.example.com/rl", req.clone(), &io).call();
    let needs = seen.borrow().clone();
    assert_eq!(needs.len(), 2, "{needs:?}");
    assert!(matches!(needs[0], Need::Jwks { .. }), "keys first");
    let Need::RateLimit { limiter, key } = &needs[1] else {
        panic!("{needs:?}");
    };
    assert_eq!(&**limiter, "RL_STRICT");
    assert!(key.starts_with("rl1/4:acme/2:rl/9:claim:sub/"), "{key}");
    // Another subject, another counter.
    seen.borrow_mut().clear();
    let t2 = token(json!({"sub": "u2"}));
    let req2 = host("app.example.com").with("authorization", &format!("Bearer {t2}"));
    run_with(&d, "GET", "https://app.example.com/rl", req2, &io).call();
    assert!(matches!(&seen.borrow()[1], Need::RateLimit { key: k2, .. } if k2 != key));
    // A token without the claim counts under the anonymous key.
    seen.borrow_mut().clear();
    let t3 = token(json!({"scope": "x"}));
    let req3 = host("app.example.com").with("authorization", &format!("Bearer {t3}"));
    run_with(&d, "GET", "https://app.example.com/rl", req3, &io).call();
    assert!(
        matches!(&seen.borrow()[1], Need::RateLimit { key, .. } if key.ends_with("/-")),
        "{:?}",
        seen.borrow()
    );
    // An invalid token: no hit is counted, and jwt answers 401 first.
    seen.borrow_mut().clear();
    let bad = host("app.example.com").with("authorization", "Bearer not.a.token");
    let r = run_with(&d, "GET", "https://app.example.com/rl", bad, &io).response();
    assert_eq!(r.status, 401);
    assert!(seen
        .borrow()
        .iter()
        .all(|n| !matches!(n, Need::RateLimit { .. })));
}

#[test]
fn over_the_limit_is_429_through_the_response_phase() {
    let d = doc(json!([limited_route("ip")]));
    let t = token(json!({"sub": "u1"}));
    let req = host("app.example.com")
        .with("authorization", &format!("Bearer {t}"))
        .with("cf-connecting-ip", "192.0.2.1")
        .with("origin", "https://web.example");
    let seen = std::cell::RefCell::new(Vec::new());
    let io = limiter_io(Ok(RateDecision::Limited), &seen);
    match run_with(&d, "GET", "https://app.example.com/rl", req.clone(), &io) {
        Outcome::Respond(r, Some(e)) => {
            assert_eq!(r.status, 429);
            assert_eq!(r.headers.get("retry-after").as_deref(), Some("10"));
            assert_eq!(
                r.headers.get("x-portico-error").as_deref(),
                Some("rate_limited")
            );
            assert_eq!(
                r.headers.get("access-control-allow-origin").as_deref(),
                Some("https://web.example"),
                "cors ran over the 429"
            );
            assert!(!e.should_log());
        }
        other => panic!("{other:?}"),
    }
    // The ip hit and the keys are asked together, in one round.
    assert_eq!(seen.borrow().len(), 2);
    // A failing limiter lets requests through (fail open).
    let io = limiter_io(Err(NeedError::RateLimiter("down".into())), &seen);
    run_with(&d, "GET", "https://app.example.com/rl", req.clone(), &io).call();
    // Allowed: the call goes out.
    let io = limiter_io(Ok(RateDecision::Allowed), &seen);
    run_with(&d, "GET", "https://app.example.com/rl", req, &io).call();
}

#[test]
fn a_static_response_phase_is_planned_as_edits_equal_to_running_it() {
    let d = doc(json!([
        route(
            "/s",
            json!([
                {"type": "cors", "options": {"origins": ["https://web.example"]}},
                {"type": "headers", "options": {"response": {"x-r": "1"}, "remove_response": ["server"]}},
                origin()
            ])
        ),
        route(
            "/c",
            json!([{"type": "cache", "options": {"ttl_seconds": 5}}, origin()])
        ),
        route(
            "/k",
            json!([{"type": "headers", "options": {"response": {"set-cookie": "a=1"}}}, origin()])
        ),
    ]));
    let req = host("app.example.com").with("origin", "https://web.example");
    let (_, _, after) = run(&d, "GET", "https://app.example.com/s", req.clone()).call();
    let edits = after
        .static_response_edits()
        .expect("cors + headers are static");
    for upstream in [
        HeaderList::new().with("server", "x"),
        HeaderList::new().with("vary", "Accept").with("x-r", "0"),
        HeaderList::new().with("vary", "origin"),
    ] {
        let mut ran = upstream.clone();
        after.on_response(200, &mut ran);
        let mut applied = upstream.clone();
        crate::header_edits::apply(&edits, &mut applied);
        assert_eq!(applied, ran, "{upstream:?}");
    }
    let (_, _, cache) = run(&d, "GET", "https://app.example.com/c", req.clone()).call();
    assert!(
        cache.static_response_edits().is_none(),
        "cache reads the status"
    );
    let (_, _, cookie) = run(&d, "GET", "https://app.example.com/k", req).call();
    assert!(
        cookie.static_response_edits().is_none(),
        "a Set-Cookie edit needs confinement after it"
    );
}

mod credentials;
