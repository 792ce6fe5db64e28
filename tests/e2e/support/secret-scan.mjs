// Secret scan for the vault suite: credentials must never appear in any response
// (body or header), any log line of the workers, a D1 row or a KV value in the clear.
//
//   const scan = new SecretScan();
//   const h = useHarness({ onLog: scan.onLog, ... });   // worker console output
//   const call = scan.client(h);                         // fetch/api that record
//   scan.addSecret("sk_live_...");                        // every credential a test writes
//   ... tests, all requests through `call` ...
//   after: scan.assertClean() (also scans D1 with scan.scanD1(h.db))
//
// Logs come from Miniflare's `handleStructuredLogs` (workerd's structured logs: every
// console.log/warn/error of every worker, workers-rs console_* included). The
// positive control (`logControl`) makes Portico log a marker of our choosing through
// an error path and proves the scan saw it, so a scan that silently sees nothing
// cannot pass.
import assert from "node:assert/strict";

/** Spellings under which a secret could leak: as is, URL-encoded, base64(url), JSON-escaped. */
export function variants(secret) {
  const out = new Set([secret]);
  out.add(encodeURIComponent(secret));
  out.add(Buffer.from(secret).toString("base64"));
  out.add(Buffer.from(secret).toString("base64url"));
  out.add(JSON.stringify(secret).slice(1, -1));
  return [...out].filter((v) => v.length >= 8);
}

function headerLines(headers) {
  if (!headers) return "";
  const lines = [];
  if (typeof headers.forEach === "function" && !Array.isArray(headers)) {
    headers.forEach((v, k) => lines.push(`${k}: ${v}`));
    if (typeof headers.getSetCookie === "function") for (const c of headers.getSetCookie()) lines.push(`set-cookie: ${c}`);
  } else {
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  }
  return lines.join("\n");
}

export class SecretScan {
  constructor() {
    /** { secret, note } */
    this.secrets = [];
    /** { where, label, text } */
    this.seen = [];
    /** { level, message, timestamp } */
    this.logs = [];
    this.onLog = (entry) => {
      this.logs.push({ level: entry.level, message: String(entry.message), timestamp: entry.timestamp });
    };
  }

  /** Registers a credential (and its encodings) that must never be seen. Returns it. */
  addSecret(secret, note = "") {
    assert.ok(typeof secret === "string" && secret.length >= 8, "secrets must be distinctive (>= 8 chars)");
    this.secrets.push({ secret, note });
    return secret;
  }

  /** Records one response (or anything else seen): headers and body text. */
  record(label, { status, headers, body } = {}) {
    this.seen.push({ where: "response", label, text: `${status ?? ""}\n${headerLines(headers)}\n\n${body ?? ""}` });
  }

  /** Records arbitrary text (a D1 dump, a KV listing, a recorded origin response). */
  recordText(where, label, text) {
    this.seen.push({ where, label, text: String(text) });
  }

  /** Every (secret variant, place) hit so far. */
  findings() {
    const hits = [];
    const places = [
      ...this.seen,
      ...this.logs.map((l) => ({ where: "log", label: l.level, text: l.message })),
    ];
    for (const { secret, note } of this.secrets) {
      const vs = variants(secret);
      for (const p of places) {
        for (const v of vs) {
          if (p.text.includes(v)) {
            hits.push({ secret: note || `${secret.slice(0, 6)}…`, variant: v === secret ? "raw" : "encoded", where: p.where, label: p.label });
            break;
          }
        }
      }
    }
    return hits;
  }

  /** Fails with every place a secret showed up. */
  assertClean(what = "suite") {
    const hits = this.findings();
    assert.deepEqual(hits, [], `${what}: credentials leaked: ${JSON.stringify(hits.slice(0, 10))}`);
    assert.ok(this.seen.length > 0, `${what}: the scan saw no responses at all`);
  }

  /** Log messages containing `needle`. */
  logsContaining(needle) {
    return this.logs.filter((l) => l.message.includes(needle));
  }

