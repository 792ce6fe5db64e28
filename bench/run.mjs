// `npm run bench`: Portico's whole-request cost under plain `workerd serve`
// (DESIGN §9), beside JavaScript baselines measured in the same run. A benchmark,
// not a test: it prints a table and never fails on a timing.
//
// One workerd process (the binary Miniflare ships) hosts every warm worker:
// Portico (static host source, so no D1), Portico with a rate limiter binding,
// a bare JS passthrough, a JS `new Response` and a JS passthrough that calls the
// rate limiter, and Portico with the credential vault (D1 and KV from a second
// workerd process, bench/lib/storage.mjs; a connection seeded through the
// management API by a short-lived Portico process first, bench/lib/vault.mjs).
// A node origin on 127.0.0.1 serves 1 KiB. A row's figure is the
// workerd process's CPU time (utime+stime from /proc/<pid>/stat) over the row's
// requests ÷ requests; rows are interleaved in each round, and the table shows
// medians over rounds (ratios are the median of each round's ratio).
//
// The vault rows (6–9): an http route (the shape of scenario 3's 1-route host), the
// same route with `credentials` (literal connection id, api_key header connector
// to the origin), and the proxy endpoint on a control-plane host with a tenant
// token (inline key, verified once per isolate). Every call with the connection is
// audited after the response: Portico buffers the rows per isolate and writes them
// in one D1 batch per flush (PORTICO_AUDIT_FLUSH_MS); a JS passthrough writing the
// same two statements per call is the naive reference. Those rows end once D1
// holds the audit rows of their requests, so the writes count in their row. The
// storage process's own CPU (SQL, KV) is not in the figures (production's D1 and KV
// run elsewhere too); the binding clients' (d1-api, HTTP, JSON) is.
//
// OAuth2 (docs/oauth.md, bench/lib/oauth.mjs): the vault worker also declares the
// token keeper, Durable Object class ConnectionTokens bound as CONNECTION_TOKENS
// (SQLite-backed, on a disk directory the seeder and the later processes share).
// The seeder creates a global oauth2 connector (base_url the origin; token endpoint
// dev/oauth-provider.mjs on 127.0.0.1, client_secret_basic, PKCE) and connects a
// connection through Portico's flow (_initiate, the provider's /authorize, Portico's
// callback), with access tokens of a day. Row 9 is row 8's call through that
// connection (fresh token: warm calls use the isolate's copy and never reach the
// keeper, which the run checks), beside row 8 in the same run (aim ≤ 1.1x).
// Then a Portico process of its own (same storage and Durable Object disk,
// PORTICO_DEBUG_HEADERS=true: x-portico-path names the executor) shows which
// executor answers warm proxy-endpoint calls and measures the keeper's share,
// sequential calls, wall-clock median/p90 (the "token keeper" table):
//  - a call whose upstream refuses the token once (401): the workers-rs path asks
//    the keeper to replace it (a refresh at the provider, storage, the vault
//    replica) and replays; vs warm calls on the same connection, with workerd CPU
//    per call over bursts of 3 × BENCH_REFRESH_SAMPLES calls and the D1/KV
//    operations per call;
//  - tokens of BENCH_REFRESH_TTL s: the keeper's alarm refreshes at half the
//    lifetime (always at or before the point callers must refresh), so the first
//    call after it finds its isolate's copy due and asks the keeper, which hands out
//    the alarm's token: that round trip vs a warm call, BENCH_REFRESH_SAMPLES
//    samples; then the CPU of an alarm refresh (an idle process's CPU while the
//    alarm refreshes, against the same window after _disconnect).
// A failure to set up the OAuth2 rows turns row 9 and the table into n/a rows with
// the reason; the other rows run (a build without the class runs without them).
//
//   npm run bench                                  # setup, build, then this
//   node bench/run.mjs                             # this checkout's build/
//   BENCH_BUILD=/other/checkout/build node bench/run.mjs        # A/B another build
//   BENCH_FAST_PATH=off node bench/run.mjs         # sets Portico's PORTICO_FAST_PATH
//   BENCH_VAULT=off node bench/run.mjs             # without the vault rows (6–9) and the token keeper table
//   BENCH_VAULT_REQUESTS=4000 node bench/run.mjs   # requests per vault row and round (default min(BENCH_REQUESTS, 1500))
//   BENCH_OAUTH=off node bench/run.mjs             # without row 9 and the token keeper table
//   BENCH_REFRESH_SAMPLES=20 BENCH_REFRESH_TTL=2 node bench/run.mjs  # keeper table: samples (bursts: 3×), token lifetime (s)
//   BENCH_REQUESTS=4000 BENCH_ROUNDS=3 BENCH_CONCURRENCY=16 BENCH_LATENCY_CONCURRENCY=32 \
//   BENCH_WARMUP=300 BENCH_COLD_ROUNDS=3 BENCH_VERBOSE=1 node bench/run.mjs
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startOrigin } from "../dev/origin.mjs";
import { ROOT } from "../tests/e2e/harness.mjs";
import { WORKERD, capnpString, stagePortico, startWorkerd, writeConfig } from "./lib/workerd.mjs";
import { makeClient, median, runLoad } from "./lib/load.mjs";
import { JS, RATELIMIT_MODULE, RATELIMIT_MODULE_NAME, host, jwtFixture, proxyChain, s200Host } from "./lib/scenarios.mjs";
import { startStorage } from "./lib/storage.mjs";
import { KEY_HEADER, SECRET, VAULT_HOSTS, VAULT_TENANT, seed, vaultDoc, vaultFixture } from "./lib/vault.mjs";
import { buildHasKeeper, connect, keeperConfig, measureRefresh, oauthConnector, startProvider, tokenStatus } from "./lib/oauth.mjs";

