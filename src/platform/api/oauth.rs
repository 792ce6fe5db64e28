//! OAuth2 connections (docs/oauth.md): `_initiate` (a pending connection and the
//! provider's authorize URL, its state kept in D1), the callback (the state consumed
//! once, the code exchanged, the token set handed to the connection's token
//! keeper) and the keeper's status. The decisions are pure (`crate::oauth`).

use super::call::{json_response, now_iso, read_json, Call};
use super::connections::{new_connection_id, primary_of, row_spec};
use super::connectors::field_error;
use crate::api::time::iso8601;
use crate::api::Problem;
use crate::connection::body::connection_create;
use crate::connection::ConnectionState;
use crate::connector::{AuthSpec, ConnectorSpec, OAuth2Spec};
use crate::message::HeaderAccess;
use crate::message::SimpleResponse;
use crate::oauth::authorize::{
    authorize_url, parse_callback, return_to_allowed, state_param, CallbackError, STATE_TTL_MS,
};
use crate::oauth::exchange::code_exchange;
use crate::oauth::pkce;
use crate::oauth::state::{compose, StateBinding, StateParts};
use crate::oauth::token_set::TokenSet;
use crate::platform::env::var;
use crate::platform::keeper_client;
use crate::platform::store::{
    AuditCx, Connected, GuardedWrite, IndexChange, NewConnection, NewState, StateRow, Store,
};
use crate::platform::token_keeper::protocol::Outcome;
use crate::platform::token_keeper::{load_client, oauth_timeout_ms, post_form};
use crate::vault::{Envelope, RecordKind};
use serde_json::{json, Value};

/// The purpose the state MAC key is derived for.
const STATE_PURPOSE: &str = "oauth-state/v1";

fn random32() -> Result<[u8; 32], Problem> {
    let mut r = [0u8; 32];
    getrandom::getrandom(&mut r).map_err(|e| Problem::internal().caused_by(e))?;
    Ok(r)
}

fn oauth_spec(spec: &ConnectorSpec) -> Option<&OAuth2Spec> {
    match &spec.auth {
        AuthSpec::OAuth2(o) => Some(o),
        _ => None,
    }
}

/// The id the PKCE verifier of state `key` is sealed under.
fn verifier_id(key: &str) -> String {
    format!("oauth-state:{key}")
}

/// The callback URL providers redirect to.
fn redirect_uri(c: &Call<'_>) -> String {
    if let Some(u) = var(c.env, "PORTICO_OAUTH_REDIRECT_URI").filter(|u| !u.trim().is_empty()) {
        return u.trim().to_string();
    }
    let url = c.req.url();
    let origin = crate::url::split_origin(&url)
        .map(|(o, _)| o)
        .unwrap_or_default();
    format!("{origin}/api/v1/oauth/callback")
}

