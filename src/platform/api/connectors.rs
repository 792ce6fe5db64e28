//! `/connectors` and their versions. A connector is global (control-plane token;
//! read-only to tenants) or owned by the tenant whose token created it (invisible
//! to others). Versions: draft (editable) → `_publish` → primary; the states come
//! from `crate::connector::versions`. An OAuth client secret is write-only: sealed
//! into the vault under the version, shown only as `client_secret_set`.

use super::call::{json_response, now_iso, read_json, Call};
use crate::api::authz::Principal;
use crate::api::time::new_id;
use crate::api::{Problem, ProblemKind};
use crate::config::ConfigError;
use crate::connector::versions::{next_version, publish, PublishError, VersionRow};
use crate::connector::{validate_version, SecretField, UrlRules, VersionState};
use crate::message::SimpleResponse;
use crate::platform::store::{
    client_secret_record_id, connector_json, ConnectorRow, IndexChange, Store, VaultIndex,
    VersionDbRow, VersionWriteRow,
};
use crate::platform::vault::{Record, Stored, Vault};
use crate::vault::{RecordKind, Secret};
use serde_json::{json, Value};

/// How the caller stands to a connector.
enum Reach {
    /// May read and write it.
    Owner,
    /// May read it only (a tenant and a global connector).
    ReadOnly,
}

/// The connector `cid` as the caller may see it (else 404).
async fn visible(c: &Call<'_>, store: &Store) -> Result<(ConnectorRow, Reach), Problem> {
    let row = store
        .get_connector(c.m.param("cid"))
        .await?
        .ok_or_else(|| Problem::not_found("connector"))?;
    let reach = match (c.principal()?, row.owner_tenant_id.as_deref()) {
        (Principal::ControlPlane, _) => Reach::Owner,
        (Principal::Tenant(_), None) => Reach::ReadOnly,
        (Principal::Tenant(t), Some(owner)) if t == owner => Reach::Owner,
        (Principal::Tenant(_), Some(_)) => return Err(Problem::not_found("connector")),
    };
    Ok((row, reach))
}

/// The connector `cid`, which the caller must be allowed to change.
async fn writable(c: &Call<'_>, store: &Store) -> Result<ConnectorRow, Problem> {
    match visible(c, store).await? {
        (row, Reach::Owner) => Ok(row),
        (_, Reach::ReadOnly) => Err(Problem::forbidden(
            "global connectors are changed with a control-plane token",
        )),
    }
}

/// Where a connector's audit rows and vault records are filed.
fn owner_tenant<'a>(c: &'a Call<'_>, row: &'a ConnectorRow) -> &'a str {
    row.owner_tenant_id
        .as_deref()
        .unwrap_or(&c.iso.api.cp_tenant_id)
}

fn url_rules(c: &Call<'_>, owned_by_tenant: bool) -> UrlRules {
    UrlRules {
        allow_loopback_http: c.iso.api.dev_mode,
        tenant: owned_by_tenant.then(|| c.iso.route_policy.tenant.clone()),
    }
}

fn version_param(c: &Call<'_>) -> Result<u32, Problem> {
    c.m.param("ver")
        .parse::<u32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| Problem::not_found("version"))
}

/// The stored version body as `validate_version` takes it for a base.
fn base_of(v: &VersionDbRow) -> Value {
    let mut spec = v.spec();
    if let Value::Object(m) = &mut spec {
        m.insert("client_secret_set".into(), json!(v.client_secret_set > 0.0));
    }
    spec
}

/// `GET /connectors`.
pub(super) async fn list(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let tenant = match c.principal()? {
        Principal::ControlPlane => None,
        Principal::Tenant(t) => Some(t.as_str()),
    };
    Ok(json_response(
        200,
        &store.list_connectors(tenant, &c.page()?).await?,
    ))
}

/// `GET /connectors/{cid}`.
pub(super) async fn get(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let (row, _) = visible(c, store).await?;
    let versions = store.list_versions(&row.id).await?;
    Ok(json_response(200, &connector_json(&row, Some(&versions))))
}

