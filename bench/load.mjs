// Whole-request load benchmark against the local runtime (workerd via Miniflare):
// Portico (real Wasm build, host in D1 with 200 routes, cors → headers → http chain)
// versus a bare JavaScript passthrough worker, both proxying a 1 KiB response from
// a local origin. Prints requests/s and latency percentiles; no pass/fail.
//
//   npm run bench:load                  # defaults: 3000 requests, concurrency 16
//   BENCH_REQUESTS=10000 BENCH_CONCURRENCY=32 npm run bench:load
//
// Latency and throughput include Node's HTTP client and origin on the same 2-core
// machine, so compare the two rows with each other, not with production. The
// `cpu_us_per_req` column is workerd's own CPU time (utime+stime of the workerd
// processes, from /proc) divided by the requests: the load client and origin run
// in this Node process and are not in it. It includes Miniflare's routing entry
// worker, the same for both rows, which hides the ratio: DESIGN §9's figures come
// from `npm run bench` (bench/run.mjs, plain workerd serve).
import http from "node:http";
import { Miniflare } from "miniflare";
import { join } from "node:path";
import { readdirSync, readFileSync } from "node:fs";
import { execSync } from "node:child_process";
import { startOrigin } from "../dev/origin.mjs";
import { ROOT, splitSql } from "../tests/e2e/harness.mjs";

const N = Number(process.env.BENCH_REQUESTS ?? 3000);
const C = Number(process.env.BENCH_CONCURRENCY ?? 16);
const origin = await startOrigin({ port: 0 });

const passthrough = `export default { async fetch(req, env) {
  const u = new URL(req.url); const up = new URL(u.pathname + u.search, env.ORIGIN);
  return fetch(new Request(up, req));
} };`;

const mf = new Miniflare({
  workers: [
    {
      name: "portico",
      modules: true,
      scriptPath: join(ROOT, "build/index.js"),
      modulesRoot: join(ROOT, "build"),
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
      compatibilityDate: "2026-07-01",
      d1Databases: { DB: "bench-db" },
      bindings: { PORTICO_HOST_SOURCE: "d1", PORTICO_HOST_CACHE_FRESH_SECONDS: "3600" },
      routes: ["bench.portico.test/*"],
    },
    {
      name: "js-passthrough",
      modules: true,
      script: passthrough,
      compatibilityDate: "2026-07-01",
      bindings: { ORIGIN: origin.url },
      routes: ["bench.js.test/*"],
    },
  ],
});
const url = await mf.ready;
const db = await mf.getD1Database("DB", "portico");
for (const f of readdirSync(join(ROOT, "d1-migrations")).filter((f) => f.endsWith(".sql")).sort()) {
  await db.batch(splitSql(readFileSync(join(ROOT, "d1-migrations", f), "utf8")).map((s) => db.prepare(s)));
}
await db.prepare("INSERT INTO tenants (id, name) VALUES ('bench', 'Bench')").run();
await db.prepare("INSERT INTO domains (id, tenant_id, domain) VALUES ('dom_bench', 'bench', 'bench.portico.test')").run();
const stmts = [];
for (let i = 0; i < 199; i++) {
  stmts.push(db.prepare("INSERT INTO routes (id, tenant_id, priority, match_json, handlers_json) VALUES (?1, 'bench', ?2, ?3, ?4)")
    .bind(`r${i}`, i, JSON.stringify({ path: `/svc${i}/:id/*` }), JSON.stringify([{ type: "static", options: { body: "x" } }])));
}
stmts.push(db.prepare("INSERT INTO routes (id, tenant_id, priority, match_json, handlers_json) VALUES ('target', 'bench', 500, ?1, ?2)")
  .bind(JSON.stringify({ path: "/bytes" }), JSON.stringify([
    { type: "cors", options: { origins: ["*"] } },
    { type: "headers", options: { request: { "x-bench": "1" }, response: { "x-served-by": "portico" } } },
    { type: "http", options: { upstream_url: `${origin.url}/` } },
  ])));
await db.batch(stmts);

// workerd processes started by Miniflare (descendants of this process).
function descendants(root) {
  const kids = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(f[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push({ pid: Number(d), comm });
    } catch {}
  }
  const out = [];
  const walk = (p) => (kids.get(p) ?? []).forEach((c) => (out.push(c), walk(c.pid)));
  walk(root);
  return out;
}
const workerdPids = descendants(process.pid).filter((p) => p.comm.includes("workerd")).map((p) => p.pid);
const TICK = Number(execSync("getconf CLK_TCK").toString().trim()) || 100;
function workerdCpuSeconds() {
  let ticks = 0;
  for (const pid of workerdPids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks / TICK;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: C });
function one(host) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: "127.0.0.1", port: url.port, path: "/bytes?n=1024", agent, headers: { host, origin: "https://a.example" } }, (res) => {
      let n = 0;
      res.on("data", (c) => (n += c.length));
      res.on("end", () => (res.statusCode === 200 && n === 1024 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`${host}: ${res.statusCode} ${n}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

async function run(host, total) {
  const lat = [];
  let next = 0;
  const cpu0 = workerdCpuSeconds();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: C }, async () => {
    while (next < total) {
      next += 1;
      lat.push(await one(host));
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  const cpu = workerdCpuSeconds() - cpu0;
  lat.sort((a, b) => a - b);
  const p = (q) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))].toFixed(2);
  return { rps: (total / secs).toFixed(0), p50: p(0.5), p90: p(0.9), p99: p(0.99), cpu_us_per_req: workerdPids.length ? ((cpu * 1e6) / total).toFixed(0) : "n/a" };
}

const rows = {};
for (const [name, host] of [["js-passthrough", "bench.js.test"], ["portico", "bench.portico.test"]]) {
  await run(host, Math.min(300, N)); // warm-up: isolate, host cache, route table, connections
  rows[name] = await run(host, N);
}
console.log(`whole-request load: ${N} requests, concurrency ${C}, 1 KiB origin response, Portico host with 200 routes (cors → headers → http)`);
console.table(rows);
console.log(`workerd processes measured: ${workerdPids.join(", ") || "none found"}`);
console.log(`portico / js-passthrough: ${(rows.portico.cpu_us_per_req / rows["js-passthrough"].cpu_us_per_req).toFixed(2)}x workerd CPU per request, ${(rows["js-passthrough"].rps / rows.portico.rps).toFixed(2)}x throughput cost`);
agent.destroy();
await mf.dispose();
await origin.close?.();
process.exit(0);
