//! Public keys from JWKs, each pinned to exactly one algorithm.

use crate::config::diag::{field, index, Diagnostics};
use jwt_compact::alg::{Ed25519, Es256, Hs256Key, RsaPublicKey, StrongKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::Algorithm;
use serde_json::Value;

/// A signature algorithm Portico accepts. `none` is not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA ≥ 2048 bits).
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
    /// HMAC SHA-256: development only, never from a JWK in config.
    Hs256,
}

impl Alg {
    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Hs256 => "HS256",
        }
    }
}

/// Key material for one algorithm.
#[derive(Clone)]
pub(crate) enum Material {
    Rs256(StrongKey<RsaPublicKey>),
    Es256(<Es256 as Algorithm>::VerifyingKey),
    EdDsa(<Ed25519 as Algorithm>::VerifyingKey),
    Hs256(Hs256Key),
}

/// One verification key with its pinned algorithm.
#[derive(Clone)]
pub struct Key {
    /// `kid`, when the JWK has one.
    pub kid: Option<String>,
    /// The only algorithm this key verifies.
    pub alg: Alg,
    pub(crate) material: Material,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material (HMAC secrets in particular).
        write!(f, "Key({:?}, {})", self.kid, self.alg.name())
    }
}

/// The keys one verifier trusts.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// Keys in the order they were given.
    pub keys: Vec<Key>,
}

impl KeySet {
    /// Whether any key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Adds an HMAC key (development mode only; the caller checks the flag).
    pub fn push_hmac(&mut self, secret: &[u8]) {
        self.keys.push(Key {
            kid: None,
            alg: Alg::Hs256,
            material: Material::Hs256(Hs256Key::new(secret)),
        });
    }

    /// Parses configured keys strictly: a JWKS object `{"keys":[...]}` or a list of
    /// JWKs. Every unusable key is an error at its path.
    pub fn from_config(value: &Value, path: &str, diags: &mut Diagnostics) -> Option<Self> {
        let (list, lpath) = match value {
            Value::Object(o) if o.contains_key("keys") => {
                (o.get("keys").unwrap_or(&Value::Null), field(path, "keys"))
            }
            Value::Array(_) => (value, path.to_string()),
            _ => {
                diags.error(
                    path,
                    "must be a JWKS object {\"keys\": [...]} or a list of JWKs",
                );
                return None;
            }
        };
        let Value::Array(items) = list else {
            diags.error(lpath, "must be a list of JWKs");
            return None;
        };
        if items.is_empty() {
            diags.error(lpath, "must list at least one key");
            return None;
        }
        let start = diags.len();
        let mut keys = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match parse_jwk(item) {
                Ok(k) => keys.push(k),
                Err(msg) => diags.error(index(&lpath, i), msg),
            }
        }
        (diags.len() == start).then_some(Self { keys })
    }

    /// Parses a fetched JWKS leniently: keys Portico cannot use (encryption keys,
    /// other curves) are skipped, as every JWKS consumer does. A set listing more
    /// than `max_keys` entries is refused whole: every key costs parsing and, for
    /// tokens without a `kid`, a signature check, and the URL may be a tenant's.
    pub fn from_fetched(body: &[u8], max_keys: usize) -> Result<Self, FetchedJwksError> {
        let v: Value = serde_json::from_slice(body).map_err(|_| FetchedJwksError::NotJson)?;
        let Some(Value::Array(items)) = v.get("keys") else {
            return Err(FetchedJwksError::NoKeyList);
        };
        if items.len() > max_keys {
            return Err(FetchedJwksError::TooManyKeys {
                count: items.len(),
                limit: max_keys,
            });
        }
        let keys = items.iter().filter_map(|k| parse_jwk(k).ok()).collect();
        Ok(Self { keys })
    }
}

/// Why a fetched JWKS body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchedJwksError {
    /// Not JSON (or not UTF-8).
    #[error("the JWKS is not JSON")]
    NotJson,
    /// JSON without a `keys` list.
    #[error("the JWKS has no \"keys\" list")]
    NoKeyList,
    /// More entries than allowed.
    #[error("the JWKS lists {count} keys, more than {limit}")]
    TooManyKeys {
        /// Entries listed.
        count: usize,
        /// The cap.
        limit: usize,
    },
}

fn expected_alg(jwk: &JsonWebKey<'_>) -> Result<Alg, String> {
    match jwk {
        JsonWebKey::Rsa { .. } => Ok(Alg::Rs256),
        JsonWebKey::EllipticCurve { curve, .. } if curve == "P-256" => Ok(Alg::Es256),
        JsonWebKey::EllipticCurve { curve, .. } => {
            Err(format!("EC curve {curve:?} is not supported (P-256 only)"))
        }
        JsonWebKey::KeyPair { curve, .. } if curve == "Ed25519" => Ok(Alg::EdDsa),
        JsonWebKey::KeyPair { curve, .. } => Err(format!(
            "OKP curve {curve:?} is not supported (Ed25519 only)"
        )),
        JsonWebKey::Symmetric { .. } => Err(
            "symmetric (oct) keys are not accepted; use an RSA, EC P-256 or Ed25519 public key"
                .into(),
        ),
        _ => Err("unsupported key type".into()),
    }
}

