// Remote host source (docs/control-plane.md "Remote host source"): a data-plane-only
// Portico ("portico-edge", no D1 binding) resolves hosts by calling the control
// plane's GET /api/v1/control-plane/hosts/{host} on another Portico ("portico", the
// control plane, with D1), authenticated by an OAuth 2.0 client-credentials token
// from a real provider on 127.0.0.1 (dev/oauth-provider.mjs). Both workers run
// the same Wasm build. Also: the control-plane side of that endpoint, and the
// development token script (npm run token) against the committed dev key.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { useHarness, json, uniq, sleep, ROOT } from "./harness.mjs";
import { now, decode } from "./support/tokens.mjs";
import { startOAuthProvider } from "../../dev/oauth-provider.mjs";

const EDGE = "portico-edge";
const CLIENT_ID = "edge-1";
const CLIENT_SECRET = "edge-secret";
const tier = (res) => res.headers.get("x-portico-host-cache");

/** Control-plane vars trusting `idp` (tokens verified through its JWKS URL). */
const cpBindings = (idp, extra = {}) => ({
  PORTICO_HOST_SOURCE: "d1",
  PORTICO_DEBUG_HEADERS: "true",
  CONTROL_PLANE_HOSTS: "cp.test,127.0.0.1",
  PORTICO_AUTH_JWKS_URL: idp.jwksUrl,
  PORTICO_AUTH_ISSUER: idp.issuer,
  PORTICO_AUTH_AUDIENCE: idp.audience,
  ...extra,
});

const withoutUndefined = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** Edge vars: remote source through the CONTROL_PLANE service binding, short cache TTLs. */
const edgeBindings = (idp, extra = {}) => withoutUndefined({
  PORTICO_HOST_SOURCE: "remote",
  PORTICO_REMOTE_URL: "https://cp.test",
  PORTICO_REMOTE_SERVICE: "CONTROL_PLANE",
  PORTICO_REMOTE_TOKEN_URL: idp.tokenUrl,
  PORTICO_REMOTE_CLIENT_ID: CLIENT_ID,
  PORTICO_REMOTE_CLIENT_SECRET: CLIENT_SECRET,
  PORTICO_DEBUG_HEADERS: "true",
  PORTICO_HOST_CACHE_FRESH_SECONDS: "1",
  PORTICO_HOST_CACHE_NEGATIVE_SECONDS: "1",
  ...extra,
});

/**
 * The edge worker: same build, its own vars, the same EXAMPLE_SERVICE / DISPATCHER
 * bindings plus CONTROL_PLANE → the control-plane worker, and deliberately no D1
 * (a data-plane-only deployment has none, so it cannot be reading D1 behind our back).
 */
const edgeWorker = (porticoWorker, bindings, { serviceBinding = true } = {}) =>
  porticoWorker(EDGE, bindings, {
    d1Databases: {},
    serviceBindings: {
      EXAMPLE_SERVICE: "portico-example-service",
      DISPATCHER: "portico-dispatcher-emulator",
      ...(serviceBinding ? { CONTROL_PLANE: "portico" } : {}),
    },
  });

/** An idp started in this suite's before hook (registered before the harness's). */
function useIdp(opts) {
  const ref = { idp: null };
  before(async () => {
    ref.idp = await startOAuthProvider({ clients: { [CLIENT_ID]: CLIENT_SECRET }, ...opts });
  });
  after(async () => {
    await ref.idp?.close();
  });
  return ref;
}

/** Admin token minted by the idp: no tenant claim → control-plane token. */
const adminToken = (idp, claims = {}) =>
  idp.mint({ sub: "admin", scope: "tenants:write domains:write routes:write tenants:read", exp: now() + 600, ...claims });

const api = (h, method, path, { token, body } = {}) => h.apiRequest(method, path, { host: "cp.test", token, body });

