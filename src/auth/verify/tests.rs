use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jwt_compact::alg::Hs256Key;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::Header;
use serde_json::json;

const NOW: i64 = 1_800_000_000;

fn ed_secret(seed: u8) -> <Ed25519 as jwt_compact::Algorithm>::SigningKey {
    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([seed; 32])).sk
}

fn ed_keyset(seed: u8, kid: Option<&str>) -> KeySet {
    let sk = ed_secret(seed);
    let pk = sk.public_key();
    let jwk = JsonWebKey::from(&pk);
    let mut v = serde_json::to_value(&jwk).expect("jwk");
    if let Some(k) = kid {
        v["kid"] = json!(k);
    }
    let mut d = crate::config::Diagnostics::new();
    KeySet::from_config(&json!([v]), "k", &mut d).expect("keyset")
}

fn claims(extra: Value, exp: Option<i64>, nbf: Option<i64>) -> Claims<Map<String, Value>> {
    let map = match extra {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut c = Claims::new(map);
    c.expiration = exp.and_then(|e| DateTime::from_timestamp(e, 0));
    c.not_before = nbf.and_then(|e| DateTime::from_timestamp(e, 0));
    c
}

fn ed_token(seed: u8, kid: Option<&str>, c: &Claims<Map<String, Value>>) -> String {
    let mut h = Header::empty();
    if let Some(k) = kid {
        h = h.with_key_id(k);
    }
    Ed25519.token(&h, c, &ed_secret(seed)).expect("sign")
}

fn policy() -> VerifyPolicy {
    VerifyPolicy {
        issuer: Some("https://iss".into()),
        audiences: vec!["api".into()],
        leeway_seconds: 30,
    }
}

fn good() -> Claims<Map<String, Value>> {
    claims(
        json!({"iss":"https://iss","aud":"api","sub":"u","scope":"routes:read","tenant_id":"acme"}),
        Some(NOW + 60),
        None,
    )
}

#[test]
fn accepts_a_good_token_and_reads_claims() {
    let ks = ed_keyset(1, Some("k1"));
    let t = ed_token(1, Some("k1"), &good());
    let c = verify(&t, &ks, &policy(), NOW).expect("valid");
    assert_eq!(c.sub, "u");
    assert!(c.has_scope("routes:read"));
    assert_eq!(c.tenant.as_deref(), Some("acme"));
    // Without kid, keys pinned to the token's alg are tried.
    let t = ed_token(1, None, &good());
    assert!(verify(&t, &ks, &policy(), NOW).is_ok());
    assert_eq!(
        token_kid(&ed_token(1, Some("k1"), &good())).as_deref(),
        Some("k1")
    );
}

#[test]
fn time_checks_with_bounded_leeway() {
    let ks = ed_keyset(1, None);
    let p = policy();
    let base = json!({"iss":"https://iss","aud":"api"});
    let at = |exp, nbf| ed_token(1, None, &claims(base.clone(), exp, nbf));
    assert_eq!(
        verify(&at(None, None), &ks, &p, NOW).err(),
        Some(AuthError::NoExpiry)
    );
    assert_eq!(
        verify(&at(Some(NOW - 31), None), &ks, &p, NOW).err(),
        Some(AuthError::Expired)
    );
    assert!(
        verify(&at(Some(NOW - 20), None), &ks, &p, NOW).is_ok(),
        "within leeway"
    );
    assert_eq!(
        verify(&at(Some(NOW + 600), Some(NOW + 31)), &ks, &p, NOW).err(),
        Some(AuthError::NotYetValid)
    );
    assert!(verify(&at(Some(NOW + 600), Some(NOW + 20)), &ks, &p, NOW).is_ok());
    // A configured leeway above the cap is clamped to 60 s.
    let wide = VerifyPolicy {
        leeway_seconds: 3600,
        ..policy()
    };
    assert_eq!(
        verify(&at(Some(NOW - 61), None), &ks, &wide, NOW).err(),
        Some(AuthError::Expired)
    );
    assert!(verify(&at(Some(NOW - 59), None), &ks, &wide, NOW).is_ok());
}

#[test]
fn issuer_and_audience() {
    let ks = ed_keyset(1, None);
    let p = policy();
    let tok = |v| ed_token(1, None, &claims(v, Some(NOW + 60), None));
    assert_eq!(
        verify(
            &tok(json!({"iss":"https://other","aud":"api"})),
            &ks,
            &p,
            NOW
        )
        .err(),
        Some(AuthError::Issuer)
    );
    assert_eq!(
        verify(&tok(json!({"aud":"api"})), &ks, &p, NOW).err(),
        Some(AuthError::Issuer)
    );
    assert_eq!(
        verify(&tok(json!({"iss":"https://iss","aud":"web"})), &ks, &p, NOW).err(),
        Some(AuthError::Audience)
    );
    assert!(verify(
        &tok(json!({"iss":"https://iss","aud":["web","api"]})),
        &ks,
        &p,
        NOW
    )
    .is_ok());
    assert_eq!(
        verify(
            &tok(json!({"iss":"https://iss","aud":["web"]})),
            &ks,
            &p,
            NOW
        )
        .err(),
        Some(AuthError::Audience)
    );
}

#[test]
fn algorithm_attacks_are_refused() {
    let ks = ed_keyset(1, Some("k1"));
    let p = policy();
    let payload = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({"iss":"https://iss","aud":"api","exp":NOW+60})).expect("json"),
    );
    // alg none, with and without kid.
    for header in [json!({"alg":"none"}), json!({"alg":"none","kid":"k1"})] {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let t = format!("{h}.{payload}.");
        assert!(matches!(
            verify(&t, &ks, &p, NOW),
            Err(AuthError::Algorithm(_)) | Err(AuthError::Malformed)
        ));
    }
    // HS256 signed with the public key bytes as the secret (key confusion).
    let pk_bytes = ed_secret(1).public_key().to_vec();
    let hs = Hs256
        .token(
            &Header::empty().with_key_id("k1"),
            &good(),
            &Hs256Key::new(&pk_bytes),
        )
        .expect("sign");
    assert_eq!(
        verify(&hs, &ks, &p, NOW).err(),
        Some(AuthError::Algorithm("HS256".into()))
    );
    let hs = Hs256
        .token(&Header::empty(), &good(), &Hs256Key::new(&pk_bytes))
        .expect("sign");
    assert_eq!(
        verify(&hs, &ks, &p, NOW).err(),
        Some(AuthError::Algorithm("HS256".into()))
    );
    // Unknown kid, other key under the same kid, tampered payload.
    assert_eq!(
        verify(&ed_token(1, Some("k2"), &good()), &ks, &p, NOW).err(),
        Some(AuthError::UnknownKey)
    );
    assert_eq!(
        verify(&ed_token(2, Some("k1"), &good()), &ks, &p, NOW).err(),
        Some(AuthError::Signature)
    );
    let t = ed_token(1, Some("k1"), &good());
    let parts: Vec<&str> = t.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(
            &json!({"iss":"https://iss","aud":"api","exp":NOW+60,"scope":"tenants:write"}),
        )
        .expect("json"),
    );
    let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
    assert_eq!(
        verify(&tampered, &ks, &p, NOW).err(),
        Some(AuthError::Signature)
    );
    // Garbage.
    assert_eq!(
        verify("a.b", &ks, &p, NOW).err(),
        Some(AuthError::Malformed)
    );
    assert_eq!(verify("", &ks, &p, NOW).err(), Some(AuthError::Missing));
    assert_eq!(
        verify(&"x".repeat(20_000), &ks, &p, NOW).err(),
        Some(AuthError::Malformed)
    );
}

