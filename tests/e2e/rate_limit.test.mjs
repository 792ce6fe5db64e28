// The `rate_limit` handler (DESIGN §4) against Miniflare's real Workers Rate
// Limiting emulation: counting per key recipe, 429 + Retry-After, tenants never
// sharing a counter, write-time refusals through the management API, the 429
// passing back through `cors`, and rate-limited routes taking the workers-rs path
// even when the lean JS entry is on.
//
// Miniflare's limiter (PLATFORM.md "Rate limiting") counts in windows aligned to
// multiples of the period and forgets a counter after ~10 s idle: every test uses
// fresh keys (fresh hosts), sends its burst without pauses, and starts it early in
// a window (freshWindow).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { useHarness, uniq, sleep, expectError } from "./harness.mjs";
import { makeKey, signJwt, jwks, now } from "./support/tokens.mjs";
import { startOAuthProvider as startIdp } from "../../dev/oauth-provider.mjs";

const CP = "cp.test";
const ISSUER = "https://issuer.test";
const AUDIENCE = "portico-api";
const cpKey = makeKey("EdDSA", "rl-cp-1");

// RL_TEST: 3 per 60 s; RL_STRICT: 2 per 10 s.
const LIMIT = 3;
const RATELIMITS = {
  RL_TEST: { namespace_id: "2001", simple: { limit: LIMIT, period: 60 } },
  RL_STRICT: { namespace_id: "2002", simple: { limit: 2, period: 10 } },
};

const STATIC_EDGE = "portico-static-rl";
/** Two tenants, each with a route `api` keyed by the same header, and one id-less route. */
function staticDocument(upstream_url) {
  const route = (id) => ({
    ...(id ? { id } : {}),
    match: { path: "/api/*" },
    handlers: [{ type: "rate_limit", options: { limiter: "RL_TEST", key: "header:x-client" } }, { type: "http", options: { upstream_url } }],
  });
  return {
    hosts: {
      "a.static-rl.test": { tenant_id: "tenant_a", routes: [route("api")] },
      "b.static-rl.test": { tenant_id: "tenant_b", routes: [route("api")] },
      "c.static-rl.test": { tenant_id: "tenant_c", routes: [route(null)] },
      "d.static-rl.test": { tenant_id: "tenant_d", routes: [route(null)] },
    },
  };
}

const h = useHarness({
  bindings: {
    PORTICO_HOST_SOURCE: "d1",
    PORTICO_DEBUG_HEADERS: "true",
    PORTICO_RATE_LIMITERS: "RL_TEST:60,RL_STRICT:10",
    CONTROL_PLANE_HOSTS: CP,
    PORTICO_AUTH_KEYS: JSON.stringify(jwks(cpKey)),
    PORTICO_AUTH_ISSUER: ISSUER,
    PORTICO_AUTH_AUDIENCE: AUDIENCE,
  },
  porticoOptions: { ratelimits: RATELIMITS },
  // A second Portico on the static source, where two tenants' routes can carry the
  // very same id.
  extraWorkers: ({ origin, porticoWorker }) => [
    porticoWorker(
      STATIC_EDGE,
      {
        PORTICO_HOST_SOURCE: "static",
        PORTICO_DEBUG_HEADERS: "true",
        PORTICO_RATE_LIMITERS: "RL_TEST:60",
        PORTICO_STATIC_CONFIG: JSON.stringify(staticDocument(`${origin.url}/`)),
      },
      { ratelimits: RATELIMITS },
    ),
  ],
});

const httpTo = () => ({ type: "http", options: { upstream_url: `${h.origin.url}/` } });
const limit = (key, limiter = "RL_TEST") => ({ type: "rate_limit", options: { limiter, key } });
const marker = () => crypto.randomUUID();
const ip = () => `198.51.100.${1 + crypto.randomInt(250)}`;

/** Waits for the next window when fewer than `needMs` are left in this one. */
async function freshWindow(periodS = 60, needMs = 5000) {
  const ms = periodS * 1000;
  const left = ms - (Date.now() % ms);
  if (left < needMs) await sleep(left + 100);
}

