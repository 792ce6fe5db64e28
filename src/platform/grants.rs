//! Opens connections for calls (`credentials` routes and the proxy endpoint): the
//! connection and its connector version from D1, the secret from the vault, kept
//! per isolate for a few seconds so a warm call does no I/O (`crate::grant::cache`
//! decides: one reload at a time, a bounded fallback when a reload fails). Writes
//! through the API forget the entry in their isolate; other isolates see a change
//! within the TTL.

use super::env::var;
use super::keeper_client;
use super::store::Store;
use super::token_keeper::protocol::Outcome;
use super::vault::{Record, Vault, VaultFailure, VaultState};
use crate::connection::policy::Policy;
use crate::connection::ConnectionState;
use crate::connector::ConnectorSpec;
use crate::error::ProxyError;
use crate::grant::cache::{Cache, Lookup};
use crate::grant::{Grant, Use};
use crate::request::CredentialFailure;
use crate::vault::inject::Injection;
use crate::vault::{Credential, RecordKind, Secret};
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

/// Default `PORTICO_CONNECTION_CACHE_SECONDS`.
const DEFAULT_TTL_S: u64 = 5;
/// How long past its TTL an opened connection may still serve while a reload runs
/// or after a reload failed.
const STALE_MS: f64 = 30_000.0;

type Opened = Result<Rc<Grant>, CredentialFailure>;

/// Opened connections by (tenant, connection id): `crate::grant::cache` decides.
pub(crate) struct GrantCache(RefCell<Cache<Opened>>);

impl GrantCache {
    pub(crate) fn from_env(env: &Env) -> Self {
        let ttl_s = var(env, "PORTICO_CONNECTION_CACHE_SECONDS")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_TTL_S)
            .min(300);
        Self(RefCell::new(Cache::new((ttl_s * 1000) as f64, STALE_MS)))
    }

    /// What a request that must not wait may use now (the fast path).
    pub(crate) fn now(&self, tenant: &str, id: &str, now_ms: f64) -> Option<Opened> {
        self.0.borrow().peek(tenant, id, now_ms)
    }

    /// Forgets a connection (after a write to it in this isolate).
    pub(crate) fn forget(&self, tenant: &str, id: &str) {
        self.0.borrow_mut().forget(tenant, id);
    }

    /// Forgets everything (a connector changed: its connections' specs may have).
    pub(crate) fn forget_all(&self) {
        self.0.borrow_mut().forget_all();
    }
}

fn unreadable(e: impl std::fmt::Display) -> CredentialFailure {
    CredentialFailure::Unreadable(e.to_string())
}

fn from_vault(e: VaultFailure) -> CredentialFailure {
    match e {
        VaultFailure::Unavailable(_) => CredentialFailure::VaultUnavailable,
        other => unreadable(other),
    }
}

/// The connection `id` of `tenant`, opened (from `cache` when fresh).
pub(crate) async fn open(
    cache: &GrantCache,
    vault: &VaultState,
    env: &Env,
    tenant: &str,
    id: &str,
) -> Opened {
    let now = js_sys::Date::now();
    let decided = cache.0.borrow_mut().lookup(tenant, id, now);
    match decided {
        Lookup::Fresh(hit) | Lookup::Reloading(hit) => return hit,
        Lookup::Load => {}
    }
    let opened = load(vault, env, tenant, id).await.map(Rc::new);
    let done = js_sys::Date::now();
    match &opened {
        // Found, or known not to exist: both are answers worth keeping.
        Ok(_) | Err(CredentialFailure::NotFound) => {
            cache.0.borrow_mut().store(tenant, id, done, opened.clone());
        }
        // Storage or the vault failed: the old copy, within bounds, or the failure.
        Err(e) => {
            worker::console_error!("portico: connection {id} of {tenant} unusable: {e}");
            if let Some(old) = cache.0.borrow_mut().fallback(tenant, id, done) {
                return old;
            }
        }
    }
    opened
}

/// The connection `id` of `tenant`, opened with a usable credential: an OAuth2
/// access token due for renewal comes from the connection's token keeper first
/// (a warm call with a fresh token makes no keeper round trip).
pub(crate) async fn open_for_call(
    cache: &GrantCache,
    vault: &VaultState,
    env: &Env,
    tenant: &str,
    id: &str,
) -> Opened {
    let grant = open(cache, vault, env, tenant, id).await?;
    if !grant.token_due(js_sys::Date::now()) {
        return Ok(grant);
    }
    renew(cache, env, &grant, None).await
}

