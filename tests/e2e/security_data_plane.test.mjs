// Hostile tenants and anonymous clients against the data plane and route writes
// (issue "hostile-tenant safety"; DESIGN §3, §4, §5). Each test is written as the
// attack: the request(s), the safe outcome (status and code), nothing changed in D1
// where a write was refused, and — where the attack used to panic the shared
// isolate — proof that it survived: its counters did not reset, the witness host is
// still served from isolate memory, and a slow request on that other host running
// at the same time finished normally.
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { useHarness, json, expectError, parseStats, uniq, survives } from "./harness.mjs";
import { makeKey, signJwt, jwks, now } from "./support/tokens.mjs";

const ISS = "https://issuer.security.test";
const AUD = "portico-api";
const CP_HOST = "cp.security.test";
const ed = makeKey("EdDSA", "sec-ed-1");
const SCOPES = "tenants:read tenants:write domains:read domains:write routes:read routes:write";

const authVars = (extra = {}) => ({
  PORTICO_HOST_SOURCE: "d1",
  PORTICO_DEBUG_HEADERS: "true",
  CONTROL_PLANE_HOSTS: CP_HOST,
  PORTICO_AUTH_KEYS: JSON.stringify(jwks(ed)),
  PORTICO_AUTH_ISSUER: ISS,
  PORTICO_AUTH_AUDIENCE: AUD,
  ...extra,
});

const tokenFor = (tenant) =>
  signJwt(ed, { iss: ISS, aud: AUD, sub: `user-${tenant ?? "operator"}`, exp: now() + 600, scope: SCOPES, ...(tenant ? { tenant_id: tenant } : {}) });

const api = (h, method, path, { token, body } = {}) => h.apiRequest(method, path, { host: CP_HOST, token, body });

async function problem(res) {
  const text = await res.text();
  try {
    return { status: res.status, ...JSON.parse(text) };
  } catch {
    return { status: res.status, text };
  }
}

/** A refused route write: `status`, an error at `path`, and no route stored. */
async function expectRefusedWrite(h, res, tenant, path, status = 400, what = "") {
  const p = await problem(res);
  assert.equal(p.status, status, `${what}: ${JSON.stringify(p)}`);
  if (path !== undefined) {
    assert.ok(
      (p.errors ?? []).some((e) => e.path === path),
      `${what}: expected an error at ${path}, got ${JSON.stringify(p.errors ?? p)}`,
    );
  }
  const { results } = await h.db.prepare("SELECT COUNT(*) AS n FROM routes WHERE tenant_id = ?1").bind(tenant).all();
  assert.equal(results[0].n, 0, `${what}: nothing stored`);
  return p;
}

const httpTo = (h, path = "/") => ({ type: "http", options: { upstream_url: `${h.origin.url}${path}` } });

