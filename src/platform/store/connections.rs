//! Connection rows (metadata only; secrets are vault records) and the one read the
//! proxy needs: a connection with its connector version's spec.

use super::audit::{AuditCx, AuditEvent};
use super::vault::IndexChange;
use super::{after, page_body, s, GuardedWrite, Store, StoreError};
use crate::api::paging::PageRequest;
use crate::vault::RecordKind;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;

/// A connection row.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ConnectionRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) connector_id: String,
    pub(crate) connector_version: f64,
    pub(crate) state: String,
    pub(crate) labels_json: String,
    pub(crate) policy_json: Option<String>,
    pub(crate) scopes_json: Option<String>,
    pub(crate) expires_at: Option<String>,
    pub(crate) secret_set: f64,
    pub(crate) last_used_at: Option<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    /// The connector version's `auth.type`.
    pub(crate) auth_type: Option<String>,
    /// OAuth2: the `sub` that completed the authorization.
    #[serde(default)]
    pub(crate) authorized_by: Option<String>,
}

/// A connection with its connector version's spec (for proxied calls).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ConnectionUse {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) connector_id: String,
    pub(crate) connector_version: f64,
    pub(crate) state: String,
    pub(crate) policy_json: Option<String>,
    pub(crate) secret_set: f64,
    pub(crate) spec_json: String,
    /// The KV object of the connection's secret.
    pub(crate) secret_object: Option<String>,
    /// OAuth2: when the access token replica must be renewed (ms).
    pub(crate) refresh_at_ms: Option<f64>,
}

const COLS: &str = "id, tenant_id, connector_id, connector_version, state, labels_json, policy_json, scopes_json, expires_at, secret_set, last_used_at, created_at, updated_at";
/// What reads add to `COLS`: the connector version's auth type.
const AUTH_TYPE: &str = "(SELECT json_extract(v.spec_json, '$.auth.type') FROM connector_versions v \
     WHERE v.connector_id = connections.connector_id AND v.version = connections.connector_version) AS auth_type";

impl ConnectionRow {
    pub(crate) fn version(&self) -> u32 {
        self.connector_version.max(0.0) as u32
    }

