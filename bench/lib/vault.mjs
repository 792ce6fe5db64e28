// The credential vault rows (docs/vault.md): a connection seeded through Portico's
// own management API, then a `credentials` route and the proxy endpoint using it.
import { randomBytes } from "node:crypto";
import http from "node:http";
import { makeKey, now, signJwt } from "../../dev/jwt.mjs";
import { host, proxyChain } from "./scenarios.mjs";

export const VAULT_TENANT = "bench";
/** The api_key connector's header and the secret the connection stores. */
export const KEY_HEADER = "x-bench-key";
export const SECRET = `bench-secret-${randomBytes(6).toString("hex")}`;
export const VAULT_HOSTS = { api: "api.bench.test", ref: "ref.bench.test", cred: "cred.bench.test" };

/**
 * Vars of a Portico worker with the vault and the management API on
 * VAULT_HOSTS.api: an inline Ed25519 key (tokens verified once per isolate),
 * a fresh 32-byte vault key, and dev mode (the connector's base_url is
 * http://127.0.0.1).
 */
export function vaultFixture() {
  const key = makeKey("EdDSA", "bench-api");
  const issuer = "https://issuer.bench.test";
  const audience = "portico-bench-api";
  const mint = (claims) => signJwt(key, { iss: issuer, aud: audience, iat: now(), exp: now() + 6 * 3600, ...claims });
  const ring = { active: "b1", keys: { b1: randomBytes(32).toString("base64") } };
  return {
    vars: [
      { name: "CONTROL_PLANE_HOSTS", text: VAULT_HOSTS.api },
      { name: "PORTICO_AUTH_KEYS", text: JSON.stringify({ keys: [key.publicJwk] }) },
      { name: "PORTICO_AUTH_ISSUER", text: issuer },
      { name: "PORTICO_AUTH_AUDIENCE", text: audience },
      { name: "PORTICO_VAULT_KEYS", text: JSON.stringify(ring) },
      { name: "PORTICO_DEV_MODE", text: "true" },
    ],
    /** A control-plane token (no tenant claim) for seeding. */
    adminToken: mint({
      sub: "bench-admin",
      scope: "tenants:read tenants:write connectors:read connectors:write connections:read connections:write audit:read",
    }),
    /** The tenant's token for the proxy endpoint. */
    proxyToken: mint({ sub: "bench-agent", tenant_id: VAULT_TENANT, scope: "connections:proxy" }),
  };
}

/** One management API call: JSON in, { status, body } out. */
export function apiCall(port, method, path, { token, body } = {}) {
  return new Promise((res, rej) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers = { host: VAULT_HOSTS.api, ...(token ? { authorization: `Bearer ${token}` } : {}) };
    if (data) Object.assign(headers, { "content-type": "application/json", "content-length": data.length });
    const req = http.request({ host: "127.0.0.1", port, method, path: `/api/v1${path}`, headers }, (r) => {
      let s = "";
      r.setEncoding("utf8");
      r.on("data", (c) => (s += c));
      r.on("end", () => {
        let parsed = s;
        try {
          parsed = JSON.parse(s);
        } catch {}
        res({ status: r.statusCode, body: parsed, headers: r.headers });
      });
    });
    req.on("error", rej);
    req.end(data ?? undefined);
  });
}

/**
 * Seeds through the API on `port`: tenant VAULT_TENANT, a global api_key connector
 * (header KEY_HEADER) to `originUrl`, published, and a connection holding SECRET.
 * Returns { connectorId, connectionId }.
 */
export async function seed(port, originUrl, token) {
  const must = async (want, method, path, body) => {
    const r = await apiCall(port, method, path, { token, body });
    if (r.status !== want) throw new Error(`${method} ${path}: ${r.status} ${typeof r.body === "string" ? r.body : JSON.stringify(r.body)}`.slice(0, 500));
    return r.body;
  };
  await must(201, "POST", "/tenants", { id: VAULT_TENANT, name: "Bench" });
  const connector = await must(201, "POST", "/connectors", {
    name: "Bench origin",
    base_url: originUrl,
    auth: { type: "api_key", placement: "header", name: KEY_HEADER },
  });
  const version = connector.version ?? connector.primary_version?.version ?? 1;
  await must(200, "POST", `/connectors/${connector.id}/versions/${version}/_publish`);
  const conn = await must(201, "POST", `/tenants/${VAULT_TENANT}/connections`, {
    connector_id: connector.id,
    credentials: { api_key: SECRET },
  });
  if (conn.state !== "ready") throw new Error(`connection ${conn.id} is ${conn.state}, not ready`);
  return { connectorId: connector.id, connectionId: conn.id };
}

/**
 * The vault worker's static document: VAULT_HOSTS.ref has the `one` host's shape
 * (1 route, /bytes: cors → headers → http to the origin); VAULT_HOSTS.cred the same
 * route with `credentials` (literal connection id) before the http terminal.
 */
export function vaultDoc(originUrl, connectionId) {
  const chain = proxyChain(originUrl);
  const withCredentials = [...chain.slice(0, -1), { type: "credentials", options: { connection_id: connectionId } }, chain.at(-1)];
  return {
    hosts: {
      [VAULT_HOSTS.ref]: host(VAULT_TENANT, 1, [{ path: "/bytes", handlers: chain }]),
      [VAULT_HOSTS.cred]: host(VAULT_TENANT, 1, [{ path: "/bytes", handlers: withCredentials }]),
    },
  };
}
