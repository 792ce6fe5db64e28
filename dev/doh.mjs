// A local stand-in for a DNS-over-HTTPS resolver (JSON API, as Cloudflare's
// https://cloudflare-dns.com/dns-query speaks it), holding only the TXT records you
// publish. Portico's domain verification asks it instead of the real DNS when
// PORTICO_DOH_URL points here (npm run dev does that; the e2e harness too).
//
//   node dev/doh.mjs --port 8053
//   curl -X POST http://127.0.0.1:8053/records -H 'content-type: application/json' \
//        -d '{"name":"_portico-challenge.shop.acme.localhost","value":"portico-verification=..."}'
//   curl 'http://127.0.0.1:8053/dns-query?name=_portico-challenge.shop.acme.localhost&type=TXT'
//
// Endpoints:
//   GET    /dns-query?name=N&type=TXT   JSON answer (Status 0 with Answer, or 3 = NXDOMAIN)
//   POST   /records {name, value}       add a TXT string at `name` (values > 255 bytes
//                                      are served split into several quoted strings)
//   GET    /records                     every record, { name: [values] }
//   DELETE /records?name=N              remove the records at N (no name: all)
//   --records FILE.json                 preload { "name": ["value", ...] }
//
// `startDoh()` does the same from a test and returns { url, dnsQueryUrl, port,
// publish(name, value), clear(name?), queries, close() }.
import http from "node:http";
import { readFileSync } from "node:fs";
import { listen, serveWhenMain } from "./cli.mjs";

const TYPE_TXT = 16;

/** Zone-file form of one TXT value: quoted strings of at most 255 bytes. */
export function txtData(value) {
  const bytes = Buffer.from(String(value), "utf8");
  const parts = [];
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    let q = "";
    for (const b of bytes.subarray(i, i + 255)) {
      if (b === 0x22) q += '\\"';
      else if (b === 0x5c) q += "\\\\";
      else if (b >= 0x20 && b <= 0x7e) q += String.fromCharCode(b);
      else q += "\\" + String(b).padStart(3, "0");
    }
    parts.push(`"${q}"`);
    if (bytes.length === 0) break;
  }
  return parts.join(" ");
}

const normName = (n) => String(n ?? "").toLowerCase().replace(/\.$/, "");

function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on("data", (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error("body too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startDoh({ port = 0, host = "127.0.0.1", records: initial = {} } = {}) {
  /** name → [values] */
  const records = new Map();
  const queries = [];
  const publish = (name, value) => {
    const n = normName(name);
    records.set(n, [...(records.get(n) ?? []), String(value)]);
  };
  const clear = (name) => (name === undefined ? records.clear() : records.delete(normName(name)));
  for (const [name, values] of Object.entries(initial)) for (const v of [].concat(values)) publish(name, v);

  const send = (res, status, body, type = "application/json") => {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(typeof body === "string" ? body : JSON.stringify(body));
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://doh.local");
    try {
      if (url.pathname === "/dns-query" && req.method === "GET") {
        const name = normName(url.searchParams.get("name"));
        const type = url.searchParams.get("type") ?? "A";
        queries.push({ name, type, accept: req.headers.accept ?? "" });
        if (!name) return send(res, 400, { error: "name is required" });
        const typeNum = /^\d+$/.test(type) ? Number(type) : type.toUpperCase() === "TXT" ? TYPE_TXT : -1;
        const values = records.get(name);
        const answer = {
          Status: values ? 0 : 3,
          TC: false,
          RD: true,
          RA: true,
          AD: false,
          CD: false,
          Question: [{ name: `${name}.`, type: typeNum }],
        };
        if (values && typeNum === TYPE_TXT) {
          answer.Answer = values.map((v) => ({ name: `${name}.`, type: TYPE_TXT, TTL: 60, data: txtData(v) }));
        }
        return send(res, 200, answer, "application/dns-json");
      }
      if (url.pathname === "/records") {
        if (req.method === "GET") return send(res, 200, Object.fromEntries(records));
        if (req.method === "DELETE") {
          clear(url.searchParams.get("name") ?? undefined);
          return send(res, 200, Object.fromEntries(records));
        }
        if (req.method === "POST") {
          const body = JSON.parse(await readBody(req));
          if (typeof body?.name !== "string" || typeof body?.value !== "string") {
            return send(res, 400, { error: "body must be {name, value} strings" });
          }
          publish(body.name, body.value);
          return send(res, 201, { name: normName(body.name), values: records.get(normName(body.name)) });
        }
      }
      send(res, 404, { error: "not found" });
    } catch (e) {
      send(res, 400, { error: String(e?.message ?? e) });
    }
  });
  const { port: actual, url, close } = await listen(server, port, host);
  return {
    url,
    dnsQueryUrl: `${url}/dns-query`,
    port: actual,
    records,
    queries,
    publish,
    clear,
    close,
  };
}

await serveWhenMain(import.meta, {
  port: 8053,
  start: ({ port, host, flag }) => {
    const file = flag("records", null);
    return startDoh({ port, host, records: file ? JSON.parse(readFileSync(file, "utf8")) : {} });
  },
  banner: (d) => `DoH stand-in listening on ${d.dnsQueryUrl} (publish: POST ${d.url}/records {name, value})`,
});