const num = (name, dflt) => Number(process.env[name] ?? dflt);
const N = num("BENCH_REQUESTS", 4000);
const ROUNDS = num("BENCH_ROUNDS", 3);
const C = num("BENCH_CONCURRENCY", 16);
const LC = num("BENCH_LATENCY_CONCURRENCY", 32);
const WARMUP = num("BENCH_WARMUP", 300);
const COLD_ROUNDS = num("BENCH_COLD_ROUNDS", ROUNDS);
const VERBOSE = !!process.env.BENCH_VERBOSE;
const BUILD = resolve(process.env.BENCH_BUILD ?? join(ROOT, "build"));
const FAST_PATH = process.env.BENCH_FAST_PATH;
const VAULT = process.env.BENCH_VAULT !== "off";
// Rows 6–9 are slower to run (every call writes to D1): fewer requests by default.
const NV = num("BENCH_VAULT_REQUESTS", Math.min(N, 1500));
const OAUTH = process.env.BENCH_OAUTH !== "off";
const REFRESH_SAMPLES = num("BENCH_REFRESH_SAMPLES", 20);
const REFRESH_TTL = num("BENCH_REFRESH_TTL", 2);

const origin = await startOrigin({ port: 0 });
const dir = mkdtempSync(join(tmpdir(), "portico-bench-"));
// Idle connections closed after 2 s: rows pause (audit settles, the keeper table's waits).
const client = makeClient(Math.max(C, LC), { idleMs: 2000 });
const processes = [];
// The vault's storage process, and the token keeper's Durable Object config (disk
// directory) when the OAuth2 rows run.
let storage = null;
let keeper = null;
const cleanup = async () => {
  client.destroy();
  for (const p of processes.reverse()) await p.stop().catch(() => {});
  await origin.close?.();
  rmSync(dir, { recursive: true, force: true });
  if (keeper) rmSync(keeper.dir, { recursive: true, force: true });
  cleaned = true;
};
process.on("SIGINT", () => cleanup().finally(() => process.exit(130)));
// On an uncaught error (a request that fails ends the run) the workerd processes
// and the temp directories must not outlive it: the synchronous part of cleanup.
let cleaned = false;
process.on("exit", () => {
  if (cleaned) return;
  for (const p of processes) {
    try {
      if (p.pid) process.kill(p.pid);
    } catch {}
  }
  for (const d of [dir, keeper?.dir, storage?.dbDir]) if (d) rmSync(d, { recursive: true, force: true });
});

// ---- configuration ---------------------------------------------------------
const ISSUER = "https://issuer.bench.test";
const AUDIENCE = "portico-bench";
const jwt = jwtFixture({ issuer: ISSUER, audience: AUDIENCE });
const chain = proxyChain(origin.url);
const HOSTS = {
  s200: "s200.bench.test",
  one: "one.bench.test",
  tenk: "tenk.bench.test",
  jwt: "jwt.bench.test",
  rl: "rl.bench.test",
};
const s200 = s200Host("bench", origin.url);
const mainDoc = {
  hosts: {
    [HOSTS.s200]: s200,
    [HOSTS.one]: host("bench", 1, [{ path: "/bytes", handlers: chain }]),
    [HOSTS.tenk]: host("bench", 10_000, [{ path: "/bytes", handlers: chain }]),
    [HOSTS.jwt]: host("bench", 200, [
      { path: "/bytes", handlers: [{ type: "jwt", options: { keys: [jwt.jwk], issuer: ISSUER, audience: AUDIENCE } }, ...chain] },
    ]),
  },
};
// Its own worker: while the build does not know `rate_limit`, this document is
// invalid (every request on it answers 503 config_invalid) and must not take the
// other hosts down with it.
const rlDoc = {
  hosts: {
    [HOSTS.rl]: host("bench", 200, [
      { path: "/bytes", handlers: [{ type: "rate_limit", options: { limiter: "BENCH_RL", key: "ip" } }, ...chain] },
    ]),
  },
};
writeFileSync(join(dir, "main.json"), JSON.stringify(mainDoc));
writeFileSync(join(dir, "rl.json"), JSON.stringify(rlDoc));
writeFileSync(join(dir, "cold.json"), JSON.stringify({ hosts: { [HOSTS.s200]: s200 } }));
for (const [name, src] of Object.entries(JS)) writeFileSync(join(dir, `${name}.js`), src);
writeFileSync(join(dir, "ratelimit.js"), RATELIMIT_MODULE);

const portico = stagePortico(BUILD, dir);
const porticoVars = (docFile) => [
  { name: "PORTICO_HOST_SOURCE", text: "static" },
  { name: "PORTICO_STATIC_CONFIG", text: docFile, embed: true },
  ...(FAST_PATH !== undefined ? [{ name: "PORTICO_FAST_PATH", text: FAST_PATH }] : []),
];
// Limit far above what a run sends: every request is allowed, so every request
// costs the same (the benchmark measures the check, not the 429).
const rlBinding = {
  name: "BENCH_RL",
  raw: `wrapped = (moduleName = ${capnpString(RATELIMIT_MODULE_NAME)}, innerBindings = [(name = "limit", json = "1000000000"), (name = "period", json = "60")])`,
};
const jsWorker = (id, name, bindings) => ({
  id,
  name,
  modules: [`(name = ${capnpString(`${id}.js`)}, esModule = embed ${capnpString(`${id}.js`)})`],
  bindings,
});
const originVar = { name: "ORIGIN", text: origin.url };
const extensions = [`(modules = [(name = ${capnpString(RATELIMIT_MODULE_NAME)}, esModule = embed "ratelimit.js", internal = true)])`];

