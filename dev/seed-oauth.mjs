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
import http from "node:http";
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SERVER = new URL(process.env.PORTICO_DEV_URL ?? "http://127.0.0.1:8787");
const API_HOST = process.env.PORTICO_DEV_API_HOST ?? "api.localhost";
const OIDC = (process.env.PORTICO_DEV_OIDC ?? "http://127.0.0.1:9003").replace(/\/+$/, "");
const CONNECTOR_NAME = "Demo OAuth";

const args = process.argv.slice(2);
const printId = args.includes("--print-id");
const waitIdx = args.indexOf("--wait");
const wait = waitIdx >= 0 ? Number(args[waitIdx + 1]) || 180 : null;
const log = (msg) => (printId ? process.stderr : process.stdout).write(`seed-oauth: ${msg}\n`);

/** A development control-plane token from scripts/token.mjs. */
const token = () =>
  execFileSync(process.execPath, [join(ROOT, "scripts/token.mjs"), "--sub", "dev-seed", "--scope", "connectors:read connectors:write"], {
    encoding: "utf8",
  }).trim();

/** One management-API call on the control-plane host: { status, data, text }. */
function api(method, path, { auth, body } = {}) {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolvePromise, reject) => {
    const req = http.request(
      {
        host: SERVER.hostname,
        port: SERVER.port || 80,
        method,
        path: `/api/v1${path}`,
        headers: {
          host: API_HOST,
          ...(auth ? { authorization: `Bearer ${auth}` } : {}),
          ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let data = null;
          try {
            data = text ? JSON.parse(text) : null;
          } catch {
            data = null;
          }
          resolvePromise({ status: res.statusCode, data, text });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(payload);
  });
}

function expect(r, status, what) {
  if (r.status !== status) {
    const code = r.data?.code ? ` ${r.data.code}` : "";
    throw new Error(`${what}: HTTP ${r.status}${code} ${JSON.stringify(r.data?.errors ?? r.data?.detail ?? r.text.slice(0, 300))}`);
  }
  return r.data;
}

async function waitForServer(seconds) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try {
      if ((await api("GET", "/openapi.json")).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`no answer from ${SERVER.origin} (Host: ${API_HOST}) within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function findConnector(cp) {
  let cursor = null;
  do {
    const q = `?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = expect(await api("GET", `/connectors${q}`, { auth: cp }), 200, "list connectors");
    const hit = page.items.find((c) => c.global && c.name === CONNECTOR_NAME);
    if (hit) return hit.id;
    cursor = page.next_cursor;
  } while (cursor);
  return null;
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
