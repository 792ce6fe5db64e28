// Hostile or odd input must never crash the worker (a panic answers 500 and wipes
// every in-memory cache, see TOOLCHAIN.md). The last test proves the isolate kept its
// memory cache through everything above.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useHarness, json, rawStatus, uniq } from "./harness.mjs";

const h = useHarness({
  bindings: {
    PORTICO_DEBUG_HEADERS: "true",
    // long enough that the warm host cannot expire while this file runs
    PORTICO_HOST_CACHE_FRESH_SECONDS: "600",
  },
});

let warm; // static host warmed first
let proxied; // catch-all http route to the origin
let guarded; // basic_auth route

const tier = (res) => res.headers.get("x-portico-host-cache");
const notServerError = (res, what) => assert.ok(res.status < 500 || res.status === 501, `${what}: got ${res.status} ${res.headers.get("x-portico-error") ?? ""}`);

test("set up hosts and warm one", async () => {
  warm = (await h.addHost({ routes: [{ handlers: [{ type: "static", options: { body: "alive" } }] }] })).host;
  proxied = (await h.addHost({ routes: [{ match: { path: "/*" }, handlers: [{ type: "http", options: { upstream_url: `${h.origin.url}/` } }] }] })).host;
  guarded = (await h.addHost({
    routes: [{ handlers: [{ type: "basic_auth", options: { username: "u", password: "p" } }, { type: "static", options: { body: "in" } }] }],
  })).host;
  const r = await h.fetch("/", { host: warm });
  assert.equal(await r.text(), "alive");
  const r2 = await h.fetch("/", { host: warm });
  assert.equal(tier(r2), "memory");
  await r2.text();
});

test("malformed Host values -> 400 or 404, never 5xx", async () => {
  const hosts = [
    "a b",
    "[::1",
    "[::1]:8080",
    "[::1]",
    "host:port:extra",
    "host:",
    ":8080",
    "ünïcode.test",
    "%00.test",
    "x".repeat(300) + ".test",
    "a".repeat(64) + "." + "b".repeat(8000),
    "..",
    ".",
    "a..b",
    "-.test",
    "*",
    "host/path",
    "user@host.test",
    "\t",
  ];
  for (const host of hosts) {
    const res = await h.probe("http://placeholder.test/", { headers: [["host", host]] });
    const text = await res.text();
    assert.notEqual(res.headers.get("x-probe-error"), "1", `${JSON.stringify(host)}: ${text.slice(0, 300)}`);
    assert.ok([400, 404].includes(res.status), `${JSON.stringify(host).slice(0, 80)}: ${res.status} ${text.slice(0, 200)}`);
  }
  // the same through X-Forwarded-Host (used when Host is absent)
  for (const host of ["a b", "[::1", "..", "x".repeat(300)]) {
    const res = await h.probe("http://placeholder.test/", { headers: [["x-forwarded-host", host]] });
    const text = await res.text();
    assert.ok([400, 404].includes(res.status), `xfh ${JSON.stringify(host).slice(0, 80)}: ${res.status} ${text.slice(0, 200)}`);
  }
});

test("a 64 KiB header and many headers pass through to the origin", async () => {
  const big = "b".repeat(64 * 1024);
  const res = await h.fetch("/big", { host: proxied, headers: { "x-big": big } });
  assert.equal(res.status, 200);
  const doc = await json(res);
  assert.equal(doc.headers["x-big"]?.length, big.length);

  const many = {};
  for (let i = 0; i < 150; i++) many[`x-h-${i}`] = `v${i}`;
  const r2 = await h.fetch("/many", { host: proxied, headers: many });
  const d2 = await json(r2);
  assert.equal(d2.headers["x-h-0"], "v0");
  assert.equal(d2.headers["x-h-149"], "v149");

  // a 64 KiB cookie on a static route
  const r3 = await h.fetch("/", { host: warm, headers: { cookie: "c=" + "z".repeat(64 * 1024) } });
  assert.equal(r3.status, 200);
  await r3.text();
});

