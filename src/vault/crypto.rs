//! Envelopes (DESIGN §7): AES-256-GCM under a per-tenant key derived from the ring's
//! master key by HKDF-SHA256, a 96-bit random nonce, and associated data that binds
//! the ciphertext to its tenant, record kind, record id and kid — a ciphertext copied
//! to any other record does not open. Stored as `{ "v": 1, "kid", "n", "c" }`.

use super::keyring::KeyRing;
use super::{Secret, VaultError};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Envelope format version.
pub const VERSION: u8 = 1;
/// HKDF salt: fixed per format, so a derived key never serves another purpose.
const SALT: &[u8] = b"portico-vault/v1";
/// GCM nonce and tag sizes.
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// What a sealed record holds (part of the associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A connection's API key or basic credentials.
    ConnectionSecret,
    /// A connection's OAuth token set.
    ConnectionTokens,
    /// A connector version's OAuth client secret.
    ConnectorClientSecret,
}

impl RecordKind {
    /// The stable name bound into the associated data.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionSecret => "connection_secret",
            Self::ConnectionTokens => "connection_tokens",
            Self::ConnectorClientSecret => "connector_client_secret",
        }
    }

    /// The segment naming this kind in a storage key (`connection-secret`).
    pub fn key_segment(self) -> &'static str {
        match self {
            Self::ConnectionSecret => "connection-secret",
            Self::ConnectionTokens => "connection-tokens",
            Self::ConnectorClientSecret => "connector-client-secret",
        }
    }

    /// From [`RecordKind::key_segment`].
    pub fn from_key_segment(s: &str) -> Option<Self> {
        [
            Self::ConnectionSecret,
            Self::ConnectionTokens,
            Self::ConnectorClientSecret,
        ]
        .into_iter()
        .find(|k| k.key_segment() == s)
    }

    /// The storage key of record `id` of `tenant`: `v1/<tenant>/<kind>/<id>`.
    pub fn storage_key(self, tenant: &str, id: &str) -> String {
        format!("v1/{tenant}/{}/{id}", self.key_segment())
    }
}

/// The record a ciphertext belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    /// Owning tenant (the control-plane tenant id for global connectors).
    pub tenant: &'a str,
    /// What it holds.
    pub kind: RecordKind,
    /// The record's id (connection id, connector version id).
    pub id: &'a str,
}

/// The stored form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version ([`VERSION`]).
    pub v: u8,
    /// Master key id.
    pub kid: String,
    /// Nonce, base64.
    pub n: String,
    /// Ciphertext with its tag, base64.
    pub c: String,
}

impl Envelope {
    /// Parses a stored envelope (strict: unknown fields and other versions refused).
    pub fn parse(raw: &str) -> Result<Self, VaultError> {
        let e: Envelope =
            serde_json::from_str(raw).map_err(|_| VaultError::Malformed("not an envelope"))?;
        if e.v != VERSION {
            return Err(VaultError::Malformed("unknown version"));
        }
        Ok(e)
    }

    /// The stored JSON.
    pub fn to_json(&self) -> String {
        // Four plain fields: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether it should be re-sealed under the ring's active key.
    pub fn needs_reencrypt(&self, ring: &KeyRing) -> bool {
        self.kid != ring.active()
    }
}

/// The tenant's data key under master key `master` (HKDF-SHA256; `info` names the
/// tenant, length-prefixed so no tenant id can spell another's info).
pub fn tenant_key(master: &[u8; 32], tenant: &str) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(SALT), master);
    let mut info = Vec::with_capacity(tenant.len() + 16);
    push_field(&mut info, b"tenant");
    push_field(&mut info, tenant.as_bytes());
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
    let _ = hk.expand(&info, &mut out);
    out
}