/** `n` sequential requests; resolves with their statuses (bodies drained). */
async function burst(n, path, init) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const res = await h.fetch(path, init);
    await res.text();
    out.push(res.status);
  }
  return out;
}

const allowed = Array(LIMIT).fill(200);

async function expectLimited(res, retryAfter = "60") {
  await expectError(assert, res, 429, "rate_limited");
  assert.equal(res.headers.get("retry-after"), retryAfter);
}

describe("counting", () => {
  test("under the limit passes; over it → 429 rate_limited with Retry-After, origin not called", async () => {
    const { host } = await h.addHost({ routes: [{ handlers: [limit("ip"), httpTo()] }] });
    const a = ip();
    await freshWindow();
    assert.deepEqual(await burst(LIMIT, "/x", { host, headers: { "cf-connecting-ip": a } }), allowed);
    const m = marker();
    const over = await h.fetch(`/over-${m}`, { host, headers: { "cf-connecting-ip": a } });
    await expectLimited(over);
    assert.equal(over.headers.get("cache-control"), "no-store");
    assert.equal(h.origin.requestsMatching(m).length, 0, "the origin never saw the limited request");
    // Another client address has its own counter.
    const b = `203.0.113.${1 + crypto.randomInt(250)}`;
    assert.deepEqual(await burst(1, "/x", { host, headers: { "cf-connecting-ip": b } }), [200]);
  });

  test("a 10 s limiter answers Retry-After: 10", async () => {
    const { host } = await h.addHost({ routes: [{ handlers: [limit("ip", "RL_STRICT"), httpTo()] }] });
    const a = ip();
    await freshWindow(10, 4000);
    assert.deepEqual(await burst(2, "/x", { host, headers: { "cf-connecting-ip": a } }), [200, 200]);
    await expectLimited(await h.fetch("/x", { host, headers: { "cf-connecting-ip": a } }), "10");
  });

  test("header key: one counter per value, a missing header counts as one anonymous client", async () => {
    const { host } = await h.addHost({ routes: [{ handlers: [limit("header:x-api-key"), httpTo()] }] });
    await freshWindow();
    const k1 = { host, headers: { "x-api-key": "key-1", "cf-connecting-ip": ip() } };
    assert.deepEqual(await burst(LIMIT + 1, "/x", k1), [...allowed, 429]);
    // Same value from another address: still the same counter.
    assert.deepEqual(await burst(1, "/x", { host, headers: { "x-api-key": "key-1", "cf-connecting-ip": ip() } }), [429]);
    assert.deepEqual(await burst(1, "/x", { host, headers: { "x-api-key": "key-2" } }), [200]);
    // No header at all: every such request shares the anonymous counter.
    const anon = [];
    for (let i = 0; i <= LIMIT; i++) {
      const res = await h.fetch("/x", { host, headers: { "cf-connecting-ip": ip() } });
      await res.text();
      anon.push(res.status);
    }
    assert.deepEqual(anon, [...allowed, 429]);
    // A value spelling the anonymous marker is not the anonymous counter.
    assert.deepEqual(await burst(1, "/x", { host, headers: { "x-api-key": "-" } }), [200]);
  });

  test("tenant key: every client of the route shares one counter", async () => {
    const { host } = await h.addHost({ routes: [{ handlers: [limit("tenant"), httpTo()] }] });
    await freshWindow();
    const statuses = [];
    for (let i = 0; i <= LIMIT; i++) {
      const res = await h.fetch("/x", { host, headers: { "cf-connecting-ip": ip() } });
      await res.text();
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [...allowed, 429]);
  });

  test("route key: each route counts on its own", async () => {
    const { host } = await h.addHost({
      routes: [
        { match: { path: "/a/*" }, handlers: [limit("route"), httpTo()] },
        { match: { path: "/b/*" }, handlers: [limit("route"), httpTo()] },
      ],
    });
    await freshWindow();
    assert.deepEqual(await burst(LIMIT + 1, "/a/1", { host }), [...allowed, 429]);
    assert.deepEqual(await burst(1, "/b/1", { host }), [200]);
  });

  test("claim key: counted per verified subject, keys fetched from a JWKS URL first", async (t) => {
    const idp = await startIdp({ issuer: "https://idp.rl.test", audience: "rl", keys: [makeKey("ES256", "rl-idp-1")] });
    t.after(() => idp.close());
    const { host } = await h.addHost({
      routes: [
        {
          handlers: [
            { type: "jwt", options: { jwks_url: idp.jwksUrl, issuer: "https://idp.rl.test", audience: "rl" } },
            limit("claim:sub"),
            httpTo(),
          ],
        },
      ],
    });
    const as = (sub) => ({ host, headers: { authorization: `Bearer ${idp.mint({ sub })}`, "cf-connecting-ip": ip() } });
    const alice = `alice-${uniq()}`;
    await freshWindow();
    assert.deepEqual(await burst(LIMIT + 1, "/x", as(alice)), [...allowed, 429]);
    assert.deepEqual(await burst(1, "/x", as(`bob-${uniq()}`)), [200], "another subject, another counter");
    // A bad token is refused by jwt (401) and costs no hit.
    const bad = await h.fetch("/x", { host, headers: { authorization: "Bearer nope.nope.nope" } });
    assert.equal(bad.status, 401);
    await bad.text();
    // A valid token without the claim counts under the anonymous key.
    const noSub = () => ({ host, headers: { authorization: `Bearer ${idp.mint({ sub: undefined, scope: "x" })}` } });
    const statuses = [];
    for (let i = 0; i <= LIMIT; i++) statuses.push(...(await burst(1, "/x", noSub())));
    assert.deepEqual(statuses, [...allowed, 429]);
  });

  test("429 passes back through the cors response phase", async () => {
    const { host } = await h.addHost({
      routes: [{ handlers: [{ type: "cors", options: { origins: ["https://web.test"] } }, limit("ip"), httpTo()] }],
    });
    const init = { host, headers: { origin: "https://web.test", "cf-connecting-ip": ip() } };
    await freshWindow();
    assert.deepEqual(await burst(LIMIT, "/x", init), allowed);
    const res = await h.fetch("/x", init);
    await expectLimited(res);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://web.test");
    assert.match(res.headers.get("vary") ?? "", /origin/i);
  });

  test("with the lean JS entry on, rate-limited routes take the workers-rs path and still count", async (t) => {
    const { host } = await h.addHost({
      routes: [
        { match: { path: "/plain" }, handlers: [httpTo()] },
        { match: { path: "/limited" }, handlers: [limit("ip"), httpTo()] },
      ],
    });
    // Warm the host so the fast path can serve it.
    for (let i = 0; i < 3; i++) await (await h.fetch("/plain", { host })).text();
    const plain = await h.fetch("/plain", { host });
    await plain.text();
    const fastOn = plain.headers.get("x-portico-path") === "fast";
    const init = { host, headers: { "cf-connecting-ip": ip() } };
    await freshWindow();
    const paths = [];
    const statuses = [];
    for (let i = 0; i <= LIMIT; i++) {
      const res = await h.fetch("/limited", init);
      await res.text();
      statuses.push(res.status);
      paths.push(res.headers.get("x-portico-path"));
    }
    assert.deepEqual(statuses, [...allowed, 429]);
    if (fastOn) assert.deepEqual(paths, Array(LIMIT + 1).fill("workers-rs"), "never the fast path");
    else t.diagnostic("the build under test has no fast path (PORTICO_E2E_SCRIPT unset)");
  });
});

