//! Connector rows and their versions. A connector with no owner is global; version
//! states follow `crate::connector::versions` (the store only writes what it decides).

use super::audit::{AuditCx, AuditEvent};
use super::vault::IndexChange;
use super::{after, opt, page_body, s, Store, StoreError};
use crate::api::paging::PageRequest;
use crate::connector::VersionState;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

/// A connector row.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ConnectorRow {
    pub(crate) id: String,
    pub(crate) owner_tenant_id: Option<String>,
    pub(crate) name: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// One version of a connector, with how many connections use it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct VersionDbRow {
    pub(crate) version: f64,
    pub(crate) state: String,
    pub(crate) spec_json: String,
    pub(crate) client_secret_set: f64,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) in_use: f64,
}

impl VersionDbRow {
    pub(crate) fn number(&self) -> u32 {
        self.version.max(0.0) as u32
    }

    /// What the pure version rules read.
    pub(crate) fn rule_row(&self) -> crate::connector::versions::VersionRow {
        crate::connector::versions::VersionRow {
            version: self.number(),
            state: self.state(),
            in_use: self.in_use > 0.0,
        }
    }

    pub(crate) fn state(&self) -> VersionState {
        VersionState::parse(&self.state).unwrap_or(VersionState::Archived)
    }

    pub(crate) fn spec(&self) -> Value {
        serde_json::from_str(&self.spec_json).unwrap_or(Value::Null)
    }