async function expectStatus(res, status, what) {
  const text = await res.text();
  assert.equal(res.status, status, `${what}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Tenant + domain + domain-scoped routes created through the control plane's API.
 * Returns { tid, did, host, routeIds }.
 */
async function createHost(h, token, { host = `${uniq("rs")}.test`, routes }) {
  const tid = uniq("rst");
  await expectStatus(await api(h, "POST", "/tenants", { token, body: { id: tid, name: `remote ${tid}` } }), 201, "create tenant");
  const dom = await expectStatus(await api(h, "POST", `/tenants/${tid}/domains`, { token, body: { domain: host } }), 201, "create domain");
  const routeIds = [];
  for (const r of routes) {
    const created = await expectStatus(
      await api(h, "POST", `/tenants/${tid}/routes`, { token, body: { custom_domain_id: dom.id, ...r } }),
      201,
      "create route",
    );
    routeIds.push(created.id);
  }
  return { tid, did: dom.id, host, routeIds };
}

const staticRoute = (body, path = "/*", priority) => ({
  match: { path },
  handlers: [{ type: "static", options: { body } }],
  ...(priority !== undefined ? { priority } : {}),
});

/** Poll the edge until `pred(res, text)` holds (at most ~`ms`); returns the last { res, text }. */
async function pollEdge(h, path, host, pred, ms = 5000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    const res = await h.fetchWorker(EDGE, path, { host });
    const text = await res.text();
    last = { res, text };
    if (pred(res, text) || Date.now() > deadline) return last;
    await sleep(150);
  }
}

describe("edge resolving through the control plane (service binding)", () => {
  const ref = useIdp();
  const h = useHarness({
    bindings: () => cpBindings(ref.idp),
    extraWorkers: ({ porticoWorker }) => [edgeWorker(porticoWorker, edgeBindings(ref.idp))],
  });
  let admin;
  before(() => {
    admin = adminToken(ref.idp);
  });

  test("a host configured through the API is served by the edge: static and http-origin routes", async () => {
    const { host } = await createHost(h, admin, {
      routes: [
        staticRoute("from-static", "/static/*", 10),
        { match: { path: "/*" }, handlers: [{ type: "http", options: { upstream_url: `${h.origin.url}/` } }] },
      ],
    });

    const first = await h.fetchWorker(EDGE, "/static/a", { host });
    assert.equal(first.status, 200);
    assert.equal(await first.text(), "from-static");
    assert.equal(tier(first), "source", "first lookup goes to the remote source");

    const marker = uniq("mk");
    const proxied = await h.fetchWorker(EDGE, `/app/${marker}?q=1`, { host });
    assert.equal(proxied.status, 200);
    const body = await json(proxied);
    assert.equal(body.origin, "demo-origin");
    assert.equal(body.path, `/app/${marker}`);
    assert.equal(body.query, "q=1");
    assert.equal(h.origin.requestsMatching(marker).length, 1, "the origin saw the proxied request");
    // the second request for the host is answered from the edge's own memory
    // ("memory", or "memory-stale" should the fresh second already be over)
    assert.match(tier(proxied) ?? "", /^memory/);
  });

  test("a service_binding route works on the edge too", async () => {
    const { host } = await createHost(h, admin, {
      routes: [{ match: { path: "/*" }, handlers: [{ type: "service_binding", options: { binding: "EXAMPLE_SERVICE" } }] }],
    });
    const res = await h.fetchWorker(EDGE, "/svc", { host });
    assert.equal(res.status, 200);
    assert.equal((await json(res)).service, "example-service");
  });

  test("wildcard domains apply through the remote source", async () => {
    const apex = `${uniq("wild")}.test`;
    await createHost(h, admin, { host: `*.${apex}`, routes: [staticRoute("wild-ok")] });
    const res = await h.fetchWorker(EDGE, "/", { host: `deep.sub.${apex}` });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "wild-ok");
  });

  test("unknown host on the edge → 404 Unknown host", async () => {
    const host = `${uniq("nohost")}.test`;
    for (let i = 0; i < 2; i++) {
      const res = await h.fetchWorker(EDGE, "/", { host });
      assert.equal(res.status, 404);
      assert.equal((await res.text()).trim(), "Unknown host");
    }
  });

  test("one client-credentials token serves many lookups (HTTP Basic, grant_type, scope)", async () => {
    const hosts = [];
    for (let i = 0; i < 4; i++) hosts.push((await createHost(h, admin, { routes: [staticRoute(`many${i}`)] })).host);
    for (let i = 0; i < hosts.length; i++) {
      const res = await h.fetchWorker(EDGE, "/", { host: hosts[i] });
      assert.equal(await res.text(), `many${i}`);
      assert.equal(tier(res), "source");
    }
    // an unknown host is a lookup too
    const miss = await h.fetchWorker(EDGE, "/", { host: `${uniq("miss")}.test` });
    assert.equal(miss.status, 404);
    await miss.text();

    // every lookup in this harness so far (earlier tests included) used one token
    assert.equal(ref.idp.stats.tokenRequests, 1, "token endpoint called once");
    assert.equal(ref.idp.stats.tokenFailures, 0);
    const last = ref.idp.stats.lastTokenRequest;
    const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64")}`;
    assert.equal(last.headers.authorization, basic, "client authenticated with HTTP Basic");
    assert.equal(last.form.grant_type, "client_credentials");
    assert.equal(last.form.scope, "proxy:resolve_host");
    assert.equal(last.form.client_secret, undefined, "the secret is not sent in the form");
    assert.match(last.headers["content-type"] ?? "", /^application\/x-www-form-urlencoded/);
  });

  test("a route change through the API becomes visible on the edge within the fresh TTL", async () => {
    const { tid, host, routeIds } = await createHost(h, admin, { routes: [staticRoute("v1")] });
    const r1 = await h.fetchWorker(EDGE, "/", { host });
    assert.equal(await r1.text(), "v1");

    await expectStatus(
      await api(h, "PATCH", `/tenants/${tid}/routes/${routeIds[0]}`, {
        token: admin,
        body: { handlers: [{ type: "static", options: { body: "v2" } }] },
      }),
      200,
      "patch route",
    );
    const { res, text } = await pollEdge(h, "/", host, (_r, t) => t === "v2");
    assert.equal(text, "v2", `edge still serving ${text} (tier ${tier(res)})`);
  });

  test("a host deleted through the API disappears from the edge", async () => {
    const { tid, did, host } = await createHost(h, admin, { routes: [staticRoute("soon-gone")] });
    const r1 = await h.fetchWorker(EDGE, "/", { host });
    assert.equal(await r1.text(), "soon-gone");
    await expectStatus(await api(h, "DELETE", `/tenants/${tid}/domains/${did}`, { token: admin }), 204, "delete domain");
    const { res, text } = await pollEdge(h, "/", host, (r) => r.status === 404);
    assert.equal(res.status, 404, `edge still serving ${text}`);
    assert.equal(text.trim(), "Unknown host");
  });

  describe("GET /api/v1/control-plane/hosts/{host} on the control plane", () => {
    const resolveToken = (claims = {}) => ref.idp.mint({ sub: "edge-x", scope: "proxy:resolve_host", exp: now() + 600, ...claims });

    test("with proxy:resolve_host: the host record, Cache-Control: no-store", async () => {
      const { tid, did, host, routeIds } = await createHost(h, admin, {
        routes: [staticRoute("rec-a", "/a/*", 5), staticRoute("rec-b")],
      });
      const res = await api(h, "GET", `/control-plane/hosts/${host}`, { token: resolveToken() });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("cache-control") ?? "", /no-store/);
      const rec = await json(res);
      assert.equal(rec.tenant_id, tid);
      assert.equal(rec.custom_domain_id, did);
      assert.equal(rec.domain, host);
      assert.ok(Array.isArray(rec.routes), "routes is a list");
      assert.deepEqual(rec.routes.map((r) => r.id).sort(), [...routeIds].sort());
      const a = rec.routes.find((r) => r.id === routeIds[0]);
      assert.equal(a.priority, 5);
      assert.deepEqual(a.match, { path: "/a/*" });
      assert.deepEqual(a.handlers, [{ type: "static", options: { body: "rec-a" } }]);
      assert.match(a.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

      // the path's host is normalised (case, trailing dot)
      const norm = await api(h, "GET", `/control-plane/hosts/${host.toUpperCase()}.`, { token: resolveToken() });
      assert.equal(norm.status, 200);
      assert.equal((await json(norm)).custom_domain_id, did);
    });

    test("unknown host → 404 not_found", async () => {
      const res = await api(h, "GET", `/control-plane/hosts/${uniq("unk")}.test`, { token: resolveToken() });
      assert.equal(res.status, 404);
      assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/);
      assert.equal((await json(res)).code, "not_found");
    });

    test("without proxy:resolve_host → 403 insufficient_scope", async () => {
      const { host } = await createHost(h, admin, { routes: [staticRoute("x")] });
      const res = await api(h, "GET", `/control-plane/hosts/${host}`, {
        token: resolveToken({ scope: "tenants:read tenants:write domains:read routes:read" }),
      });
      assert.equal(res.status, 403);
      assert.match(res.headers.get("www-authenticate") ?? "", /insufficient_scope/);
      assert.match(res.headers.get("www-authenticate") ?? "", /scope="proxy:resolve_host"/);
      assert.equal((await json(res)).code, "insufficient_scope");
    });

    test("a tenant token, even with the scope, → 403 forbidden (control-plane only)", async () => {
      const { tid, host } = await createHost(h, admin, { routes: [staticRoute("x")] });
      const res = await api(h, "GET", `/control-plane/hosts/${host}`, { token: resolveToken({ tenant_id: tid }) });
      assert.equal(res.status, 403);
      const body = await json(res);
      assert.equal(body.code, "forbidden");
      assert.equal(body.tenant_id, undefined, "no host record leaked");
    });

    test("no token → 401", async () => {
      const res = await api(h, "GET", `/control-plane/hosts/${uniq("x")}.test`);
      assert.equal(res.status, 401);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
      await res.text();
    });
  });

  test("control plane failing (D1 down): edge answers 502 data_plane_error for an uncached host, then recovers", async () => {
    const { host } = await createHost(h, admin, { routes: [staticRoute("after-outage")] });
    const tokensBefore = ref.idp.stats.tokenRequests;
    await h.exec("ALTER TABLE domains RENAME TO domains_broken_for_test");
    try {
      // the control plane itself is up but cannot read its data
      const cp = await api(h, "GET", `/control-plane/hosts/${host}`, { token: ref.idp.mint({ sub: "e", scope: "proxy:resolve_host", exp: now() + 600 }) });
      assert.ok(cp.status >= 500, `control plane answered ${cp.status}`);
      await cp.text();

      const res = await h.fetchWorker(EDGE, "/", { host });
      const text = await res.text();
      assert.equal(res.status, 502, text);
      assert.equal(res.headers.get("x-portico-error"), "data_plane_error");
    } finally {
      await h.exec("ALTER TABLE domains_broken_for_test RENAME TO domains");
    }
    // a failure is not cached as "unknown": the host is served once the control plane is back
    const { res, text } = await pollEdge(h, "/", host, (r) => r.status === 200);
    assert.equal(res.status, 200, text);
    assert.equal(text, "after-outage");
    assert.equal(ref.idp.stats.tokenRequests, tokensBefore, "a 5xx from the control plane does not renew the token");
  });
});