/// `POST /tenants/{tid}/connections/_initiate`.
pub(super) async fn initiate(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let mut body = read_json(c.req).await?;
    let Some(fields) = body.as_object_mut() else {
        return Err(field_error("", "must be a JSON object"));
    };
    let return_to = match fields.remove("return_to") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(field_error("return_to", "must be a string")),
    };
    let reuse = match fields.remove("connection_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(field_error("connection_id", "must be a string")),
    };
    // Everything is checked before a new connection is created: a refused call
    // leaves nothing behind.
    let (existing, spec, to_create) = match &reuse {
        Some(id) => {
            if let Some(k) = fields.keys().next() {
                return Err(field_error(
                    k,
                    "is not allowed when re-authorising a connection_id",
                ));
            }
            let row = store
                .oauth_connection(c.tid(), id)
                .await?
                .ok_or_else(|| Problem::not_found("connection"))?;
            let spec = row_spec(&row)?;
            if oauth_spec(&spec).is_none() {
                return Err(field_error("connection_id", "is not an oauth2 connection"));
            }
            (Some(row.id), spec, None)
        }
        None => {
            let new = connection_create(&body).map_err(Problem::validation)?;
            let (connector_id, version, spec) = primary_of(c, store, &new.connector_id).await?;
            if oauth_spec(&spec).is_none() {
                return Err(field_error(
                    "connector_id",
                    "the connector does not use oauth2",
                ));
            }
            // The same caller trying again: its abandoned pending connection is reused.
            let labels = serde_json::to_string(&new.labels).unwrap_or_else(|_| "{}".into());
            let policy = new.policy.as_ref().map(|p| p.to_json().to_string());
            let actor = &c.caller()?.actor;
            match store
                .reusable_pending(c.tid(), &connector_id, actor, &labels, policy.as_deref())
                .await?
            {
                Some(id) => (Some(id), spec, None),
                None => (None, spec, Some((new, connector_id, version))),
            }
        }
    };
    let Some(oauth) = oauth_spec(&spec) else {
        return Err(Problem::internal().caused_by("not an oauth2 spec"));
    };
    if let Some(r) = &return_to {
        let mut allowed = oauth.return_origins.clone();
        allowed.extend(store.tenant_origins(c.tid()).await?);
        if !return_to_allowed(r, &allowed) {
            return Err(field_error(
                "return_to",
                "its origin is not one the connector's return_origins or the tenant's active domains allow",
            ));
        }
    }
    let caller = c.caller()?;
    let now = js_sys::Date::now() as u64;
    let expires_at_ms = now + STATE_TTL_MS;
    let (mac_kid, mac_key) = c
        .iso
        .vault
        .purpose_key(None, STATE_PURPOSE)
        .map_err(Problem::from)?;
    let created = to_create.is_some();
    let row_id = match (existing, to_create) {
        (Some(id), _) => id,
        (None, Some((new, connector_id, version))) => {
            create_pending(c, store, &new, &connector_id, version).await?
        }
        (None, None) => return Err(Problem::internal().caused_by("nothing to initiate")),
    };
    let random = random32()?;
    let binding = StateBinding {
        tenant: c.tid(),
        connection: &row_id,
        sub: &caller.actor,
        expires_at_ms,
    };
    let state = compose(&random, &mac_key, &binding);
    let key = StateParts::split(&state)
        .map(|p| p.row_key())
        .ok_or_else(|| Problem::internal().caused_by("state shape"))?;
    let verifier = pkce::verifier(&random32()?);
    let sealed = c
        .iso
        .vault
        .seal_local(
            c.tid(),
            RecordKind::ConnectionTokens,
            &verifier_id(&key),
            verifier.as_bytes(),
        )
        .map_err(Problem::from)?;
    let redirect = redirect_uri(c);
    let at = now_iso();
    store
        .insert_oauth_state(
            &NewState {
                key: &key,
                tenant_id: c.tid(),
                connection_id: &row_id,
                sub: &caller.actor,
                verifier: &sealed.to_json(),
                mac_kid: &mac_kid,
                redirect_uri: &redirect,
                return_to: return_to.as_deref(),
                expires_at_ms: expires_at_ms as f64,
            },
            &c.audit(&at)?,
        )
        .await?;
    let row = store
        .get_connection(c.tid(), &row_id)
        .await?
        .ok_or_else(|| Problem::internal().caused_by("connection vanished"))?;
    let answer = json!({
        "connection": row.to_json(),
        "authorize_url": authorize_url(oauth, &redirect, &state, &verifier),
        "state_expires_at": iso8601(expires_at_ms),
    });
    Ok(json_response(if created { 201 } else { 200 }, &answer))
}

/// Creates the pending connection of an `_initiate` without `connection_id`.
async fn create_pending(
    c: &Call<'_>,
    store: &Store,
    new: &crate::connection::ConnectionCreate,
    connector_id: &str,
    version: u32,
) -> Result<String, Problem> {
    let id = new_connection_id(c, store).await?;
    let labels = serde_json::to_string(&new.labels).unwrap_or_else(|_| "{}".into());
    let policy = new.policy.as_ref().map(|p| p.to_json().to_string());
    let at = now_iso();
    store
        .create_connection(
            &NewConnection {
                id: &id,
                tenant_id: c.tid(),
                connector_id,
                connector_version: version,
                state: ConnectionState::Pending.as_str(),
                labels_json: &labels,
                policy_json: policy.as_deref(),
                secret_set: false,
            },
            &IndexChange::Unchanged,
            &c.audit(&at)?,
        )
        .await?;
    Ok(id)
}

/// A refused callback: a small page, its status and code.
fn refusal(status: u16, code: &str, message: &str) -> SimpleResponse {
    let mut r = page(status, "Connection not completed", message);
    r.headers.set(crate::error::ERROR_HEADER, code);
    r
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: u16, title: &str, message: &str) -> SimpleResponse {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1><p>{m}</p></body></html>",
        t = html_escape(title),
        m = html_escape(message)
    );
    let mut r = SimpleResponse::text(status, body);
    r.headers.set("content-type", "text/html; charset=utf-8");
    r.headers.set("cache-control", "no-store");
    r.headers.set("referrer-policy", "no-referrer");
    r
}