/// After the upstream refused the access token hashed `refused` (401): the
/// keeper's replacement (one refresh for any number of callers that saw it).
pub(crate) async fn replace_token(
    cache: &GrantCache,
    env: &Env,
    grant: &Grant,
    refused: String,
) -> Opened {
    renew(cache, env, grant, Some(refused)).await
}

/// What to inject into `call` instead, once the upstream refused the token hashed
/// `refused`: the keeper's replacement, authorised like the first attempt.
pub(crate) async fn reauthorize(
    cache: &GrantCache,
    env: &Env,
    grant: &Grant,
    refused: String,
    call: &Use<'_>,
) -> Result<Injection, ProxyError> {
    let renewed = replace_token(cache, env, grant, refused)
        .await
        .map_err(|f| f.to_proxy_error())?;
    Ok(renewed.authorize(call)?)
}

async fn renew(cache: &GrantCache, env: &Env, grant: &Grant, replace: Option<String>) -> Opened {
    let (tenant, id) = (grant.tenant_id.as_str(), grant.connection_id.as_str());
    let now = js_sys::Date::now();
    match keeper_client::token(env, tenant, id, replace).await {
        Ok(Outcome::Token {
            access_token,
            refresh_at_ms,
            ..
        }) => {
            let token = Credential::Bearer(Secret::new(access_token.into_bytes()));
            let renewed = Rc::new(grant.with_token(token, refresh_at_ms.map(|v| v as f64)));
            cache
                .0
                .borrow_mut()
                .store(tenant, id, now, Ok(Rc::clone(&renewed)));
            Ok(renewed)
        }
        Ok(Outcome::NeedsReauth { .. } | Outcome::NoTokens) => {
            cache.forget(tenant, id);
            Err(CredentialFailure::NeedsReauth)
        }
        Ok(Outcome::CoolingDown { until_ms }) => {
            let wait_s = ((until_ms as f64 - now) / 1000.0).ceil().clamp(1.0, 3600.0) as u32;
            Err(CredentialFailure::CoolingDown(wait_s))
        }
        Ok(Outcome::Failed { detail }) | Err(detail) => {
            worker::console_error!("portico: token keeper of {id} of {tenant}: {detail}");
            Err(CredentialFailure::Unreadable(
                "the connection's token keeper failed".into(),
            ))
        }
    }
}

async fn load(
    vault: &VaultState,
    env: &Env,
    tenant: &str,
    id: &str,
) -> Result<Grant, CredentialFailure> {
    // Without the vault no connection is usable: say so before touching storage.
    let vault = Vault::open(vault, env).map_err(from_vault)?;
    let store = Store::open(env).map_err(unreadable)?;
    let row = store
        .connection_for_use(tenant, id)
        .await
        .map_err(unreadable)?
        .ok_or(CredentialFailure::NotFound)?;
    let spec_json: serde_json::Value =
        serde_json::from_str(&row.spec_json).map_err(|_| unreadable("connector spec"))?;
    let spec = ConnectorSpec::from_stored(&spec_json)
        .map_err(|_| unreadable("connector spec does not validate"))?;
    let policy = match row.policy_json.as_deref() {
        None => None,
        Some(p) => {
            let v: serde_json::Value = serde_json::from_str(p).map_err(|_| unreadable("policy"))?;
            Some(Rc::new(
                Policy::compile(&v, "policy").map_err(|_| unreadable("policy does not compile"))?,
            ))
        }
    };
    let state = ConnectionState::parse(&row.state).ok_or_else(|| unreadable("state"))?;
    let credential = if row.secret_set > 0.0 {
        let record = Record {
            tenant,
            kind: RecordKind::ConnectionSecret,
            id,
        };
        let object = row
            .secret_object
            .as_deref()
            .ok_or_else(|| unreadable("the connection's secret is not indexed"))?;
        let mut plain = vault.get(record, object).await.map_err(from_vault)?;
        if plain.is_none() {
            // A write or re-encryption may have replaced the object since the read
            // above: follow the index once more.
            let now = store
                .vault_object(&record.key())
                .await
                .map_err(unreadable)?;
            if let Some(now) = now.filter(|n| n != object) {
                plain = vault.get(record, &now).await.map_err(from_vault)?;
            }
        }
        let plain = plain.ok_or_else(|| unreadable("the connection's secret is missing"))?;
        Some(Credential::from_plaintext(&plain).map_err(unreadable)?)
    } else {
        None
    };
    Ok(Grant {
        tenant_id: row.tenant_id,
        connection_id: row.id,
        connector_id: row.connector_id,
        connector_version: row.connector_version.max(0.0) as u32,
        state,
        spec: Rc::new(spec),
        policy,
        credential,
        token_refresh_at_ms: row.refresh_at_ms,
    })
}
