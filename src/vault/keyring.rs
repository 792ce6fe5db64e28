//! The master key ring from the `PORTICO_VAULT_KEYS` secret:
//! `{ "active": "k2", "keys": { "k1": "<base64 of 32 bytes>", "k2": "..." } }`.
//! Parsed once per isolate; rotating is adding a key and making it active.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

/// Longest key id.
pub const MAX_KID_LEN: usize = 64;

/// Why a ring was refused. Messages name kids at most, never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// Not a JSON object.
    #[error("key ring is not a JSON object")]
    NotObject,
    /// `keys` missing, not an object, or empty.
    #[error("key ring has no keys")]
    NoKeys,
    /// A kid outside `[A-Za-z0-9._-]{1,64}`.
    #[error("key ring has an invalid key id")]
    BadKid,
    /// A key that is not base64 of exactly 32 bytes.
    #[error("key '{0}' is not base64 of 32 bytes")]
    BadKey(String),
    /// `active` missing or not a string.
    #[error("key ring has no active key id")]
    NoActive,
    /// `active` names a key the ring does not hold.
    #[error("active key '{0}' is not in the ring")]
    ActiveUnknown(String),
    /// Fields other than `active` and `keys`.
    #[error("key ring has an unknown field")]
    UnknownField,
}

/// A validated key ring.
pub struct KeyRing {
    active: String,
    keys: BTreeMap<String, [u8; 32]>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Kids only: key bytes never reach a log line.
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl KeyRing {
    /// Parses and checks the secret's JSON.
    pub fn parse(raw: &str) -> Result<Self, KeyRingError> {
        let value: Value = serde_json::from_str(raw).map_err(|_| KeyRingError::NotObject)?;
        let obj = value.as_object().ok_or(KeyRingError::NotObject)?;
        if obj.keys().any(|k| k != "active" && k != "keys") {
            return Err(KeyRingError::UnknownField);
        }
        let list = obj
            .get("keys")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty())
            .ok_or(KeyRingError::NoKeys)?;
        let mut keys = BTreeMap::new();
        for (kid, v) in list {
            if !valid_kid(kid) {
                return Err(KeyRingError::BadKid);
            }
            let bytes = v
                .as_str()
                .and_then(|s| STANDARD.decode(s.trim()).ok())
                .ok_or_else(|| KeyRingError::BadKey(kid.clone()))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| KeyRingError::BadKey(kid.clone()))?;
            keys.insert(kid.clone(), key);
        }
        let active = obj
            .get("active")
            .and_then(Value::as_str)
            .ok_or(KeyRingError::NoActive)?;
        if !keys.contains_key(active) {
            return Err(KeyRingError::ActiveUnknown(active.to_string()));
        }
        Ok(Self {
            active: active.to_string(),
            keys,
        })
    }

    /// The kid new envelopes are sealed under.
    pub fn active(&self) -> &str {
        &self.active
    }

    /// Every kid the ring holds, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The master key of `kid`.
    pub(crate) fn key(&self, kid: &str) -> Option<&[u8; 32]> {
        self.keys.get(kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // bytes 0..32

    #[test]
    fn parses_a_ring_and_debug_shows_no_key() {
        let ring = KeyRing::parse(&format!(
            r#"{{"active":"k1","keys":{{"k1":"{K1}","k0":"{K1}"}}}}"#
        ))
        .expect("valid");
        assert_eq!(ring.active(), "k1");
        assert_eq!(ring.kids().collect::<Vec<_>>(), vec!["k0", "k1"]);
        assert_eq!(ring.key("k1").map(|k| k[31]), Some(31));
        let shown = format!("{ring:?}");
        assert!(!shown.contains(K1) && !shown.contains("31"), "{shown}");
    }

    #[test]
    fn refuses_malformed_rings_with_typed_errors() {
        let cases: Vec<(String, KeyRingError)> = vec![
            ("".into(), KeyRingError::NotObject),
            ("[]".into(), KeyRingError::NotObject),
            (r#"{"active":"k1"}"#.into(), KeyRingError::NoKeys),
            (r#"{"active":"k1","keys":{}}"#.into(), KeyRingError::NoKeys),
            (
                format!(r#"{{"keys":{{"k1":"{K1}"}}}}"#),
                KeyRingError::NoActive,
            ),
            (
                format!(r#"{{"active":"k2","keys":{{"k1":"{K1}"}}}}"#),
                KeyRingError::ActiveUnknown("k2".into()),
            ),
            (
                r#"{"active":"k1","keys":{"k1":"c2hvcnQ="}}"#.into(),
                KeyRingError::BadKey("k1".into()),
            ),
            (
                r#"{"active":"k1","keys":{"k1":"not base64!"}}"#.into(),
                KeyRingError::BadKey("k1".into()),
            ),
            (
                r#"{"active":"k1","keys":{"k1":7}}"#.into(),
                KeyRingError::BadKey("k1".into()),
            ),
            (
                format!(r#"{{"active":"k 1","keys":{{"k 1":"{K1}"}}}}"#),
                KeyRingError::BadKid,
            ),
            (
                format!(r#"{{"active":"k1","keys":{{"k1":"{K1}"}},"x":1}}"#),
                KeyRingError::UnknownField,
            ),
        ];
        for (raw, want) in cases {
            let got = KeyRing::parse(&raw).map(|r| r.active().to_string());
            assert_eq!(got, Err(want.clone()), "{raw}");
            assert!(!want.to_string().contains(K1));
        }
    }
}
