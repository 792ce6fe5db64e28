//! D1 statements of the management API. Every write is one `batch` (a single
//! transaction) that also inserts its audit row, so a failure leaves nothing behind.

use super::d1::DB_BINDING;
use crate::api::bodies::ValidRoute;
use crate::api::paging::{encode_cursor, PageRequest};
use crate::api::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

/// Who did what, for the audit row of a write.
pub(crate) struct AuditCx<'a> {
    pub(crate) actor: &'a str,
    pub(crate) request_id: &'a str,
    pub(crate) at: &'a str,
}

pub(super) fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

pub(super) fn storage(e: impl std::fmt::Display) -> Problem {
    worker::console_error!("portico: D1: {e}");
    Problem::unavailable()
}

/// A page of items and the cursor of the next one.
pub(crate) fn page_body(mut items: Vec<Value>, limit: u32, key: &str) -> Value {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = if more {
        items.last().map(|last| {
            encode_cursor(
                last.get(key).and_then(Value::as_str).unwrap_or_default(),
                last.get("id").and_then(Value::as_str).unwrap_or_default(),
            )
        })
    } else {
        None
    };
    json!({ "items": items, "next_cursor": next })
}

#[derive(Deserialize)]
struct RouteRow {
    id: String,
    tenant_id: String,
    custom_domain_id: Option<String>,
    priority: f64,
    match_json: String,
    handlers_json: String,
    created_at: String,
    updated_at: String,
}