// ---- the vault: storage process, then a connection seeded through the API -------
// A failure here turns the vault rows into n/a rows with the reason; the others run.
const vaultFx = vaultFixture();
let vaultIds = null;
let vaultWhy = null;
// The OAuth2 rows (row 9, the refresh table): the provider stand-in, the token
// keeper's Durable Object config (when the build exports the class) and a
// connection connected through the flow. A failure turns only them into n/a rows.
let idp = null;
let oauthIds = null;
let oauthWhy = OAUTH ? null : "BENCH_OAUTH=off";
const vaultWorker = (doc, { debug = false } = {}) => ({
  id: "porticoVault",
  name: "portico_vault",
  modules: portico.modules,
  bindings: [
    ...porticoVars(doc),
    ...vaultFx.vars,
    ...storage.bindings,
    ...(keeper ? [keeper.binding] : []),
    ...(debug ? [{ name: "PORTICO_DEBUG_HEADERS", text: "true" }] : []),
  ],
  extra: keeper ? keeper.extra : [],
});
const vaultServices = () => [...storage.services, ...(keeper ? [keeper.service] : [])];
try {
  if (!VAULT) throw new Error("BENCH_VAULT=off");
  storage = await startStorage(dir, { verbose: VERBOSE });
  processes.push(storage);
  // The static document must name the connection, which only exists once seeded:
  // a Portico process on the same storage seeds it, then the warm one starts.
  writeFileSync(join(dir, "vault-seed.json"), JSON.stringify({ hosts: { [VAULT_HOSTS.ref]: vaultDoc(origin.url, "unused").hosts[VAULT_HOSTS.ref] } }));
  if (OAUTH) {
    if (buildHasKeeper(join(dir, "portico"))) keeper = keeperConfig(dir, "portico_vault");
    else oauthWhy = "the build exports no ConnectionTokens class";
  }
  const startSeeder = () =>
    startWorkerd(writeConfig(dir, [vaultWorker("vault-seed.json")], { services: vaultServices(), file: "seed.capnp" }), ["portico_vault"], {
      verbose: VERBOSE,
    });
  let seeder;
  try {
    seeder = await startSeeder();
  } catch (e) {
    if (!keeper) throw e;
    // Without the Durable Object the vault rows can still run.
    oauthWhy = `workerd refused the token keeper's Durable Object config: ${e.message.split("\n").slice(0, 3).join(" ")}`;
    rmSync(keeper.dir, { recursive: true, force: true });
    keeper = null;
    seeder = await startSeeder();
  }
  try {
    vaultIds = await seed(seeder.ports.portico_vault, origin.url, vaultFx.adminToken);
    if (keeper) {
      try {
        idp = await startProvider();
        processes.push({ stop: () => idp.close() });
        const connectorId = await oauthConnector(seeder.ports.portico_vault, vaultFx.adminToken, idp, origin.url);
        oauthIds = { connectorId, connectionId: await connect(seeder.ports.portico_vault, vaultFx.adminToken, connectorId) };
      } catch (e) {
        oauthWhy = `${e.message}\n${seeder.stderrTail()}`;
      }
    }
  } catch (e) {
    throw new Error(`${e.message}\n${seeder.stderrTail()}`);
  } finally {
    await seeder.stop();
  }
  if (!oauthIds && keeper) {
    rmSync(keeper.dir, { recursive: true, force: true });
    keeper = null;
  }
  writeFileSync(join(dir, "vault.json"), JSON.stringify(vaultDoc(origin.url, vaultIds.connectionId)));
} catch (e) {
  vaultWhy = e.message;
  if (VAULT) console.error(`vault rows unavailable: ${e.message}`);
}
if (vaultIds && oauthWhy && OAUTH) console.error(`OAuth2 rows unavailable: ${oauthWhy}`);

// ---- the warm process --------------------------------------------------------
const warmWorkers = [
  jsWorker("passthrough", "js_passthrough", [originVar]),
  jsWorker("newResponse", "js_new_response", []),
  jsWorker("limitedPassthrough", "js_limited", [originVar, rlBinding]),
  { id: "portico", name: "portico", modules: portico.modules, bindings: porticoVars("main.json") },
  {
    id: "porticoRl",
    name: "portico_rl",
    modules: portico.modules,
    bindings: [...porticoVars("rl.json"), { name: "PORTICO_RATE_LIMITERS", text: "BENCH_RL:60" }, rlBinding],
  },
  ...(vaultIds
    ? [
        vaultWorker("vault.json"),
        jsWorker("auditedPassthrough", "js_audited", [
          originVar,
          storage.bindings.find((b) => b.name === "DB"),
          { name: "TENANT", text: VAULT_TENANT },
          { name: "CONNECTION", text: vaultIds.connectionId },
          { name: "CONNECTOR", text: vaultIds.connectorId },
        ]),
      ]
    : []),
];
const wd = await startWorkerd(
  writeConfig(dir, warmWorkers, { extensions, services: vaultIds ? vaultServices() : [] }),
  warmWorkers.map((w) => w.name),
  { verbose: VERBOSE },
);
processes.push(wd);

