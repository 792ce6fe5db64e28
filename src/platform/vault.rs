//! The vault's storage: envelopes in the `VAULT` KV namespace (metadata carries the
//! kid), sealed and opened with per-tenant keys derived once per isolate. The D1
//! index of records (`vault_records`) is written by the store in the same batch as
//! the metadata it belongs to; this file only talks to KV.

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

impl Record<'_> {
    pub(crate) fn key(&self) -> String {
        self.kind.storage_key(self.tenant, self.id)
    }

    fn binding(&self) -> Binding<'_> {
        Binding {
            tenant: self.tenant,
            kind: self.kind,
            id: self.id,
        }
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

    /// Seals `plaintext` for `record` under the active key and stores it; returns
    /// the kid (for the D1 index).
    pub(crate) async fn put(
        &self,
        record: Record<'_>,
        plaintext: &Secret,
    ) -> Result<String, VaultFailure> {
        let key = self.state.data_key(self.active_kid(), record.tenant)?;
        let nonce = crate::vault::crypto::random_nonce()?;
        let envelope = seal_with(&key, &record.binding(), plaintext.expose(), nonce)?;
        self.kv
            .put(&record.key(), envelope.to_json())
            .map_err(storage)?
            .metadata(Meta {
                kid: envelope.kid.clone(),
            })
            .map_err(storage)?
            .execute()
            .await
            .map_err(storage)?;
        Ok(envelope.kid)
    }

    /// The envelope stored for `record`, if any.
    pub(crate) async fn envelope(
        &self,
        record: Record<'_>,
    ) -> Result<Option<Envelope>, VaultFailure> {
        let raw = self.kv.get(&record.key()).text().await.map_err(storage)?;
        raw.map(|r| Envelope::parse(&r).map_err(VaultFailure::from))
            .transpose()
    }

    /// Opens `envelope` as `record`'s (fails closed for any other record).
    pub(crate) fn open_envelope(
        &self,
        record: Record<'_>,
        envelope: &Envelope,
    ) -> Result<Secret, VaultFailure> {
        let key = self.state.data_key(&envelope.kid, record.tenant)?;
        Ok(open_with(&key, &record.binding(), envelope)?)
    }

    /// Reads and opens `record`'s secret (`None`: nothing stored).
    pub(crate) async fn get(&self, record: Record<'_>) -> Result<Option<Secret>, VaultFailure> {
        match self.envelope(record).await? {
            None => Ok(None),
            Some(e) => self.open_envelope(record, &e).map(Some),
        }
    }

    /// Deletes `record` (no error when it was not there).
    pub(crate) async fn delete(&self, record: Record<'_>) -> Result<(), VaultFailure> {
        self.kv.delete(&record.key()).await.map_err(storage)
    }

    /// Re-seals `record` under the active key if it is under another; returns the
    /// kid it is under afterwards.
    pub(crate) async fn reseal(&self, record: Record<'_>) -> Result<Option<String>, VaultFailure> {
        let Some(envelope) = self.envelope(record).await? else {
            return Ok(None);
        };
        if envelope.kid == self.active_kid() {
            return Ok(Some(envelope.kid));
        }
        let plain = self.open_envelope(record, &envelope)?;
        self.put(record, &plain).await.map(Some)
    }
}
