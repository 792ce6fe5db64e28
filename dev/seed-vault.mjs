#!/usr/bin/env node
// Seeds the credential-vault demo for LOCAL DEVELOPMENT through the management API
// of a running Portico (`npm run dev` starts it in the background once the server
// answers). A connection's secret must be sealed by the running worker (its key ring,
// its KV), so this cannot be plain SQL in dev/seed.sql.
//
//   node dev/seed-vault.mjs [--wait <seconds>] [--print-id]
//
// Idempotent:
//   1. the global connector "Demo API" (control-plane token): an `api_key` connector
//      for the demo origin (dev/origin.mjs on 127.0.0.1:9001, base path /v1) that
//      sends the key in the `x-demo-key` header. Reused when one exists; its version
//      is published when none is yet.
//   2. an acme connection to it (acme tenant token) with the key "demo-key-not-secret"
//      and the label {"seed":"dev"}, unless acme already has a connection so labelled.
//
// --wait N: poll GET /api/v1/openapi.json on the API host for up to N seconds first.
// --print-id: print only the acme connection's id on stdout (progress goes to
// stderr), e.g. CONN=$(node dev/seed-vault.mjs --print-id).
// PORTICO_DEV_URL (http://127.0.0.1:8787), PORTICO_DEV_API_HOST (api.localhost) and
// PORTICO_DEV_ORIGIN (http://127.0.0.1:9001) override where things are.
// Tokens come from scripts/token.mjs (the committed development key).

import { API_HOST, SERVER, api, devToken, expect, listAll, waitForServer } from "./dev-api.mjs";

const ORIGIN = process.env.PORTICO_DEV_ORIGIN ?? "http://127.0.0.1:9001";
const TENANT = "acme";
const CONNECTOR_NAME = "Demo API";
const DEMO_KEY = "demo-key-not-secret";
const LABEL = { seed: "dev" };

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const value = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const printId = flag("print-id");
const log = (msg) => (printId ? process.stderr : process.stdout).write(`seed-vault: ${msg}\n`);

/** The global "Demo API" connector with a primary version (created when missing). */
async function demoConnector(cp) {
  const existing = (await listAll("/connectors", cp)).find((c) => c.global && c.name === CONNECTOR_NAME);
  let id = existing?.id;
  if (id) {
    log(`connector "${CONNECTOR_NAME}" exists: ${id}`);
  } else {
    const created = expect(
      await api("POST", "/connectors", {
        auth: cp,
        body: {
          name: CONNECTOR_NAME,
          base_url: `${ORIGIN}/v1`,
          auth: { type: "api_key", placement: "header", name: "x-demo-key", prefix: "" },
        },
      }),
      201,
      "create the connector",
    );
    id = created.id;
    log(`connector "${CONNECTOR_NAME}" created: ${id} (base_url ${ORIGIN}/v1)`);
  }
  const got = expect(await api("GET", `/connectors/${id}`, { auth: cp }), 200, "get the connector");
  if (got.primary_version == null) {
    const ver = got.latest_version ?? 1;
    expect(await api("POST", `/connectors/${id}/versions/${ver}/_publish`, { auth: cp }), 200, "publish the connector");
    log(`connector version ${ver} published`);
  }
  return id;
}

/** acme's connection labelled seed=dev (created when missing). */
async function demoConnection(acme, connectorId) {
  const labelled = (c) => Object.entries(LABEL).every(([k, v]) => c.labels?.[k] === v);
  const existing = (await listAll(`/tenants/${TENANT}/connections`, acme)).find(labelled);
  if (existing) {
    log(`${TENANT} connection exists: ${existing.id} (state ${existing.state})`);
    return existing.id;
  }
  const created = expect(
    await api("POST", `/tenants/${TENANT}/connections`, {
      auth: acme,
      body: { connector_id: connectorId, labels: LABEL, credentials: { api_key: DEMO_KEY } },
    }),
    201,
    "create the connection",
  );
  log(`${TENANT} connection created: ${created.id} (state ${created.state})`);
  return created.id;
}

try {
  const wait = value("wait", null);
  if (wait !== null) await waitForServer(Number(wait) || 180);
  const cp = devToken(["--scope", "connectors:read connectors:write"]);
  const acme = devToken(["--tenant", TENANT, "--scope", "connections:read connections:write connections:proxy"]);
  const connectorId = await demoConnector(cp);
  const connectionId = await demoConnection(acme, connectorId);
  if (printId) {
    process.stdout.write(`${connectionId}\n`);
  } else {
    log(`try: ACME=$(npm run -s token -- --tenant ${TENANT} --scope "connections:proxy audit:read")`);
    log(`     curl -H "authorization: Bearer $ACME" http://${API_HOST}:${SERVER.port || 80}/api/v1/tenants/${TENANT}/connections/${connectionId}/proxy/hello`);
  }
} catch (e) {
  log(`failed: ${e.message}`);
  if (/vault_unavailable/.test(e.message)) log("the vault is off: check PORTICO_VAULT_KEYS and the VAULT binding in wrangler.toml");
  process.exit(1);
}
