// The `jwt` route handler (DESIGN §4, docs/control-plane.md "The `jwt` route
// handler"): real signatures verified in the Wasm build, routes stored in D1, the
// demo origin echoing what reached it. A refused request must never reach the origin.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import net from "node:net";
import { useHarness, json, expectError } from "./harness.mjs";
import { makeKey, signJwt, hmacJwt, unsignedJwt, tamper, now } from "./support/tokens.mjs";
import { startOAuthProvider } from "../../dev/oauth-provider.mjs";

const h = useHarness({ bindings: { PORTICO_HOST_SOURCE: "d1" } });

const ISS = "https://login.example.test";
const AUD = "orders-api";
const ed = makeKey("EdDSA", "route-ed-1");
const es = makeKey("ES256", "route-es-1");
const rs = makeKey("RS256", "route-rs-1");

const httpTo = () => ({ type: "http", options: { upstream_url: `${h.origin.url}/` } });
const jwtWith = (options = {}) => ({
  type: "jwt",
  options: { keys: [ed.publicJwk, es.publicJwk, rs.publicJwk], issuer: ISS, audience: AUD, ...options },
});
/** A fresh host whose only route is jwt(options) → http origin. */
async function jwtHost(options, hostOpts = {}) {
  return h.addHost({ routes: [{ match: { path: "/*" }, handlers: [jwtWith(options), httpTo()] }], ...hostOpts });
}
const claims = (extra = {}) => ({ iss: ISS, aud: AUD, sub: "user-1", iat: now(), exp: now() + 300, ...extra });
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const marker = () => crypto.randomUUID();

/** 401/403 from the handler: plain text, the given code, and the origin never saw `m`. */
async function expectRefused(res, status, code, m, what = "") {
  const text = await expectError(assert, res, status, code);
  assert.doesNotMatch(res.headers.get("content-type") ?? "", /json/, `${what}: body is plain text`);
  assert.equal(h.origin.requestsMatching(m).length, 0, `${what}: origin must not be called`);
  return text;
}

