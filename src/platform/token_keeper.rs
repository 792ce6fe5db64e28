//! The token keeper: one Durable Object per OAuth2 connection (docs/oauth.md). It
//! owns the connection's token set — the refresh token lives only in its storage,
//! sealed with the tenant's vault key — refreshes it with a single flight (every
//! concurrent caller awaits one shared JS promise, cleared before they resume),
//! writes the access token through to the vault for the hot path, and revokes on
//! disconnect. Decisions are `crate::oauth::keeper`'s; this file does the I/O.
//!
//! Workers speak a small internal HTTP protocol to it (Rust objects get no RPC):
//! `POST https://keeper/{token,store,revoke,status}` with a JSON body naming the
//! tenant and connection (`protocol` below).

use super::env::var;
use super::outbound::{call_capped, OutboundError, Reply};
use super::store::{
    client_secret_record_id, AuditCx, GuardedWrite, IndexChange, OAuthConnectionRow, Store,
    VaultIndex,
};
use super::vault::{Record, Vault, VaultFailure, VaultState};
use crate::api::settings::DEFAULT_CP_TENANT;
use crate::api::time::iso8601;
use crate::connector::{AuthSpec, ClientAuth, ConnectorSpec, OAuth2Spec};
use crate::oauth::exchange::{self, FormRequest};
use crate::oauth::keeper::{alarm_at_ms, failure_code, refresh_at_ms, Ask, Decision, KeeperMeta};
use crate::oauth::token_set::{
    classify, retry_delay_ms, Permanent, RefreshFailure, TokenSet, Transient,
};
use crate::vault::{Credential, Envelope, RecordKind, Secret};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, ScheduledTime, State};

/// The Durable Object namespace binding.
pub(crate) const BINDING: &str = "CONNECTION_TOKENS";
/// Default `PORTICO_OAUTH_TIMEOUT_MS`.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Largest provider answer read (token responses are a few KiB).
const MAX_PROVIDER_ANSWER: usize = 64 * 1024;
/// The `object` of a keeper's index row in `vault_records`: the sealed token set is
/// in the object's storage, not in KV.
pub(crate) const KEEPER_OBJECT: &str = "durable-object:ConnectionTokens";
/// Storage keys.
const META: &str = "meta";
const TOKENS: &str = "tokens";

/// The internal protocol's bodies and answers.
pub(crate) mod protocol {
    use serde::{Deserialize, Serialize};

    /// What every request to a keeper carries.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub(crate) struct KeeperCall {
        pub(crate) tenant: String,
        pub(crate) connection: String,
        /// `token`: the hash of a token the upstream refused (a 401).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(crate) replace: Option<String>,
        /// `store`: the token set (`TokenSet::to_json`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(crate) tokens: Option<serde_json::Value>,
    }

    /// A keeper's answer to `token` and `store`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(tag = "outcome", rename_all = "snake_case")]
    pub(crate) enum Outcome {
        /// A usable access token.
        Token {
            access_token: String,
            expires_at_ms: Option<u64>,
            refresh_at_ms: Option<u64>,
        },
        /// The connection needs a user to authorise again.
        NeedsReauth { reason: String },
        /// Transient failures: try again after `until_ms`.
        CoolingDown { until_ms: u64 },
        /// Nothing stored.
        NoTokens,
        /// The keeper could not work (storage, vault, configuration).
        Failed { detail: String },
    }
}

use protocol::{KeeperCall, Outcome};

/// A connector's OAuth2 settings with its client secret (opened from the vault).
pub(crate) struct Client {
    pub(crate) spec: OAuth2Spec,
    pub(crate) secret: Option<String>,
}