describe("token renewal: a 401 from the control plane drops the token and retries once", () => {
  // Tokens die after 2 s but the provider says 3600 s, so the edge keeps using a dead
  // token until the control plane (leeway 0) refuses it.
  const ref = useIdp({ ttl: 2, reportedTtl: 3600 });
  const h = useHarness({
    bindings: () => cpBindings(ref.idp, { PORTICO_AUTH_LEEWAY_SECONDS: "0" }),
    extraWorkers: ({ porticoWorker }) => [edgeWorker(porticoWorker, edgeBindings(ref.idp))],
  });

  test("after the token expires, a lookup for a new host still succeeds with exactly one new token", async () => {
    const admin = adminToken(ref.idp);
    const a = await createHost(h, admin, { routes: [staticRoute("renew-a")] });
    const b = await createHost(h, admin, { routes: [staticRoute("renew-b")] });

    const r1 = await h.fetchWorker(EDGE, "/", { host: a.host });
    assert.equal(await r1.text(), "renew-a");
    assert.equal(ref.idp.stats.tokenRequests, 1);

    await sleep(3200); // past the token's real exp (2 s, whole seconds), leeway 0

    const r2 = await h.fetchWorker(EDGE, "/", { host: b.host });
    const t2 = await r2.text();
    assert.equal(r2.status, 200, `${t2} ${r2.headers.get("x-portico-error")}`);
    assert.equal(t2, "renew-b");
    assert.equal(ref.idp.stats.tokenRequests, 2, "one new token after the 401");
    assert.equal(ref.idp.stats.tokenFailures, 0);
  });
});

