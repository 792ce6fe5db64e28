// Control-plane authentication and tenant isolation (docs/control-plane.md
// "Authentication"): every forged, stale or misdirected token is refused with the
// documented status and code, and none of them changes a row in D1. Three harnesses:
// inline keys (HMAC flag unset), HMAC dev mode, and a JWKS URL served by a real IdP.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { useHarness, json, uniq, sleep } from "./harness.mjs";
import { makeKey, signJwt, hmacJwt, unsignedJwt, tamper, jwks, now } from "./support/tokens.mjs";
import { startOAuthProvider } from "../../dev/oauth-provider.mjs";

const ISS = "https://issuer.test";
const AUD = "portico-api";
const CP_HOST = "cp.test";
const ALL_SCOPES = "tenants:read tenants:write domains:read domains:write routes:read routes:write audit:read proxy:resolve_host";
const ROUTE_BODY = { match: { path: "/*" }, handlers: [{ type: "static", options: { body: "new route" } }] };

/** A request to the management API on the control-plane host. */
function apiFor(h) {
  return (method, path, { token, auth, body } = {}) => {
    const headers = {};
    if (auth !== undefined) headers.authorization = auth;
    else if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    return h.fetch(`/api/v1${path}`, {
      host: CP_HOST,
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  };
}

/** Assert an RFC 9457 problem document with `status` and `code`; returns { body, text }. */
async function expectProblem(res, status, code, what = "") {
  const text = await res.text();
  assert.equal(res.status, status, `${what} status (body: ${text.slice(0, 300)})`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/, `${what} content-type`);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${what} problem body is not JSON: ${text.slice(0, 300)}`);
  }
  assert.equal(body.code, code, `${what} code (body: ${text.slice(0, 300)})`);
  assert.equal(body.status, status, `${what} body.status`);
  assert.equal(body.type, `urn:portico:problem:${code}`, `${what} type`);
  return { body, text };
}

/** The token must not be echoed anywhere in the response (body or any header). */
function assertNoTokenEcho(res, text, token, what = "") {
  if (!token || token.length < 8) return;
  assert.ok(!text.includes(token), `${what}: response body echoes the token`);
  for (const [k, v] of res.headers) assert.ok(!v.includes(token), `${what}: header ${k} echoes the token`);
}

/** 401 unauthorized with a Bearer challenge carrying error="invalid_token". */
async function expectInvalidToken(res, token, what) {
  const { text } = await expectProblem(res, 401, "unauthorized", what);
  const www = res.headers.get("www-authenticate") ?? "";
  assert.match(www, /^Bearer\b/, `${what}: WWW-Authenticate ${www}`);
  assert.match(www, /\berror="invalid_token"/, `${what}: WWW-Authenticate ${www}`);
  assertNoTokenEcho(res, text, token, what);
}

/** Rows of every table the API may write, for "nothing changed" checks. */
async function tableNames(h) {
  const { results } = await h.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'audit%' ORDER BY name").all();
  const audit = results.map((r) => r.name);
  // The contract calls it audit_log; fall back to whatever audit* table the migrations create.
  const auditTable = audit.includes("audit_log") ? "audit_log" : audit[0] ?? null;
  return { auditTable, tables: ["tenants", "domains", "routes", ...(auditTable ? [auditTable] : [])] };
}
async function snapshot(h, tables) {
  const out = {};
  for (const t of tables) out[t] = (await h.db.prepare(`SELECT * FROM ${t} ORDER BY id`).all()).results;
  return out;
}

/**
 * Two tenants with one domain and one route each, written straight into D1 so the
 * fixture does not depend on the create endpoints under test.
 */
async function seedTenants(h) {
  const mk = async (p) => {
    const id = uniq(p);
    await h.addTenant(id, `Tenant ${id}`);
    const domain = `${id}.example.test`;
    const domainId = await h.addDomain({ tenant_id: id, domain });
    const routeId = await h.addRoute({ tenant_id: id, custom_domain_id: domainId, handlers: [{ type: "static", options: { body: id } }] });
    return { id, domain, domainId, routeId };
  };
  return { A: await mk("ta"), B: await mk("tb") };
}

// ---------------------------------------------------------------------------
describe("inline keys, HMAC dev flag unset", () => {
  const ed = makeKey("EdDSA", "cp-ed-1");
  const es = makeKey("ES256", "cp-es-1");
  const rs = makeKey("RS256", "cp-rs-1");
  const HMAC_SECRET = "configured-but-disabled-" + crypto.randomBytes(8).toString("hex");
  const KEYS_JSON = JSON.stringify(jwks(ed, es, rs));
  const h = useHarness({
    bindings: {
      PORTICO_HOST_SOURCE: "d1",
      PORTICO_DEBUG_HEADERS: "true",
      CONTROL_PLANE_HOSTS: CP_HOST,
      PORTICO_AUTH_KEYS: KEYS_JSON,
      PORTICO_AUTH_ISSUER: ISS,
      PORTICO_AUTH_AUDIENCE: AUD,
      // Present but must be ignored: PORTICO_AUTH_ALLOW_HMAC_DEV is not "true".
      PORTICO_AUTH_HMAC_SECRET: HMAC_SECRET,
    },
  });
  const api = (...a) => apiFor(h)(...a);

  let A, B, tables;
  before(async () => {
    ({ A, B } = await seedTenants(h));
    ({ tables } = await tableNames(h));
  });

  const base = (extra = {}) => ({ iss: ISS, aud: AUD, sub: "attacker", iat: now(), exp: now() + 300, scope: ALL_SCOPES, ...extra });
  const cpToken = (extra = {}) => signJwt(ed, base({ sub: "operator", ...extra }));
  const tenantToken = (tid, extra = {}, key = ed) => signJwt(key, base({ tenant_id: tid, ...extra }));

  /** Run `fn` and assert no table changed. */
  async function unchanged(fn) {
    const before = await snapshot(h, tables);
    await fn();
    assert.deepEqual(await snapshot(h, tables), before, "D1 changed");
  }

  test("the audit table exists (named audit_log per the contract)", async () => {
    const { auditTable } = await tableNames(h);
    assert.equal(auditTable, "audit_log");
  });

  test("positive control: a tenant token lists and creates routes in its own tenant", async () => {
    const t = tenantToken(A.id);
    const list = await api("GET", `/tenants/${A.id}/routes`, { token: t });
    const lt = await list.text();
    assert.equal(list.status, 200, lt);
    const items = JSON.parse(lt).items;
    assert.ok(items.some((r) => r.id === A.routeId), "A's route listed");
    assert.ok(!items.some((r) => r.id === B.routeId), "B's route not listed");

    const beforeSnap = await snapshot(h, tables);
    const created = await api("POST", `/tenants/${A.id}/routes`, { token: t, body: ROUTE_BODY });
    const ct = await created.text();
    assert.equal(created.status, 201, ct);
    const route = JSON.parse(ct);
    assert.equal(route.tenant_id, A.id);
    const afterSnap = await snapshot(h, tables);
    assert.equal(afterSnap.routes.length, beforeSnap.routes.length + 1, "one route written");
    assert.deepEqual(afterSnap.tenants, beforeSnap.tenants);
    assert.deepEqual(afterSnap.domains, beforeSnap.domains);

    const own = await api("GET", `/tenants/${A.id}`, { token: t });
    assert.equal(own.status, 200, "a tenant may read its own tenant record");
    assert.equal((await json(own)).id, A.id);
  });

  test("positive control: a control-plane token reaches tenant B", async () => {
    const res = await api("GET", `/tenants/${B.id}/routes`, { token: cpToken() });
    assert.equal(res.status, 200);
    assert.ok((await json(res)).items.some((r) => r.id === B.routeId));
  });

  // --- 401: no or malformed Authorization ---------------------------------
  test("no Authorization → 401 with a bare Bearer challenge (no error=)", async () => {
    await unchanged(async () => {
      for (const [method, body] of [["GET"], ["POST", ROUTE_BODY]]) {
        const res = await api(method, `/tenants/${A.id}/routes`, { body });
        await expectProblem(res, 401, "unauthorized", method);
        const www = res.headers.get("www-authenticate") ?? "";
        assert.match(www, /^Bearer\b/, www);
        assert.doesNotMatch(www, /error=/, www);
      }
    });
  });

  for (const auth of ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b", "Bearer a.b.c", "Bearer ...", "Token " + "x".repeat(20)]) {
    test(`malformed Authorization ${JSON.stringify(auth)} → 401`, async () => {
      await unchanged(async () => {
        for (const [method, body] of [["GET"], ["POST", ROUTE_BODY]]) {
          const res = await api(method, `/tenants/${A.id}/routes`, { auth, body });
          await expectProblem(res, 401, "unauthorized", `${method} ${auth}`);
          assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer\b/);
        }
      });
    });
  }

  test("a valid token outside the Authorization header (query string, cookie, other header) is not used", async () => {
    const token = tenantToken(A.id);
    await unchanged(async () => {
      const q = await api("GET", `/tenants/${A.id}/routes?access_token=${token}`);
      const { text } = await expectProblem(q, 401, "unauthorized", "query");
      assertNoTokenEcho(q, text, token, "query");
      const c = await h.fetch(`/api/v1/tenants/${A.id}/routes`, { host: CP_HOST, headers: { cookie: `access_token=${token}; token=${token}` } });
      await expectProblem(c, 401, "unauthorized", "cookie");
      const p = await h.fetch(`/api/v1/tenants/${A.id}/routes`, { host: CP_HOST, headers: { "x-access-token": token } });
      await expectProblem(p, 401, "unauthorized", "x-access-token");
    });
  });

  // --- 401: invalid tokens ------------------------------------------------
  const otherEd = () => makeKey("EdDSA", ed.kid); // different key material, same kid
  const invalidTokens = {
    "expired (exp 120 s ago, beyond any leeway)": () => tenantToken(A.id, { exp: now() - 120 }),
    "expired 90 s ago (default leeway is 30)": () => tenantToken(A.id, { iat: now() - 400, exp: now() - 90 }),
    "exp missing": () => tenantToken(A.id, { exp: undefined }),
    "exp not a number": () => tenantToken(A.id, { exp: String(now() + 300) }),
    "not yet valid (nbf 120 s ahead)": () => tenantToken(A.id, { nbf: now() + 120 }),
    "wrong issuer": () => tenantToken(A.id, { iss: "https://evil.test" }),
    "issuer missing": () => tenantToken(A.id, { iss: undefined }),
    "wrong audience": () => tenantToken(A.id, { aud: "other-api" }),
    "aud array without ours": () => tenantToken(A.id, { aud: ["other-api", "portico-api-x"] }),
    "audience missing": () => tenantToken(A.id, { aud: undefined }),
    "alg none": () => unsignedJwt(base({ tenant_id: A.id })),
    "alg none with a known kid": () => unsignedJwt(base({ tenant_id: A.id }), { kid: ed.kid }),
    "alg none, signature of a real token kept": () => {
      const real = tenantToken(A.id);
      const [, p, s] = real.split(".");
      return `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT", kid: ed.kid })).toString("base64url")}.${p}.${s}`;
    },
    "HS256 keyed with the Ed25519 public JWK JSON (key confusion)": () => hmacJwt(JSON.stringify(ed.publicJwk), base({ tenant_id: A.id }), { kid: ed.kid }),
    "HS256 keyed with the RSA public JWK JSON (key confusion)": () => hmacJwt(JSON.stringify(rs.publicJwk), base({ tenant_id: A.id }), { kid: rs.kid }),
    "HS256 keyed with the RSA public PEM (key confusion)": () =>
      hmacJwt(rs.publicKey.export({ type: "spki", format: "pem" }), base({ tenant_id: A.id }), { kid: rs.kid }),
    "HS256 keyed with the Ed25519 public PEM (key confusion)": () =>
      hmacJwt(ed.publicKey.export({ type: "spki", format: "pem" }), base({ tenant_id: A.id }), { kid: ed.kid }),
    "HS256 keyed with the whole PORTICO_AUTH_KEYS string": () => hmacJwt(KEYS_JSON, base({ tenant_id: A.id })),
    "HS256 with a random secret": () => hmacJwt(crypto.randomBytes(32), base({ tenant_id: A.id })),
    "HS256 with the configured HMAC secret while the dev flag is unset": () => hmacJwt(HMAC_SECRET, base({ tenant_id: A.id })),
    "HS256 control-plane token with the configured secret, flag unset": () => hmacJwt(HMAC_SECRET, base({ sub: "operator" })),
    "unknown kid": () => tenantToken(A.id, {}, makeKey("EdDSA", "no-such-kid")),
    "another key reusing our kid": () => tenantToken(A.id, {}, otherEd()),
    "another key, no kid": () => signJwt(makeKey("EdDSA"), base({ tenant_id: A.id }), { kid: undefined }),
    "tampered payload: extra scope": () => {
      const t = signJwt(ed, base({ tenant_id: A.id, scope: "routes:read" }));
      return tamper(t, base({ tenant_id: A.id, scope: "routes:read routes:write" }));
    },
    "tampered payload: tenant_id changed to B": () => tamper(tenantToken(A.id), base({ tenant_id: B.id })),
    "tampered payload: tenant claim removed (escalate to control plane)": () => tamper(tenantToken(A.id), base({})),
    "header alg ES256 on an EdDSA key (alg mismatch)": () => signJwt(ed, base({ tenant_id: A.id }), { alg: "ES256" }),
    "header alg EdDSA on an ES256 key (alg mismatch)": () => signJwt(es, base({ tenant_id: A.id }), { alg: "EdDSA" }),
    "RS256 signature, header alg RS512": () => signJwt(rs, base({ tenant_id: A.id }), { alg: "RS512" }),
    "RS256 signature, header alg PS256": () => signJwt(rs, base({ tenant_id: A.id }), { alg: "PS256" }),
    "RS256 key named by kid, header alg ES256": () => signJwt(rs, base({ tenant_id: A.id }), { alg: "ES256" }),
    "signature stripped": () => tenantToken(A.id).replace(/\.[^.]+$/, "."),
    "signature truncated": () => tenantToken(A.id).slice(0, -4),
    "payload not JSON": () => {
      const [hd, , s] = tenantToken(A.id).split(".");
      return `${hd}.${Buffer.from("not json").toString("base64url")}.${s}`;
    },
  };

  for (const [name, make] of Object.entries(invalidTokens)) {
    test(`401 invalid_token: ${name} (read and write)`, async () => {
      const token = make();
      await unchanged(async () => {
        const r = await api("GET", `/tenants/${A.id}/routes`, { token });
        await expectInvalidToken(r, token, `GET ${name}`);
        const w = await api("POST", `/tenants/${A.id}/routes`, { token, body: ROUTE_BODY });
        await expectInvalidToken(w, token, `POST ${name}`);
        // also on a control-plane-only operation: no escalation through a bad token
        const c = await api("POST", "/tenants", { token, body: { id: uniq("evil"), name: "evil" } });
        await expectInvalidToken(c, token, `POST /tenants ${name}`);
      });
    });
  }

  test("tampered tenant_id is refused with 401 on the other tenant's path too", async () => {
    const token = tamper(tenantToken(A.id), base({ tenant_id: B.id }));
    await unchanged(async () => {
      await expectInvalidToken(await api("GET", `/tenants/${B.id}/routes`, { token }), token, "GET B");
      await expectInvalidToken(await api("POST", `/tenants/${B.id}/routes`, { token, body: ROUTE_BODY }), token, "POST B");
    });
  });

  // --- leeway ---------------------------------------------------------------
  test("leeway: exp 20 s ago and nbf 20 s ahead are accepted (default leeway 30)", async () => {
    const r1 = await api("GET", `/tenants/${A.id}/routes`, { token: tenantToken(A.id, { iat: now() - 300, exp: now() - 20 }) });
    assert.equal(r1.status, 200, await r1.text());
    const r2 = await api("GET", `/tenants/${A.id}/routes`, { token: tenantToken(A.id, { nbf: now() + 20 }) });
    assert.equal(r2.status, 200, await r2.text());
  });

  // --- positive per algorithm and claim shape ---------------------------------
  for (const [alg, key] of [["EdDSA", ed], ["ES256", es], ["RS256", rs]]) {
    test(`inline ${alg} key: a valid token is accepted`, async () => {
      const res = await api("GET", `/tenants/${A.id}/routes`, { token: tenantToken(A.id, {}, key) });
      assert.equal(res.status, 200, await res.text());
    });
  }

  test("token without kid: keys of its alg are tried", async () => {
    const res = await api("GET", `/tenants/${A.id}/routes`, { token: signJwt(es, base({ tenant_id: A.id }), { kid: undefined }) });
    assert.equal(res.status, 200, await res.text());
  });

  test("aud as an array containing our audience is accepted", async () => {
    const res = await api("GET", `/tenants/${A.id}/routes`, { token: tenantToken(A.id, { aud: ["other-api", AUD] }) });
    assert.equal(res.status, 200, await res.text());
  });

  // --- 403 insufficient_scope ---------------------------------------------------
  test("routes:read only, doing a write → 403 insufficient_scope scope=\"routes:write\"", async () => {
    const token = tenantToken(A.id, { scope: "routes:read" });
    const ok = await api("GET", `/tenants/${A.id}/routes`, { token });
    assert.equal(ok.status, 200, "the read is allowed");
    await ok.text();
    await unchanged(async () => {
      const res = await api("POST", `/tenants/${A.id}/routes`, { token, body: ROUTE_BODY });
      const { text } = await expectProblem(res, 403, "insufficient_scope");
      const www = res.headers.get("www-authenticate") ?? "";
      assert.match(www, /^Bearer\b/, www);
      assert.match(www, /\berror="insufficient_scope"/, www);
      assert.match(www, /\bscope="routes:write"/, www);
      assertNoTokenEcho(res, text, token, "insufficient_scope");
    });
  });

  test("routes:write only, doing a read → 403 scope=\"routes:read\"; no scope claim at all → 403", async () => {
    const r = await api("GET", `/tenants/${A.id}/routes`, { token: tenantToken(A.id, { scope: "routes:write" }) });
    await expectProblem(r, 403, "insufficient_scope");
    assert.match(r.headers.get("www-authenticate") ?? "", /\bscope="routes:read"/);
    const r2 = await api("GET", `/tenants/${A.id}/routes`, { token: tenantToken(A.id, { scope: undefined }) });
    await expectProblem(r2, 403, "insufficient_scope");
    // a scope that merely contains the needed one as a substring does not count
    const r3 = await api("GET", `/tenants/${A.id}/routes`, { token: tenantToken(A.id, { scope: "routes:readonly xroutes:read" }) });
    await expectProblem(r3, 403, "insufficient_scope");
  });

  // --- 403 forbidden: another tenant's path --------------------------------------
  const tenantOps = (T, fresh) => [
    ["GET", `/tenants/${T.id}`],
    ["PATCH", `/tenants/${T.id}`, { name: "pwned" }],
    ["DELETE", `/tenants/${T.id}`],
    ["GET", `/tenants/${T.id}/domains`],
    ["POST", `/tenants/${T.id}/domains`, { domain: `${fresh}-new.example.test` }],
    ["GET", `/tenants/${T.id}/domains/${T.domainId}`],
    ["PATCH", `/tenants/${T.id}/domains/${T.domainId}`, { domain: `${fresh}-moved.example.test` }],
    ["DELETE", `/tenants/${T.id}/domains/${T.domainId}`],
    ["GET", `/tenants/${T.id}/routes`],
    ["POST", `/tenants/${T.id}/routes`, ROUTE_BODY],
    ["GET", `/tenants/${T.id}/routes/${T.routeId}`],
    ["PATCH", `/tenants/${T.id}/routes/${T.routeId}`, { priority: 1 }],
    ["DELETE", `/tenants/${T.id}/routes/${T.routeId}`],
    ["GET", `/tenants/${T.id}/audit`],
  ];

  for (const claim of ["tenant_id", "org_id"]) {
    test(`A's token (${claim}) on every operation under /tenants/B → 403 forbidden, nothing changes`, async () => {
      const token = signJwt(ed, base({ [claim]: A.id }));
      await unchanged(async () => {
        for (const [method, path, body] of tenantOps(B, uniq("x"))) {
          const res = await api(method, path, { token, body });
          const { text } = await expectProblem(res, 403, "forbidden", `${method} ${path}`);
          assert.doesNotMatch(res.headers.get("www-authenticate") ?? "", /invalid_token/, `${method} ${path}`);
          assertNoTokenEcho(res, text, token, `${method} ${path}`);
        }
      });
    });
  }

  test("A's token on methods /tenants/B/... does not offer → 405, nothing changes", async () => {
    const token = tenantToken(A.id);
    await unchanged(async () => {
      for (const [method, path] of [
        ["POST", `/tenants/${B.id}`],
        ["PUT", `/tenants/${B.id}/routes/${B.routeId}`],
        ["DELETE", `/tenants/${B.id}/routes`],
        ["PATCH", `/tenants/${B.id}/domains`],
        ["POST", `/tenants/${B.id}/routes/${B.routeId}`],
        ["DELETE", `/tenants/${B.id}/audit`],
      ]) {
        const res = await api(method, path, { token, body: method === "DELETE" ? undefined : ROUTE_BODY });
        await expectProblem(res, 405, "method_not_allowed", `${method} ${path}`);
        assert.ok(res.headers.get("allow"), `${method} ${path}: Allow header`);
      }
    });
  });

  test("A's token on another tenant's path is 403 even when that tenant or object does not exist (no enumeration)", async () => {
    const token = tenantToken(A.id);
    for (const path of [`/tenants/${uniq("ghost")}/routes`, `/tenants/${B.id}/routes/rt_doesnotexist`, `/tenants/${B.id}/domains/dom_doesnotexist`]) {
      await expectProblem(await api("GET", path, { token }), 403, "forbidden", path);
    }
  });

  // --- 404: another tenant's object ids under one's own path --------------------
  test("B's route and domain ids under /tenants/A → 404 not_found, indistinguishable from unknown ids", async () => {
    const token = tenantToken(A.id);
    await unchanged(async () => {
      for (const [kind, id] of [["routes", B.routeId], ["domains", B.domainId]]) {
        const body = kind === "routes" ? { priority: 1 } : { domain: `${uniq("m")}.example.test` };
        for (const method of ["GET", "PATCH", "DELETE"]) {
          const res = await api(method, `/tenants/${A.id}/${kind}/${id}`, { token, body: method === "PATCH" ? body : undefined });
          const { text } = await expectProblem(res, 404, "not_found", `${method} ${kind}/${id}`);
          // nothing about B leaks
          assert.ok(!text.includes(B.id), `${method} ${kind}: body names tenant B`);
          assert.ok(!text.includes(B.domain), `${method} ${kind}: body names B's domain`);
        }
      }
    });
    // same answer for an id that exists nowhere
    await expectProblem(await api("GET", `/tenants/${A.id}/routes/rt_doesnotexist`, { token }), 404, "not_found");
  });

  test("POST/PATCH a route in A scoped to B's domain id → 400 custom_domain_id, nothing written", async () => {
    const token = tenantToken(A.id);
    await unchanged(async () => {
      const res = await api("POST", `/tenants/${A.id}/routes`, { token, body: { ...ROUTE_BODY, custom_domain_id: B.domainId } });
      const { body } = await expectProblem(res, 400, "validation_failed");
      assert.ok(body.errors?.some((e) => e.path === "custom_domain_id"), JSON.stringify(body.errors));
      const p = await api("PATCH", `/tenants/${A.id}/routes/${A.routeId}`, { token, body: { custom_domain_id: B.domainId } });
      const { body: pb } = await expectProblem(p, 400, "validation_failed");
      assert.ok(pb.errors?.some((e) => e.path === "custom_domain_id"), JSON.stringify(pb.errors));
    });
  });

  // --- 403: control-plane-only operations --------------------------------------
  test("a tenant token on control-plane-only operations → 403 forbidden", async () => {
    const token = tenantToken(A.id);
    await unchanged(async () => {
      for (const [method, path, body] of [
        ["GET", "/tenants"],
        ["POST", "/tenants", { id: uniq("evil"), name: "evil" }],
        ["PATCH", `/tenants/${A.id}`, { name: "renamed" }],
        ["DELETE", `/tenants/${A.id}`],
        ["GET", `/control-plane/hosts/${A.domain}`],
        ["GET", `/control-plane/hosts/${B.domain}`],
      ]) {
        const res = await api(method, path, { token, body });
        await expectProblem(res, 403, "forbidden", `${method} ${path}`);
      }
    });
  });

  test("a tenant claim equal to another tenant's id in org_id does not widen a tenant_id token", async () => {
    // tenant_id wins over org_id: a token for A that also names B in org_id stays A's.
    const token = signJwt(ed, base({ tenant_id: A.id, org_id: B.id }));
    await expectProblem(await api("GET", `/tenants/${B.id}/routes`, { token }), 403, "forbidden");
    const own = await api("GET", `/tenants/${A.id}/routes`, { token });
    assert.equal(own.status, 200);
    await own.text();
  });

  // A tenant claim that is present but not a usable string must not be read as "no
  // tenant claim" (which would make the token a control-plane token). The contract
  // names the claim a string and does not pin 401 vs 403, so either refusal passes.
  const oddTenantClaims = {
    "a number": 12345,
    "an array holding A's id": "ARRAY_A",
    "an object": { id: "x" },
    "a boolean": true,
    "an empty string": "",
  };
  for (const claim of ["tenant_id", "org_id"]) {
    for (const [shape, value] of Object.entries(oddTenantClaims)) {
      test(`${claim} as ${shape} never reaches control-plane operations or tenant B`, async () => {
        const token = signJwt(ed, base({ [claim]: value === "ARRAY_A" ? [A.id] : value }));
        await unchanged(async () => {
          const got = [];
          for (const [method, path, body] of [
            ["GET", "/tenants"],
            ["POST", "/tenants", { id: uniq("esc"), name: "escalated" }],
            ["GET", `/tenants/${B.id}/routes`],
            ["POST", `/tenants/${B.id}/routes`, ROUTE_BODY],
            ["GET", `/control-plane/hosts/${B.domain}`],
          ]) {
            const res = await api(method, path, { token, body });
            await res.text();
            if (![401, 403].includes(res.status)) got.push(`${method} ${path} → ${res.status}`);
          }
          // every request listed, so a failure shows how far the token reached
          assert.deepEqual(got, []);
        });
      });
    }
  }

  test("path tricks (dot segments, percent-encoding) cannot move A's token onto B", async () => {
    const token = tenantToken(A.id);
    const pct = [...B.id].map((c) => "%" + c.charCodeAt(0).toString(16)).join("");
    await unchanged(async () => {
      for (const path of [
        `/tenants/${A.id}/../${B.id}/routes`,
        `/tenants/${A.id}/%2e%2e/${B.id}/routes`,
        `/tenants/${pct}/routes`,
        `/tenants/${B.id}%2Froutes`,
      ]) {
        for (const [method, body] of [["GET"], ["POST", ROUTE_BODY]]) {
          const res = await api(method, path, { token, body });
          const text = await res.text();
          assert.ok([400, 403, 404, 405].includes(res.status), `${method} ${path}: got ${res.status} ${text.slice(0, 200)}`);
          assert.ok(!text.includes(B.routeId), `${method} ${path}: B's route leaked`);
        }
      }
    });
  });

  // --- domain takeover -------------------------------------------------------
  test("A cannot claim B's domain (409) nor the control-plane host (400); B's row unchanged", async () => {
    const token = tenantToken(A.id);
    const bRow = async () => (await h.db.prepare("SELECT * FROM domains WHERE id = ?1").bind(B.domainId).first());
    const before = await bRow();
    await unchanged(async () => {
      for (const domain of [B.domain, B.domain.toUpperCase(), `${B.domain}.`]) {
        await expectProblem(await api("POST", `/tenants/${A.id}/domains`, { token, body: { domain } }), 409, "conflict", domain);
        await expectProblem(await api("PATCH", `/tenants/${A.id}/domains/${A.domainId}`, { token, body: { domain } }), 409, "conflict", `PATCH ${domain}`);
      }
      for (const domain of [CP_HOST, "CP.TEST", "cp.test."]) {
        const res = await api("POST", `/tenants/${A.id}/domains`, { token, body: { domain } });
        const { body } = await expectProblem(res, 400, "validation_failed", domain);
        assert.equal(body.errors?.[0]?.path, "domain", JSON.stringify(body.errors));
      }
    });
    assert.deepEqual(await bRow(), before);
  });
});

