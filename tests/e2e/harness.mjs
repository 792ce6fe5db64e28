// End-to-end harness: the real Portico build (build/entry.mjs or build/index.js, with
// build/index_bg.wasm) in workerd via Miniflare's programmatic API, next to
//   - a real Node HTTP origin on 127.0.0.1 (dev/origin.mjs),
//   - the example service worker (service binding EXAMPLE_SERVICE),
//   - the dispatch-namespace emulator (service binding DISPATCHER) and two tenant workers,
//   - a "probe" worker with a service binding to Portico, for requests a real HTTP
//     client cannot send (no Host header, malformed Host values),
//   - local D1 (binding DB) with every migration in d1-migrations/ applied,
//   - a DNS-over-HTTPS stand-in on 127.0.0.1 (dev/doh.mjs) that PORTICO_DOH_URL
//     points at unless the bindings set it: publish a TXT record with
//     h.doh.publish(name, value) (domain verification).
//
// Usage in a test file:
//
//   import { useHarness } from "./harness.mjs";
//   const h = useHarness({ bindings: { PORTICO_DEBUG_HEADERS: "true" } });
//   test("...", async () => {
//     const { host } = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: [...] }] });
//     const res = await h.fetch("/x", { host });
//   });
//
// `useHarness` registers before/after hooks in the current suite (or file) and returns
// a proxy onto the running harness. `startHarness` is the same without hooks.
//
// Environment knobs (for a whole run):
//   PORTICO_E2E_SCRIPT=path/to/entry   another build's main module
//   PORTICO_E2E_VARS='{"K":"v"}'       vars forced onto every Portico worker
//   PORTICO_E2E_COMPAT_FLAGS=a,b       extra compatibility flags for every Portico worker
//   PORTICO_E2E_LOG=debug|verbose|info workerd and console output of the workers
import { after, before } from "node:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import http from "node:http";
import net from "node:net";
import crypto from "node:crypto";
import { Readable } from "node:stream";
import { Miniflare, Log, LogLevel } from "miniflare";
import { startOrigin, patternSha256, patternChunk } from "../../dev/origin.mjs";
import { startDoh } from "../../dev/doh.mjs";

export { patternSha256, patternChunk };

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const COMPAT_DATE = "2026-07-01";
export const DEFAULT_SCRIPTS = {
  "tenant-acme": "SCRIPT_ACME",
  "tenant-globex": "SCRIPT_GLOBEX",
  "host-globex.localhost": "SCRIPT_GLOBEX",
};

const PROBE_SCRIPT = `
// Sends one request to Portico through a service binding, exactly as described by
// the JSON body it receives. A real HTTP client always sends a well-formed Host; a
// service-binding fetch sends only the headers we give it.
export default {
  async fetch(request, env) {
    const spec = await request.json();
    const headers = new Headers();
    for (const [k, v] of spec.headers ?? []) headers.append(k, v);
    try {
      const res = await env.PORTICO.fetch(spec.url, {
        method: spec.method ?? "GET",
        headers,
        body: spec.body ?? undefined,
        redirect: "manual",
      });
      return new Response(res.body, res);
    } catch (e) {
      return new Response("probe: portico fetch threw: " + (e && e.stack || e), {
        status: 599,
        headers: { "x-probe-error": "1" },
      });
    }
  },
};
`;

/** Vars every Portico worker in the suite gets unless a test overrides them. */
export const DEV_DEFAULTS = { PORTICO_DEV_MODE: "true" };

/** The test key ring (docs/vault.md): one 32-byte key, `t1`. Rotation tests pass their own. */
export const TEST_VAULT_KEYS = JSON.stringify({
  active: "t1",
  keys: { t1: Buffer.from("portico-e2e-test-vault-key-00001").toString("base64") },
});

let uniqCounter = 0;
/** A short unique token for ids and host names (unique within this process). */
export function uniq(prefix = "t") {
  uniqCounter += 1;
  return `${prefix}${process.pid.toString(36)}${uniqCounter.toString(36)}`;
}