/// One public JWK → a pinned key.
fn parse_jwk(value: &Value) -> Result<Key, String> {
    let Value::Object(obj) = value else {
        return Err("must be a JWK object".into());
    };
    let kid = match obj.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("kid must be a string".into()),
    };
    if obj
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return Err("key use must be \"sig\"".into());
    }
    if obj.contains_key("d") {
        return Err("is a private key: configure the public key only".into());
    }
    let jwk: JsonWebKey<'_> =
        serde_json::from_value(value.clone()).map_err(|e| format!("is not a valid JWK: {e}"))?;
    let alg = expected_alg(&jwk)?;
    match obj.get("alg") {
        None | Some(Value::Null) => {}
        Some(Value::String(a)) if a == alg.name() => {}
        Some(Value::String(a)) => {
            return Err(format!(
                "alg {a:?} does not fit this key (expected {:?})",
                alg.name()
            ))
        }
        Some(_) => return Err("alg must be a string".into()),
    }
    let material = match alg {
        Alg::Rs256 => {
            let pk = RsaPublicKey::try_from(&jwk).map_err(|e| format!("invalid RSA key: {e}"))?;
            Material::Rs256(
                StrongKey::try_from(pk).map_err(|_| "RSA keys must be at least 2048 bits")?,
            )
        }
        Alg::Es256 => Material::Es256(
            <Es256 as Algorithm>::VerifyingKey::try_from(&jwk)
                .map_err(|e| format!("invalid P-256 key: {e}"))?,
        ),
        Alg::EdDsa => Material::EdDsa(
            <Ed25519 as Algorithm>::VerifyingKey::try_from(&jwk)
                .map_err(|e| format!("invalid Ed25519 key: {e}"))?,
        ),
        Alg::Hs256 => return Err("symmetric keys are not accepted".into()),
    };
    Ok(Key { kid, alg, material })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn ed25519_key_is_pinned_to_eddsa() {
        let mut d = Diagnostics::new();
        let ks = KeySet::from_config(
            &json!({"keys":[{"kty":"OKP","crv":"Ed25519","x":ED_X,"kid":"a"}]}),
            "PORTICO_AUTH_KEYS",
            &mut d,
        )
        .expect("valid");
        assert!(d.is_empty());
        assert_eq!(ks.keys[0].alg, Alg::EdDsa);
        assert!(ks.has_kid("a"));
    }

    #[test]
    fn refuses_private_symmetric_mismatched_and_bad_keys_with_paths() {
        let mut d = Diagnostics::new();
        let r = KeySet::from_config(
            &json!([
                {"kty":"oct","k":"c2VjcmV0"},
                {"kty":"OKP","crv":"Ed25519","x":ED_X,"d":ED_X},
                {"kty":"OKP","crv":"Ed25519","x":ED_X,"alg":"RS256"},
                {"kty":"EC","crv":"P-384","x":ED_X,"y":ED_X},
                {"kty":"OKP","crv":"Ed25519","x":ED_X,"use":"enc"},
                "nope"
            ]),
            "options.keys",
            &mut d,
        );
        assert!(r.is_none());
        let errs = d.into_errors().0;
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "options.keys[0]",
                "options.keys[1]",
                "options.keys[2]",
                "options.keys[3]",
                "options.keys[4]",
                "options.keys[5]"
            ]
        );
        assert!(errs[0].message.contains("symmetric"));
        assert!(errs[1].message.contains("private"));
    }

    #[test]
    fn fetched_sets_skip_unusable_keys() {
        let body = json!({"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"OKP","crv":"Ed25519","x":ED_X,"kid":"b"}]}).to_string();
        let ks = KeySet::from_fetched(body.as_bytes(), 32).expect("parses");
        assert_eq!(ks.keys.len(), 1);
        assert_eq!(
            KeySet::from_fetched(b"[]", 32).err(),
            Some(FetchedJwksError::NoKeyList)
        );
        assert_eq!(
            KeySet::from_fetched(b"nope", 32).err(),
            Some(FetchedJwksError::NotJson)
        );
        assert_eq!(
            KeySet::from_fetched(b"{\"keys\":[1,2,3]}\xff", 32).err(),
            Some(FetchedJwksError::NotJson)
        );
    }

    #[test]
    fn fetched_sets_with_too_many_keys_are_refused_whole() {
        let key = json!({"kty":"OKP","crv":"Ed25519","x":ED_X});
        let at_cap = json!({ "keys": vec![key.clone(); 32] }).to_string();
        assert_eq!(
            KeySet::from_fetched(at_cap.as_bytes(), 32).map(|k| k.keys.len()),
            Ok(32)
        );
        let over = json!({ "keys": vec![key; 33] }).to_string();
        assert_eq!(
            KeySet::from_fetched(over.as_bytes(), 32).err(),
            Some(FetchedJwksError::TooManyKeys {
                count: 33,
                limit: 32
            })
        );
        // Junk entries count too: the cap is on what the document lists.
        let junk = json!({ "keys": vec![json!(null); 1000] }).to_string();
        assert!(matches!(
            KeySet::from_fetched(junk.as_bytes(), 32),
            Err(FetchedJwksError::TooManyKeys { count: 1000, .. })
        ));
    }

    #[test]
    fn small_rsa_keys_are_refused() {
        use base64::Engine;
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let mut d = Diagnostics::new();
        let r = KeySet::from_config(&json!([{"kty":"RSA","n":n,"e":"AQAB"}]), "k", &mut d);
        assert!(r.is_none());
        assert!(d.into_errors().0[0].message.contains("2048"));
    }

    mod props {
        use super::super::*;
        use base64::Engine as _;
        use proptest::collection::{btree_map, vec};
        use proptest::prelude::*;
        use serde_json::json;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                ".{0,16}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    vec(inner.clone(), 0..8).prop_map(Value::Array),
                    btree_map(
                        prop_oneof![
                            Just("keys".to_string()),
                            Just("kty".to_string()),
                            Just("crv".to_string()),
                            ".{0,8}"
                        ],
                        inner,
                        0..8
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn b64(bytes: Vec<u8>) -> Value {
            Value::String(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
        }

        /// Objects shaped like JWKs, with plausible and implausible members.
        fn jwk_like() -> impl Strategy<Value = Value> {
            (
                prop_oneof![Just("RSA"), Just("EC"), Just("OKP"), Just("oct"), Just("x")],
                prop_oneof![
                    Just("P-256"),
                    Just("Ed25519"),
                    Just("P-384"),
                    Just("X25519")
                ],
                vec(any::<u8>(), 0..80).prop_map(b64),
                vec(any::<u8>(), 0..40).prop_map(b64),
                proptest::option::of(json_value()),
                proptest::option::of(prop_oneof![Just("sig"), Just("enc")]),
                proptest::option::of(prop_oneof![Just("RS256"), Just("EdDSA"), Just("none")]),
                any::<bool>(),
            )
                .prop_map(|(kty, crv, a, b, kid, use_, alg, private)| {
                    let mut o = serde_json::Map::new();
                    o.insert("kty".into(), json!(kty));
                    o.insert("crv".into(), json!(crv));
                    o.insert("x".into(), a.clone());
                    o.insert("y".into(), b.clone());
                    o.insert("n".into(), a);
                    o.insert("e".into(), b.clone());
                    if let Some(k) = kid {
                        o.insert("kid".into(), k);
                    }
                    if let Some(u) = use_ {
                        o.insert("use".into(), json!(u));
                    }
                    if let Some(a) = alg {
                        o.insert("alg".into(), json!(a));
                    }
                    if private {
                        o.insert("d".into(), b);
                    }
                    Value::Object(o)
                })
        }

        proptest! {
            /// Fetched bytes come from anywhere a tenant points: parsing is total.
            #[test]
            fn prop_arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
                let _ = KeySet::from_fetched(&bytes, 32);
            }

            /// Arbitrary JSON documents parse or are refused, never panic, and an
            /// accepted set never holds more keys than the cap.
            #[test]
            fn prop_arbitrary_json_never_panics(v in json_value()) {
                let body = serde_json::to_vec(&v).unwrap_or_default();
                if let Ok(ks) = KeySet::from_fetched(&body, 32) {
                    prop_assert!(ks.keys.len() <= 32);
                }
                let wrapped = serde_json::to_vec(&json!({ "keys": [v] })).unwrap_or_default();
                if let Ok(ks) = KeySet::from_fetched(&wrapped, 32) {
                    prop_assert!(ks.keys.len() <= 1);
                }
            }

            /// Lists of JWK-shaped objects: accepted exactly when within the cap.
            #[test]
            fn prop_key_lists_are_capped(keys in vec(jwk_like(), 0..40)) {
                let n = keys.len();
                let body = serde_json::to_vec(&json!({ "keys": keys })).unwrap_or_default();
                match KeySet::from_fetched(&body, 32) {
                    Ok(ks) => {
                        prop_assert!(n <= 32);
                        prop_assert!(ks.keys.len() <= n);
                        // Private and symmetric keys never make it in.
                        prop_assert!(ks.keys.iter().all(|k| k.alg != Alg::Hs256));
                    }
                    Err(FetchedJwksError::TooManyKeys { count, limit }) => {
                        prop_assert_eq!((count, limit), (n, 32));
                        prop_assert!(n > 32);
                    }
                    Err(e) => prop_assert!(false, "unexpected {e:?}"),
                }
            }
        }
    }
}