// ---------------------------------------------------------------------------
describe("totality: inputs that used to panic the shared isolate", () => {
  const h = useHarness({ bindings: authVars() });

  test("a route whose upstream URL holds a non-ASCII character is refused with its path, for tenants and operators", async () => {
    const tenant = uniq("tna");
    await h.addTenant(tenant);
    await survives(h, async () => {
      for (const url of ["https:/\u00e9xample.com/", "http:/\u00e9/", "https://\u00e9\u00e9.example/", "h\u00e9ttps://x/"]) {
        for (const token of [tokenFor(tenant), tokenFor(null)]) {
          const res = await api(h, "POST", `/tenants/${tenant}/routes`, {
            token,
            body: { match: { path: "/*" }, handlers: [{ type: "http", options: { upstream_url: url } }] },
          });
          await expectRefusedWrite(h, res, tenant, "handlers[0].options.upstream_url", 400, url);
        }
      }
    });
  });

  test("an upstream Location with a multi-byte character passes through rewrite_location unharmed", async () => {
    const { host } = await h.addHost({
      routes: [{ match: { path: "/*" }, handlers: [{ type: "rewrite_location" }, httpTo(h)] }],
    });
    await survives(h, async () => {
      for (const to of ["http:/\u00e9/x", "https:/\u00e9\u00e9/", "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "http://\u00e9/a"]) {
        const res = await h.fetch(`/redirect?to=${encodeURIComponent(to)}`, { host });
        await res.text();
        assert.equal(res.status, 302, to);
        assert.ok(res.headers.get("location"), `${to}: Location kept`);
      }
    });
  });

  test("Set-Cookie values with odd bytes pass through rewrite_cookies and the Domain rule", async () => {
    const { host } = await h.addHost({
      routes: [{ match: { path: "/*" }, handlers: [{ type: "rewrite_cookies", options: { upstream_host: "127.0.0.1" } }, httpTo(h)] }],
    });
    await survives(h, async () => {
      const odd = ["\u00e9=\u00e9; Domain=\u00e9\u00e9", "a=1;;;Domain=;", "b=2; Domain=.; Path", "=; domain =127.0.0.1 ;"];
      const qs = odd.map((c) => `set-cookie=${encodeURIComponent(c)}`).join("&");
      const res = await h.fetch(`/with-headers?${qs}`, { host });
      assert.equal(res.status, 200);
      await res.text();
    });
  });

  test("a validly signed token with the earliest representable nbf is accepted, not a crash", async () => {
    const { host } = await h.addHost({
      routes: [{ match: { path: "/*" }, handlers: [{ type: "jwt", options: { keys: [ed.publicJwk], issuer: ISS } }, httpTo(h)] }],
    });
    await survives(h, async () => {
      const extreme = signJwt(ed, { iss: ISS, exp: 8210266876799, nbf: -8334601228800 });
      const res = await h.fetch("/extreme", { host, headers: { authorization: `Bearer ${extreme}` } });
      assert.equal(res.status, 200, "nbf far in the past, exp far in the future: valid");
      await res.text();
      // The same claims on the management API's own verifier.
      const cp = signJwt(ed, { iss: ISS, aud: AUD, exp: 8210266876799, nbf: -8334601228800, scope: "tenants:read" });
      const list = await api(h, "GET", "/tenants", { token: cp });
      assert.equal(list.status, 200);
      await list.text();
      const future = signJwt(ed, { iss: ISS, exp: 8210266876799, nbf: 8210266876799 });
      await expectError(assert, await h.fetch("/future", { host, headers: { authorization: `Bearer ${future}` } }), 401, "jwt_unauthorized");
    });
  });

  test("a host of 120 labels is unknown (404), not a failed lookup", async () => {
    const host = `${"a.".repeat(120)}test`;
    await survives(h, async () => {
      await expectError(assert, await h.fetch("/", { host }), 404, null, "Unknown host");
    });
    // And a wildcard still serves hosts deep below it.
    const tenant = uniq("tdeep");
    await h.addTenant(tenant);
    const domain_id = await h.addDomain({ tenant_id: tenant, domain: "*.deep.test" });
    await h.addRoute({ tenant_id: tenant, custom_domain_id: domain_id, handlers: [{ type: "static", options: { body: "deep" } }] });
    const res = await h.fetch("/", { host: `${"b.".repeat(40)}deep.test` });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "deep");
  });
});