const cors = { origin: "https://a.example" };
const ip = { "cf-connecting-ip": "203.0.113.7" };
const TARGETS = {
  passthrough: { label: "JS passthrough", port: wd.ports.js_passthrough, host: "js.bench.test", path: "/bytes?n=1024", headers: cors },
  newResponse: { label: "JS new Response", port: wd.ports.js_new_response, host: "js.bench.test", path: "/static", headers: cors },
  limited: { label: "JS passthrough + limit()", port: wd.ports.js_limited, host: "js.bench.test", path: "/bytes?n=1024", headers: { ...cors, ...ip } },
  s200: { label: "Portico, 200 routes", port: wd.ports.portico, host: HOSTS.s200, path: "/bytes?n=1024", headers: cors },
  static: { label: "Portico static", port: wd.ports.portico, host: HOSTS.s200, path: "/static", headers: cors },
  one: { label: "Portico, 1 route", port: wd.ports.portico, host: HOSTS.one, path: "/bytes?n=1024", headers: cors },
  tenk: { label: "Portico, 10,000 routes", port: wd.ports.portico, host: HOSTS.tenk, path: "/bytes?n=1024", headers: cors },
  jwt: { label: "Portico jwt", port: wd.ports.portico, host: HOSTS.jwt, path: "/bytes?n=1024", headers: { ...cors, authorization: `Bearer ${jwt.token}` } },
  rl: { label: "Portico rate_limit", port: wd.ports.portico_rl, host: HOSTS.rl, path: "/bytes?n=1024", headers: { ...cors, ...ip } },
  vref: { label: "Portico http route", port: wd.ports.portico_vault, host: VAULT_HOSTS.ref, path: "/bytes?n=1024", headers: cors },
  vcred: { label: "Portico credentials route", port: wd.ports.portico_vault, host: VAULT_HOSTS.cred, path: "/bytes?n=1024", headers: cors },
  vproxy: {
    label: "Portico proxy endpoint, api_key",
    port: wd.ports.portico_vault,
    host: VAULT_HOSTS.api,
    path: `/api/v1/tenants/${VAULT_TENANT}/connections/${vaultIds?.connectionId}/proxy/bytes?n=1024`,
    headers: { ...cors, authorization: `Bearer ${vaultFx.proxyToken}` },
  },
  oproxy: {
    label: "Portico proxy endpoint, OAuth2",
    port: wd.ports.portico_vault,
    host: VAULT_HOSTS.api,
    path: `/api/v1/tenants/${VAULT_TENANT}/connections/${oauthIds?.connectionId}/proxy/bytes?n=1024`,
    headers: { ...cors, authorization: `Bearer ${vaultFx.proxyToken}` },
  },
  audited: { label: "JS passthrough + audit", port: wd.ports.js_audited, host: "js.bench.test", path: "/bytes?n=1024", headers: cors },
};
const VAULT_ROWS = ["vref", "vcred", "vproxy", "oproxy", "audited"];
// Calls made with a connection, per row (the audit must hold one row for each).
const calls = { vcred: 0, vproxy: 0, oproxy: 0, audited: 0 };
const count = (k, n) => {
  if (k in calls) calls[k] += n;
};

// Probe every target once (this also warms jwt's token cache). A target that
// does not answer 200 + 1 KiB becomes an n/a row with the reason.
const unavailable = {};
if (!vaultIds) {
  for (const k of VAULT_ROWS) unavailable[k] = VAULT ? `n/a (vault setup failed: ${String(vaultWhy).split("\n")[0].slice(0, 200)})` : "n/a (BENCH_VAULT=off)";
} else if (!oauthIds) {
  unavailable.oproxy = OAUTH ? `n/a (OAuth2 setup failed: ${String(oauthWhy).split("\n")[0].slice(0, 200)})` : "n/a (BENCH_OAUTH=off)";
}
for (const [k, t] of Object.entries(TARGETS)) {
  if (unavailable[k]) continue;
  try {
    count(k, 1);
    await client.ok(t);
  } catch (e) {
    const r = e.response;
    unavailable[k] =
      k === "rl" && r && r.status >= 400
        ? `n/a (needs rate_limit handler: ${r.status}${r.headers["x-portico-error"] ? ` ${r.headers["x-portico-error"]}` : ""})`
        : `n/a (${e.message})`;
    if (k !== "rl" && k !== "limited" && !VAULT_ROWS.includes(k)) {
      console.error(`${t.label} does not answer: ${e.message}\n${wd.stderrTail()}`);
    }
  }
}
// Why the rate_limit document was refused, from Portico's log (config errors name their path).
const rlWhy = unavailable.rl
  ? wd.stderrTail().split("\n").find((l) => /rate_limit|BENCH_RL|RATE_LIMITERS/.test(l))
  : undefined;
for (const k of ["passthrough", "newResponse", "s200"]) {
  if (unavailable[k]) {
    await cleanup();
    throw new Error(`${TARGETS[k].label} is required: ${unavailable[k]}`);
  }
}

// ---- vault checks (once, outside timing) ------------------------------------------
// What the origin saw for one request of each vault row, and the audit rows the
// calls left in D1 (written after the response, with waitUntil).
const checks = [];
// Rows by actor: the credentials route has no jwt (actor ""), the proxy endpoint's
// token says "bench-agent" (row 8 with the api_key connection, row 9 with the
// OAuth2 one), the JS baseline writes "js-audit".
const ACTORS = { "": "vcred", "bench-agent": "vproxy", "js-audit": "audited" };
const auditCount = async () =>
  (
    await storage.query(
      "SELECT actor, connection_id, count(*) AS n FROM audit_log WHERE kind = 'proxy' AND tenant_id = ?1 GROUP BY actor, connection_id",
      VAULT_TENANT,
    )
  ).reduce(
    (o, r) => {
      const k = oauthIds && r.connection_id === oauthIds.connectionId ? "oproxy" : (ACTORS[r.actor] ?? r.actor);
      return { ...o, [k]: (o[k] ?? 0) + r.n };
    },
    { vcred: 0, vproxy: 0, oproxy: 0, audited: 0 },
  );