impl RouteRow {
    fn into_json(self) -> Value {
        let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
        json!({
            "id": self.id,
            "tenant_id": self.tenant_id,
            "custom_domain_id": self.custom_domain_id,
            "priority": self.priority as i64,
            "match": parse(&self.match_json),
            "handlers": parse(&self.handlers_json),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

const ROUTE_COLS: &str =
    "id, tenant_id, custom_domain_id, priority, match_json, handlers_json, created_at, updated_at";

/// The management API's view of D1.
pub(crate) struct Store {
    pub(super) db: D1Database,
}

impl Store {
    pub(crate) fn open(env: &Env) -> Result<Self, Problem> {
        env.d1(DB_BINDING).map(|db| Self { db }).map_err(storage)
    }

    pub(super) fn stmt(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, Problem> {
        self.db.prepare(sql).bind(args).map_err(storage)
    }

    pub(super) async fn rows(&self, sql: &str, args: &[JsValue]) -> Result<Vec<Value>, Problem> {
        let r = self.stmt(sql, args)?.all().await.map_err(storage)?;
        r.results::<Value>().map_err(storage)
    }

    pub(super) async fn one(&self, sql: &str, args: &[JsValue]) -> Result<Option<Value>, Problem> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    /// Runs a write batch; a UNIQUE violation becomes 409 on `conflict_path`.
    pub(super) async fn write(
        &self,
        stmts: Vec<D1PreparedStatement>,
        conflict_path: &str,
    ) -> Result<(), Problem> {
        match self.db.batch(stmts).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("UNIQUE") => {
                Err(Problem::conflict(conflict_path, "is already in use"))
            }
            Err(e) => Err(storage(e)),
        }
    }

    pub(super) fn audit(
        &self,
        a: &AuditCx<'_>,
        tenant: &str,
        action: &str,
        object_type: &str,
        object_id: &str,
    ) -> Result<D1PreparedStatement, Problem> {
        let id = crate::api::time::new_id("aud_").map_err(|_| Problem::internal())?;
        // The row belongs to this incarnation of the tenant (its `uid`), so a tenant
        // re-created under the same id does not inherit it. In a batch the tenant row
        // must still exist when this runs (deletes put their audit row first).
        self.stmt(
            "INSERT INTO audit_log (id, tenant_id, tenant_uid, actor, action, object_type, object_id, request_id, at) VALUES (?1, ?2, (SELECT uid FROM tenants WHERE id = ?2), ?3, ?4, ?5, ?6, ?7, ?8)",
            &[s(&id), s(tenant), s(a.actor), s(action), s(object_type), s(object_id), s(a.request_id), s(a.at)],
        )
    }

    pub(super) fn after(p: &PageRequest) -> (JsValue, JsValue) {
        match &p.after {
            Some((c, id)) => (s(c), s(id)),
            None => (JsValue::NULL, JsValue::NULL),
        }
    }

    // ---- tenants -------------------------------------------------------------

    pub(crate) async fn get_tenant(&self, tid: &str) -> Result<Option<Value>, Problem> {
        self.one(
            "SELECT id, name, created_at FROM tenants WHERE id = ?1",
            &[s(tid)],
        )
        .await
    }

    pub(crate) async fn list_tenants(&self, p: &PageRequest) -> Result<Value, Problem> {
        let (c, i) = Self::after(p);
        let rows = self
            .rows(
                "SELECT id, name, created_at FROM tenants WHERE (?1 IS NULL OR created_at > ?1 OR (created_at = ?1 AND id > ?2)) ORDER BY created_at, id LIMIT ?3",
                &[c, i, JsValue::from(p.limit + 1)],
            )
            .await?;
        Ok(page_body(rows, p.limit, "created_at"))
    }

    pub(crate) async fn create_tenant(
        &self,
        id: &str,
        name: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), Problem> {
        let uid = crate::api::time::new_id("tu_").map_err(|_| Problem::internal())?;
        let stmts = vec![
            self.stmt(
                "INSERT INTO tenants (id, name, created_at, uid) VALUES (?1, ?2, ?3, ?4)",
                &[s(id), s(name), s(a.at), s(&uid)],
            )?,
            self.audit(a, id, "tenant.created", "tenant", id)?,
        ];
        self.write(stmts, "id").await
    }

    pub(crate) async fn rename_tenant(
        &self,
        id: &str,
        name: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), Problem> {
        let stmts = vec![
            self.stmt(
                "UPDATE tenants SET name = ?2 WHERE id = ?1",
                &[s(id), s(name)],
            )?,
            self.audit(a, id, "tenant.updated", "tenant", id)?,
        ];
        self.write(stmts, "name").await
    }

    pub(crate) async fn delete_tenant(&self, id: &str, a: &AuditCx<'_>) -> Result<(), Problem> {
        // Audit first: it records the uid of the tenant being deleted.
        let stmts = vec![
            self.audit(a, id, "tenant.deleted", "tenant", id)?,
            self.stmt("DELETE FROM routes WHERE tenant_id = ?1", &[s(id)])?,
            self.stmt("DELETE FROM domains WHERE tenant_id = ?1", &[s(id)])?,
            self.stmt("DELETE FROM tenants WHERE id = ?1", &[s(id)])?,
        ];
        self.write(stmts, "id").await
    }

    // ---- routes --------------------------------------------------------------

    pub(crate) async fn get_route(&self, tid: &str, rid: &str) -> Result<Option<Value>, Problem> {
        let r = self
            .stmt(
                &format!("SELECT {ROUTE_COLS} FROM routes WHERE tenant_id = ?1 AND id = ?2"),
                &[s(tid), s(rid)],
            )?
            .all()
            .await
            .map_err(storage)?;
        let rows: Vec<RouteRow> = r.results().map_err(storage)?;
        Ok(rows.into_iter().next().map(RouteRow::into_json))
    }

    pub(crate) async fn count_routes(&self, tid: &str) -> Result<u64, Problem> {
        let row = self
            .one(
                "SELECT COUNT(*) AS n FROM routes WHERE tenant_id = ?1",
                &[s(tid)],
            )
            .await?;
        Ok(row
            .and_then(|r| r.get("n").and_then(Value::as_f64))
            .map_or(0, |n| n.max(0.0) as u64))
    }

    pub(crate) async fn list_routes(
        &self,
        tid: &str,
        domain: Option<&str>,
        p: &PageRequest,
    ) -> Result<Value, Problem> {
        let (c, i) = Self::after(p);
        let filter = match domain {
            None => "",
            Some("") => " AND custom_domain_id IS NULL",
            Some(_) => " AND custom_domain_id = ?5",
        };
        let mut args = vec![c, i, JsValue::from(p.limit + 1), s(tid)];
        if let Some(d) = domain.filter(|d| !d.is_empty()) {
            args.push(s(d));
        }
        let sql = format!(
            "SELECT {ROUTE_COLS} FROM routes WHERE tenant_id = ?4{filter} AND (?1 IS NULL OR created_at > ?1 OR (created_at = ?1 AND id > ?2)) ORDER BY created_at, id LIMIT ?3"
        );
        let r = self.stmt(&sql, &args)?.all().await.map_err(storage)?;
        let rows: Vec<RouteRow> = r.results().map_err(storage)?;
        let items = rows.into_iter().map(RouteRow::into_json).collect();
        Ok(page_body(items, p.limit, "created_at"))
    }

    pub(crate) async fn create_route(
        &self,
        tid: &str,
        id: &str,
        r: &ValidRoute,
        a: &AuditCx<'_>,
    ) -> Result<(), Problem> {
        let stmts = vec![
            self.stmt(
                &format!(
                    "INSERT INTO routes ({ROUTE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
                ),
                &[
                    s(id),
                    s(tid),
                    opt(r.custom_domain_id.as_deref()),
                    JsValue::from_f64(r.priority as f64),
                    s(&r.match_.to_string()),
                    s(&r.handlers.to_string()),
                    s(a.at),
                ],
            )?,
            self.audit(a, tid, "route.created", "route", id)?,
        ];
        self.write(stmts, "id").await
    }

    pub(crate) async fn update_route(
        &self,
        tid: &str,
        id: &str,
        r: &ValidRoute,
        a: &AuditCx<'_>,
    ) -> Result<(), Problem> {
        let stmts = vec![
            self.stmt(
                "UPDATE routes SET custom_domain_id = ?3, priority = ?4, match_json = ?5, handlers_json = ?6, updated_at = ?7 WHERE tenant_id = ?1 AND id = ?2",
                &[
                    s(tid),
                    s(id),
                    opt(r.custom_domain_id.as_deref()),
                    JsValue::from_f64(r.priority as f64),
                    s(&r.match_.to_string()),
                    s(&r.handlers.to_string()),
                    s(a.at),
                ],
            )?,
            self.audit(a, tid, "route.updated", "route", id)?,
        ];
        self.write(stmts, "id").await
    }

    pub(crate) async fn delete_route(
        &self,
        tid: &str,
        id: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), Problem> {
        let stmts = vec![
            self.stmt(
                "DELETE FROM routes WHERE tenant_id = ?1 AND id = ?2",
                &[s(tid), s(id)],
            )?,
            self.audit(a, tid, "route.deleted", "route", id)?,
        ];
        self.write(stmts, "id").await
    }

    // ---- audit ---------------------------------------------------------------

    pub(crate) async fn list_audit(&self, tid: &str, p: &PageRequest) -> Result<Value, Problem> {
        let (c, i) = Self::after(p);
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