// ---------------------------------------------------------------------------
describe("canonical path: no spelling slips past a protected route", () => {
  const h = useHarness({ bindings: authVars() });
  let host;
  const basic = "Basic " + Buffer.from("admin:secret").toString("base64");
  before(async () => {
    ({ host } = await h.addHost({
      routes: [
        { priority: 1, match: { path: "/admin/*" }, handlers: [{ type: "basic_auth", options: { username: "admin", password: "secret" } }, httpTo(h)] },
        { priority: 2, match: { path: "/*" }, handlers: [httpTo(h)] },
      ],
    }));
  });

  test("an invalid escape or non-UTF-8 answers 400 invalid_path and never reaches the open route's origin", async () => {
    for (const p of ["/admin%zz/x", "/%61dmin%/x", "/admin/%FF", "/%C3/admin/x", "/admin%2/x"]) {
      const m = crypto.randomUUID();
      await expectError(assert, await h.fetch(`${p}?m=${m}`, { host }), 400, "invalid_path", "Invalid path");
      assert.equal(h.origin.requestsMatching(m).length, 0, `${p}: origin not called`);
    }
  });

  test("encoded letters, dot segments and ;params reach the protected route", async () => {
    for (const p of ["/%61dmin/x", "/ADMIN/../admin/x", "/public/%2e%2e/admin/x", "/public/%2E./admin/x", "//admin/x", "/admin;jsessionid=1/x", "/public/..;x/admin/x"]) {
      const m = crypto.randomUUID();
      await expectError(assert, await h.fetch(`${p}?m=${m}`, { host }), 401, undefined);
      assert.equal(h.origin.requestsMatching(m).length, 0, `${p}: protected, origin not called`);
    }
  });

  test("encoded slashes and backslashes are refused by default (PORTICO_ENCODED_SLASHES=reject)", async () => {
    for (const p of ["/admin%2Fx", "/public/..%2Fadmin/x", "/public%5C..%5Cadmin/x", "/x;%2F..%2Fadmin/y"]) {
      const m = crypto.randomUUID();
      await expectError(assert, await h.fetch(`${p}?m=${m}`, { host }), 400, "invalid_path");
      assert.equal(h.origin.requestsMatching(m).length, 0, p);
    }
  });

  test("the upstream receives the canonical path, ;params passed on", async () => {
    const cases = [
      ["/open/a/./b//c/%7e%41", "/open/a/b/c/~A"],
      ["/open;v=1/x;y", "/open;v=1/x;y"],
      ["/open/caf%c3%a9", "/open/caf%C3%A9"],
    ];
    for (const [sent, want] of cases) {
      const m = crypto.randomUUID();
      const res = await h.fetch(`${sent}?m=${m}`, { host });
      assert.equal(res.status, 200, sent);
      const seen = await json(res);
      assert.equal(seen.url, `${want}?m=${m}`, sent);
    }
    const ok = await h.fetch("/admin/x", { host, headers: { authorization: basic } });
    assert.equal(ok.status, 200);
    await ok.text();
  });
});

describe("canonical path with PORTICO_ENCODED_SLASHES=decode", () => {
  const h = useHarness({ bindings: authVars({ PORTICO_ENCODED_SLASHES: "decode" }) });
  test("decoded slashes are separators before matching: the protected route catches them", async () => {
    const { host } = await h.addHost({
      routes: [
        { priority: 1, match: { path: "/admin/*" }, handlers: [{ type: "basic_auth", options: { username: "a", password: "b" } }, httpTo(h)] },
        { priority: 2, match: { path: "/*" }, handlers: [httpTo(h)] },
      ],
    });
    for (const p of ["/admin%2Fx", "/public%2F..%2Fadmin/x", "/public%5C..%5Cadmin%5Cx"]) {
      const m = crypto.randomUUID();
      await expectError(assert, await h.fetch(`${p}?m=${m}`, { host }), 401, undefined);
      assert.equal(h.origin.requestsMatching(m).length, 0, p);
    }
    const m = crypto.randomUUID();
    const res = await h.fetch(`/open%2Fx?m=${m}`, { host });
    assert.equal((await json(res)).url, `/open/x?m=${m}`);
  });
});