let settleTimeouts = 0;
const waitAudit = async (want, timeoutMs = 15_000) => {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const got = await auditCount();
    if (Object.keys(want).every((k) => got[k] >= want[k])) return got;
    if (performance.now() > until) {
      settleTimeouts++;
      return got;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
};
// A row of calls with the connection ends once their audit rows are in D1.
const settleFor = (k) => () => waitAudit({ [k]: calls[k] });
// One audit row per call, the probes' included (Portico writes them up to
// PORTICO_AUDIT_FLUSH_MS, 1 s, after the call).
if (vaultIds && ["vref", "vcred", "vproxy"].every((k) => !unavailable[k])) {
  const seen = [];
  const spy = (req) => {
    if (req.url.startsWith("/bytes")) seen.push({ key: req.headers[KEY_HEADER], authorization: req.headers.authorization });
  };
  origin.server.on("request", spy);
  const saw = {};
  for (const k of ["vref", "vcred", "vproxy", ...(unavailable.oproxy ? [] : ["oproxy"])]) {
    seen.length = 0;
    count(k, 1);
    await client.ok(TARGETS[k]);
    saw[k] = seen[0] ?? {};
  }
  origin.server.off("request", spy);
  const okKey = (k) => saw[k].key === SECRET;
  checks.push(
    `origin saw ${KEY_HEADER}: http route ${saw.vref.key === undefined ? "absent (right)" : "PRESENT (wrong)"}, ` +
      `credentials route ${okKey("vcred") ? "the secret (right)" : `WRONG (${saw.vcred.key})`}, ` +
      `proxy endpoint ${okKey("vproxy") ? "the secret (right)" : `WRONG (${saw.vproxy.key})`}; ` +
      `the caller's authorization reached the origin: ${saw.vproxy.authorization === undefined ? "no (right)" : "YES (wrong)"}`,
  );
  if (saw.oproxy) {
    const m = /^Bearer (\S+)$/.exec(saw.oproxy.authorization ?? "");
    const info = m ? idp.introspect(m[1]) : { active: false };
    checks.push(
      `origin saw on the OAuth2 proxy endpoint: ${
        info.active && info.kind === "access_token" ? "Bearer <a live access token of the provider> (right)" : `WRONG (${String(saw.oproxy.authorization).slice(0, 40)})`
      }, ${KEY_HEADER} ${saw.oproxy.key === undefined ? "absent (right)" : "PRESENT (wrong)"}`,
    );
  }
  const a = await waitAudit(calls);
  const rows = await storage.query(
    "SELECT actor, connection_id, method, host, path, status, response_bytes FROM audit_log WHERE kind = 'proxy' ORDER BY rowid DESC LIMIT 1",
  );
  checks.push(
    `audit rows (kind proxy) after ${calls.vcred} credentials-route, ${calls.vproxy} api_key and ${calls.oproxy} OAuth2 proxy-endpoint calls: ` +
      `${a.vcred}, ${a.vproxy} and ${a.oproxy}` +
      (rows[0] ? `; latest ${JSON.stringify(rows[0])}` : ""),
  );
}

// ---- warm rounds ----------------------------------------------------------------
const ORDER = ["passthrough", "s200", "newResponse", "static", "one", "tenk", "jwt", "limited", "rl", ...VAULT_ROWS];
const cpu = Object.fromEntries(ORDER.map((k) => [k, []]));
// The storage process's CPU (D1's SQL, KV; not in the figures) per request of a vault row.
const storageCpu = Object.fromEntries(VAULT_ROWS.map((k) => [k, []]));
const rowSecs = Object.fromEntries(ORDER.map((k) => [k, 0]));
// Connection loads (grants::open: one D1 read, one KV get) during the rounds.
// Statements are keyed by their first 200 characters: the select list (since the
// refresh_at_ms column) pushes the FROM clause out of older builds' marker.
const GRANT_SQL = ["c.policy_json, c.secret_set, v.spec_json", "FROM connections c JOIN connector_versions v"];
const loads = async () => {
  if (!storage || !vaultIds) return null;
  const d1 = await storage.d1Stats();
  const kv = await storage.kvStats();
  return { d1: Object.entries(d1).reduce((a, [sql, n]) => a + (GRANT_SQL.some((m) => sql.includes(m)) ? n : 0), 0), kv: kv.gets };
};
const loads0 = await loads();
// Row 9's keeper and provider before and after the rounds: warm calls with a fresh
// token must reach neither.
const keeperNow = async () => {
  if (unavailable.oproxy) return null;
  try {
    const st = await tokenStatus(wd.ports.portico_vault, vaultFx.adminToken, oauthIds.connectionId);
    return { tokenRequests: st.token_requests, refreshes: st.refreshes, providerTokens: idp.stats.tokenRequests };
  } catch (e) {
    return { error: e.message };
  }
};
const keeper0 = await keeperNow();
const lat = { passthrough: [], s200: [] };
const t0 = performance.now();
for (let r = 0; r < ROUNDS; r++) {
  for (const k of ORDER) {
    if (unavailable[k]) continue;
    const rowStart = performance.now();
    const opts = k in calls ? { settle: settleFor(k) } : {};
    count(k, WARMUP);
    await runLoad(client, TARGETS[k], WARMUP, C, wd.cpuSeconds, opts);
    const n = VAULT_ROWS.includes(k) ? NV : N;
    count(k, n);
    const s0 = storageCpu[k] ? storage.cpuSeconds() : 0;
    cpu[k].push((await runLoad(client, TARGETS[k], n, C, wd.cpuSeconds, opts)).cpuUs);
    if (storageCpu[k]) storageCpu[k].push(((storage.cpuSeconds() - s0) * 1e6) / n);
    rowSecs[k] += (performance.now() - rowStart) / 1000;
  }
  for (const k of ["passthrough", "s200"]) {
    await runLoad(client, TARGETS[k], WARMUP, LC, wd.cpuSeconds);
    lat[k].push(await runLoad(client, TARGETS[k], N, LC, wd.cpuSeconds, { latencies: true }));
  }
  if (VERBOSE) console.error(`round ${r + 1}/${ROUNDS}: ${ORDER.map((k) => `${k} ${Math.round(cpu[k][r] ?? NaN)}`).join(", ")}`);
}
const warmSecs = (performance.now() - t0) / 1000;
const loads1 = await loads();
const keeper1 = await keeperNow();
if (loads0 && loads1) {
  const [d1, kv] = [loads1.d1 - loads0.d1, loads1.kv - loads0.kv];
  // Rows 7–9 use a connection: once when each starts (it expired during the rows
  // between) and once per 5 s while it runs, if every expiry loaded it once.
  const withConn = ["vcred", "vproxy", "oproxy"].filter((k) => !unavailable[k]);
  const secs = withConn.reduce((a, k) => a + rowSecs[k], 0);
  checks.push(
    `connection loads during the rounds (cached 5 s per isolate, the default): ${d1} D1 reads and ${kv} KV gets ` +
      `in ${secs.toFixed(0)} s of rows ${withConn.length === 3 ? "7–9" : "7 and 8"} (one load per expiry would be ~${Math.round(secs / 5) + withConn.length * ROUNDS}; ` +
      `concurrent requests that find it expired each load it)`,
  );
}
if (keeper0 && keeper1) {
  const d = (k) => (keeper0[k] === undefined || keeper1[k] === undefined ? "?" : keeper1[k] - keeper0[k]);
  checks.push(
    keeper0.error || keeper1.error
      ? `OAuth2 row: the keeper's status could not be read: ${keeper0.error ?? keeper1.error}`
      : `OAuth2 row (fresh token) during the rounds: ${d("tokenRequests")} token requests to the keeper, ${d("refreshes")} refreshes, ` +
          `${d("providerTokens")} calls to the provider's token endpoint (warm calls use the isolate's copy: 0, 0, 0 is right)`,
  );
}
if (checks.length) {
  const a = await waitAudit(calls);
  checks.push(
    `audit rows at the end of the run: ${a.vcred} of ${calls.vcred} credentials-route calls, ${a.vproxy} of ${calls.vproxy} api_key and ` +
      `${a.oproxy} of ${calls.oproxy} OAuth2 proxy-endpoint calls ` +
      `(and ${a.audited} of ${calls.audited} from the JS baseline)` +
      (settleTimeouts ? `; WARNING: ${settleTimeouts} waits for audit rows gave up after 15 s (those rows' figures miss the writes)` : ""),
  );
}
await wd.stop();

// ---- the token keeper's share: a Portico process of its own ------------------------
// With PORTICO_DEBUG_HEADERS=true (x-portico-path names the executor) and the same
// storage and Durable Object disk. First which executor answers a warm proxy
// endpoint call per connection type, then bench/lib/oauth.mjs measureRefresh().
let refresh = null;
let refreshWhy = unavailable.oproxy ? unavailable.oproxy.replace(/^n\/a \((.*)\)$/, "$1") : null;
const fastPathSeen = {};
if (!refreshWhy) {
  let rp = null;
  try {
    rp = await startWorkerd(
      writeConfig(dir, [vaultWorker("vault.json", { debug: true })], { services: vaultServices(), file: "refresh.capnp" }),
      ["portico_vault"],
      { verbose: VERBOSE },
    );
    processes.push(rp);
    const port = rp.ports.portico_vault;
    for (const k of ["vproxy", "oproxy"]) {
      const seen = [];
      for (let i = 0; i < 3; i++) {
        const r = await client.one({ ...TARGETS[k], port });
        seen.push(`${r.status} ${r.headers["x-portico-path"] ?? "(no x-portico-path)"}`);
      }
      fastPathSeen[k] = seen;
    }
    refresh = await measureRefresh({
      port,
      cpuSeconds: rp.cpuSeconds,
      client,
      idp,
      storage,
      adminToken: vaultFx.adminToken,
      proxyToken: vaultFx.proxyToken,
      connectorId: oauthIds.connectorId,
      samples: REFRESH_SAMPLES,
      ttl: REFRESH_TTL,
    });
  } catch (e) {
    refreshWhy = `${e.message}${rp ? `\n${rp.stderrTail()}` : ""}`;
  } finally {
    await rp?.stop();
  }
}

// ---- cold start: a fresh process per measurement ------------------------------
const coldWorkers = {
  passthrough: [jsWorker("passthrough", "js_passthrough", [originVar])],
  portico: [{ id: "portico", name: "portico", modules: portico.modules, bindings: porticoVars("cold.json") }],
};
const coldTargets = {
  passthrough: (port) => ({ ...TARGETS.passthrough, port }),
  portico: (port) => ({ ...TARGETS.s200, port }),
};
const cold = { passthrough: [], portico: [] };
for (let r = 0; r < COLD_ROUNDS; r++) {
  for (const k of ["passthrough", "portico"]) {
    const cfg = writeConfig(dir, coldWorkers[k], { file: `cold-${k}.capnp` });
    const p = await startWorkerd(cfg, [coldWorkers[k][0].name], { verbose: VERBOSE });
    processes.push(p);
    const sent = performance.now();
    await client.ok(coldTargets[k](p.ports[coldWorkers[k][0].name]));
    const done = performance.now();
    cold[k].push({ startMs: p.listeningAt - p.startedAt, firstMs: done - sent, totalMs: done - p.startedAt });
    await p.stop();
  }
}

await cleanup();

// ---- report ---------------------------------------------------------------------
const wasm = readFileSync(join(BUILD, "index_bg.wasm"));
let workerdVersion = "";
try {
  workerdVersion = execFileSync(WORKERD, ["--version"], { encoding: "utf8" }).trim();
} catch {}
const us = (x) => (Number.isFinite(x) ? `${Math.round(x)}` : "—");
const x2 = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "—");
const ms = (x) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : "—");
const ratios = (a, b) => cpu[a].map((v, i) => v / cpu[b][i]);

