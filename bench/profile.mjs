// CPU profile of Portico under plain workerd (V8 inspector), to see where a warm
// request's time goes: self time by function, JS and Wasm alike (Wasm frames carry
// names only while the build keeps its `name` section; see PROFILE_BUILD).
//   node bench/profile.mjs [static|proxy|passthrough|newResponse|vault-ref|credentials|proxy-endpoint]
//   (node 22: node_modules/.bin/node). The vault-* ones run with D1 and KV from a
//   second workerd process and a connection seeded through the API, as in run.mjs.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startOrigin } from "../dev/origin.mjs";
import { ROOT } from "../tests/e2e/harness.mjs";
import { stagePortico, startWorkerd, writeConfig } from "./lib/workerd.mjs";
import { makeClient, runLoad } from "./lib/load.mjs";
import { JS, s200Host } from "./lib/scenarios.mjs";
import { startStorage } from "./lib/storage.mjs";
import { VAULT_HOSTS, VAULT_TENANT, seed, vaultDoc, vaultFixture } from "./lib/vault.mjs";

const which = process.argv[2] ?? "static";
const N = Number(process.env.PROFILE_REQUESTS ?? 5000);
const BUILD = resolve(process.env.PROFILE_BUILD ?? join(ROOT, "build"));
const PORT = 9300 + Math.floor(Math.random() * 500);
const origin = await startOrigin({ port: 0 });
const dir = mkdtempSync(join(tmpdir(), "portico-profile-"));
const doc = { hosts: { "s200.test": s200Host("bench", origin.url) } };
writeFileSync(join(dir, "doc.json"), JSON.stringify(doc));
const staged = stagePortico(BUILD, dir, "portico");
// `passthrough` / `newResponse`: the JS baselines, profiled the same way.
for (const [name, src] of Object.entries(JS)) writeFileSync(join(dir, `${name}.js`), src);
const baseline = which === "passthrough" || which === "newResponse";
const vault = ["vault-ref", "credentials", "proxy-endpoint"].includes(which);
let storage = null;
let vaultTarget = null;
let vaultWorkers = null;
if (vault) {
  const fx = vaultFixture();
  storage = await startStorage(dir);
  const w = (docFile) => ({
    name: "portico",
    modules: staged.modules,
    bindings: [
      { name: "PORTICO_HOST_SOURCE", text: "static" },
      { name: "PORTICO_STATIC_CONFIG", text: docFile, embed: true },
      ...fx.vars,
      ...storage.bindings,
    ],
  });
  writeFileSync(join(dir, "seed.json"), JSON.stringify(vaultDoc(origin.url, "unused")));
  const seeder = await startWorkerd(writeConfig(dir, [w("seed.json")], { services: storage.services, file: "seed.capnp" }), ["portico"]);
  const { connectionId } = await seed(seeder.ports.portico, origin.url, fx.adminToken);
  await seeder.stop();
  writeFileSync(join(dir, "vault.json"), JSON.stringify(vaultDoc(origin.url, connectionId)));
  vaultWorkers = [w("vault.json")];
  vaultTarget =
    which === "proxy-endpoint"
      ? {
          host: VAULT_HOSTS.api,
          path: `/api/v1/tenants/${VAULT_TENANT}/connections/${connectionId}/proxy/bytes?n=1024`,
          headers: { origin: "https://a.example", authorization: `Bearer ${fx.proxyToken}` },
        }
      : { host: which === "credentials" ? VAULT_HOSTS.cred : VAULT_HOSTS.ref, path: "/bytes?n=1024", headers: { origin: "https://a.example" } };
}
const workers = vault ? vaultWorkers : baseline
  ? [{ name: "portico", modules: [`(name = "${which}.js", esModule = embed "${which}.js")`], bindings: [{ name: "ORIGIN", text: origin.url }] }]
  : [
  {
    name: "portico",
    modules: staged.modules,
    bindings: [
      { name: "PORTICO_HOST_SOURCE", text: "static" },
      { name: "PORTICO_STATIC_CONFIG", text: "doc.json", embed: true },
    ],
  },
];
const wd = await startWorkerd(writeConfig(dir, workers, { services: storage?.services ?? [] }), ["portico"], {
  args: [`--inspector-addr=127.0.0.1:${PORT}`],
});
const client = makeClient(16);
const target = vaultTarget
  ? { port: wd.ports.portico, ...vaultTarget }
  : {
      port: wd.ports.portico,
      host: "s200.test",
      path: which === "static" || which === "newResponse" ? "/static" : "/bytes?n=1024",
      headers: { origin: "https://a.example" },
    };
await runLoad(client, target, 500, 16, wd.cpuSeconds);

const list = await (await fetch(`http://127.0.0.1:${PORT}/json/list`)).json();
const ws = new WebSocket(list[0].webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener("open", r, { once: true }));
let id = 0;
const pending = new Map();
ws.addEventListener("message", (e) => {
  const m = JSON.parse(e.data);
  if (m.id && pending.has(m.id)) pending.get(m.id)(m);
});
const call = (method, params = {}) =>
  new Promise((r) => {
    const i = ++id;
    pending.set(i, r);
    ws.send(JSON.stringify({ id: i, method, params }));
  });
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 50 });
await call("Profiler.start");
const load = await runLoad(client, target, N, 16, wd.cpuSeconds);
const { result } = await call("Profiler.stop");
ws.close();
const nodes = new Map(result.profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = result.profile.timeDeltas;
result.profile.samples.forEach((sid, i) => {
  const n = nodes.get(sid);
  const f = n.callFrame;
  const key = `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() : ""}:${f.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
console.log(`${which}: ${N} requests, workerd CPU ${load.cpuUs.toFixed(0)} µs/request; profiled JS-thread time by self time:`);
for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
  console.log(`${((v / total) * 100).toFixed(1).padStart(5)}%  ${(v / N).toFixed(1).padStart(6)} µs/req  ${k}`);
}
await wd.stop();
await storage?.stop();
client.destroy();
await origin.close?.();
rmSync(dir, { recursive: true, force: true });