describe("verification", () => {
  let host;
  before(async () => {
    ({ host } = await jwtHost({}));
  });

  for (const [alg, key] of [["EdDSA", ed], ["ES256", es], ["RS256", rs]]) {
    test(`valid ${alg} bearer → 200 and the origin saw the request`, async () => {
      const m = marker();
      const res = await h.fetch(`/ok-${m}`, { host, headers: bearer(signJwt(key, claims())) });
      assert.equal(res.status, 200);
      assert.equal((await json(res)).origin, "demo-origin");
      assert.equal(h.origin.requestsMatching(m).length, 1);
    });
  }

  test("missing token → 401 with a bare Bearer challenge, origin not called", async () => {
    for (const headers of [{}, { authorization: "Basic dXNlcjpwYXNz" }]) {
      const m = marker();
      const res = await h.fetch(`/none-${m}`, { host, headers });
      await expectRefused(res, 401, "jwt_unauthorized", m, JSON.stringify(headers));
      const www = res.headers.get("www-authenticate") ?? "";
      assert.match(www, /^Bearer\b/, www);
      assert.doesNotMatch(www, /error=/, www);
    }
  });

  const bad = {
    "bad signature (another key with the same kid)": () => signJwt(makeKey("EdDSA", ed.kid), claims()),
    "unknown kid": () => signJwt(makeKey("ES256", "who-knows"), claims()),
    "tampered payload": () => tamper(signJwt(ed, claims()), claims({ sub: "admin" })),
    "expired beyond the default 60 s leeway": () => signJwt(ed, claims({ iat: now() - 600, exp: now() - 120 })),
    "exp missing": () => signJwt(ed, claims({ exp: undefined })),
    "not yet valid (nbf 120 s ahead)": () => signJwt(ed, claims({ nbf: now() + 120 })),
    "wrong issuer": () => signJwt(ed, claims({ iss: "https://evil.test" })),
    "wrong audience": () => signJwt(ed, claims({ aud: "billing-api" })),
    "alg none": () => unsignedJwt(claims(), { kid: ed.kid }),
    "HS256 keyed with the public JWK (key confusion)": () => hmacJwt(JSON.stringify(ed.publicJwk), claims(), { kid: ed.kid }),
    "HS256 keyed with the RSA public PEM (key confusion)": () => hmacJwt(rs.publicKey.export({ type: "spki", format: "pem" }), claims(), { kid: rs.kid }),
    "header alg ES256 on an EdDSA key": () => signJwt(ed, claims(), { alg: "ES256" }),
    "RS256 signature, header alg RS512": () => signJwt(rs, claims(), { alg: "RS512" }),
    "RS256 signature, header alg PS256": () => signJwt(rs, claims(), { alg: "PS256" }),
    "garbage": () => "not-a-jwt",
  };
  for (const [name, make] of Object.entries(bad)) {
    test(`${name} → 401 Bearer error="invalid_token", origin not called`, async () => {
      const m = marker();
      const token = make();
      const res = await h.fetch(`/bad-${m}`, { host, headers: bearer(token) });
      const text = await expectRefused(res, 401, "jwt_unauthorized", m, name);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer\b.*\berror="invalid_token"/);
      assert.ok(!text.includes(token), "the token is not echoed");
    });
  }

  test("audience as a list: a token for any listed audience passes, others do not", async () => {
    const { host: listHost } = await jwtHost({ audience: ["reports-api", AUD] });
    const ok = await h.fetch("/aud", { host: listHost, headers: bearer(signJwt(ed, claims())) });
    assert.equal(ok.status, 200);
    await ok.text();
    const m = marker();
    const no = await h.fetch(`/aud-${m}`, { host: listHost, headers: bearer(signJwt(ed, claims({ aud: "billing-api" }))) });
    await expectRefused(no, 401, "jwt_unauthorized", m);
  });
});

describe("authorisation", () => {
  test("required_scopes: missing → 403 insufficient_scope; present → 200", async () => {
    const { host } = await jwtHost({ required_scopes: ["orders:read", "orders:list"] });
    for (const scope of [undefined, "profile", "orders:read", "orders:readonly orders:list"]) {
      const m = marker();
      const res = await h.fetch(`/s-${m}`, { host, headers: bearer(signJwt(es, claims({ scope }))) });
      await expectRefused(res, 403, "jwt_forbidden", m, String(scope));
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer\b.*\berror="insufficient_scope"/, String(scope));
    }
    const ok = await h.fetch("/s-ok", { host, headers: bearer(signJwt(es, claims({ scope: "profile orders:list orders:read" }))) });
    assert.equal(ok.status, 200);
    await ok.text();
  });

  test("tenant_claim: equal to the route's tenant → 200, another tenant → 403", async () => {
    const { host, tenant_id } = await jwtHost({ tenant_claim: "tenant_id" });
    const ok = await h.fetch("/t", { host, headers: bearer(signJwt(ed, claims({ tenant_id }))) });
    assert.equal(ok.status, 200);
    await ok.text();
    const m = marker();
    const no = await h.fetch(`/t-${m}`, { host, headers: bearer(signJwt(ed, claims({ tenant_id: `${tenant_id}-other` }))) });
    await expectRefused(no, 403, "jwt_forbidden", m);
  });

  test("tenant_claim: a token without the claim is refused (403)", async () => {
    const { host } = await jwtHost({ tenant_claim: "org" });
    const m = marker();
    const res = await h.fetch(`/t-${m}`, { host, headers: bearer(signJwt(ed, claims())) });
    await expectRefused(res, 403, "jwt_forbidden", m);
  });
});

