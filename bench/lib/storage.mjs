// D1 and KV for the vault rows under plain `workerd serve`, which has neither.
//
// Portico's side of each binding is workerd's own client, as in production: `DB`
// is the `cloudflare-internal:d1-api` wrapped binding (the module Miniflare and
// production use) over a `fetcher`, `VAULT` a native `kvNamespace` binding. Both
// speak HTTP (through a relay in the bench's node process, see relay()) to services
// in a *second* workerd process (the "storage process"):
// a Durable Object with SQLite storage that executes D1's /query and /execute
// (real SQL, the migrations applied at start, a batch is one transaction) and a
// KV service over an in-memory Map. So the measured process pays what a Worker
// pays for a D1 or KV call (building the request, JSON, the round trip) and not
// the database's work, which production runs elsewhere too; the storage process's
// CPU is reported on its own.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { ROOT, splitSql } from "../../tests/e2e/harness.mjs";
import { capnpString, startWorkerd, writeConfig } from "./workerd.mjs";

/**
 * D1's HTTP protocol (what `cloudflare-internal:d1-api` sends its fetcher): POST
 * /query or /execute, body `{sql, params}` or an array of them (a batch: one
 * transaction), `?resultsFormat=ROWS_AND_COLUMNS|ARRAY_OF_OBJECTS|NONE`; the answer
 * is an array of `{success, results, meta: {changes, last_row_id, ...}}`, or
 * `{success: false, error}` (the client throws `D1_ERROR: <error>`).
 */
export const D1_MODULE = `import { DurableObject } from "cloudflare:workers";
const bytes = (v) => (Array.isArray(v) ? new Uint8Array(v) : typeof v === "boolean" ? Number(v) : v);
const cell = (v) => (v instanceof ArrayBuffer ? Array.from(new Uint8Array(v)) : v);
// Statements run so far, by their first 200 characters (module scope: workerd may
// evict an idle object, the isolate stays).
const counts = new Map();
export class D1Object extends DurableObject {
  #total = null;
  stats() {
    return Object.fromEntries(counts);
  }
  #one(format, q) {
    const sql = this.ctx.storage.sql;
    const t0 = performance.now();
    this.#total ??= Number(sql.exec("SELECT total_changes() AS c").one().c);
    const cursor = sql.exec(q.sql, ...(q.params ?? []).map(bytes));
    const columns = cursor.columnNames;
    const rows = [...cursor.raw()].map((r) => r.map(cell));
    const after = sql.exec("SELECT total_changes() AS c, last_insert_rowid() AS id").one();
    const changes = Number(after.c) - this.#total;
    this.#total = Number(after.c);
    const meta = {
      served_by: "portico-bench-d1",
      duration: performance.now() - t0,
      changes,
      last_row_id: Number(after.id),
      changed_db: changes !== 0,
      rows_read: cursor.rowsRead,
      rows_written: cursor.rowsWritten,
    };
    if (format === "NONE") return { success: true, meta };
    const results =
      format === "ROWS_AND_COLUMNS" ? { columns, rows } : rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])));
    return { success: true, results, meta };
  }
  /** One /query or /execute call (JSON text in, JSON text out). */
  run(format, text) {
    try {
      const body = JSON.parse(text);
      const queries = (Array.isArray(body) ? body : [body]).filter((q) => q.sql.replace(/^\\s*--.*$/gm, "").trim() !== "");
      if (!queries.length) throw new Error("No SQL statements detected.");
      for (const q of queries) {
        const k = q.sql.replace(/\\s+/g, " ").trim().slice(0, 200);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      return JSON.stringify(this.ctx.storage.transactionSync(() => queries.map((q) => this.#one(format, q))));
    } catch (e) {
      return JSON.stringify({ success: false, error: String(e?.message ?? e) });
    }
  }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const db = env.OBJ.get(env.OBJ.idFromName("portico-bench"));
    if (url.pathname === "/__stats") return Response.json(await db.stats());
    if (req.method !== "POST" || (url.pathname !== "/query" && url.pathname !== "/execute")) {
      return new Response("not found", { status: 404 });
    }
    const format = url.searchParams.get("resultsFormat") ?? "ARRAY_OF_OBJECTS";
    const out = await db.run(format, await req.text());
    return new Response(out, { headers: { "content-type": "application/json" } });
  },
};
`;