  /** Waits until a log line contains `needle` (logs arrive asynchronously). */
  async waitForLog(needle, timeoutMs = 5000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logsContaining(needle);
      if (hit.length) return hit;
      if (Date.now() > until) return [];
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Dumps every table of D1 (the vault's metadata, audit rows, routes...) into the
   * scan: no credential may be stored there in the clear.
   */
  async scanD1(db) {
    const tables = await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all();
    for (const { name } of tables.results) {
      const rows = await db.prepare(`SELECT * FROM "${name}"`).all();
      this.recordText("d1", name, JSON.stringify(rows.results));
    }
  }

  /** Every KV value and its metadata under `prefix` into the scan (values must be ciphertext). */
  async scanKv(kv, prefix = "") {
    let cursor;
    do {
      const page = await kv.list({ prefix, cursor });
      for (const k of page.keys) {
        const { value, metadata } = await kv.getWithMetadata(k.name);
        this.recordText("kv", k.name, `${k.name}\n${JSON.stringify(metadata)}\n${value}`);
      }
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
  }

  /**
   * Request helpers over a harness that record every response (headers and whole
   * body, buffered) before handing it back. `fetch` resolves with a Response whose
   * body is the buffered bytes; `api` as h.api ({ status, headers, text, data });
   * `worker(name)` the same two for another Portico worker (h.fetchWorker).
   */
  client(h) {
    const scan = this;
    const keep = async (label, res) => {
      const buf = Buffer.from(await res.arrayBuffer());
      scan.record(label, { status: res.status, headers: res.headers, body: buf.toString("latin1") });
      return { res, buf };
    };
    const wrap = (fetcher) => {
      const fetchRec = async (target, init = {}) => {
        const res = await fetcher(target, init);
        const { buf } = await keep(`${init.method ?? "GET"} ${target}`, res);
        const nullBody = [101, 204, 205, 304].includes(res.status) || (init.method ?? "GET").toUpperCase() === "HEAD";
        return new Response(nullBody ? null : buf, { status: res.status, statusText: res.statusText, headers: res.headers });
      };
      const api = async (method, path, { token, body, headers = {}, host, rawBody, contentType } = {}) => {
        const all = { ...headers };
        if (token) all.authorization = `Bearer ${token}`;
        let payload;
        if (rawBody !== undefined) {
          payload = rawBody;
          if (contentType) all["content-type"] = contentType;
        } else if (body !== undefined) {
          payload = JSON.stringify(body);
          all["content-type"] = contentType ?? "application/json";
        }
        const res = await fetchRec(`/api/v1${path}`, { host, method, headers: all, body: payload });
        const text = await res.text();
        let data = null;
        try {
          data = text ? JSON.parse(text) : null;
        } catch {
          data = null;
        }
        return { status: res.status, headers: res.headers, text, data };
      };
      return { fetch: fetchRec, api };
    };
    const main = wrap((t, i) => h.fetch(t, i));
    return {
      ...main,
      worker: (name) => wrap((t, i) => h.fetchWorker(name, t, i)),
    };
  }
}

/**
 * Positive control: makes Portico log a marker through a data-plane error path (an
 * `http` terminal whose upstream refuses connections answers 502 and logs
 * "portico: GET /<path>: ..."), then proves the scan's log capture saw it. Pass the
 * harness (PORTICO_HOST_SOURCE d1), the scan and the scan's client.
 */
export async function logControl(h, scan, call) {
  const marker = `logmarker${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  // A port nothing listens on: bind, read the port, close.
  const net = await import("node:net");
  const port = await new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const { host } = await h.addHost({
    routes: [{ match: { path: "/*" }, handlers: [{ type: "http", options: { upstream_url: `http://127.0.0.1:${port}/` } }] }],
  });
  const res = await call.fetch(`/${marker}`, { host });
  assert.equal(res.status, 502, "the control route fails upstream");
  await res.text();
  const lines = await scan.waitForLog(marker);
  assert.ok(lines.length > 0, `the scan saw Portico's log line with ${marker} (logs seen: ${scan.logs.length})`);
  // And the scan flags a "secret" that is in the logs.
  const probe = new SecretScan();
  probe.logs = scan.logs;
  probe.seen = [{ where: "response", label: "x", text: "" }];
  probe.addSecret(marker, "control");
  assert.equal(probe.findings().length, 1, "a secret in a log line is found by the scan");
  return marker;
}