test("invalid percent-encoding answers 400 invalid_path; odd paths reach the origin canonical, never 5xx", async () => {
  // DESIGN §3: one canonical path for matching and for the upstream.
  for (const path of ["/%zz", "/%", "/a%2Fb", "/%E0%A4%A", "/%FF"]) {
    const res = await h.fetch(path, { host: proxied });
    assert.equal(res.status, 400, path);
    assert.equal(res.headers.get("x-portico-error"), "invalid_path", path);
    await res.text();
  }
  for (const [path, seen] of [["/%00", "/%00"], ["//double//slash", "/double/slash"], ["/a/../b", "/b"], ["/a/./b/", "/a/b/"]]) {
    const res = await h.fetch(path, { host: proxied });
    assert.equal(res.status, 200, path);
    assert.equal((await json(res)).path, seen, `origin saw the canonical path for ${path}`);
  }
  const r = await h.fetch("/ok?%zz=%zz&a", { host: proxied });
  assert.equal(r.status, 200);
  const doc = await json(r);
  assert.equal(doc.path, "/ok");
  assert.equal(doc.query, "%zz=%zz&a", "the query is passed on as sent");

  const s = await h.fetch("/%zz", { host: warm });
  assert.equal(s.status, 400);
  await s.text();
  const alive = await h.fetch("/", { host: warm });
  assert.equal(alive.status, 200);
  assert.equal(await alive.text(), "alive");

  const long = await h.fetch("/" + "p".repeat(8000), { host: proxied });
  notServerError(long, "8000-char path");
  await long.text();
});

test("PROPFIND: forwarded with its real method, or 404 No matching route; never GET, never 5xx", async () => {
  const res = await h.fetch("/dav", { host: proxied, method: "PROPFIND", headers: { depth: "1" } });
  const text = await res.text();
  if (res.status === 404) {
    assert.equal(text.trim(), "No matching route");
  } else {
    assert.equal(res.status, 200, text);
    assert.equal(JSON.parse(text).method, "PROPFIND");
  }
});

test("method FOO: rejected by workerd (501) before the worker; not a crash", async () => {
  const raw = await h.raw(`FOO /x HTTP/1.1\r\nHost: ${proxied}\r\nConnection: close\r\n\r\n`);
  const status = rawStatus(raw);
  assert.ok(status >= 400 && status !== 500, `FOO -> ${status}`);
  const raw2 = await h.raw(`PROPPATCH /x HTTP/1.1\r\nHost: ${proxied}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  const s2 = rawStatus(raw2);
  assert.ok(s2 > 0 && s2 !== 500 && s2 !== 502, `PROPPATCH -> ${s2}`);
});

test("non-UTF-8 header bytes and garbage credentials", async () => {
  const res = await h.fetch("/", { host: proxied, headers: { "x-latin1": "caf\xe9 \xff", "accept-language": "\xe9\xe9" } });
  notServerError(res, "latin1 header");
  await res.text();

  for (const auth of ["Basic ====", "Basic " + Buffer.from([0xff, 0xfe, 0x3a, 0x80]).toString("base64"), "Basic", "basic dTpw", "Basic " + "A".repeat(20000)]) {
    const r = await h.fetch("/", { host: guarded, headers: { authorization: auth } });
    const text = await r.text();
    if (auth === "basic dTpw") {
      // scheme names are case-insensitive (RFC 7617); 401 is also tolerable
      assert.ok([200, 401].includes(r.status), `${auth}: ${r.status}`);
    } else {
      assert.equal(r.status, 401, `${auth.slice(0, 40)}: ${r.status} ${text.slice(0, 100)}`);
    }
  }
});

test("unknown hosts with random junk do not evict or break anything", async () => {
  for (let i = 0; i < 20; i++) {
    const r = await h.fetch(`/${i}`, { host: `${uniq("junk")}.test` });
    assert.equal(r.status, 404);
    await r.text();
  }
});

test("30 concurrent requests over warm hosts (static, http, basic_auth) all succeed", async () => {
  const jobs = [];
  for (let i = 0; i < 10; i++) {
    jobs.push(h.fetch(`/c${i}`, { host: warm }).then(async (r) => [r.status, await r.text(), "alive"]));
    jobs.push(h.fetch(`/c${i}`, { host: proxied }).then(async (r) => [r.status, JSON.parse(await r.text()).path, `/c${i}`]));
    jobs.push(h.fetch(`/c${i}`, { host: guarded }).then(async (r) => [r.status === 401 ? 200 : r.status, await r.text() && "ok", "ok"]));
  }
  for (const [status, got, want] of await Promise.all(jobs)) {
    assert.equal(status, 200);
    assert.equal(got, want);
  }
});

test("after everything, a normal request is 200 and still served from memory", async () => {
  const res = await h.fetch("/", { host: warm });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "alive");
  assert.equal(tier(res), "memory", "the isolate's memory cache survived (no panic)");
  const p = await h.fetch("/final?ok=1", { host: proxied });
  assert.equal(p.status, 200);
  assert.equal((await json(p)).query, "ok=1");
});