/**
 * KV's HTTP protocol (what workerd's native `kvNamespace` binding sends): GET, PUT,
 * DELETE on `/<encodeURIComponent(key)>?urlencoded=true` with the metadata as JSON
 * in `CF-KV-Metadata` (404: no such key), GET `/` lists. Values live in this
 * isolate's Map (the storage process lives as long as the run).
 */
export const KV_MODULE = `const store = new Map();
let gets = 0, puts = 0, deletes = 0;
export default {
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/__stats") return Response.json({ keys: store.size, gets, puts, deletes });
    if (url.pathname === "/" && req.method === "GET") {
      const prefix = url.searchParams.get("prefix") ?? "";
      const keys = [...store.keys()].filter((k) => k.startsWith(prefix)).sort().map((name) => {
        const m = store.get(name).metadata;
        return m === null ? { name } : { name, metadata: m };
      });
      return Response.json({ keys, list_complete: true, cacheStatus: null });
    }
    const raw = url.pathname.slice(1);
    const key = url.searchParams.get("urlencoded") === "true" ? decodeURIComponent(raw) : raw;
    if (req.method === "GET") {
      gets++;
      const e = store.get(key);
      if (!e) return new Response("Not Found", { status: 404 });
      return new Response(e.value, e.metadata === null ? {} : { headers: { "CF-KV-Metadata": e.metadata } });
    }
    if (req.method === "PUT") {
      puts++;
      store.set(key, { value: await req.arrayBuffer(), metadata: req.headers.get("CF-KV-Metadata") });
      return new Response(null);
    }
    if (req.method === "DELETE") {
      deletes++;
      store.delete(key);
      return new Response(null);
    }
    return new Response("method not allowed", { status: 405 });
  },
};
`;

/**
 * An HTTP relay on 127.0.0.1 in this Node process, in front of the storage process.
 * workerd's HTTP server closes a keep-alive connection after 5 s idle, and its
 * client keeps idle ones for as long: a call reusing a connection at ~5 s (Portico
 * reopens a connection every PORTICO_CONNECTION_CACHE_SECONDS = 5) races the close
 * and fails with "Network connection lost" (an artefact: real D1 and KV are not
 * reached that way). This relay never closes idle connections, keeps its own
 * upstream ones for 2 s at most, and retries a request whose reused upstream
 * connection was closed under it.
 */
async function relay(target) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 2000 });
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const send = (attempt) => {
        const up = http.request({ host: "127.0.0.1", port: target, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
          // Whole, in one write (as a database's answer would come), not chunk by chunk.
          const parts = [];
          r.on("data", (c) => parts.push(c));
          r.on("end", () => {
            const out = Buffer.concat(parts);
            const headers = { ...r.headers, "content-length": out.length };
            delete headers["transfer-encoding"];
            res.writeHead(r.statusCode, headers);
            res.end(out);
          });
        });
        up.on("error", (e) => {
          if (up.reusedSocket && attempt < 3) return send(attempt + 1);
          res.writeHead(502, { "content-type": "text/plain" });
          res.end(`relay: ${e.message}`);
        });
        up.end(body);
      };
      send(0);
    });
  });
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    close: () => {
      server.closeAllConnections?.();
      agent.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Node-side HTTP to the storage process (seeding checks, migrations). */
function post(port, path, body) {
  return new Promise((res, rej) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(
      { host: "127.0.0.1", port, path, method: "POST", headers: { "content-type": "application/json", "content-length": data.length } },
      (r) => {
        let s = "";
        r.setEncoding("utf8");
        r.on("data", (c) => (s += c));
        r.on("end", () => {
          try {
            res(JSON.parse(s));
          } catch {
            rej(new Error(`${path}: ${r.statusCode} ${s.slice(0, 200)}`));
          }
        });
      },
    );
    req.on("error", rej);
    req.end(data);
  });
}
function get(port, path) {
  return new Promise((res, rej) => {
    http
      .get({ host: "127.0.0.1", port, path }, (r) => {
        let s = "";
        r.setEncoding("utf8");
        r.on("data", (c) => (s += c));
        r.on("end", () => res(JSON.parse(s)));
      })
      .on("error", rej);
  });
}

