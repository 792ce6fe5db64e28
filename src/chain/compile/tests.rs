use super::*;
use crate::config::route::{compile_route, Route};
use crate::routing::limits::RouteLimits;
use crate::routing::table::TableRoute;
use serde_json::json;

struct Env;
impl Bindings for Env {
    fn has_service(&self, name: &str) -> bool {
        name == "EXAMPLE_SERVICE"
    }
    fn has_dispatch_namespace(&self, name: &str) -> bool {
        name == "DISPATCHER"
    }
    fn rate_limiter_period(&self, name: &str) -> Option<u32> {
        match name {
            "RL_STANDARD" => Some(60),
            "RL_STRICT" => Some(10),
            _ => None,
        }
    }
}

fn compile(route: &serde_json::Value, d: &mut Diagnostics) -> Option<TableRoute<Route>> {
    compile_route(route, "", Some(&Env), &RouteLimits::default(), d)
}

fn errors(route: serde_json::Value) -> Vec<String> {
    let mut d = Diagnostics::new();
    let r = compile(&route, &mut d);
    let errs: Vec<String> = d.into_errors().0.into_iter().map(|e| e.path).collect();
    assert_eq!(
        r.is_some(),
        errs.is_empty(),
        "compile result and errors disagree for {route}"
    );
    errs
}

fn ok(route: serde_json::Value) -> Chain {
    let mut d = Diagnostics::new();
    let r = compile(&route, &mut d);
    assert!(
        d.is_empty(),
        "unexpected errors for {route}: {:?}",
        d.into_errors()
    );
    r.expect("valid route").payload.chain
}

const HTTP: &str = "http://127.0.0.1:9001/";

#[test]
fn forwarded_headers_is_inserted_once_at_the_front() {
    let c = ok(
        json!({ "handlers": [{ "type": "cors" }, { "type": "http", "options": { "upstream_url": HTTP } }] }),
    );
    let names: Vec<_> = c.middleware.iter().map(Middleware::type_name).collect();
    assert_eq!(names, vec!["forwarded_headers", "cors"]);
    let c = ok(json!({ "handlers": [
        { "type": "cors" },
        { "type": "forwarded_headers", "options": { "set_x_real_ip": false } },
        { "type": "http", "options": { "upstream_url": HTTP } }
    ] }));
    let names: Vec<_> = c.middleware.iter().map(Middleware::type_name).collect();
    assert_eq!(
        names,
        vec!["cors", "forwarded_headers"],
        "an explicit one keeps its place"
    );
}

#[test]
fn rewrite_handlers_infer_their_upstream() {
    let c = ok(json!({ "handlers": [
        { "type": "rewrite_cookies" },
        { "type": "rewrite_location" },
        { "type": "http", "options": { "upstream_url": "https://Origin.Example.com:443/base" } }
    ] }));
    match (&c.middleware[1], &c.middleware[2]) {
        (Middleware::RewriteCookies(rc), Middleware::RewriteLocation(rl)) => {
            assert_eq!(rc.upstream_host, "origin.example.com");
            assert_eq!(rl.upstream_origin, "https://origin.example.com");
        }
        other => panic!("unexpected chain {other:?}"),
    }
}

