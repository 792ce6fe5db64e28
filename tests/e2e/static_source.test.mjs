// PORTICO_HOST_SOURCE=static: the whole host table comes from PORTICO_STATIC_CONFIG
// (a JSON string or a JSON object). An invalid document answers 503 config_invalid
// on every request. Each describe block runs its own Miniflare.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { useHarness, json, expectError } from "./harness.mjs";

const staticDoc = (origin) => ({
  hosts: {
    "static.test": {
      tenant_id: "acme",
      custom_domain_id: "dom-static",
      routes: [
        { id: "health", priority: 10, match: { path: "/healthz" }, handlers: [{ type: "static", options: { json: { ok: true, source: "static" } } }] },
        {
          id: "origin",
          match: { path: "/origin/*" },
          handlers: [
            { type: "headers", options: { request: { "x-demo": "static" }, response: { "x-served-by": "portico" } } },
            { type: "http", options: { upstream_url: `${origin.url}/` } },
          ],
        },
        // no id / match: optional. (Priority given: how id-less static routes tie is
        // not fixed by the contract.)
        { priority: 1000, handlers: [{ type: "dispatch_namespace", options: { binding: "DISPATCHER", script_name: "tenant-{tenant_id}", cpu_ms: 7 } }] },
      ],
    },
    "svc.static.test": {
      tenant_id: "globex",
      routes: [{ match: { path: "/*" }, handlers: [{ type: "service_binding", options: { binding: "EXAMPLE_SERVICE" } }] }],
    },
  },
});

describe("static source, document as a JSON string", () => {
  const h = useHarness({
    bindings: ({ origin }) => ({
      PORTICO_HOST_SOURCE: "static",
      PORTICO_STATIC_CONFIG: JSON.stringify(staticDoc(origin)),
      PORTICO_DEBUG_HEADERS: "true",
    }),
  });

  test("static routes, http, dispatch and service binding", async () => {
    let res = await h.fetch("/healthz", { host: "static.test" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-portico-host-cache"), "static");
    assert.deepEqual(await json(res), { ok: true, source: "static" });

    res = await h.fetch("/origin/a?b=1", { host: "STATIC.test:8080" });
    assert.equal(res.status, 200, "host normalised with the static source too");
    assert.equal((await json(res)).path, "/origin/a");

    res = await h.fetch("/origin/a?b=1", { host: "static.test" });
    assert.equal(res.headers.get("x-served-by"), "portico");
    const doc = await json(res);
    assert.equal(doc.path, "/origin/a");
    assert.equal(doc.query, "b=1");
    assert.equal(doc.headers["x-demo"], "static");
    assert.equal(doc.headers["x-forwarded-host"], "static.test");

    res = await h.fetch("/anything-else", { host: "static.test" });
    const d = await json(res);
    assert.equal(d.script, "tenant-acme");
    assert.deepEqual(JSON.parse(d.headers["x-dispatch-limits"]), { cpuMs: 7 });

    res = await h.fetch("/svc", { host: "svc.static.test" });
    assert.equal((await json(res)).service, "example-service");
  });

  test("no source reads and no Cache API traffic for static hosts", async () => {
    const r1 = await h.fetch("/healthz", { host: "static.test" });
    await r1.text();
    const r2 = await h.fetch("/healthz", { host: "static.test" });
    await r2.text();
    const s = (res) => Object.fromEntries(res.headers.get("x-portico-stats").split(",").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)]));
    assert.equal(s(r2).cache_api_reads, s(r1).cache_api_reads);
    assert.equal(s(r2).cache_api_writes, s(r1).cache_api_writes);
    assert.equal(s(r2).source_reads, s(r1).source_reads);
  });

  test("hosts only in D1 are unknown when the source is static", async () => {
    await h.addTenant("d1only");
    await h.addDomain({ tenant_id: "d1only", domain: "d1only.test" });
    await h.addRoute({ tenant_id: "d1only", match: { path: "/*" }, handlers: [{ type: "static", options: { body: "from d1" } }] });
    await expectError(assert, await h.fetch("/", { host: "d1only.test" }), 404, undefined, "Unknown host");
    await expectError(assert, await h.fetch("/", { host: "nope.test" }), 404, undefined, "Unknown host");
  });
});

describe("static source, document as a JSON object var", () => {
  const h = useHarness({
    bindings: ({ origin }) => ({
      PORTICO_HOST_SOURCE: "static",
      PORTICO_STATIC_CONFIG: staticDoc(origin),
    }),
  });

  test("same document given as an object works; debug headers off by default", async () => {
    const res = await h.fetch("/healthz", { host: "static.test" });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { ok: true, source: "static" });
    assert.equal(res.headers.get("x-portico-stats"), null);
    assert.equal(res.headers.get("x-portico-host-cache"), null);
  });
});

describe("invalid static document: not JSON", () => {
  const h = useHarness({
    bindings: { PORTICO_HOST_SOURCE: "static", PORTICO_STATIC_CONFIG: "{ this is not json" },
  });
  test("every request -> 503 config_invalid", async () => {
    for (const host of ["static.test", "anything.test"]) {
      await expectError(assert, await h.fetch("/", { host }), 503, "config_invalid");
    }
  });
});

describe("invalid static document: a semantically invalid route", () => {
  const h = useHarness({
    bindings: {
      PORTICO_HOST_SOURCE: "static",
      PORTICO_STATIC_CONFIG: JSON.stringify({
        hosts: {
          "good.test": { tenant_id: "t1", routes: [{ handlers: [{ type: "static", options: { body: "good" } }] }] },
          "bad.test": { tenant_id: "t2", routes: [{ handlers: [{ type: "cors", options: {} }] }] },
        },
      }),
    },
  });
  test("the whole source is invalid: 503 config_invalid even for the good host", async () => {
    await expectError(assert, await h.fetch("/", { host: "bad.test" }), 503, "config_invalid");
    await expectError(assert, await h.fetch("/", { host: "good.test" }), 503, "config_invalid");
    await expectError(assert, await h.fetch("/", { host: "unknown.test" }), 503, "config_invalid");
  });
});
