//! Route rows: reads (JSON columns parsed back), the per-tenant count, and writes.

use super::audit::{AuditCx, AuditEvent};
use super::{after, opt, page_body, s, Store, StoreError};
use crate::api::bodies::ValidRoute;
use crate::api::paging::PageRequest;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;

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

/// A route's writable columns as arguments ?3..?7 (after tenant and id).
fn route_args(tid: &str, id: &str, r: &ValidRoute, at: &str) -> [JsValue; 7] {
    [
        s(tid),
        s(id),
        opt(r.custom_domain_id.as_deref()),
        JsValue::from_f64(r.priority as f64),
        s(&r.match_.to_string()),
        s(&r.handlers.to_string()),
        s(at),
    ]
}

impl Store {
    pub(crate) async fn get_route(
        &self,
        tid: &str,
        rid: &str,
    ) -> Result<Option<Value>, StoreError> {
        let rows: Vec<RouteRow> = self
            .rows(
                &format!("SELECT {ROUTE_COLS} FROM routes WHERE tenant_id = ?1 AND id = ?2"),
                &[s(tid), s(rid)],
            )
            .await?;
        Ok(rows.into_iter().next().map(RouteRow::into_json))
    }

    pub(crate) async fn count_routes(&self, tid: &str) -> Result<u64, StoreError> {
        self.count(
            "SELECT COUNT(*) AS n FROM routes WHERE tenant_id = ?1",
            &[s(tid)],
        )
        .await
    }

    pub(crate) async fn list_routes(
        &self,
        tid: &str,
        domain: Option<&str>,
        p: &PageRequest,
    ) -> Result<Value, StoreError> {
        let (c, i) = after(p);
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
        let rows: Vec<RouteRow> = self.rows(&sql, &args).await?;
        let items = rows.into_iter().map(RouteRow::into_json).collect();
        Ok(page_body(items, p.limit, "created_at"))
    }

    pub(crate) async fn create_route(
        &self,
        tid: &str,
        id: &str,
        r: &ValidRoute,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        self.write_one(
            a,
            &format!("INSERT INTO routes ({ROUTE_COLS}) VALUES (?2, ?1, ?3, ?4, ?5, ?6, ?7, ?7)"),
            &route_args(tid, id, r, a.at),
            AuditEvent::new(tid, "route.created", "route", id),
        )
        .await
    }

    pub(crate) async fn update_route(
        &self,
        tid: &str,
        id: &str,
        r: &ValidRoute,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        self.write_one(
            a,
            "UPDATE routes SET custom_domain_id = ?3, priority = ?4, match_json = ?5, handlers_json = ?6, updated_at = ?7 WHERE tenant_id = ?1 AND id = ?2",
            &route_args(tid, id, r, a.at),
            AuditEvent::new(tid, "route.updated", "route", id),
        )
        .await
    }

    pub(crate) async fn delete_route(
        &self,
        tid: &str,
        id: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        self.write_one(
            a,
            "DELETE FROM routes WHERE tenant_id = ?1 AND id = ?2",
            &[s(tid), s(id)],
            AuditEvent::new(tid, "route.deleted", "route", id),
        )
        .await
    }
}
