-- Credential vault (docs/vault.md): connectors and their versions, tenants'
-- connections, the index of vault records held in KV, the re-encryption job's
-- cursor, and the audit columns of proxied calls.
-- Never edit an applied migration; add a new numbered file instead.

-- A connector with owner_tenant_id NULL is global (control plane); otherwise it
-- belongs to that tenant and goes with it.
CREATE TABLE IF NOT EXISTS connectors (
  id               TEXT PRIMARY KEY,
  owner_tenant_id  TEXT REFERENCES tenants(id) ON DELETE CASCADE,
  name             TEXT NOT NULL,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS connectors_created ON connectors(created_at, id);
CREATE INDEX IF NOT EXISTS connectors_owner ON connectors(owner_tenant_id);

-- spec_json: ConnectorSpec::to_json (never a secret; an OAuth client secret lives
-- in the vault and client_secret_set says whether there is one).
CREATE TABLE IF NOT EXISTS connector_versions (
  connector_id       TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
  version            INTEGER NOT NULL,
  state              TEXT NOT NULL,
  spec_json          TEXT NOT NULL,
  client_secret_set  INTEGER NOT NULL DEFAULT 0,
  created_at         TEXT NOT NULL,
  updated_at         TEXT NOT NULL,
  PRIMARY KEY (connector_id, version)
);

-- Metadata only: secrets are envelopes in KV (vault_records indexes them).
CREATE TABLE IF NOT EXISTS connections (
  id                 TEXT PRIMARY KEY,
  tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  connector_id       TEXT NOT NULL,
  connector_version  INTEGER NOT NULL,
  state              TEXT NOT NULL,
  labels_json        TEXT NOT NULL DEFAULT '{}',
  policy_json        TEXT,
  scopes_json        TEXT,
  expires_at         TEXT,
  secret_set         INTEGER NOT NULL DEFAULT 0,
  last_used_at       TEXT,
  created_at         TEXT NOT NULL,
  updated_at         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS connections_tenant_created ON connections(tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS connections_connector ON connections(connector_id, connector_version);

-- One row per vault record: `object` is the KV key of its current envelope (every
-- write makes a new object; the row points at the live one). Counts per kid (vault
-- status) and the re-encryption job's work list come from here, never a KV scan.
CREATE TABLE IF NOT EXISTS vault_records (
  key         TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL,
  kind        TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  object      TEXT NOT NULL,
  kid         TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vault_records_kid ON vault_records(kid, key);
CREATE INDEX IF NOT EXISTS vault_records_tenant ON vault_records(tenant_id);

-- Resumable scheduled jobs: where the last batch stopped and how it went.
CREATE TABLE IF NOT EXISTS vault_jobs (
  name        TEXT PRIMARY KEY,
  cursor      TEXT,
  last_run    TEXT
);

-- Proxied calls share the audit log with management writes (kind = 'proxy').
ALTER TABLE audit_log ADD COLUMN kind TEXT NOT NULL DEFAULT 'write';
ALTER TABLE audit_log ADD COLUMN connection_id TEXT;
ALTER TABLE audit_log ADD COLUMN connector_id TEXT;
ALTER TABLE audit_log ADD COLUMN connector_version INTEGER;
ALTER TABLE audit_log ADD COLUMN method TEXT;
ALTER TABLE audit_log ADD COLUMN host TEXT;
ALTER TABLE audit_log ADD COLUMN path TEXT;
ALTER TABLE audit_log ADD COLUMN status INTEGER;
ALTER TABLE audit_log ADD COLUMN duration_ms INTEGER;
ALTER TABLE audit_log ADD COLUMN request_bytes INTEGER;
ALTER TABLE audit_log ADD COLUMN response_bytes INTEGER;
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at);