    /// As the API shows it: metadata only, never a secret.
    pub(crate) fn to_json(&self) -> Value {
        let parse = |t: Option<&str>| {
            t.and_then(|t| serde_json::from_str::<Value>(t).ok())
                .unwrap_or(Value::Null)
        };
        json!({
            "id": self.id,
            "tenant_id": self.tenant_id,
            "connector_id": self.connector_id,
            "connector_version": self.version(),
            "auth_type": self.auth_type,
            "state": self.state,
            "labels": parse(Some(&self.labels_json)),
            "policy": parse(self.policy_json.as_deref()),
            "scopes": parse(self.scopes_json.as_deref()),
            "expires_at": self.expires_at,
            "authorized_by": self.authorized_by,
            "secret_set": self.secret_set > 0.0,
            "last_used_at": self.last_used_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// A new connection's columns.
pub(crate) struct NewConnection<'a> {
    pub(crate) id: &'a str,
    pub(crate) tenant_id: &'a str,
    pub(crate) connector_id: &'a str,
    pub(crate) connector_version: u32,
    pub(crate) state: &'a str,
    pub(crate) labels_json: &'a str,
    pub(crate) policy_json: Option<&'a str>,
    pub(crate) secret_set: bool,
}

/// The columns a PATCH may change (`None`: unchanged).
pub(crate) struct ConnectionChange<'a> {
    pub(crate) labels_json: Option<&'a str>,
    /// `Some(None)` clears the policy.
    pub(crate) policy_json: Option<Option<&'a str>>,
    pub(crate) state: Option<&'a str>,
    pub(crate) secret_set: Option<bool>,
}

fn opt_text(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

impl Store {
    pub(crate) async fn get_connection(
        &self,
        tid: &str,
        id: &str,
    ) -> Result<Option<ConnectionRow>, StoreError> {
        let rows: Vec<ConnectionRow> = self
            .rows(
                &format!(
                    "SELECT {COLS}, authorized_by, {AUTH_TYPE} FROM connections WHERE tenant_id = ?1 AND id = ?2"
                ),
                &[s(tid), s(id)],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    pub(crate) async fn list_connections(
        &self,
        tid: &str,
        p: &PageRequest,
    ) -> Result<(Vec<ConnectionRow>, Value), StoreError> {
        let (c, i) = after(p);
        let mut rows: Vec<ConnectionRow> = self
            .rows(
                &format!(
                    "SELECT {COLS}, authorized_by, {AUTH_TYPE} FROM connections WHERE tenant_id = ?4 \
                     AND (?1 IS NULL OR created_at > ?1 OR (created_at = ?1 AND id > ?2)) \
                     ORDER BY created_at, id LIMIT ?3"
                ),
                &[c, i, JsValue::from(p.limit + 1), s(tid)],
            )
            .await?;
        let keys: Vec<Value> = rows
            .iter()
            .map(|r| json!({"id": r.id, "created_at": r.created_at}))
            .collect();
        let page = page_body(keys, p.limit, "created_at");
        rows.truncate(p.limit as usize);
        Ok((rows, page))
    }

    pub(crate) async fn count_connections(&self, tid: &str) -> Result<u64, StoreError> {
        self.count(
            "SELECT COUNT(*) AS n FROM connections WHERE tenant_id = ?1",
            &[s(tid)],
        )
        .await
    }

    /// The connection of `tid` with its connector version's spec.
    pub(crate) async fn connection_for_use(
        &self,
        tid: &str,
        id: &str,
    ) -> Result<Option<ConnectionUse>, StoreError> {
        let rows: Vec<ConnectionUse> = self
            .rows(
                "SELECT c.id, c.tenant_id, c.connector_id, c.connector_version, c.state, c.policy_json, c.secret_set, v.spec_json, c.refresh_at_ms, \
                 (SELECT r.object FROM vault_records r WHERE r.key = ?3) AS secret_object \
                 FROM connections c JOIN connector_versions v \
                 ON v.connector_id = c.connector_id AND v.version = c.connector_version \
                 WHERE c.tenant_id = ?1 AND c.id = ?2",
                &[
                    s(tid),
                    s(id),
                    s(&RecordKind::ConnectionSecret.storage_key(tid, id)),
                ],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    pub(crate) async fn create_connection(
        &self,
        n: &NewConnection<'_>,
        secret: &IndexChange<'_>,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        let mut stmts = vec![self.stmt(
            &format!(
                "INSERT INTO connections ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, ?8, NULL, ?9, ?9)"
            ),
            &[
                s(n.id),
                s(n.tenant_id),
                s(n.connector_id),
                JsValue::from(n.connector_version),
                s(n.state),
                s(n.labels_json),
                opt_text(n.policy_json),
                JsValue::from(u8::from(n.secret_set)),
                s(a.at),
            ],
        )?];
        if let Some(stmt) = self.vault_index_change(secret, a.at)? {
            stmts.push(stmt);
        }
        self.write_with_audit(
            a,
            stmts,
            AuditEvent::new(n.tenant_id, "connection.created", "connection", n.id),
        )
        .await?;
        Ok(())
    }

    /// Applies `ch` (and the secret's index change); `action` names it in the audit.
    pub(crate) async fn update_connection(
        &self,
        tid: &str,
        id: &str,
        ch: &ConnectionChange<'_>,
        secret: &IndexChange<'_>,
        action: &'static str,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        let (policy_given, policy) = match ch.policy_json {
            None => (0u8, JsValue::NULL),
            Some(p) => (1u8, opt_text(p)),
        };
        let mut stmts = vec![self.stmt(
            "UPDATE connections SET \
               labels_json = COALESCE(?3, labels_json), \
               policy_json = CASE WHEN ?4 = 1 THEN ?5 ELSE policy_json END, \
               state = COALESCE(?6, state), \
               secret_set = COALESCE(?7, secret_set), \
               updated_at = ?8 \
             WHERE tenant_id = ?1 AND id = ?2",
            &[
                s(tid),
                s(id),
                opt_text(ch.labels_json),
                JsValue::from(policy_given),
                policy,
                opt_text(ch.state),
                ch.secret_set
                    .map_or(JsValue::NULL, |b| JsValue::from(u8::from(b))),
                s(a.at),
            ],
        )?];
        if let Some(stmt) = self.vault_index_change(secret, a.at)? {
            stmts.push(stmt);
        }
        self.write_with_audit(
            a,
            stmts,
            AuditEvent::new(tid, action, "connection", id).only_if(
                "EXISTS (SELECT 1 FROM connections WHERE tenant_id = ?2 AND id = ?6)",
                vec![],
            ),
        )
        .await
    }

    pub(crate) async fn delete_connection(
        &self,
        tid: &str,
        id: &str,
        secret_key: &str,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        let stmts = vec![
            self.stmt(
                "DELETE FROM connections WHERE tenant_id = ?1 AND id = ?2",
                &[s(tid), s(id)],
            )?,
            self.vault_index_remove(secret_key)?,
        ];
        self.write_with_audit(
            a,
            stmts,
            AuditEvent::new(tid, "connection.deleted", "connection", id)
                .before_write()
                .only_if(
                    "EXISTS (SELECT 1 FROM connections WHERE tenant_id = ?2 AND id = ?6)",
                    vec![],
                ),
        )
        .await
    }
}