#[test]
fn hmac_works_only_when_the_key_is_added() {
    let mut ks = KeySet::default();
    let t = Hs256
        .token(
            &Header::empty(),
            &good(),
            &Hs256Key::new(b"dev-secret-dev-secret"),
        )
        .expect("sign");
    assert!(verify(&t, &ks, &policy(), NOW).is_err());
    ks.push_hmac(b"dev-secret-dev-secret");
    assert!(verify(&t, &ks, &policy(), NOW).is_ok());
    let other = Hs256
        .token(
            &Header::empty(),
            &good(),
            &Hs256Key::new(b"another-secret-value"),
        )
        .expect("sign");
    assert_eq!(
        verify(&other, &ks, &policy(), NOW).err(),
        Some(AuthError::Signature)
    );
}

#[test]
fn extreme_signed_times_never_panic() {
    // jwt-compact's own maturity check computes `nbf - leeway` unchecked; a validly
    // signed token with the earliest representable `nbf` used to panic the isolate.
    let ks = ed_keyset(1, None);
    let p = policy();
    let min = DateTime::<Utc>::MIN_UTC.timestamp();
    let max = DateTime::<Utc>::MAX_UTC.timestamp();
    let tok = |exp, nbf| {
        ed_token(
            1,
            None,
            &claims(json!({"iss":"https://iss","aud":"api"}), exp, nbf),
        )
    };
    assert!(verify(&tok(Some(max), Some(min)), &ks, &p, NOW).is_ok());
    assert_eq!(
        verify(&tok(Some(min), None), &ks, &p, NOW).err(),
        Some(AuthError::Expired)
    );
    assert_eq!(
        verify(&tok(Some(max), Some(max)), &ks, &p, NOW).err(),
        Some(AuthError::NotYetValid)
    );
    for now in [i64::MIN, i64::MAX, 0] {
        let _ = verify(&tok(Some(max), Some(min)), &ks, &p, now);
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,12}".prop_map(Value::from),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn claim_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("exp".to_string()),
            Just("nbf".to_string()),
            Just("iat".to_string()),
            Just("iss".to_string()),
            Just("aud".to_string()),
            Just("scope".to_string()),
            Just("tenant_id".to_string()),
            Just("org_id".to_string()),
            Just("sub".to_string()),
            "[a-z]{1,4}",
        ]
    }

    fn signed(payload: &Map<String, Value>) -> String {
        // Signed by hand so claim values the library would refuse to serialise
        // (times out of range, wrong types) still reach verification.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap_or_default());
        let input = format!("{header}.{body}");
        let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([1; 32]));
        let sig = kp.sk.sign(input.as_bytes(), None);
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    proptest! {
        #[test]
        fn prop_jwt_verify_total_over_signed_claims(
            claims in proptest::collection::btree_map(claim_name(), json_value(), 0..8),
            exp in prop_oneof![any::<i64>().prop_map(Value::from), any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)), json_leaf()],
            nbf in prop_oneof![any::<i64>().prop_map(Value::from), json_leaf()],
            now in any::<i64>(),
            leeway in any::<u32>(),
        ) {
            let mut map: Map<String, Value> = claims.into_iter().collect();
            map.insert("exp".into(), exp);
            map.insert("nbf".into(), nbf);
            let token = signed(&map);
            let p = VerifyPolicy { leeway_seconds: leeway, ..policy() };
            let ks = ed_keyset(1, None);
            if let Ok(v) = verify(&token, &ks, &p, now) {
                let _ = still_valid(&v, &p, now);
            }
        }

        #[test]
        fn prop_jwt_verify_total_over_any_token(token in ".{0,300}", now in any::<i64>()) {
            let ks = ed_keyset(1, Some("k1"));
            let _ = verify(&token, &ks, &policy(), now);
            let _ = token_kid(&token);
        }
    }
}
