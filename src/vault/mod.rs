//! The credential vault's pure core (DESIGN §7): the key ring, per-tenant keys and
//! AES-256-GCM envelopes bound by associated data. Nothing here does I/O; storage
//! (KV), caching and the API live in the platform layer.
//!
//! Secrets leave this module only as [`Secret`], which cannot be formatted, logged
//! or serialised; errors never carry key or plaintext material.

pub mod credential;
pub mod crypto;
pub mod inject;
pub mod keyring;

pub use credential::Credential;
pub use crypto::{open, open_with, seal, seal_with, Binding, DataKey, Envelope, RecordKind};
pub use keyring::{KeyRing, KeyRingError};

/// Why a vault operation failed. Messages name no key, nonce or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// No usable key ring (`PORTICO_VAULT_KEYS` missing or malformed).
    #[error("vault unavailable")]
    Unavailable,
    /// The envelope names a key the ring no longer has.
    #[error("envelope key '{0}' is not in the key ring")]
    UnknownKid(String),
    /// The stored envelope is not one this version writes.
    #[error("malformed envelope: {0}")]
    Malformed(&'static str),
    /// Authentication failed: tampered, or bound to another record, tenant or kind.
    #[error("envelope does not open for this record")]
    Decrypt,
    /// The platform's random source failed.
    #[error("no randomness for a nonce")]
    Random,
}

/// Plaintext credential bytes. No `Debug`, `Display` or `Serialize`: a secret can
/// reach a log line or a response only by an explicit `expose`. Wiped on drop.
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps plaintext.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The plaintext, for injection into an outbound request only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // Volatile so the wipe is not optimised away as a dead store.
            // SAFETY: `b` is a valid, aligned, exclusive reference into our own Vec.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}