/// Why a consumed state cannot complete.
async fn check_state(
    c: &Call<'_>,
    store: &Store,
    parts: &StateParts<'_>,
    row: &StateRow,
    now: u64,
) -> Result<(), SimpleResponse> {
    if (row.expires_at_ms as u64) < now {
        return Err(refusal(
            400,
            "oauth_state_expired",
            "The authorisation took too long; start again.",
        ));
    }
    let binding = StateBinding {
        tenant: &row.tenant_id,
        connection: &row.connection_id,
        sub: &row.sub,
        expires_at_ms: row.expires_at_ms as u64,
    };
    let key_ok = c
        .iso
        .vault
        .purpose_key(Some(&row.mac_kid), STATE_PURPOSE)
        .map(|(_, k)| parts.verify(&k, &binding))
        .unwrap_or(false);
    if !key_ok {
        return Err(refusal(
            400,
            "oauth_state_tampered",
            "The state does not match what was issued.",
        ));
    }
    let conn = store
        .oauth_connection(&row.tenant_id, &row.connection_id)
        .await
        .map_err(|_| {
            refusal(
                503,
                "oauth_unavailable",
                "Storage is unavailable; try again.",
            )
        })?;
    let current = conn
        .as_ref()
        .and_then(|r| r.pending_state.as_deref())
        .is_some_and(|p| p == parts.row_key());
    if !current {
        return Err(refusal(
            400,
            "oauth_state_mismatch",
            "This authorisation is no longer the connection's current one.",
        ));
    }
    Ok(())
}

/// `GET /oauth/callback` (no token: the state is the credential).
pub(super) async fn callback(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let now = js_sys::Date::now() as u64;
    let parsed = parse_callback(c.query);
    let state = match &parsed {
        Ok(cb) => Some(cb.state.clone()),
        // A refused callback still burns its state, so it cannot be completed later.
        Err(_) => state_param(c.query),
    };
    let consumed = match state.as_deref().and_then(StateParts::split) {
        Some(parts) => {
            let key = parts.row_key();
            Some((
                parts,
                key.clone(),
                store.consume_oauth_state(&key, now as f64).await?,
            ))
        }
        None => None,
    };
    let cb = match parsed {
        Ok(cb) => cb,
        Err(e) => {
            if let Some((_, _, Some(row))) = &consumed {
                audit_refusal(c, store, row).await;
            }
            return Ok(match e {
                CallbackError::Provider(code) => refusal(
                    400,
                    "oauth_provider_error",
                    &format!("The provider refused: {code}."),
                ),
                CallbackError::MissingState => {
                    refusal(400, "oauth_state_missing", "The callback carries no state.")
                }
                CallbackError::MissingCode => {
                    refusal(400, "oauth_code_missing", "The callback carries no code.")
                }
                CallbackError::Malformed(_) => refusal(
                    400,
                    "oauth_callback_malformed",
                    "The callback's parameters are malformed.",
                ),
            });
        }
    };
    let Some((parts, key, row)) = consumed else {
        return Ok(refusal(
            400,
            "oauth_state_malformed",
            "The state is not one Portico issues.",
        ));
    };
    let Some(row) = row else {
        return Ok(if store.oauth_state_used(&key).await? {
            refusal(
                400,
                "oauth_state_replayed",
                "This authorisation was already used.",
            )
        } else {
            refusal(
                400,
                "oauth_state_unknown",
                "No such authorisation is pending.",
            )
        });
    };
    if let Err(page) = check_state(c, store, &parts, &row, now).await {
        audit_refusal(c, store, &row).await;
        return Ok(page);
    }
    match complete(c, store, &row, &key, &cb.code).await {
        Ok(page) => Ok(page),
        Err(page) => {
            audit_refusal(c, store, &row).await;
            Ok(page)
        }
    }
}

async fn audit_refusal(c: &Call<'_>, store: &Store, row: &StateRow) {
    let at = now_iso();
    let a = AuditCx {
        actor: &row.sub,
        request_id: &c.request_id,
        at: &at,
    };
    if let Err(e) = store
        .oauth_event(
            &row.tenant_id,
            &row.connection_id,
            "connection.oauth_refused",
            &a,
        )
        .await
    {
        worker::console_error!("portico: oauth refusal not audited: {e}");
    }
}

