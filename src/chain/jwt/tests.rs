use super::*;
use crate::message::HeaderList;
use crate::request::testing::{cx, cx_with};
use crate::request::{Need, NeedError, Prefetched, RequestCx};
use jwt_compact::alg::Ed25519;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use serde_json::{json, Map};
use std::rc::Rc;

const NOW: i64 = 1_800_000_000;

fn secret() -> <Ed25519 as jwt_compact::Algorithm>::SigningKey {
    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([9; 32])).sk
}

fn public_jwk() -> Value {
    let pk = secret().public_key();
    let mut v = serde_json::to_value(JsonWebKey::from(&pk)).expect("jwk");
    v["kid"] = json!("k");
    v
}

fn token(claims: Value, exp: i64) -> String {
    let map: Map<String, Value> = claims.as_object().cloned().unwrap_or_default();
    let mut c = Claims::new(map);
    c.expiration = chrono::DateTime::from_timestamp(exp, 0);
    Ed25519
        .token(&Header::empty().with_key_id("k"), &c, &secret())
        .expect("sign")
}

fn compile(opts: Value) -> Result<Jwt, Vec<String>> {
    let mut d = Diagnostics::new();
    let mut f = Fields::new(Some(&opts), "options", &mut d);
    let j = Jwt::compile(&mut f, &mut d);
    f.finish(&mut d);
    match j {
        Some(j) if d.is_empty() => Ok(j),
        _ => Err(d.into_errors().0.into_iter().map(|e| e.path).collect()),
    }
}

fn run(j: &Jwt, headers: &mut HeaderList) -> Option<SimpleResponse> {
    run_with(j, &cx(), headers)
}

fn run_with(j: &Jwt, cx: &RequestCx<'_>, headers: &mut HeaderList) -> Option<SimpleResponse> {
    match j.on_request(cx, headers) {
        Flow::Continue => None,
        Flow::Respond(r) => Some(r),
        Flow::Fail(e) => Some(e.to_response()),
    }
}

#[test]
fn verifies_forwards_claims_and_strips_forgeries() {
    let j = compile(json!({
        "keys": [public_jwk()], "issuer": "iss", "audience": ["api"],
        "required_scopes": ["read"], "tenant_claim": "tenant_id",
        "forward_claims": {"sub": "X-User-Id", "scope": "x-scopes"}
    }))
    .expect("compiles");
    let good = token(
        json!({"iss":"iss","aud":"api","sub":"u1","scope":"read write","tenant_id":"acme"}),
        NOW + 60,
    );
    let mut h = HeaderList::new()
        .with("authorization", &format!("Bearer {good}"))
        .with("x-user-id", "forged")
        .with("X_User_Id", "forged-underscore")
        .with("x_scopes", "admin");
    assert!(run(&j, &mut h).is_none());
    assert_eq!(h.get("x-user-id").as_deref(), Some("u1"));
    assert_eq!(h.get("x_user_id"), None, "underscore spelling stripped");
    assert_eq!(h.get("x_scopes"), None);
    assert_eq!(h.get("x-scopes").as_deref(), Some("read write"));

    // A token without `sub` still loses the forged header.
    let no_sub = token(
        json!({"iss":"iss","aud":"api","scope":"read","tenant_id":"acme"}),
        NOW + 60,
    );
    let mut h = HeaderList::new()
        .with("authorization", &format!("Bearer {no_sub}"))
        .with("x-user-id", "forged");
    assert!(run(&j, &mut h).is_none());
    assert_eq!(h.get("x-user-id"), None);
}

#[test]
fn refusals() {
    let j = compile(json!({"keys": [public_jwk()], "required_scopes": ["read"], "tenant_claim": "tenant_id", "leeway_seconds": 0}))
        .expect("compiles");
    let status =
        |h: &mut HeaderList| run(&j, h).map(|r| (r.status, r.headers.get("www-authenticate")));
    assert_eq!(
        status(&mut HeaderList::new()),
        Some((401, Some("Bearer".into())))
    );
    let expired = token(json!({"scope":"read","tenant_id":"acme"}), NOW - 1);
    assert_eq!(
        status(&mut HeaderList::new().with("authorization", &format!("Bearer {expired}"))),
        Some((401, Some("Bearer error=\"invalid_token\"".into())))
    );
    let no_scope = token(json!({"scope":"other","tenant_id":"acme"}), NOW + 60);
    assert_eq!(
        status(&mut HeaderList::new().with("authorization", &format!("Bearer {no_scope}")))
            .map(|s| s.0),
        Some(403)
    );
    let other_tenant = token(json!({"scope":"read","tenant_id":"globex"}), NOW + 60);
    assert_eq!(
        status(&mut HeaderList::new().with("authorization", &format!("Bearer {other_tenant}")))
            .map(|s| s.0),
        Some(403)
    );
}