describe("tenants never share a counter", () => {
  test("two tenants, the same route and key value: separate counters", async () => {
    const route = () => ({ match: { path: "/api/*" }, handlers: [limit("header:x-client"), httpTo()] });
    const a = await h.addHost({ routes: [route()] });
    const b = await h.addHost({ routes: [route()] });
    const same = { "x-client": "shared-client" };
    await freshWindow();
    assert.deepEqual(await burst(LIMIT + 1, "/api/x", { host: a.host, headers: same }), [...allowed, 429]);
    assert.deepEqual(await burst(LIMIT, "/api/x", { host: b.host, headers: same }), allowed, "tenant b has its own counter");
    // A value crafted to look like another tenant's key prefix is only a value.
    const forged = { "x-client": `shared-client/${b.tenant_id.length}:${b.tenant_id}/` };
    assert.deepEqual(await burst(1, "/api/x", { host: a.host, headers: forged }), [200]);
  });
});

describe("tenants never share a counter (static source, identical route ids)", () => {
  test("tenant_a exhausting route `api` leaves tenant_b's route `api` alone", async () => {
    const value = { "x-client": `c-${uniq()}` };
    const send = async (host, n) => {
      const out = [];
      for (let i = 0; i < n; i++) {
        const res = await h.fetchWorker(STATIC_EDGE, "/api/x", { host, headers: value });
        await res.text();
        out.push(res.status);
      }
      return out;
    };
    await freshWindow();
    assert.deepEqual(await send("a.static-rl.test", LIMIT + 1), [...allowed, 429]);
    assert.deepEqual(await send("b.static-rl.test", LIMIT), allowed);
    // Routes without ids are named by their match, still under their own tenant.
    assert.deepEqual(await send("c.static-rl.test", LIMIT + 1), [...allowed, 429]);
    assert.deepEqual(await send("d.static-rl.test", LIMIT), allowed);
  });
});

