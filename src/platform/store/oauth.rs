//! OAuth2 connection rows (docs/oauth.md): callback states (inserted by `_initiate`,
//! consumed once with `DELETE … RETURNING` beside a tombstone), what the token
//! keeper needs to refresh, and the connection columns the flow and the keeper
//! write (state, scopes, who authorised, the access token's expiry).

use super::audit::{AuditCx, AuditEvent, GuardedWrite};
use super::{opt, s, IndexChange, Store, StoreError, VaultIndex};
use serde::Deserialize;
use wasm_bindgen::JsValue;

/// How long a used state's tombstone is kept (a replay after that is "unknown").
const TOMBSTONE_MS: f64 = 86_400_000.0;

/// A state row as `_initiate` writes it.
pub(crate) struct NewState<'a> {
    pub(crate) key: &'a str,
    pub(crate) tenant_id: &'a str,
    pub(crate) connection_id: &'a str,
    pub(crate) sub: &'a str,
    /// The PKCE verifier, sealed (an envelope's JSON).
    pub(crate) verifier: &'a str,
    pub(crate) mac_kid: &'a str,
    pub(crate) redirect_uri: &'a str,
    pub(crate) return_to: Option<&'a str>,
    pub(crate) expires_at_ms: f64,
}

/// A consumed state row.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StateRow {
    pub(crate) tenant_id: String,
    pub(crate) connection_id: String,
    pub(crate) sub: String,
    pub(crate) verifier: String,
    pub(crate) mac_kid: String,
    pub(crate) redirect_uri: String,
    pub(crate) return_to: Option<String>,
    pub(crate) expires_at_ms: f64,
}

/// What a callback or the token keeper needs of a connection.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OAuthConnectionRow {
    pub(crate) id: String,
    pub(crate) connector_id: String,
    pub(crate) connector_version: f64,
    pub(crate) spec_json: String,
    pub(crate) owner_tenant_id: Option<String>,
    pub(crate) pending_state: Option<String>,
}

impl OAuthConnectionRow {
    pub(crate) fn version(&self) -> u32 {
        self.connector_version.max(0.0) as u32
    }
}

/// The connection columns a completed flow writes.
pub(crate) struct Connected<'a> {
    pub(crate) scopes_json: &'a str,
    pub(crate) authorized_by: &'a str,
    /// The state this completion consumed (guards against a newer initiation).
    pub(crate) state_key: &'a str,
}

