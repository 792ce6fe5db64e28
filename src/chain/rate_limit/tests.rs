use super::*;
use crate::message::HeaderList;
use crate::request::testing::{cx, cx_with};
use crate::request::Prefetched;
use serde_json::{json, Value};

struct Env;
impl Bindings for Env {
    fn has_service(&self, _: &str) -> bool {
        false
    }
    fn has_dispatch_namespace(&self, _: &str) -> bool {
        false
    }
    fn rate_limiter_period(&self, name: &str) -> Option<u32> {
        (name == "RL_STRICT").then_some(10)
    }
}

fn compile_in(opts: Value, route: &str) -> Result<RateLimit, Vec<(String, String)>> {
    let mut d = Diagnostics::new();
    let mut f = Fields::new(Some(&opts), "options", &mut d);
    let r = RateLimit::compile(&mut f, Some(&Env), route, &mut d);
    f.finish(&mut d);
    match r {
        Some(r) if d.is_empty() => Ok(r.with_jwt(None)),
        _ => Err(d
            .into_errors()
            .0
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()),
    }
}

fn compile(opts: Value) -> RateLimit {
    compile_in(opts, "r1").expect("compiles")
}

fn key_of(rl: &RateLimit, cx: &RequestCx<'_>, h: &HeaderList) -> Option<String> {
    match rl.need(cx, h)? {
        Need::RateLimit { limiter, key } => {
            assert_eq!(&*limiter, "RL_STRICT");
            Some(key)
        }
        other @ (Need::Jwks { .. } | Need::Credential { .. }) => panic!("{other:?}"),
    }
}

#[test]
fn limiters_var_takes_name_and_period() {
    let (l, e) = parse_limiters(" RL_STANDARD:60, RL_STRICT:10 ,,");
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(
        l,
        vec![
            LimiterSpec {
                name: "RL_STANDARD".into(),
                period_s: 60
            },
            LimiterSpec {
                name: "RL_STRICT".into(),
                period_s: 10
            }
        ]
    );
    let (l, e) = parse_limiters("A:30,B,C:sixty,bad-name:60,D:10,D:60, :10");
    assert_eq!(
        l,
        vec![LimiterSpec {
            name: "D".into(),
            period_s: 10
        }]
    );
    assert_eq!(e.len(), 6, "{e:?}");
    assert!(parse_limiters("").0.is_empty());
}

#[test]
fn key_recipes_parse_or_name_the_field() {
    for (raw, want) in [
        ("ip", KeyRecipe::Ip),
        ("tenant", KeyRecipe::Tenant),
        ("route", KeyRecipe::Route),
        ("claim:sub", KeyRecipe::Claim("sub".into())),
        ("header:X-Api-Key", KeyRecipe::Header("x-api-key".into())),
    ] {
        assert_eq!(KeyRecipe::parse(raw), Ok(want), "{raw}");
    }
    let long = format!("claim:{}", "c".repeat(129));
    assert!(KeyRecipe::parse(&format!("claim:{}", "c".repeat(128))).is_ok());
    for bad in [
        "",
        "IP",
        "user",
        "claim:",
        "header:",
        "header:bad name",
        "cookie:x",
        long.as_str(),
    ] {
        assert!(KeyRecipe::parse(bad).is_err(), "{bad:?}");
        let errs =
            compile_in(json!({"limiter": "RL_STRICT", "key": bad}), "r1").expect_err("refused");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].0, "options.key", "{bad:?}");
    }
    let errs = compile_in(json!({"limiter": "RL_STRICT", "key": 5}), "r1").expect_err("refused");
    assert_eq!(errs[0].0, "options.key");
}