/// A corpus of malformed routes: each is refused, naming the offending field.
#[test]
fn malformed_routes_are_refused_with_field_paths() {
    let http = json!({ "type": "http", "options": { "upstream_url": HTTP } });
    let cases: Vec<(serde_json::Value, Vec<&str>)> = vec![
        (json!({}), vec!["handlers"]),
        (json!({ "handlers": [] }), vec!["handlers"]),
        (json!({ "handlers": {} }), vec!["handlers"]),
        (
            json!({ "handlers": [{ "type": "cors" }] }),
            vec!["handlers[0].type"],
        ),
        (
            json!({ "handlers": [http.clone(), { "type": "cors" }] }),
            vec!["handlers[0].type", "handlers[1].type"],
        ),
        (
            json!({ "handlers": [{ "type": "nope" }] }),
            vec!["handlers[0].type"],
        ),
        (
            json!({ "handlers": [{ "options": {} }] }),
            vec!["handlers[0].type"],
        ),
        (
            json!({ "handlers": [{ "type": 7 }] }),
            vec!["handlers[0].type"],
        ),
        (
            json!({ "handlers": [{ "type": "http", "options": { "upstream_url": HTTP }, "extra": 1 }] }),
            vec!["handlers[0].extra"],
        ),
        (
            json!({ "handlers": [{ "type": "http", "options": { "upstream_url": HTTP, "timeout": 5 } }] }),
            vec!["handlers[0].options.timeout"],
        ),
        (
            json!({ "handlers": [{ "type": "http", "options": { "upstream_url": "ftp://x.com/" } }] }),
            vec!["handlers[0].options.upstream_url"],
        ),
        (
            json!({ "handlers": [{ "type": "http", "options": { "upstream_url": "not a url" } }] }),
            vec!["handlers[0].options.upstream_url"],
        ),
        (
            json!({ "handlers": [{ "type": "http", "options": {} }] }),
            vec!["handlers[0].options.upstream_url"],
        ),
        (
            json!({ "handlers": [{ "type": "http", "options": { "upstream_url": HTTP, "preserve_host": "yes" } }] }),
            vec!["handlers[0].options.preserve_host"],
        ),
        (
            json!({ "handlers": [{ "type": "http", "options": { "upstream_url": HTTP, "timeout_ms": -5 } }] }),
            vec!["handlers[0].options.timeout_ms"],
        ),
        (
            json!({ "handlers": [{ "type": "cors", "options": { "origins": ["*"], "allow_credentials": true } }, http.clone()] }),
            vec!["handlers[0].options.allow_credentials"],
        ),
        (
            json!({ "handlers": [{ "type": "cors", "options": { "origins": ["https://ok.com", "nope"] } }, http.clone()] }),
            vec!["handlers[0].options.origins[1]"],
        ),
        (
            json!({ "handlers": [{ "type": "cors", "options": { "origins": "*" } }, http.clone()] }),
            vec!["handlers[0].options.origins"],
        ),
        (
            json!({ "handlers": [{ "type": "basic_auth", "options": { "username": "u" } }, http.clone()] }),
            vec!["handlers[0].options.password"],
        ),
        (
            json!({ "handlers": [{ "type": "cache", "options": { "ttl_seconds": 0 } }, http.clone()] }),
            vec!["handlers[0].options.ttl_seconds"],
        ),
        (
            json!({ "handlers": [{ "type": "cache" }, http.clone()] }),
            vec!["handlers[0].options.ttl_seconds"],
        ),
        (
            json!({ "handlers": [{ "type": "headers", "options": { "request": { "bad header": "x" } } }, http.clone()] }),
            vec!["handlers[0].options.request.bad header"],
        ),
        (
            json!({ "handlers": [{ "type": "rewrite_cookies" }, { "type": "static" }] }),
            vec!["handlers[0].options.upstream_host"],
        ),
        (
            json!({ "handlers": [{ "type": "rewrite_location", "options": { "upstream_origin": "https://a.com/path" } }, http.clone()] }),
            vec!["handlers[0].options.upstream_origin"],
        ),
        (
            json!({ "handlers": [{ "type": "redirect", "options": { "upstream_url": "https://a.com", "status": 200 } }] }),
            vec!["handlers[0].options.status"],
        ),
        (
            json!({ "handlers": [{ "type": "redirect", "options": { "upstream_url": "https://a.com", "status": "302" } }] }),
            vec!["handlers[0].options.status"],
        ),
        (
            json!({ "handlers": [{ "type": "static", "options": { "status": 700 } }] }),
            vec!["handlers[0].options.status"],
        ),
        (
            json!({ "handlers": [{ "type": "service_binding", "options": { "binding": "MISSING" } }] }),
            vec!["handlers[0].options.binding"],
        ),
        (
            json!({ "handlers": [{ "type": "dispatch_namespace", "options": { "binding": "DISPATCHER", "script_name": "{nope}" } }] }),
            vec!["handlers[0].options.script_name"],
        ),
        (
            json!({ "handlers": [{ "type": "dispatch_namespace", "options": { "binding": "OTHER", "script_name": "x" } }] }),
            vec!["handlers[0].options.binding"],
        ),
        (
            json!({ "handlers": [{ "type": "jwt" }, http.clone()] }),
            vec!["handlers[0].options.jwks_url"],
        ),
        (
            json!({ "handlers": [{ "type": "rate_limit" }, http.clone()] }),
            vec!["handlers[0].options.limiter"],
        ),
        (
            json!({ "handlers": [{ "type": "credentials" }, http.clone()] }),
            vec!["handlers[0].options.connection_id"],
        ),
        (
            json!({ "handlers": [{ "type": "rate_limit", "options": { "limiter": "RL_NOPE" } }, http.clone()] }),
            vec!["handlers[0].options.limiter"],
        ),
        (
            json!({ "handlers": [{ "type": "rate_limit", "options": { "limiter": "RL_STRICT", "key": "cookie:x" } }, http.clone()] }),
            vec!["handlers[0].options.key"],
        ),
        (
            json!({ "handlers": [{ "type": "rate_limit", "options": { "limiter": "RL_STRICT", "key": "claim:sub" } }, http.clone()] }),
            vec!["handlers[0].options.key"],
        ),
        (
            json!({ "handlers": [
                { "type": "cors" },
                { "type": "rate_limit", "options": { "limiter": "RL_STRICT", "key": "claim:sub" } },
                { "type": "jwt", "options": { "jwks_url": "https://idp.example/jwks" } },
                http.clone()
            ] }),
            vec!["handlers[1].options.key"],
        ),
        (
            json!({ "match": { "path": "no-slash" }, "handlers": [http.clone()] }),
            vec!["match.path"],
        ),
        (
            json!({ "match": { "path": "/post/:id{[0-9+}" }, "handlers": [http.clone()] }),
            vec!["match.path"],
        ),
        (
            json!({ "match": { "headers": { "x-a": "(" } }, "handlers": [http.clone()] }),
            vec!["match.headers.x-a"],
        ),
        (
            json!({ "match": { "query": { "q": "[" } }, "handlers": [http.clone()] }),
            vec!["match.query.q"],
        ),
        (
            json!({ "match": { "hosts": ["*.*.com"] }, "handlers": [http.clone()] }),
            vec!["match.hosts[0]"],
        ),
        (
            json!({ "match": { "methods": ["GET", "BAD METHOD"] }, "handlers": [http.clone()] }),
            vec!["match.methods[1]"],
        ),
        (
            json!({ "match": { "pathx": "/" }, "handlers": [http.clone()] }),
            vec!["match.pathx"],
        ),
        (
            json!({ "priority": "high", "handlers": [http.clone()] }),
            vec!["priority"],
        ),
        (
            json!({ "handlers": [http.clone()], "name": "extra" }),
            vec!["name"],
        ),
    ];
    assert!(cases.len() >= 30);
    for (route, want) in cases {
        assert_eq!(errors(route.clone()), want, "route {route}");
    }
}

