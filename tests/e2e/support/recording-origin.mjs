// A recording HTTP origin for the vault suite: every request it receives is kept
// (method, raw target, path, query, headers, body bytes) and answered from a
// scriptable table. A second instance, usually on another loopback address
// (127.0.0.2), stands in for "elsewhere": a host that must never receive a
// credential, so a test asserts it recorded nothing at all.
//
//   const up = await startRecordingOrigin();                 // 127.0.0.1, any port
//   const elsewhere = await startRecordingOrigin({ host: "127.0.0.2", name: "elsewhere" });
//   up.on("redirect-m1", { status: 302, location: `${elsewhere.url}/steal` });
//   up.on((r) => r.method === "POST", { status: 201, json: { ok: true } });
//   up.on("slow-m2", { delayMs: 3000 });
//   ... requests ...
//   up.requestsMatching(marker)  // recorded requests whose target contains `marker`
//
// By default it answers 200 with a small JSON document that never echoes what it
// received (so a credential injected by Portico cannot come back in a response body:
// any credential the secret scan finds in a response was put there by Portico).
import http from "node:http";
import { listen } from "../../../dev/cli.mjs";

/**
 * A rule: `match` is a string (contained in the raw request target: use a unique
 * marker), a RegExp (tested against the raw target), or a function (request record →
 * boolean). Answer fields: `status` (200), `headers` ({name: value | value[]}),
 * `body` (string | Buffer), `json` (serialised, sets content-type), `location`
 * (sets Location), `delayMs` (wait before the headers), `times` (use the rule at most
 * this many times), `destroy` (drop the socket without answering).
 */
function ruleMatches(rule, rec) {
  const m = rule.match;
  if (typeof m === "function") return Boolean(m(rec));
  if (m instanceof RegExp) return m.test(rec.url);
  if (typeof m === "string") return rec.url.includes(m);
  return true;
}

export async function startRecordingOrigin({ host = "127.0.0.1", port = 0, name = "origin" } = {}) {
  const requests = [];
  const rules = [];
  let seq = 0;

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("error", () => res.destroy());
    req.on("end", async () => {
      seq += 1;
      const raw = req.url ?? "";
      const q = raw.indexOf("?");
      const body = Buffer.concat(chunks);
      const headers = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i].toLowerCase();
        headers[k] = headers[k] === undefined ? req.rawHeaders[i + 1] : `${headers[k]}, ${req.rawHeaders[i + 1]}`;
      }
      const rec = {
        seq,
        origin: name,
        method: req.method,
        url: raw,
        path: q < 0 ? raw : raw.slice(0, q),
        query: q < 0 ? "" : raw.slice(q + 1),
        headers,
        rawHeaders: [...req.rawHeaders],
        body,
        bodyText: body.toString("utf8"),
        at: Date.now(),
      };
      requests.push(rec);

      const rule = rules.find((r) => (r.times === undefined || r.times > 0) && ruleMatches(r, rec));
      if (rule && rule.times !== undefined) rule.times -= 1;
      const a = rule ?? {};
      if (a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
      if (a.destroy) return req.socket.destroy();
      if (res.destroyed) return;
      const hdrs = { ...(a.headers ?? {}) };
      let payload;
      if (a.json !== undefined) {
        payload = Buffer.from(JSON.stringify(a.json));
        hdrs["content-type"] ??= "application/json";
      } else if (a.body !== undefined) {
        payload = Buffer.isBuffer(a.body) ? a.body : Buffer.from(String(a.body));
      } else if (rule) {
        payload = Buffer.alloc(0);
      } else {
        payload = Buffer.from(JSON.stringify({ origin: name, seq, method: rec.method, path: rec.path }));
        hdrs["content-type"] = "application/json";
      }
      if (a.location !== undefined) hdrs.location = a.location;
      try {
        res.writeHead(a.status ?? 200, { ...hdrs, "content-length": String(payload.length) });
        res.end(req.method === "HEAD" ? undefined : payload);
      } catch (e) {
        res.destroy(e);
      }
    });
  });

  const listening = await listen(server, port, host);
  return {
    name,
    host,
    port: listening.port,
    url: listening.url,
    /** Every request received, oldest first. */
    requests,
    /** Adds a rule (first matching rule wins; added rules come before earlier ones). */
    on(match, answer = {}) {
      const rule = { match, ...answer };
      rules.unshift(rule);
      return rule;
    },
    /** Recorded requests whose raw target, a header value or the body contains `needle`. */
    requestsMatching(needle) {
      return requests.filter((r) => r.url.includes(needle));
    },
    /** Recorded requests in which `secret` appears anywhere (target, headers, body). */
    requestsContaining(secret) {
      return requests.filter(
        (r) => r.url.includes(secret) || r.rawHeaders.some((v) => v.includes(secret)) || r.bodyText.includes(secret),
      );
    },
    /** The last request whose raw target contains `needle` (or undefined). */
    last(needle) {
      const all = needle === undefined ? requests : requests.filter((r) => r.url.includes(needle));
      return all[all.length - 1];
    },
    /** Forgets recorded requests (rules stay). */
    clear() {
      requests.length = 0;
    },
    close: () => listening.close(),
  };
}
