// Route validation through the management API (docs/control-plane.md "Routes"):
// a corpus of malformed route bodies POSTed to /tenants/{tid}/routes, each refused
// with 400 validation_failed and an error at the exact JSON path of the offending
// field, the same paths the data plane's route compiler reports
// (src/chain/compile/tests.rs). Nothing refused is stored; a bad PATCH leaves the
// stored route as it was.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { useHarness, uniq } from "./harness.mjs";
import { makeKey, signJwt, jwks, now } from "./support/tokens.mjs";

const CP = "cp.test";
const ISSUER = "https://issuer.test";
const AUDIENCE = "portico-api";
const key = makeKey("EdDSA", "cp-key-1");

const h = useHarness({
  bindings: {
    PORTICO_HOST_SOURCE: "d1",
    CONTROL_PLANE_HOSTS: CP,
    PORTICO_AUTH_KEYS: JSON.stringify(jwks(key)),
    PORTICO_AUTH_ISSUER: ISSUER,
    PORTICO_AUTH_AUDIENCE: AUDIENCE,
  },
});

const token = () =>
  signJwt(key, {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "validator",
    iat: now(),
    exp: now() + 300,
    scope: "tenants:read tenants:write domains:read domains:write routes:read routes:write audit:read",
  });

const api = (method, path, body) => h.api(method, path, { host: CP, token: token(), body });

// Validation never calls the upstream, so a fixed URL will do.
const HTTP = () => ({ type: "http", options: { upstream_url: "https://origin.example/" } });
const STATIC = { type: "static", options: { body: "ok" } };
const jwk = makeKey("EdDSA", "route-key").publicJwk;

/**
 * Path expectations: a string is an exact path; { anyOf: [...] } accepts any one of
 * several exact paths (where the contract leaves the exact field open);
 * { prefix } an error path starting with it.
 */
const matches = (want, path) =>
  typeof want === "string" ? path === want : want.anyOf ? want.anyOf.includes(path) : path.startsWith(want.prefix);

