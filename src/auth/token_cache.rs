//! Remembers tokens a handler has already verified, so a client sending the same
//! token again costs a SHA-256 and a lookup instead of a signature check (ES256/RS256
//! verification costs hundreds of µs in Wasm). An entry is tied to the exact key set
//! it was verified with: a refetched JWKS (rotation, removal) starts over. Time is
//! re-checked on every hit.

use super::claims::VerifiedClaims;
use super::error::AuthError;
use super::keys::KeySet;
use super::verify::{still_valid, verify, VerifyPolicy};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// Entries kept per handler.
pub const DEFAULT_CAPACITY: usize = 512;

struct Entry {
    claims: Rc<VerifiedClaims>,
    /// Held (not just its address) so a dropped set's memory cannot be reused by a
    /// new set that would then match stale entries.
    keys: Rc<KeySet>,
}

/// A bounded FIFO of verified tokens for one verifier (one policy).
pub struct TokenCache {
    map: HashMap<[u8; 32], Entry>,
    order: VecDeque<[u8; 32]>,
    capacity: usize,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenCache({} entries)", self.map.len())
    }
}

impl TokenCache {
    /// An empty cache holding at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Verifies `token`, answering from the cache when this exact token was verified
    /// with this exact key set and is still inside its time window.
    pub fn verify(
        &mut self,
        token: &str,
        keys: &Rc<KeySet>,
        policy: &VerifyPolicy,
        now_s: i64,
    ) -> Result<Rc<VerifiedClaims>, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(e) = self.map.get(&digest) {
            if Rc::ptr_eq(&e.keys, keys) {
                if still_valid(&e.claims, policy, now_s) {
                    return Ok(e.claims.clone());
                }
                return Err(AuthError::Expired);
            }
        }
        let claims = Rc::new(verify(token, keys, policy, now_s)?);
        if self.map.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        if self
            .map
            .insert(
                digest,
                Entry {
                    claims: claims.clone(),
                    keys: keys.clone(),
                },
            )
            .is_none()
        {
            self.order.push_back(digest);
        }
        Ok(claims)
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_per_key_set_and_rechecks_time() {
        let mut keys = KeySet::default();
        keys.push_hmac(b"0123456789abcdef0123");
        let keys = Rc::new(keys);
        let policy = VerifyPolicy::default();
        // HS256 {"exp": 1000} signed with the key above (built with jwt-compact below).
        use jwt_compact::alg::{Hs256, Hs256Key};
        use jwt_compact::{AlgorithmExt, Claims, Header};
        let mut c = Claims::new(serde_json::Map::new());
        c.expiration = chrono::DateTime::from_timestamp(1000, 0);
        let token = Hs256
            .token(
                &Header::empty(),
                &c,
                &Hs256Key::new(b"0123456789abcdef0123"),
            )
            .expect("sign");
        let mut cache = TokenCache::new(2);
        assert!(cache.verify(&token, &keys, &policy, 900).is_ok());
        assert_eq!(cache.len(), 1);
        assert!(cache.verify(&token, &keys, &policy, 950).is_ok());
        // Expiry is re-checked on a hit.
        assert_eq!(
            cache.verify(&token, &keys, &policy, 1001).err(),
            Some(AuthError::Expired)
        );
        // Another key set (e.g. a refetched JWKS without the key) verifies afresh.
        let other = Rc::new(KeySet::default());
        assert!(cache.verify(&token, &other, &policy, 900).is_err());
        // Bad tokens are not cached; capacity is bounded.
        assert!(cache.verify("a.b.c", &keys, &policy, 900).is_err());
        assert_eq!(cache.len(), 1);
    }
}