#[test]
fn cookie_source_and_jwks_failures() {
    let j = compile(json!({"keys": [public_jwk()], "cookie": "session"})).expect("compiles");
    let t = token(json!({}), NOW + 60);
    let mut h = HeaderList::new().with("cookie", &format!("a=b; session={t}"));
    assert!(run(&j, &mut h).is_none());
    let mut h = HeaderList::new().with("cookie", &format!("other={t}"));
    assert_eq!(run(&j, &mut h).map(|r| r.status), Some(401));

    // A JWKS URL is a need (with the token's kid); unmet or failed: 502 jwt_failed.
    let j = compile(json!({"jwks_url": "https://idp.example/jwks.json"})).expect("compiles");
    let mut h = HeaderList::new().with("authorization", &format!("Bearer {t}"));
    assert_eq!(
        j.need(&cx(), &h),
        Some(Need::Jwks {
            url: "https://idp.example/jwks.json".into(),
            kid: crate::auth::token_kid(&t),
        })
    );
    assert_eq!(
        j.need(&cx(), &HeaderList::new()),
        None,
        "no token, no fetch"
    );
    let r = run(&j, &mut h).expect("answers");
    assert_eq!(
        (r.status, r.headers.get("x-portico-error").as_deref()),
        (502, Some("jwt_failed"))
    );
    let mut failed = Prefetched::new();
    failed.put_jwks(
        "https://idp.example/jwks.json".into(),
        Err(NeedError::Jwks(crate::auth::jwks_cache::JwksError::Timeout)),
    );
    let failed: &'static Prefetched = Box::leak(Box::new(failed));
    let r = run_with(&j, &cx_with(failed), &mut h).expect("answers");
    assert_eq!(r.status, 502);
    // Fetched keys are used.
    let mut good = Prefetched::new();
    let keys = crate::auth::KeySet::from_fetched(
        json!({"keys": [public_jwk()]}).to_string().as_bytes(),
        16,
    )
    .expect("keys");
    good.put_jwks("https://idp.example/jwks.json".into(), Ok(Rc::new(keys)));
    let good: &'static Prefetched = Box::leak(Box::new(good));
    assert!(run_with(&j, &cx_with(good), &mut h).is_none());
}

#[test]
fn option_errors_have_paths() {
    let cases = [
        (json!({}), vec!["options.jwks_url"]),
        (
            json!({"jwks_url": "https://a/j", "keys": [public_jwk()]}),
            vec!["options.keys"],
        ),
        (
            json!({"jwks_url": "http://idp.example/j"}),
            vec!["options.jwks_url"],
        ),
        (
            json!({"keys": [{"kty":"oct","k":"c2VjcmV0"}]}),
            vec!["options.keys[0]"],
        ),
        (
            json!({"keys": [public_jwk()], "leeway_seconds": 61}),
            vec!["options.leeway_seconds"],
        ),
        (
            json!({"keys": [public_jwk()], "forward_claims": {"sub": "bad header"}}),
            vec!["options.forward_claims.sub"],
        ),
        (
            json!({"keys": [public_jwk()], "audience": 5, "nope": 1}),
            vec!["options.audience", "options.nope"],
        ),
    ];
    for (opts, want) in cases {
        assert_eq!(
            compile(opts.clone()).err(),
            Some(want.iter().map(|s| s.to_string()).collect()),
            "{opts}"
        );
    }
    assert!(valid_jwks_url("http://127.0.0.1:9/jwks.json"));
    assert!(valid_jwks_url("http://[::1]:9/jwks.json"));
    assert!(!valid_jwks_url("http://localhost.evil.com/jwks.json"));
}
