//! The vault's storage: envelopes in the `VAULT` KV namespace (metadata carries the
//! kid), sealed and opened with per-tenant keys derived once per isolate.
//!
//! Every write goes to a new KV object (`<record key>/<random generation>`), and
//! the D1 index (`vault_records`, written by the store with the metadata it belongs
//! to) points at the current one. KV has no compare-and-set, so this is how a
//! re-encryption racing a secret rotation cannot put the old secret back: its
//! switch of the pointer is guarded on the object it read (D1), and the loser's
//! object is deleted. New objects are also never stale in KV's edge caches, as an
//! overwritten key could be for up to a minute.

use super::env::var;
use crate::vault::{
    open_with, seal_with, Binding, DataKey, Envelope, KeyRing, RecordKind, Secret, VaultError,
};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::kv::KvStore;
use worker::Env;

/// The KV namespace binding holding envelopes.
pub(crate) const KV_BINDING: &str = "VAULT";
/// The secret holding the key ring.
pub(crate) const KEYS_VAR: &str = "PORTICO_VAULT_KEYS";
/// Derived keys kept per isolate (tenants × kids); cleared when full.
const MAX_DATA_KEYS: usize = 512;

/// What a vault operation ran into.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VaultFailure {
    /// No key ring or no KV binding: the vault is off.
    #[error("vault unavailable: {0}")]
    Unavailable(&'static str),
    /// Sealing or opening failed (tampered, moved, unknown kid, malformed).
    #[error("{0}")]
    Crypto(#[from] VaultError),
    /// KV failed.
    #[error("vault storage: {0}")]
    Storage(String),
}

/// KV metadata of an envelope: the kid, so a scan can filter without reading values.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    kid: String,
}

/// The isolate's vault state: the parsed ring (or why there is none) and the
/// derived-key cache.
pub(crate) struct VaultState {
    ring: Result<Rc<KeyRing>, String>,
    keys: RefCell<HashMap<(String, String), Rc<DataKey>>>,
}

impl VaultState {
    /// Reads and checks `PORTICO_VAULT_KEYS` once; a bad ring is logged (kids only,
    /// never key material) and disables the vault alone.
    pub(crate) fn from_env(env: &Env) -> Self {
        let ring = match var(env, KEYS_VAR) {
            None => Err(format!("{KEYS_VAR} is not set")),
            Some(raw) => KeyRing::parse(&raw)
                .map(Rc::new)
                .map_err(|e| format!("{KEYS_VAR} is invalid: {e}")),
        };
        if let Err(why) = &ring {
            worker::console_error!("portico: the credential vault is off: {why}");
        }
        Self {
            ring,
            keys: RefCell::new(HashMap::new()),
        }
    }

    /// The key ring, if the vault is on.
    pub(crate) fn ring(&self) -> Option<&Rc<KeyRing>> {
        self.ring.as_ref().ok()
    }

    /// `tenant`'s data key under `kid`, derived on first use.
    fn data_key(&self, kid: &str, tenant: &str) -> Result<Rc<DataKey>, VaultFailure> {
        let ring = self
            .ring
            .as_ref()
            .map_err(|_| VaultFailure::Unavailable("no key ring"))?;
        let k = (kid.to_string(), tenant.to_string());
        if let Some(key) = self.keys.borrow().get(&k) {
            return Ok(key.clone());
        }
        let key = Rc::new(DataKey::derive(ring, kid, tenant)?);
        let mut keys = self.keys.borrow_mut();
        if keys.len() >= MAX_DATA_KEYS {
            keys.clear();
        }
        keys.insert(k, key.clone());
        Ok(key)
    }
}

impl VaultState {
    /// Seals `plaintext` for a record kept outside KV (a Durable Object's storage)
    /// under the active key: the same envelope, bound to `tenant`, `kind` and `id`.
    pub(crate) fn seal_local(
        &self,
        tenant: &str,
        kind: RecordKind,
        id: &str,
        plaintext: &[u8],
    ) -> Result<Envelope, VaultFailure> {
        let ring = self
            .ring()
            .ok_or(VaultFailure::Unavailable("no key ring"))?;
        let key = self.data_key(ring.active(), tenant)?;
        let nonce = crate::vault::crypto::random_nonce()?;
        Ok(seal_with(
            &key,
            &Binding { tenant, kind, id },
            plaintext,
            nonce,
        )?)
    }

    /// Opens what [`seal_local`](Self::seal_local) sealed.
    pub(crate) fn open_local(
        &self,
        tenant: &str,
        kind: RecordKind,
        id: &str,
        envelope: &Envelope,
    ) -> Result<Secret, VaultFailure> {
        let key = self.data_key(&envelope.kid, tenant)?;
        Ok(open_with(&key, &Binding { tenant, kind, id }, envelope)?)
    }

    /// The active kid and the key it derives for `purpose`.
    pub(crate) fn purpose_key(
        &self,
        kid: Option<&str>,
        purpose: &str,
    ) -> Result<(String, [u8; 32]), VaultFailure> {
        let ring = self
            .ring()
            .ok_or(VaultFailure::Unavailable("no key ring"))?;
        let kid = kid.unwrap_or(ring.active()).to_string();
        let key = crate::vault::crypto::purpose_key(ring, &kid, purpose)?;
        Ok((kid, key))
    }
}

/// The vault for one request: the isolate's keys and the KV binding.
pub(crate) struct Vault<'a> {
    state: &'a VaultState,
    kv: KvStore,
}

