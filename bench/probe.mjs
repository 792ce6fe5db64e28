// Quick A/B probe (not `npm run bench`): several Portico builds or entry variants
// in one workerd beside the JS baselines, two scenarios (static route, 200-route
// proxy), interleaved rounds, medians of workerd CPU µs per request.
//   PROBE_BUILDS=name=dir,name2=dir2 [PROBE_ONLY=proxy|static] node bench/probe.mjs
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startOrigin } from "../dev/origin.mjs";
import { ROOT } from "../tests/e2e/harness.mjs";
import { stagePortico, startWorkerd, writeConfig } from "./lib/workerd.mjs";
import { makeClient, median, runLoad } from "./lib/load.mjs";
import { JS, s200Host } from "./lib/scenarios.mjs";

const N = Number(process.env.PROBE_REQUESTS ?? 2000);
const ROUNDS = Number(process.env.PROBE_ROUNDS ?? 5);
const builds = (process.env.PROBE_BUILDS ?? `head=${join(ROOT, "build")}`)
  .split(",")
  .map((s) => s.split("="))
  .map(([name, dir]) => ({ name, dir: resolve(dir) }));
const origin = await startOrigin({ port: 0 });
const dir = mkdtempSync(join(tmpdir(), "portico-probe-"));
const client = makeClient(16);
const doc = { hosts: { "s200.test": s200Host("bench", origin.url) } };
writeFileSync(join(dir, "doc.json"), JSON.stringify(doc));
for (const [name, src] of Object.entries(JS)) writeFileSync(join(dir, `${name}.js`), src);
const js = (id, bindings) => ({ id, name: id, modules: [`(name = "${id}.js", esModule = embed "${id}.js")`], bindings });
const workers = [js("passthrough", [{ name: "ORIGIN", text: origin.url }]), js("newResponse", [])];
for (const b of builds) {
  const staged = stagePortico(b.dir, dir, b.name);
  workers.push({
    name: b.name,
    modules: staged.modules,
    bindings: [
      { name: "PORTICO_HOST_SOURCE", text: "static" },
      { name: "PORTICO_STATIC_CONFIG", text: "doc.json", embed: true },
    ],
  });
}
const wd = await startWorkerd(writeConfig(dir, workers), workers.map((w) => w.name));
const hdr = { origin: "https://a.example" };
const targets = [
  ["passthrough", { port: wd.ports.passthrough, host: "js.test", path: "/bytes?n=1024", headers: hdr }],
  ["newResponse", { port: wd.ports.newResponse, host: "js.test", path: "/static", headers: hdr }],
  ...builds.flatMap((b) => [
    [`${b.name} proxy`, { port: wd.ports[b.name], host: "s200.test", path: "/bytes?n=1024", headers: hdr }],
    [`${b.name} static`, { port: wd.ports[b.name], host: "s200.test", path: "/static", headers: hdr }],
  ]),
];
// PROBE_ONLY=proxy|static keeps the Portico targets of one scenario (and its baseline).
const only = process.env.PROBE_ONLY;
if (only) {
  const keep = (k) => k === (only === "static" ? "newResponse" : "passthrough") || k.endsWith(` ${only}`);
  targets.splice(0, targets.length, ...targets.filter(([k]) => keep(k)));
}
const cpu = Object.fromEntries(targets.map(([k]) => [k, []]));
for (const [, t] of targets) await runLoad(client, t, 300, 16, wd.cpuSeconds);
for (let r = 0; r < ROUNDS; r++) {
  for (const [k, t] of targets) cpu[k].push((await runLoad(client, t, N, 16, wd.cpuSeconds)).cpuUs);
}
for (const [k] of targets) {
  const base = k.endsWith("static") || k === "newResponse" ? "newResponse" : "passthrough";
  const ratio = median(cpu[k].map((v, i) => v / cpu[base][i]));
  console.log(`${k.padEnd(24)} ${String(Math.round(median(cpu[k]))).padStart(5)} µs  ${ratio.toFixed(2)}x ${base}`);
}
await wd.stop();
client.destroy();
await origin.close?.();
rmSync(dir, { recursive: true, force: true });