#[test]
fn every_error_is_reported_in_one_pass() {
    let route = json!({
        "match": { "path": "bad", "headers": { "x": "(" } },
        "handlers": [
            { "type": "cors", "options": { "origins": ["nope"], "bogus": 1 } },
            { "type": "unknown" },
            { "type": "http", "options": { "upstream_url": "ftp://x" } }
        ]
    });
    assert_eq!(
        errors(route),
        vec![
            "match.path",
            "match.headers.x",
            "handlers[0].options.origins[0]",
            "handlers[0].options.bogus",
            "handlers[1].type",
            "handlers[2].options.upstream_url",
        ]
    );
}

mod custom_handlers {
    use super::*;
    use crate::chain::custom::{register_handler, CustomHandler, RegisterError};
    use crate::chain::{Flow, RequestCx, RequestState};
    use crate::message::{HeaderAccess, HeaderList, SimpleResponse};
    use std::rc::Rc;

    struct Teapot;
    impl CustomHandler for Teapot {
        fn type_name(&self) -> &'static str {
            "teapot"
        }
        fn is_terminal(&self) -> bool {
            true
        }
        fn on_request(&self, _cx: &RequestCx<'_>, _h: &mut dyn HeaderAccess) -> Flow {
            Flow::Respond(SimpleResponse::text(418, "I'm a teapot"))
        }
    }

    struct Stamp(String);
    impl CustomHandler for Stamp {
        fn type_name(&self) -> &'static str {
            "stamp"
        }
        fn is_terminal(&self) -> bool {
            false
        }
        fn on_request(&self, _cx: &RequestCx<'_>, h: &mut dyn HeaderAccess) -> Flow {
            h.set("x-stamp", &self.0);
            Flow::Continue
        }
    }

    fn teapot(
        _: Option<&serde_json::Value>,
        _: &str,
        _: &mut Diagnostics,
    ) -> Option<Rc<dyn CustomHandler>> {
        Some(Rc::new(Teapot))
    }

    fn stamp(
        opts: Option<&serde_json::Value>,
        path: &str,
        d: &mut Diagnostics,
    ) -> Option<Rc<dyn CustomHandler>> {
        let mut f = Fields::new(opts, path, d);
        let v = f.required_string("value", d).map(str::to_string);
        f.finish(d);
        v.map(|v| Rc::new(Stamp(v)) as Rc<dyn CustomHandler>)
    }

    #[test]
    fn registered_types_compile_and_run() {
        assert_eq!(
            register_handler("http", teapot),
            Err(RegisterError::BuiltIn("http"))
        );
        register_handler("teapot", teapot).expect("register");
        register_handler("stamp", stamp).expect("register");
        assert_eq!(
            register_handler("teapot", teapot),
            Err(RegisterError::Duplicate("teapot"))
        );
        let chain = ok(
            json!({ "handlers": [{ "type": "stamp", "options": { "value": "v1" } }, { "type": "teapot" }] }),
        );
        let cx = crate::request::testing::cx();
        let mut h = HeaderList::new();
        let out = chain.on_request(&cx, &mut RequestState::default(), &mut h);
        assert!(out.early.is_none());
        assert_eq!(h.get("x-stamp").as_deref(), Some("v1"));
        match chain.terminal.plan(&cx, &mut h) {
            Ok(crate::chain::TerminalPlan::Respond(r)) => assert_eq!(r.status, 418),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            errors(json!({ "handlers": [{ "type": "stamp" }, { "type": "teapot" }] })),
            vec!["handlers[0].options.value"]
        );
    }
}

