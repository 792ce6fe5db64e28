//! Domain rows and their ownership: overlap-guarded writes (the check and the write
//! are one statement, so two racing tenants cannot both win), the per-tenant budget,
//! and the per-tenant budget. Pending domains' transitions are in pending.rs.

use super::audit::{AuditCx, AuditEvent, GuardedWrite};
use super::{after, opt, page_body, s, Store, StoreError};
use crate::api::paging::PageRequest;
use crate::domains::overlap::{Claim, OverlapQuery};
use crate::domains::verification::{verification_json, DomainStatus};
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

/// Columns of a domain row, in [`DomainRow`] order.
pub(super) const DOMAIN_COLS: &str =
    "id, tenant_id, domain, status, verification_token, checked_at, last_check, created_at";

/// One stored domain.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DomainRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) domain: String,
    pub(crate) status: String,
    pub(crate) verification_token: Option<String>,
    pub(crate) checked_at: Option<String>,
    pub(crate) last_check: Option<String>,
    pub(crate) created_at: String,
}

impl DomainRow {
    pub(crate) fn status(&self) -> DomainStatus {
        DomainStatus::parse(&self.status)
    }

    /// The API's view: `verification` only while pending.
    pub(crate) fn to_json(&self) -> Value {
        let status = self.status();
        let mut v = json!({
            "id": self.id,
            "tenant_id": self.tenant_id,
            "domain": self.domain,
            "status": status.as_str(),
            "created_at": self.created_at,
        });
        if let (DomainStatus::Pending, Some(token)) = (status, &self.verification_token) {
            v["verification"] = verification_json(
                &self.domain,
                token,
                self.last_check.as_deref(),
                self.checked_at.as_deref(),
            );
        }
        v
    }
}

/// A new or renamed domain's state.
pub(crate) struct DomainState<'a> {
    pub(crate) status: DomainStatus,
    /// The challenge value (pending only).
    pub(crate) token: Option<&'a str>,
}

/// `NOT EXISTS` clauses that refuse a name overlapping another tenant's (or equal
/// to any) domain. Parameters: ?1 names (JSON list), ?2/?3 reversed-name range or
/// NULL, ?4 tenant, ?5 domain, ?6 id of the row being renamed ('' on create).
const NO_OVERLAP: &str = "NOT EXISTS (SELECT 1 FROM domains WHERE domain IN (SELECT value FROM json_each(?1)) AND (tenant_id != ?4 OR domain = ?5) AND id != ?6) \
     AND NOT EXISTS (SELECT 1 FROM domains WHERE ?2 IS NOT NULL AND domain_rev >= ?2 AND domain_rev < ?3 AND (tenant_id != ?4 OR domain = ?5) AND id != ?6)";

/// Audit guard (see [`AuditEvent::only_if`]): the row now carries the new name.
const NOW_NAMED: &str = "EXISTS (SELECT 1 FROM domains WHERE id = ?6 AND domain = ?9)";

fn overlap_args(domain: &str, tid: &str, exclude_id: &str) -> Vec<JsValue> {
    let q = OverlapQuery::for_domain(domain);
    let names = serde_json::to_string(&q.names).unwrap_or_else(|_| "[]".into());
    let (from, to) = match &q.below {
        Some((f, t)) => (s(f), s(t)),
        None => (JsValue::NULL, JsValue::NULL),
    };
    vec![s(&names), from, to, s(tid), s(domain), s(exclude_id)]
}

impl Store {
    pub(crate) async fn tenant_domain_names(&self, tid: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<Value> = self
            .rows("SELECT domain FROM domains WHERE tenant_id = ?1", &[s(tid)])
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.get("domain").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    pub(crate) async fn get_domain(
        &self,
        tid: &str,
        did: &str,
    ) -> Result<Option<DomainRow>, StoreError> {
        let rows: Vec<DomainRow> = self
            .rows(
                &format!("SELECT {DOMAIN_COLS} FROM domains WHERE tenant_id = ?1 AND id = ?2"),
                &[s(tid), s(did)],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    pub(crate) async fn list_domains(
        &self,
        tid: &str,
        p: &PageRequest,
    ) -> Result<Value, StoreError> {
        let (c, i) = after(p);
        let rows: Vec<DomainRow> = self
            .rows(
                &format!("SELECT {DOMAIN_COLS} FROM domains WHERE tenant_id = ?4 AND (?1 IS NULL OR created_at > ?1 OR (created_at = ?1 AND id > ?2)) ORDER BY created_at, id LIMIT ?3"),
                &[c, i, JsValue::from(p.limit + 1), s(tid)],
            )
            .await?;
        let items = rows.iter().map(DomainRow::to_json).collect();
        Ok(page_body(items, p.limit, "created_at"))
    }

    /// Stored domains that may refuse `domain` for `tid`: the same name, names that
    /// cover it and (for a wildcard) names below it, held by another tenant. The
    /// caller decides with [`crate::domains::overlap::first_conflict`].
    pub(crate) async fn domain_claims(
        &self,
        domain: &str,
        tid: &str,
        exclude_id: Option<&str>,
    ) -> Result<Vec<Claim>, StoreError> {
        let sql = "SELECT domain, tenant_id FROM domains WHERE domain IN (SELECT value FROM json_each(?1)) AND (tenant_id != ?4 OR domain = ?5) AND id != ?6 \
             UNION ALL SELECT domain, tenant_id FROM domains WHERE ?2 IS NOT NULL AND domain_rev >= ?2 AND domain_rev < ?3 AND (tenant_id != ?4 OR domain = ?5) AND id != ?6 \
             LIMIT 20";
        let rows: Vec<Value> = self
            .rows(sql, &overlap_args(domain, tid, exclude_id.unwrap_or("")))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(Claim {
                    domain: r.get("domain")?.as_str()?.to_string(),
                    tenant_id: r.get("tenant_id")?.as_str()?.to_string(),
                })
            })
            .collect())
    }