/** Split a SQL script into statements (quotes and comments respected). */
export function splitSql(sql) {
  const out = [];
  let cur = "";
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const n = sql[i + 1];
    if (c === "-" && n === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end + 1;
      cur += "\n";
      continue;
    }
    if (c === "/" && n === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
      cur += " ";
      continue;
    }
    if (c === "'" || c === '"' || c === "`") {
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) break;
        if (sql[j] === c) {
          if (sql[j + 1] === c) { j += 2; continue; }
          break;
        }
        j += 1;
      }
      cur += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === ";") {
      if (cur.trim()) out.push(cur.trim());
      cur = "";
      i += 1;
      continue;
    }
    cur += c;
    i += 1;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function buildHeaders(rawHeaders) {
  const h = new Headers();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    try {
      h.append(rawHeaders[i], rawHeaders[i + 1]);
    } catch {
      // a header value Headers refuses (should not happen with workerd); skip
    }
  }
  return h;
}

/**
 * Low-level HTTP request to host:port with full control over headers (Node's fetch
 * silently replaces Host). Resolves with the Node IncomingMessage once headers arrive.
 */
export function rawHttpRequest({ port, hostname = "127.0.0.1", path, method = "GET", headers = {}, body, setHost = true, timeoutMs = 120_000 }) {
  return new Promise((resolvePromise, reject) => {
    const req = http.request(
      { host: hostname, port, path, method, headers, setHost, agent: false },
      (res) => resolvePromise(res),
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    if (body === undefined || body === null) {
      req.end();
    } else if (typeof body === "string" || body instanceof Uint8Array) {
      req.end(body);
    } else if (body instanceof Readable) {
      body.on("error", (e) => req.destroy(e));
      body.pipe(req);
    } else if (typeof body[Symbol.asyncIterator] === "function") {
      Readable.from(body).pipe(req);
    } else {
      req.end(String(body));
    }
  });
}

/** Send a raw HTTP/1.1 message over a socket; resolves with the raw response text. */
export function rawSocketRequest(port, message, { timeoutMs = 5000 } = {}) {
  return new Promise((resolvePromise) => {
    const sock = net.connect(port, "127.0.0.1", () => sock.write(message));
    let data = "";
    const done = () => { clearTimeout(t); sock.destroy(); resolvePromise(data); };
    const t = setTimeout(done, timeoutMs);
    sock.on("data", (d) => {
      data += d.toString("latin1");
      // stop as soon as a full response with content-length has arrived
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(data);
      const headEnd = data.indexOf("\r\n\r\n");
      if (m && headEnd >= 0 && data.length >= headEnd + 4 + Number(m[1])) done();
    });
    sock.on("end", done);
    sock.on("error", done);
  });
}

/** Parse the status line of a raw HTTP response. */
export function rawStatus(text) {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}

export async function sha256OfStream(stream) {
  const h = crypto.createHash("sha256");
  let n = 0;
  for await (const chunk of stream) {
    n += chunk.length;
    h.update(chunk);
  }
  return { sha256: h.digest("hex"), bytes: n };
}

export function parseStats(res) {
  const raw = res.headers.get("x-portico-stats");
  if (raw === null) return null;
  const out = {};
  for (const part of raw.split(",")) {
    const [k, v] = part.split("=");
    if (k) out[k.trim()] = Number(v);
  }
  return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The build's main module: build/entry.mjs (a lean JS entry importing ./index.js) when
 * the build has one, else worker-build's build/index.js. PORTICO_E2E_SCRIPT points the
 * suite at another build (its directory is the modules root).
 */
export function porticoEntry() {
  if (process.env.PORTICO_E2E_SCRIPT) return resolve(process.env.PORTICO_E2E_SCRIPT);
  const entry = join(ROOT, "build/entry.mjs");
  return existsSync(entry) ? entry : join(ROOT, "build/index.js");
}

/**
 * PORTICO_E2E_VARS='{"PORTICO_FAST_PATH":"off"}': vars forced onto every Portico worker
 * of every test (they win over the test's own bindings), to re-run a suite with one
 * setting flipped.
 */
function forcedVarsFromEnv() {
  const raw = process.env.PORTICO_E2E_VARS;
  if (!raw) return {};
  let vars;
  try {
    vars = JSON.parse(raw);
  } catch (e) {
    throw new Error(`PORTICO_E2E_VARS is not JSON: ${e.message}`);
  }
  if (vars === null || typeof vars !== "object" || Array.isArray(vars)) {
    throw new Error("PORTICO_E2E_VARS must be a JSON object of vars");
  }
  for (const [k, v] of Object.entries(vars)) {
    if (typeof v !== "string") throw new Error(`PORTICO_E2E_VARS.${k} must be a string (vars are strings)`);
  }
  return vars;
}

/**
 * Start everything. Options:
 *   bindings            vars for the portico worker; an object or ({ origin, doh }) => object
 *                       (PORTICO_DOH_URL defaults to the DoH stand-in, h.doh)
 *   portico             override the worker under test: { script } (JS module source)
 *                       or { scriptPath, modulesRoot }; default is the Rust build.
 *   porticoOptions      extra Miniflare worker options merged into the portico worker
 *   dispatcherScripts   SCRIPTS table of the dispatcher emulator
 *   migrate             apply d1-migrations/ (default true)
 *   extraWorkers        more Miniflare worker options appended to `workers`; an array
 *                       or ({ origin, porticoWorker }) => array. `porticoWorker(name,
 *                       bindings, extra)` builds a second Portico from the same build
 *                       (e.g. a data-plane-only edge), with the same D1 and service
 *                       bindings unless `extra` overrides them. Reach it with
 *                       h.fetchWorker(name, url, init).
 *   onLog               ({ level, message, timestamp }) => void: every console line of
 *                       every worker (Miniflare's handleStructuredLogs; the lines are
 *                       then not printed, whatever PORTICO_E2E_LOG says)
 */
export async function startHarness(opts = {}) {
  const origin = await startOrigin({ port: 0 });
  const doh = await startDoh({ port: 0 });
  let mf;
  try {
    // Tests run as local development (PORTICO_DEV_MODE): the management API may run
    // without an issuer/audience. A test sets PORTICO_DEV_MODE itself to opt out.
    const bindings = {
      ...DEV_DEFAULTS,
      PORTICO_TENANT_BINDINGS: "EXAMPLE_SERVICE,DISPATCHER",
      PORTICO_TENANT_TARGET_EXCEPTIONS: "127.0.0.1",
      PORTICO_RATE_LIMITERS: "RL_STANDARD:60,RL_STRICT:10",
      PORTICO_VAULT_KEYS: TEST_VAULT_KEYS,
      ...(typeof opts.bindings === "function" ? opts.bindings({ origin, doh }) : (opts.bindings ?? {})),
    };
    bindings.PORTICO_DOH_URL ??= doh.dnsQueryUrl;

    let porticoCode;
    if (opts.portico?.script) {
      porticoCode = { modules: true, script: opts.portico.script };
    } else {
      const scriptPath = opts.portico?.scriptPath ?? porticoEntry();
      if (!existsSync(scriptPath)) {
        throw new Error(
          `${scriptPath} does not exist: build the worker first (npm run build / worker-build --release)`,
        );
      }
      // Miniflare follows the entry's imports (entry.mjs → index.js → index_bg.wasm, or
      // index.js → index_bg.wasm) and loads each file as its own module. An imported .js
      // is CommonJS by Miniflare's default rules; worker-build's output is ESM, as in
      // wrangler's rules.
      porticoCode = {
        modules: true,
        scriptPath,
        modulesRoot: opts.portico?.modulesRoot ?? dirname(scriptPath),
        modulesRules: [
          { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
          { type: "CompiledWasm", include: ["**/*.wasm"] },
        ],
      };
    }

    // PORTICO_E2E_COMPAT_FLAGS=a,b adds compatibility flags to every Portico worker.
    const compatFlags = process.env.PORTICO_E2E_COMPAT_FLAGS
      ? { compatibilityFlags: process.env.PORTICO_E2E_COMPAT_FLAGS.split(",").map((f) => f.trim()).filter(Boolean) }
      : {};
    const forcedVars = forcedVarsFromEnv();
    /** A worker running the Portico build under test, with its own vars. */
    const porticoWorker = (name, workerBindings = {}, extra = {}) => ({
      name,
      ...porticoCode,
      compatibilityDate: COMPAT_DATE,
      d1Databases: { DB: "portico-db" },
      kvNamespaces: { VAULT: "portico-vault" },
      // OAuth2 token keepers (docs/oauth.md): the class lives in the Rust build, once,
      // in the worker named "portico"; other Portico workers share its objects.
      ...(opts.portico?.script
        ? {}
        : {
            durableObjects: {
              CONNECTION_TOKENS: {
                className: "ConnectionTokens",
                useSQLite: true,
                ...(name === "portico" ? {} : { scriptName: "portico" }),
              },
            },
          }),
      serviceBindings: {
        EXAMPLE_SERVICE: "portico-example-service",
        DISPATCHER: "portico-dispatcher-emulator",
      },
      bindings: { ...DEV_DEFAULTS, ...workerBindings, ...forcedVars },
      // The rate limiters of wrangler.toml (extra.ratelimits replaces them).
      ratelimits: {
        RL_STANDARD: { namespace_id: "1001", simple: { limit: 100, period: 60 } },
        RL_STRICT: { namespace_id: "1002", simple: { limit: 10, period: 10 } },
      },
      ...compatFlags,
      ...extra,
    });
    const extraWorkers = typeof opts.extraWorkers === "function" ? opts.extraWorkers({ origin, porticoWorker }) : (opts.extraWorkers ?? []);

    const w = (name, dir, extra = {}) => ({
      name,
      modules: true,
      scriptPath: join(ROOT, "dev/workers", dir, "index.js"),
      modulesRoot: join(ROOT, "dev/workers", dir), // module names must not depend on the cwd
      compatibilityDate: COMPAT_DATE,
      ...extra,
    });

    // PORTICO_E2E_LOG=debug|verbose|info shows workerd/console output of the workers.
    const logLevel = process.env.PORTICO_E2E_LOG ? LogLevel[process.env.PORTICO_E2E_LOG.toUpperCase()] : undefined;
    mf = new Miniflare({
      ...(logLevel !== undefined ? { log: new Log(logLevel) } : {}),
      ...(opts.onLog ? { handleStructuredLogs: (entry) => { opts.onLog(entry); } } : {}),
      workers: [
        porticoWorker("portico", bindings, opts.porticoOptions),
        w("portico-example-service", "example-service"),
        w("portico-dispatcher-emulator", "dispatcher", {
          bindings: { SCRIPTS: JSON.stringify(opts.dispatcherScripts ?? DEFAULT_SCRIPTS) },
          serviceBindings: { SCRIPT_ACME: "portico-tenant-acme", SCRIPT_GLOBEX: "portico-tenant-globex" },
        }),
        w("portico-tenant-acme", "tenant-acme"),
        w("portico-tenant-globex", "tenant-globex"),
        {
          name: "portico-probe",
          modules: true,
          script: PROBE_SCRIPT,
          compatibilityDate: COMPAT_DATE,
          serviceBindings: { PORTICO: "portico" },
        },
        ...extraWorkers,
      ],
    });
    const url = await mf.ready;
    const db = await mf.getD1Database("DB", "portico");

    // Not D1's db.exec(): it takes one statement per line, and the migrations have
    // multi-line statements; prepared statements in one batch also apply atomically.
    const exec = async (sql) => {
      const stmts = splitSql(sql);
      if (stmts.length) await db.batch(stmts.map((s) => db.prepare(s)));
    };
    if (opts.migrate !== false) {
      const dir = join(ROOT, "d1-migrations");
      for (const f of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
        await exec(readFileSync(join(dir, f), "utf8"));
      }
    }

    const h = {
      mf,
      origin,
      doh,
      url,
      port: Number(url.port),
      db,
      exec,
      uniq,

      async addTenant(id, name = id) {
        await db.prepare("INSERT OR IGNORE INTO tenants (id, name) VALUES (?1, ?2)").bind(id, name).run();
        return id;
      },
      /** Inserts a domain row straight into D1 (active unless `status` says otherwise). */
      async addDomain({ id = uniq("dom_"), tenant_id, domain, status = "active", verification_token = null }) {
        await db
          .prepare("INSERT INTO domains (id, tenant_id, domain, status, verification_token) VALUES (?1, ?2, ?3, ?4, ?5)")
          .bind(id, tenant_id, domain, status, verification_token)
          .run();
        return id;
      },
      async addRoute(route) {
        const [id] = await h.addRoutes([route]);
        return id;
      },
      /** Insert several routes in one D1 batch; returns their ids. */
      async addRoutes(routes) {
        const ids = [];
        const stmts = routes.map(({ id = uniq("rt_"), tenant_id, custom_domain_id = null, priority = 100, match = {}, handlers, created_at }) => {
          ids.push(id);
          const m = typeof match === "string" ? match : JSON.stringify(match);
          const hs = typeof handlers === "string" ? handlers : JSON.stringify(handlers);
          return created_at
            ? db
                .prepare("INSERT INTO routes (id, tenant_id, custom_domain_id, priority, match_json, handlers_json, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)")
                .bind(id, tenant_id, custom_domain_id, priority, m, hs, created_at)
            : db
                .prepare("INSERT INTO routes (id, tenant_id, custom_domain_id, priority, match_json, handlers_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .bind(id, tenant_id, custom_domain_id, priority, m, hs);
        });
        if (stmts.length) await db.batch(stmts);
        return ids;
      },
      /**
       * Tenant + one domain + routes scoped to that domain, in one call.
       * Returns { host, tenant_id, domain_id, routeIds }.
       */
      async addHost({ host = `${uniq("h")}.test`, tenant_id = uniq("tn"), domain_scoped = true, routes = [] } = {}) {
        await h.addTenant(tenant_id);
        const domain_id = await h.addDomain({ tenant_id, domain: host });
        const routeIds = await h.addRoutes(routes.map((r) => ({ tenant_id, custom_domain_id: domain_scoped ? domain_id : null, ...r })));
        return { host, tenant_id, domain_id, routeIds };
      },

      /**
       * Request to Portico over real HTTP with the given Host header. `url` is a path
       * ("/x?y") or an absolute URL whose host is used when `host` is not given.
       * Returns a WHATWG Response (body streamed).
       */
      async fetch(target, init = {}) {
        const res = await h.request(target, init);
        const headers = buildHeaders(res.rawHeaders);
        const method = (init.method ?? "GET").toUpperCase();
        const nullBody = method === "HEAD" || [101, 204, 205, 304].includes(res.statusCode);
        if (nullBody) res.resume();
        const out = new Response(nullBody ? null : Readable.toWeb(res), {
          status: res.statusCode,
          statusText: res.statusMessage,
          headers,
        });
        return out;
      },
      /**
       * A management API call: `path` below /api/v1 on control-plane `host`, a Bearer
       * `token` if given, `body` sent as JSON. Resolves with the Response.
       */
      apiRequest(method, path, { host, token, body, headers = {} } = {}) {
        const all = { ...headers };
        if (token) all.authorization = `Bearer ${token}`;
        if (body !== undefined) all["content-type"] = "application/json";
        return h.fetch(`/api/v1${path}`, {
          host,
          method,
          headers: all,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      },
      /** apiRequest, read: { status, headers, text, data (null unless JSON), stats }. */
      async api(method, path, options = {}) {
        const res = await h.apiRequest(method, path, options);
        const text = await res.text();
        let data = null;
        try {
          data = text ? JSON.parse(text) : null;
        } catch {
          // not JSON: data stays null and the status assertion shows the text
        }
        return { status: res.status, headers: res.headers, text, data, stats: parseStats(res) };
      },
      /** Same as fetch, but resolves with Node's IncomingMessage (for big bodies). */
      request(target, init = {}) {
        let path = target;
        let host = init.host;
        if (/^https?:\/\//i.test(target)) {
          const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(target);
          host ??= m[1];
          path = m[2] || "/";
        }
        const headers = {};
        if (init.headers) {
          const entries = init.headers instanceof Headers || Array.isArray(init.headers)
            ? [...init.headers]
            : Object.entries(init.headers);
          for (const [k, v] of entries) {
            if (headers[k] !== undefined) headers[k] = [].concat(headers[k], v);
            else headers[k] = v;
          }
        }
        if (host !== undefined && host !== null) headers.host = host;
        return rawHttpRequest({
          port: h.port,
          path,
          method: init.method ?? "GET",
          headers,
          body: init.body,
          setHost: host !== null,
          timeoutMs: init.timeoutMs,
        });
      },
      /**
       * Request to Portico through a service binding from the probe worker. Only the
       * headers given are sent (no automatic Host). `headers` is an object or list of
       * pairs.
       */
      async probe(target, { method = "GET", headers = [], body } = {}) {
        const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
        const probe = await mf.getWorker("portico-probe");
        const res = await probe.fetch("http://probe.internal/", {
          method: "POST",
          body: JSON.stringify({ url: target, method, headers: pairs, body }),
        });
        return res;
      },
      /** Builds Portico worker options from the same build (see startHarness's extraWorkers). */
      porticoWorker,
      /**
       * Request to a named worker (e.g. one from extraWorkers) over real HTTP, like
       * h.fetch: same `target`/`init` ({ host, method, headers, body }), Host header
       * preserved. Miniflare's entry routes it by its MF-Route-Override header
       * (mf.getWorker(name).fetch would replace Host with 127.0.0.1:<port>).
       */
      fetchWorker(name, target, init = {}) {
        const headers = init.headers instanceof Headers || Array.isArray(init.headers)
          ? [...init.headers]
          : Object.entries(init.headers ?? {});
        return h.fetch(target, { ...init, headers: [...headers, ["MF-Route-Override", name]] });
      },
      /** Raw bytes over a socket to Portico's HTTP port. */
      raw(message, o) {
        return rawSocketRequest(h.port, message, o);
      },

      async dispose() {
        await Promise.allSettled([mf.dispose(), origin.close(), doh.close()]);
      },
    };
    return h;
  } catch (e) {
    await Promise.allSettled([mf?.dispose(), origin.close(), doh.close()]);
    throw e;
  }
}

/**
 * Register before/after hooks in the current suite (or file): `start()` before, and
 * `stop(value)` after. Returns a getter for the started value.
 */
export function useStarted(start, stop) {
  let current = null;
  let starting = null;
  before(async () => {
    starting = start();
    current = await starting;
  });
  after(async () => {
    // With --test-name-pattern matching nothing in a file, node 22 runs the file's
    // `after` without waiting for its `before`: wait here, or a server (or workerd)
    // outlives the run and node never exits.
    const v = current ?? (await starting?.catch(() => null));
    current = null;
    starting = null;
    if (v) await stop(v);
  });
  return () => current;
}

/**
 * Register before/after hooks in the current suite and return a proxy that forwards
 * to the harness once it has started.
 */
export function useHarness(opts = {}) {
  const get = useStarted(() => startHarness(opts), (h) => h.dispose());
  return new Proxy(
    {},
    {
      get(_t, prop) {
        if (prop === "then") return undefined;
        const current = get();
        if (!current) throw new Error(`harness not started (reading ${String(prop)})`);
        const v = current[prop];
        return typeof v === "function" ? v.bind(current) : v;
      },
    },
  );
}

/** Read a response body as JSON, with the text in the error when it is not JSON. */
export async function json(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`expected JSON, got ${res.status}: ${text.slice(0, 500)}`);
  }
}

/** Assert helper: a Portico error response. */
export async function expectError(assert, res, status, code, body) {
  const text = await res.text();
  assert.equal(res.status, status, `status (body: ${text.slice(0, 200)}, code: ${res.headers.get("x-portico-error")})`);
  if (code !== undefined) assert.equal(res.headers.get("x-portico-error"), code, `x-portico-error (body: ${text.slice(0, 200)})`);
  if (body !== undefined) assert.equal(text.trim(), body);
  return text;
}

const assertEqual = (a, b, msg) => {
  if (a !== b) throw new Error(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
};
const assertOk = (v, msg) => {
  if (!v) throw new Error(msg);
};

/**
 * The proof that an attack did not crash the shared isolate (needs
 * PORTICO_DEBUG_HEADERS=true):
 * runs `attack` while a slow request runs on another (witness) host, then proves
 * the isolate survived: the slow request finished normally and the witness host is
 * still answered from isolate memory with counters that did not go back.
 */
export async function survives(h, attack) {
  const { host } = await h.addHost({
    routes: [{ match: { path: "/*" }, handlers: [{ type: "http", options: { upstream_url: `${h.origin.url}/` } }] }],
  });
  const warm = await h.fetch("/warm", { host });
  await warm.text();
  const warm2 = await h.fetch("/warm2", { host });
  await warm2.text();
  assertEqual(warm2.headers.get("x-portico-host-cache"), "memory", "witness warm");
  const before = parseStats(warm2);
  const slow = h.fetch("/slow?ms=1500", { host });
  const result = await attack();
  const slowRes = await slow;
  assertEqual(slowRes.status, 200, "the slow request beside the attack finished normally");
  assertEqual((await json(slowRes)).origin, "demo-origin");
  const after = await h.fetch("/after", { host });
  await after.text();
  assertEqual(after.headers.get("x-portico-host-cache"), "memory", "isolate memory survived");
  const a = parseStats(after);
  for (const k of Object.keys(before)) assertOk(a[k] >= before[k], `counter ${k} did not reset (${before[k]} → ${a[k]})`);
  return result;
}