#[test]
fn rate_limit_compiles_and_claim_keys_take_the_jwt_before() {
    let jwt = json!({ "type": "jwt", "options": { "jwks_url": "https://idp.example/jwks" } });
    let c = ok(json!({ "id": "r9", "handlers": [
        { "type": "cors" },
        jwt,
        { "type": "rate_limit", "options": { "limiter": "RL_STANDARD", "key": "claim:sub" } },
        { "type": "rate_limit", "options": { "limiter": "RL_STRICT" } },
        { "type": "http", "options": { "upstream_url": HTTP } }
    ] }));
    let names: Vec<_> = c.middleware.iter().map(Middleware::type_name).collect();
    assert_eq!(
        names,
        vec![
            "forwarded_headers",
            "cors",
            "jwt",
            "rate_limit",
            "rate_limit"
        ]
    );
    assert!(!c.middleware[3].touches_response());
}

#[test]
fn routes_without_an_id_are_named_by_their_match_in_counter_keys() {
    use crate::message::HeaderList;
    use crate::request::testing::cx;
    let key = |route: serde_json::Value| -> String {
        let c = ok(route);
        let Some(Middleware::RateLimit(rl)) = c.middleware.last() else {
            panic!("rate_limit last");
        };
        match rl.need(&cx(), &HeaderList::new()) {
            Some(crate::request::Need::RateLimit { key, .. }) => key,
            other => panic!("{other:?}"),
        }
    };
    let handlers = json!([
        { "type": "rate_limit", "options": { "limiter": "RL_STRICT", "key": "route" } },
        { "type": "http", "options": { "upstream_url": HTTP } }
    ]);
    let with_id = key(json!({ "id": "api", "match": { "path": "/a/*" }, "handlers": handlers }));
    assert_eq!(with_id, "rl1/4:acme/3:api/5:route/*");
    let a = key(json!({ "match": { "path": "/a/*" }, "handlers": handlers }));
    let a_again = key(json!({ "priority": 5, "match": { "path": "/a/*" }, "handlers": handlers }));
    let b = key(json!({ "match": { "path": "/b/*" }, "handlers": handlers }));
    assert_eq!(a, a_again, "stable for the same match");
    assert_ne!(a, b);
    assert!(a.starts_with("rl1/4:acme/17:#"), "{a}");
}
