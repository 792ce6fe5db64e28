-- Portico initial schema: tenants, their domains (hosts) and routes.
-- Never edit an applied migration; add a new numbered file instead.

CREATE TABLE IF NOT EXISTS tenants (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- `domain` is stored lowercased, without port or trailing dot. A leading `*.`
-- makes it a wildcard for any subdomain (any depth, not the apex).
CREATE TABLE IF NOT EXISTS domains (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  domain     TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS domains_tenant ON domains(tenant_id);

-- A route with custom_domain_id NULL applies to every domain of its tenant.
-- match_json / handlers_json hold the route's `match` object and `handlers` list.
CREATE TABLE IF NOT EXISTS routes (
  id               TEXT PRIMARY KEY,
  tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  custom_domain_id TEXT REFERENCES domains(id) ON DELETE CASCADE,
  priority         INTEGER NOT NULL DEFAULT 100,
  match_json       TEXT NOT NULL DEFAULT '{}',
  handlers_json    TEXT NOT NULL,
  created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS routes_tenant_domain ON routes(tenant_id, custom_domain_id);