    pub(crate) async fn count_domains(&self, tid: &str) -> Result<u64, StoreError> {
        self.count(
            "SELECT count(*) AS n FROM domains WHERE tenant_id = ?1",
            &[s(tid)],
        )
        .await
    }

    /// A write whose guard may refuse it: the UNIQUE index is the last line for
    /// exact duplicates, and refuses like the guard does.
    pub(super) async fn guarded(
        &self,
        a: &AuditCx<'_>,
        stmts: Vec<D1PreparedStatement>,
        event: AuditEvent<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        match self.write_with_audit(a, stmts, event).await {
            Ok(written) => Ok(written),
            Err(StoreError::Conflict(_)) => Ok(GuardedWrite::Refused),
            Err(e @ (StoreError::Randomness(_) | StoreError::Unavailable(_))) => Err(e),
        }
    }

    /// Inserts a domain unless it overlaps another tenant's (or the tenant is at
    /// `max_domains`), in one statement.
    pub(crate) async fn create_domain(
        &self,
        tid: &str,
        id: &str,
        domain: &str,
        state: &DomainState<'_>,
        max_domains: Option<u32>,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        let mut args = overlap_args(domain, tid, "");
        args.extend([
            s(id),
            s(state.status.as_str()),
            opt(state.token),
            s(a.at),
            max_domains.map_or(JsValue::NULL, JsValue::from),
        ]);
        let insert = self.stmt(
            &format!(
                "INSERT INTO domains (id, tenant_id, domain, status, verification_token, created_at) \
                 SELECT ?7, ?4, ?5, ?8, ?9, ?10 WHERE {NO_OVERLAP} \
                 AND (?11 IS NULL OR (SELECT count(*) FROM domains WHERE tenant_id = ?4) < ?11)"
            ),
            &args,
        )?;
        let event = AuditEvent::new(tid, "domain.created", "domain", id)
            .only_if(NOW_NAMED, vec![s(domain)]);
        self.guarded(a, vec![insert], event).await
    }

    /// Renames a domain (new state, e.g. pending again) unless the new name overlaps.
    pub(crate) async fn rename_domain(
        &self,
        tid: &str,
        id: &str,
        domain: &str,
        state: &DomainState<'_>,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        let mut args = overlap_args(domain, tid, id);
        args.extend([s(state.status.as_str()), opt(state.token)]);
        let update = self.stmt(
            &format!(
                "UPDATE domains SET domain = ?5, status = ?7, verification_token = ?8, checked_at = NULL, last_check = NULL, verified_at = NULL \
                 WHERE tenant_id = ?4 AND id = ?6 AND {NO_OVERLAP}"
            ),
            &args,
        )?;
        let event = AuditEvent::new(tid, "domain.updated", "domain", id)
            .only_if(NOW_NAMED, vec![s(domain)]);
        self.guarded(a, vec![update], event).await
    }

    pub(crate) async fn delete_domain(
        &self,
        tid: &str,
        id: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), StoreError> {
        let stmts = vec![
            self.stmt(
                "DELETE FROM routes WHERE tenant_id = ?1 AND custom_domain_id = ?2",
                &[s(tid), s(id)],
            )?,
            self.stmt(
                "DELETE FROM domains WHERE tenant_id = ?1 AND id = ?2",
                &[s(tid), s(id)],
            )?,
        ];
        let event = AuditEvent::new(tid, "domain.deleted", "domain", id);
        self.write_with_audit(a, stmts, event).await?;
        Ok(())
    }
}