/**
 * Starts the storage process and applies d1-migrations/*.sql. Returns { services
 * (capnp service entries for the measured process's config), bindings (DB and
 * VAULT, for a worker there), query(sql, ...params) → rows, kvStats(), d1Stats(),
 * cpuSeconds, stop, pid, dbDir }.
 */
export async function startStorage(dir, { verbose = false } = {}) {
  writeFileSync(join(dir, "bench-d1.js"), D1_MODULE);
  writeFileSync(join(dir, "bench-kv.js"), KV_MODULE);
  const workers = [
    {
      name: "bench_d1",
      modules: [`(name = "bench-d1.js", esModule = embed "bench-d1.js")`],
      bindings: [{ name: "OBJ", raw: `durableObjectNamespace = "D1Object"` }],
      extra: [
        `durableObjectNamespaces = [(className = "D1Object", uniqueKey = "portico-bench-d1", enableSql = true)]`,
        // SQLite-backed objects need a disk (inMemory storage has no SQL): the run's temp dir.
        `durableObjectStorage = (localDisk = "bench_do_disk")`,
      ],
    },
    { name: "bench_kv", modules: [`(name = "bench-kv.js", esModule = embed "bench-kv.js")`], bindings: [] },
  ];
  // On tmpfs when there is one: a commit's fsync is then no disk wait.
  const dbDir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : dir, "portico-bench-d1-"));
  const disk = `(name = "bench_do_disk", disk = (path = ${capnpString(dbDir)}, writable = true))`;
  const cfg = writeConfig(dir, workers, { file: "storage.capnp", services: [disk] });
  let p;
  try {
    p = await startWorkerd(cfg, ["bench_d1", "bench_kv"], { verbose });
  } catch (e) {
    rmSync(dbDir, { recursive: true, force: true });
    throw e;
  }
  const d1Port = p.ports.bench_d1;
  const kvPort = p.ports.bench_kv;
  const query = async (sql, ...params) => {
    const r = await post(d1Port, "/query?resultsFormat=ARRAY_OF_OBJECTS", { sql, params });
    const first = Array.isArray(r) ? r[0] : r;
    if (!first.success) throw new Error(`D1: ${first.error}: ${sql}`);
    return first.results;
  };
  const migrations = join(ROOT, "d1-migrations");
  for (const f of readdirSync(migrations).filter((f) => f.endsWith(".sql")).sort()) {
    const stmts = splitSql(readFileSync(join(migrations, f), "utf8"));
    const r = await post(d1Port, "/execute?resultsFormat=NONE", stmts.map((sql) => ({ sql, params: [] })));
    const bad = Array.isArray(r) ? r.find((x) => !x.success) : r.success ? null : r;
    if (bad) {
      await p.stop();
      rmSync(dbDir, { recursive: true, force: true });
      throw new Error(`migration ${f}: ${bad.error}`);
    }
  }
  const relays = [await relay(d1Port), await relay(kvPort)];
  return {
    pid: p.pid,
    dbDir,
    services: [
      `(name = "bench_d1", external = (address = "127.0.0.1:${relays[0].port}", http = ()))`,
      `(name = "bench_kv", external = (address = "127.0.0.1:${relays[1].port}", http = ()))`,
    ],
    bindings: [
      {
        name: "DB",
        raw: `wrapped = (moduleName = ${capnpString("cloudflare-internal:d1-api")}, innerBindings = [(name = "fetcher", service = "bench_d1")])`,
      },
      { name: "VAULT", raw: `kvNamespace = "bench_kv"` },
    ],
    query,
    kvStats: () => get(kvPort, "/__stats"),
    /** Statements D1 ran, by their first 200 characters. */
    d1Stats: () => get(d1Port, "/__stats"),
    cpuSeconds: p.cpuSeconds,
    stop: async () => {
      for (const r of relays) await r.close();
      await p.stop();
      rmSync(dbDir, { recursive: true, force: true });
    },
    stderrTail: p.stderrTail,
  };
}
