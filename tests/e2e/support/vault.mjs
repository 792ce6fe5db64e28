// Shared kit of the vault suite (docs/vault.md): management API tokens, a harness
// configuration with the control plane on, and helpers for connectors, connections
// and the proxy endpoint. Every request goes through a SecretScan client, so each
// response is scanned for credentials.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { makeKey, signJwt, jwks, now } from "./tokens.mjs";

export const CP = "cp.test";
export const ISSUER = "https://issuer.vault.test";
export const AUDIENCE = "portico-api";
export const cpKey = makeKey("EdDSA", "vault-cp-1");

export const CP_SCOPES = [
  "tenants:read tenants:write domains:read domains:write routes:read routes:write audit:read",
  "connectors:read connectors:write connections:read connections:write connections:proxy",
  "vault:read vault:write",
].join(" ");
export const TENANT_SCOPES =
  "domains:read domains:write routes:read routes:write audit:read connectors:read connectors:write connections:read connections:write connections:proxy";

/** Vars for a Portico worker with the management API on CP (plus `extra`). */
export function vaultBindings(extra = {}) {
  return {
    PORTICO_HOST_SOURCE: "d1",
    CONTROL_PLANE_HOSTS: CP,
    PORTICO_AUTH_KEYS: JSON.stringify(jwks(cpKey)),
    PORTICO_AUTH_ISSUER: ISSUER,
    PORTICO_AUTH_AUDIENCE: AUDIENCE,
    ...extra,
  };
}

/** A control-plane token (no tenant claim). */
export const cpToken = (claims = {}) =>
  signJwt(cpKey, { iss: ISSUER, aud: AUDIENCE, sub: "operator", iat: now(), exp: now() + 600, scope: CP_SCOPES, ...claims });
/** A tenant token for `tid`. */
export const tenantToken = (tid, claims = {}) =>
  signJwt(cpKey, { iss: ISSUER, aud: AUDIENCE, sub: `user-of-${tid}`, tenant_id: tid, iat: now(), exp: now() + 600, scope: TENANT_SCOPES, ...claims });

/** A distinctive credential string (registered with the scan by the caller). */
export const freshSecret = (prefix = "sk_live_") => `${prefix}${crypto.randomBytes(12).toString("hex")}`;

/** A 32-byte key, base64 (for test key rings). */
export const ringKey = (seed) => crypto.createHash("sha256").update(`portico-e2e-ring-${seed}`).digest("base64");
/** PORTICO_VAULT_KEYS JSON for kids → seeds. */
export const ring = (active, kids) =>
  JSON.stringify({ active, keys: Object.fromEntries(kids.map((k) => [k, ringKey(k)])) });

export const show = (r) => `${r.status} ${(r.text ?? "").slice(0, 600)}`;

export const apiKeyAuth = (placement = "header", name = "x-api-key", prefix = "") => ({ type: "api_key", placement, name, prefix });

/** A connector version body for `baseUrl` with `auth` (and overrides). */
export const connectorBody = (baseUrl, auth = apiKeyAuth(), extra = {}) => ({
  name: `Conn ${crypto.randomBytes(3).toString("hex")}`,
  base_url: baseUrl,
  auth,
  ...extra,
});

/** Asserts a problem document with `status` (and `code` when given). */
export function assertProblem(r, status, code) {
  assert.equal(r.status, status, show(r));
  assert.match(r.headers.get("content-type") ?? "", /^application\/problem\+json/, show(r));
  if (code !== undefined) assert.equal(r.data?.code, code, show(r));
}

/** Asserts a 400 validation problem naming `path` (one of `paths` if an array). */
export function assertErrorPath(r, paths) {
  const want = [].concat(paths);
  assertProblem(r, 400);
  assert.ok(Array.isArray(r.data?.errors), `errors[] present: ${show(r)}`);
  const hit = r.data.errors.find((e) => want.includes(e.path));
  assert.ok(hit, `an error at ${want.join(" or ")} in ${JSON.stringify(r.data.errors)}`);
  assert.ok(typeof hit.message === "string" && hit.message.length > 0, "error message");
}