/// `GET /connectors/{cid}/versions`.
pub(super) async fn versions(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let (row, _) = visible(c, store).await?;
    let items: Vec<Value> = store
        .list_versions(&row.id)
        .await?
        .iter()
        .map(|v| v.to_json(&row.id))
        .collect();
    Ok(json_response(200, &json!({ "items": items })))
}

/// `GET /connectors/{cid}/versions/{ver}`.
pub(super) async fn version(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let (row, _) = visible(c, store).await?;
    let ver = version_param(c)?;
    shown_version(store, &row.id, ver).await
}

/// Version `ver` of connector `cid` as the API shows it (404 if there is none).
async fn shown_version(store: &Store, cid: &str, ver: u32) -> Result<SimpleResponse, Problem> {
    store
        .list_versions(cid)
        .await?
        .iter()
        .find(|v| v.number() == ver)
        .map(|v| json_response(200, &v.to_json(cid)))
        .ok_or_else(|| Problem::not_found("version"))
}

/// Seals a client secret for version `ver` of `cid` (when the body set one).
async fn store_secret<'a>(
    c: &Call<'_>,
    tenant: &'a str,
    record_id: &'a str,
    secret: &SecretField,
    carried: Option<Secret>,
) -> Result<(IndexChange<'a>, bool, Option<Stored>), Problem> {
    let plain = match secret {
        SecretField::Set(s) => Some(Secret::new(s.clone().into_bytes())),
        SecretField::Unchanged => carried,
        SecretField::Clear => None,
    };
    let Some(plain) = plain else {
        let key = RecordKind::ConnectorClientSecret.storage_key(tenant, record_id);
        return Ok((IndexChange::Remove(key), false, None));
    };
    let vault = Vault::open(&c.iso.vault, c.env).map_err(Problem::from)?;
    let record = Record {
        tenant,
        kind: RecordKind::ConnectorClientSecret,
        id: record_id,
    };
    let stored = vault.put(record, &plain).await.map_err(Problem::from)?;
    Ok((IndexChange::Unchanged, true, Some(stored)))
}

fn index<'a>(tenant: &'a str, record_id: &'a str, stored: &'a Stored) -> IndexChange<'a> {
    IndexChange::Put(VaultIndex {
        tenant,
        kind: RecordKind::ConnectorClientSecret.key_segment(),
        record_id,
        object: &stored.object,
        kid: &stored.kid,
    })
}

/// Deletes a client secret's object (best effort: the index row went already).
async fn drop_object(c: &Call<'_>, object: Option<&str>) {
    if let (Some(object), Ok(vault)) = (object, Vault::open(&c.iso.vault, c.env)) {
        let _ = vault.delete(object).await;
    }
}

/// `POST /connectors`: the connector and its version 1 as a draft.
pub(super) async fn create(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let owner = match c.principal()? {
        Principal::ControlPlane => None,
        Principal::Tenant(t) => Some(t.clone()),
    };
    let body = read_json(c.req).await?;
    let w = validate_version(&body, None, &url_rules(c, owner.is_some()))
        .map_err(Problem::validation)?;
    let id = new_id("cn_").map_err(|e| Problem::internal().caused_by(e))?;
    let at = now_iso();
    let row = ConnectorRow {
        id: id.clone(),
        owner_tenant_id: owner,
        name: w.spec.name.clone(),
        created_at: at.clone(),
        updated_at: at.clone(),
    };
    let tenant = owner_tenant(c, &row).to_string();
    let record_id = client_secret_record_id(&id, 1);
    let (mut change, secret_set, stored) =
        store_secret(c, &tenant, &record_id, &w.client_secret, None).await?;
    if let Some(st) = &stored {
        change = index(&tenant, &record_id, st);
    }
    let spec_json = w.spec.to_json().to_string();
    let written = store
        .create_connector(
            &row,
            &VersionWriteRow {
                version: 1,
                spec_json: &spec_json,
                client_secret_set: secret_set,
                secret_index: change,
            },
            &tenant,
            &c.audit(&at)?,
        )
        .await;
    if let Err(e) = written {
        drop_object(c, stored.as_ref().map(|s| s.object.as_str())).await;
        return Err(e.into());
    }
    let versions = store.list_versions(&id).await?;
    Ok(json_response(201, &connector_json(&row, Some(&versions))))
}