// ---------------------------------------------------------------------------
describe("what a tenant may configure", () => {
  const h = useHarness({
    bindings: authVars({
      PORTICO_TENANT_BINDINGS: "DISPATCHER",
      PORTICO_TENANT_MAX_CPU_MS: "20",
      PORTICO_TENANT_MAX_SUBREQUESTS: "5",
      PORTICO_MAX_ROUTES_PER_TENANT: "3",
      PORTICO_MAX_ROUTE_BYTES: "4096",
      PORTICO_MAX_REGEXES_PER_ROUTE: "4",
    }),
  });
  const write = (tenant, handlers, match = { path: "/*" }, token = tokenFor(tenant)) =>
    api(h, "POST", `/tenants/${tenant}/routes`, { token, body: { match, handlers } });
  const fresh = async () => {
    const t = uniq("tt");
    await h.addTenant(t);
    return t;
  };

  test("a dispatch route naming another tenant's script is refused; {tenant_id} is required", async () => {
    const t = await fresh();
    for (const script_name of ["tenant-globex", "tenant-acme", "{host}", "tenant-{custom_domain_id}"]) {
      const res = await write(t, [{ type: "dispatch_namespace", options: { binding: "DISPATCHER", script_name } }]);
      await expectRefusedWrite(h, res, t, "handlers[0].options.script_name", 400, script_name);
    }
    const over = await write(t, [{ type: "dispatch_namespace", options: { binding: "DISPATCHER", script_name: "tenant-{tenant_id}", cpu_ms: 1000 } }]);
    await expectRefusedWrite(h, over, t, "handlers[0].options.cpu_ms");
    const ok = await write(t, [{ type: "dispatch_namespace", options: { binding: "DISPATCHER", script_name: "tenant-{tenant_id}" } }]);
    const body = await problem(ok);
    assert.equal(body.status, 201, JSON.stringify(body));
    assert.deepEqual([body.handlers[0].options.cpu_ms, body.handlers[0].options.subrequests], [20, 5], "caps filled in");
  });

  test("the operator's token is trusted with other scripts and bindings", async () => {
    const t = await fresh();
    const res = await write(t, [{ type: "service_binding", options: { binding: "EXAMPLE_SERVICE" } }], { path: "/*" }, tokenFor(null));
    assert.equal(res.status, 201);
    await res.text();
  });

  test("tenant routes may name only the bindings the operator lists", async () => {
    const t = await fresh();
    const res = await write(t, [{ type: "service_binding", options: { binding: "EXAMPLE_SERVICE" } }]);
    const p = await expectRefusedWrite(h, res, t, "handlers[0].options.binding");
    assert.match(JSON.stringify(p.errors), /PORTICO_TENANT_BINDINGS/);
  });

  test("tenant upstream and JWKS URLs may not point at loopback, private, link-local or control-plane hosts", async () => {
    const t = await fresh();
    for (const url of ["http://169.254.169.254/latest/", "http://2130706433:9001/", "http://0x7f.1/", "http://[::1]/", "http://10.0.0.7/", "http://localhost:9001/", `https://${CP_HOST}/`, "http://0.0.0.0/"]) {
      const res = await write(t, [{ type: "http", options: { upstream_url: url } }]);
      await expectRefusedWrite(h, res, t, "handlers[0].options.upstream_url", 400, url);
    }
    const jwksRes = await write(t, [{ type: "jwt", options: { jwks_url: "http://192.168.1.10/jwks.json" } }, httpTo(h)]);
    await expectRefusedWrite(h, jwksRes, t, "handlers[0].options.jwks_url");
    // 127.0.0.1 is the operator's listed exception (the demo origin lives there).
    const ok = await write(t, [httpTo(h)]);
    assert.equal(ok.status, 201);
    await ok.text();
  });

  test("regexes: compiled size, count per route and the 8 KiB input cap", async () => {
    const t = await fresh();
    const big = await write(t, [httpTo(h)], { path: "/*", headers: { "x-a": "(a{1,100}){1,100}$" } });
    const p = await expectRefusedWrite(h, big, t, "match.headers.x-a");
    assert.match(JSON.stringify(p.errors), /too large/);
    const many = await write(t, [httpTo(h)], { path: "/*", headers: Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`x-${i}`, "^a"])) });
    await expectRefusedWrite(h, many, t, "match");
    // Validation of many large regexes at once stays bounded and refuses them all.
    const storm = await survives(h, () =>
      write(t, [httpTo(h)], { path: "/*", query: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`q${i}`, "((a{1,1000}){1,1000}){1,1000}"])) }),
    );
    await expectRefusedWrite(h, storm, t, "match.query.q0");

    const { host } = await h.addHost({
      routes: [
        { priority: 1, match: { path: "/*", headers: { "x-a": "^a+b$" } }, handlers: [{ type: "static", options: { body: "filtered" } }] },
        { priority: 2, match: { path: "/*" }, handlers: [{ type: "static", options: { body: "fallback" } }] },
      ],
    });
    const at = async (v) => (await h.fetch("/", { host, headers: { "x-a": v } })).text();
    assert.equal(await at("a".repeat(100) + "b"), "filtered");
    assert.equal(await at("a".repeat(8191) + "b"), "filtered", "8 KiB exactly still matches");
    assert.equal(await at("a".repeat(8192) + "b"), "fallback", "over 8 KiB never matches");
  });

  test("routes per tenant and bytes per route are budgets, refused naming the field", async () => {
    const t = await fresh();
    const tooBig = await write(t, [{ type: "static", options: { body: "x".repeat(5000) } }]);
    await expectRefusedWrite(h, tooBig, t, "handlers");
    for (let i = 0; i < 3; i++) {
      const r = await write(t, [{ type: "static", options: { body: `r${i}` } }]);
      assert.equal(r.status, 201);
      await r.text();
    }
    const fourth = await write(t, [{ type: "static", options: { body: "r4" } }]);
    const p = await problem(fourth);
    assert.equal(p.status, 409, JSON.stringify(p));
    assert.match(JSON.stringify(p), /PORTICO_MAX_ROUTES_PER_TENANT/);
    const { results } = await h.db.prepare("SELECT COUNT(*) AS n FROM routes WHERE tenant_id = ?1").bind(t).all();
    assert.equal(results[0].n, 3);
  });
});