/** A plain-text Portico error (proxy / data plane): status and x-portico-error. */
export async function expectCode(res, status, code, what = "") {
  const text = await res.text();
  assert.equal(res.status, status, `${what} status (code ${res.headers.get("x-portico-error")}, body ${text.slice(0, 300)})`);
  if (code !== undefined) assert.equal(res.headers.get("x-portico-error"), code, `${what} x-portico-error (body ${text.slice(0, 300)})`);
  return text;
}

/**
 * Helpers over a scan client (`call` from SecretScan.client(h)). `api` calls go to
 * the control-plane host with a control-plane token unless `token` says otherwise.
 */
export function vaultKit(call) {
  const api = (method, path, o = {}) => call.api(method, path, { host: CP, token: cpToken(), ...o });
  const kit = {
    api,
    async createTenant(tid) {
      const r = await api("POST", "/tenants", { body: { id: tid, name: tid } });
      assert.equal(r.status, 201, show(r));
      return tid;
    },
    /** POST /connectors (version 1 draft); returns the response data. */
    async createConnector(body, { token } = {}) {
      const r = await api("POST", "/connectors", { body, ...(token ? { token } : {}) });
      assert.equal(r.status, 201, `create connector: ${show(r)}`);
      assert.equal(typeof r.data?.id, "string", show(r));
      return r.data;
    },
    async publish(cid, ver, { token } = {}) {
      const r = await api("POST", `/connectors/${cid}/versions/${ver}/_publish`, token ? { token } : {});
      assert.equal(r.status, 200, `publish ${cid} v${ver}: ${show(r)}`);
      return r.data;
    },
    /** A connector with version 1 published; returns its id. */
    async connector(body, { token } = {}) {
      const c = await kit.createConnector(body, { token });
      await kit.publish(c.id, 1, { token });
      return c.id;
    },
    async version(cid, ver, { token } = {}) {
      const r = await api("GET", `/connectors/${cid}/versions/${ver}`, token ? { token } : {});
      assert.equal(r.status, 200, show(r));
      return r.data;
    },
    /** POST /tenants/{tid}/connections → 201; returns the connection. */
    async connection(tid, body, { token = tenantToken(tid) } = {}) {
      const r = await api("POST", `/tenants/${tid}/connections`, { token, body });
      assert.equal(r.status, 201, `create connection: ${show(r)}`);
      assert.equal(typeof r.data?.id, "string", show(r));
      return r.data;
    },
    /** The proxy endpoint; resolves with a (buffered, scanned) Response. */
    proxy(tid, connId, path, { token = tenantToken(tid), method = "GET", headers = {}, body, worker } = {}) {
      const all = { ...headers };
      if (token) all.authorization = `Bearer ${token}`;
      const client = worker ? call.worker(worker) : call;
      return client.fetch(`/api/v1/tenants/${tid}/connections/${connId}/proxy/${path}`, { host: CP, method, headers: all, body });
    },
  };
  return kit;
}

/** The KV prefix of a connection's secret objects (docs/vault.md). */
export const secretPrefix = (tid, connId) => `v1/${tid}/connection-secret/${connId}/`;

/**
 * The live KV object of a connection's secret: { key, value, metadata }, or null
 * when there is none. docs/vault.md: every write makes a new object
 * `v1/<tenant>/connection-secret/<id>/<generation>` (16 hex digits) and deletes the
 * replaced one, so once that delete has run there is exactly one.
 */
export async function liveSecret(kv, tid, connId) {
  const prefix = secretPrefix(tid, connId);
  let names = [];
  for (let i = 0; i < 50; i++) {
    names = (await kv.list({ prefix })).keys.map((k) => k.name);
    if (names.length <= 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(names.length <= 1, `at most one live object under ${prefix}: ${JSON.stringify(names)}`);
  if (names.length === 0) return null;
  assert.match(names[0].slice(prefix.length), /^[0-9a-f]{16}$/, `generation of ${names[0]}: 16 hex digits`);
  const { value, metadata } = await kv.getWithMetadata(names[0]);
  return { key: names[0], value, metadata };
}

/** Polls `fn` until it returns a truthy value (or the timeout); returns the last value. */
export async function eventually(fn, { timeoutMs = 5000, stepMs = 100 } = {}) {
  const until = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
