//! D1 statements for domains and their ownership: overlap-guarded writes (the check
//! and the write are one statement, so two racing tenants cannot both win), the
//! per-tenant budget, and the pending → active transition.

use super::store::{page_body, s, storage, AuditCx, Store};
use crate::api::paging::PageRequest;
use crate::api::Problem;
use crate::domains::overlap::{Claim, OverlapQuery};
use crate::domains::verification::{verification_json, CheckOutcome, DomainStatus};
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;

/// Columns of a domain row, in [`DomainRow`] order.
const DOMAIN_COLS: &str =
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

/// How a guarded write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardedWrite {
    Written,
    /// A conflicting row or the budget stopped it (a racing write won).
    Refused,
}

/// `NOT EXISTS` clauses that refuse a name overlapping another tenant's (or equal
/// to any) domain. Parameters: ?1 names (JSON list), ?2/?3 reversed-name range or
/// NULL, ?4 tenant, ?5 domain, ?6 id of the row being renamed ('' on create).
const NO_OVERLAP: &str = "NOT EXISTS (SELECT 1 FROM domains WHERE domain IN (SELECT value FROM json_each(?1)) AND (tenant_id != ?4 OR domain = ?5) AND id != ?6) \
     AND NOT EXISTS (SELECT 1 FROM domains WHERE ?2 IS NOT NULL AND domain_rev >= ?2 AND domain_rev < ?3 AND (tenant_id != ?4 OR domain = ?5) AND id != ?6)";

fn overlap_args(domain: &str, tid: &str, exclude_id: &str) -> Vec<JsValue> {
    let q = OverlapQuery::for_domain(domain);
    let names = serde_json::to_string(&q.names).unwrap_or_else(|_| "[]".into());
    let (from, to) = match &q.below {
        Some((f, t)) => (s(f), s(t)),
        None => (JsValue::NULL, JsValue::NULL),
    };
    vec![s(&names), from, to, s(tid), s(domain), s(exclude_id)]
}

fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

fn changes(results: &[worker::D1Result]) -> usize {
    results
        .first()
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0)
}

