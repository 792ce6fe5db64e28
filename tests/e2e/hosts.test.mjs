// Host resolution with the D1 source (the default): normalisation, Host vs
// X-Forwarded-Host, unknown hosts, wildcard domains, the warm path (debug headers),
// and invalid routes stored in D1 (502 data_plane_error for that host only).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { useHarness, uniq, parseStats, expectError, json } from "./harness.mjs";

// PORTICO_HOST_SOURCE deliberately absent: d1 is the default.
const h = useHarness({ bindings: { PORTICO_DEBUG_HEADERS: "true" } });

const s = (name) => [{ type: "static", options: { body: name } }];
const cacheTier = (res) => res.headers.get("x-portico-host-cache");

describe("normalisation", () => {
  test("uppercase, port and one trailing dot resolve to the stored domain, with one source read", async () => {
    const base = `${uniq("norm")}.test`;
    const { host } = await h.addHost({ host: base, routes: [{ handlers: s("norm-ok") }] });
    const first = await h.fetch("/", { host });
    assert.equal(first.status, 200);
    assert.equal(await first.text(), "norm-ok");
    const before = parseStats(first);
    assert.ok(before, "x-portico-stats present with PORTICO_DEBUG_HEADERS=true");

    for (const variant of [host.toUpperCase(), `${host}:8443`, `${host}.`, `${host.toUpperCase()}.:8080`, `${host[0].toUpperCase()}${host.slice(1)}`]) {
      const res = await h.fetch("/", { host: variant });
      assert.equal(res.status, 200, variant);
      assert.equal(await res.text(), "norm-ok", variant);
      assert.equal(cacheTier(res), "memory", `${variant}: one normalised cache key`);
      assert.equal(parseStats(res).source_reads, before.source_reads, `${variant}: no new source read`);
    }
    // only ONE trailing dot is stripped: "host.." must not resolve (404 unknown, or 400 invalid)
    const dd = await h.fetch("/", { host: `${host}..` });
    const ddText = await dd.text();
    assert.ok([400, 404].includes(dd.status), `${host}.. -> ${dd.status} ${ddText}`);
  });

  test("X-Forwarded-Host is used only when Host is absent", async () => {
    const { host } = await h.addHost({ routes: [{ handlers: s("xfh-ok") }] });
    const viaXfh = await h.probe(`http://${host}/`, { headers: [["x-forwarded-host", host.toUpperCase()]] });
    assert.equal(viaXfh.status, 200);
    assert.equal(await viaXfh.text(), "xfh-ok");

    const hostWins = await h.probe(`http://${host}/`, { headers: [["host", "not-registered.test"], ["x-forwarded-host", host]] });
    await expectError(assert, hostWins, 404, undefined, "Unknown host");

    const realHttp = await h.fetch("/", { host: "not-registered-2.test", headers: { "x-forwarded-host": host } });
    await expectError(assert, realHttp, 404, undefined, "Unknown host");
  });

  test("neither Host nor X-Forwarded-Host -> 400 Missing host", async () => {
    const res = await h.probe("http://whatever.test/");
    await expectError(assert, res, 400, undefined, "Missing host");
  });
});

describe("unknown hosts and wildcards", () => {
  test("unknown host -> 404 Unknown host, then served from the negative cache", async () => {
    const host = `${uniq("unknown")}.test`;
    await expectError(assert, await h.fetch("/", { host }), 404, undefined, "Unknown host");
    const second = await h.fetch("/x", { host });
    const stats1 = parseStats(second);
    assert.equal(cacheTier(second), "negative");
    await expectError(assert, second, 404, undefined, "Unknown host");
    const third = await h.fetch("/y", { host });
    assert.equal(parseStats(third).source_reads, stats1.source_reads);
    await third.text();
  });

  test("wildcard domain: any depth, not the apex; an exact domain beats the wildcard", async () => {
    const base = `${uniq("wild")}.test`;
    const tA = uniq("tn");
    await h.addTenant(tA);
    const wid = await h.addDomain({ tenant_id: tA, domain: `*.${base}` });
    await h.addRoute({ tenant_id: tA, custom_domain_id: wid, match: { path: "/*" }, handlers: s("wildcard-tenant") });
    const exact = await h.addHost({ host: `exact.${base}`, routes: [{ handlers: s("exact-tenant") }] });

    for (const sub of [`a.${base}`, `a.b.${base}`, `A.B.C.${base.toUpperCase()}`]) {
      const res = await h.fetch("/", { host: sub });
      assert.equal(res.status, 200, sub);
      assert.equal(await res.text(), "wildcard-tenant", sub);
    }
    const ex = await h.fetch("/", { host: exact.host });
    assert.equal(await ex.text(), "exact-tenant");
    await expectError(assert, await h.fetch("/", { host: base }), 404, undefined, "Unknown host");
  });

  test("no route matches -> 404 No matching route", async () => {
    const { host } = await h.addHost({ routes: [{ match: { path: "/only" }, handlers: s("only") }] });
    await expectError(assert, await h.fetch("/other", { host }), 404, undefined, "No matching route");
  });

  test("a domain without any route -> 404 No matching route", async () => {
    const { host } = await h.addHost({ routes: [] });
    await expectError(assert, await h.fetch("/", { host }), 404, undefined, "No matching route");
  });
});