describe("token endpoint refusing the client", () => {
  // The provider knows edge-1 with another secret until the test fixes it.
  const clients = { [CLIENT_ID]: "the-real-secret" };
  const ref = useIdp({ clients });
  const h = useHarness({
    bindings: () => cpBindings(ref.idp),
    extraWorkers: ({ porticoWorker }) => [edgeWorker(porticoWorker, edgeBindings(ref.idp))],
  });

  test("edge answers 502 data_plane_error, keeps answering, and recovers once the client is accepted", async () => {
    const admin = adminToken(ref.idp);
    const { host } = await createHost(h, admin, { routes: [staticRoute("creds-fixed")] });
    const other = (await createHost(h, admin, { routes: [staticRoute("other")] })).host;

    const r1 = await h.fetchWorker(EDGE, "/", { host });
    const t1 = await r1.text();
    assert.equal(r1.status, 502, t1);
    assert.equal(r1.headers.get("x-portico-error"), "data_plane_error");
    assert.ok(ref.idp.stats.tokenFailures >= 1, "the token endpoint was asked and refused");

    // not a crash: the next request (another host) gets an answer too
    const r2 = await h.fetchWorker(EDGE, "/", { host: other });
    const t2 = await r2.text();
    assert.equal(r2.status, 502, t2);
    assert.equal(r2.headers.get("x-portico-error"), "data_plane_error");

    // the provider now accepts the edge's secret: a later request is served
    clients[CLIENT_ID] = CLIENT_SECRET;
    const { res, text } = await pollEdge(h, "/", host, (r) => r.status === 200);
    assert.equal(res.status, 200, `${text} ${res.headers.get("x-portico-error")}`);
    assert.equal(text, "creds-fixed");
  });
});

