// Bodies are streamed both ways through an `http` route, never buffered:
// a 256 MiB download hashed on the fly, a 64 MiB upload hashed by the origin, and
// two timing checks (first bytes arrive before the last are produced). Slow: its own file.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { Readable } from "node:stream";
import { useHarness, sha256OfStream, patternSha256, patternChunk, sleep } from "./harness.mjs";

const h = useHarness({});
const MiB = 1024 * 1024;
let host;

test("setup: an http route to the origin", async () => {
  host = (await h.addHost({ routes: [{ handlers: [{ type: "http", options: { upstream_url: `${h.origin.url}/` } }] }] })).host;
  const r = await h.fetch("/bytes?n=10", { host });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
});

test("256 MiB download: every byte arrives, sha256 matches the pattern", { timeout: 240_000 }, async () => {
  const n = 256 * MiB;
  const expected = patternSha256(n);
  const res = await h.request(`/bytes?n=${n}`, { host, timeoutMs: 230_000 });
  assert.equal(res.statusCode, 200);
  const { sha256, bytes } = await sha256OfStream(res);
  assert.equal(bytes, n);
  assert.equal(sha256, expected);
});

test("64 MiB upload: the origin hashes exactly what was sent", { timeout: 180_000 }, async () => {
  const n = 64 * MiB;
  const chunk = 256 * 1024; // multiple of... not needed: offsets are tracked
  let sent = 0;
  const hash = crypto.createHash("sha256");
  const body = new Readable({
    read() {
      if (sent >= n) return this.push(null);
      const len = Math.min(chunk, n - sent);
      const b = patternChunk(sent, len);
      hash.update(b);
      sent += len;
      this.push(b);
    },
  });
  const res = await h.request("/upload", { host, method: "POST", body, headers: { "content-type": "application/octet-stream" }, timeoutMs: 170_000 });
  let text = "";
  for await (const c of res) text += c;
  assert.equal(res.statusCode, 200, text.slice(0, 300));
  const doc = JSON.parse(text);
  assert.equal(doc.bodyBytes, n);
  assert.equal(doc.bodySha256, hash.digest("hex"));
});

test("response streaming: the first chunk arrives before the origin has finished", async () => {
  const t0 = Date.now();
  const res = await h.request("/drip?chunks=6&ms=300", { host });
  assert.equal(res.statusCode, 200);
  let first = null;
  let all = "";
  for await (const c of res) {
    first ??= Date.now() - t0;
    all += c;
  }
  const total = Date.now() - t0;
  assert.equal(all.split("\n").filter(Boolean).length, 6);
  assert.ok(total >= 1400, `drip took ${total} ms`);
  assert.ok(first < 1000, `first chunk after ${first} ms (of ${total} ms): response is buffered`);
});

test("request streaming: the origin sees the request before the upload has finished", async () => {
  const marker = crypto.randomUUID();
  let waitedMs = -1;
  async function* body() {
    yield Buffer.from("first chunk\n");
    const t0 = Date.now();
    while (Date.now() - t0 < 5000 && h.origin.requestsMatching(marker).length === 0) await sleep(25);
    waitedMs = Date.now() - t0;
    yield Buffer.from("last chunk\n");
  }
  const res = await h.request(`/stream-up?m=${marker}`, { host, method: "POST", body: body(), headers: { "content-type": "text/plain" } });
  let text = "";
  for await (const c of res) text += c;
  assert.equal(res.statusCode, 200, text);
  assert.equal(JSON.parse(text).bodyBytes, "first chunk\nlast chunk\n".length);
  assert.ok(waitedMs >= 0 && waitedMs < 5000, `origin saw the request only after the upload ended (waited ${waitedMs} ms): request body is buffered`);
});
