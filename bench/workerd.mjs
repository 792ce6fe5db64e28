// Whole-request benchmark under plain `workerd serve` (DESIGN §9): no Miniflare
// entry worker in front, so the ratio to a bare JavaScript passthrough is not
// hidden. One workerd process runs both workers; each row's figure is that
// process's CPU time (utime+stime from /proc) over the row's requests ÷ requests.
// Portico serves a host from the `static` source (200 routes, the target
// cors → headers → http to a 1 KiB origin on 127.0.0.1); warm path only.
//
//   node bench/workerd.mjs                       # this checkout's build/
//   BENCH_BUILD=/other/checkout/build node bench/workerd.mjs
//   BENCH_REQUESTS=5000 BENCH_CONCURRENCY=16 BENCH_ROUNDS=3 node bench/workerd.mjs
//
// Prints numbers only; timings never decide pass/fail.
import http from "node:http";
import net from "node:net";
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startOrigin } from "../dev/origin.mjs";
import { ROOT } from "../tests/e2e/harness.mjs";

const N = Number(process.env.BENCH_REQUESTS ?? 4000);
const C = Number(process.env.BENCH_CONCURRENCY ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BUILD = resolve(process.env.BENCH_BUILD ?? join(ROOT, "build"));
const WORKERD = join(ROOT, "node_modules/@cloudflare/workerd-linux-64/bin/workerd");

const freePort = () =>
  new Promise((res) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

const origin = await startOrigin({ port: 0 });
const routes = [];
for (let i = 0; i < 199; i++) {
  routes.push({ id: `r${i}`, priority: i, match: { path: `/svc${i}/:id/*` }, handlers: [{ type: "static", options: { body: "x" } }] });
}
routes.push({
  id: "target",
  priority: 500,
  match: { path: "/bytes" },
  handlers: [
    { type: "cors", options: { origins: ["*"] } },
    { type: "headers", options: { request: { "x-bench": "1" }, response: { "x-served-by": "portico" } } },
    { type: "http", options: { upstream_url: `${origin.url}/` } },
  ],
});
const staticDoc = JSON.stringify({ hosts: { "bench.portico.test": { tenant_id: "bench", routes } } });
const capnpString = (s) => JSON.stringify(s); // JSON string escapes are valid Cap'n Proto text escapes

const dir = mkdtempSync(join(tmpdir(), "portico-bench-"));
copyFileSync(join(BUILD, "index.js"), join(dir, "index.js"));
copyFileSync(join(BUILD, "index_bg.wasm"), join(dir, "index_bg.wasm"));
writeFileSync(
  join(dir, "passthrough.js"),
  `export default { async fetch(req, env) {
  const u = new URL(req.url); const up = new URL(u.pathname + u.search, env.ORIGIN);
  return fetch(new Request(up, req));
} };`,
);
const [pPort, jPort] = [await freePort(), await freePort()];
writeFileSync(
  join(dir, "config.capnp"),
  `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "portico", worker = .portico),
    (name = "js", worker = .js),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "p", address = "127.0.0.1:${pPort}", http = (), service = "portico"),
    (name = "j", address = "127.0.0.1:${jPort}", http = (), service = "js"),
  ],
);
const portico :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed "index.js"),
    (name = "index_bg.wasm", wasm = embed "index_bg.wasm"),
  ],
  compatibilityDate = "2026-07-01",
  bindings = [
    (name = "PORTICO_HOST_SOURCE", text = "static"),
    (name = "PORTICO_STATIC_CONFIG", text = ${capnpString(staticDoc)}),
  ],
);
const js :Workerd.Worker = (
  modules = [(name = "passthrough.js", esModule = embed "passthrough.js")],
  compatibilityDate = "2026-07-01",
  bindings = [(name = "ORIGIN", text = ${capnpString(origin.url)})],
);
`,
);

const wd = spawn(WORKERD, ["serve", join(dir, "config.capnp")], { stdio: ["ignore", "inherit", "inherit"] });
const cpuSeconds = () => {
  const stat = readFileSync(`/proc/${wd.pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
};

const agent = new http.Agent({ keepAlive: true, maxSockets: C });
const one = (port, host) =>
  new Promise((res, rej) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/bytes?n=1024", agent, headers: { host, origin: "https://a.example" } }, (r) => {
      let n = 0;
      r.on("data", (c) => (n += c.length));
      r.on("end", () => (r.statusCode === 200 && n === 1024 ? res() : rej(new Error(`${host}: ${r.statusCode} ${n}`))));
    });
    req.on("error", rej);
    req.end();
  });

async function run(port, host, total) {
  let next = 0;
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: C }, async () => {
    while (next < total) {
      next += 1;
      await one(port, host);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  return { rps: Math.round(total / secs), cpu_us_per_req: Math.round(((cpuSeconds() - cpu0) * 1e6) / total) };
}

try {
  for (let i = 0; i < 100; i++) {
    try {
      await one(jPort, "bench.js.test");
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const rows = [];
  for (let r = 0; r < ROUNDS; r++) {
    await run(jPort, "bench.js.test", 300);
    const js = await run(jPort, "bench.js.test", N);
    await run(pPort, "bench.portico.test", 300);
    const portico = await run(pPort, "bench.portico.test", N);
    rows.push({ js_cpu_us: js.cpu_us_per_req, portico_cpu_us: portico.cpu_us_per_req, ratio: +(portico.cpu_us_per_req / js.cpu_us_per_req).toFixed(2), js_rps: js.rps, portico_rps: portico.rps });
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`plain workerd serve: ${N} requests × ${ROUNDS} rounds, concurrency ${C}, build ${BUILD}`);
  console.table(rows);
  console.log(
    `median: js ${med(rows.map((r) => r.js_cpu_us))} µs, portico ${med(rows.map((r) => r.portico_cpu_us))} µs, ratio ${med(rows.map((r) => r.ratio))}x workerd CPU per request`,
  );
} finally {
  agent.destroy();
  wd.kill();
  await origin.close?.();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