describe("warm path", () => {
  test("first request reads the source, the second is served from memory with no reads", async () => {
    const { host } = await h.addHost({ routes: [{ handlers: s("warm") }] });
    const r1 = await h.fetch("/", { host });
    assert.equal(await r1.text(), "warm");
    assert.equal(cacheTier(r1), "source");
    const s1 = parseStats(r1);
    for (const k of ["source_reads", "cache_api_reads", "cache_api_writes", "route_compiles"]) {
      assert.equal(typeof s1[k], "number", `stat ${k} in ${r1.headers.get("x-portico-stats")}`);
      assert.ok(Number.isFinite(s1[k]), k);
    }
    assert.ok(s1.source_reads >= 1);

    const r2 = await h.fetch("/again", { host });
    assert.equal(await r2.text(), "warm");
    assert.equal(cacheTier(r2), "memory");
    const s2 = parseStats(r2);
    assert.equal(s2.source_reads, s1.source_reads, "no source read on the warm path");
    assert.equal(s2.cache_api_reads, s1.cache_api_reads, "no Cache API read on the warm path");
    assert.equal(s2.route_compiles, s1.route_compiles, "the compiled route table is reused");

    // a different new host does read the source
    const other = await h.addHost({ routes: [{ handlers: s("warm2") }] });
    const r3 = await h.fetch("/", { host: other.host });
    assert.equal(cacheTier(r3), "source");
    assert.ok(parseStats(r3).source_reads > s2.source_reads);
    await r3.text();
  });

  test("concurrent misses on a cold host share one source read, and every request is served", async () => {
    // The requests that wait for another request's source read then do their own
    // upstream I/O; in workerd that must run in their own request context (a Rust
    // waker fired from the reading request's context is not enough). Several rounds,
    // because whether requests overlap depends on timing.
    const failures = [];
    for (let round = 0; round < 6; round++) {
      const { host } = await h.addHost({
        routes: [{ handlers: [{ type: "http", options: { upstream_url: `${h.origin.url}/` } }] }],
      });
      const before = parseStats(await h.fetch("/", { host: `${uniq("probe")}.test` }));
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => h.fetch(`/concurrent/${i}`, { host }).then(async (r) => ({ r, text: await r.text() }))),
      );
      for (const [i, { r, text }] of results.entries()) {
        if (r.status !== 200 || JSON.parse(text).path !== `/concurrent/${i}`) {
          failures.push(`round ${round} request ${i}: ${r.status} ${r.headers.get("x-portico-error")} ${text.slice(0, 160)}`);
        }
      }
      // `before` was taken after the probe host's own (negative) source read
      const reads = Math.max(...results.map(({ r }) => parseStats(r)?.source_reads ?? 0)) - before.source_reads;
      if (failures.length === 0) assert.equal(reads, 1, `round ${round}: source reads for 10 concurrent cold requests: ${reads}`);
    }
    assert.deepEqual(failures, [], `${failures.length} of 60 concurrent cold requests failed`);
  });

  test("debug headers appear on error responses too", async () => {
    const res = await h.fetch("/", { host: `${uniq("nohost")}.test` });
    assert.equal(res.status, 404);
    assert.ok(res.headers.get("x-portico-host-cache"));
    assert.ok(parseStats(res));
    await res.text();
  });
});

