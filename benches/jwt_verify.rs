//! Token verification cost (signature + exp/nbf/iss/aud + claims) for the algorithms
//! Portico accepts, as the management API and the `jwt` handler run it.
//! Run: `cargo bench --bench jwt_verify`.
#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmExt, Claims, Header};
use portico::auth::token_cache::TokenCache;
use portico::auth::{verify, KeySet, VerifyPolicy};
use portico::config::Diagnostics;
use serde_json::{json, Map, Value};
use std::rc::Rc;

const NOW: i64 = 1_800_000_000;

fn claims() -> Claims<Map<String, Value>> {
    let v = json!({"iss":"https://issuer.test","aud":"portico-api","sub":"user-1","scope":"routes:read routes:write","tenant_id":"acme"});
    let mut c = Claims::new(v.as_object().cloned().unwrap_or_default());
    c.expiration = chrono::DateTime::from_timestamp(NOW + 300, 0);
    c
}

fn keyset(jwk: Value) -> KeySet {
    let mut d = Diagnostics::new();
    KeySet::from_config(&json!([jwk]), "k", &mut d).unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let policy = VerifyPolicy {
        issuer: Some("https://issuer.test".into()),
        audiences: vec!["portico-api".into()],
        leeway_seconds: 30,
    };
    let header = Header::empty().with_key_id("k");

    let ed = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([3; 32]));
    let mut jwk = serde_json::to_value(JsonWebKey::from(&ed.pk)).unwrap_or_default();
    jwk["kid"] = json!("k");
    let ed_keys = keyset(jwk);
    let ed_token = Ed25519
        .token(&header, &claims(), &ed.sk)
        .unwrap_or_default();

    let es_sk = <Es256 as Algorithm>::SigningKey::from_slice(&[7u8; 32]).ok();
    let (es_keys, es_token) = match es_sk {
        Some(sk) => {
            let vk = *sk.verifying_key();
            let mut jwk = serde_json::to_value(JsonWebKey::from(&vk)).unwrap_or_default();
            jwk["kid"] = json!("k");
            (
                keyset(jwk),
                Es256.token(&header, &claims(), &sk).unwrap_or_default(),
            )
        }
        None => (KeySet::default(), String::new()),
    };

    let mut hs_keys = KeySet::default();
    hs_keys.push_hmac(b"bench-secret-bench-secret");
    let hs_token = Hs256
        .token(
            &Header::empty(),
            &claims(),
            &Hs256Key::new(b"bench-secret-bench-secret"),
        )
        .unwrap_or_default();

    let mut g = c.benchmark_group("jwt_verify");
    for (name, keys, token) in [
        // (each row: a full verification, as for a token seen for the first time)
        ("EdDSA", &ed_keys, &ed_token),
        ("ES256", &es_keys, &es_token),
        ("HS256", &hs_keys, &hs_token),
    ] {
        assert!(
            verify(token, keys, &policy, NOW).is_ok(),
            "{name} token must verify"
        );
        g.bench_function(name, |b| {
            b.iter(|| verify(black_box(token), keys, &policy, NOW))
        });
    }
    // The `jwt` handler's path for a token it has seen before: SHA-256 + lookup.
    let es_keys = Rc::new(es_keys);
    let mut cache = TokenCache::new(512);
    assert!(cache.verify(&es_token, &es_keys, &policy, NOW).is_ok());
    g.bench_function("ES256 cached", |b| {
        b.iter(|| cache.verify(black_box(&es_token), &es_keys, &policy, NOW))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