/// The connection `connection` of `tenant` with its connector's OAuth2 client.
pub(crate) async fn load_client(
    env: &Env,
    vault: &VaultState,
    tenant: &str,
    connection: &str,
) -> Result<(OAuthConnectionRow, Client), String> {
    let store = Store::open(env).map_err(|e| e.to_string())?;
    let row = store
        .oauth_connection(tenant, connection)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the connection no longer exists")?;
    let spec_json: Value =
        serde_json::from_str(&row.spec_json).map_err(|_| "connector spec".to_string())?;
    let spec = ConnectorSpec::from_stored(&spec_json)
        .map_err(|_| "connector spec does not validate".to_string())?;
    let AuthSpec::OAuth2(spec) = spec.auth else {
        return Err("the connector does not use oauth2".into());
    };
    let secret = if spec.client_auth == ClientAuth::None {
        None
    } else {
        let owner = row.owner_tenant_id.clone().unwrap_or_else(|| {
            var(env, "CONTROL_PLANE_TENANT_ID")
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| DEFAULT_CP_TENANT.to_string())
        });
        let id = client_secret_record_id(&row.connector_id, row.version());
        let record = Record {
            tenant: &owner,
            kind: RecordKind::ConnectorClientSecret,
            id: &id,
        };
        let vault = Vault::open(vault, env).map_err(|e| e.to_string())?;
        let object = store
            .vault_object(&record.key())
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the connector has no client secret")?;
        let plain = vault
            .get(record, &object)
            .await
            .map_err(|e: VaultFailure| e.to_string())?
            .ok_or("the connector's client secret is missing")?;
        Some(
            String::from_utf8(plain.expose().to_vec())
                .map_err(|_| "the client secret is not text")?,
        )
    };
    Ok((row, Client { spec, secret }))
}

/// `PORTICO_OAUTH_TIMEOUT_MS` (token, refresh and revocation requests).
pub(crate) fn oauth_timeout_ms(env: &Env) -> u64 {
    var(env, "PORTICO_OAUTH_TIMEOUT_MS")
        .and_then(|v| v.trim().parse().ok())
        .filter(|&v: &u64| v > 0)
        .unwrap_or(DEFAULT_TIMEOUT_MS)
        .min(60_000)
}

#[durable_object(alarm)]
pub struct ConnectionTokens {
    inner: Rc<Inner>,
}

struct Inner {
    state: State,
    env: Env,
    vault: VaultState,
    /// The stored meta, loaded once (every change is written through).
    meta: RefCell<Option<KeeperMeta>>,
    /// The refresh in flight, shared by every caller.
    flight: RefCell<Option<js_sys::Promise>>,
}

