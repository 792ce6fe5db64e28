//! `/tenants/{tid}/connections`: a tenant's sessions with connectors. Metadata in D1,
//! the secret sealed into the vault under the connection; no response ever carries
//! it. Every write forgets the isolate's opened copy of the connection.

use super::call::{json_response, now_iso, read_json, Call};
use super::connectors::field_error;
use crate::api::time::new_id;
use crate::api::Problem;
use crate::connection::body::{check_credentials, connection_create, connection_patch};
use crate::connection::ConnectionState;
use crate::connector::{AuthSpec, ConnectorSpec, VersionState};
use crate::message::SimpleResponse;
use crate::platform::keeper_client;
use crate::platform::store::{
    ConnectionChange, ConnectionRow, GuardedWrite, IndexChange, NewConnection, OAuthConnectionRow,
    Store, VaultIndex,
};
use crate::platform::vault::{Record, Stored, Vault};
use crate::vault::RecordKind;
use serde_json::Value;

/// Default `PORTICO_MAX_CONNECTIONS_PER_TENANT`.
const DEFAULT_MAX_CONNECTIONS: u64 = 100;

fn record<'a>(tid: &'a str, id: &'a str) -> Record<'a> {
    Record {
        tenant: tid,
        kind: RecordKind::ConnectionSecret,
        id,
    }
}

fn index<'a>(tid: &'a str, id: &'a str, stored: &'a Stored) -> IndexChange<'a> {
    IndexChange::Put(VaultIndex {
        tenant: tid,
        kind: RecordKind::ConnectionSecret.key_segment(),
        record_id: id,
        object: &stored.object,
        kid: &stored.kid,
    })
}

/// Deletes a connection's current secret object, if it has one.
async fn delete_secret(c: &Call<'_>, store: &Store, id: &str) -> Result<(), Problem> {
    let key = RecordKind::ConnectionSecret.storage_key(c.tid(), id);
    if let Some(object) = store.vault_object(&key).await? {
        let vault = Vault::open(&c.iso.vault, c.env).map_err(Problem::from)?;
        vault.delete(&object).await.map_err(Problem::from)?;
    }
    Ok(())
}

async fn require_connection(c: &Call<'_>, store: &Store) -> Result<ConnectionRow, Problem> {
    store
        .get_connection(c.tid(), c.m.param("cid"))
        .await?
        .ok_or_else(|| Problem::not_found("connection"))
}

/// The connector version a connection uses, as a spec.
async fn spec_of(
    store: &Store,
    connector_id: &str,
    version: u32,
) -> Result<ConnectorSpec, Problem> {
    let versions = store.list_versions(connector_id).await?;
    let v = versions
        .iter()
        .find(|v| v.number() == version)
        .ok_or_else(|| Problem::internal().caused_by("connection's connector version is gone"))?;
    ConnectorSpec::from_stored(&v.spec())
        .map_err(|_| Problem::internal().caused_by("stored connector spec does not validate"))
}

fn max_connections(c: &Call<'_>) -> u64 {
    crate::platform::env::var(c.env, "PORTICO_MAX_CONNECTIONS_PER_TENANT")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_CONNECTIONS)
}

/// `GET /tenants/{tid}/connections`.
pub(super) async fn list(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let (rows, mut page) = store.list_connections(c.tid(), &c.page()?).await?;
    page["items"] = Value::Array(rows.iter().map(ConnectionRow::to_json).collect());
    Ok(json_response(200, &page))
}

/// `GET /tenants/{tid}/connections/{cid}`.
pub(super) async fn get(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    Ok(json_response(
        200,
        &require_connection(c, store).await?.to_json(),
    ))
}

/// A connector a new connection of the tenant may use (global ones and its own):
/// its id, primary version and that version's spec.
pub(super) async fn primary_of(
    c: &Call<'_>,
    store: &Store,
    connector_id: &str,
) -> Result<(String, u32, ConnectorSpec), Problem> {
    let connector = store
        .get_connector(connector_id)
        .await?
        .filter(|r| r.owner_tenant_id.as_deref().is_none_or(|o| o == c.tid()))
        .ok_or_else(|| field_error("connector_id", "no such connector"))?;
    let versions = store.list_versions(&connector.id).await?;
    let primary = versions
        .iter()
        .find(|v| v.state() == VersionState::Primary)
        .ok_or_else(|| field_error("connector_id", "the connector has no published version"))?;
    let spec = ConnectorSpec::from_stored(&primary.spec())
        .map_err(|_| Problem::internal().caused_by("stored connector spec does not validate"))?;
    Ok((connector.id, primary.number(), spec))
}

/// A new connection's id, within the tenant's budget
/// (`PORTICO_MAX_CONNECTIONS_PER_TENANT`).
pub(super) async fn new_connection_id(c: &Call<'_>, store: &Store) -> Result<String, Problem> {
    let count = store.count_connections(c.tid()).await?;
    let max = max_connections(c);
    if count >= max {
        return Err(Problem::conflict(
            "",
            &format!("the tenant already has {count} connections; at most {max} are allowed (PORTICO_MAX_CONNECTIONS_PER_TENANT)"),
        ));
    }
    new_id("conn_").map_err(|e| Problem::internal().caused_by(e))
}

