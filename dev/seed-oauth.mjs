#!/usr/bin/env node
// Seeds the OAuth2 connection demo for LOCAL DEVELOPMENT through the management API
// of a running Portico (`npm run dev` starts it in the background, beside
// dev/seed-vault.mjs): the global `oauth2` connector "Demo OAuth" for the real OAuth
// server dev/oidc-provider.mjs on 127.0.0.1:9003 and its demo API (README "OAuth2
// connections walkthrough"). The client secret must be sealed by the running worker,
// so this cannot be plain SQL in dev/seed.sql.
//
//   node dev/seed-oauth.mjs [--wait <seconds>] [--print-id]
//
// Idempotent: the connector is reused when a global one of that name exists; its
// version is published when none is yet. Client `portico-demo` / `portico-demo-secret`
// (client_secret_basic), scopes api:read api:write, PKCE S256, revocation on;
// base_url http://127.0.0.1:9003/resource (the demo API: it answers who the token
// belongs to). Connections are made by the walkthrough (`_initiate` and one browser
// step), not here.
//
// --wait N: poll GET /api/v1/openapi.json on the API host for up to N seconds first.
// --print-id: print only the connector's id on stdout (progress goes to stderr),
// e.g. CN=$(node dev/seed-oauth.mjs --print-id).
// PORTICO_DEV_URL (http://127.0.0.1:8787), PORTICO_DEV_API_HOST (api.localhost) and
// PORTICO_DEV_OIDC (http://127.0.0.1:9003) override where things are. Tokens come
// from scripts/token.mjs (the committed development key).

import { api, devToken, expect, listAll, waitForServer } from "./dev-api.mjs";

const OIDC = (process.env.PORTICO_DEV_OIDC ?? "http://127.0.0.1:9003").replace(/\/+$/, "");
const CONNECTOR_NAME = "Demo OAuth";

const args = process.argv.slice(2);
const printId = args.includes("--print-id");
const waitIdx = args.indexOf("--wait");
const wait = waitIdx >= 0 ? Number(args[waitIdx + 1]) || 180 : null;
const log = (msg) => (printId ? process.stderr : process.stdout).write(`seed-oauth: ${msg}\n`);

const token = () => devToken(["--scope", "connectors:read connectors:write"]);

async function findConnector(cp) {
  const hit = (await listAll("/connectors", cp)).find((c) => c.global && c.name === CONNECTOR_NAME);
  return hit?.id ?? null;
}

try {
  if (wait !== null) await waitForServer(wait);
  const cp = token();
  let id = await findConnector(cp);
  if (id) {
    log(`connector "${CONNECTOR_NAME}" exists: ${id}`);
  } else {
    const created = expect(
      await api("POST", "/connectors", {
        auth: cp,
        body: {
          name: CONNECTOR_NAME,
          base_url: `${OIDC}/resource`,
          auth: {
            type: "oauth2",
            authorization_url: `${OIDC}/auth`,
            token_url: `${OIDC}/token`,
            revocation_url: `${OIDC}/token/revocation`,
            scopes: ["api:read", "api:write"],
            pkce: true,
            client_auth: "client_secret_basic",
            client_id: "portico-demo",
            client_secret: "portico-demo-secret",
          },
        },
      }),
      201,
      "create the connector",
    );
    id = created.id;
    log(`connector "${CONNECTOR_NAME}" created: ${id} (oidc-provider ${OIDC}, client portico-demo)`);
  }
  const got = expect(await api("GET", `/connectors/${id}`, { auth: cp }), 200, "get the connector");
  if (got.primary_version == null) {
    const ver = got.latest_version ?? 1;
    expect(await api("POST", `/connectors/${id}/versions/${ver}/_publish`, { auth: cp }), 200, "publish the connector");
    log(`connector version ${ver} published`);
  }
  if (printId) process.stdout.write(`${id}\n`);
  else log('try the README section "OAuth2 connections walkthrough"');
} catch (e) {
  log(`failed: ${e.message}`);
  if (/vault_unavailable/.test(e.message)) log("the vault is off: check PORTICO_VAULT_KEYS and the VAULT binding in wrangler.toml");
  process.exit(1);
}