/// `POST /connectors/{cid}/versions`: a new draft over the latest version.
pub(super) async fn create_version(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let row = writable(c, store).await?;
    write_version(c, store, row, None).await
}

/// `PATCH /connectors/{cid}/versions/{ver}`: drafts only.
pub(super) async fn update_version(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let row = writable(c, store).await?;
    let ver = version_param(c)?;
    write_version(c, store, row, Some(ver)).await
}

async fn write_version(
    c: &Call<'_>,
    store: &Store,
    row: ConnectorRow,
    patch: Option<u32>,
) -> Result<SimpleResponse, Problem> {
    let versions = store.list_versions(&row.id).await?;
    let base = match patch {
        Some(ver) => {
            let v = versions
                .iter()
                .find(|v| v.number() == ver)
                .ok_or_else(|| Problem::not_found("version"))?;
            if v.state() != VersionState::Draft {
                return Err(version_immutable(ver));
            }
            v
        }
        None => versions
            .last()
            .ok_or_else(|| Problem::internal().caused_by("connector without versions"))?,
    };
    let body = read_json(c.req).await?;
    let w = validate_version(
        &body,
        Some(&base_of(base)),
        &url_rules(c, row.owner_tenant_id.is_some()),
    )
    .map_err(Problem::validation)?;
    let version = match patch {
        Some(v) => v,
        None => next_version(&rows(&versions)),
    };
    let tenant = owner_tenant(c, &row).to_string();
    let record_id = client_secret_record_id(&row.id, version);
    // A new version copying the latest carries its client secret over, sealed
    // anew for the new version's record.
    let carried = match (&w.client_secret, patch, base.client_secret_set > 0.0) {
        (SecretField::Unchanged, None, true) => {
            let vault = Vault::open(&c.iso.vault, c.env).map_err(Problem::from)?;
            let from = client_secret_record_id(&row.id, base.number());
            let record = Record {
                tenant: &tenant,
                kind: RecordKind::ConnectorClientSecret,
                id: &from,
            };
            match store.vault_object(&record.key()).await? {
                Some(object) => vault.get(record, &object).await.map_err(Problem::from)?,
                None => None,
            }
        }
        _ => None,
    };
    let keep = matches!(w.client_secret, SecretField::Unchanged) && patch.is_some();
    let secret_key = RecordKind::ConnectorClientSecret.storage_key(&tenant, &record_id);
    let previous = match keep {
        true => None,
        false => store.vault_object(&secret_key).await?,
    };
    let (mut change, mut secret_set, stored) = if keep {
        (IndexChange::Unchanged, base.client_secret_set > 0.0, None)
    } else {
        store_secret(c, &tenant, &record_id, &w.client_secret, carried).await?
    };
    if let Some(st) = &stored {
        change = index(&tenant, &record_id, st);
        secret_set = true;
    }
    let spec_json = w.spec.to_json().to_string();
    let at = now_iso();
    let written = store
        .write_version(
            &row.id,
            &VersionWriteRow {
                version,
                spec_json: &spec_json,
                client_secret_set: secret_set,
                secret_index: change,
            },
            &w.spec.name,
            patch.is_none(),
            &tenant,
            &c.audit(&at)?,
        )
        .await;
    let new_object = stored.as_ref().map(|s| s.object.as_str());
    match written {
        Ok(crate::platform::store::GuardedWrite::Written) => {
            // The replaced (or cleared) secret's object goes.
            if previous.as_deref() != new_object {
                drop_object(c, previous.as_deref()).await;
            }
        }
        Ok(crate::platform::store::GuardedWrite::Refused) => {
            drop_object(c, new_object).await;
            return Err(version_immutable(version));
        }
        Err(e) => {
            drop_object(c, new_object).await;
            return Err(e.into());
        }
    }
    c.iso.grants.forget_all();
    let versions = store.list_versions(&row.id).await?;
    let shown = versions
        .iter()
        .find(|v| v.number() == version)
        .map(|v| v.to_json(&row.id))
        .unwrap_or(Value::Null);
    Ok(json_response(
        if patch.is_some() { 200 } else { 201 },
        &shown,
    ))
}