// ---------------------------------------------------------------------------
describe("header hygiene", () => {
  const h = useHarness({ bindings: authVars() });

  test("jwt strips underscore spellings of the identity headers it forwards", async () => {
    const { host } = await h.addHost({
      routes: [{ match: { path: "/*" }, handlers: [{ type: "jwt", options: { keys: [ed.publicJwk], issuer: ISS, forward_claims: { sub: "X-User-Id" } } }, httpTo(h)] }],
    });
    const res = await h.fetch("/me", {
      host,
      headers: { authorization: `Bearer ${signJwt(ed, { iss: ISS, sub: "alice", exp: now() + 60 })}`, X_User_Id: "admin", "x-user-id": "admin" },
    });
    const seen = (await json(res)).headers;
    assert.equal(seen["x-user-id"], "alice");
    assert.equal(seen["x_user_id"], undefined, "underscore spelling never reaches the origin");
  });

  test("an inbound X-Forwarded-For from a Cloudflare hop is not passed on as the client chain", async () => {
    const { host } = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: [httpTo(h)] }] });
    const res = await h.fetch("/xff", { host, headers: { "cf-connecting-ip": "162.158.1.2", "x-forwarded-for": "6.6.6.6" } });
    const seen = (await json(res)).headers;
    assert.doesNotMatch(seen["x-forwarded-for"] ?? "", /6\.6\.6\.6/);
    const direct = await h.fetch("/xff", { host, headers: { "cf-connecting-ip": "203.0.113.7", "x-forwarded-for": "198.51.100.1" } });
    assert.equal((await json(direct)).headers["x-forwarded-for"], "198.51.100.1, 203.0.113.7", "a real client chain is kept");
  });

  test("cache marks answers to credentialed requests private", async () => {
    const { host } = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: [{ type: "cache", options: { ttl_seconds: 60 } }, httpTo(h)] }] });
    const anon = await h.fetch("/c", { host });
    await anon.text();
    assert.equal(anon.headers.get("cache-control"), "public, max-age=60");
    for (const headers of [{ authorization: "Bearer abc" }, { cookie: "session=1" }]) {
      const res = await h.fetch("/c", { host, headers });
      await res.text();
      assert.equal(res.headers.get("cache-control"), "private, max-age=60", JSON.stringify(headers));
    }
    const { host: guarded } = await h.addHost({
      routes: [{ match: { path: "/*" }, handlers: [{ type: "cache", options: { ttl_seconds: 60 } }, { type: "basic_auth", options: { username: "u", password: "p" } }, httpTo(h)] }],
    });
    const res = await h.fetch("/c", { host: guarded, headers: { authorization: "Basic " + Buffer.from("u:p").toString("base64") } });
    await res.text();
    assert.equal(res.headers.get("cache-control"), "private, max-age=60");
  });

  test("an upstream Set-Cookie for a parent domain shared with other tenants loses its Domain", async () => {
    const host = `${uniq("shop")}.tenants.test`;
    await h.addHost({ host, routes: [{ match: { path: "/*" }, handlers: [httpTo(h)] }] });
    const cookies = ["toss=1; Domain=tenants.test; Path=/", "mine=1; Domain=" + host + "; Secure", "tld=1; Domain=.test"];
    const res = await h.fetch(`/with-headers?${cookies.map((c) => `set-cookie=${encodeURIComponent(c)}`).join("&")}`, { host });
    await res.text();
    assert.deepEqual(res.headers.getSetCookie(), ["toss=1; Path=/", `mine=1; Domain=${host}; Secure`, "tld=1"]);
    // A static route a tenant writes obeys the same rule.
    const { host: st } = await h.addHost({
      host: `${uniq("st")}.tenants.test`,
      routes: [{ match: { path: "/*" }, handlers: [{ type: "static", options: { headers: { "set-cookie": "x=1; Domain=tenants.test" }, body: "s" } }] }],
    });
    const sres = await h.fetch("/", { host: st });
    await sres.text();
    assert.deepEqual(sres.headers.getSetCookie(), ["x=1"]);
  });

  test("an upload sent with Expect: 100-continue completes", async () => {
    const { host } = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: [httpTo(h)] }] });
    const body = crypto.randomBytes(4096);
    const res = await h.request("/upload", { host, method: "POST", headers: { expect: "100-continue", "content-type": "application/octet-stream", "content-length": String(body.length) }, body, timeoutMs: 15_000 });
    assert.equal(res.statusCode, 200);
    let text = "";
    for await (const c of res) text += c;
    const seen = JSON.parse(text);
    assert.equal(seen.bodyBytes, body.length);
    assert.equal(seen.bodySha256, crypto.createHash("sha256").update(body).digest("hex"));
    assert.equal(seen.headers.expect, undefined, "Expect is not forwarded");
  });
});