/// One record's address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) kind: RecordKind,
    pub(crate) id: &'a str,
}

impl<'a> Record<'a> {
    pub(crate) fn key(&self) -> String {
        self.kind.storage_key(self.tenant, self.id)
    }

    /// The binding of this record's envelope in `object`: the id bound into the
    /// associated data is `<record id>/<generation>`, so an envelope replayed onto
    /// another generation of the same record (an old secret over a rotated one)
    /// fails closed like one moved to another record. `None`: not this record's.
    fn binding<'o>(&self, object: &'o str) -> Option<Binding<'o>>
    where
        'a: 'o,
    {
        let key = self.key();
        let generation = object.strip_prefix(key.as_str())?.strip_prefix('/')?;
        if generation.is_empty() || generation.contains('/') {
            return None;
        }
        let start = key.len().checked_sub(self.id.len())?;
        Some(Binding {
            tenant: self.tenant,
            kind: self.kind,
            id: object.get(start..)?,
        })
    }
}

fn storage(e: impl std::fmt::Display) -> VaultFailure {
    VaultFailure::Storage(e.to_string())
}

impl<'a> Vault<'a> {
    /// The vault, or `Unavailable` without a ring or a `VAULT` binding.
    pub(crate) fn open(state: &'a VaultState, env: &Env) -> Result<Self, VaultFailure> {
        if state.ring().is_none() {
            return Err(VaultFailure::Unavailable("no key ring"));
        }
        let kv = env
            .kv(KV_BINDING)
            .map_err(|_| VaultFailure::Unavailable("no VAULT binding"))?;
        Ok(Self { state, kv })
    }

    /// The kid new envelopes are sealed under.
    pub(crate) fn active_kid(&self) -> &str {
        self.state.ring().map_or("", |r| r.active())
    }

    /// Seals `plaintext` for `record` under the active key into a new object;
    /// returns its kid and object key (for the D1 index).
    pub(crate) async fn put(
        &self,
        record: Record<'_>,
        plaintext: &Secret,
    ) -> Result<Stored, VaultFailure> {
        let mut generation = [0u8; 8];
        getrandom::getrandom(&mut generation).map_err(|_| VaultError::Random)?;
        let object = format!(
            "{}/{}",
            record.key(),
            generation
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let binding = record
            .binding(&object)
            .ok_or(VaultError::Malformed("object key"))?;
        let key = self.state.data_key(self.active_kid(), record.tenant)?;
        let nonce = crate::vault::crypto::random_nonce()?;
        let envelope = seal_with(&key, &binding, plaintext.expose(), nonce)?;
        self.kv
            .put(&object, envelope.to_json())
            .map_err(storage)?
            .metadata(Meta {
                kid: envelope.kid.clone(),
            })
            .map_err(storage)?
            .execute()
            .await
            .map_err(storage)?;
        Ok(Stored {
            kid: envelope.kid,
            object,
        })
    }

    /// The envelope in `object`, if it exists.
    pub(crate) async fn envelope(&self, object: &str) -> Result<Option<Envelope>, VaultFailure> {
        let raw = self.kv.get(object).text().await.map_err(storage)?;
        raw.map(|r| Envelope::parse(&r).map_err(VaultFailure::from))
            .transpose()
    }

    /// Opens `envelope`, read from `object`, as `record`'s (fails closed for any
    /// other record, or another object of it).
    pub(crate) fn open_envelope(
        &self,
        record: Record<'_>,
        object: &str,
        envelope: &Envelope,
    ) -> Result<Secret, VaultFailure> {
        // The index points elsewhere than this record: never read it as ours.
        let binding = record.binding(object).ok_or(VaultError::Decrypt)?;
        let key = self.state.data_key(&envelope.kid, record.tenant)?;
        Ok(open_with(&key, &binding, envelope)?)
    }

    /// Reads and opens `record`'s secret from `object` (`None`: no such object).
    pub(crate) async fn get(
        &self,
        record: Record<'_>,
        object: &str,
    ) -> Result<Option<Secret>, VaultFailure> {
        if record.binding(object).is_none() {
            return Err(VaultFailure::Crypto(VaultError::Decrypt));
        }
        match self.envelope(object).await? {
            None => Ok(None),
            Some(e) => self.open_envelope(record, object, &e).map(Some),
        }
    }

    /// Deletes an object (no error when it was not there).
    pub(crate) async fn delete(&self, object: &str) -> Result<(), VaultFailure> {
        self.kv.delete(object).await.map_err(storage)
    }

    /// Re-seals `record`'s `object` under the active key into a new object if it is
    /// under another kid (`None`: the object is gone; the same object when it is
    /// already under the active kid).
    pub(crate) async fn reseal(
        &self,
        record: Record<'_>,
        object: &str,
    ) -> Result<Option<Stored>, VaultFailure> {
        let Some(envelope) = self.envelope(object).await? else {
            return Ok(None);
        };
        if envelope.kid == self.active_kid() {
            return Ok(Some(Stored {
                kid: envelope.kid,
                object: object.to_string(),
            }));
        }
        let plain = self.open_envelope(record, object, &envelope)?;
        self.put(record, &plain).await.map(Some)
    }
}

/// Where a sealed secret went.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// The kid it is sealed under.
    pub(crate) kid: String,
    /// Its KV object key.
    pub(crate) object: String,
}
