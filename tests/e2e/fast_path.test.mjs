// The lean JS entry (js/entry.mjs, DESIGN §9): which requests it answers itself,
// which it hands to the workers-rs path, and that both give the same answers.
// `x-portico-path` (debug headers only) says which path served a response.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { useHarness, parseStats, rawStatus, ROOT } from "./harness.mjs";

const ENTRY = join(ROOT, "build/entry.mjs");
const usesEntry = () => (process.env.PORTICO_E2E_SCRIPT ?? ENTRY).endsWith("entry.mjs") && existsSync(ENTRY);
const path = (res) => res.headers.get("x-portico-path");
const DEBUG = { PORTICO_DEBUG_HEADERS: "true" };

/** Routes every parity check below runs against (handlers use the harness origin). */
function routes(origin) {
  const http = (opts = {}) => ({ type: "http", options: { upstream_url: `${origin}/`, ...opts } });
  const cors = { type: "cors", options: { origins: ["https://web.example"], expose_headers: ["x-e"] } };
  return [
    { priority: 1, match: { path: "/static" }, handlers: [cors, { type: "headers", options: { response: { "x-h": "1" } } }, { type: "static", options: { status: 201, body: "made\nwith newline", headers: { "set-cookie": "a=1; Domain=test" } } }] },
    { priority: 2, match: { path: "/redirect" }, handlers: [{ type: "redirect", options: { upstream_url: "https://new.example", status: 308 } }] },
    { priority: 3, match: { path: "/auth/*" }, handlers: [{ type: "basic_auth", options: { username: "u", password: "pw" } }, http()] },
    { priority: 4, match: { path: "/cookies" }, handlers: [{ type: "rewrite_cookies", options: { upstream_host: "127.0.0.1" } }, http()] },
    { priority: 5, match: { path: "/slow" }, handlers: [cors, http({ timeout_ms: 300 })] },
    { priority: 6, match: { path: "/down" }, handlers: [cors, http({ upstream_url: "http://127.0.0.1:9/" })] },
    { priority: 7, match: { path: "/svc" }, handlers: [{ type: "service_binding", options: { binding: "EXAMPLE_SERVICE" } }] },
    { priority: 8, match: { path: "/*" }, handlers: [cors, { type: "headers", options: { request: { "x-added": "1" }, response: { "x-resp": "2" }, remove_response: ["x-origin-saw-connection"] } }, { type: "cache", options: { ttl_seconds: 30 } }, http()] },
  ];
}

const CASES = [
  ["GET", "/static", {}],
  ["HEAD", "/static", {}],
  ["OPTIONS", "/anything", { origin: "https://web.example", "access-control-request-method": "PUT" }],
  ["GET", "/redirect?q=1", {}],
  ["GET", "/auth/x", {}],
  ["GET", "/auth/x", { authorization: "Basic dTpwdw==" }],
  ["GET", "/cookies", {}],
  ["GET", "/slow?ms=1500", { origin: "https://web.example" }],
  ["GET", "/down", { origin: "https://web.example" }],
  ["GET", "/hop", { origin: "https://web.example", connection: "keep-alive, x-drop", "x-drop": "1", te: "trailers" }],
  ["POST", "/echo/a/../b//c?x=%41", { origin: "https://web.example", "content-type": "text/plain", cookie: "s=1" }],
  ["GET", "/a%2Fb", {}],
  ["GET", "/nope/%zz", {}],
];

/** Status, headers (minus per-response noise) and body of one response. */
async function snapshot(res) {
  const headers = [...res.headers]
    .filter(([k]) => !["date", "x-portico-path", "x-portico-stats", "x-portico-host-cache", "content-length", "keep-alive", "connection", "transfer-encoding"].includes(k))
    .sort();
  let body = await res.text();
  // The origin echoes the request as JSON; compare what it saw, not socket noise.
  try {
    const j = JSON.parse(body);
    for (const k of ["remotePort", "remoteAddress", "receivedAt", "elapsedMs"]) delete j[k];
    if (j.headers) for (const k of ["host", "cf-ray", "cf-connecting-ip", "x-forwarded-for", "x-real-ip", "cf-visitor", "cf-ipcountry", "accept-encoding"]) delete j.headers[k];
    body = JSON.stringify(j);
  } catch {}
  return { status: res.status, headers, body };
}

