//! Pending domains: recorded checks, pending → active once the challenge is found,
//! and expiry of claims never proven.

use super::audit::{AuditCx, AuditEvent, GuardedWrite};
use super::domains::{DomainRow, DOMAIN_COLS};
use super::{s, Store, StoreError};
use crate::domains::verification::CheckOutcome;
use wasm_bindgen::JsValue;

/// Audit guards (see [`AuditEvent::only_if`]): this write activated the row; the
/// row is still pending.
const NOW_ACTIVE: &str =
    "EXISTS (SELECT 1 FROM domains WHERE id = ?6 AND status = 'active' AND verified_at = ?8)";
const STILL_PENDING: &str = "EXISTS (SELECT 1 FROM domains WHERE id = ?6 AND status = 'pending')";

impl Store {
    /// Records a check that did not verify (no audit row: nothing changed hands).
    pub(crate) async fn record_check(
        &self,
        id: &str,
        outcome: CheckOutcome,
        at: &str,
    ) -> Result<(), StoreError> {
        self.stmt(
            "UPDATE domains SET checked_at = ?2, last_check = ?3 WHERE id = ?1 AND status = 'pending'",
            &[s(id), s(at), s(outcome.as_str())],
        )?
        .run()
        .await?;
        Ok(())
    }

    /// Pending → active, only if the row still waits for the value that was found
    /// (a rename in between issued a new one).
    pub(crate) async fn activate_domain(
        &self,
        row: &DomainRow,
        token: &str,
        a: &AuditCx<'_>,
    ) -> Result<GuardedWrite, StoreError> {
        let update = self.stmt(
            "UPDATE domains SET status = 'active', verification_token = NULL, verified_at = ?3, checked_at = ?3, last_check = 'verified' \
             WHERE id = ?1 AND status = 'pending' AND verification_token = ?2",
            &[s(&row.id), s(token), s(a.at)],
        )?;
        let event = AuditEvent::new(&row.tenant_id, "domain.verified", "domain", &row.id)
            .only_if(NOW_ACTIVE, Vec::new());
        self.guarded(a, vec![update], event).await
    }

    /// Removes up to `limit` domains still pending since before `cutoff` (ISO time),
    /// with the routes scoped to them and an audit row each; returns how many.
    pub(crate) async fn expire_pending(
        &self,
        cutoff: &str,
        limit: u32,
        a: &AuditCx<'_>,
    ) -> Result<u32, StoreError> {
        let stale: Vec<DomainRow> = self
            .rows(
                &format!("SELECT {DOMAIN_COLS} FROM domains WHERE status = 'pending' AND created_at < ?1 ORDER BY created_at, id LIMIT ?2"),
                &[s(cutoff), JsValue::from(limit)],
            )
            .await?;
        let mut removed = 0u32;
        for row in stale {
            // Audit first, while the tenant row and the pending domain still exist;
            // each statement re-checks that the domain is still pending.
            let stmts = vec![
                self.stmt(
                    "DELETE FROM routes WHERE custom_domain_id = ?1 AND EXISTS (SELECT 1 FROM domains WHERE id = ?1 AND status = 'pending')",
                    &[s(&row.id)],
                )?,
                self.stmt(
                    "DELETE FROM domains WHERE id = ?1 AND status = 'pending'",
                    &[s(&row.id)],
                )?,
            ];
            let event = AuditEvent::new(&row.tenant_id, "domain.expired", "domain", &row.id)
                .before_write()
                .only_if(STILL_PENDING, Vec::new());
            if self.guarded(a, stmts, event).await? == GuardedWrite::Written {
                removed = removed.saturating_add(1);
            }
        }
        Ok(removed)
    }

    /// The pending domains checked longest ago (never-checked first).
    pub(crate) async fn pending_domains(&self, limit: u32) -> Result<Vec<DomainRow>, StoreError> {
        self.rows(
            &format!("SELECT {DOMAIN_COLS} FROM domains WHERE status = 'pending' ORDER BY checked_at, id LIMIT ?1"),
            &[JsValue::from(limit)],
        )
        .await
    }
}
