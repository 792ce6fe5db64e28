// Host cache semantics (DESIGN.md §2.3) observed through the debug headers:
// stale-while-revalidate, background refresh, stale-if-error, negative TTL, the
// bounded in-memory LRU and the Cache API tier behind it. Short TTLs, so each block
// runs its own Miniflare.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { useHarness, parseStats, sleep, uniq } from "./harness.mjs";

const tier = (res) => res.headers.get("x-portico-host-cache");
const s = (name) => JSON.stringify([{ type: "static", options: { body: name } }]);

describe("fresh / stale-while-revalidate / stale-if-error / negative", () => {
  const h = useHarness({
    bindings: {
      PORTICO_DEBUG_HEADERS: "true",
      PORTICO_HOST_CACHE_FRESH_SECONDS: "1",
      PORTICO_HOST_CACHE_SWR_SECONDS: "2",
      PORTICO_HOST_CACHE_STALE_IF_ERROR_SECONDS: "300",
      PORTICO_HOST_CACHE_NEGATIVE_SECONDS: "2",
    },
  });

  test("a D1 change shows after the fresh TTL: stale served once, refreshed in the background", async () => {
    const { host, routeIds } = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: s("v1") }] });
    const r1 = await h.fetch("/", { host });
    assert.equal(await r1.text(), "v1");
    const r2 = await h.fetch("/", { host });
    assert.equal(await r2.text(), "v1");
    assert.equal(tier(r2), "memory");

    await h.db.prepare("UPDATE routes SET handlers_json = ?1, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?2").bind(s("v2"), routeIds[0]).run();
    await sleep(1300); // past fresh (1 s), inside fresh + swr (3 s)
    const r3 = await h.fetch("/", { host });
    const t3 = await r3.text();
    assert.equal(t3, "v1", "stale value served while revalidating");
    assert.match(tier(r3), /stale/);

    // the background refresh lands shortly after
    let got = null;
    for (let i = 0; i < 20 && got !== "v2"; i++) {
      await sleep(100);
      const r = await h.fetch("/", { host });
      got = await r.text();
      if (got === "v2") assert.ok(["memory", "cache-api"].includes(tier(r)), tier(r));
    }
    assert.equal(got, "v2");
  });

  test("source failing past the swr window: the last good value is served (stale-if-error)", async () => {
    const { host } = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: s("good") }] });
    const r1 = await h.fetch("/", { host });
    assert.equal(await r1.text(), "good");
    await sleep(3300); // past fresh + swr
    await h.exec("ALTER TABLE domains RENAME TO domains_broken_for_test");
    try {
      const r2 = await h.fetch("/", { host });
      const t2 = await r2.text();
      assert.equal(r2.status, 200, `${t2} ${r2.headers.get("x-portico-error")}`);
      assert.equal(t2, "good");
      assert.equal(tier(r2), "stale-if-error");
      // an unknown host cannot be served stale: 502 data_plane_error
      const r3 = await h.fetch("/", { host: `${uniq("never")}.test` });
      assert.equal(r3.status, 502, await r3.text());
      assert.equal(r3.headers.get("x-portico-error"), "data_plane_error");
    } finally {
      await h.exec("ALTER TABLE domains_broken_for_test RENAME TO domains");
    }
  });

  test("negative TTL: a host added after a miss appears once the negative entry expires", async () => {
    const host = `${uniq("neg")}.test`;
    const r1 = await h.fetch("/", { host });
    assert.equal(r1.status, 404);
    await r1.text();
    const t0 = Date.now();
    await h.addHost({ host, routes: [{ match: { path: "/*" }, handlers: s("now-known") }] });
    const r2 = await h.fetch("/", { host });
    const t2 = await r2.text();
    if (Date.now() - t0 < 1500) {
      assert.equal(r2.status, 404, "still negative-cached");
      assert.equal(tier(r2), "negative");
    }
    void t2;
    await sleep(Math.max(0, 2300 - (Date.now() - t0)));
    const r3 = await h.fetch("/", { host });
    assert.equal(r3.status, 200);
    assert.equal(await r3.text(), "now-known");
  });
});

describe("bounded memory LRU backed by the Cache API", () => {
  const h = useHarness({
    bindings: {
      PORTICO_DEBUG_HEADERS: "true",
      PORTICO_HOST_CACHE_MAX_ENTRIES: "3",
    },
  });

  test("an evicted host comes back from the Cache API, not the source", async () => {
    const hosts = [];
    for (let i = 0; i < 5; i++) {
      hosts.push((await h.addHost({ routes: [{ match: { path: "/*" }, handlers: s(`lru${i}`) }] })).host);
    }
    for (let i = 0; i < 5; i++) {
      const r = await h.fetch("/", { host: hosts[i] });
      assert.equal(await r.text(), `lru${i}`);
      assert.equal(tier(r), "source");
    }
    await sleep(200); // let any waitUntil Cache API writes settle
    const newest = await h.fetch("/", { host: hosts[4] });
    assert.equal(tier(newest), "memory");
    await newest.text();
    const before = parseStats(newest);
    assert.ok(before.cache_api_writes >= 5, `cache_api_writes=${before.cache_api_writes}`);

    // hosts[0] was evicted from the 3-entry memory cache
    const r = await h.fetch("/", { host: hosts[0] });
    assert.equal(await r.text(), "lru0");
    assert.equal(tier(r), "cache-api");
    const after = parseStats(r);
    assert.equal(after.source_reads, before.source_reads, "no source read");
    assert.equal(after.cache_api_reads, before.cache_api_reads + 1);

    // and it is back in memory now
    const again = await h.fetch("/", { host: hosts[0] });
    assert.equal(tier(again), "memory");
    await again.text();
  });
});
