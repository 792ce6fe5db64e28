//! The audit log: the one write helper every write goes through (its statements and
//! its audit row in one batch), and the tenant's audit listing.

use super::{after, page_body, s, Store, StoreError};
use crate::api::paging::PageRequest;
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

    pub(crate) async fn list_audit(&self, tid: &str, p: &PageRequest) -> Result<Value, StoreError> {
        let (c, i) = after(p);
        let rows = self
            .rows(
                // Only rows of the tenant's current incarnation (`IS` also matches
                // NULL = NULL for tenants and rows from before migration 0004).
                "SELECT id, tenant_id, actor, action, object_type, object_id, request_id, at FROM audit_log WHERE tenant_id = ?4 AND tenant_uid IS (SELECT uid FROM tenants WHERE id = ?4) AND (?1 IS NULL OR at < ?1 OR (at = ?1 AND id < ?2)) ORDER BY at DESC, id DESC LIMIT ?3",
                &[c, i, JsValue::from(p.limit + 1), s(tid)],
            )
            .await?;
        Ok(page_body(rows, p.limit, "at"))
    }
}
