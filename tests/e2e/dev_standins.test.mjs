// The local stand-ins themselves: the demo origin (dev/origin.mjs) and the demo seed
// (dev/seed.sql). Needs no Rust build.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startOrigin } from "../../dev/origin.mjs";
import { ROOT, startHarness, rawHttpRequest, sha256OfStream, patternSha256, patternChunk } from "./harness.mjs";

let origin;
before(async () => {
  origin = await startOrigin({ port: 0 });
});
after(async () => {
  await origin?.close();
});

const get = (path, init = {}) => rawHttpRequest({ port: origin.port, path, ...init });

test("echo returns the expected JSON document", async () => {
  const body = crypto.randomBytes(300_000);
  const res = await fetch(`${origin.url}/some/path?b=2&a=%zz`, { method: "PATCH", headers: { "X-Mixed-Case": "v" }, body });
  const doc = await res.json();
  assert.equal(doc.origin, "demo-origin");
  assert.equal(doc.method, "PATCH");
  assert.equal(doc.path, "/some/path");
  assert.equal(doc.query, "b=2&a=%zz");
  assert.equal(doc.headers["x-mixed-case"], "v");
  assert.equal(doc.bodyBytes, body.length);
  assert.equal(doc.bodySha256, crypto.createHash("sha256").update(body).digest("hex"));
});

test("/bytes streams the i % 251 pattern with content-length", async () => {
  for (const n of [0, 1, 250, 251, 252, 65536, 1_000_003]) {
    const res = await get(`/bytes?n=${n}`);
    assert.equal(res.headers["content-length"], String(n));
    const { sha256, bytes } = await sha256OfStream(res);
    assert.equal(bytes, n);
    assert.equal(sha256, patternSha256(n), `n=${n}`);
    assert.equal(sha256, crypto.createHash("sha256").update(patternChunk(0, n)).digest("hex"));
  }
});

test("/redirect, /cookies, /status, /slow, /with-headers", async () => {
  let res = await fetch(`${origin.url}/redirect?to=${encodeURIComponent("http://x.test/a?b#c")}&status=307`, { redirect: "manual" });
  assert.equal(res.status, 307);
  assert.equal(res.headers.get("location"), "http://x.test/a?b#c");

  res = await fetch(`${origin.url}/cookies`);
  assert.deepEqual(res.headers.getSetCookie(), [
    "a=1; Domain=127.0.0.1; Path=/; HttpOnly",
    "b=2; Path=/x; Domain=127.0.0.1; Secure; SameSite=Lax",
  ]);

  res = await fetch(`${origin.url}/status/418`);
  assert.equal(res.status, 418);
  assert.equal(await res.text(), "status 418");

  const t0 = Date.now();
  res = await fetch(`${origin.url}/slow?ms=300`);
  assert.equal(res.status, 200);
  assert.ok(Date.now() - t0 >= 280, "slow waited");
  await res.text();

  res = await fetch(`${origin.url}/with-headers?cache-control=no-store&x-a=1`);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("x-a"), "1");
  await res.text();
});

test("dev/seed.sql applies twice to the migrated schema and holds valid route JSON", async () => {
  const h = await startHarness({ portico: { script: "export default { fetch() { return new Response('x') } }" } });
  try {
    const seed = readFileSync(join(ROOT, "dev/seed.sql"), "utf8");
    await h.exec(seed);
    await h.exec(seed); // INSERT OR REPLACE: re-runnable
    const tenants = (await h.db.prepare("SELECT id FROM tenants ORDER BY id").all()).results.map((r) => r.id);
    assert.deepEqual(tenants, ["acme", "globex"]);
    const domains = (await h.db.prepare("SELECT domain FROM domains ORDER BY domain").all()).results.map((r) => r.domain);
    assert.deepEqual(domains, ["*.acme.localhost", "acme.localhost", "globex.localhost"]);
    const routes = (await h.db.prepare("SELECT * FROM routes").all()).results;
    assert.ok(routes.length >= 8);
    const terminals = new Set(["http", "service_binding", "dispatch_namespace", "redirect", "static"]);
    for (const r of routes) {
      const m = JSON.parse(r.match_json);
      const hs = JSON.parse(r.handlers_json);
      assert.equal(typeof m.path, "string", r.id);
      assert.ok(Array.isArray(hs) && hs.length > 0, r.id);
      assert.ok(terminals.has(hs.at(-1).type), `${r.id}: last handler is terminal`);
    }
  } finally {
    await h.dispose();
  }
});