// ---------------------------------------------------------------------------
describe("HMAC dev mode (PORTICO_AUTH_ALLOW_HMAC_DEV=true)", () => {
  const SECRET = "dev-secret-" + crypto.randomBytes(16).toString("hex");
  const ed = makeKey("EdDSA", "dev-ed-1");
  const rs = makeKey("RS256", "dev-rs-1");
  const h = useHarness({
    bindings: {
      PORTICO_HOST_SOURCE: "d1",
      CONTROL_PLANE_HOSTS: CP_HOST,
      PORTICO_AUTH_KEYS: JSON.stringify(jwks(ed, rs)),
      PORTICO_AUTH_ALLOW_HMAC_DEV: "true",
      PORTICO_AUTH_HMAC_SECRET: SECRET,
      PORTICO_AUTH_ISSUER: ISS,
      PORTICO_AUTH_AUDIENCE: AUD,
    },
  });
  const api = (...a) => apiFor(h)(...a);
  const claims = (extra = {}) => ({ iss: ISS, aud: AUD, sub: "dev", iat: now(), exp: now() + 300, scope: ALL_SCOPES, ...extra });

  test("HS256 with the configured secret is accepted", async () => {
    const res = await api("GET", "/tenants", { token: hmacJwt(SECRET, claims()) });
    assert.equal(res.status, 200, await res.text());
  });

  test("asymmetric keys keep working next to the HMAC secret", async () => {
    const res = await api("GET", "/tenants", { token: signJwt(ed, claims()) });
    assert.equal(res.status, 200, await res.text());
  });

  const bad = {
    "HS256 with another secret": () => hmacJwt("not-the-secret", claims()),
    "HS256 keyed with a public JWK (key confusion)": () => hmacJwt(JSON.stringify(ed.publicJwk), claims(), { kid: ed.kid }),
    "HS256 keyed with the RSA public PEM (key confusion)": () => hmacJwt(rs.publicKey.export({ type: "spki", format: "pem" }), claims(), { kid: rs.kid }),
    "HS256 with the right secret but expired": () => hmacJwt(SECRET, claims({ exp: now() - 120 })),
    "HS256 with the right secret but wrong audience": () => hmacJwt(SECRET, claims({ aud: "other" })),
    "alg none": () => unsignedJwt(claims()),
  };
  for (const [name, make] of Object.entries(bad)) {
    test(`dev mode still refuses: ${name}`, async () => {
      const token = make();
      await expectInvalidToken(await api("GET", "/tenants", { token }), token, name);
      await expectInvalidToken(await api("POST", "/tenants", { token, body: { id: uniq("dev"), name: "x" } }), token, name);
    });
  }
});