describe("fast path on (the default)", { skip: !usesEntry() && "needs build/entry.mjs" }, () => {
  const h = useHarness({ bindings: { ...DEBUG, CONTROL_PLANE_HOSTS: "cp.test" } });

  test("a warm host is answered by the JS entry; the first request (cold) by workers-rs", async () => {
    const { host } = await h.addHost({ routes: routes(h.origin.url) });
    const first = await h.fetch("/static", { host });
    assert.equal(path(first), "workers-rs", "a cold host takes the workers-rs path");
    await first.text();
    for (const [method, target, headers] of CASES.filter(([, t]) => !t.startsWith("/svc"))) {
      const res = await h.fetch(target, { host, method, headers });
      await res.arrayBuffer();
      assert.equal(path(res), "fast", `${method} ${target}`);
    }
  });

  test("bindings, WebSocket upgrades, the API and unmet needs go to workers-rs", async () => {
    const { host } = await h.addHost({
      routes: [
        ...routes(h.origin.url),
        { priority: 0, match: { path: "/jwt" }, handlers: [{ type: "jwt", options: { jwks_url: `${h.origin.url}/no-jwks` } }, { type: "static", options: { body: "x" } }] },
      ],
    });
    await (await h.fetch("/static", { host })).text();
    const svc = await h.fetch("/svc", { host });
    assert.equal(svc.status, 200);
    assert.equal(path(svc), "workers-rs");
    // Raw socket: Node's HTTP client never surfaces a 101 as a response.
    const ws = await h.raw(
      `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      { timeoutMs: 3000 },
    );
    assert.equal(rawStatus(ws), 101, ws);
    assert.match(ws, /\r\nx-portico-path: workers-rs\r\n/i);
    const jwt = await h.fetch("/jwt", { host, headers: { authorization: "Bearer a.b.c" } });
    await jwt.text();
    assert.equal(path(jwt), "workers-rs", "a JWKS not yet in memory is a pending need");
    for (let i = 0; i < 2; i++) {
      const api = await h.fetch("/api/v1/openapi.json", { host: "cp.test" });
      await api.text();
      assert.equal(api.status, 200);
      assert.equal(path(api), "workers-rs");
    }
  });

  test("unknown hosts are remembered and then answered by the JS entry", async () => {
    const host = `${h.uniq("gone")}.test`;
    const a = await h.fetch("/", { host });
    assert.equal(a.status, 404);
    assert.equal(path(a), "workers-rs");
    const b = await h.fetch("/", { host });
    assert.equal(b.status, 404);
    assert.equal(await b.text(), "Unknown host");
    assert.equal(path(b), "fast");
    assert.equal(b.headers.get("x-portico-host-cache"), "negative");
  });

  test("a panic-free planner never reads another tenant's parked response state", async () => {
    // Two tenants' requests in flight at once through the same isolate: each
    // response carries its own tenant's response-phase edits.
    const mk = async (tag) =>
      (await h.addHost({ routes: [{ match: { path: "/*" }, handlers: [{ type: "headers", options: { response: { "x-tenant": tag } } }, { type: "http", options: { upstream_url: `${h.origin.url}/` } }] }] })).host;
    const [a, b] = [await mk("a"), await mk("b")];
    await (await h.fetch("/", { host: a })).text();
    await (await h.fetch("/", { host: b })).text();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.fetch(`/slow?ms=${(i * 37) % 120}`, { host: i % 2 ? a : b })),
    );
    results.forEach((r, i) => assert.equal(r.headers.get("x-tenant"), i % 2 ? "a" : "b", `request ${i}`));
    await Promise.all(results.map((r) => r.text()));
  });
});

describe("both paths give the same answers", { skip: !usesEntry() && "needs build/entry.mjs" }, () => {
  const fast = useHarness({ bindings: DEBUG });
  const slow = useHarness({ bindings: { ...DEBUG, PORTICO_FAST_PATH: "off" } });

  test("every case: status, headers and body match, fast path on vs off", async () => {
    const host = `${fast.uniq("same")}.test`;
    // Same host name and routes in both deployments (the origin URL differs per harness).
    const { host: hf } = await fast.addHost({ host, tenant_id: "same", routes: routes(fast.origin.url) });
    const { host: hs } = await slow.addHost({ host, tenant_id: "same", routes: routes(slow.origin.url) });
    await (await fast.fetch("/static", { host: hf })).text();
    await (await slow.fetch("/static", { host: hs })).text();
    for (const [method, target, headers] of CASES) {
      const a = await fast.fetch(target, { host: hf, method, headers });
      const b = await slow.fetch(target, { host: hs, method, headers });
      if (!target.startsWith("/svc")) assert.equal(path(a), "fast", `${method} ${target}`);
      assert.equal(path(b), "workers-rs", `${method} ${target}`);
      const [sa, sb] = [await snapshot(a), await snapshot(b)];
      // Origin URLs differ between the two harnesses (ports): normalise them.
      const norm = (s) => JSON.parse(JSON.stringify(s).replaceAll(fast.origin.url, "ORIGIN").replaceAll(slow.origin.url, "ORIGIN"));
      assert.deepEqual(norm(sa), norm(sb), `${method} ${target}`);
    }
  });

  test("PORTICO_FAST_PATH=off keeps every request on workers-rs, and counters agree", async () => {
    const { host } = await slow.addHost({ routes: routes(slow.origin.url) });
    for (let i = 0; i < 3; i++) {
      const r = await slow.fetch("/static", { host });
      await r.text();
      assert.equal(path(r), "workers-rs");
      assert.ok(parseStats(r));
    }
  });
});