/**
 * A TCP relay to the control plane's HTTP port: the edge's PORTICO_REMOTE_URL must be
 * known before Miniflare picks the port, and the relay lets a test cut the control
 * plane off. Bytes pass through unchanged (Host 127.0.0.1:<relay port> is a
 * control-plane host).
 */
async function startRelay() {
  let target = null;
  const sockets = new Set();
  let server = null;
  let port = 0;
  const listen = () =>
    new Promise((resolve) => {
      server = net.createServer((client) => {
        sockets.add(client);
        const upstream = net.connect(target, "127.0.0.1");
        sockets.add(upstream);
        client.pipe(upstream).pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on("error", drop).on("close", drop);
        upstream.on("error", drop).on("close", drop);
      });
      server.listen(port, "127.0.0.1", () => {
        port = server.address().port;
        resolve();
      });
    });
  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    setTarget(p) {
      target = p;
    },
    /** Refuse connections (and cut open ones) until start(). */
    async stop() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise((r) => server.close(() => r()));
    },
    start: listen,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => (server.listening ? server.close(() => r()) : r()));
    },
  };
}

describe("edge resolving over HTTP (no service binding)", () => {
  const ref = useIdp();
  let relay;
  before(async () => {
    relay = await startRelay();
  });
  after(async () => {
    await relay?.close();
  });
  const h = useHarness({
    bindings: () => cpBindings(ref.idp),
    extraWorkers: ({ porticoWorker }) => [
      edgeWorker(
        porticoWorker,
        edgeBindings(ref.idp, {
          PORTICO_REMOTE_URL: relay.url,
          PORTICO_REMOTE_SERVICE: undefined,
          // the provider puts a requested audience in `aud`; the control plane checks it
          PORTICO_REMOTE_AUDIENCE: ref.idp.audience,
        }),
        { serviceBinding: false },
      ),
    ],
  });
  before(() => relay.setTarget(h.port));

  test("a host resolves through the control plane's HTTP endpoint", async () => {
    const admin = adminToken(ref.idp);
    const { host } = await createHost(h, admin, { routes: [staticRoute("over-http")] });
    const res = await h.fetchWorker(EDGE, "/", { host });
    const text = await res.text();
    assert.equal(res.status, 200, `${text} ${res.headers.get("x-portico-error")}`);
    assert.equal(text, "over-http");
    assert.equal(tier(res), "source");
    assert.equal(ref.idp.stats.lastTokenRequest.form.audience, ref.idp.audience, "PORTICO_REMOTE_AUDIENCE is sent");
  });

  test("control plane unreachable: 502 data_plane_error for an uncached host, a cached host keeps being served", async () => {
    const admin = adminToken(ref.idp);
    const known = await createHost(h, admin, { routes: [staticRoute("cached-before")] });
    const fresh = await createHost(h, admin, { routes: [staticRoute("uncached")] });
    const warm = await h.fetchWorker(EDGE, "/", { host: known.host });
    assert.equal(await warm.text(), "cached-before");

    await relay.stop();
    try {
      const res = await h.fetchWorker(EDGE, "/", { host: fresh.host });
      const text = await res.text();
      assert.equal(res.status, 502, text);
      assert.equal(res.headers.get("x-portico-error"), "data_plane_error");
      // the host resolved before the outage is still answered (memory, stale or stale-if-error)
      const still = await h.fetchWorker(EDGE, "/", { host: known.host });
      assert.equal(still.status, 200);
      assert.equal(await still.text(), "cached-before");
    } finally {
      await relay.start();
    }
    const { res, text } = await pollEdge(h, "/", fresh.host, (r) => r.status === 200);
    assert.equal(res.status, 200, text);
    assert.equal(text, "uncached");
  });
});

