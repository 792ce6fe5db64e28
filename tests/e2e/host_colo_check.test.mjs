// Writes made through *another* isolate in the same location: that isolate purges
// the colo's Cache API entry, but this isolate still holds the host in memory.
// A background check (every PORTICO_HOST_CACHE_COLO_CHECK_SECONDS while the entry is
// fresh) compares memory with the Cache API and rereads the source when the entry
// is gone, so the change shows up within the check window instead of the fresh TTL.
// Miniflare runs one isolate, so the other isolate's write is simulated exactly as
// it happens: the route changes in D1 and the host's Cache API entry is deleted,
// without touching this isolate's memory.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { useHarness, sleep } from "./harness.mjs";

const route = (body) => [{ match: { path: "/*" }, handlers: [{ type: "static", options: { body } }] }];

async function otherIsolateWrites(h, host, routeId, body) {
  await h.db
    .prepare("UPDATE routes SET handlers_json = ?1 WHERE id = ?2")
    .bind(JSON.stringify([{ type: "static", options: { body } }]), routeId)
    .run();
  const caches = await h.mf.getCaches();
  assert.equal(await caches.default.delete(`https://${host}/.portico/host-cache/v1`), true, "the Cache API held the host");
}

async function text(h, host) {
  const res = await h.fetch("/x", { host });
  return { body: await res.text(), tier: res.headers.get("x-portico-host-cache") };
}

describe("colo check on (1 s window, 60 s fresh TTL)", () => {
  const h = useHarness({
    bindings: { PORTICO_DEBUG_HEADERS: "true", PORTICO_HOST_CACHE_FRESH_SECONDS: "60", PORTICO_HOST_CACHE_COLO_CHECK_SECONDS: "1" },
  });

  test("a write purged by another isolate reaches this isolate's memory within the window", async () => {
    const { host, routeIds } = await h.addHost({ routes: route("v1") });
    assert.deepEqual(await text(h, host), { body: "v1", tier: "source" });
    assert.deepEqual(await text(h, host), { body: "v1", tier: "memory" });
    await otherIsolateWrites(h, host, routeIds[0], "v2");
    // Inside the window memory is trusted as is: the warm path reads nothing.
    assert.equal((await text(h, host)).body, "v1");
    await sleep(1100);
    let seen = null;
    for (let i = 0; i < 30 && seen !== "v2"; i++) {
      seen = (await text(h, host)).body;
      if (seen !== "v2") await sleep(100);
    }
    assert.equal(seen, "v2", "the change arrived long before the 60 s fresh TTL");
  });

  test("the one shared entry of a wildcard is checked too: another isolate's write arrives within the window", async () => {
    const tenant = h.uniq("tw");
    await h.addTenant(tenant);
    const base = `${h.uniq("w")}.test`;
    const domain_id = await h.addDomain({ tenant_id: tenant, domain: `*.${base}` });
    const routeId = await h.addRoute({ tenant_id: tenant, custom_domain_id: domain_id, handlers: [{ type: "static", options: { body: "v1" } }] });
    assert.deepEqual(await text(h, `a.${base}`), { body: "v1", tier: "source" });
    assert.deepEqual(await text(h, `b.${base}`), { body: "v1", tier: "memory" }, "shared by every host under it");
    await h.db.prepare("UPDATE routes SET handlers_json = ?1 WHERE id = ?2").bind(JSON.stringify([{ type: "static", options: { body: "v2" } }]), routeId).run();
    const caches = await h.mf.getCaches();
    assert.equal(await caches.default.delete(`https://${base}/.portico/host-cache/v1/wildcard`), true, "the colo tier held the wildcard entry");
    await sleep(1100);
    let seen = null;
    for (let i = 0; i < 30 && seen !== "v2"; i++) {
      seen = (await text(h, `${h.uniq("r")}.${base}`)).body;
      if (seen !== "v2") await sleep(100);
    }
    assert.equal(seen, "v2", "the change arrived long before the 60 s fresh TTL");
  });

  test("an unchanged colo entry only confirms memory (no source read)", async () => {
    const { host } = await h.addHost({ routes: route("same") });
    await text(h, host);
    const stats = async () => {
      const res = await h.fetch("/x", { host });
      await res.text();
      return Object.fromEntries(res.headers.get("x-portico-stats").split(",").map((kv) => kv.split("=").map((x) => (Number.isNaN(Number(x)) ? x : Number(x)))));
    };
    const before = await stats();
    await sleep(1100);
    await stats(); // triggers the check
    await sleep(300);
    const after = await stats();
    assert.equal(after.source_reads, before.source_reads, "no source read when the colo entry matches");
    assert.ok(after.cache_api_reads > before.cache_api_reads, "the check read the Cache API in the background");
  });
});

describe("colo check off", () => {
  const h = useHarness({
    bindings: { PORTICO_DEBUG_HEADERS: "true", PORTICO_HOST_CACHE_FRESH_SECONDS: "60", PORTICO_HOST_CACHE_COLO_CHECK_SECONDS: "0" },
  });

  test("without the check, memory keeps the old config until the fresh TTL", async () => {
    const { host, routeIds } = await h.addHost({ routes: route("v1") });
    await text(h, host);
    await otherIsolateWrites(h, host, routeIds[0], "v2");
    await sleep(1500);
    for (let i = 0; i < 5; i++) assert.equal((await text(h, host)).body, "v1");
  });
});