describe("invalid routes stored in D1", () => {
  const invalid = {
    "handlers not JSON": { match: { path: "/*" }, handlers: "not json" },
    "match not JSON": { match: "{oops", handlers: s("x") },
    "empty handler list": { match: { path: "/*" }, handlers: [] },
    "non-terminal last handler": { match: { path: "/*" }, handlers: [{ type: "cors", options: { origins: ["*"] } }] },
    "unknown handler type": { match: { path: "/*" }, handlers: [{ type: "no_such_handler", options: {} }] },
    "invalid header regex": { match: { path: "/*", headers: { "x-a": "(" } }, handlers: s("x") },
    "invalid upstream URL": { match: { path: "/*" }, handlers: [{ type: "http", options: { upstream_url: "not a url" } }] },
    "wrong option type": { match: { path: "/*" }, handlers: [{ type: "static", options: { status: "two hundred" } }] },
  };
  for (const [name, bad] of Object.entries(invalid)) {
    test(`${name} -> 502 data_plane_error for that host only`, async () => {
      const tenant_id = uniq("tn");
      const broken = await h.addHost({ tenant_id, routes: [bad] });
      // same tenant, another domain with a valid route: unaffected
      const healthy = await h.addHost({ tenant_id, routes: [{ handlers: s("healthy") }] });
      await expectError(assert, await h.fetch("/", { host: broken.host }), 502, "data_plane_error");
      const ok = await h.fetch("/", { host: healthy.host });
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), "healthy");
      // and the broken host stays broken without taking the isolate down
      await expectError(assert, await h.fetch("/again", { host: broken.host }), 502, "data_plane_error");
    });
  }

  test("after all that, the isolate still serves warm hosts from memory (no panic wiped it)", async () => {
    const { host } = await h.addHost({ routes: [{ handlers: s("still-warm") }] });
    (await h.fetch("/", { host })).body?.cancel();
    const broken = await h.addHost({ routes: [invalid["handlers not JSON"]] });
    await (await h.fetch("/", { host: broken.host })).text();
    const res = await h.fetch("/", { host });
    assert.equal(await res.text(), "still-warm");
    assert.equal(cacheTier(res), "memory");
  });
});

describe("seed data", () => {
  test("dev/seed.sql routes work end to end (healthz, origin chain, service, app, private, old, limited)", async () => {
    const { readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { ROOT } = await import("./harness.mjs");
    const seed = readFileSync(join(ROOT, "dev/seed.sql"), "utf8").replaceAll("http://127.0.0.1:9001/", `${h.origin.url}/`);
    await h.exec(seed);

    let res = await h.fetch("/healthz", { host: "acme.localhost" });
    assert.deepEqual(await json(res), { ok: true });

    res = await h.fetch("/origin/hello?x=1", { host: "acme.localhost", headers: { origin: "https://site.test" } });
    assert.equal(res.headers.get("x-served-by"), "portico");
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    let doc = await json(res);
    assert.equal(doc.path, "/origin/hello");
    assert.equal(doc.headers["x-demo"], "acme");
    assert.equal(doc.headers["x-forwarded-host"], "acme.localhost");

    res = await h.fetch("/service/x", { host: "www.acme.localhost" });
    doc = await json(res);
    assert.equal(doc.service, "example-service");
    assert.equal(doc.host, "www.acme.localhost");

    res = await h.fetch("/app/x", { host: "acme.localhost" });
    doc = await json(res);
    assert.equal(doc.script, "tenant-acme");
    assert.deepEqual(JSON.parse(doc.headers["x-dispatch-limits"]), { cpuMs: 50, subRequests: 10 });

    res = await h.fetch("/private/x", { host: "acme.localhost" });
    assert.equal(res.status, 401);
    await res.text();
    res = await h.fetch("/private/x", { host: "acme.localhost", headers: { authorization: "Basic " + Buffer.from("demo:demo").toString("base64") } });
    assert.equal(await res.text(), "secret area");

    res = await h.fetch("/old/page", { host: "acme.localhost" });
    assert.equal(res.status, 301);
    assert.equal(res.headers.get("location"), "https://acme.localhost:8787/origin/");
    await res.text();

    res = await h.fetch("/limited/x", { host: "acme.localhost" });
    assert.equal(res.status, 200);
    assert.equal((await json(res)).path, "/limited/x");

    res = await h.fetch("/some/page", { host: "globex.localhost" });
    doc = await json(res);
    assert.equal(doc.script, "tenant-globex");
    assert.equal(doc.headers["x-dispatch-script"], "host-globex.localhost");
  });
});