// ---------------------------------------------------------------------------
describe("JWKS URL (PORTICO_AUTH_JWKS_URL from a real IdP)", () => {
  let idp;
  before(async () => {
    idp = await startOAuthProvider({ issuer: ISS, audience: AUD, keys: [makeKey("RS256", "idp-rs-1")] });
  });
  after(async () => {
    await idp?.close();
  });
  const h = useHarness({
    bindings: () => ({
      PORTICO_HOST_SOURCE: "d1",
      CONTROL_PLANE_HOSTS: CP_HOST,
      PORTICO_AUTH_JWKS_URL: idp.jwksUrl,
      PORTICO_AUTH_JWKS_MIN_REFETCH_SECONDS: "2",
      PORTICO_AUTH_ISSUER: ISS,
      PORTICO_AUTH_AUDIENCE: AUD,
    }),
  });
  const api = (...a) => apiFor(h)(...a);

  test("an RS256 token signed by the IdP's current key is accepted", async () => {
    const res = await api("GET", "/tenants", { token: idp.mint({ sub: "svc", scope: ALL_SCOPES }) });
    assert.equal(res.status, 200, await res.text());
    assert.ok(idp.stats.jwksFetches >= 1, "the JWKS was fetched");
  });

  test("unknown kids trigger at most one refetch per min-refetch interval", async () => {
    const stranger = makeKey("RS256", "not-in-jwks");
    const f0 = idp.stats.jwksFetches;
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      const token = signJwt(stranger, { iss: ISS, aud: AUD, sub: "x", exp: now() + 300, scope: ALL_SCOPES });
      await expectInvalidToken(await api("GET", "/tenants", { token }), token, `unknown kid #${i}`);
    }
    // The bound is one refetch per 2 s window the burst spanned (normally one window).
    const windows = Math.floor((Date.now() - started) / 2000) + 1;
    assert.ok(idp.stats.jwksFetches - f0 <= windows, `refetches ${idp.stats.jwksFetches - f0} for ${windows} window(s)`);
  });

  test("after key rotation a token with the new kid is accepted once the interval has passed", async () => {
    const next = makeKey("RS256", "idp-rs-2");
    idp.setKeys([next]);
    await sleep(2500); // longer than PORTICO_AUTH_JWKS_MIN_REFETCH_SECONDS
    const f0 = idp.stats.jwksFetches;
    const res = await api("GET", "/tenants", { token: idp.mint({ sub: "svc", scope: ALL_SCOPES }) });
    assert.equal(res.status, 200, await res.text());
    assert.ok(idp.stats.jwksFetches > f0, "the new kid caused a refetch");
  });

  test("a token whose header alg differs from the JWKS key's alg is refused", async () => {
    const key = idp.keys[0];
    for (const alg of ["RS512", "PS256", "HS256"]) {
      const token = signJwt(key, { iss: ISS, aud: AUD, sub: "x", exp: now() + 300, scope: ALL_SCOPES }, { alg });
      await expectInvalidToken(await api("GET", "/tenants", { token }), token, alg);
    }
  });
});