/// Exchanges the code and stores the token set; the page or redirect to answer.
async fn complete(
    c: &Call<'_>,
    store: &Store,
    row: &StateRow,
    key: &str,
    code: &str,
) -> Result<SimpleResponse, SimpleResponse> {
    let internal = |why: String| {
        worker::console_error!("portico: oauth callback for {}: {why}", row.connection_id);
        refusal(
            502,
            "oauth_exchange_failed",
            "The connection could not be completed.",
        )
    };
    let (_, client) = load_client(c.env, &c.iso.vault, &row.tenant_id, &row.connection_id)
        .await
        .map_err(internal)?;
    let envelope = Envelope::parse(&row.verifier).map_err(|e| internal(e.to_string()))?;
    let verifier = c
        .iso
        .vault
        .open_local(
            &row.tenant_id,
            RecordKind::ConnectionTokens,
            &verifier_id(key),
            &envelope,
        )
        .map_err(|e| internal(e.to_string()))?;
    let verifier =
        String::from_utf8(verifier.expose().to_vec()).map_err(|_| internal("verifier".into()))?;
    let form = code_exchange(
        &client.spec,
        client.secret.as_deref(),
        code,
        &row.redirect_uri,
        client.spec.pkce.then_some(verifier.as_str()),
    )
    .map_err(|e| internal(e.to_string()))?;
    let reply = post_form(
        c.env,
        &client.spec.token_url,
        &form,
        oauth_timeout_ms(c.env),
    )
    .await
    .map_err(|e| internal(e.to_string()))?;
    if !(200..300).contains(&reply.status) {
        return Err(internal(format!(
            "token endpoint answered {}",
            reply.status
        )));
    }
    let now = js_sys::Date::now() as u64;
    let tokens = TokenSet::parse(reply.body.as_bytes(), now).map_err(|e| {
        worker::console_error!(
            "portico: oauth callback for {}: token response refused: {e}",
            row.connection_id
        );
        refusal(
            502,
            "oauth_token_invalid",
            "The provider's token response is not usable.",
        )
    })?;
    match keeper_client::store(c.env, &row.tenant_id, &row.connection_id, &tokens).await {
        Ok(Outcome::Token { .. }) => {}
        Ok(other) => return Err(internal(format!("token keeper: {other:?}"))),
        Err(e) => return Err(internal(e)),
    }
    let scopes: Vec<&str> = match &tokens.scope {
        Some(s) => s.split(' ').filter(|s| !s.is_empty()).collect(),
        None => client.spec.scopes.iter().map(String::as_str).collect(),
    };
    let scopes_json = serde_json::to_string(&scopes).unwrap_or_else(|_| "[]".into());
    let at = now_iso();
    let a = AuditCx {
        actor: &row.sub,
        request_id: &c.request_id,
        at: &at,
    };
    let written = store
        .oauth_connected(
            &row.tenant_id,
            &row.connection_id,
            &Connected {
                scopes_json: &scopes_json,
                authorized_by: &row.sub,
                state_key: key,
            },
            &a,
        )
        .await
        .map_err(|e| internal(e.to_string()))?;
    if written == GuardedWrite::Refused {
        return Err(refusal(
            400,
            "oauth_state_mismatch",
            "This authorisation is no longer the connection's current one.",
        ));
    }
    c.iso.grants.forget(&row.tenant_id, &row.connection_id);
    Ok(match &row.return_to {
        Some(to) => {
            let sep = if to.contains('?') { '&' } else { '?' };
            let location = format!(
                "{to}{sep}portico_connection={}&portico_status=ready",
                crate::oauth::token::form_encode(&row.connection_id)
            );
            let mut r = SimpleResponse::text(302, "");
            r.headers.set("location", &location);
            r.headers.set("cache-control", "no-store");
            r.headers.set("referrer-policy", "no-referrer");
            r
        }
        None => page(
            200,
            "Connected",
            "The connection is ready. You can close this window.",
        ),
    })
}

/// `GET /tenants/{tid}/connections/{cid}/tokens`: what the token keeper knows.
pub(super) async fn tokens(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let row = store
        .oauth_connection(c.tid(), c.m.param("cid"))
        .await?
        .ok_or_else(|| Problem::not_found("connection"))?;
    if oauth_spec(&row_spec(&row)?).is_none() {
        return Err(Problem::conflict("", "the connection does not use oauth2"));
    }
    let status = keeper_client::status(c.env, c.tid(), &row.id)
        .await
        .map_err(|e| Problem::internal().caused_by(e))?;
    Ok(json_response(200, &status))
}