/// The audit context of the keeper's own rows (no caller, no request).
fn keeper_cx(at: &str) -> AuditCx<'_> {
    AuditCx {
        actor: "token-keeper",
        request_id: "",
        at,
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn failed(detail: impl std::fmt::Display) -> Outcome {
    Outcome::Failed {
        detail: detail.to_string(),
    }
}

fn answer(status: u16, body: &Value) -> worker::Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

fn outcome_response(o: &Outcome) -> worker::Result<Response> {
    let status = match o {
        Outcome::Token { .. } => 200,
        Outcome::NeedsReauth { .. } => 409,
        Outcome::CoolingDown { .. } => 503,
        Outcome::NoTokens => 404,
        Outcome::Failed { .. } => 500,
    };
    answer(status, &serde_json::to_value(o).unwrap_or(Value::Null))
}

impl DurableObject for ConnectionTokens {
    fn new(state: State, env: Env) -> Self {
        let vault = VaultState::from_env(&env);
        Self {
            inner: Rc::new(Inner {
                state,
                env,
                vault,
                meta: RefCell::new(None),
                flight: RefCell::new(None),
            }),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let op = req.path();
        let Ok(body) = req.json::<KeeperCall>().await else {
            return answer(400, &json!({ "error": "bad request" }));
        };
        let inner = &self.inner;
        let meta = match inner.meta_for(&body).await {
            Ok(m) => m,
            Err(e) => return outcome_response(&e),
        };
        match op.as_str() {
            "/token" => {
                inner.update_meta(|m| m.token_requests += 1).await;
                let ask = match &body.replace {
                    Some(h) => Ask::Replace(h),
                    None => Ask::Usable,
                };
                let out = inner.token(&meta, ask).await;
                outcome_response(&out)
            }
            "/store" => {
                let out = match body.tokens.as_ref().and_then(TokenSet::from_stored) {
                    Some(t) => inner.store(t).await,
                    None => failed("no token set"),
                };
                outcome_response(&out)
            }
            "/reseal" => {
                let kid = inner.reseal().await;
                answer(200, &json!({ "kid": kid }))
            }
            "/revoke" => {
                let revocation = inner.revoke().await;
                answer(200, &json!({ "revocation": revocation }))
            }
            "/status" => {
                let tokens = inner.read_tokens(&meta).await.ok().flatten();
                let meta = inner.meta.borrow().clone().unwrap_or(meta);
                answer(200, &meta.status(tokens.as_ref(), now_ms()))
            }
            _ => answer(404, &json!({ "error": "no such operation" })),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let inner = &self.inner;
        let stored: Option<KeeperMeta> = inner.state.storage().get(META).await.ok().flatten();
        let Some(meta) = stored else {
            return Response::ok("");
        };
        if inner.meta.borrow().is_none() {
            *inner.meta.borrow_mut() = Some(meta.clone());
        }
        inner.update_meta(|m| m.next_alarm_ms = None).await;
        let out = inner.token(&meta, Ask::Alarm).await;
        if let Outcome::CoolingDown { until_ms } = out {
            inner.set_alarm(Some(until_ms)).await;
        }
        Response::ok("")
    }
}

impl Inner {
    /// The meta of this object, created on first use for `call`'s connection; a
    /// call naming another connection is refused (the object's name binds it).
    async fn meta_for(&self, call: &KeeperCall) -> Result<KeeperMeta, Outcome> {
        let known = self.meta.borrow().clone();
        let meta = match known {
            Some(m) => m,
            None => {
                let stored: Option<KeeperMeta> = self
                    .state
                    .storage()
                    .get(META)
                    .await
                    .map_err(|e| failed(format!("storage: {e}")))?;
                let m = stored.unwrap_or_else(|| KeeperMeta::new(&call.tenant, &call.connection));
                let mut slot = self.meta.borrow_mut();
                slot.get_or_insert(m).clone()
            }
        };
        if meta.tenant != call.tenant || meta.connection != call.connection {
            return Err(failed("this keeper belongs to another connection"));
        }
        Ok(meta)
    }

    /// Changes the meta in memory at once (no lost update between concurrent
    /// callers), then writes it through.
    async fn update_meta(&self, f: impl FnOnce(&mut KeeperMeta)) -> Option<KeeperMeta> {
        let snapshot = {
            let mut slot = self.meta.borrow_mut();
            let m = slot.as_mut()?;
            f(m);
            m.clone()
        };
        if let Err(e) = self.state.storage().put(META, &snapshot).await {
            worker::console_error!("portico: token keeper cannot store its state: {e}");
        }
        Some(snapshot)
    }

    fn snapshot(&self) -> Option<KeeperMeta> {
        self.meta.borrow().clone()
    }

    async fn read_tokens(&self, meta: &KeeperMeta) -> Result<Option<TokenSet>, Outcome> {
        let raw: Option<String> = self
            .state
            .storage()
            .get(TOKENS)
            .await
            .map_err(|e| failed(format!("storage: {e}")))?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let envelope = Envelope::parse(&raw).map_err(|e| failed(format!("stored tokens: {e}")))?;
        let plain = self
            .vault
            .open_local(
                &meta.tenant,
                RecordKind::ConnectionTokens,
                &meta.connection,
                &envelope,
            )
            .map_err(|e| failed(format!("stored tokens: {e}")))?;
        let value: Value = serde_json::from_slice(plain.expose())
            .map_err(|_| failed("stored tokens are not JSON"))?;
        TokenSet::from_stored(&value)
            .map(Some)
            .ok_or_else(|| failed("stored tokens are not a token set"))
    }

    async fn write_tokens(&self, meta: &KeeperMeta, tokens: &TokenSet) -> Result<(), Outcome> {
        let plain = Secret::new(tokens.to_json().to_string().into_bytes());
        let envelope = self
            .vault
            .seal_local(
                &meta.tenant,
                RecordKind::ConnectionTokens,
                &meta.connection,
                plain.expose(),
            )
            .map_err(|e| failed(format!("sealing tokens: {e}")))?;
        self.state
            .storage()
            .put(TOKENS, envelope.to_json())
            .await
            .map_err(|e| failed(format!("storage: {e}")))?;
        // Indexed with its kid, so vault status counts it and key rotation finds it.
        let index = VaultIndex {
            tenant: &meta.tenant,
            kind: RecordKind::ConnectionTokens.key_segment(),
            record_id: &meta.connection,
            object: KEEPER_OBJECT,
            kid: &envelope.kid,
        };
        let indexed = match Store::open(&self.env) {
            Ok(store) => store
                .vault_index_upsert(&index, &iso8601(now_ms()))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = indexed {
            worker::console_error!(
                "portico: token keeper of {} not indexed: {e}",
                meta.connection
            );
        }
        Ok(())
    }

    /// The kid the stored token set is sealed under, if one is stored.
    async fn stored_kid(&self) -> Option<String> {
        let raw: Option<String> = self.state.storage().get(TOKENS).await.ok().flatten();
        Envelope::parse(&raw?).ok().map(|e| e.kid)
    }

    /// Re-seals the stored token set under the active key (key rotation), as the
    /// flight: a refresh starting meanwhile waits for it instead of racing its write.
    async fn reseal(self: &Rc<Self>) -> Option<String> {
        loop {
            self.settle_flight().await;
            if self.flight.borrow().is_none() {
                break;
            }
        }
        let me = Rc::clone(self);
        let p = future_to_promise(async move {
            let out = match me.snapshot() {
                None => Outcome::NoTokens,
                Some(meta) => match me.read_tokens(&meta).await {
                    Ok(Some(t)) => match me.write_tokens(&meta, &t).await {
                        Ok(()) => Self::token_outcome(&meta, &t),
                        Err(e) => e,
                    },
                    Ok(None) => Outcome::NoTokens,
                    Err(e) => e,
                },
            };
            *me.flight.borrow_mut() = None;
            Ok(JsValue::from_str(
                &serde_json::to_string(&out).unwrap_or_default(),
            ))
        });
        *self.flight.borrow_mut() = Some(p.clone());
        let _ = JsFuture::from(p).await;
        self.stored_kid().await
    }

    fn token_outcome(meta: &KeeperMeta, t: &TokenSet) -> Outcome {
        Outcome::Token {
            access_token: t.access_token.clone(),
            expires_at_ms: t.expires_at_ms,
            refresh_at_ms: refresh_at_ms(t, meta.obtained_at_ms),
        }
    }

    /// A usable token for `ask`: from storage, or after the (shared) refresh.
    async fn token(self: &Rc<Self>, meta: &KeeperMeta, ask: Ask<'_>) -> Outcome {
        let tokens = match self.read_tokens(meta).await {
            Ok(t) => t,
            Err(e) => return e,
        };
        let meta = self.snapshot().unwrap_or_else(|| meta.clone());
        match meta.decide(tokens.as_ref(), ask, now_ms()) {
            Decision::Serve => match &tokens {
                Some(t) => Self::token_outcome(&meta, t),
                None => Outcome::NoTokens,
            },
            Decision::NoTokens => Outcome::NoTokens,
            Decision::NeedsReauth => {
                let reason = meta
                    .reauth
                    .clone()
                    .unwrap_or_else(|| "no_refresh_token".into());
                if meta.reauth.is_none() {
                    self.give_up(&reason).await;
                }
                Outcome::NeedsReauth { reason }
            }
            Decision::CoolingDown { until_ms } => Outcome::CoolingDown { until_ms },
            Decision::Refresh => self.join_flight(ask).await,
        }
    }

    /// Awaits the refresh in flight, starting it if there is none.
    async fn join_flight(self: &Rc<Self>, ask: Ask<'_>) -> Outcome {
        let existing = self.flight.borrow().clone();
        let promise = match existing {
            Some(p) => p,
            None => {
                let me = Rc::clone(self);
                let replace = match ask {
                    Ask::Replace(h) => Some(h.to_string()),
                    _ => None,
                };
                let alarm = matches!(ask, Ask::Alarm);
                let p = future_to_promise(async move {
                    let ask = match (&replace, alarm) {
                        (Some(h), _) => Ask::Replace(h),
                        (None, true) => Ask::Alarm,
                        (None, false) => Ask::Usable,
                    };
                    let out = me.refresh(ask).await;
                    // Cleared before any waiter resumes: a later caller starts anew.
                    *me.flight.borrow_mut() = None;
                    Ok(JsValue::from_str(
                        &serde_json::to_string(&out).unwrap_or_default(),
                    ))
                });
                *self.flight.borrow_mut() = Some(p.clone());
                p
            }
        };
        match JsFuture::from(promise).await {
            Ok(v) => v
                .as_string()
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_else(|| failed("refresh answered nothing")),
            Err(_) => failed("refresh failed"),
        }
    }

    /// Waits for a refresh in flight, if any (before replacing or deleting tokens).
    async fn settle_flight(&self) {
        let existing = self.flight.borrow().clone();
        if let Some(p) = existing {
            let _ = JsFuture::from(p).await;
        }
    }

    /// The refresh itself: storage re-read, the provider called (retrying transient
    /// failures), the new set persisted and written through before answering.
    async fn refresh(self: &Rc<Self>, ask: Ask<'_>) -> Outcome {
        let Some(meta) = self.snapshot() else {
            return Outcome::NoTokens;
        };
        // Another caller may have refreshed since this one decided.
        let tokens = match self.read_tokens(&meta).await {
            Ok(Some(t)) => t,
            Ok(None) => return Outcome::NoTokens,
            Err(e) => return e,
        };
        match meta.decide(Some(&tokens), ask, now_ms()) {
            Decision::Refresh => {}
            Decision::Serve => return Self::token_outcome(&meta, &tokens),
            Decision::NoTokens => return Outcome::NoTokens,
            Decision::NeedsReauth => {
                return Outcome::NeedsReauth {
                    reason: meta.reauth.unwrap_or_else(|| "no_refresh_token".into()),
                }
            }
            Decision::CoolingDown { until_ms } => return Outcome::CoolingDown { until_ms },
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Outcome::NeedsReauth {
                reason: "no_refresh_token".into(),
            };
        };
        let client = match self.client(&meta).await {
            Ok(c) => c,
            Err(e) => return e,
        };
        let form = match exchange::refresh(&client.spec, client.secret.as_deref(), &refresh_token) {
            Ok(f) => f,
            Err(e) => return failed(e),
        };
        let mut attempt = 0;
        loop {
            let sent = self.post(&client.spec.token_url, &form).await;
            let now = now_ms();
            let failure = match sent {
                Ok(r) if (200..300).contains(&r.status) => {
                    match TokenSet::parse(r.body.as_bytes(), now) {
                        Ok(new) => {
                            let new = new.refreshed_from(&tokens);
                            return self.keep(new, now, true).await;
                        }
                        Err(e) => RefreshFailure::Permanent(Permanent::Malformed(e)),
                    }
                }
                Ok(r) => classify(r.status, r.body.as_bytes()),
                Err(OutboundError::Timeout { .. }) => RefreshFailure::Transient(Transient::Timeout),
                Err(_) => RefreshFailure::Transient(Transient::Network),
            };
            let delay = match failure {
                RefreshFailure::Transient(_) => retry_delay_ms(attempt),
                RefreshFailure::Permanent(_) => None,
            };
            let meta = self
                .update_meta(|m| m.failed(&failure, delay.is_none(), now))
                .await
                .unwrap_or_else(|| meta.clone());
            worker::console_warn!(
                "portico: refresh of connection {} of {} failed: {}",
                meta.connection,
                meta.tenant,
                failure_code(&failure)
            );
            match (failure, delay) {
                (RefreshFailure::Permanent(_), _) => {
                    let reason = failure_code(&failure);
                    self.give_up(&reason).await;
                    return Outcome::NeedsReauth { reason };
                }
                (RefreshFailure::Transient(_), Some(ms)) => {
                    worker::Delay::from(std::time::Duration::from_millis(ms)).await;
                    attempt += 1;
                }
                (RefreshFailure::Transient(_), None) => {
                    self.audit(&meta, "connection.refresh_failed").await;
                    self.set_alarm(Some(meta.cooldown_until_ms)).await;
                    return Outcome::CoolingDown {
                        until_ms: meta.cooldown_until_ms,
                    };
                }
            }
        }
    }

    /// Persists a token set (storage first: it is the truth), then the replica
    /// and the alarm. `refreshed`: from a refresh (else from the code exchange).
    async fn keep(&self, tokens: TokenSet, now: u64, refreshed: bool) -> Outcome {
        let Some(meta) = self.snapshot() else {
            return Outcome::NoTokens;
        };
        if let Err(e) = self.write_tokens(&meta, &tokens).await {
            return e;
        }
        let meta = self
            .update_meta(|m| {
                if refreshed {
                    m.refreshed(now);
                } else {
                    m.connected(now);
                }
            })
            .await
            .unwrap_or(meta);
        if let Err(e) = self.write_replica(&meta, &tokens).await {
            // Isolates ask the keeper again when their copy is due; log, go on.
            worker::console_error!(
                "portico: access-token replica of connection {} not written: {e}",
                meta.connection
            );
        }
        self.set_alarm(alarm_at_ms(&tokens, meta.obtained_at_ms))
            .await;
        Self::token_outcome(&meta, &tokens)
    }

    /// `store`: a token set from the code exchange replaces whatever was kept.
    async fn store(self: &Rc<Self>, tokens: TokenSet) -> Outcome {
        self.settle_flight().await;
        self.keep(tokens, now_ms(), false).await
    }

    async fn set_alarm(&self, at_ms: Option<u64>) {
        let storage = self.state.storage();
        let result = match at_ms {
            Some(ms) => {
                let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
                storage.set_alarm(ScheduledTime::new(date)).await
            }
            None => storage.delete_alarm().await,
        };
        if let Err(e) = result {
            worker::console_error!("portico: token keeper alarm not set: {e}");
            return;
        }
        self.update_meta(|m| m.next_alarm_ms = at_ms).await;
    }

    /// An audit row for an OAuth event of this connection (best effort).
    async fn audit(&self, meta: &KeeperMeta, action: &'static str) {
        let Ok(store) = Store::open(&self.env) else {
            return;
        };
        let at = iso8601(now_ms());
        if let Err(e) = store
            .oauth_event(&meta.tenant, &meta.connection, action, &keeper_cx(&at))
            .await
        {
            worker::console_error!("portico: token keeper audit row not written: {e}");
        }
    }

    /// A permanent failure: the connection is `needs_reauth` (tokens kept).
    async fn give_up(&self, reason: &str) {
        let reason = reason.to_string();
        let Some(meta) = self
            .update_meta(|m| {
                if m.reauth.is_none() {
                    m.reauth = Some(reason.clone());
                }
            })
            .await
        else {
            return;
        };
        self.set_alarm(None).await;
        let Ok(store) = Store::open(&self.env) else {
            return;
        };
        let at = iso8601(now_ms());
        if let Err(e) = store
            .oauth_needs_reauth(&meta.tenant, &meta.connection, &keeper_cx(&at))
            .await
        {
            worker::console_error!(
                "portico: connection {} could not be marked needs_reauth: {e}",
                meta.connection
            );
        }
    }

    /// Writes the access token to the vault for warm calls, and its expiry to D1.
    async fn write_replica(&self, meta: &KeeperMeta, tokens: &TokenSet) -> Result<(), String> {
        let vault = Vault::open(&self.vault, &self.env).map_err(|e| e.to_string())?;
        let store = Store::open(&self.env).map_err(|e| e.to_string())?;
        let record = Record {
            tenant: &meta.tenant,
            kind: RecordKind::ConnectionSecret,
            id: &meta.connection,
        };
        let previous = store
            .vault_object(&record.key())
            .await
            .map_err(|e| e.to_string())?;
        let plain = Credential::Bearer(Secret::new(tokens.access_token.clone().into_bytes()))
            .to_plaintext()
            .map_err(|e| e.to_string())?;
        let stored = vault.put(record, &plain).await.map_err(|e| e.to_string())?;
        let at = iso8601(now_ms());
        let expires = tokens.expires_at_ms.map(iso8601);
        let refresh_at = refresh_at_ms(tokens, meta.obtained_at_ms).map(|v| v as f64);
        let index = IndexChange::Put(VaultIndex {
            tenant: &meta.tenant,
            kind: RecordKind::ConnectionSecret.key_segment(),
            record_id: &meta.connection,
            object: &stored.object,
            kid: &stored.kid,
        });
        let written = store
            .set_connection_token(
                &meta.tenant,
                &meta.connection,
                &index,
                expires.as_deref(),
                refresh_at,
                &at,
            )
            .await;
        match written {
            Ok(GuardedWrite::Written) => {
                if let Some(old) = previous.filter(|o| *o != stored.object) {
                    let _ = vault.delete(&old).await;
                }
                Ok(())
            }
            Ok(GuardedWrite::Refused) => {
                // The connection is gone: nothing of it may stay.
                let _ = vault.delete(&stored.object).await;
                let _ = store.vault_index_remove_key(&record.key()).await;
                Err("the connection no longer exists".into())
            }
            Err(e) => {
                let _ = vault.delete(&stored.object).await;
                Err(e.to_string())
            }
        }
    }

    /// The connector's OAuth2 settings and client secret.
    async fn client(&self, meta: &KeeperMeta) -> Result<Client, Outcome> {
        load_client(&self.env, &self.vault, &meta.tenant, &meta.connection)
            .await
            .map(|(_, c)| c)
            .map_err(failed)
    }

    async fn post(&self, url: &str, form: &FormRequest) -> Result<Reply, OutboundError> {
        post_form(&self.env, url, form, oauth_timeout_ms(&self.env)).await
    }

    /// Revokes at the provider (RFC 7009) and forgets every token, whatever the
    /// provider answered: `revoked`, `failed`, `not_supported` or `none`.
    async fn revoke(self: &Rc<Self>) -> &'static str {
        self.settle_flight().await;
        let Some(meta) = self.snapshot() else {
            return "none";
        };
        let tokens = self.read_tokens(&meta).await.ok().flatten();
        let outcome = match &tokens {
            None => "none",
            Some(t) => match self.client(&meta).await {
                Err(_) => "failed",
                Ok(client) => match client.spec.revocation_url.clone() {
                    None => "not_supported",
                    Some(url) => {
                        let (token, hint) = match &t.refresh_token {
                            Some(r) => (r.as_str(), "refresh_token"),
                            None => (t.access_token.as_str(), "access_token"),
                        };
                        match exchange::revoke(&client.spec, client.secret.as_deref(), token, hint)
                        {
                            Err(_) => "failed",
                            Ok(form) => match self.post(&url, &form).await {
                                Ok(r) if (200..300).contains(&r.status) => "revoked",
                                _ => "failed",
                            },
                        }
                    }
                },
            },
        };
        let storage = self.state.storage();
        let _ = storage.delete_alarm().await;
        let _ = storage.delete(TOKENS).await;
        if let Ok(store) = Store::open(&self.env) {
            let key = RecordKind::ConnectionTokens.storage_key(&meta.tenant, &meta.connection);
            let _ = store.vault_index_remove_key(&key).await;
        }
        let fresh = KeeperMeta::new(&meta.tenant, &meta.connection);
        *self.meta.borrow_mut() = Some(fresh.clone());
        let _ = storage.put(META, &fresh).await;
        outcome
    }
}

/// POSTs a form to a provider endpoint with a deadline.
pub(crate) async fn post_form(
    env: &Env,
    url: &str,
    form: &FormRequest,
    timeout_ms: u64,
) -> Result<Reply, OutboundError> {
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("accept", "application/json"),
    ];
    if let Some(a) = &form.authorization {
        headers.push(("authorization", a.as_str()));
    }
    call_capped(
        env,
        None,
        Method::Post,
        url,
        &headers,
        Some(form.body.clone()),
        timeout_ms,
        MAX_PROVIDER_ANSWER,
    )
    .await
}

/// What a worker sends a connection's keeper, and its answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Revocation {
    pub(crate) revocation: String,
}
