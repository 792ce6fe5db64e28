// The local stand-ins themselves: the demo origin (dev/origin.mjs), the OAuth provider
// (dev/oauth-provider.mjs) and the demo seed (dev/seed.sql). Needs no Rust build.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { startOrigin } from "../../dev/origin.mjs";
import { startOAuthProvider } from "../../dev/oauth-provider.mjs";
import { ROOT, startHarness, useStarted, rawHttpRequest, sha256OfStream, patternSha256, patternChunk } from "./harness.mjs";

const origin = useStarted(() => startOrigin({ port: 0 }), (o) => o.close());

const get = (path, init = {}) => rawHttpRequest({ port: origin().port, path, ...init });

test("echo returns the expected JSON document", async () => {
  const body = crypto.randomBytes(300_000);
  const res = await fetch(`${origin().url}/some/path?b=2&a=%zz`, { method: "PATCH", headers: { "X-Mixed-Case": "v" }, body });
  const doc = await res.json();
  assert.equal(doc.origin, "demo-origin");
  assert.equal(doc.method, "PATCH");
  assert.equal(doc.path, "/some/path");
  assert.equal(doc.query, "b=2&a=%zz");
  assert.equal(doc.headers["x-mixed-case"], "v");
  assert.equal(doc.bodyBytes, body.length);
  assert.equal(doc.bodySha256, crypto.createHash("sha256").update(body).digest("hex"));
});

test("/bytes streams the i % 251 pattern with content-length", async () => {
  for (const n of [0, 1, 250, 251, 252, 65536, 1_000_003]) {
    const res = await get(`/bytes?n=${n}`);
    assert.equal(res.headers["content-length"], String(n));
    const { sha256, bytes } = await sha256OfStream(res);
    assert.equal(bytes, n);
    assert.equal(sha256, patternSha256(n), `n=${n}`);
    assert.equal(sha256, crypto.createHash("sha256").update(patternChunk(0, n)).digest("hex"));
  }
});

test("/redirect, /cookies, /status, /slow, /with-headers", async () => {
  let res = await fetch(`${origin().url}/redirect?to=${encodeURIComponent("http://x.test/a?b#c")}&status=307`, { redirect: "manual" });
  assert.equal(res.status, 307);
  assert.equal(res.headers.get("location"), "http://x.test/a?b#c");

  res = await fetch(`${origin().url}/cookies`);
  assert.deepEqual(res.headers.getSetCookie(), [
    "a=1; Domain=127.0.0.1; Path=/; HttpOnly",
    "b=2; Path=/x; Domain=127.0.0.1; Secure; SameSite=Lax",
  ]);

  res = await fetch(`${origin().url}/status/418`);
  assert.equal(res.status, 418);
  assert.equal(await res.text(), "status 418");

  const t0 = Date.now();
  res = await fetch(`${origin().url}/slow?ms=300`);
  assert.equal(res.status, 200);
  assert.ok(Date.now() - t0 >= 280, "slow waited");
  await res.text();

  res = await fetch(`${origin().url}/with-headers?cache-control=no-store&x-a=1`);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("x-a"), "1");
  await res.text();
});

test("dev/seed.sql applies twice to the migrated schema and holds valid route JSON", async () => {
  const h = await startHarness({ portico: { script: "export default { fetch() { return new Response('x') } }" } });
  try {
    const seed = readFileSync(join(ROOT, "dev/seed.sql"), "utf8");
    await h.exec(seed);
    await h.exec(seed); // INSERT OR REPLACE: re-runnable
    const tenants = (await h.db.prepare("SELECT id FROM tenants ORDER BY id").all()).results.map((r) => r.id);
    assert.deepEqual(tenants, ["acme", "globex"]);
    const domains = (await h.db.prepare("SELECT domain FROM domains ORDER BY domain").all()).results.map((r) => r.domain);
    assert.deepEqual(domains, ["*.acme.localhost", "acme.localhost", "globex.localhost"]);
    const routes = (await h.db.prepare("SELECT * FROM routes").all()).results;
    assert.ok(routes.length >= 8);
    const terminals = new Set(["http", "service_binding", "dispatch_namespace", "redirect", "static"]);
    for (const r of routes) {
      const m = JSON.parse(r.match_json);
      const hs = JSON.parse(r.handlers_json);
      assert.equal(typeof m.path, "string", r.id);
      assert.ok(Array.isArray(hs) && hs.length > 0, r.id);
      assert.ok(terminals.has(hs.at(-1).type), `${r.id}: last handler is terminal`);
    }
  } finally {
    await h.dispose();
  }
});