function row(label, a, b, aim) {
  const na = unavailable[a] ?? unavailable[b];
  if (na) return [label, na];
  const rs = ratios(a, b);
  return [label, us(median(cpu[a])), TARGETS[b].label, us(median(cpu[b])), x2(median(rs)), aim, rs.map((v) => v.toFixed(2)).join(" ")];
}
const rows = [
  ["scenario", "Portico µs", "baseline", "base µs", "ratio", "aim", "per round"],
  row("1. 200 routes, cors → headers → http", "s200", "passthrough", "1.2x"),
  row("2. static route (1 KiB body)", "static", "newResponse", "1.3x"),
  row("3. 10,000 routes vs 1 route (same chain)", "tenk", "one", "≤ 1.05x"),
  row("4. jwt (EdDSA, cached) → scenario-1 chain", "jwt", "passthrough", ""),
  row("5. rate_limit (key ip) → scenario-1 chain", "rl", "passthrough", ""),
  row("   the same, vs JS calling the limiter", "rl", "limited", ""),
  row("6. http route, 1 route (vault worker)", "vref", "passthrough", ""),
  row("   the same, vs scenario 3's 1-route host", "vref", "one", ""),
  row("7. credentials (api_key) → scenario-6 route", "vcred", "vref", "≤ 1.3x"),
  row("   the same, vs JS passthrough", "vcred", "passthrough", ""),
  row("   the same, vs JS passthrough + the audit's writes", "vcred", "audited", ""),
  row("8. proxy endpoint (cached token) → origin", "vproxy", "vref", "≤ 1.3x"),
  row("   the same, vs JS passthrough", "vproxy", "passthrough", ""),
  row("   the same, vs JS passthrough + the audit's writes", "vproxy", "audited", ""),
  row("9. proxy endpoint, OAuth2 connection, fresh token", "oproxy", "vproxy", "≤ 1.1x"),
  row("   the same, vs scenario 6", "oproxy", "vref", ""),
  row("   the same, vs JS passthrough + the audit's writes", "oproxy", "audited", ""),
  row("   (JS: passthrough + the audit's 2 D1 writes per call)", "audited", "passthrough", ""),
];
function table(rows) {
  // A two-cell row (label, text) is printed as is: its text spans the columns.
  const full = rows.filter((r) => r.length === rows[0].length);
  const w = rows[0].map((_, i) => Math.max(...full.map((r) => String(r[i]).length), i === 0 ? Math.max(...rows.map((r) => String(r[0]).length)) : 0));
  return rows
    .map((r, j) => {
      const line = r.length !== rows[0].length ? `${String(r[0]).padEnd(w[0])}  ${r[1]}` : r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join("  ");
      return j === 0 ? `${line}\n${w.map((n) => "-".repeat(n)).join("  ")}` : line;
    })
    .join("\n");
}