/// A key for one purpose other than sealing (e.g. the MAC of OAuth callback states),
/// derived from the ring's key `kid` with its own salt, so it never equals a data key.
pub fn purpose_key(ring: &KeyRing, kid: &str, purpose: &str) -> Result<[u8; 32], VaultError> {
    let master = ring
        .key(kid)
        .ok_or_else(|| VaultError::UnknownKid(kid.to_string()))?;
    let hk = Hkdf::<Sha256>::new(Some(b"portico-purpose/v1"), master);
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit: expand cannot fail.
    let _ = hk.expand(purpose.as_bytes(), &mut out);
    Ok(out)
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

/// The associated data: format, tenant, kind, id and kid, each length-prefixed.
pub fn associated_data(binding: &Binding<'_>, kid: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + binding.tenant.len() + binding.id.len());
    push_field(&mut aad, SALT);
    push_field(&mut aad, binding.tenant.as_bytes());
    push_field(&mut aad, binding.kind.as_str().as_bytes());
    push_field(&mut aad, binding.id.as_bytes());
    push_field(&mut aad, kid.as_bytes());
    aad
}

/// One tenant's data key under one kid, ready to seal and open (derived once per
/// isolate and cached by the platform: HKDF and the AES key schedule cost more
/// than sealing a short secret).
pub struct DataKey {
    kid: String,
    cipher: Aes256Gcm,
}

impl DataKey {
    /// Derives `tenant`'s key under the ring's key `kid`.
    pub fn derive(ring: &KeyRing, kid: &str, tenant: &str) -> Result<Self, VaultError> {
        let master = ring
            .key(kid)
            .ok_or_else(|| VaultError::UnknownKid(kid.to_string()))?;
        let key = tenant_key(master, tenant);
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| VaultError::Unavailable)?;
        Ok(Self {
            kid: kid.to_string(),
            cipher,
        })
    }

    /// The kid this key was derived under.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// Seals `plaintext` for `binding` under the ring's active key with `nonce` (from
/// [`random_nonce`] outside tests; a nonce must never repeat under one key).
pub fn seal(
    ring: &KeyRing,
    binding: &Binding<'_>,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<Envelope, VaultError> {
    let key = DataKey::derive(ring, ring.active(), binding.tenant)?;
    seal_with(&key, binding, plaintext, nonce)
}

/// Seals with an already derived key (which must be the binding's tenant's).
pub fn seal_with(
    key: &DataKey,
    binding: &Binding<'_>,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<Envelope, VaultError> {
    let aad = associated_data(binding, &key.kid);
    let c = key
        .cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Decrypt)?;
    Ok(Envelope {
        v: VERSION,
        kid: key.kid.clone(),
        n: STANDARD.encode(nonce),
        c: STANDARD.encode(c),
    })
}

/// Opens an envelope for `binding`; anything but the exact record it was sealed
/// for, under a key the ring still holds, fails closed.
pub fn open(ring: &KeyRing, binding: &Binding<'_>, e: &Envelope) -> Result<Secret, VaultError> {
    let key = DataKey::derive(ring, &e.kid, binding.tenant)?;
    open_with(&key, binding, e)
}

/// Opens with an already derived key (the envelope's kid, the binding's tenant).
pub fn open_with(key: &DataKey, binding: &Binding<'_>, e: &Envelope) -> Result<Secret, VaultError> {
    if e.v != VERSION {
        return Err(VaultError::Malformed("unknown version"));
    }
    if e.kid != key.kid {
        return Err(VaultError::Decrypt);
    }
    let nonce = STANDARD
        .decode(&e.n)
        .ok()
        .filter(|n| n.len() == NONCE_LEN)
        .ok_or(VaultError::Malformed("nonce"))?;
    let c = STANDARD
        .decode(&e.c)
        .ok()
        .filter(|c| c.len() >= TAG_LEN)
        .ok_or(VaultError::Malformed("ciphertext"))?;
    let aad = associated_data(binding, &e.kid);
    let plain = key
        .cipher
        .decrypt(Nonce::from_slice(&nonce), Payload { msg: &c, aad: &aad })
        .map_err(|_| VaultError::Decrypt)?;
    Ok(Secret::new(plain))
}

/// A fresh random nonce.
pub fn random_nonce() -> Result<[u8; NONCE_LEN], VaultError> {
    let mut n = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut n).map_err(|_| VaultError::Random)?;
    Ok(n)
}

#[cfg(test)]
mod tests;