    /// As the API shows it (never a secret).
    pub(crate) fn to_json(&self, connector_id: &str) -> Value {
        json!({
            "connector_id": connector_id,
            "version": self.number(),
            "state": self.state,
            "spec": self.spec(),
            "client_secret_set": self.client_secret_set > 0.0,
            "connections": self.in_use.max(0.0) as u64,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

const VERSION_COLS: &str = "v.version, v.state, v.spec_json, v.client_secret_set, v.created_at, v.updated_at, \
     (SELECT COUNT(*) FROM connections c WHERE c.connector_id = v.connector_id AND c.connector_version = v.version) AS in_use";

/// What a new or changed version writes.
pub(crate) struct VersionWriteRow<'a> {
    pub(crate) version: u32,
    pub(crate) spec_json: &'a str,
    pub(crate) client_secret_set: bool,
    /// What happens to the client secret's vault record.
    pub(crate) secret_index: IndexChange<'a>,
}

impl Store {
    pub(crate) async fn get_connector(&self, id: &str) -> Result<Option<ConnectorRow>, StoreError> {
        let rows: Vec<ConnectorRow> = self
            .rows(
                "SELECT id, owner_tenant_id, name, created_at, updated_at FROM connectors WHERE id = ?1",
                &[s(id)],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Connectors `tenant` may see (global and its own; `None`: all), paged.
    pub(crate) async fn list_connectors(
        &self,
        tenant: Option<&str>,
        p: &PageRequest,
    ) -> Result<Value, StoreError> {
        let (c, i) = after(p);
        let rows: Vec<ConnectorRow> = self
            .rows(
                "SELECT id, owner_tenant_id, name, created_at, updated_at FROM connectors \
                 WHERE (?4 IS NULL OR owner_tenant_id IS NULL OR owner_tenant_id = ?4) \
                 AND (?1 IS NULL OR created_at > ?1 OR (created_at = ?1 AND id > ?2)) \
                 ORDER BY created_at, id LIMIT ?3",
                &[c, i, JsValue::from(p.limit + 1), opt(tenant)],
            )
            .await?;
        let items = rows.into_iter().map(|r| connector_json(&r, None)).collect();
        Ok(page_body(items, p.limit, "created_at"))
    }

    pub(crate) async fn list_versions(&self, cid: &str) -> Result<Vec<VersionDbRow>, StoreError> {
        self.rows(
            &format!(
                "SELECT {VERSION_COLS} FROM connector_versions v WHERE v.connector_id = ?1 ORDER BY v.version"
            ),
            &[s(cid)],
        )
        .await
    }

    fn version_stmts(
        &self,
        cid: &str,
        w: &VersionWriteRow<'_>,
        at: &str,
        insert: bool,
    ) -> Result<Vec<D1PreparedStatement>, StoreError> {
        let mut stmts = vec![if insert {
            self.stmt(
                "INSERT INTO connector_versions (connector_id, version, state, spec_json, client_secret_set, created_at, updated_at) \
                 VALUES (?1, ?2, 'draft', ?3, ?4, ?5, ?5)",
                &[s(cid), JsValue::from(w.version), s(w.spec_json), JsValue::from(u8::from(w.client_secret_set)), s(at)],
            )?
        } else {
            // Only drafts change; the guard makes a racing publish win.
            self.stmt(
                "UPDATE connector_versions SET spec_json = ?3, client_secret_set = ?4, updated_at = ?5 \
                 WHERE connector_id = ?1 AND version = ?2 AND state = 'draft'",
                &[s(cid), JsValue::from(w.version), s(w.spec_json), JsValue::from(u8::from(w.client_secret_set)), s(at)],
            )?
        }];
        if let Some(stmt) = self.vault_index_change(&w.secret_index, at)? {
            stmts.push(stmt);
        }
        Ok(stmts)
    }

    /// A new connector with version 1 as a draft.
    pub(crate) async fn create_connector(
        &self,
        row: &ConnectorRow,
        v1: &VersionWriteRow<'_>,
        audit_tenant: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        let mut stmts = vec![self.stmt(
            "INSERT INTO connectors (id, owner_tenant_id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            &[s(&row.id), opt(row.owner_tenant_id.as_deref()), s(&row.name), s(&row.created_at)],
        )?];
        stmts.extend(self.version_stmts(&row.id, v1, &row.created_at, true)?);
        self.write_with_audit(
            a,
            stmts,
            AuditEvent::new(audit_tenant, "connector.created", "connector", &row.id),
        )
        .await?;
        Ok(())
    }

    /// A new draft version, or a changed draft (`insert` false; refused unless it
    /// is still a draft). `name` renames the connector too.
    pub(crate) async fn write_version(
        &self,
        cid: &str,
        w: &VersionWriteRow<'_>,
        name: &str,
        insert: bool,
        audit_tenant: &str,
        a: &AuditCx<'_>,
    ) -> Result<super::GuardedWrite, StoreError> {
        let mut stmts = self.version_stmts(cid, w, a.at, insert)?;
        stmts.push(self.stmt(
            "UPDATE connectors SET name = ?2, updated_at = ?3 WHERE id = ?1",
            &[s(cid), s(name), s(a.at)],
        )?);
        let (action, condition) = if insert {
            ("connector.version_created", None)
        } else {
            (
                "connector.version_updated",
                Some("changes() > 0 OR (SELECT state FROM connector_versions WHERE connector_id = ?6 AND version = ?9) = 'draft'"),
            )
        };
        let mut event = AuditEvent::new(audit_tenant, action, "connector", cid);
        if let Some(c) = condition {
            event = event.only_if(c, vec![JsValue::from(w.version)]);
        }
        self.write_with_audit(a, stmts, event).await
    }

    /// Writes version state changes (a publish, or settling after a connection
    /// went); `action` names them in the audit.
    pub(crate) async fn set_version_states(
        &self,
        cid: &str,
        changes: &[(u32, VersionState)],
        action: &'static str,
        audit_tenant: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        let mut stmts = Vec::with_capacity(changes.len() + 1);
        for (v, state) in changes {
            stmts.push(self.stmt(
                "UPDATE connector_versions SET state = ?3, updated_at = ?4 WHERE connector_id = ?1 AND version = ?2",
                &[s(cid), JsValue::from(*v), s(state.as_str()), s(a.at)],
            )?);
        }
        stmts.push(self.stmt(
            "UPDATE connectors SET updated_at = ?2 WHERE id = ?1",
            &[s(cid), s(a.at)],
        )?);
        self.write_with_audit(
            a,
            stmts,
            AuditEvent::new(audit_tenant, action, "connector", cid),
        )
        .await?;
        Ok(())
    }

    /// Deletes a connector no connection uses (`Refused` otherwise).
    pub(crate) async fn delete_connector(
        &self,
        cid: &str,
        audit_tenant: &str,
        a: &AuditCx<'_>,
    ) -> Result<super::GuardedWrite, StoreError> {
        let unused = "NOT EXISTS (SELECT 1 FROM connections WHERE connector_id = ?6)";
        let stmts = vec![
            self.stmt(
                &format!(
                    "DELETE FROM connector_versions WHERE connector_id = ?1 AND {}",
                    unused.replace("?6", "?1")
                ),
                &[s(cid)],
            )?,
            self.stmt(
                &format!(
                    "DELETE FROM connectors WHERE id = ?1 AND {}",
                    unused.replace("?6", "?1")
                ),
                &[s(cid)],
            )?,
            // Only once the connector itself went (the guard above), and by
            // prefix compare, not LIKE: `_` in ids is a LIKE wildcard.
            self.stmt(
                "DELETE FROM vault_records WHERE kind = 'connector-client-secret' \
                 AND substr(record_id, 1, length(?1) + 2) = ?1 || '.v' \
                 AND NOT EXISTS (SELECT 1 FROM connectors WHERE id = ?1)",
                &[s(cid)],
            )?,
        ];
        self.write_with_audit(
            a,
            stmts,
            AuditEvent::new(audit_tenant, "connector.deleted", "connector", cid)
                .before_write()
                .only_if(unused, vec![]),
        )
        .await
    }
}

/// The vault record id of a connector version's client secret.
pub(crate) fn client_secret_record_id(cid: &str, version: u32) -> String {
    format!("{cid}.v{version}")
}

/// A connector as the API shows it, with its primary version when given.
pub(crate) fn connector_json(r: &ConnectorRow, versions: Option<&[VersionDbRow]>) -> Value {
    let mut v = json!({
        "id": r.id,
        "owner_tenant_id": r.owner_tenant_id,
        "global": r.owner_tenant_id.is_none(),
        "name": r.name,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    });
    if let Some(versions) = versions {
        let primary = versions.iter().find(|x| x.state() == VersionState::Primary);
        v["primary_version"] = primary.map_or(Value::Null, |p| json!(p.number()));
        v["latest_version"] = versions.last().map_or(Value::Null, |l| json!(l.number()));
        let shown = primary.or(versions.last());
        v["spec"] = shown.map_or(Value::Null, VersionDbRow::spec);
        v["client_secret_set"] = json!(shown.is_some_and(|s| s.client_secret_set > 0.0));
    }
    v
}

impl Store {
    /// Archives the connector's versions no connection uses any more (a connector
    /// without an owner is global: its audit rows go to `cp_tenant`).
    pub(crate) async fn settle_versions(
        &self,
        cid: &str,
        cp_tenant: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        let Some(row) = self.get_connector(cid).await? else {
            return Ok(());
        };
        let versions = self.list_versions(cid).await?;
        let rows: Vec<_> = versions.iter().map(VersionDbRow::rule_row).collect();
        let changes = crate::connector::versions::settle(&rows);
        if changes.is_empty() {
            return Ok(());
        }
        let owner = row.owner_tenant_id.as_deref().unwrap_or(cp_tenant);
        self.set_version_states(cid, &changes, "connector.versions_settled", owner, a)
            .await
    }
}
