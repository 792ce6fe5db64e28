//! Tenant rows: get, list, create, rename, and delete with everything they own.

use super::audit::{AuditCx, AuditEvent};
use super::{after, page_body, s, Store, StoreError};
use crate::api::paging::PageRequest;
use crate::api::time::new_id;
use serde_json::Value;
use wasm_bindgen::JsValue;

impl Store {
    pub(crate) async fn get_tenant(&self, tid: &str) -> Result<Option<Value>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, name, created_at FROM tenants WHERE id = ?1",
                &[s(tid)],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    pub(crate) async fn list_tenants(&self, p: &PageRequest) -> Result<Value, StoreError> {
        let (c, i) = after(p);
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
    ) -> Result<(), StoreError> {
        let uid = new_id("tu_")?;
        self.write_one(
            a,
            "INSERT INTO tenants (id, name, created_at, uid) VALUES (?1, ?2, ?3, ?4)",
            &[s(id), s(name), s(a.at), s(&uid)],
            AuditEvent::new(id, "tenant.created", "tenant", id),
        )
        .await
    }

    pub(crate) async fn rename_tenant(
        &self,
        id: &str,
        name: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        self.write_one(
            a,
            "UPDATE tenants SET name = ?2 WHERE id = ?1",
            &[s(id), s(name)],
            AuditEvent::new(id, "tenant.updated", "tenant", id),
        )
        .await
    }

    pub(crate) async fn delete_tenant(&self, id: &str, a: &AuditCx<'_>) -> Result<(), StoreError> {
        let stmts = vec![
            self.stmt("DELETE FROM routes WHERE tenant_id = ?1", &[s(id)])?,
            self.stmt("DELETE FROM domains WHERE tenant_id = ?1", &[s(id)])?,
            self.stmt("DELETE FROM tenants WHERE id = ?1", &[s(id)])?,
        ];
        let event = AuditEvent::new(id, "tenant.deleted", "tenant", id).before_write();
        self.write_with_audit(a, stmts, event).await?;
        Ok(())
    }
}
