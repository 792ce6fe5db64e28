-- Portico demo data for local development (schema: d1-migrations/0001_initial.sql).
-- Re-runnable: every row is written with INSERT OR REPLACE.
--
--   wrangler d1 execute portico-db --local --file dev/seed.sql
--
-- Expects the demo origin on http://127.0.0.1:9001 (node dev/origin.mjs --port 9001),
-- the example service, the dispatcher emulator and the two tenant workers from
-- dev/workers.

INSERT OR REPLACE INTO tenants (id, name) VALUES
  ('acme',   'Acme Corp'),
  ('globex', 'Globex Corporation');

INSERT OR REPLACE INTO domains (id, tenant_id, domain) VALUES
  ('dom_acme',          'acme',   'acme.localhost'),
  ('dom_acme_wildcard', 'acme',   '*.acme.localhost'),
  ('dom_globex',        'globex', 'globex.localhost');

-- acme: routes with custom_domain_id NULL apply to every acme domain
-- (acme.localhost and any *.acme.localhost).
INSERT OR REPLACE INTO routes (id, tenant_id, custom_domain_id, priority, match_json, handlers_json) VALUES
  ('acme_healthz', 'acme', NULL, 10,
   '{"path":"/healthz"}',
   '[{"type":"static","options":{"json":{"ok":true}}}]'),

  ('acme_origin', 'acme', NULL, 100,
   '{"path":"/origin/*"}',
   '[{"type":"cors","options":{"origins":["*"]}},
     {"type":"headers","options":{"request":{"x-demo":"acme"},"response":{"x-served-by":"portico"}}},
     {"type":"http","options":{"upstream_url":"http://127.0.0.1:9001/"}}]'),

  ('acme_service', 'acme', NULL, 100,
   '{"path":"/service/*"}',
   '[{"type":"service_binding","options":{"binding":"EXAMPLE_SERVICE"}}]'),

  ('acme_app', 'acme', NULL, 100,
   '{"path":"/app/*"}',
   '[{"type":"dispatch_namespace","options":{"binding":"DISPATCHER","script_name":"tenant-{tenant_id}","cpu_ms":50,"subrequests":10}}]'),

  ('acme_private', 'acme', NULL, 100,
   '{"path":"/private/*"}',
   '[{"type":"basic_auth","options":{"username":"demo","password":"demo"}},
     {"type":"static","options":{"body":"secret area"}}]'),

  ('acme_old', 'acme', NULL, 100,
   '{"path":"/old/*"}',
   '[{"type":"redirect","options":{"upstream_url":"https://acme.localhost:8787/origin/","status":301}}]'),

  -- 10 requests per 10 s per client address (RL_STRICT in wrangler.toml), then 429.
  ('acme_limited', 'acme', NULL, 100,
   '{"path":"/limited/*"}',
   '[{"type":"rate_limit","options":{"limiter":"RL_STRICT","key":"ip"}},
     {"type":"http","options":{"upstream_url":"http://127.0.0.1:9001/"}}]');

-- globex: everything goes to the tenant worker named after the host.
INSERT OR REPLACE INTO routes (id, tenant_id, custom_domain_id, priority, match_json, handlers_json) VALUES
  ('globex_healthz', 'globex', 'dom_globex', 10,
   '{"path":"/healthz"}',
   '[{"type":"static","options":{"json":{"ok":true,"tenant":"globex"}}}]'),

  ('globex_app', 'globex', 'dom_globex', 100,
   '{"path":"/*"}',
   '[{"type":"dispatch_namespace","options":{"binding":"DISPATCHER","script_name":"host-{host}"}}]');
