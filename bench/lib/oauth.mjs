// The OAuth2 connection rows (docs/oauth.md): a global oauth2 connector whose
// token endpoint is dev/oauth-provider.mjs on 127.0.0.1 and whose base_url is the
// bench origin, and connections connected through Portico's own flow (_initiate,
// the provider's /authorize, Portico's callback), so the connection's token keeper
// (the ConnectionTokens Durable Object) holds the token set as in production.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { startOAuthProvider } from "../../dev/oauth-provider.mjs";
import { capnpString } from "./workerd.mjs";
import { VAULT_HOSTS, VAULT_TENANT, apiCall } from "./vault.mjs";

export const OAUTH_CLIENT_ID = "portico-bench";
const OAUTH_CLIENT_SECRET = `bench-client-${randomBytes(6).toString("hex")}`;
/** The access-token lifetime of the fresh-token row's connection (s): never due during a run. */
export const LONG_TTL = 24 * 3600;

/** Whether the build exports the token keeper class (older builds: no OAuth rows). */
export function buildHasKeeper(porticoDir) {
  try {
    return /\bConnectionTokens\b/.test(readFileSync(join(porticoDir, "index.js"), "utf8"));
  } catch {
    return false;
  }
}

/**
 * The token keeper's Durable Object config for a Portico worker named `owner`:
 * SQLite-backed objects on a disk directory (inMemory storage has no SQL), shared by
 * every process of the run that uses the same `dir` (the seeder's tokens are the
 * warm process's). Returns { service (the disk service, capnp), extra (Worker fields
 * of the owner), binding (owner's), bindingFor(otherWorker) (another Portico
 * worker of the same process using the owner's objects), dir }.
 */
export function keeperConfig(tmpDir, owner) {
  const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpDir, "portico-bench-do-"));
  return {
    dir,
    service: `(name = "bench_keeper_disk", disk = (path = ${capnpString(dir)}, writable = true))`,
    extra: [
      `durableObjectNamespaces = [(className = "ConnectionTokens", uniqueKey = "portico-bench-connection-tokens", enableSql = true)]`,
      `durableObjectStorage = (localDisk = "bench_keeper_disk")`,
    ],
    binding: { name: "CONNECTION_TOKENS", raw: `durableObjectNamespace = "ConnectionTokens"` },
    bindingFor: () => ({
      name: "CONNECTION_TOKENS",
      raw: `durableObjectNamespace = (className = "ConnectionTokens", serviceName = ${capnpString(owner)})`,
    }),
  };
}

/** The provider stand-in: one confidential client; access tokens live `ttl` s (options.ttl may change later). */
export function startProvider({ ttl = LONG_TTL } = {}) {
  return startOAuthProvider({ clients: { [OAUTH_CLIENT_ID]: OAUTH_CLIENT_SECRET }, ttl, issuer: "https://idp.bench.test" });
}

const must = async (port, token, want, method, path, body) => {
  const r = await apiCall(port, method, path, { token, body });
  if (r.status !== want) {
    const code = r.headers?.["x-portico-error"] ? ` ${r.headers["x-portico-error"]}` : "";
    throw new Error(`${method} ${path}: ${r.status}${code} ${typeof r.body === "string" ? r.body : JSON.stringify(r.body)}`.slice(0, 500));
  }
  return r.body;
};

/** Creates and publishes a global oauth2 connector (client_secret_basic, PKCE) to `originUrl`: its id. */
export async function oauthConnector(port, token, idp, originUrl) {
  const connector = await must(port, token, 201, "POST", "/connectors", {
    name: "Bench origin (OAuth2)",
    base_url: originUrl,
    auth: {
      type: "oauth2",
      authorization_url: idp.authorizeUrl,
      token_url: idp.tokenUrl,
      revocation_url: idp.revokeUrl,
      scopes: ["read"],
      pkce: true,
      client_auth: "client_secret_basic",
      client_id: OAUTH_CLIENT_ID,
      client_secret: OAUTH_CLIENT_SECRET,
    },
  });
  const version = connector.version ?? connector.primary_version?.version ?? 1;
  await must(port, token, 200, "POST", `/connectors/${connector.id}/versions/${version}/_publish`);
  return connector.id;
}

/**
 * Connects a new oauth2 connection of VAULT_TENANT through Portico on `port`:
 * `_initiate`, the provider's /authorize (approves at once, 302 with code and state),
 * then Portico's callback on the control-plane host, which exchanges the code and
 * hands the token set to the keeper. Returns the connection id (state `ready`).
 */
