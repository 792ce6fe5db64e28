// `npm run bench`: Portico's whole-request cost under plain `workerd serve`
// (DESIGN §9), beside JavaScript baselines measured in the same run. A benchmark,
// not a test: it prints a table and never fails on a timing.
//
// One workerd process (the binary Miniflare ships) hosts every warm worker:
// Portico (static host source, so no D1), Portico with a rate limiter binding,
// a bare JS passthrough, a JS `new Response` and a JS passthrough that calls the
// rate limiter. A node origin on 127.0.0.1 serves 1 KiB. A row's figure is the
// workerd process's CPU time (utime+stime from /proc/<pid>/stat) over the row's
// requests ÷ requests; rows are interleaved in each round, and the table shows
// medians over rounds (ratios are the median of each round's ratio).
//
//   npm run bench                                  # setup, build, then this
//   node bench/run.mjs                             # this checkout's build/
//   BENCH_BUILD=/other/checkout/build node bench/run.mjs        # A/B another build
//   BENCH_FAST_PATH=off node bench/run.mjs         # sets Portico's PORTICO_FAST_PATH
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

const origin = await startOrigin({ port: 0 });
const dir = mkdtempSync(join(tmpdir(), "portico-bench-"));
const client = makeClient(Math.max(C, LC));
const processes = [];
const cleanup = async () => {
  client.destroy();
  for (const p of processes) await p.stop().catch(() => {});
  await origin.close?.();
  rmSync(dir, { recursive: true, force: true });
};
process.on("SIGINT", () => cleanup().finally(() => process.exit(130)));

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
];
const wd = await startWorkerd(
  writeConfig(dir, warmWorkers, { extensions }),
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
};

// Probe every target once (this also warms jwt's token cache). A target that
// does not answer 200 + 1 KiB becomes an n/a row with the reason.
const unavailable = {};
for (const [k, t] of Object.entries(TARGETS)) {
  try {
    await client.ok(t);
  } catch (e) {
    const r = e.response;
    unavailable[k] =
      k === "rl" && r && r.status >= 400
        ? `n/a (needs rate_limit handler: ${r.status}${r.headers["x-portico-error"] ? ` ${r.headers["x-portico-error"]}` : ""})`
        : `n/a (${e.message})`;
    if (k !== "rl" && k !== "limited") {
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

// ---- warm rounds ----------------------------------------------------------------
const ORDER = ["passthrough", "s200", "newResponse", "static", "one", "tenk", "jwt", "limited", "rl"];
const cpu = Object.fromEntries(ORDER.map((k) => [k, []]));
const lat = { passthrough: [], s200: [] };
const t0 = performance.now();
for (let r = 0; r < ROUNDS; r++) {
  for (const k of ORDER) {
    if (unavailable[k]) continue;
    await runLoad(client, TARGETS[k], WARMUP, C, wd.cpuSeconds);
    cpu[k].push((await runLoad(client, TARGETS[k], N, C, wd.cpuSeconds)).cpuUs);
  }
  for (const k of ["passthrough", "s200"]) {
    await runLoad(client, TARGETS[k], WARMUP, LC, wd.cpuSeconds);
    lat[k].push(await runLoad(client, TARGETS[k], N, LC, wd.cpuSeconds, { latencies: true }));
  }
  if (VERBOSE) console.error(`round ${r + 1}/${ROUNDS}: ${ORDER.map((k) => `${k} ${Math.round(cpu[k][r] ?? NaN)}`).join(", ")}`);
}
const warmSecs = (performance.now() - t0) / 1000;
await wd.stop();

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
console.log(`workerd ${workerdVersion}; ${N} requests × ${ROUNDS} rounds per row, concurrency ${C}, warm-up ${WARMUP}; ${warmSecs.toFixed(0)} s`);
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
if (unavailable.rl) {
  console.log(`rate_limit: ${rlWhy ? `workerd logged: ${rlWhy.trim().slice(0, 300)}` : "BENCH_VERBOSE=1 shows workerd's log"}`);
  if (!unavailable.limited) {
    const r = median(ratios("limited", "passthrough"));
    console.log(`(the limiter binding itself works: JS passthrough + limit() ${us(median(cpu.limited))} µs, ${x2(r)} the passthrough)`);
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
