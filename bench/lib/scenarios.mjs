// What the benchmark serves: Portico's static host documents (PORTICO_HOST_SOURCE =
// static, so no D1) and the JavaScript baselines measured beside it.
import { generateKeyPairSync, sign } from "node:crypto";
import { BODY_BYTES } from "./load.mjs";

/** The 1 KiB body `static` routes and the JS `new Response` worker answer with. */
export const STATIC_BODY = "x".repeat(BODY_BYTES);

/** The target chain of scenario 1: cors → headers → http to the origin. */
export const proxyChain = (originUrl) => [
  { type: "cors", options: { origins: ["*"] } },
  { type: "headers", options: { request: { "x-bench": "1" }, response: { "x-served-by": "portico" } } },
  { type: "http", options: { upstream_url: `${originUrl}/` } },
];

/** `n` decoy routes that never match /bytes or /static, in three shapes. */
function decoys(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const path = [`/svc${i}/:id/*`, `/api/v${i}/items/:id`, `/t${i}/static/*`][i % 3];
    out.push({ id: `d${i}`, priority: i % 1000, match: { path }, handlers: [{ type: "static", options: { body: "x" } }] });
  }
  return out;
}

/** A host of `total` routes: decoys, then `targets` ({ path, handlers }) after them. */
export function host(tenant, total, targets) {
  const routes = decoys(total - targets.length);
  targets.forEach((t, i) => routes.push({ id: `target${i}`, priority: 5000 + i, match: { path: t.path }, handlers: t.handlers }));
  return { tenant_id: tenant, routes };
}

/** Scenarios 1 and 2 on one host: 200 routes with `/bytes` (proxy chain) and `/static`. */
export function s200Host(tenant, originUrl) {
  return host(tenant, 200, [
    { path: "/bytes", handlers: proxyChain(originUrl) },
    { path: "/static", handlers: [{ type: "static", options: { body: STATIC_BODY } }] },
  ]);
}

/** An Ed25519 key pair, its public JWK and a signed token (node:crypto, no jose). */
export function jwtFixture({ issuer, audience }) {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "bench", alg: "EdDSA", use: "sig" };
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: "EdDSA", typ: "JWT", kid: "bench" })}.${b64({ iss: issuer, aud: audience, sub: "bench-user", iat: now, exp: now + 6 * 3600 })}`;
  const token = `${input}.${sign(null, Buffer.from(input), privateKey).toString("base64url")}`;
  return { jwk, token };
}

/** JS baseline workers (module source). */
export const JS = {
  passthrough: `export default { async fetch(req, env) {
  const u = new URL(req.url); const up = new URL(u.pathname + u.search, env.ORIGIN);
  return fetch(new Request(up, req));
} };`,
  newResponse: `const BODY = ${JSON.stringify(STATIC_BODY)};
export default { fetch() { return new Response(BODY); } };`,
  // The passthrough that first asks the same rate limiter binding Portico's
  // rate_limit route uses, keyed by the client IP.
  // The passthrough that, after the response, writes what Portico's call audit
  // writes (src/platform/call_audit.rs: one audit_log row, then the connection's
  // last_used_at), through the same D1 binding: the platform's share of a
  // credentials or proxy call, without Portico.
  auditedPassthrough: `const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
export default { async fetch(req, env, ctx) {
  const started = Date.now();
  const u = new URL(req.url); const up = new URL(u.pathname + u.search, env.ORIGIN);
  const res = await fetch(new Request(up, req));
  const len = res.headers.get("content-length");
  ctx.waitUntil((async () => {
    const at = new Date().toISOString();
    await env.DB.prepare("INSERT INTO audit_log (id, tenant_id, tenant_uid, actor, action, object_type, object_id, request_id, at, "
      + "kind, connection_id, connector_id, connector_version, method, host, path, status, duration_ms, request_bytes, response_bytes) "
      + "SELECT ?1, ?2, (SELECT uid FROM tenants WHERE id = ?2), ?3, 'connection.proxied', 'connection', ?4, ?5, ?6, "
      + "'proxy', ?4, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15")
      .bind("aud_" + hex(10), env.TENANT, "js-audit", env.CONNECTION, "req_" + hex(10), at, env.CONNECTOR, 1, req.method,
        up.hostname, u.pathname, res.status, Date.now() - started, null, len === null ? null : Number(len))
      .run();
    await env.DB.prepare("UPDATE connections SET last_used_at = ?3 WHERE tenant_id = ?1 AND id = ?2").bind(env.TENANT, env.CONNECTION, at).run();
  })());
  return res;
} };`,
  limitedPassthrough: `export default { async fetch(req, env) {
  const { success } = await env.BENCH_RL.limit({ key: req.headers.get("cf-connecting-ip") ?? "" });
  if (!success) return new Response("Too Many Requests", { status: 429 });
  const u = new URL(req.url); const up = new URL(u.pathname + u.search, env.ORIGIN);
  return fetch(new Request(up, req));
} };`,
};

/**
 * A stand-in for the Workers Rate Limiting binding under plain workerd: a wrapped
 * binding (the mechanism Miniflare uses) whose `limit({ key })` counts per key in
 * this isolate's memory in fixed windows of `period` seconds. Miniflare sends each
 * call to a Durable Object instead; in production it is a call to a local service.
 * Either would put that service's CPU into the figure, so this one keeps the row
 * about Portico's side of the call. The class must be named `Ratelimit`: workers-rs
 * (`env.rate_limiter`) accepts a binding only if its constructor has that name.
 */
export const RATELIMIT_MODULE_NAME = "portico-bench:ratelimit";
export const RATELIMIT_MODULE = `class Ratelimit {
  #limit; #period; #epoch = 0; #buckets = new Map();
  constructor(env) { this.#limit = env.limit; this.#period = env.period; }
  async limit(options) {
    const key = String(options?.key ?? "");
    const epoch = Math.floor(Date.now() / (this.#period * 1000));
    if (epoch !== this.#epoch) { this.#epoch = epoch; this.#buckets.clear(); }
    const n = this.#buckets.get(key) ?? 0;
    if (n >= this.#limit) return { success: false };
    this.#buckets.set(key, n + 1);
    return { success: true };
  }
}
export default function (env) { return new Ratelimit(env); }
`;