describe("dev/oauth-provider.mjs", () => {
  const REDIRECT = "http://127.0.0.1:1/cb";
  const clients = {
    app: { secret: "app secret+/:%", redirect_uris: [REDIRECT] },
    "post-only": { secret: "p", auth: "client_secret_post" },
    spa: { redirect_uris: [REDIRECT] }, // public: no secret
    other: "other-secret",
  };
  let idp;
  before(async () => {
    idp = await startOAuthProvider({ clients });
  });
  after(async () => {
    await idp?.close();
  });

  const pkce = () => {
    const verifier = crypto.randomBytes(32).toString("base64url");
    return { verifier, challenge: crypto.createHash("sha256").update(verifier).digest("base64url") };
  };
  // RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
  const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
  const APP = { authorization: basic("app", clients.app.secret) };
  const post = async (path, form, headers = {}) => {
    const res = await fetch(`${idp.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(form).toString(),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  };
  const authorize = async (params) => {
    const res = await fetch(`${idp.authorizeUrl}?${new URLSearchParams(params)}`, { redirect: "manual" });
    const text = await res.text();
    return { status: res.status, location: res.headers.get("location") ? new URL(res.headers.get("location")) : null, text };
  };
  /** Authorization code flow for `app` up to the token response. */
  const login = async ({ scope = "calendar.read calendar.write", sub } = {}) => {
    const { verifier, challenge } = pkce();
    const a = await authorize({ response_type: "code", client_id: "app", redirect_uri: REDIRECT, scope, state: "st1", code_challenge: challenge, code_challenge_method: "S256", ...(sub ? { login_hint: sub } : {}) });
    assert.equal(a.status, 302, a.text);
    const code = a.location.searchParams.get("code");
    const t = await post("/token", { grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier }, APP);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    return { code, verifier, tokens: t.body };
  };
  const resource = (token) => fetch(idp.resourceUrl, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({ status: r.status, body: await r.json() }));
  const verifySig = (token) => {
    const [h, p, sig] = token.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url"));
    const jwk = idp.keys.find((k) => k.kid === header.kid).publicJwk;
    const key = crypto.createPublicKey({ key: jwk, format: "jwk" });
    return crypto.verify("sha256", Buffer.from(`${h}.${p}`), key, Buffer.from(sig, "base64url"));
  };

  test("metadata, JWKS and client_credentials (Basic and post) with signed JWTs", async () => {
    const meta = await (await fetch(`${idp.url}/.well-known/oauth-authorization-server`)).json();
    assert.equal(meta.token_endpoint, idp.tokenUrl);
    assert.equal(meta.revocation_endpoint, idp.revokeUrl);
    assert.deepEqual(meta.code_challenge_methods_supported, ["S256"]);
    const keys = await (await fetch(idp.jwksUrl)).json();
    assert.equal(keys.keys[0].kid, "idp-1");

    const before = idp.stats.tokenRequests;
    const b = await post("/token", { grant_type: "client_credentials", scope: "a b" }, APP);
    assert.equal(b.status, 200);
    assert.equal(b.headers.get("cache-control"), "no-store");
    assert.equal(b.body.token_type, "Bearer");
    assert.equal(b.body.refresh_token, undefined);
    assert.ok(verifySig(b.body.access_token));
    const claims = JSON.parse(Buffer.from(b.body.access_token.split(".")[1], "base64url"));
    assert.equal(claims.sub, "app");
    assert.equal(claims.scope, "a b");
    assert.equal(idp.stats.lastTokenRequest.clientAuth, "client_secret_basic");

    const p = await post("/token", { grant_type: "client_credentials", client_id: "post-only", client_secret: "p" });
    assert.equal(p.status, 200);
    assert.equal(idp.stats.lastTokenRequest.clientAuth, "client_secret_post");
    assert.equal(idp.stats.tokenRequests - before, 2, "token-endpoint calls are counted");

    const bad = await post("/token", { grant_type: "client_credentials" }, { authorization: basic("app", "wrong") });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error, "invalid_client");
    assert.match(bad.headers.get("www-authenticate"), /^Basic/);
  });

  test("client authentication: registered method enforced, one method only, public clients have no client credentials", async () => {
    const basicForPostOnly = await post("/token", { grant_type: "client_credentials" }, { authorization: basic("post-only", "p") });
    assert.equal(basicForPostOnly.status, 401);
    assert.equal(basicForPostOnly.body.error, "invalid_client");
    const both = await post("/token", { grant_type: "client_credentials", client_id: "app", client_secret: clients.app.secret }, APP);
    assert.equal(both.status, 400);
    assert.equal(both.body.error, "invalid_request");
    const none = await post("/token", { grant_type: "client_credentials" });
    assert.equal(none.status, 401);
    const spa = await post("/token", { grant_type: "client_credentials", client_id: "spa" });
    assert.equal(spa.status, 400);
    assert.equal(spa.body.error, "unauthorized_client");
    const noSecret = await post("/token", { grant_type: "client_credentials", client_id: "app" });
    assert.equal(noSecret.status, 401, "a confidential client cannot skip its secret");
    const grant = await post("/token", { grant_type: "password", username: "u" }, APP);
    assert.equal(grant.body.error, "unsupported_grant_type");
  });

  test("authorization code with PKCE S256: redirect with state and iss, single-use code, verifier checked", async () => {
    const { code, verifier, tokens } = await login({ sub: "alice" });
    assert.ok(tokens.refresh_token);
    assert.equal(tokens.scope, "calendar.read calendar.write");
    assert.equal(tokens.expires_in, 300);
    assert.ok(verifySig(tokens.access_token));
    assert.deepEqual((await resource(tokens.access_token)).body, { sub: "alice", client_id: "app", scope: "calendar.read calendar.write" });

    // replaying the code fails and revokes what it issued
    const replay = await post("/token", { grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier }, APP);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, "invalid_grant");
    assert.equal((await resource(tokens.access_token)).status, 401);
    assert.equal(idp.introspect(tokens.refresh_token).active, false);

    // wrong verifier, wrong redirect_uri, other client: invalid_grant
    for (const [form, headers] of [
      [{ code_verifier: pkce().verifier }, APP],
      [{ redirect_uri: "http://127.0.0.1:1/other" }, APP],
      [{}, { authorization: basic("other", "other-secret") }],
    ]) {
      const { verifier: v, challenge } = pkce();
      const a = await authorize({ response_type: "code", client_id: "app", redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: "S256" });
      const t = await post("/token", { grant_type: "authorization_code", code: a.location.searchParams.get("code"), redirect_uri: REDIRECT, code_verifier: v, ...form }, headers);
      assert.equal(t.status, 400, JSON.stringify(form));
      assert.equal(t.body.error, "invalid_grant");
    }

    const a = await authorize({ response_type: "code", client_id: "app", redirect_uri: REDIRECT, state: "xyz", code_challenge: pkce().challenge, code_challenge_method: "S256" });
    assert.equal(`${a.location.origin}${a.location.pathname}`, REDIRECT);
    assert.equal(a.location.searchParams.get("state"), "xyz");
    assert.equal(a.location.searchParams.get("iss"), idp.issuer);
  });

  test("authorize refuses: no PKCE, plain PKCE, unknown client and unregistered redirect_uri (no redirect), denial", async () => {
    let a = await authorize({ response_type: "code", client_id: "app", redirect_uri: REDIRECT, state: "s" });
    assert.equal(a.location.searchParams.get("error"), "invalid_request");
    assert.equal(a.location.searchParams.get("state"), "s");
    a = await authorize({ response_type: "code", client_id: "app", redirect_uri: REDIRECT, code_challenge: pkce().verifier, code_challenge_method: "plain" });
    assert.equal(a.location.searchParams.get("error"), "invalid_request");
    a = await authorize({ response_type: "code", client_id: "nope", redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: "S256" });
    assert.equal(a.status, 400);
    assert.equal(a.location, null);
    a = await authorize({ response_type: "code", client_id: "app", redirect_uri: "https://evil.example/cb", code_challenge: pkce().challenge, code_challenge_method: "S256" });
    assert.equal(a.status, 400);
    assert.equal(a.location, null);
    idp.options.authorize = "deny";
    try {
      a = await authorize({ response_type: "code", client_id: "app", redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: "S256" });
      assert.equal(a.location.searchParams.get("error"), "access_denied");
    } finally {
      idp.options.authorize = "approve";
    }
  });

  test("a public client (auth none) completes the code flow and refreshes with its client_id", async () => {
    const { verifier, challenge } = pkce();
    const a = await authorize({ response_type: "code", client_id: "spa", redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: "S256" });
    const t = await post("/token", { grant_type: "authorization_code", client_id: "spa", code: a.location.searchParams.get("code"), redirect_uri: REDIRECT, code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const r = await post("/token", { grant_type: "refresh_token", client_id: "spa", refresh_token: t.body.refresh_token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  test("refresh tokens rotate; a replayed refresh token revokes the grant (reuse detection)", async () => {
    const { tokens } = await login();
    const reusesBefore = idp.stats.refreshReuses;
    const refreshesBefore = idp.stats.tokenRequestsByGrant.refresh_token ?? 0;
    const r1 = await post("/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token }, APP);
    assert.equal(r1.status, 200);
    assert.notEqual(r1.body.refresh_token, tokens.refresh_token, "rotated");
    assert.equal(r1.body.scope, tokens.scope);
    const narrowed = await post("/token", { grant_type: "refresh_token", refresh_token: r1.body.refresh_token, scope: "calendar.read" }, APP);
    assert.equal(narrowed.body.scope, "calendar.read");
    const wider = await post("/token", { grant_type: "refresh_token", refresh_token: narrowed.body.refresh_token, scope: "mail.read" }, APP);
    assert.equal(wider.body.error, "invalid_scope");
    assert.equal((await resource(narrowed.body.access_token)).status, 200);

    // the first refresh token again: reuse, the whole grant is revoked
    const replay = await post("/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token }, APP);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, "invalid_grant");
    assert.equal(idp.stats.refreshReuses, reusesBefore + 1);
    const latest = await post("/token", { grant_type: "refresh_token", refresh_token: narrowed.body.refresh_token }, APP);
    assert.equal(latest.body.error, "invalid_grant", "the newest refresh token died with the grant");
    for (const t of [tokens.access_token, r1.body.access_token, narrowed.body.access_token]) assert.equal((await resource(t)).status, 401);
    assert.equal((idp.stats.tokenRequestsByGrant.refresh_token ?? 0) - refreshesBefore, 5, "every refresh call counted");

    const other = await post("/token", { grant_type: "refresh_token", refresh_token: (await login()).tokens.refresh_token }, { authorization: basic("other", "other-secret") });
    assert.equal(other.body.error, "invalid_grant", "another client's refresh token");
  });

  test("without rotation a refresh answers no refresh_token and the old one stays valid", async () => {
    const { tokens } = await login();
    idp.options.rotateRefreshTokens = false;
    try {
      for (let i = 0; i < 2; i++) {
        const r = await post("/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token }, APP);
        assert.equal(r.status, 200);
        assert.equal(r.body.refresh_token, undefined);
      }
    } finally {
      idp.options.rotateRefreshTokens = true;
    }
  });

  test("RFC 7009 revocation: access token alone, refresh token with its grant, unknown tokens 200", async () => {
    const { tokens } = await login();
    const n0 = idp.stats.revocations;
    let r = await post("/revoke", { token: tokens.access_token, token_type_hint: "access_token" }, APP);
    assert.equal(r.status, 200);
    assert.equal((await resource(tokens.access_token)).status, 401);
    const refreshed = await post("/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token }, APP);
    assert.equal(refreshed.status, 200, "revoking an access token leaves the grant");

    r = await post("/revoke", { token: refreshed.body.refresh_token }, APP);
    assert.equal(r.status, 200);
    assert.equal((await resource(refreshed.body.access_token)).status, 401, "the grant's access tokens go with it");
    const after = await post("/token", { grant_type: "refresh_token", refresh_token: refreshed.body.refresh_token }, APP);
    assert.equal(after.body.error, "invalid_grant");
    assert.equal(idp.stats.revocations - n0, 2);

    assert.equal((await post("/revoke", { token: "never-issued" }, APP)).status, 200);
    assert.equal((await post("/revoke", { token: "x" })).status, 401, "client authentication required");
    const mine = (await login()).tokens;
    const theirs = await post("/revoke", { token: mine.refresh_token }, { authorization: basic("other", "other-secret") });
    assert.equal(theirs.status, 400);
    assert.equal(idp.introspect(mine.refresh_token).active, true, "another client cannot revoke it");
  });

  test("scripted answers (503, malformed JSON, slow) are counted; /_stats and /_next over HTTP", async () => {
    const calls = idp.stats.tokenRequests;
    const failures = idp.stats.tokenFailures;
    idp.next("token", { status: 503, body: { error: "temporarily_unavailable" } }, { status: 200, body: "{not json", headers: { "content-type": "application/json" } });
    const a = await post("/token", { grant_type: "client_credentials" }, APP);
    assert.equal(a.status, 503);
    const b = await fetch(idp.tokenUrl, { method: "POST", headers: APP, body: "grant_type=client_credentials" });
    assert.equal(await b.text(), "{not json");
    const res = await fetch(`${idp.url}/_next/token`, { method: "POST", body: JSON.stringify({ status: 400, body: { error: "invalid_grant" }, delayMs: 200 }) });
    assert.equal(res.status, 204);
    const t0 = Date.now();
    const c = await post("/token", { grant_type: "client_credentials" }, APP);
    assert.equal(c.body.error, "invalid_grant");
    assert.ok(Date.now() - t0 >= 180, "delayed");
    assert.equal((await post("/token", { grant_type: "client_credentials" }, APP)).status, 200, "queue drained");
    const stats = await (await fetch(`${idp.url}/_stats`)).json();
    assert.equal(stats.tokenRequests - calls, 4);
    assert.equal(stats.tokenFailures - failures, 2);
  });

  test("scripted answers for one grant only, slow pass-through answers, logs of what was asked and issued", async () => {
    const { tokens } = await login();
    const issuedBefore = idp.issued.length;
    const logBefore = idp.tokenLog.length;
    // A refresh-only answer waits while other grants go by.
    idp.next("token", { grant: "refresh_token", status: 503, body: { error: "temporarily_unavailable" } });
    const cc = await post("/token", { grant_type: "client_credentials" }, APP);
    assert.equal(cc.status, 200, "a client_credentials request passes the refresh-only answer by");
    assert.equal(idp.pending("token"), 1);
    const r503 = await post("/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token }, APP);
    assert.equal(r503.status, 503);
    assert.equal(idp.pending("token"), 0);
    // pass: wait, then the real answer.
    idp.next("token", { grant: "refresh_token", delayMs: 200, pass: true });
    const t0 = Date.now();
    const slow = await post("/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token }, APP);
    assert.ok(Date.now() - t0 >= 180, "delayed");
    assert.equal(slow.status, 200, JSON.stringify(slow.body));
    assert.ok(slow.body.refresh_token, "a real, rotated answer");
    // What was asked and issued.
    const asked = idp.tokenLog.slice(logBefore);
    assert.deepEqual(asked.map((e) => [e.grantType, e.scripted]), [["client_credentials", false], ["refresh_token", true], ["refresh_token", true]]);
    assert.equal(asked[2].form.refresh_token, tokens.refresh_token);
    assert.equal(asked[2].clientAuth, "client_secret_basic");
    const got = idp.issued.slice(issuedBefore);
    assert.deepEqual(got.map((i) => i.access_token), [cc.body.access_token, slow.body.access_token]);
    assert.equal(got[1].refresh_token, slow.body.refresh_token);
    assert.equal(idp.clearNext(), 0);
  });

  test("the resource: any method, bodies hashed (over 1 MiB too), scripted answers, revoke() in process, a log", async () => {
    const { tokens } = await login({ sub: "res-user" });
    const n0 = idp.resourceLog.length;
    const body = crypto.randomBytes(1024 * 1024 + 17);
    const res = await fetch(`${idp.resourceUrl}/m1?q=1`, { method: "POST", headers: { authorization: `Bearer ${tokens.access_token}` }, body });
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.equal(doc.sub, "res-user");
    assert.equal(doc.bytes, body.length);
    assert.equal(doc.sha256, crypto.createHash("sha256").update(body).digest("hex"));
    idp.next("resource", { status: 401, body: { error: "invalid_token" } });
    assert.equal((await resource(tokens.access_token)).status, 401, "scripted 401 for a live token");
    assert.equal((await resource(tokens.access_token)).status, 200, "queue drained");
    assert.equal(idp.revoke(tokens.access_token), true);
    assert.equal(idp.revoke("never-issued"), false);
    assert.equal((await resource(tokens.access_token)).status, 401, "revoked in process");
    const log = idp.resourceLog.slice(n0);
    assert.deepEqual(log.map((e) => [e.method, e.status, e.scripted]), [["POST", 200, false], ["GET", 401, true], ["GET", 200, false], ["GET", 401, false]]);
    assert.equal(log[0].path, "/resource/m1");
    assert.equal(log[0].query, "q=1");
    assert.equal(log[0].token, tokens.access_token);
    assert.equal(log[0].bytes, body.length);
    assert.equal(log[0].bodyText.length > 0, true);
    // The OAuth endpoints still refuse more than 1 MiB.
    const big = await fetch(idp.tokenUrl, { method: "POST", headers: APP, body: Buffer.alloc(1024 * 1024 + 1, 97) }).then(() => "answered", () => "dropped");
    assert.equal(big, "dropped");
  });

  test("the CLI serves on the given port until SIGTERM", async () => {
    const child = spawn(process.execPath, [join(ROOT, "dev/oauth-provider.mjs"), "--port", "0", "--clients", "cli:cli-secret"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const line = await new Promise((resolve, reject) => {
        child.stdout.once("data", (d) => resolve(String(d)));
        child.once("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      const url = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)[1];
      const res = await fetch(`${url}/token`, { method: "POST", headers: { authorization: basic("cli", "cli-secret") }, body: new URLSearchParams({ grant_type: "client_credentials" }) });
      assert.equal(res.status, 200);
      await res.json();
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
    }
  });
});