describe("token sources and claims", () => {
  test("cookie option: the named cookie is read; another cookie is not", async () => {
    const { host } = await jwtHost({ cookie: "session" });
    const t = signJwt(ed, claims());
    for (const cookie of [`session=${t}`, `theme=dark; session=${t}; lang=en`]) {
      const res = await h.fetch("/c", { host, headers: { cookie } });
      assert.equal(res.status, 200, cookie);
      await res.text();
    }
    const m = marker();
    const no = await h.fetch(`/c-${m}`, { host, headers: { cookie: `sess=${t}; xsession=${t}` } });
    await expectRefused(no, 401, "jwt_unauthorized", m);
    assert.doesNotMatch(no.headers.get("www-authenticate") ?? "", /error=/, "no token found → bare challenge");
  });

  test("forward_claims: verified values reach the origin; forged inbound headers never do", async () => {
    const { host, tenant_id } = await jwtHost({ forward_claims: { sub: "x-user-id", scope: "x-user-scopes", tenant_id: "x-tenant" } });
    const forged = { "x-user-id": "admin", "x-user-scopes": "everything", "x-tenant": "someone-else" };
    const res = await h.fetch("/fc", {
      host,
      headers: { ...forged, ...bearer(signJwt(rs, claims({ sub: "user-42", scope: "orders:read orders:write", tenant_id }))) },
    });
    assert.equal(res.status, 200);
    const seen = (await json(res)).headers;
    assert.equal(seen["x-user-id"], "user-42");
    assert.equal(seen["x-user-scopes"], "orders:read orders:write");
    assert.equal(seen["x-tenant"], tenant_id);

    // A token without sub/scope/tenant_id: the forged headers are still stripped.
    const res2 = await h.fetch("/fc2", { host, headers: { ...forged, ...bearer(signJwt(rs, claims({ sub: undefined }))) } });
    assert.equal(res2.status, 200);
    const seen2 = (await json(res2)).headers;
    assert.equal(seen2["x-user-id"], undefined);
    assert.equal(seen2["x-user-scopes"], undefined);
    assert.equal(seen2["x-tenant"], undefined);
  });

  test("forward_claims: numbers/bools as JSON text, string arrays joined by a space, objects as JSON", async () => {
    const { host } = await jwtHost({ forward_claims: { n: "x-n", admin: "x-admin", roles: "x-roles", meta: "x-meta" } });
    const meta = { plan: "pro", seats: 3 };
    const res = await h.fetch("/types", {
      host,
      headers: bearer(signJwt(ed, claims({ n: 42, admin: true, roles: ["reader", "writer"], meta }))),
    });
    assert.equal(res.status, 200);
    const seen = (await json(res)).headers;
    assert.equal(seen["x-n"], "42");
    assert.equal(seen["x-admin"], "true");
    assert.equal(seen["x-roles"], "reader writer");
    assert.deepEqual(JSON.parse(seen["x-meta"]), meta);
  });

  test("a bad Authorization bearer is not rescued by a good cookie", async () => {
    const { host } = await jwtHost({ cookie: "session" });
    const m = marker();
    const res = await h.fetch(`/bc-${m}`, {
      host,
      headers: { authorization: "Bearer not-a-jwt", cookie: `session=${signJwt(ed, claims())}` },
    });
    await expectRefused(res, 401, "jwt_unauthorized", m);
    assert.match(res.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
  });

  test("forward_claims: repeated forged headers are all removed; a claim with CR/LF is not forwarded", async () => {
    const { host } = await jwtHost({ forward_claims: { sub: "x-user-id", note: "x-note" } });
    const token = signJwt(ed, claims({ sub: undefined, note: "ok\r\nx-injected: 1" }));
    const res = await h.fetch("/dup", {
      host,
      headers: [["x-user-id", "admin"], ["x-user-id", "root"], ["x-note", "forged"], ["authorization", `Bearer ${token}`]],
    });
    assert.equal(res.status, 200);
    const seen = (await json(res)).headers;
    assert.equal(seen["x-user-id"], undefined);
    assert.notEqual(seen["x-note"], "forged");
    assert.equal(seen["x-injected"], undefined);
  });

  test("leeway_seconds: a token expired 30 s ago fails with 0, passes with 60 and by default", async () => {
    const t = signJwt(ed, claims({ iat: now() - 600, exp: now() - 30 }));
    const { host: strict } = await jwtHost({ leeway_seconds: 0 });
    const m = marker();
    const no = await h.fetch(`/l-${m}`, { host: strict, headers: bearer(t) });
    await expectRefused(no, 401, "jwt_unauthorized", m);
    assert.match(no.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    for (const options of [{ leeway_seconds: 60 }, {}]) {
      const { host } = await jwtHost(options);
      const ok = await h.fetch("/l", { host, headers: bearer(t) });
      assert.equal(ok.status, 200, JSON.stringify(options));
      await ok.text();
    }
  });
});

describe("jwks_url", () => {
  let idp;
  before(async () => {
    idp = await startOAuthProvider({ issuer: ISS, audience: AUD, keys: [makeKey("ES256", "idp-es-1")] });
  });
  after(async () => {
    await idp?.close();
  });

  test("keys fetched from the IdP's JWKS verify its tokens", async () => {
    const { host } = await h.addHost({
      routes: [{ match: { path: "/*" }, handlers: [{ type: "jwt", options: { jwks_url: idp.jwksUrl, issuer: ISS, audience: AUD } }, httpTo()] }],
    });
    const ok = await h.fetch("/j", { host, headers: bearer(idp.mint({ sub: "svc" })) });
    assert.equal(ok.status, 200);
    await ok.text();
    assert.ok(idp.stats.jwksFetches >= 1);
    const m = marker();
    const no = await h.fetch(`/j-${m}`, { host, headers: bearer(signJwt(makeKey("ES256", "idp-es-1"), claims())) });
    await expectRefused(no, 401, "jwt_unauthorized", m, "same kid, not the IdP's key");
  });

  test("an unreachable jwks_url → 502 jwt_failed, origin not called", async () => {
    // A port that was just free: bind, read it, close.
    const port = await new Promise((r) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = s.address().port;
        s.close(() => r(p));
      });
    });
    const { host } = await h.addHost({
      routes: [{ match: { path: "/*" }, handlers: [{ type: "jwt", options: { jwks_url: `http://127.0.0.1:${port}/jwks.json` } }, httpTo()] }],
    });
    const m = marker();
    const res = await h.fetch(`/u-${m}`, { host, headers: bearer(signJwt(ed, claims())) });
    await expectError(assert, res, 502, "jwt_failed");
    assert.equal(h.origin.requestsMatching(m).length, 0);
  });
});

