//! The audit log: the one write helper every write goes through (its statements and
//! its audit row in one batch), and the tenant's audit listing.

use super::{after, opt, page_body, s, Store, StoreError};
use crate::api::audit_query::AuditQuery;
use crate::api::time::new_id;
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{D1PreparedStatement, D1Result};

/// Who did it, for every audit row of one request (or one scheduled run).
pub(crate) struct AuditCx<'a> {
    pub(crate) actor: &'a str,
    pub(crate) request_id: &'a str,
    pub(crate) at: &'a str,
}

/// What one write did, for its audit row.
pub(super) struct AuditEvent<'a> {
    tenant: &'a str,
    action: &'static str,
    object_type: &'static str,
    object_id: &'a str,
    before_write: bool,
    only_if: Option<(&'static str, Vec<JsValue>)>,
}

impl<'a> AuditEvent<'a> {
    /// `action` (`route.created`) on `object_type` `object_id` of `tenant`.
    pub(super) fn new(
        tenant: &'a str,
        action: &'static str,
        object_type: &'static str,
        object_id: &'a str,
    ) -> Self {
        Self {
            tenant,
            action,
            object_type,
            object_id,
            before_write: false,
            only_if: None,
        }
    }

    /// Puts the row ahead of the write: a delete's row must run while the tenant
    /// row still exists, or it cannot record the tenant's `uid`.
    pub(super) fn before_write(mut self) -> Self {
        self.before_write = true;
        self
    }

    /// Inserts the row only where `condition` holds when it runs, so a guarded write
    /// that was refused leaves no row. `condition` may use ?6 (the object id), ?8
    /// (the time) and ?9.. (`args`).
    pub(super) fn only_if(mut self, condition: &'static str, args: Vec<JsValue>) -> Self {
        self.only_if = Some((condition, args));
        self
    }
}

/// How a write went: its audit row is the proof that it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardedWrite {
    Written,
    /// A guard stopped it (a conflicting row, the budget, or a racing write won).
    Refused,
}

fn changes(result: Option<&D1Result>) -> usize {
    result
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0)
}

impl Store {
    /// One statement and its audit row, as one batch (the common write).
    pub(super) async fn write_one(
        &self,
        a: &AuditCx<'_>,
        sql: &str,
        args: &[JsValue],
        event: AuditEvent<'_>,
    ) -> Result<(), StoreError> {
        let stmt = self.stmt(sql, args)?;
        self.write_with_audit(a, vec![stmt], event).await?;
        Ok(())
    }

    /// Runs `stmts` and the audit row of `event` as one batch (one transaction).
    pub(super) async fn write_with_audit(
        &self,
        a: &AuditCx<'_>,
        mut stmts: Vec<D1PreparedStatement>,
        event: AuditEvent<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        let id = new_id("aud_")?;
        let (condition, extra) = match event.only_if {
            Some((c, args)) => (format!(" WHERE {c}"), args),
            None => (String::new(), Vec::new()),
        };
        let mut args = vec![
            s(&id),
            s(event.tenant),
            s(a.actor),
            s(event.action),
            s(event.object_type),
            s(event.object_id),
            s(a.request_id),
            s(a.at),
        ];
        args.extend(extra);
        // The row belongs to this incarnation of the tenant (its `uid`), so a tenant
        // re-created under the same id does not inherit it.
        let row = self.stmt(
            &format!(
                "INSERT INTO audit_log (id, tenant_id, tenant_uid, actor, action, object_type, object_id, request_id, at) \
                 SELECT ?1, ?2, (SELECT uid FROM tenants WHERE id = ?2), ?3, ?4, ?5, ?6, ?7, ?8{condition}"
            ),
            &args,
        )?;
        let at = if event.before_write {
            stmts.insert(0, row);
            0
        } else {
            stmts.push(row);
            stmts.len() - 1
        };
        let results = self.db.batch(stmts).await?;
        Ok(if changes(results.get(at)) > 0 {
            GuardedWrite::Written
        } else {
            GuardedWrite::Refused
        })
    }

    /// A tenant's audit rows, newest first, narrowed by `q`.
    pub(crate) async fn list_audit(&self, tid: &str, q: &AuditQuery) -> Result<Value, StoreError> {
        let p = &q.page;
        let (c, i) = after(p);
        let rows = self
            .rows(
                // Only rows of the tenant's current incarnation (`IS` also matches
                // NULL = NULL for tenants and rows from before migration 0004).
                "SELECT id, tenant_id, kind, actor, action, object_type, object_id, request_id, at, \
                 connection_id, connector_id, connector_version, method, host, path, status, duration_ms, \
                 request_bytes, response_bytes FROM audit_log \
                 WHERE tenant_id = ?4 AND tenant_uid IS (SELECT uid FROM tenants WHERE id = ?4) \
                 AND (?1 IS NULL OR at < ?1 OR (at = ?1 AND id < ?2)) \
                 AND (?5 IS NULL OR kind = ?5) AND (?6 IS NULL OR connection_id = ?6) \
                 AND (?7 IS NULL OR (status >= ?7 * 100 AND status < ?7 * 100 + 100)) \
                 AND (?8 IS NULL OR at >= ?8) AND (?9 IS NULL OR at < ?9) \
                 ORDER BY at DESC, id DESC LIMIT ?3",
                &[
                    c,
                    i,
                    JsValue::from(p.limit + 1),
                    s(tid),
                    opt(q.kind.map(|k| k.as_str())),
                    opt(q.connection_id.as_deref()),
                    q.status_class.map_or(JsValue::NULL, JsValue::from),
                    opt(q.since.as_deref()),
                    opt(q.until.as_deref()),
                ],
            )
            .await?;
        let rows: Vec<Value> = rows.into_iter().map(drop_nulls).collect();
        Ok(page_body(rows, p.limit, "at"))
    }