export async function connect(port, token, connectorId) {
  const init = await must(port, token, 201, "POST", `/tenants/${VAULT_TENANT}/connections/_initiate`, { connector_id: connectorId });
  const authz = await fetch(init.authorize_url, { redirect: "manual" });
  await authz.text();
  const location = authz.headers.get("location");
  if (authz.status !== 302 || !location) throw new Error(`provider /authorize: ${authz.status}, no redirect`);
  const back = new URL(location);
  if (back.searchParams.has("error")) throw new Error(`provider /authorize: ${back.searchParams.get("error")}`);
  const cb = await apiCall(port, "GET", `/oauth/callback${back.search}`);
  if (cb.status !== 200) {
    throw new Error(`callback: ${cb.status} ${cb.headers["x-portico-error"] ?? ""} ${String(cb.body).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").slice(0, 200)}`);
  }
  const id = init.connection.id;
  const conn = await must(port, token, 200, "GET", `/tenants/${VAULT_TENANT}/connections/${id}`);
  if (conn.state !== "ready") throw new Error(`connection ${id} is ${conn.state} after the callback, not ready`);
  return id;
}

/** What the connection's keeper knows (GET …/tokens): counters and times, never a token. */
export const tokenStatus = (port, token, id) => must(port, token, 200, "GET", `/tenants/${VAULT_TENANT}/connections/${id}/tokens`);

/** `_disconnect` (revokes at the provider, forgets the tokens, stops the keeper's alarm). */
export const disconnect = (port, token, id) => must(port, token, 200, "POST", `/tenants/${VAULT_TENANT}/connections/${id}/_disconnect`);

/**
 * A 1 KiB origin for the refresh measurement that refuses one call on demand:
 * after arm(), the next request answers 401 invalid_token (whatever its token),
 * so Portico asks the keeper to replace that token (a refresh at the provider) and
 * replays the call, which then gets 200 + 1 KiB.
 */
export async function startRefusingOrigin() {
  const body = Buffer.alloc(1024, "x");
  let armed = false;
  let refused = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (armed) {
        armed = false;
        refused++;
        res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"', "content-length": 0 });
        return res.end();
      }
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
      res.end(body);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    arm: () => (armed = true),
    get refused() {
      return refused;
    },
    close: () => {
      server.closeAllConnections?.();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * q))] : NaN;
};
/**
 * Waits until the process is idle (no CPU tick over 400 ms, at most `maxMs`): a
 * fresh process compiles Wasm in the background (V8's tier-up) for seconds after
 * its first requests, which must not count in a burst's CPU.
 */
async function quiet(cpuSeconds, maxMs = 15_000) {
  const until = performance.now() + maxMs;
  for (;;) {
    const c0 = cpuSeconds();
    await sleep(400);
    if (cpuSeconds() === c0 || performance.now() > until) return;
  }
}

/** { n, median, p90 } of latencies (ms). */
export const summary = (xs) => ({ n: xs.length, median: quantile(xs, 0.5), p90: quantile(xs, 0.9) });

/**
 * The token keeper's share of a proxied call, in a Portico process of its own
 * (`port`, `cpuSeconds`) with PORTICO_DEBUG_HEADERS=true (x-portico-path says which
 * executor answered). Sequential calls (concurrency 1), wall-clock ms:
 *
 *  - `replace`: the upstream refuses the token once (401): the call goes to the
 *    workers-rs path, the keeper refreshes at the provider (single flight, storage,
 *    vault replica) and the call is replayed with the new token. A connection with a
 *    long-lived token (no alarm in the way): a burst of 3 × `samples` such calls and
 *    one of as many warm calls on the same connection, each after the process went
 *    idle; process CPU per call over each burst, and the D1 statements and KV
 *    operations per call (`storage`).
 *  - `due`: access tokens of `ttl` s (the provider's options.ttl): the keeper's alarm
 *    refreshes at half the lifetime, so the first call after that finds its isolate's
 *    copy due and asks the keeper, which hands out the token the alarm stored. Each
 *    sample waits for the alarm (next_alarm_at + 250 ms), makes that call, then a warm
 *    one. A sample is classified by what it did: keeper asked (token_requests +1) or
 *    not (the isolate's connection cache had expired and the reload from D1/KV found
 *    the alarm's token), and whether the provider refreshed during it.
 *  - `alarm`: the process's CPU over an idle window while the alarm refreshes every
 *    ttl/2 s, against the same window after `_disconnect` (no alarm): CPU per refresh.
 */