/** [name, route body (or a function of the fixture), expected error paths]. */
const corpus = (fx) => [
  ["bad regex in match.headers", { match: { headers: { "x-a": "(" } }, handlers: [HTTP()] }, ["match.headers.x-a"]],
  ["bad regex in match.query", { match: { query: { q: "[" } }, handlers: [HTTP()] }, ["match.query.q"]],
  ["match.headers value not a string", { match: { headers: { "x-a": 1 } }, handlers: [HTTP()] }, ["match.headers.x-a"]],
  ["unknown handler type", { handlers: [{ type: "nope" }] }, ["handlers[0].type"]],
  ["handler without a type", { handlers: [{ options: {} }] }, ["handlers[0].type"]],
  ["unknown option key", { handlers: [{ type: "http", options: { upstream_url: "https://a.example/", timeout: 5 } }] }, ["handlers[0].options.timeout"]],
  ["unknown key next to type/options", { handlers: [{ ...STATIC, extra: 1 }] }, ["handlers[0].extra"]],
  ["string for boolean", { handlers: [{ type: "http", options: { upstream_url: "https://a.example/", preserve_host: "yes" } }] }, ["handlers[0].options.preserve_host"]],
  ["string for number", { handlers: [{ type: "http", options: { upstream_url: "https://a.example/", timeout_ms: "1000" } }] }, ["handlers[0].options.timeout_ms"]],
  ["number for list", { handlers: [{ type: "cors", options: { allow_methods: 5 } }, HTTP()] }, ["handlers[0].options.allow_methods"]],
  ["string for list", { handlers: [{ type: "cors", options: { origins: "*" } }, HTTP()] }, ["handlers[0].options.origins"]],
  ["bad cors origin in a list", { handlers: [{ type: "cors", options: { origins: ["https://ok.example", "nope"] } }, HTTP()] }, ["handlers[0].options.origins[1]"]],
  ["non-terminal last handler", { handlers: [{ type: "cors" }] }, ["handlers[0].type"]],
  ["terminal not last", { handlers: [HTTP(), { type: "cors" }] }, ["handlers[0].type", "handlers[1].type"]],
  ["empty handler list", { handlers: [] }, ["handlers"]],
  ["missing handlers", { match: { path: "/*" } }, ["handlers"]],
  ["handlers is an object", { handlers: { type: "static" } }, ["handlers"]],
  ["handlers is a string", { handlers: "static" }, ["handlers"]],
  ["http upstream ftp://", { handlers: [{ type: "http", options: { upstream_url: "ftp://files.example/" } }] }, ["handlers[0].options.upstream_url"]],
  ["http upstream javascript:", { handlers: [{ type: "http", options: { upstream_url: "javascript:alert(1)" } }] }, ["handlers[0].options.upstream_url"]],
  ["http upstream relative", { handlers: [{ type: "http", options: { upstream_url: "/relative/path" } }] }, ["handlers[0].options.upstream_url"]],
  ["http upstream missing", { handlers: [{ type: "http", options: {} }] }, ["handlers[0].options.upstream_url"]],
  ["redirect ftp://", { handlers: [{ type: "redirect", options: { upstream_url: "ftp://files.example/" } }] }, ["handlers[0].options.upstream_url"]],
  ["redirect javascript:", { handlers: [{ type: "redirect", options: { upstream_url: "javascript:alert(1)" } }] }, ["handlers[0].options.upstream_url"]],
  ["redirect relative", { handlers: [{ type: "redirect", options: { upstream_url: "elsewhere/page" } }] }, ["handlers[0].options.upstream_url"]],
  ["redirect status 303", { handlers: [{ type: "redirect", options: { upstream_url: "https://a.example", status: 303 } }] }, ["handlers[0].options.status"]],
  ["redirect status \"302\"", { handlers: [{ type: "redirect", options: { upstream_url: "https://a.example", status: "302" } }] }, ["handlers[0].options.status"]],
  ["static status 99", { handlers: [{ type: "static", options: { status: 99 } }] }, ["handlers[0].options.status"]],
  ["static status 600", { handlers: [{ type: "static", options: { status: 600 } }] }, ["handlers[0].options.status"]],
  ["static bad header name", { handlers: [{ type: "static", options: { headers: { "bad header": "x" } } }] }, ["handlers[0].options.headers.bad header"]],
  ["cors * with credentials", { handlers: [{ type: "cors", options: { origins: ["*"], allow_credentials: true } }, HTTP()] }, ["handlers[0].options.allow_credentials"]],
  ["cache ttl 0", { handlers: [{ type: "cache", options: { ttl_seconds: 0 } }, HTTP()] }, ["handlers[0].options.ttl_seconds"]],
  ["cache ttl -1", { handlers: [{ type: "cache", options: { ttl_seconds: -1 } }, HTTP()] }, ["handlers[0].options.ttl_seconds"]],
  ["cache ttl missing", { handlers: [{ type: "cache" }, HTTP()] }, ["handlers[0].options.ttl_seconds"]],
  ["basic_auth without password", { handlers: [{ type: "basic_auth", options: { username: "u" } }, HTTP()] }, ["handlers[0].options.password"]],
  ["bad header name in headers.request", { handlers: [{ type: "headers", options: { request: { "bad header": "x" } } }, HTTP()] }, ["handlers[0].options.request.bad header"]],
  ["rewrite_cookies cannot infer from static", { handlers: [{ type: "rewrite_cookies" }, STATIC] }, ["handlers[0].options.upstream_host"]],
  ["dispatch script_name unknown placeholder", { handlers: [{ type: "dispatch_namespace", options: { binding: "DISPATCHER", script_name: "t-{nope}" } }] }, ["handlers[0].options.script_name"]],
  ["dispatch namespace binding missing", { handlers: [{ type: "dispatch_namespace", options: { binding: "NOPE", script_name: "x" } }] }, ["handlers[0].options.binding"]],
  ["service_binding to a missing binding", { handlers: [{ type: "service_binding", options: { binding: "NOPE" } }] }, ["handlers[0].options.binding"]],
  ["path without leading slash", { match: { path: "no-leading-slash" }, handlers: [STATIC] }, ["match.path"]],
  ["path parameter without a name", { match: { path: "/a/:" }, handlers: [STATIC] }, ["match.path"]],
  ["path constraint unclosed", { match: { path: "/post/:id{[0-9]+" }, handlers: [STATIC] }, ["match.path"]],
  ["path constraint bad regex", { match: { path: "/post/:id{[0-9+}" }, handlers: [STATIC] }, ["match.path"]],
  ["path star mid-segment", { match: { path: "/a*b/c" }, handlers: [STATIC] }, ["match.path"]],
  ["methods with a space", { match: { methods: ["GET POST"] }, handlers: [STATIC] }, ["match.methods[0]"]],
  ["methods with a non-token", { match: { methods: ["GET", "G@T"] }, handlers: [STATIC] }, ["match.methods[1]"]],
  ["methods not a list", { match: { methods: "GET" }, handlers: [STATIC] }, ["match.methods"]],
  ["bad host pattern", { match: { hosts: ["*.*.com"] }, handlers: [STATIC] }, ["match.hosts[0]"]],
  ["match unknown key", { match: { pathx: "/" }, handlers: [STATIC] }, ["match.pathx"]],
  ["match not an object", { match: "/*", handlers: [STATIC] }, ["match"]],
  ["priority as string", { priority: "high", handlers: [STATIC] }, ["priority"]],
  ["priority out of range", { priority: 1_000_001, handlers: [STATIC] }, ["priority"]],
  ["priority not an integer", { priority: 1.5, handlers: [STATIC] }, ["priority"]],
  ["unknown top-level field", { name: "extra", handlers: [STATIC] }, ["name"]],
  ["jwt with neither jwks_url nor keys", { handlers: [{ type: "jwt", options: {} }, STATIC] }, [{ anyOf: ["handlers[0].options", "handlers[0].options.jwks_url", "handlers[0].options.keys"] }]],
  ["jwt with both jwks_url and keys", { handlers: [{ type: "jwt", options: { jwks_url: "https://idp.example/jwks.json", keys: [jwk] } }, STATIC] }, [{ anyOf: ["handlers[0].options", "handlers[0].options.jwks_url", "handlers[0].options.keys"] }]],
  ["jwt leeway_seconds 61", { handlers: [{ type: "jwt", options: { keys: [jwk], leeway_seconds: 61 } }, STATIC] }, ["handlers[0].options.leeway_seconds"]],
  ["jwt HMAC oct key", { handlers: [{ type: "jwt", options: { keys: [{ kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQ", alg: "HS256", kid: "h1" }] } }, STATIC] }, [{ prefix: "handlers[0].options.keys[0]" }]],
  ["jwt unknown option", { handlers: [{ type: "jwt", options: { keys: [jwk], audiences: ["x"] } }, STATIC] }, ["handlers[0].options.audiences"]],
  ["jwt as the last handler", { handlers: [{ type: "jwt", options: { keys: [jwk] } }] }, ["handlers[0].type"]],
  ["custom_domain_id of a non-existent domain", { custom_domain_id: "dom_does_not_exist", handlers: [STATIC] }, ["custom_domain_id"]],
  ["custom_domain_id of another tenant's domain", { custom_domain_id: fx.otherDomainId, handlers: [STATIC] }, ["custom_domain_id"]],
  ["custom_domain_id not a string", { custom_domain_id: 7, handlers: [STATIC] }, ["custom_domain_id"]],
  [
    "multiple errors reported together",
    {
      priority: "x",
      match: { path: "bad", headers: { x: "(" } },
      handlers: [{ type: "cors", options: { origins: ["nope"], bogus: 1 } }, { type: "unknown" }, { type: "http", options: { upstream_url: "ftp://x" } }],
    },
    ["priority", "match.path", "match.headers.x", "handlers[0].options.origins[0]", "handlers[0].options.bogus", "handlers[1].type", "handlers[2].options.upstream_url"],
  ],
];

describe("malformed routes are refused with field paths", () => {
  const fx = {};

  test("setup: tenant, its domain, another tenant's domain", async () => {
    fx.tid = uniq("val");
    const t = await api("POST", "/tenants", { id: fx.tid, name: "Validation" });
    assert.equal(t.status, 201, t.text);
    const other = uniq("oth");
    assert.equal((await api("POST", "/tenants", { id: other, name: "Other" })).status, 201);
    const od = await api("POST", `/tenants/${other}/domains`, { domain: `${uniq("o")}.test` });
    assert.equal(od.status, 201, od.text);
    fx.otherDomainId = od.data.id;
    // Sanity: a well-formed route with the same building blocks is accepted, so
    // each refusal below is about its one defect. (Deleted again right away.)
    const ok = await api("POST", `/tenants/${fx.tid}/routes`, {
      match: { path: "/post/:id{[0-9]+}", methods: ["GET"], headers: { "x-a": "^a" }, query: { q: "b" } },
      handlers: [{ type: "cors", options: { origins: ["https://ok.example"] } }, { type: "jwt", options: { keys: [jwk], leeway_seconds: 60 } }, HTTP()],
    });
    assert.equal(ok.status, 201, ok.text);
    assert.equal((await api("DELETE", `/tenants/${fx.tid}/routes/${ok.data.id}`)).status, 204);
  });

  test("the corpus has at least 30 cases", () => {
    assert.ok(corpus({}).length >= 30);
  });

  // One test per case, so a failure names the case.
  for (const [name, , want] of corpus({})) {
    test(name, async () => {
      const body = corpus(fx).find((c) => c[0] === name)[1];
      const r = await api("POST", `/tenants/${fx.tid}/routes`, body);
      assert.equal(r.status, 400, `${name}: ${r.status} ${r.text.slice(0, 500)}`);
      assert.match(r.headers.get("content-type") ?? "", /^application\/problem\+json/);
      assert.equal(r.data.code, "validation_failed");
      assert.equal(r.data.type, "urn:portico:problem:validation_failed");
      assert.equal(r.data.status, 400);
      assert.ok(Array.isArray(r.data.errors) && r.data.errors.length > 0, r.text);
      for (const e of r.data.errors) {
        assert.equal(typeof e.path, "string", r.text);
        assert.ok(typeof e.message === "string" && e.message.length > 0, `message for ${e.path}: ${r.text}`);
      }
      const paths = r.data.errors.map((e) => e.path);
      for (const w of want) {
        assert.ok(paths.some((p) => matches(w, p)), `${name}: expected an error at ${JSON.stringify(w)}, got ${JSON.stringify(paths)}`);
      }
      if (want.length >= 2) assert.ok(r.data.errors.length >= want.length, "every error reported in one response");
    });
  }

  test("nothing refused was stored", async () => {
    const rows = await h.db.prepare("SELECT id FROM routes WHERE tenant_id = ?1").bind(fx.tid).all();
    assert.deepEqual(rows.results, []);
    const list = await api("GET", `/tenants/${fx.tid}/routes`);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.data.items, []);
  });
});

describe("PATCH is validated on the merged route", () => {
  test("a bad handlers list is refused and the stored route stays as it was", async () => {
    const tid = uniq("pat");
    assert.equal((await api("POST", "/tenants", { id: tid, name: "Patch" })).status, 201);
    const other = uniq("pato");
    assert.equal((await api("POST", "/tenants", { id: other, name: "Other" })).status, 201);
    const od = await api("POST", `/tenants/${other}/domains`, { domain: `${uniq("po")}.test` });
    assert.equal(od.status, 201, od.text);
    const fxOther = od.data.id;
    const created = await api("POST", `/tenants/${tid}/routes`, { priority: 10, match: { path: "/p/*" }, handlers: [STATIC] });
    assert.equal(created.status, 201, created.text);
    const route = created.data;
    const row0 = await h.db.prepare("SELECT * FROM routes WHERE id = ?1").bind(route.id).first();

    const cases = [
      [{ handlers: [{ type: "cors" }] }, "handlers[0].type"],
      [{ handlers: [] }, "handlers"],
      [{ handlers: "static" }, "handlers"],
      [{ priority: 1, handlers: [{ type: "static", options: { status: 600 } }] }, "handlers[0].options.status"],
      [{ handlers: [{ type: "http", options: { upstream_url: "ftp://x.example/" } }] }, "handlers[0].options.upstream_url"],
      [{ match: { path: "nope" } }, "match.path"],
      [{ priority: "first" }, "priority"],
      [{ custom_domain_id: "dom_nope" }, "custom_domain_id"],
      [{ custom_domain_id: fxOther }, "custom_domain_id"],
      [{ id: "rt_other" }, "id"],
    ];
    for (const [body, path] of cases) {
      const r = await api("PATCH", `/tenants/${tid}/routes/${route.id}`, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.data.code, "validation_failed");
      assert.ok(r.data.errors.some((e) => e.path === path && e.message), `${JSON.stringify(body)}: want ${path}, got ${r.text}`);
    }
    const got = await api("GET", `/tenants/${tid}/routes/${route.id}`);
    assert.deepEqual(got.data, route, "API view unchanged");
    assert.deepEqual(await h.db.prepare("SELECT * FROM routes WHERE id = ?1").bind(route.id).first(), row0, "D1 row unchanged");

    // The merged route is what gets validated: a valid partial PATCH is accepted.
    const good = await api("PATCH", `/tenants/${tid}/routes/${route.id}`, { priority: 11 });
    assert.equal(good.status, 200, good.text);
    assert.equal(good.data.priority, 11);
    assert.deepEqual(good.data.handlers, [STATIC]);
  });
});

describe("null for an optional object field", () => {
  // `match` is an optional object defaulting to {"path":"/*"}; null is not an
  // object, so it is either refused (400 at path "match") or read as absent, and a
  // stored route then shows the default: never `"match": null`.
  test("POST and PATCH with match: null", async () => {
    const tid = uniq("nul");
    assert.equal((await api("POST", "/tenants", { id: tid, name: "Null" })).status, 201);
    const c = await api("POST", `/tenants/${tid}/routes`, { match: null, handlers: [STATIC] });
    if (c.status === 400) {
      assert.ok(c.data.errors.some((e) => e.path === "match"), c.text);
    } else {
      assert.equal(c.status, 201, c.text);
      assert.deepEqual(c.data.match, { path: "/*" }, `POST match:null stored as ${JSON.stringify(c.data.match)}`);
      assert.deepEqual((await api("GET", `/tenants/${tid}/routes/${c.data.id}`)).data.match, { path: "/*" });
    }
    const r = await api("POST", `/tenants/${tid}/routes`, { match: { path: "/x/*" }, handlers: [STATIC] });
    assert.equal(r.status, 201, r.text);
    const p = await api("PATCH", `/tenants/${tid}/routes/${r.data.id}`, { match: null });
    if (p.status === 400) {
      assert.ok(p.data.errors.some((e) => e.path === "match"), p.text);
    } else {
      assert.equal(p.status, 200, p.text);
      assert.ok(p.data.match !== null && typeof p.data.match === "object", `PATCH match:null gave ${JSON.stringify(p.data.match)}`);
    }
  });
});