    /// The rows of proxied calls and their connections' last use, in one batch
    /// (one D1 round trip however many rows: calls are audited in flushes).
    pub(crate) async fn insert_call_audits(&self, rows: &[CallRow]) -> Result<(), StoreError> {
        let mut stmts = Vec::with_capacity(rows.len() / ROWS_PER_INSERT + 2);
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO audit_log (id, tenant_id, tenant_uid, actor, action, object_type, object_id, request_id, at, \
                 kind, connection_id, connector_id, connector_version, method, host, path, status, duration_ms, request_bytes, response_bytes) VALUES ",
            );
            let mut args = Vec::with_capacity(chunk.len() * 15);
            for (k, r) in chunk.iter().enumerate() {
                let b = k * 15;
                if k > 0 {
                    sql.push_str(", ");
                }
                let p = |n: usize| format!("?{}", b + n);
                sql.push_str(&format!(
                    "({}, {}, (SELECT uid FROM tenants WHERE id = {}), {}, 'connection.proxied', 'connection', {}, {}, {}, 'proxy', {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                    p(1), p(2), p(2), p(3), p(4), p(5), p(6), p(4), p(7), p(8), p(9), p(10), p(11), p(12), p(13), p(14), p(15)
                ));
                let n = |v: Option<u64>| v.map_or(JsValue::NULL, |v| JsValue::from_f64(v as f64));
                args.extend([
                    s(&new_id("aud_")?),
                    s(&r.tenant),
                    s(&r.actor),
                    s(&r.connection_id),
                    s(&r.request_id),
                    s(&r.at),
                    s(&r.connector_id),
                    JsValue::from(r.connector_version),
                    s(&r.method),
                    s(&r.host),
                    s(&r.path),
                    JsValue::from(r.status),
                    JsValue::from_f64(r.duration_ms as f64),
                    n(r.request_bytes),
                    n(r.response_bytes),
                ]);
            }
            stmts.push(self.stmt(&sql, &args)?);
        }
        // Each connection's latest use, once per flush rather than once per call.
        let mut latest: Vec<(&str, &str, &str)> = Vec::new();
        for r in rows {
            match latest
                .iter_mut()
                .find(|(t, c, _)| *t == r.tenant && *c == r.connection_id)
            {
                Some(l) if l.2 < r.at.as_str() => l.2 = &r.at,
                Some(_) => {}
                None => latest.push((&r.tenant, &r.connection_id, &r.at)),
            }
        }
        for (t, c, at) in latest {
            stmts.push(self.stmt(
                "UPDATE connections SET last_used_at = ?3 WHERE tenant_id = ?1 AND id = ?2 \
                 AND (last_used_at IS NULL OR last_used_at < ?3)",
                &[s(t), s(c), s(at)],
            )?);
        }
        self.db.batch(stmts).await?;
        Ok(())
    }

    /// Deletes up to `limit` rows older than `cutoff`; returns how many went.
    pub(crate) async fn purge_audit(&self, cutoff: &str, limit: u32) -> Result<usize, StoreError> {
        let r = self
            .stmt(
                "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ?1 ORDER BY at LIMIT ?2)",
                &[s(cutoff), JsValue::from(limit)],
            )?
            .run()
            .await?;
        Ok(changes(Some(&r)))
    }
}

/// Rows per multi-row INSERT: 15 arguments each, under D1's 100 per statement.
const ROWS_PER_INSERT: usize = 6;

/// One proxied call, as its audit row records it (no header, query or body).
#[derive(Debug, Clone)]
pub(crate) struct CallRow {
    pub(crate) tenant: String,
    pub(crate) actor: String,
    pub(crate) connection_id: String,
    pub(crate) connector_id: String,
    pub(crate) connector_version: u32,
    pub(crate) method: String,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) duration_ms: u64,
    pub(crate) request_bytes: Option<u64>,
    pub(crate) response_bytes: Option<u64>,
    pub(crate) request_id: String,
    pub(crate) at: String,
}

/// Management rows have no call columns: leave them out rather than show nulls.
fn drop_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}