/// `POST /tenants/{tid}/connections`.
pub(super) async fn create(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let body = read_json(c.req).await?;
    let new = connection_create(&body).map_err(Problem::validation)?;
    let (connector_id, version, spec) = primary_of(c, store, &new.connector_id).await?;
    check_credentials(new.credentials.as_ref(), &spec.auth).map_err(Problem::validation)?;
    let id = new_connection_id(c, store).await?;
    let state = match spec.auth {
        AuthSpec::OAuth2(_) => ConnectionState::Pending,
        AuthSpec::ApiKey { .. } | AuthSpec::Basic | AuthSpec::None => ConnectionState::Ready,
    };
    let vault = Vault::open(&c.iso.vault, c.env).map_err(Problem::from)?;
    let secret_set = new.credentials.is_some();
    let stored = match new.credentials {
        Some(supplied) => {
            let plain = supplied
                .into_credential()
                .to_plaintext()
                .map_err(|e| Problem::internal().caused_by(e))?;
            Some(
                vault
                    .put(record(c.tid(), &id), &plain)
                    .await
                    .map_err(Problem::from)?,
            )
        }
        None => None,
    };
    let labels = serde_json::to_string(&new.labels).unwrap_or_else(|_| "{}".into());
    let policy = new.policy.as_ref().map(|p| p.to_json().to_string());
    let change = match &stored {
        Some(st) => index(c.tid(), &id, st),
        None => IndexChange::Unchanged,
    };
    let at = now_iso();
    let written = store
        .create_connection(
            &NewConnection {
                id: &id,
                tenant_id: c.tid(),
                connector_id: &connector_id,
                connector_version: version,
                state: state.as_str(),
                labels_json: &labels,
                policy_json: policy.as_deref(),
                secret_set,
            },
            &change,
            &c.audit(&at)?,
        )
        .await;
    if let Err(e) = written {
        // Nothing may outlive a failed write: the sealed secret goes too.
        if let Some(st) = &stored {
            let _ = vault.delete(&st.object).await;
        }
        return Err(e.into());
    }
    c.iso.grants.forget(c.tid(), &id);
    let row = require_created(store, c.tid(), &id).await?;
    Ok(json_response(201, &row.to_json()))
}

async fn require_created(store: &Store, tid: &str, id: &str) -> Result<ConnectionRow, Problem> {
    store
        .get_connection(tid, id)
        .await?
        .ok_or_else(|| Problem::internal().caused_by("connection vanished after its write"))
}

/// `PATCH /tenants/{tid}/connections/{cid}`: labels, policy (`null` clears) and a
/// new secret (rotation; also makes a disconnected connection ready again).
pub(super) async fn update(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let row = require_connection(c, store).await?;
    let body = read_json(c.req).await?;
    let patch = connection_patch(&body).map_err(Problem::validation)?;
    if patch.is_empty() {
        return Ok(json_response(200, &row.to_json()));
    }
    let mut state = None;
    let mut stored = None;
    let secret_key = RecordKind::ConnectionSecret.storage_key(c.tid(), &row.id);
    let previous = store.vault_object(&secret_key).await?;
    if let Some(supplied) = patch.credentials {
        let spec = spec_of(store, &row.connector_id, row.version()).await?;
        check_credentials(Some(&supplied), &spec.auth).map_err(Problem::validation)?;
        let vault = Vault::open(&c.iso.vault, c.env).map_err(Problem::from)?;
        let plain = supplied
            .into_credential()
            .to_plaintext()
            .map_err(|e| Problem::internal().caused_by(e))?;
        stored = Some(
            vault
                .put(record(c.tid(), &row.id), &plain)
                .await
                .map_err(Problem::from)?,
        );
        state = Some(ConnectionState::Ready.as_str());
    }
    let labels = patch
        .labels
        .as_ref()
        .map(|l| serde_json::to_string(l).unwrap_or_else(|_| "{}".into()));
    let policy = patch
        .policy
        .as_ref()
        .map(|p| p.as_ref().map(|p| p.to_json().to_string()));
    let change = match &stored {
        Some(st) => index(c.tid(), &row.id, st),
        None => IndexChange::Unchanged,
    };
    let at = now_iso();
    let action = if stored.is_some() {
        "connection.secret_rotated"
    } else {
        "connection.updated"
    };
    let written = store
        .update_connection(
            c.tid(),
            &row.id,
            &ConnectionChange {
                labels_json: labels.as_deref(),
                policy_json: policy.as_ref().map(|p| p.as_deref()),
                state,
                secret_set: stored.is_some().then_some(true),
            },
            &change,
            action,
            &c.audit(&at)?,
        )
        .await;
    let vault = Vault::open(&c.iso.vault, c.env).ok();
    match (&written, &stored, &vault) {
        // The old secret goes once the new one is the indexed one.
        (Ok(GuardedWrite::Written), Some(_), Some(v)) => {
            if let Some(old) = &previous {
                let _ = v.delete(old).await;
            }
        }
        // Refused (the connection went meanwhile) or failed: the new object goes.
        (Ok(GuardedWrite::Refused) | Err(_), Some(st), Some(v)) => {
            let _ = v.delete(&st.object).await;
        }
        _ => {}
    }
    if written? == GuardedWrite::Refused {
        return Err(Problem::not_found("connection"));
    }
    c.iso.grants.forget(c.tid(), &row.id);
    let row = require_created(store, c.tid(), &row.id).await?;
    Ok(json_response(200, &row.to_json()))
}