impl Store {
    /// Records a new state and makes it the connection's latest initiation (every
    /// earlier state of the connection is superseded).
    pub(crate) async fn insert_oauth_state(
        &self,
        n: &NewState<'_>,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        let stmts = vec![
            self.stmt(
                "INSERT INTO oauth_states (key, tenant_id, connection_id, sub, verifier, mac_kid, redirect_uri, return_to, expires_at_ms, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                &[
                    s(n.key),
                    s(n.tenant_id),
                    s(n.connection_id),
                    s(n.sub),
                    s(n.verifier),
                    s(n.mac_kid),
                    s(n.redirect_uri),
                    opt(n.return_to),
                    JsValue::from(n.expires_at_ms),
                    s(a.at),
                ],
            )?,
            self.stmt(
                "UPDATE connections SET pending_state = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND id = ?2",
                &[s(n.tenant_id), s(n.connection_id), s(n.key), s(a.at)],
            )?,
        ];
        self.write_with_audit(
            a,
            stmts,
            AuditEvent::new(
                n.tenant_id,
                "connection.oauth_initiated",
                "connection",
                n.connection_id,
            ),
        )
        .await
    }

    /// Consumes the state `key`: the row, deleted (`None` when there was none),
    /// and a tombstone left in the same transaction.
    pub(crate) async fn consume_oauth_state(
        &self,
        key: &str,
        now_ms: f64,
    ) -> Result<Option<StateRow>, StoreError> {
        let stmts = vec![
            self.stmt(
                "INSERT OR IGNORE INTO oauth_states_used (key, used_at_ms) \
                 SELECT key, ?2 FROM oauth_states WHERE key = ?1",
                &[s(key), JsValue::from(now_ms)],
            )?,
            self.stmt(
                "DELETE FROM oauth_states WHERE key = ?1 \
                 RETURNING tenant_id, connection_id, sub, verifier, mac_kid, redirect_uri, return_to, expires_at_ms",
                &[s(key)],
            )?,
        ];
        let results = self.db.batch(stmts).await?;
        let rows = match results.get(1) {
            Some(r) => r.results::<StateRow>()?,
            None => Vec::new(),
        };
        Ok(rows.into_iter().next())
    }

    /// Whether `key` was used (within the tombstones' day).
    pub(crate) async fn oauth_state_used(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .count(
                "SELECT count(*) AS n FROM oauth_states_used WHERE key = ?1",
                &[s(key)],
            )
            .await?
            > 0)
    }

    /// Drops expired states and old tombstones (the scheduled job).
    pub(crate) async fn purge_oauth_states(&self, now_ms: f64) -> Result<(), StoreError> {
        let stmts = vec![
            self.stmt(
                "DELETE FROM oauth_states WHERE expires_at_ms < ?1",
                &[JsValue::from(now_ms)],
            )?,
            self.stmt(
                "DELETE FROM oauth_states_used WHERE used_at_ms < ?1",
                &[JsValue::from(now_ms - TOMBSTONE_MS)],
            )?,
        ];
        self.db.batch(stmts).await?;
        Ok(())
    }

    /// The connection with its connector version's spec and the connector's owner.
    pub(crate) async fn oauth_connection(
        &self,
        tid: &str,
        id: &str,
    ) -> Result<Option<OAuthConnectionRow>, StoreError> {
        let rows: Vec<OAuthConnectionRow> = self
            .rows(
                "SELECT c.id, c.tenant_id, c.connector_id, c.connector_version, c.state, v.spec_json, \
                 k.owner_tenant_id, c.pending_state \
                 FROM connections c \
                 JOIN connector_versions v ON v.connector_id = c.connector_id AND v.version = c.connector_version \
                 JOIN connectors k ON k.id = c.connector_id \
                 WHERE c.tenant_id = ?1 AND c.id = ?2",
                &[s(tid), s(id)],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Marks a connection `ready` after a completed flow, only if `state_key` is
    /// still its latest initiation.
    pub(crate) async fn oauth_connected(
        &self,
        tid: &str,
        id: &str,
        c: &Connected<'_>,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        let stmt = self.stmt(
            "UPDATE connections SET state = 'ready', scopes_json = ?3, authorized_by = ?4, \
               pending_state = NULL, updated_at = ?6 \
             WHERE tenant_id = ?1 AND id = ?2 AND pending_state = ?5",
            &[
                s(tid),
                s(id),
                s(c.scopes_json),
                s(c.authorized_by),
                s(c.state_key),
                s(a.at),
            ],
        )?;
        self.write_with_audit(
            a,
            vec![stmt],
            AuditEvent::new(tid, "connection.oauth_connected", "connection", id).only_if(
                "EXISTS (SELECT 1 FROM connections WHERE tenant_id = ?2 AND id = ?6 AND state = 'ready' AND pending_state IS NULL)",
                vec![],
            ),
        )
        .await
    }

    /// Records an OAuth event of a connection (`connection.oauth_refused`,
    /// `connection.token_refreshed`, `connection.refresh_failed`) in the audit log.
    pub(crate) async fn oauth_event(
        &self,
        tid: &str,
        id: &str,
        action: &'static str,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        self.write_with_audit(
            a,
            Vec::new(),
            AuditEvent::new(tid, action, "connection", id),
        )
        .await?;
        Ok(())
    }

    /// The token keeper stored a new access token: its replica's index, its expiry
    /// and when isolates must ask the keeper again. Only while the connection exists.
    pub(crate) async fn set_connection_token(
        &self,
        tid: &str,
        id: &str,
        index: &IndexChange<'_>,
        expires_at: Option<&str>,
        refresh_at_ms: Option<f64>,
        at: &str,
    ) -> Result<GuardedWrite, StoreError> {
        let mut stmts = vec![self.stmt(
            "UPDATE connections SET expires_at = ?3, refresh_at_ms = ?4, secret_set = 1, updated_at = ?5 \
             WHERE tenant_id = ?1 AND id = ?2",
            &[
                s(tid),
                s(id),
                opt(expires_at),
                refresh_at_ms.map_or(JsValue::NULL, JsValue::from),
                s(at),
            ],
        )?];
        // The index row only where the connection still is.
        if let Some(stmt) = self.vault_index_change(index, at)? {
            stmts.push(stmt);
        }
        let results = self.db.batch(stmts).await?;
        let changed = results
            .first()
            .and_then(|r| r.meta().ok().flatten())
            .and_then(|m| m.changes)
            .unwrap_or(0);
        Ok(if changed > 0 {
            GuardedWrite::Written
        } else {
            GuardedWrite::Refused
        })
    }

    /// The token keeper gave up (`needs_reauth`), with an audit row by the keeper.
    pub(crate) async fn oauth_needs_reauth(
        &self,
        tid: &str,
        id: &str,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        let stmt = self.stmt(
            "UPDATE connections SET state = 'needs_reauth', updated_at = ?3 \
             WHERE tenant_id = ?1 AND id = ?2 AND state = 'ready'",
            &[s(tid), s(id), s(a.at)],
        )?;
        self.write_with_audit(
            a,
            vec![stmt],
            AuditEvent::new(tid, "connection.needs_reauth", "connection", id).only_if(
                "EXISTS (SELECT 1 FROM connections WHERE tenant_id = ?2 AND id = ?6 AND state = 'needs_reauth')",
                vec![],
            ),
        )
        .await
    }

    /// Forgets one vault record's index row.
    pub(crate) async fn vault_index_remove_key(&self, key: &str) -> Result<(), StoreError> {
        self.vault_index_remove(key)?.run().await?;
        Ok(())
    }

    /// `https://<domain>` for each of the tenant's active domains (allowed
    /// `return_to` origins).
    pub(crate) async fn tenant_origins(&self, tid: &str) -> Result<Vec<String>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            domain: String,
        }
        let rows: Vec<Row> = self
            .rows(
                "SELECT domain FROM domains WHERE tenant_id = ?1 AND status = 'active' LIMIT 1000",
                &[s(tid)],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| format!("https://{}", r.domain))
            .collect())
    }

    /// The ids of a tenant's OAuth2 connections (their token keepers hold secrets).
    pub(crate) async fn oauth_connection_ids(&self, tid: &str) -> Result<Vec<String>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
        }
        let rows: Vec<Row> = self
            .rows(
                "SELECT c.id FROM connections c JOIN connector_versions v \
                 ON v.connector_id = c.connector_id AND v.version = c.connector_version \
                 WHERE c.tenant_id = ?1 AND json_extract(v.spec_json, '$.auth.type') = 'oauth2'",
                &[s(tid)],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Forgets a disconnected connection's access-token expiry.
    pub(crate) async fn clear_connection_token(
        &self,
        tid: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        self.stmt(
            "UPDATE connections SET expires_at = NULL, refresh_at_ms = NULL WHERE tenant_id = ?1 AND id = ?2",
            &[s(tid), s(id)],
        )?
        .run()
        .await?;
        Ok(())
    }

    /// Indexes (or re-indexes) a record kept outside KV under `kid`, so vault status
    /// counts it and the re-encryption job finds it.
    pub(crate) async fn vault_index_upsert(
        &self,
        ix: &VaultIndex<'_>,
        at: &str,
    ) -> Result<(), StoreError> {
        self.vault_index_put(ix, at)?.run().await?;
        Ok(())
    }

    /// A pending connection `sub` initiated on `connector_id` with these labels and
    /// policy and never completed (its latest state still stored): `_initiate` reuses
    /// it instead of piling up abandoned attempts.
    pub(crate) async fn reusable_pending(
        &self,
        tid: &str,
        connector_id: &str,
        sub: &str,
        labels_json: &str,
        policy_json: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
        }
        let rows: Vec<Row> = self
            .rows(
                "SELECT c.id FROM connections c JOIN oauth_states st ON st.key = c.pending_state \
                 WHERE c.tenant_id = ?1 AND c.connector_id = ?2 AND c.state = 'pending' AND c.secret_set = 0 \
                 AND st.sub = ?3 AND c.labels_json = ?4 AND c.policy_json IS ?5 \
                 ORDER BY c.created_at DESC LIMIT 1",
                &[s(tid), s(connector_id), s(sub), s(labels_json), opt(policy_json)],
            )
            .await?;
        Ok(rows.into_iter().next().map(|r| r.id))
    }

    /// Deletes up to `limit` OAuth2 connections still `pending`, created before
    /// `cutoff` (ISO 8601), that hold no secret and have no live state: attempts
    /// nobody completed. Returns them (tenant, id, connector) for audit and settling.
    pub(crate) async fn sweep_pending_connections(
        &self,
        cutoff: &str,
        now_ms: f64,
        limit: u32,
    ) -> Result<Vec<SweptConnection>, StoreError> {
        self.rows(
            "DELETE FROM connections WHERE id IN ( \
               SELECT c.id FROM connections c \
               WHERE c.state = 'pending' AND c.secret_set = 0 AND c.created_at < ?1 \
               AND NOT EXISTS (SELECT 1 FROM oauth_states st WHERE st.connection_id = c.id AND st.expires_at_ms >= ?2) \
               LIMIT ?3) \
             RETURNING tenant_id, id, connector_id",
            &[s(cutoff), JsValue::from(now_ms), JsValue::from(limit)],
        )
        .await
    }
}

/// A pending connection the sweep deleted.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SweptConnection {
    pub(crate) tenant_id: String,
    pub(crate) id: String,
    pub(crate) connector_id: String,
}
