// Plain `workerd serve` for benchmarks: the workerd binary Miniflare ships (no
// Miniflare entry worker in front, DESIGN §9), a generated text config, ports
// reported on a control fd, and the process's CPU time read from /proc.
import { spawn, execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { ROOT } from "../../tests/e2e/harness.mjs";

export const WORKERD = join(ROOT, "node_modules/@cloudflare/workerd-linux-64/bin/workerd");
export const COMPAT_DATE = "2026-07-01";

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** JSON string escapes are valid Cap'n Proto text escapes. */
export const capnpString = (s) => JSON.stringify(s);

/**
 * Portico's modules from a build directory: `entry.mjs` is the main module when
 * the build has one (the lean JS entry imports ./index.js, which imports
 * ./index_bg.wasm), else `index.js`. The directory's other top-level .js/.mjs/.wasm
 * files are added too, so whatever the main module imports resolves
 * (worker-build's intermediate `worker/` folder is not part of the Worker).
 */
export function porticoModules(buildDir) {
  const files = readdirSync(buildDir)
    .filter((f) => /\.(m?js|wasm)$/.test(f) && statSync(join(buildDir, f)).isFile())
    .sort();
  const main = files.includes("entry.mjs") ? "entry.mjs" : "index.js";
  if (!files.includes(main)) throw new Error(`${buildDir}: no index.js (run scripts/build.sh)`);
  if (!files.includes("index_bg.wasm")) throw new Error(`${buildDir}: no index_bg.wasm (run scripts/build.sh)`);
  return { main, files: [main, ...files.filter((f) => f !== main)] };
}

/** Copies the build's modules into `dir/<sub>/` and returns their capnp module list. */
export function stagePortico(buildDir, dir, sub = "portico") {
  const { main, files } = porticoModules(buildDir);
  for (const f of files) {
    mkdirSync(dirname(join(dir, sub, f)), { recursive: true });
    copyFileSync(join(buildDir, f), join(dir, sub, f));
  }
  const modules = files.map((f) =>
    f.endsWith(".wasm")
      ? `(name = ${capnpString(f)}, wasm = embed ${capnpString(`${sub}/${f}`)})`
      : `(name = ${capnpString(f)}, esModule = embed ${capnpString(`${sub}/${f}`)})`,
  );
  return { main, modules };
}

/** One capnp binding: `{ name, text }`, `{ name, json }` or `{ name, raw }` (capnp body). */
function binding(b) {
  if (b.text !== undefined) return `(name = ${capnpString(b.name)}, text = ${b.embed ? `embed ${capnpString(b.text)}` : capnpString(b.text)})`;
  if (b.json !== undefined) return `(name = ${capnpString(b.name)}, json = ${capnpString(JSON.stringify(b.json))})`;
  return `(name = ${capnpString(b.name)}, ${b.raw})`;
}

/**
 * Writes `dir/<file>` (config.capnp) for `workers` ({ name, modules: [capnp module], bindings,
 * extra?: [capnp Worker fields] }) each on its own socket (127.0.0.1, port chosen by the
 * kernel), an `internet` network service for their fetches, and optional `extensions`
 * and further `services` (capnp text).
 */
export function writeConfig(dir, workers, { extensions = [], services: more = [], file = "config.capnp" } = {}) {
  const services = workers.map((w, i) => `    (name = ${capnpString(w.name)}, worker = .w${i}),`);
  const sockets = workers.map((w) => `    (name = ${capnpString(w.name)}, address = "127.0.0.1:0", http = (), service = ${capnpString(w.name)}),`);
  const defs = workers.map(
    (w, i) => `const w${i} :Workerd.Worker = (
  modules = [
    ${w.modules.join(",\n    ")}
  ],
  compatibilityDate = ${capnpString(COMPAT_DATE)},
  bindings = [
    ${(w.bindings ?? []).map(binding).join(",\n    ")}
  ],
${(w.extra ?? []).map((f) => `  ${f},\n`).join("")});`,
  );
  const ext = extensions.length ? `  extensions = [${extensions.join(", ")}],\n` : "";
  writeFileSync(
    join(dir, file),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
${services.join("\n")}
${more.map((m) => `    ${m},\n`).join("")}    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
${sockets.join("\n")}
  ],
${ext});
${defs.join("\n")}
`,
  );
  return join(dir, file);
}

/**
 * Starts `workerd serve config` and resolves once every socket listens:
 * { pid, ports: { [socketName]: port }, cpuSeconds(), stop(), stderrTail(), startedAt, listeningAt }.
 */
export async function startWorkerd(configPath, socketNames, { verbose = false, args = [] } = {}) {
  const startedAt = performance.now();
  const wd = spawn(WORKERD, ["serve", "--experimental", "--control-fd=3", ...args, configPath], {
    stdio: ["ignore", verbose ? "inherit" : "ignore", "pipe", "pipe"],
  });
  const tail = [];
  createInterface(wd.stderr).on("line", (l) => {
    if (verbose) console.error(`[workerd] ${l}`);
    tail.push(l);
    if (tail.length > 40) tail.shift();
  });
  const exited = new Promise((res) => wd.once("exit", (code, sig) => res({ code, sig })));
  const ports = {};
  const want = new Set(socketNames);
  const lines = createInterface(wd.stdio[3]);
  const ready = (async () => {
    for await (const line of lines) {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (msg.event === "listen" && want.has(msg.socket)) {
        ports[msg.socket] = msg.port;
        want.delete(msg.socket);
        if (want.size === 0) return;
      }
    }
    throw new Error(`workerd closed its control fd before listening on ${[...want].join(", ")}:\n${tail.join("\n")}`);
  })();
  const first = await Promise.race([ready.then(() => null), exited]);
  if (first) throw new Error(`workerd exited (${first.code ?? first.sig}) before listening:\n${tail.join("\n")}`);
  const listeningAt = performance.now();
  const cpuSeconds = () => {
    const stat = readFileSync(`/proc/${wd.pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime + stime, all threads
  };
  const stop = async () => {
    if (wd.exitCode === null && wd.signalCode === null) {
      wd.kill();
      await exited;
    }
  };
  return { pid: wd.pid, ports, cpuSeconds, stop, stderrTail: () => tail.join("\n"), startedAt, listeningAt };
}
