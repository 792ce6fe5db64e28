// WebSocket upgrades pass through Portico to a real WebSocket origin (dev/origin.mjs
// /ws echoes frames): the client speaks RFC 6455 over a raw socket, so every byte of
// the handshake and the frames is checked, with and without response-phase
// middleware (which must hand the socket on when it rewraps the 101 response).
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import crypto from "node:crypto";
import { useHarness } from "./harness.mjs";
import { wsFrame, wsParse } from "../../dev/origin.mjs";

const h = useHarness({ bindings: { PORTICO_DEBUG_HEADERS: "true" } });
const httpTo = () => ({ type: "http", options: { upstream_url: `${h.origin.url}/` } });

/** Opens a WebSocket through Portico: { status, headers, send(text), next(), close() }. */
function wsConnect(host, path) {
  return new Promise((resolve, reject) => {
    const key = crypto.randomBytes(16).toString("base64");
    const socket = net.connect(h.port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    let handshake = null;
    const waiting = [];
    const frames = [];
    const deliver = () => {
      while (waiting.length && frames.length) waiting.shift()(frames.shift());
    };
    socket.setTimeout(15_000, () => socket.destroy(new Error("websocket test timed out")));
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!handshake) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const [statusLine, ...lines] = buf.subarray(0, end).toString().split("\r\n");
        const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
        handshake = { status: Number(statusLine.split(" ")[1]), headers, key };
        buf = buf.subarray(end + 4);
        resolve({
          ...handshake,
          send: (text) => socket.write(wsFrame(text, { mask: true })),
          next: () => new Promise((r) => (waiting.push(r), deliver())),
          close: () => socket.destroy(),
        });
      }
      const { frames: got, rest } = wsParse(buf);
      buf = Buffer.from(rest);
      frames.push(...got);
      deliver();
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
}

const accept = (key) => crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");

for (const [name, handlers] of [
  ["http terminal only", () => [httpTo()]],
  ["behind cors and headers (response rewrapped)", () => [
    { type: "cors", options: { origins: ["*"] } },
    { type: "headers", options: { request: { "x-via": "portico" }, response: { "x-served-by": "portico" } } },
    httpTo(),
  ]],
]) {
  test(`websocket echo through Portico: ${name}`, async () => {
    const { host } = await h.addHost({ routes: [{ match: { path: "/ws" }, handlers: handlers() }] });
    const ws = await wsConnect(host, "/ws");
    try {
      assert.equal(ws.status, 101);
      assert.equal(ws.headers["sec-websocket-accept"], accept(ws.key));
      for (const msg of ["hello", "second message", "x".repeat(3000)]) {
        ws.send(msg);
        const f = await ws.next();
        assert.equal(f.opcode, 1);
        assert.equal(f.payload.toString(), `echo:${msg}`);
      }
      const seen = h.origin.seen.filter((r) => r.url.startsWith("/ws") && r.headers.host);
      assert.ok(seen.length >= 1, "the origin saw the upgrade");
      if (name.startsWith("behind")) {
        assert.equal(ws.headers["x-served-by"], "portico");
        assert.ok(seen.some((r) => r.headers["x-via"] === "portico"), "request-phase edits reached the origin");
      }
    } finally {
      ws.close();
    }
  });
}

test("a plain request to the same route is still a normal HTTP request", async () => {
  const { host } = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: [httpTo()] }] });
  const res = await h.fetch("/plain", { host, headers: { upgrade: "h2c", connection: "upgrade" } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.headers?.upgrade, undefined, "non-websocket Upgrade is stripped as hop-by-hop");
});
