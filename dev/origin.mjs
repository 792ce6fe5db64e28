// Portico demo origin: a real HTTP server on 127.0.0.1 standing in for a
// customer's origin in local development and the end-to-end suite.
//
//   node dev/origin.mjs --port 9001 [--host 127.0.0.1]
//
// Endpoints
//   GET /bytes?n=N               N bytes, byte i = i % 251, streamed with content-length
//   GET /redirect?to=URL&status=302
//   GET /cookies                 two separate Set-Cookie headers
//   GET /slow?ms=N               waits N ms before sending headers (then echoes)
//   GET /status/<code>           that status, body "status <code>"
//   GET /hop                     echo, plus x-origin-saw-* headers for hop-by-hop checks
//   ANY /with-headers?k=v&...    echo, with every query parameter set as a response header
//   GET /drip?chunks=N&ms=M      headers at once, then N small chunks M ms apart (streaming checks)
//   anything else                JSON echo of the request (body hashed while streaming)
import http from "node:http";
import crypto from "node:crypto";
import { listen, serveWhenMain } from "./cli.mjs";

const PATTERN_PERIOD = 251;
const CHUNK = 64 * 1024;
// One period-aligned block: CHUNK rounded up to a multiple of 251 so that every
// chunk we write starts at pattern offset 0 except possibly the tail.
const BLOCK_LEN = Math.ceil(CHUNK / PATTERN_PERIOD) * PATTERN_PERIOD;
const BLOCK = Buffer.alloc(BLOCK_LEN);
for (let i = 0; i < BLOCK_LEN; i++) BLOCK[i] = i % PATTERN_PERIOD;

/** The deterministic /bytes pattern (exported so tests can hash it locally). */
export function patternChunk(offset, len) {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (offset + i) % PATTERN_PERIOD;
  return b;
}

/** sha256 hex of the first n bytes of the pattern, computed without a big buffer. */
export function patternSha256(n) {
  const h = crypto.createHash("sha256");
  let left = n;
  while (left > 0) {
    const take = Math.min(left, BLOCK_LEN);
    h.update(take === BLOCK_LEN ? BLOCK : BLOCK.subarray(0, take));
    left -= take;
  }
  return h.digest("hex");
}

function sendJson(res, status, obj, extraHeaders = {}) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": body.length,
    ...extraHeaders,
  });
  res.end(body);
}