/// `DELETE /tenants/{tid}/connections/{cid}`: the secret first, then the row (a
/// failure in between leaves a connection that can be deleted again, never an
/// unindexed secret).
pub(super) async fn delete(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let row = require_connection(c, store).await?;
    revoke_tokens(c, store, &row.id).await?;
    delete_secret(c, store, &row.id).await?;
    let key = RecordKind::ConnectionSecret.storage_key(c.tid(), &row.id);
    let at = now_iso();
    let written = store
        .delete_connection(c.tid(), &row.id, &key, &c.audit(&at)?)
        .await?;
    c.iso.grants.forget(c.tid(), &row.id);
    if written == GuardedWrite::Refused {
        return Err(Problem::not_found("connection"));
    }
    super::connectors::settle_versions(c, store, &row.connector_id).await?;
    Ok(SimpleResponse::empty(204))
}

/// `POST /tenants/{tid}/connections/{cid}/_disconnect`: secrets deleted, the
/// connection kept as `disconnected` (a new secret through PATCH reconnects it).
pub(super) async fn disconnect(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let row = require_connection(c, store).await?;
    let revocation = revoke_tokens(c, store, &row.id).await?;
    delete_secret(c, store, &row.id).await?;
    if revocation.is_some() {
        store.clear_connection_token(c.tid(), &row.id).await?;
    }
    let key = RecordKind::ConnectionSecret.storage_key(c.tid(), &row.id);
    let at = now_iso();
    store
        .update_connection(
            c.tid(),
            &row.id,
            &ConnectionChange {
                labels_json: None,
                policy_json: None,
                state: Some(ConnectionState::Disconnected.as_str()),
                secret_set: Some(false),
            },
            &IndexChange::Remove(key),
            "connection.disconnected",
            &c.audit(&at)?,
        )
        .await?;
    c.iso.grants.forget(c.tid(), &row.id);
    let row = require_created(store, c.tid(), &row.id).await?;
    let mut body = row.to_json();
    if let (Some(r), Some(m)) = (revocation, body.as_object_mut()) {
        m.insert("revocation".into(), Value::from(r));
    }
    Ok(json_response(200, &body))
}

/// Deletes every vault record of a tenant being deleted (its connections go with
/// the tenant row; their secrets must not outlive it).
/// `oauth_ids`: its OAuth2 connections (read before the delete), whose tokens live
/// in their keepers: revoked and forgotten first.
pub(super) async fn purge_tenant_secrets(
    c: &Call<'_>,
    store: &Store,
    tid: &str,
    oauth_ids: &[String],
) {
    for id in oauth_ids {
        if let Err(e) = keeper_client::revoke(c.env, tid, id).await {
            worker::console_error!(
                "portico: tokens of {id} of deleted tenant {tid} not forgotten: {e}"
            );
        }
    }
    let Ok(records) = store.vault_records_of(tid).await else {
        return;
    };
    let Ok(vault) = Vault::open(&c.iso.vault, c.env) else {
        return;
    };
    for r in &records {
        let _ = vault.delete(&r.object).await;
    }
    let _ = store.vault_index_remove_tenant(tid).await;
}

/// The spec of the connector version a connection uses.
pub(super) fn row_spec(row: &OAuthConnectionRow) -> Result<ConnectorSpec, Problem> {
    let v: Value = serde_json::from_str(&row.spec_json).unwrap_or(Value::Null);
    ConnectorSpec::from_stored(&v)
        .map_err(|_| Problem::internal().caused_by("stored connector spec does not validate"))
}

/// Revokes an OAuth2 connection's tokens at the provider and forgets them (before
/// `_disconnect` and `DELETE`): `None` for other connections.
async fn revoke_tokens(c: &Call<'_>, store: &Store, cid: &str) -> Result<Option<String>, Problem> {
    let Some(row) = store.oauth_connection(c.tid(), cid).await? else {
        return Ok(None);
    };
    if !matches!(row_spec(&row)?.auth, AuthSpec::OAuth2(_)) {
        return Ok(None);
    }
    keeper_client::revoke(c.env, c.tid(), cid)
        .await
        .map(Some)
        .map_err(|e| {
            Problem::internal()
                .caused_by(format!("the token keeper could not forget the tokens: {e}"))
        })
}