// ---------------------------------------------------------------------------
describe("caches", () => {
  const h = useHarness({ bindings: authVars() });

  test("random subdomains under a wildcard share one source read and one compile", async () => {
    const tenant = uniq("tw");
    await h.addTenant(tenant);
    const suffix = `${uniq("w")}.test`;
    const domain_id = await h.addDomain({ tenant_id: tenant, domain: `*.${suffix}` });
    await h.addRoute({ tenant_id: tenant, custom_domain_id: domain_id, handlers: [{ type: "static", options: { body: "wild" } }] });
    const first = await h.fetch("/", { host: `first.${suffix}` });
    assert.equal(await first.text(), "wild");
    const before = parseStats(first);
    for (let i = 0; i < 25; i++) {
      const res = await h.fetch("/", { host: `${crypto.randomUUID().slice(0, 8)}.${suffix}` });
      assert.equal(await res.text(), "wild");
      assert.equal(res.headers.get("x-portico-host-cache"), "memory", "served from the one wildcard entry");
    }
    const last = await h.fetch("/", { host: `last.a.b.${suffix}` });
    await last.text();
    const after = parseStats(last);
    assert.equal(after.source_reads, before.source_reads, "no source read per subdomain");
    assert.equal(after.route_compiles, before.route_compiles, "no compile per subdomain");
    assert.equal(after.cache_api_writes, before.cache_api_writes, "no Cache API entry per subdomain");
  });

  test("a more specific domain under the wildcard is honoured: no shared entry then", async () => {
    const tenant = uniq("tx");
    await h.addTenant(tenant);
    const suffix = `${uniq("x")}.test`;
    const wild = await h.addDomain({ tenant_id: tenant, domain: `*.${suffix}` });
    const api = await h.addDomain({ tenant_id: tenant, domain: `api.${suffix}` });
    await h.addRoute({ tenant_id: tenant, custom_domain_id: wild, handlers: [{ type: "static", options: { body: "wild" } }] });
    await h.addRoute({ tenant_id: tenant, custom_domain_id: api, handlers: [{ type: "static", options: { body: "api" } }] });
    assert.equal(await (await h.fetch("/", { host: `www.${suffix}` })).text(), "wild");
    assert.equal(await (await h.fetch("/", { host: `api.${suffix}` })).text(), "api", "the exact domain wins, not the cached wildcard");
    assert.equal(await (await h.fetch("/", { host: `v2.api.${suffix}` })).text(), "wild");
  });
});