function lowerHeaders(req) {
  // req.headers is already lowercased; duplicates (other than set-cookie) are
  // joined with ", " by Node. Keep it a plain object.
  const out = {};
  for (const [k, v] of Object.entries(req.headers)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

function echo(req, res, url, extraHeaders = {}) {
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  req.on("data", (chunk) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on("end", () => {
    sendJson(
      res,
      200,
      {
        origin: "demo-origin",
        method: req.method,
        path: url.pathname,
        query: url.search.startsWith("?") ? url.search.slice(1) : url.search,
        url: req.url,
        headers: lowerHeaders(req),
        bodyBytes: bytes,
        bodySha256: hash.digest("hex"),
      },
      extraHeaders,
    );
  });
  req.on("error", () => res.destroy());
}

function streamBytes(req, res, n) {
  res.writeHead(200, {
    "content-type": "application/octet-stream",
    "content-length": String(n),
  });
  if (req.method === "HEAD" || n === 0) return res.end();
  let sent = 0;
  const pump = () => {
    while (sent < n) {
      const take = Math.min(n - sent, BLOCK_LEN);
      const ok = res.write(take === BLOCK_LEN ? BLOCK : BLOCK.subarray(0, take));
      sent += take;
      if (!ok) return res.once("drain", pump);
    }
    res.end();
  };
  res.on("close", () => { sent = n; });
  pump();
}

function handler(req, res) {
  // Parse the raw target without normalising it away: keep the raw query string.
  let url;
  try {
    // Prefix rather than resolve, so a path like //a//b stays a path.
    url = new URL(req.url.startsWith("/") ? `http://origin.local${req.url}` : req.url);
  } catch {
    url = { pathname: req.url, search: "", searchParams: new URLSearchParams() };
  }
  const p = url.pathname;
  const q = url.searchParams;

  if (p === "/bytes" && (req.method === "GET" || req.method === "HEAD")) {
    const n = Number.parseInt(q.get("n") ?? "0", 10);
    if (!Number.isFinite(n) || n < 0) return sendJson(res, 400, { error: "bad n" });
    req.resume();
    return streamBytes(req, res, n);
  }
  if (p === "/redirect") {
    req.resume();
    const status = Number.parseInt(q.get("status") ?? "302", 10) || 302;
    res.writeHead(status, { location: q.get("to") ?? "/", "content-length": "0" });
    return res.end();
  }
  if (p === "/cookies") {
    req.resume();
    res.setHeader("set-cookie", [
      "a=1; Domain=127.0.0.1; Path=/; HttpOnly",
      "b=2; Path=/x; Domain=127.0.0.1; Secure; SameSite=Lax",
    ]);
    res.setHeader("content-type", "text/plain");
    return res.end("cookies");
  }
  if (p === "/slow") {
    const ms = Math.min(Number.parseInt(q.get("ms") ?? "1000", 10) || 0, 120_000);
    const t = setTimeout(() => echo(req, res, url), ms);
    res.on("close", () => clearTimeout(t));
    return;
  }
  const m = /^\/status\/(\d{3})$/.exec(p);
  if (m) {
    req.resume();
    const code = Number(m[1]);
    const body = code === 204 || code === 304 ? "" : `status ${code}`;
    res.writeHead(code, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    return res.end(body);
  }
  if (p === "/hop") {
    const h = req.headers;
    return echo(req, res, url, {
      "x-origin-saw-connection": h["connection"] ?? "",
      "x-origin-saw-keep-alive": h["keep-alive"] ?? "",
      "x-origin-saw-te": h["te"] ?? "",
      "x-origin-saw-upgrade": h["upgrade"] ?? "",
      "x-origin-saw-proxy-authorization": h["proxy-authorization"] ?? "",
    });
  }
  if (p === "/drip") {
    req.resume();
    const chunks = Math.min(Number.parseInt(q.get("chunks") ?? "5", 10) || 0, 1000);
    const ms = Math.min(Number.parseInt(q.get("ms") ?? "200", 10) || 0, 10_000);
    res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" });
    let i = 0;
    const tick = () => {
      if (i >= chunks) return res.end();
      res.write(`chunk ${i++}\n`);
      t = setTimeout(tick, ms);
    };
    let t = setTimeout(tick, 0);
    res.on("close", () => clearTimeout(t));
    return;
  }
  if (p === "/with-headers") {
    const extra = {};
    for (const [k, v] of q) {
      if (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) extra[k] = k in extra ? [].concat(extra[k], v) : v;
    }
    return echo(req, res, url, extra);
  }
  return echo(req, res, url);
}

// --- WebSocket echo on /ws (RFC 6455, text/binary frames up to 64 KiB) -----------

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** One frame; `mask` true for client → server frames. */
export function wsFrame(payload, { opcode = 1, mask = false } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(String(payload));
  const len = data.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, (mask ? 0x80 : 0) | len]) : Buffer.from([0x80 | opcode, (mask ? 0x80 : 0) | 126, len >> 8, len & 255]);
  if (!mask) return Buffer.concat([head, data]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(data.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([head, key, body]);
}

/** Parses complete frames from `buf`: { frames: [{ opcode, payload }], rest }. */
export function wsParse(buf) {
  const frames = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const opcode = buf[off] & 0x0f;
    const masked = (buf[off + 1] & 0x80) !== 0;
    let len = buf[off + 1] & 0x7f;
    let p = off + 2;
    if (len === 126) {
      if (buf.length - p < 2) break;
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      break; // not used here
    }
    const keyLen = masked ? 4 : 0;
    if (buf.length - p < keyLen + len) break;
    const key = masked ? buf.subarray(p, p + 4) : null;
    p += keyLen;
    let payload = Buffer.from(buf.subarray(p, p + len));
    if (key) payload = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
    frames.push({ opcode, payload });
    off = p + len;
  }
  return { frames, rest: buf.subarray(off) };
}

function wsEcho(req, socket) {
  const key = req.headers["sec-websocket-key"];
  if (!key || (req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
    socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
    return;
  }
  const accept = crypto.createHash("sha1").update(key + WS_GUID).digest("base64");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
      `sec-websocket-accept: ${accept}\r\nx-origin-ws: echo\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    const { frames, rest } = wsParse(buf);
    buf = Buffer.from(rest);
    for (const f of frames) {
      if (f.opcode === 8) return socket.end(wsFrame(f.payload, { opcode: 8 }));
      if (f.opcode === 9) socket.write(wsFrame(f.payload, { opcode: 10 }));
      else if (f.opcode === 1 || f.opcode === 2) socket.write(wsFrame(f.opcode === 1 ? `echo:${f.payload}` : f.payload, { opcode: f.opcode }));
    }
  });
  socket.on("error", () => {});
}

export async function startOrigin({ port = 0, host = "127.0.0.1" } = {}) {
  // Every request seen, newest last (bounded), so tests can check that a request
  // did or did not reach the origin: { method, url, headers }.
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: { ...req.headers } });
    if (seen.length > 1000) seen.shift();
    handler(req, res);
  });
  server.on("upgrade", (req, socket) => {
    seen.push({ method: req.method, url: req.url, headers: { ...req.headers } });
    if (req.url.startsWith("/ws")) wsEcho(req, socket);
    else socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
  });
  server.keepAliveTimeout = 5000;
  server.requestTimeout = 0; // large uploads
  server.headersTimeout = 60_000;
  server.maxHeaderSize = 256 * 1024;
  const { port: actual, url, close } = await listen(server, port, host);
  return {
    url,
    port: actual,
    server,
    seen,
    /** Requests seen whose URL contains `marker`. */
    requestsMatching: (marker) => seen.filter((r) => r.url.includes(marker)),
    close,
  };
}

await serveWhenMain(import.meta, {
  port: 9001,
  start: ({ port, host }) => startOrigin({ port, host }),
  banner: (o) => `demo origin listening on ${o.url}`,
});