fn rows(versions: &[VersionDbRow]) -> Vec<VersionRow> {
    versions.iter().map(VersionDbRow::rule_row).collect()
}

fn version_immutable(ver: u32) -> Problem {
    Problem::conflict_kind(
        ProblemKind::VersionImmutable,
        format!("version {ver} is published and cannot change; create a new version"),
    )
}

/// `POST /connectors/{cid}/versions/{ver}/_publish`.
pub(super) async fn publish_version(
    c: &Call<'_>,
    store: &Store,
) -> Result<SimpleResponse, Problem> {
    let row = writable(c, store).await?;
    let ver = version_param(c)?;
    let versions = store.list_versions(&row.id).await?;
    let changes = match publish(&rows(&versions), ver) {
        Ok(ch) => ch,
        Err(PublishError::NoSuchVersion) => return Err(Problem::not_found("version")),
        Err(PublishError::AlreadyPrimary) => Vec::new(),
    };
    if !changes.is_empty() {
        let at = now_iso();
        store
            .set_version_states(
                &row.id,
                &changes,
                "connector.published",
                owner_tenant(c, &row),
                &c.audit(&at)?,
            )
            .await?;
        c.iso.grants.forget_all();
    }
    shown_version(store, &row.id, ver).await
}

/// `DELETE /connectors/{cid}`: refused while a connection uses it.
pub(super) async fn delete(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let row = writable(c, store).await?;
    let versions = store.list_versions(&row.id).await?;
    // Its client secrets must go from KV with their index rows: not without the vault.
    if versions.iter().any(|v| v.client_secret_set > 0.0) && c.iso.vault.ring().is_none() {
        return Err(Problem::vault_unavailable());
    }
    let at = now_iso();
    let tenant = owner_tenant(c, &row).to_string();
    let mut objects: Vec<String> = Vec::new();
    for v in versions.iter().filter(|v| v.client_secret_set > 0.0) {
        let id = client_secret_record_id(&row.id, v.number());
        let key = RecordKind::ConnectorClientSecret.storage_key(&tenant, &id);
        objects.extend(store.vault_object(&key).await?);
    }
    let written = store
        .delete_connector(&row.id, &tenant, &c.audit(&at)?)
        .await?;
    if written == crate::platform::store::GuardedWrite::Refused {
        return Err(Problem::conflict_kind(
            ProblemKind::ConnectorInUse,
            "connections still use this connector; delete them first",
        ));
    }
    for object in &objects {
        drop_object(c, Some(object)).await;
    }
    Ok(SimpleResponse::empty(204))
}

/// Archives `active` versions no connection uses any more (after a connection of
/// connector `cid` went).
pub(super) async fn settle_versions(c: &Call<'_>, store: &Store, cid: &str) -> Result<(), Problem> {
    let at = now_iso();
    store
        .settle_versions(cid, &c.iso.api.cp_tenant_id, &c.audit(&at)?)
        .await?;
    Ok(())
}

/// A validation error at `path` (for checks the pure validation cannot make).
pub(super) fn field_error(path: &str, message: impl Into<String>) -> Problem {
    Problem::validation(vec![ConfigError {
        path: path.into(),
        message: message.into(),
    }])
}
