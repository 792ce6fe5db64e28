-- Tenant incarnations: audit rows outlive tenants (no FK, history is kept), so a
-- tenant deleted and re-created under the same id must not see the old rows.
-- Each tenant row gets a `uid` when the API creates it; each audit row records the
-- uid of the tenant it was written for, and the API lists only the rows whose
-- tenant_uid matches the current tenant's (NULL matches NULL: rows and tenants
-- from before this migration, or tenants inserted by hand, keep working).
-- Never edit an applied migration; add a new numbered file instead.

ALTER TABLE tenants ADD COLUMN uid TEXT;
ALTER TABLE audit_log ADD COLUMN tenant_uid TEXT;

-- Existing tenants get a uid; existing audit rows are attributed to the current
-- tenant of that id only if they were written while it existed (a row older than
-- the tenant belongs to an earlier, deleted tenant and stays unattributed).
UPDATE tenants SET uid = 'tu_' || lower(hex(randomblob(10))) WHERE uid IS NULL;
UPDATE audit_log SET tenant_uid = (
  SELECT t.uid FROM tenants t
  WHERE t.id = audit_log.tenant_id AND audit_log.at >= t.created_at
) WHERE tenant_uid IS NULL;

CREATE INDEX IF NOT EXISTS audit_log_tenant_uid_at ON audit_log(tenant_id, tenant_uid, at, id);