impl Store {
    pub(crate) async fn tenant_domain_names(&self, tid: &str) -> Result<Vec<String>, Problem> {
        Ok(self
            .rows("SELECT domain FROM domains WHERE tenant_id = ?1", &[s(tid)])
            .await?
            .into_iter()
            .filter_map(|r| r.get("domain").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    async fn domain_rows(&self, sql: &str, args: &[JsValue]) -> Result<Vec<DomainRow>, Problem> {
        let r = self.stmt(sql, args)?.all().await.map_err(storage)?;
        r.results::<DomainRow>().map_err(storage)
    }

    pub(crate) async fn get_domain(
        &self,
        tid: &str,
        did: &str,
    ) -> Result<Option<DomainRow>, Problem> {
        Ok(self
            .domain_rows(
                &format!("SELECT {DOMAIN_COLS} FROM domains WHERE tenant_id = ?1 AND id = ?2"),
                &[s(tid), s(did)],
            )
            .await?
            .into_iter()
            .next())
    }

    pub(crate) async fn list_domains(&self, tid: &str, p: &PageRequest) -> Result<Value, Problem> {
        let (c, i) = Self::after(p);
        let rows = self
            .domain_rows(
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
    ) -> Result<Vec<Claim>, Problem> {
        let sql = "SELECT domain, tenant_id FROM domains WHERE domain IN (SELECT value FROM json_each(?1)) AND (tenant_id != ?4 OR domain = ?5) AND id != ?6 \
             UNION ALL SELECT domain, tenant_id FROM domains WHERE ?2 IS NOT NULL AND domain_rev >= ?2 AND domain_rev < ?3 AND (tenant_id != ?4 OR domain = ?5) AND id != ?6 \
             LIMIT 20";
        let rows = self
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

    pub(crate) async fn count_domains(&self, tid: &str) -> Result<u64, Problem> {
        let row = self
            .one(
                "SELECT count(*) AS n FROM domains WHERE tenant_id = ?1",
                &[s(tid)],
            )
            .await?;
        Ok(row
            .and_then(|r| r.get("n").and_then(Value::as_f64))
            .map_or(0, |n| n as u64))
    }

    /// Audit row written only if the domain row now carries `domain` (so a guarded
    /// write that was refused leaves no audit row behind).
    fn domain_audit(
        &self,
        a: &AuditCx<'_>,
        tid: &str,
        action: &str,
        id: &str,
        domain: &str,
    ) -> Result<worker::D1PreparedStatement, Problem> {
        let aid = crate::api::time::new_id("aud_").map_err(|_| Problem::internal())?;
        self.stmt(
            "INSERT INTO audit_log (id, tenant_id, tenant_uid, actor, action, object_type, object_id, request_id, at) \
             SELECT ?1, ?2, (SELECT uid FROM tenants WHERE id = ?2), ?3, ?4, 'domain', ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM domains WHERE id = ?5 AND domain = ?8)",
            &[s(&aid), s(tid), s(a.actor), s(action), s(id), s(a.request_id), s(a.at), s(domain)],
        )
    }

    async fn guarded(
        &self,
        stmts: Vec<worker::D1PreparedStatement>,
    ) -> Result<GuardedWrite, Problem> {
        match self.db.batch(stmts).await {
            Ok(results) if changes(&results) > 0 => Ok(GuardedWrite::Written),
            Ok(_) => Ok(GuardedWrite::Refused),
            // The UNIQUE index is the last line for exact duplicates.
            Err(e) if e.to_string().contains("UNIQUE") => Ok(GuardedWrite::Refused),
            Err(e) => Err(storage(e)),
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
    ) -> Result<GuardedWrite, Problem> {
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
        let audit = self.domain_audit(a, tid, "domain.created", id, domain)?;
        self.guarded(vec![insert, audit]).await
    }

    /// Renames a domain (new state, e.g. pending again) unless the new name overlaps.
    pub(crate) async fn rename_domain(
        &self,
        tid: &str,
        id: &str,
        domain: &str,
        state: &DomainState<'_>,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, Problem> {
        let mut args = overlap_args(domain, tid, id);
        args.extend([s(state.status.as_str()), opt(state.token)]);
        let update = self.stmt(
            &format!(
                "UPDATE domains SET domain = ?5, status = ?7, verification_token = ?8, checked_at = NULL, last_check = NULL, verified_at = NULL \
                 WHERE tenant_id = ?4 AND id = ?6 AND {NO_OVERLAP}"
            ),
            &args,
        )?;
        let audit = self.domain_audit(a, tid, "domain.updated", id, domain)?;
        self.guarded(vec![update, audit]).await
    }

    pub(crate) async fn delete_domain(
        &self,
        tid: &str,
        id: &str,
        a: &AuditCx<'_>,
    ) -> Result<(), Problem> {
        let stmts = vec![
            self.stmt(
                "DELETE FROM routes WHERE tenant_id = ?1 AND custom_domain_id = ?2",
                &[s(tid), s(id)],
            )?,
            self.stmt(
                "DELETE FROM domains WHERE tenant_id = ?1 AND id = ?2",
                &[s(tid), s(id)],
            )?,
            self.audit(a, tid, "domain.deleted", "domain", id)?,
        ];
        self.write(stmts, "id").await
    }

    /// Records a check that did not verify.
    pub(crate) async fn record_check(
        &self,
        id: &str,
        outcome: CheckOutcome,
        at: &str,
    ) -> Result<(), Problem> {
        self.stmt(
            "UPDATE domains SET checked_at = ?2, last_check = ?3 WHERE id = ?1 AND status = 'pending'",
            &[s(id), s(at), s(outcome.as_str())],
        )?
        .run()
        .await
        .map(|_| ())
        .map_err(storage)
    }

    /// Pending → active, only if the row still waits for the value that was found
    /// (a rename in between issued a new one).
    pub(crate) async fn activate_domain(
        &self,
        row: &DomainRow,
        token: &str,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, Problem> {
        let update = self.stmt(
            "UPDATE domains SET status = 'active', verification_token = NULL, verified_at = ?3, checked_at = ?3, last_check = 'verified' \
             WHERE id = ?1 AND status = 'pending' AND verification_token = ?2",
            &[s(&row.id), s(token), s(a.at)],
        )?;
        let aid = crate::api::time::new_id("aud_").map_err(|_| Problem::internal())?;
        let audit = self.stmt(
            "INSERT INTO audit_log (id, tenant_id, tenant_uid, actor, action, object_type, object_id, request_id, at) \
             SELECT ?1, ?2, (SELECT uid FROM tenants WHERE id = ?2), ?3, 'domain.verified', 'domain', ?4, ?5, ?6 \
             WHERE EXISTS (SELECT 1 FROM domains WHERE id = ?4 AND status = 'active' AND verified_at = ?6)",
            &[s(&aid), s(&row.tenant_id), s(a.actor), s(&row.id), s(a.request_id), s(a.at)],
        )?;
        self.guarded(vec![update, audit]).await
    }

    /// The pending domains checked longest ago (never-checked first).
    /// Removes up to `limit` domains still pending since before `cutoff` (ISO time),
    /// with the routes scoped to them and an audit row each; returns how many.
    pub(crate) async fn expire_pending(
        &self,
        cutoff: &str,
        limit: u32,
        a: &AuditCx<'_>,
    ) -> Result<u32, Problem> {
        let stale = self
            .domain_rows(
                &format!("SELECT {DOMAIN_COLS} FROM domains WHERE status = 'pending' AND created_at < ?1 ORDER BY created_at, id LIMIT ?2"),
                &[s(cutoff), JsValue::from(limit)],
            )
            .await?;
        let mut removed = 0u32;
        for row in stale {
            let aid = crate::api::time::new_id("aud_").map_err(|_| Problem::internal())?;
            // Audit first, while the tenant row and the pending domain still exist;
            // each statement re-checks that the domain is still pending.
            let stmts = vec![
                self.stmt(
                    "INSERT INTO audit_log (id, tenant_id, tenant_uid, actor, action, object_type, object_id, request_id, at) \
                     SELECT ?1, ?2, (SELECT uid FROM tenants WHERE id = ?2), ?3, 'domain.expired', 'domain', ?4, ?5, ?6 \
                     WHERE EXISTS (SELECT 1 FROM domains WHERE id = ?4 AND status = 'pending')",
                    &[s(&aid), s(&row.tenant_id), s(a.actor), s(&row.id), s(a.request_id), s(a.at)],
                )?,
                self.stmt(
                    "DELETE FROM routes WHERE custom_domain_id = ?1 AND EXISTS (SELECT 1 FROM domains WHERE id = ?1 AND status = 'pending')",
                    &[s(&row.id)],
                )?,
                self.stmt(
                    "DELETE FROM domains WHERE id = ?1 AND status = 'pending'",
                    &[s(&row.id)],
                )?,
            ];
            if matches!(self.guarded(stmts).await?, GuardedWrite::Written) {
                removed = removed.saturating_add(1);
            }
        }
        Ok(removed)
    }

    pub(crate) async fn pending_domains(&self, limit: u32) -> Result<Vec<DomainRow>, Problem> {
        self.domain_rows(
            &format!("SELECT {DOMAIN_COLS} FROM domains WHERE status = 'pending' ORDER BY checked_at, id LIMIT ?1"),
            &[JsValue::from(limit)],
        )
        .await
    }
}