#[test]
fn limiter_must_be_one_the_deployment_offers() {
    let errs = compile_in(json!({"limiter": "RL_OTHER"}), "r1").expect_err("refused");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0, "options.limiter");
    assert!(errs[0].1.contains("PORTICO_RATE_LIMITERS"), "{}", errs[0].1);
    let errs = compile_in(json!({}), "r1").expect_err("refused");
    assert_eq!(errs[0].0, "options.limiter");
    let errs = compile_in(json!({"limiter": "RL_STRICT", "burst": 3}), "r1").expect_err("refused");
    assert_eq!(errs[0].0, "options.burst");
    // Without an environment (property runs) any name passes, counted per 60 s.
    let mut d = Diagnostics::new();
    let opts = json!({"limiter": "ANY"});
    let mut f = Fields::new(Some(&opts), "options", &mut d);
    let r = RateLimit::compile(&mut f, None, "r1", &mut d).expect("unchecked");
    assert_eq!(r.with_jwt(None).period_s, 60);
}

#[test]
fn each_recipe_keys_by_its_source_under_tenant_and_route() {
    let c = cx();
    let h = HeaderList::new()
        .with("cf-connecting-ip", "203.0.113.7")
        .with("x-api-key", "k-123");
    let ip = compile(json!({"limiter": "RL_STRICT", "key": "ip"}));
    let k = key_of(&ip, &c, &h).expect("need");
    assert!(k.starts_with("rl1/4:acme/2:r1/2:ip/"), "{k}");
    assert!(!k.contains("203.0.113.7"), "values are digested: {k}");
    // Default key is ip.
    assert_eq!(
        key_of(&compile(json!({"limiter": "RL_STRICT"})), &c, &h),
        Some(k.clone())
    );
    let other_ip = HeaderList::new().with("cf-connecting-ip", "203.0.113.8");
    assert_ne!(key_of(&ip, &c, &other_ip), Some(k));

    let header = compile(json!({"limiter": "RL_STRICT", "key": "header:X-Api-Key"}));
    let hk = key_of(&header, &c, &h).expect("need");
    assert!(
        hk.starts_with("rl1/4:acme/2:r1/16:header:x-api-key/"),
        "{hk}"
    );
    assert!(!hk.ends_with('-') && !hk.contains("k-123"));

    let tenant = compile(json!({"limiter": "RL_STRICT", "key": "tenant"}));
    assert_eq!(
        key_of(&tenant, &c, &h).as_deref(),
        Some("rl1/4:acme/2:r1/6:tenant/*")
    );
    let route = compile(json!({"limiter": "RL_STRICT", "key": "route"}));
    assert_eq!(
        key_of(&route, &c, &HeaderList::new()).as_deref(),
        Some("rl1/4:acme/2:r1/5:route/*")
    );
    // Another route id, another counter.
    let elsewhere =
        compile_in(json!({"limiter": "RL_STRICT", "key": "route"}), "r2").expect("compiles");
    assert_eq!(
        key_of(&elsewhere, &c, &h).as_deref(),
        Some("rl1/4:acme/2:r2/5:route/*")
    );
}

#[test]
fn a_missing_source_counts_under_one_anonymous_key() {
    let c = cx();
    let none = HeaderList::new();
    let ip = compile(json!({"limiter": "RL_STRICT", "key": "ip"}));
    let anon = "rl1/4:acme/2:r1/2:ip/-";
    assert_eq!(key_of(&ip, &c, &none).as_deref(), Some(anon));
    // Not an address: anonymous too (the edge always sets a real one).
    let junk = HeaderList::new().with("cf-connecting-ip", "not-an-ip");
    assert_eq!(key_of(&ip, &c, &junk).as_deref(), Some(anon));
    let header = compile(json!({"limiter": "RL_STRICT", "key": "header:x-api-key"}));
    let empty = HeaderList::new().with("x-api-key", "");
    assert_eq!(
        key_of(&header, &c, &empty).as_deref(),
        Some("rl1/4:acme/2:r1/16:header:x-api-key/-")
    );
    // A client sending "-" does not land in the anonymous counter.
    let dash = HeaderList::new().with("x-api-key", "-");
    assert!(!key_of(&header, &c, &dash).expect("need").ends_with("/-"));
}