export async function measureRefresh({ port, cpuSeconds, client, idp, storage, adminToken, proxyToken, connectorId, samples, ttl, idleMs = 6000 }) {
  const proxyPath = (cid) => `/api/v1/tenants/${VAULT_TENANT}/connections/${cid}/proxy/bytes?n=1024`;
  const target = (cid) => ({ port, host: VAULT_HOSTS.api, path: proxyPath(cid), headers: { authorization: `Bearer ${proxyToken}` } });
  const timed = async (t) => {
    const r0 = idp.stats.refreshes;
    const s = performance.now();
    const r = await client.one(t);
    const ms = performance.now() - s;
    if (r.status !== 200 || r.bytes !== 1024) {
      throw new Error(`${t.path}: ${r.status}${r.headers["x-portico-error"] ? ` ${r.headers["x-portico-error"]}` : ""}, ${r.bytes} bytes`);
    }
    return { ms, path: r.headers["x-portico-path"] ?? "?", refreshes: idp.stats.refreshes - r0 };
  };
  const paths = (xs) => {
    const c = {};
    for (const x of xs) c[x.path] = (c[x.path] ?? 0) + 1;
    return Object.entries(c)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
  };
  const row = (xs) => ({ ...summary(xs.map((x) => x.ms)), paths: paths(xs), refreshes: xs.reduce((a, x) => a + x.refreshes, 0) });
  const out = {};

  // ---- replace: 401 → refresh → replay --------------------------------------
  idp.options.ttl = LONG_TTL;
  const refusing = await startRefusingOrigin();
  try {
    const refuser = await oauthConnector(port, adminToken, idp, refusing.url);
    const cid = await connect(port, adminToken, refuser);
    const t = target(cid);
    // The host, the connection and both executors' code, warm.
    for (let i = 0; i < 20; i++) {
      if (i % 4 === 3) refusing.arm();
      await timed(t);
    }
    const n = 3 * samples;
    const io = async () => (storage ? { d1: await storage.d1Stats(), kv: await storage.kvStats() } : null);
    const burst = async (arm) => {
      await quiet(cpuSeconds);
      const io0 = await io();
      const xs = [];
      const c0 = cpuSeconds();
      for (let i = 0; i < n; i++) {
        if (arm) refusing.arm();
        xs.push(await timed(t));
      }
      await sleep(1200); // the calls' audit flush (PORTICO_AUDIT_FLUSH_MS, waitUntil) counts in
      const cpuUs = ((cpuSeconds() - c0) * 1e6) / n;
      const io1 = await io();
      let perCall = null;
      if (io0 && io1) {
        const d1 = Object.entries(io1.d1).reduce((a, [k, v]) => a + v - (io0.d1[k] ?? 0), 0);
        perCall = { d1: d1 / n, kvGets: (io1.kv.gets - io0.kv.gets) / n, kvPuts: (io1.kv.puts - io0.kv.puts) / n, kvDeletes: (io1.kv.deletes - io0.kv.deletes) / n };
      }
      return { xs, cpuUs, io: perCall };
    };
    const warm = await burst(false);
    const replaced = await burst(true);
    const st = await tokenStatus(port, adminToken, cid);
    out.replace = {
      warm: { ...row(warm.xs), cpuUs: warm.cpuUs, io: warm.io },
      replaced: { ...row(replaced.xs), cpuUs: replaced.cpuUs, io: replaced.io },
      refused: refusing.refused,
      keeper: st,
    };
  } catch (e) {
    out.replaceWhy = e.message;
  } finally {
    await refusing.close();
  }

  // ---- due: the alarm refreshed, the isolate's copy is due --------------------
  idp.options.ttl = ttl;
  try {
    const cid = await connect(port, adminToken, connectorId);
    const t = target(cid);
    await timed(t);
    const keeperAsked = [];
    const reloaded = [];
    const warm = [];
    for (let i = 0; i < samples; i++) {
      const st = await tokenStatus(port, adminToken, cid);
      if (!st.next_alarm_at) throw new Error(`the keeper set no alarm: ${JSON.stringify(st)}`);
      await sleep(Date.parse(st.next_alarm_at) + 250 - Date.now());
      const x = await timed(t);
      const w = await timed(t);
      const after = await tokenStatus(port, adminToken, cid);
      (after.token_requests > st.token_requests ? keeperAsked : reloaded).push(x);
      warm.push(w);
    }
    // ---- alarm: CPU of a refresh in an idle process ----------------------------
    const window = async () => {
      const r0 = idp.stats.refreshes;
      const c0 = cpuSeconds();
      await sleep(idleMs);
      return { cpuS: cpuSeconds() - c0, refreshes: idp.stats.refreshes - r0 };
    };
    await sleep(1200);
    const busy = await window();
    await disconnect(port, adminToken, cid);
    await quiet(cpuSeconds, 3000);
    const idle = await window();
    out.due = {
      keeper: row(keeperAsked),
      reloaded: row(reloaded),
      warm: row(warm),
      alarm: {
        refreshes: busy.refreshes,
        idleRefreshes: idle.refreshes,
        cpuUsPerRefresh: busy.refreshes ? ((busy.cpuS - idle.cpuS) * 1e6) / busy.refreshes : NaN,
        busyCpuMs: busy.cpuS * 1e3,
        idleCpuMs: idle.cpuS * 1e3,
        windowS: idleMs / 1000,
      },
    };
  } catch (e) {
    out.dueWhy = e.message;
  } finally {
    idp.options.ttl = LONG_TTL;
  }
  return out;
}