describe("invalid stored config", () => {
  const badOptions = {
    "both keys and jwks_url": { keys: [ed.publicJwk], jwks_url: "https://login.example.test/jwks.json" },
    "neither keys nor jwks_url": { issuer: ISS },
    "an HMAC (oct) key": { keys: [{ kty: "oct", k: Buffer.from("secret").toString("base64url"), alg: "HS256" }] },
    "leeway_seconds above 60": { keys: [ed.publicJwk], leeway_seconds: 61 },
    "an unknown option": { keys: [ed.publicJwk], verify: false },
  };
  for (const [name, options] of Object.entries(badOptions)) {
    test(`${name} → 502 data_plane_error for that host; other hosts unaffected`, async () => {
      const { host } = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: [{ type: "jwt", options }, httpTo()] }] });
      const m = marker();
      const res = await h.fetch(`/cfg-${m}`, { host, headers: bearer(signJwt(ed, claims())) });
      await expectError(assert, res, 502, "data_plane_error");
      assert.equal(h.origin.requestsMatching(m).length, 0);
      const { host: good } = await jwtHost({});
      const ok = await h.fetch("/fine", { host: good, headers: bearer(signJwt(ed, claims())) });
      assert.equal(ok.status, 200);
      await ok.text();
    });
  }
});