#[test]
fn ipv6_clients_count_by_their_64() {
    let ip = compile(json!({"limiter": "RL_STRICT", "key": "ip"}));
    let c = cx();
    let a = HeaderList::new().with("cf-connecting-ip", "2001:db8:1:2:aaaa::1");
    let b = HeaderList::new().with("cf-connecting-ip", "2001:db8:1:2:ffff::9");
    let other = HeaderList::new().with("cf-connecting-ip", "2001:db8:1:3::1");
    assert_eq!(key_of(&ip, &c, &a), key_of(&ip, &c, &b));
    assert_ne!(key_of(&ip, &c, &a), key_of(&ip, &c, &other));
}

#[test]
fn tenants_never_share_a_counter_and_values_cannot_forge_a_prefix() {
    let header = compile(json!({"limiter": "RL_STRICT", "key": "header:x-k"}));
    let h = HeaderList::new().with("x-k", "same");
    let mut other = cx();
    other.tenant_id = "globex";
    let a = key_of(&header, &cx(), &h).expect("need");
    let b = key_of(&header, &other, &h).expect("need");
    assert_ne!(a, b);
    assert!(b.starts_with("rl1/6:globex/2:r1/"));

    // The separator attack: tenant `a` with route `b/1:c` and tenant `a/1:b` with
    // route `c` would read alike if parts were merely joined; the length prefixes
    // keep them apart, and a value can never carry a separator at all.
    assert_ne!(
        key_prefix("a", &route_scope("b/1:c", &KeyRecipe::Route)),
        key_prefix("a/1:b", &route_scope("c", &KeyRecipe::Route))
    );
    let tricky = route_scope("r1/2:ip/", &KeyRecipe::Ip);
    assert_ne!(
        key_prefix("acme", &tricky),
        key_prefix("acme", &route_scope("r1", &KeyRecipe::Ip))
    );
    let forged = HeaderList::new().with("x-k", "x/6:globex/2:r1/10:header:x-k/");
    let k = key_of(&header, &cx(), &forged).expect("need");
    let tail = k
        .strip_prefix("rl1/4:acme/2:r1/10:header:x-k/")
        .expect("own prefix");
    assert!(
        tail.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{tail}"
    );
    assert_eq!(tail.len(), 22);
}

#[test]
fn decisions_become_flows() {
    let rl = compile(json!({"limiter": "RL_STRICT", "key": "ip"}));
    let h = HeaderList::new().with("cf-connecting-ip", "198.51.100.1");
    let key = key_of(&rl, &cx(), &h).expect("need");
    let with = |d: Result<RateDecision, NeedError>| -> &'static Prefetched {
        let mut p = Prefetched::new();
        p.put_rate_limit("RL_STRICT".into(), key.clone(), d);
        Box::leak(Box::new(p))
    };
    assert!(matches!(
        rl.on_request(&cx_with(with(Ok(RateDecision::Allowed)))),
        Flow::Continue
    ));
    match rl.on_request(&cx_with(with(Ok(RateDecision::Limited)))) {
        Flow::Fail(e) => {
            assert_eq!(e, ProxyError::RateLimited { retry_after_s: 10 });
            let r = e.to_response();
            assert_eq!(r.status, 429);
            assert_eq!(r.headers.get("retry-after").as_deref(), Some("10"));
        }
        other => panic!("{other:?}"),
    }
    // The limiter failed (logged by the platform): fail open.
    assert!(matches!(
        rl.on_request(&cx_with(with(Err(NeedError::RateLimiter("down".into()))))),
        Flow::Continue
    ));
    // Never asked: fail closed.
    match rl.on_request(&cx()) {
        Flow::Fail(e) => assert_eq!(e.code().as_deref(), Some("rate_limit_failed")),
        other => panic!("{other:?}"),
    }
    // Another tenant's decision for the same route and recipe is not ours.
    let mut globex = cx_with(with(Ok(RateDecision::Limited)));
    globex.tenant_id = "globex";
    assert!(matches!(
        rl.on_request(&globex),
        Flow::Fail(ProxyError::HandlerFailed { .. })
    ));
}