console.log(`Portico under plain workerd serve — ${BUILD} (main module ${portico.main}${FAST_PATH !== undefined ? `, PORTICO_FAST_PATH=${FAST_PATH}` : ""})`);
const vaultSecs = VAULT_ROWS.reduce((a, k) => a + rowSecs[k], 0);
console.log(
  `workerd ${workerdVersion}; ${N} requests × ${ROUNDS} rounds per row, concurrency ${C}, warm-up ${WARMUP}; ${warmSecs.toFixed(0)} s` +
    (vaultSecs ? ` (rows 6–9: ${NV} requests per row and round, ${vaultSecs.toFixed(0)} s)` : ""),
);
console.log(`workerd CPU µs per request (utime+stime of the workerd process ÷ requests), medians over rounds:\n`);
console.log(table(rows));
if (!unavailable.s200) {
  const d = (k) => {
    if (unavailable[k]) return "n/a";
    const v = Math.round(median(cpu[k].map((x, i) => x - cpu.s200[i])));
    return `${v >= 0 ? "+" : ""}${v} µs`;
  };
  console.log(`\nhandler cost over scenario 1 (same run): jwt ${d("jwt")}, rate_limit ${d("rl")}`);
}
if (!unavailable.vref) {
  const d = (k) => {
    if (unavailable[k]) return "n/a";
    const v = Math.round(median(cpu[k].map((x, i) => x - cpu.vref[i])));
    return `${v >= 0 ? "+" : ""}${v} µs`;
  };
  const sc = (k) => (storageCpu[k]?.length ? `${us(median(storageCpu[k]))} µs` : "n/a");
  const audit = unavailable.audited ? "n/a" : `+${Math.round(median(cpu.audited.map((x, i) => x - cpu.passthrough[i])))} µs`;
  // Per round: (row − scenario 6) − (JS + audit − JS passthrough), i.e. what is left
  // once the same two D1 writes, as a JS Worker pays them, are taken out.
  const own = (k) => {
    if (unavailable[k] || unavailable.audited) return "n/a";
    const v = Math.round(median(cpu[k].map((x, i) => x - cpu.vref[i] - (cpu.audited[i] - cpu.passthrough[i]))));
    return `${v >= 0 ? "+" : ""}${v} µs`;
  };
  console.log(
    `cost over scenario 6 (same run): credentials route ${d("vcred")}, proxy endpoint ${d("vproxy")} (OAuth2: ${d("oproxy")}); ` +
      `a JS Worker writing the audit's 2 D1 statements per call pays ${audit} over its passthrough ` +
      `(Portico batches them per isolate flush; net of that per-call cost: credentials route ${own("vcred")}, proxy endpoint ${own("vproxy")}, ` +
      `OAuth2 ${own("oproxy")})`,
  );
  if (!unavailable.oproxy && !unavailable.vproxy) {
    const v = Math.round(median(cpu.oproxy.map((x, i) => x - cpu.vproxy[i])));
    console.log(`OAuth2 (fresh token) over api_key on the proxy endpoint (same run): ${v >= 0 ? "+" : ""}${v} µs per request`);
  }
  console.log(
    `vault rows: D1 and KV are served by a second workerd process (not in the figures; its CPU per request: ` +
      `credentials route ${sc("vcred")}, proxy endpoint ${sc("vproxy")}, OAuth2 ${sc("oproxy")}, JS + audit ${sc("audited")})`,
  );
}
for (const c of checks) console.log(`check: ${c}`);
if (vaultWhy && VAULT) console.log(`vault rows: setup failed: ${vaultWhy.slice(0, 500)}`);
if (vaultIds && oauthWhy && OAUTH) console.log(`OAuth2 rows: setup failed: ${oauthWhy.slice(0, 500)}`);
if (unavailable.rl) {
  console.log(`rate_limit: ${rlWhy ? `workerd logged: ${rlWhy.trim().slice(0, 300)}` : "BENCH_VERBOSE=1 shows workerd's log"}`);
  if (!unavailable.limited) {
    const r = median(ratios("limited", "passthrough"));
    console.log(`(the limiter binding itself works: JS passthrough + limit() ${us(median(cpu.limited))} µs, ${x2(r)} the passthrough)`);
  }
}
// ---- the token keeper's share -------------------------------------------------------
{
  const na = (why) => `n/a (${String(why).split("\n")[0].slice(0, 200)})`;
  if (!refresh) {
    console.log(`\nOAuth2 token keeper table: ${na(refreshWhy ?? (OAUTH ? "not measured" : "BENCH_OAUTH=off"))}`);
    if (refreshWhy && oauthIds) console.log(`(${refreshWhy.slice(0, 500)})`);
  } else {
    console.log(
      `\nOAuth2 token keeper (Durable Object ConnectionTokens): a Portico process of its own with PORTICO_DEBUG_HEADERS=true, ` +
        `sequential calls to the proxy endpoint, wall-clock ms from this client (medians and p90 over the samples):\n`,
    );
    const lrow = (label, x, extra = "") =>
      x && x.n ? [label, `${x.n}`, ms(x.median), ms(x.p90), x.paths, `${x.refreshes}`, extra] : [label, "0", "—", "—", "", "", extra];
    const rr = refresh.replace;
    const du = refresh.due;
    const rows = [["call", "n", "median ms", "p90 ms", "x-portico-path", "provider refreshes in the calls", "CPU µs/call"]];
    if (rr) {
      rows.push(lrow("warm: fresh token in the isolate (1 KiB origin that can refuse)", rr.warm, us(rr.warm.cpuUs)));
      rows.push(lrow("upstream 401 → keeper refreshes → replay → 200", rr.replaced, us(rr.replaced.cpuUs)));
    } else rows.push(["upstream 401 → keeper refreshes → replay", na(refresh.replaceWhy)]);
    if (du) {
      rows.push(lrow(`warm (${REFRESH_TTL} s tokens, just after a keeper call)`, du.warm));
      rows.push(lrow("token due in the isolate, the alarm already refreshed: keeper asked", du.keeper));
      if (du.reloaded.n) rows.push(lrow("  the same, but the cache expired: reloaded from D1/KV, keeper not asked", du.reloaded));
    } else rows.push(["token due in the isolate (alarm refreshes)", na(refresh.dueWhy)]);
    console.log(table(rows));
    if (rr) {
      const dMs = rr.replaced.median - rr.warm.median;
      console.log(
        `\na refresh on the call path (401 → keeper → provider → replay) adds ${ms(dMs)} ms to the median call and ` +
          `${us(rr.replaced.cpuUs - rr.warm.cpuUs)} µs of workerd CPU per call (bursts of ${rr.warm.n} sequential calls; ` +
          `includes the refused upstream round trip and the workers-rs path; the origin refused ${rr.refused} calls; ` +
          `keeper: ${rr.keeper.refreshes} refreshes, ${rr.keeper.token_requests} token requests)`,
      );
      const io = (x) =>
        x ? `${x.d1.toFixed(1)} D1 statements, KV ${x.kvGets.toFixed(1)} gets / ${x.kvPuts.toFixed(1)} puts / ${x.kvDeletes.toFixed(1)} deletes` : "n/a";
      console.log(`storage per call (the audit's included): refreshed ${io(rr.replaced.io)}; warm ${io(rr.warm.io)}`);
    }
    if (du) {
      const a = du.alarm;
      console.log(
        `the keeper's round trip for a call whose token is due (alarm already refreshed): +${ms(du.keeper.median - du.warm.median)} ms median over a warm call; ` +
          `an alarm refresh costs ${us(a.cpuUsPerRefresh)} µs of workerd CPU (${a.refreshes} refreshes in ${a.windowS} s idle: ` +
          `${ms(a.busyCpuMs)} ms CPU, vs ${ms(a.idleCpuMs)} ms in ${a.windowS} s after _disconnect${a.idleRefreshes ? `, ${a.idleRefreshes} refreshes still` : ""}; ` +
          `/proc ticks of 10 ms: rough)`,
      );
    }
  }
  const fp = (k) => (fastPathSeen[k] ? fastPathSeen[k].join(" → ") : "n/a");
  if (Object.keys(fastPathSeen).length) {
    console.log(`executor of 3 proxy-endpoint calls in a fresh isolate: api_key ${fp("vproxy")}; OAuth2, fresh token ${fp("oproxy")}`);
  }
}
const lrow = (k) => {
  const m = (f) => median(lat[k].map((x) => x[f]));
  return [TARGETS[k].label, ms(m("p50Ms")), ms(m("p99Ms")), `${Math.round(m("rps"))}`, us(m("cpuUs"))];
};
console.log(`\nscenario 1 at concurrency ${LC}, ${N} requests × ${ROUNDS} rounds (client on the same machine), medians:\n`);
console.log(table([["worker", "p50 ms", "p99 ms", "req/s", "CPU µs"], lrow("passthrough"), lrow("s200")]));
const crow = (k, label) => {
  const m = (f) => median(cold[k].map((x) => x[f]));
  return [label, ms(m("startMs")), ms(m("firstMs")), ms(m("totalMs"))];
};
console.log(`\ncold start: a fresh workerd process per measurement, ${COLD_ROUNDS} each, medians:\n`);
console.log(
  table([
    ["worker", "start → listening ms", "first request ms", "start → first response ms"],
    crow("passthrough", "JS passthrough"),
    crow("portico", "Portico, 200 routes (scenario 1)"),
  ]),
);
console.log(`\nWasm (index_bg.wasm): ${(wasm.length / 1024).toFixed(0)} KiB raw, ${(gzipSync(wasm).length / 1024).toFixed(0)} KiB gzip`);
process.exit(0);