describe("npm run token: development tokens for the committed dev key", () => {
  const devJwks = readFileSync(join(ROOT, "dev/keys/dev-jwks.json"), "utf8");
  const h = useHarness({
    bindings: {
      PORTICO_HOST_SOURCE: "d1",
      CONTROL_PLANE_HOSTS: "cp.test",
      PORTICO_AUTH_KEYS: devJwks,
      PORTICO_AUTH_ISSUER: "portico-dev",
      PORTICO_AUTH_AUDIENCE: "portico-api",
    },
  });
  const token = (...args) =>
    execFileSync(process.execPath, [join(ROOT, "scripts/token.mjs"), ...args], { cwd: ROOT, encoding: "utf8" }).trim();

  test("wrangler.toml's PORTICO_AUTH_KEYS is the public half of the dev key", () => {
    const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
    const vars = toml.slice(toml.indexOf("\n[vars]"), toml.indexOf("\n[", toml.indexOf("\n[vars]") + 1));
    const m = /^PORTICO_AUTH_KEYS\s*=\s*'([^']*)'/m.exec(vars);
    assert.ok(m, "PORTICO_AUTH_KEYS in the top-level [vars]");
    assert.deepEqual(JSON.parse(m[1]), JSON.parse(devJwks));
    const priv = JSON.parse(readFileSync(join(ROOT, "dev/keys/dev-ed25519.private.jwk.json"), "utf8"));
    assert.equal(priv.x, JSON.parse(devJwks).keys[0].x);
    assert.equal(priv.kid, JSON.parse(devJwks).keys[0].kid);
  });

  test("a control-plane token lists tenants; a tenant token is refused on /tenants", async () => {
    const cpToken = token();
    const claims = decode(cpToken);
    assert.equal(claims.tenant_id, undefined);
    assert.equal(claims.iss, "portico-dev");
    assert.equal(claims.aud, "portico-api");
    const openapi = JSON.parse(readFileSync(join(ROOT, "src/api/openapi.json"), "utf8"));
    const required = Object.values(openapi.paths).flatMap((item) => Object.values(item).map((op) => op["x-required-scope"]).filter(Boolean));
    const granted = new Set(claims.scope.split(" "));
    for (const s of required) assert.ok(granted.has(s), `the default token has ${s}`);
    const ok = await api(h, "GET", "/tenants", { token: cpToken });
    const body = await expectStatus(ok, 200, "list tenants");
    assert.ok(Array.isArray(body.items));

    const tenantToken = token("--tenant", "acme", "--scope", "routes:read");
    assert.equal(decode(tenantToken).tenant_id, "acme");
    const refused = await api(h, "GET", "/tenants", { token: tenantToken });
    assert.equal(refused.status, 403);
    await refused.text();
  });
});
