//! The callback `state` (docs/oauth.md): `<random>.<mac>`. The random part (32
//! bytes, base64url) keys the D1 row by its SHA-256; the MAC (HMAC-SHA256, first 16
//! bytes, base64url) covers the random part and what the row binds it to — tenant,
//! connection, the initiating `sub` and the expiry — under a key derived from the
//! vault ring. So an altered state, or a row that does not belong to the state, is
//! told apart from one that was never issued.

use super::authorize::state_key;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Characters of the random part (32 bytes in base64url).
const RANDOM_CHARS: usize = 43;
/// Characters of the MAC part (16 bytes in base64url).
const MAC_CHARS: usize = 22;
/// Bytes of the MAC kept.
const MAC_BYTES: usize = 16;

/// What a state is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateBinding<'a> {
    /// The tenant that initiated.
    pub tenant: &'a str,
    /// The connection being authorised.
    pub connection: &'a str,
    /// The caller who initiated.
    pub sub: &'a str,
    /// When the state stops being honoured (ms since the epoch).
    pub expires_at_ms: u64,
}

/// A state of the right shape, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateParts<'a> {
    random: &'a str,
    mac: &'a str,
}

fn field(out: &mut Vec<u8>, f: &[u8]) {
    let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(f);
}

fn message(random: &str, b: &StateBinding<'_>) -> Vec<u8> {
    let mut m = Vec::with_capacity(128);
    field(&mut m, b"portico-oauth-state/v1");
    field(&mut m, random.as_bytes());
    field(&mut m, b.tenant.as_bytes());
    field(&mut m, b.connection.as_bytes());
    field(&mut m, b.sub.as_bytes());
    field(&mut m, &b.expires_at_ms.to_be_bytes());
    m
}

fn hmac(key: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC zero-pads a key shorter than the block: the same MAC as the 32-byte key,
    // through the infallible fixed-size constructor.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into())
}

/// A new state for `binding` from 32 random bytes.
pub fn compose(random: &[u8; 32], key: &[u8; 32], binding: &StateBinding<'_>) -> String {
    let r = URL_SAFE_NO_PAD.encode(random);
    let mut mac = hmac(key);
    mac.update(&message(&r, binding));
    let tag = mac.finalize().into_bytes();
    format!("{r}.{}", URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES]))
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<'a> StateParts<'a> {
    /// Splits a state of the issued shape; `None` for anything else.
    pub fn split(state: &'a str) -> Option<Self> {
        let (random, mac) = state.split_once('.')?;
        let ok = random.len() == RANDOM_CHARS
            && mac.len() == MAC_CHARS
            && is_b64url(random)
            && is_b64url(mac);
        ok.then_some(Self { random, mac })
    }

    /// The key of the state's D1 row.
    pub fn row_key(&self) -> String {
        state_key(self.random)
    }

    /// Whether the MAC matches `binding` under `key` (constant time).
    pub fn verify(&self, key: &[u8; 32], binding: &StateBinding<'_>) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(self.mac) else {
            return false;
        };
        let mut mac = hmac(key);
        mac.update(&message(self.random, binding));
        mac.verify_truncated_left(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn binding() -> StateBinding<'static> {
        StateBinding {
            tenant: "acme",
            connection: "conn_1",
            sub: "alice",
            expires_at_ms: 1_000,
        }
    }

    #[test]
    fn a_composed_state_splits_and_verifies() {
        let s = compose(&[1; 32], &KEY, &binding());
        assert_eq!(s.len(), RANDOM_CHARS + 1 + MAC_CHARS);
        let p = StateParts::split(&s).expect("shape");
        assert!(p.verify(&KEY, &binding()));
        assert_eq!(p.row_key().len(), 64);
        // The row key depends on the random part only.
        let other = compose(&[1; 32], &[9; 32], &binding());
        assert_eq!(
            StateParts::split(&other).map(|p| p.row_key()),
            Some(p.row_key())
        );
    }

    #[test]
    fn any_other_binding_or_key_fails() {
        let s = compose(&[1; 32], &KEY, &binding());
        let p = StateParts::split(&s).expect("shape");
        for b in [
            StateBinding {
                tenant: "globex",
                ..binding()
            },
            StateBinding {
                connection: "conn_2",
                ..binding()
            },
            StateBinding {
                sub: "mallory",
                ..binding()
            },
            StateBinding {
                expires_at_ms: 2_000,
                ..binding()
            },
        ] {
            assert!(!p.verify(&KEY, &b), "{b:?}");
        }
        assert!(!p.verify(&[8; 32], &binding()));
        // Fields cannot be shifted into each other.
        let shifted = StateBinding {
            tenant: "acmeconn_1",
            connection: "",
            ..binding()
        };
        assert!(!p.verify(&KEY, &shifted));
    }

    #[test]
    fn the_padded_key_gives_the_standard_hmac() {
        // The block-sized, zero-padded key and the variable-length constructor agree.
        let mut a = hmac(&KEY);
        a.update(b"message");
        let mut b = <Hmac<Sha256> as Mac>::new_from_slice(&KEY).expect("any length");
        b.update(b"message");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
    }

    #[test]
    fn altered_states_fail() {
        let s = compose(&[1; 32], &KEY, &binding());
        let (r, m) = s.split_once('.').expect("dot");
        let flip = |t: &str| {
            let mut b = t.as_bytes().to_vec();
            b[3] = if b[3] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).expect("ascii")
        };
        let bad_mac = format!("{r}.{}", flip(m));
        let p = StateParts::split(&bad_mac).expect("shape");
        assert!(!p.verify(&KEY, &binding()));
        let bad_random = format!("{}.{m}", flip(r));
        let p = StateParts::split(&bad_random).expect("shape");
        assert!(!p.verify(&KEY, &binding()));
    }

    #[test]
    fn only_the_issued_shape_splits() {
        let s = compose(&[1; 32], &KEY, &binding());
        for bad in [
            "",
            ".",
            "abc",
            &s[..s.len() - 1],
            &format!("{s}x"),
            &s.replace('.', ""),
            &format!("{}.{}", "+".repeat(43), "a".repeat(22)),
            &format!("{}..{}", "a".repeat(43), "a".repeat(21)),
        ] {
            assert!(StateParts::split(bad).is_none(), "{bad:?}");
        }
    }
}
