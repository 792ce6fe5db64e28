-- Control plane: audit log of every management write, and indexes for paged lists.
-- Never edit an applied migration; add a new numbered file instead.

-- Audit rows outlive the objects (and tenants) they describe: no foreign keys.
CREATE TABLE IF NOT EXISTS audit_log (
  id          TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id   TEXT NOT NULL,
  request_id  TEXT NOT NULL,
  at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_tenant_at ON audit_log(tenant_id, at, id);

CREATE INDEX IF NOT EXISTS tenants_created ON tenants(created_at, id);
CREATE INDEX IF NOT EXISTS domains_tenant_created ON domains(tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS routes_tenant_created ON routes(tenant_id, created_at, id);