describe("write-time and stored-config checks", () => {
  const cpToken = () =>
    signJwt(cpKey, { iss: ISSUER, aud: AUDIENCE, sub: "rl-tester", iat: now(), exp: now() + 300, scope: "routes:read routes:write" });
  async function writeRoute(tid, handlers) {
    const res = await h.fetch(`/api/v1/tenants/${tid}/routes`, {
      host: CP,
      method: "POST",
      headers: { authorization: `Bearer ${cpToken()}`, "content-type": "application/json" },
      body: JSON.stringify({ match: { path: "/*" }, handlers }),
    });
    const text = await res.text();
    return { status: res.status, data: text ? JSON.parse(text) : null, text };
  }
  const errorPaths = (r) => (r.data?.errors ?? []).map((e) => e.path);

  test("an unknown limiter, a bad key and a claim key without jwt are refused naming the field", async () => {
    const tid = await h.addTenant(uniq("rlw"));
    const unknown = await writeRoute(tid, [{ type: "rate_limit", options: { limiter: "RL_NOPE" } }, httpTo()]);
    assert.equal(unknown.status, 400, unknown.text);
    assert.deepEqual(errorPaths(unknown), ["handlers[0].options.limiter"]);
    assert.match(unknown.text, /PORTICO_RATE_LIMITERS/);
    const badKey = await writeRoute(tid, [{ type: "cors" }, limit("cookie:session"), httpTo()]);
    assert.equal(badKey.status, 400, badKey.text);
    assert.deepEqual(errorPaths(badKey), ["handlers[1].options.key"]);
    const noJwt = await writeRoute(tid, [limit("claim:sub"), httpTo()]);
    assert.equal(noJwt.status, 400, noJwt.text);
    assert.deepEqual(errorPaths(noJwt), ["handlers[0].options.key"]);
    const ok = await writeRoute(tid, [limit("header:x-api-key", "RL_STRICT"), httpTo()]);
    assert.equal(ok.status, 201, ok.text);
  });

  test("a stored route naming a limiter the deployment lacks → 502 data_plane_error", async () => {
    const { host } = await h.addHost({ routes: [{ handlers: [limit("ip", "RL_GONE"), httpTo()] }] });
    await expectError(assert, await h.fetch("/x", { host }), 502, "data_plane_error");
  });
});
