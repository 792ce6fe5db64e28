// OAuth2 connections against a REAL authorization server (docs/oauth.md): panva's
// oidc-provider (dev/oidc-provider.mjs) on 127.0.0.1, with its own PKCE check, client
// authentication, refresh-token rotation with reuse detection (a replayed refresh
// token revokes the grant: the oracle for "exactly one refresh"), RFC 7009 revocation
// and a demo API that accepts only live access tokens.
//
//   connect: _initiate → headless login and consent at the server → Portico's callback
//   (the server records the S256 challenge, refuses a wrong verifier, accepts Portico's);
//   the proxy reaching the API with the access token; the warm path; refresh ahead of
//   expiry with rotation; single flight under bursts (an expired token, a token expiring
//   mid-burst, an upstream 401); reuse detection → needs_reauth → reconnect;
//   _disconnect revoking at the server; each client authentication; callback refusals
//   with a real provider's redirects. Every Portico response and worker log line goes
//   through the SecretScan, with every code, token, code_verifier and client secret the
//   server handled registered as a secret.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { useHarness, uniq, sleep } from "./harness.mjs";
import { SecretScan, logControl } from "./support/secret-scan.mjs";
import { startOidcProvider } from "../../dev/oidc-provider.mjs";
import {
  CP, vaultBindings, vaultKit, tenantToken, connectorBody, show, freshSecret, expectCode, eventually,
} from "./support/vault.mjs";

const REDIRECT_URI = `http://${CP}/api/v1/oauth/callback`;
const RETURN_ORIGIN = "https://app.example.com";
const SCOPES = ["api:read", "api:write"];

const scan = new SecretScan();
const h = useHarness({ bindings: vaultBindings(), onLog: scan.onLog });

describe("oauth2 connections with a real OAuth server (oidc-provider)", () => {
  let op;
  let call;
  let v;
  let kv;
  const connectors = {}; // client id → connector id
  before(async () => {
    call = scan.client(h);
    v = vaultKit(call);
    kv = await h.mf.getKVNamespace("VAULT", "portico");
    op = await startOidcProvider({
      clients: [
        { client_id: "portico-basic", client_secret: freshSecret("cs_basic_"), token_endpoint_auth_method: "client_secret_basic", redirect_uris: [REDIRECT_URI] },
        { client_id: "portico-post", client_secret: freshSecret("cs_post_"), token_endpoint_auth_method: "client_secret_post", redirect_uris: [REDIRECT_URI] },
        { client_id: "portico-public", token_endpoint_auth_method: "none", redirect_uris: [REDIRECT_URI] },
      ],
      scopes: SCOPES,
      onSecret: (value, kind) => scan.addSecret(value, kind),
    });
  });
  after(async () => {
    await op?.close();
  });

  // ---- helpers ---------------------------------------------------------------------

  const b64urlSha256 = (s) => crypto.createHash("sha256").update(s).digest("base64url");
  const sleepUntil = async (ms) => {
    const d = ms - Date.now();
    if (d > 0) await sleep(d);
  };
  const CLIENT_AUTH = { "portico-basic": "client_secret_basic", "portico-post": "client_secret_post", "portico-public": "none" };

  /** The oauth2 auth object of a connector for one of the server's clients. */
  function oauthAuth(clientId, extra = {}) {
    const c = op.clients[clientId];
    return {
      type: "oauth2",
      authorization_url: op.authorizationUrl,
      token_url: op.tokenUrl,
      revocation_url: op.revocationUrl,
      scopes: SCOPES,
      pkce: true,
      client_auth: CLIENT_AUTH[clientId],
      client_id: clientId,
      ...(c.client_secret ? { client_secret: c.client_secret } : {}),
      return_origins: [RETURN_ORIGIN],
      ...extra,
    };
  }
  /** A global connector (control-plane token) whose base_url is the demo API. */
  async function connectorFor(clientId) {
    connectors[clientId] ??= await v.connector(connectorBody(op.resourceUrl, oauthAuth(clientId)));
    return connectors[clientId];
  }

  const initiate = (tid, body) => v.api("POST", `/tenants/${tid}/connections/_initiate`, { token: tenantToken(tid), body });
  const getConn = async (tid, cid) => {
    const r = await v.api("GET", `/tenants/${tid}/connections/${cid}`, { token: tenantToken(tid) });
    assert.equal(r.status, 200, show(r));
    return r.data;
  };
  const tokensOf = async (tid, cid) => {
    const r = await v.api("GET", `/tenants/${tid}/connections/${cid}/tokens`, { token: tenantToken(tid) });
    assert.equal(r.status, 200, `GET …/tokens: ${show(r)}`);
    return r.data;
  };

  /** The server's records for one subject (each connection logs in as its own subject). */
  const issuedTo = (sub, kind) => op.issued.filter((r) => r.kind === kind && r.payload.accountId === sub);
  const lastIssued = (sub, kind) => issuedTo(sub, kind).at(-1)?.value;
  /** Token requests Portico (not the test) sent for `sub`, by grant type. */
  const porticoTokenRequests = (sub, grantType) =>
    op.tokenLog.filter((e) => !e.byTest && e.sub === sub && (grantType === undefined || e.grant_type === grantType));
  const invalidGrants = (sub) => op.tokenLog.filter((e) => e.sub === sub && e.error === "invalid_grant");
  /** Demo-API requests made with any token of `sub`. */
  const resourceCalls = (sub) => op.resourceLog.filter((e) => e.token && op.record(e.token)?.payload.accountId === sub);

  /**
   * Connects a new connection of a new tenant through the whole flow. `ttl`: the access
   * token lifetime (s) of the code exchange; later tokens of this subject live an hour.
   * Returns { tid, sub, connId, conn, initiated, authorizeUrl, location, code, callback,
   * connectedAt }.
   */
  async function connect({ client = "portico-basic", ttl, returnTo, connectorId } = {}) {
    const tid = await v.createTenant(uniq("toi"));
    const sub = uniq("acct");
    const cid = connectorId ?? (await connectorFor(client));
    if (ttl !== undefined) op.setAccessTokenTtl(sub, ttl);
    const initiated = await initiate(tid, { connector_id: cid, ...(returnTo ? { return_to: returnTo } : {}) });
    assert.equal(initiated.status, 201, `_initiate: ${show(initiated)}`);
    const authorizeUrl = initiated.data.authorize_url;
    const location = await op.authorize(authorizeUrl, { sub });
    const code = new URL(location).searchParams.get("code");
    assert.ok(code, `the server redirected with a code: ${location}`);
    const callback = await call.fetch(location);
    const connectedAt = Date.now();
    op.setAccessTokenTtl(sub, 3600);
    const body = await callback.text();
    assert.equal(callback.status, returnTo ? 302 : 200, `callback: ${callback.status} ${callback.headers.get("x-portico-error")} ${body.slice(0, 300)}`);
    const connId = initiated.data.connection.id;
    const conn = await getConn(tid, connId);
    assert.equal(conn.state, "ready", `connected: ${JSON.stringify(conn)}`);
    return { tid, sub, connId, conn, initiated, authorizeUrl, location, code, callback, connectedAt };
  }

  const proxy = (s, path, o) => v.proxy(s.tid, s.connId, path, o);
  async function proxyJson(s, path, o) {
    const res = await proxy(s, path, o);
    const text = await res.text();
    assert.equal(res.status, 200, `proxy ${path}: ${res.status} ${res.headers.get("x-portico-error")} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }
  /** Whole seconds between an ISO date and now + `seconds`, for loose expiry checks. */
  const secondsFromNow = (iso) => (Date.parse(iso) - Date.now()) / 1000;

  // ---- connecting ------------------------------------------------------------------

  describe("connect", () => {
    test("_initiate → an authorize URL per the contract; the server records the S256 challenge and refuses a wrong verifier; Portico's exchange carries the right one; ready with the GRANTED scopes", async () => {
      // Asks for a scope the server does not offer: the connection must record what
      // the token response granted, not what the connector asked for.
      const cid = await v.connector(connectorBody(op.resourceUrl, oauthAuth("portico-basic", { scopes: [...SCOPES, "not-offered"] })));
      const tid = await v.createTenant(uniq("toi"));
      const sub = uniq("acct");
      const returnTo = `${RETURN_ORIGIN}/done?x=1`;
      const r = await initiate(tid, { connector_id: cid, return_to: returnTo, labels: { flow: "oidc" } });
      assert.equal(r.status, 201, show(r));
      assert.equal(r.data.connection.state, "pending");
      assert.equal(r.data.connection.auth_type, "oauth2");
      assert.deepEqual(r.data.connection.labels, { flow: "oidc" });
      const ttlMin = secondsFromNow(r.data.state_expires_at) / 60;
      assert.ok(ttlMin > 9 && ttlMin <= 10.1, `state_expires_at about 10 minutes ahead: ${r.data.state_expires_at}`);

      const url = new URL(r.data.authorize_url);
      assert.equal(`${url.origin}${url.pathname}`, op.authorizationUrl);
      const q = url.searchParams;
      for (const k of ["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"]) {
        assert.equal(q.getAll(k).length, 1, `exactly one ${k} in ${url}`);
      }
      assert.equal(q.get("response_type"), "code");
      assert.equal(q.get("client_id"), "portico-basic");
      assert.equal(q.get("redirect_uri"), REDIRECT_URI, "redirect_uri from the host the _initiate call came in on");
      assert.equal(q.get("scope"), "api:read api:write not-offered");
      assert.match(q.get("state"), /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{16,}$/, "state is <32 random bytes b64url>.<mac>");
      assert.match(q.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
      assert.equal(q.get("code_challenge_method"), "S256");

      const location = await op.authorize(r.data.authorize_url, { sub });
      const cb = new URL(location);
      assert.equal(`${cb.origin}${cb.pathname}`, REDIRECT_URI);
      assert.equal(cb.searchParams.get("state"), q.get("state"), "the server hands the state back");
      const code = cb.searchParams.get("code");

      // The server's record of the code: Portico's challenge, S256.
      const rec = op.record(code);
      assert.equal(rec?.kind, "AuthorizationCode");
      assert.equal(rec.payload.codeChallenge, q.get("code_challenge"));
      assert.equal(rec.payload.codeChallengeMethod, "S256");
      assert.equal(rec.payload.redirectUri, REDIRECT_URI);

      // The server verifies PKCE: a wrong verifier and a missing one are refused (and
      // oidc-provider checks PKCE before it consumes the code, so the code stays good).
      const form = { grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI };
      const wrong = await op.post("/token", "portico-basic", { ...form, code_verifier: crypto.randomBytes(32).toString("base64url") });
      assert.equal(wrong.status, 400);
      assert.equal(wrong.json?.error, "invalid_grant", "a wrong code_verifier is refused");
      const missing = await op.post("/token", "portico-basic", form);
      assert.equal(missing.json?.error, "invalid_grant", "a missing code_verifier is refused");

      // Portico's callback exchanges the code.
      const res = await call.fetch(location);
      await res.text();
      assert.equal(res.status, 302, `callback → return_to (${res.headers.get("x-portico-error")})`);
      const back = new URL(res.headers.get("location"));
      assert.equal(`${back.origin}${back.pathname}`, `${RETURN_ORIGIN}/done`);
      assert.equal(back.searchParams.get("x"), "1", "return_to's own query kept");
      assert.equal(back.searchParams.get("portico_connection"), r.data.connection.id);
      assert.equal(back.searchParams.get("portico_status"), "ready");
      assert.equal(back.searchParams.get("code"), null, "the code never travels on");

      const exchanges = porticoTokenRequests(sub, "authorization_code");
      assert.equal(exchanges.length, 1, "one code exchange by Portico");
      const ex = exchanges[0];
      assert.equal(ex.status, 200, `the server accepted Portico's exchange (${ex.error} ${ex.error_detail})`);
      assert.equal(ex.form.code, code);
      assert.equal(ex.form.redirect_uri, REDIRECT_URI);
      assert.equal(b64urlSha256(ex.form.code_verifier), q.get("code_challenge"), "Portico's verifier is the challenge's preimage");
      assert.match(ex.form.code_verifier, /^[A-Za-z0-9._~-]{43,128}$/, "RFC 7636 verifier");
      assert.equal(ex.client_auth, "basic");
      assert.deepEqual(ex.basic, { id: "portico-basic", secret: op.clients["portico-basic"].client_secret });
      assert.equal(ex.form.client_secret, undefined, "client_secret_basic: no secret in the form");
      assert.equal(ex.issued.scope, "api:read api:write", "the server granted the offered scopes only");

      const conn = await getConn(tid, r.data.connection.id);
      assert.equal(conn.state, "ready");
      assert.deepEqual([...conn.scopes].sort(), ["api:read", "api:write"], "scopes: the response's scope, not the connector's");
      assert.ok(Math.abs(secondsFromNow(conn.expires_at) - 3600) < 120, `expires_at ≈ an hour ahead: ${conn.expires_at}`);
      const row = await h.db.prepare("SELECT state, authorized_by FROM connections WHERE id = ?1").bind(conn.id).first();
      assert.equal(row.authorized_by, `user-of-${tid}`, "authorized_by: the initiating sub");
      if ("authorized_by" in conn) assert.equal(conn.authorized_by, `user-of-${tid}`);

      const t = await tokensOf(tid, conn.id);
      assert.equal(t.has_access_token, true);
      assert.equal(t.has_refresh_token, true);
      assert.equal(t.refreshes, 0);
      assert.equal(t.refresh_failures, 0);
      const atExp = op.record(lastIssued(sub, "AccessToken")).payload.exp;
      assert.ok(Math.abs(Date.parse(t.access_expires_at) / 1000 - atExp) < 5, `access_expires_at ${t.access_expires_at} ≈ the server's exp ${atExp}`);
    });

    test("a proxied call reaches the resource server with the connection's access token (GET and a POST body)", async () => {
      const s = await connect();
      const at = lastIssued(s.sub, "AccessToken");
      const got = await proxyJson(s, "me?x=1");
      assert.deepEqual({ sub: got.sub, client_id: got.client_id, scope: got.scope, path: got.path }, { sub: s.sub, client_id: "portico-basic", scope: "api:read api:write", path: "/resource/me" });
      const seen = resourceCalls(s.sub);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].token, at, "Authorization: Bearer <the connection's access token>, not the caller's token");
      assert.equal(seen[0].status, 200);

      const payload = JSON.stringify({ hello: "world", n: 42 });
      const posted = await proxyJson(s, "items", { method: "POST", headers: { "content-type": "application/json" }, body: payload });
      assert.equal(posted.method, "POST");
      assert.equal(posted.body.sha256, crypto.createHash("sha256").update(payload).digest("hex"), "the body arrives intact");
      assert.equal(porticoTokenRequests(s.sub, "refresh_token").length, 0, "no refresh for a fresh token");
    });

    test("warm path: N proxied calls with a fresh token leave token_requests unchanged and never reach the token endpoint", async () => {
      const s = await connect();
      const before0 = await tokensOf(s.tid, s.connId);
      const serverBefore = porticoTokenRequests(s.sub).length;
      for (let i = 0; i < 10; i++) await proxyJson(s, `warm/${i}`);
      const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => proxy(s, `warm-burst/${i}`)));
      for (const r of burst) assert.equal(r.status, 200);
      const after0 = await tokensOf(s.tid, s.connId);
      assert.equal(after0.token_requests, before0.token_requests, `warm calls never ask the token keeper: ${JSON.stringify({ before: before0, after: after0 })}`);
      assert.equal(after0.refreshes, before0.refreshes);
      assert.equal(porticoTokenRequests(s.sub).length, serverBefore, "no token request at the server");
      const tokensUsed = new Set(resourceCalls(s.sub).map((e) => e.token));
      assert.deepEqual([...tokensUsed], [lastIssued(s.sub, "AccessToken")], "one access token for every call");
    });
  });

  // ---- refresh -----------------------------------------------------------------------

  describe("refresh", () => {
    test("ahead of expiry (half of a short lifetime), with rotation: one refresh_token request presenting the original refresh token; the old one is dead at the server", async () => {
      const s = await connect({ ttl: 4 });
      const at1 = lastIssued(s.sub, "AccessToken");
      const rt1 = lastIssued(s.sub, "RefreshToken");
      assert.equal(op.record(at1).payload.exp - op.record(at1).payload.iat, 4, "the exchange issued a 4 s token");
      // Past the refresh point (half of 4 s) while the token is still valid at the server.
      await sleepUntil(s.connectedAt + 2500);
      const got = await proxyJson(s, "after-refresh");
      assert.equal(got.sub, s.sub);
      const refreshes = porticoTokenRequests(s.sub, "refresh_token");
      assert.equal(refreshes.length, 1, `exactly one refresh: ${JSON.stringify(refreshes.map((e) => [e.status, e.error_detail]))}`);
      const rf = refreshes[0];
      assert.equal(rf.status, 200, `${rf.error} ${rf.error_detail}`);
      assert.equal(rf.presented, rt1, "the refresh presented the refresh token of the code exchange");
      assert.equal(rf.client_auth, "basic");
      const at2 = rf.issued.access_token;
      const rt2 = rf.issued.refresh_token;
      assert.notEqual(at2, at1);
      assert.notEqual(rt2, rt1, "the server rotated the refresh token");
      assert.equal(op.isLive(rt1), false, "the rotated refresh token is consumed at the server");
      assert.equal(op.isLive(rt2), true);
      const used = resourceCalls(s.sub);
      assert.deepEqual(used.map((e) => [e.token === at2 ? "new" : e.token === at1 ? "old" : "other", e.status]), [["new", 200]], "the call used the refreshed token (refreshed ahead of expiry, not after a 401)");
      assert.equal(invalidGrants(s.sub).length, 0);

      const t = await tokensOf(s.tid, s.connId);
      assert.equal(t.refreshes, 1, JSON.stringify(t));
      assert.equal(t.refresh_failures, 0);
      assert.equal(t.has_refresh_token, true);
      assert.ok(t.last_refresh_at && Date.parse(t.last_refresh_at) >= s.connectedAt - 1000, `last_refresh_at ${t.last_refresh_at}`);
      assert.ok(Math.abs(secondsFromNow(t.access_expires_at) - 3600) < 120, `access_expires_at ≈ an hour ahead: ${t.access_expires_at}`);
      assert.ok(t.next_alarm_at, "an alarm is set");
      assert.ok(Math.abs((Date.parse(t.access_expires_at) - Date.parse(t.next_alarm_at)) / 1000 - 300) < 5, `alarm 5 minutes before expiry: ${t.next_alarm_at} vs ${t.access_expires_at}`);
      const conn = await getConn(s.tid, s.connId);
      assert.ok(Math.abs(secondsFromNow(conn.expires_at) - 3600) < 120, `connections.expires_at follows the refresh: ${conn.expires_at}`);

      // The next calls are warm again.
      const again = await tokensOf(s.tid, s.connId);
      await proxyJson(s, "after-refresh-2");
      assert.equal((await tokensOf(s.tid, s.connId)).token_requests, again.token_requests);
      assert.equal(porticoTokenRequests(s.sub, "refresh_token").length, 1);
    });

    for (const n of [8, 32]) {
      test(`${n} concurrent proxied calls on an expired token: exactly one refresh_token request, no invalid_grant, every call 200`, async (t) => {
        const s = await connect({ ttl: 2 });
        const at1 = lastIssued(s.sub, "AccessToken");
        const tokens0 = await tokensOf(s.tid, s.connId);
        // Hold the refresh at the server (whoever sends it: a caller or the object's
        // alarm) until the token is dead and the burst is in flight.
        const hold = op.hold({ grant_type: "refresh_token", sub: s.sub });
        try {
          await sleepUntil(op.record(at1).payload.exp * 1000 + 100);
          assert.equal(op.isLive(at1), false, "the access token has expired at the server");
          const heldBefore = hold.waiting;
          const calls = Array.from({ length: n }, (_, i) => proxy(s, `burst${n}/${i}`));
          assert.ok(await hold.arrived(1), "a refresh reached the server");
          t.diagnostic(`the held refresh was sent by ${heldBefore ? "the token keeper's alarm, before the burst" : "a caller of the burst"}`);
          await sleep(300); // let the burst reach the token keeper while the refresh is in flight
          hold.release();
          const results = await Promise.all(calls);
          const statuses = results.map((r) => r.status);
          assert.deepEqual(statuses, Array(n).fill(200), `every call 200: ${JSON.stringify(results.map((r) => [r.status, r.headers.get("x-portico-error")]))}`);
          for (const [i, r] of results.entries()) assert.equal((await r.json()).path, `/resource/burst${n}/${i}`);
        } finally {
          hold.release();
        }
        const refreshes = porticoTokenRequests(s.sub, "refresh_token");
        assert.equal(refreshes.length, 1, `one refresh_token request for ${n} callers: ${JSON.stringify(refreshes.map((e) => [e.status, e.error_detail]))}`);
        assert.equal(refreshes[0].status, 200);
        assert.equal(invalidGrants(s.sub).length, 0, "no invalid_grant (no refresh token presented twice)");
        const at2 = refreshes[0].issued.access_token;
        const used = resourceCalls(s.sub);
        assert.equal(used.length, n, "each call reached the API once (no 401 and replay)");
        assert.ok(used.every((e) => e.token === at2 && e.status === 200), "every call carried the refreshed token");
        const tokens1 = await tokensOf(s.tid, s.connId);
        assert.equal(tokens1.refreshes, 1);
        t.diagnostic(`token_requests ${tokens0.token_requests} → ${tokens1.token_requests}`);
        assert.ok(tokens1.token_requests > tokens0.token_requests, "the burst on an expired token asked the token keeper");
      });
    }

    test("a token expiring mid-burst: waves of concurrent calls across the refresh point and the expiry → exactly one refresh, no invalid_grant, every call 200", async () => {
      const s = await connect({ ttl: 3 });
      const at1 = lastIssued(s.sub, "AccessToken");
      const end = op.record(at1).payload.exp * 1000 + 700;
      const results = [];
      let wave = 0;
      while (Date.now() < end) {
        wave += 1;
        const batch = await Promise.all(Array.from({ length: 8 }, (_, i) => proxy(s, `wave${wave}/${i}`)));
        results.push(...batch.map((r) => [r.status, r.headers.get("x-portico-error")]));
        await sleep(150);
      }
      assert.ok(wave >= 3, `several waves ran (${wave})`);
      assert.ok(results.every(([st]) => st === 200), `every call 200: ${JSON.stringify(results.filter(([st]) => st !== 200))}`);
      const refreshes = porticoTokenRequests(s.sub, "refresh_token");
      assert.equal(refreshes.length, 1, `exactly one refresh: ${JSON.stringify(refreshes.map((e) => [e.status, e.error_detail]))}`);
      assert.equal(invalidGrants(s.sub).length, 0);
      const at2 = refreshes[0].issued.access_token;
      const used = resourceCalls(s.sub);
      assert.equal(used.filter((e) => e.status !== 200).length, 0, "no call reached the API with an expired token");
      assert.ok(used.every((e) => e.token === at1 || e.token === at2));
      assert.equal(used.at(-1).token, at2, "the last wave used the refreshed token");
    });

    test("upstream 401 (the token revoked at the server behind Portico's back): 8 concurrent calls → one refresh, each call replayed once → 200; a POST body is replayed too", async () => {
      const s = await connect();
      const at1 = lastIssued(s.sub, "AccessToken");
      await proxyJson(s, "before");
      assert.ok(await op.destroyAccessToken(at1));
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => proxy(s, `after401/${i}`)));
      assert.deepEqual(results.map((r) => r.status), Array(8).fill(200), JSON.stringify(results.map((r) => [r.status, r.headers.get("x-portico-error")])));
      const refreshes = porticoTokenRequests(s.sub, "refresh_token");
      assert.equal(refreshes.length, 1, `one refresh for eight 401s: ${JSON.stringify(refreshes.map((e) => [e.status, e.error_detail]))}`);
      assert.equal(invalidGrants(s.sub).length, 0);
      const at2 = refreshes[0].issued.access_token;
      const after = resourceCalls(s.sub).filter((e) => e.path.startsWith("/resource/after401/"));
      for (let i = 0; i < 8; i++) {
        const mine = after.filter((e) => e.path === `/resource/after401/${i}`);
        assert.equal(mine.at(-1).token, at2, `call ${i} ended with the new token`);
        assert.equal(mine.at(-1).status, 200);
        assert.ok(mine.length <= 2, `call ${i} replayed at most once (${mine.length} requests)`);
        if (mine.length === 2) assert.deepEqual([mine[0].token, mine[0].status], [at1, 401]);
      }
      assert.ok(after.some((e) => e.status === 401 && e.token === at1), "the old token was refused upstream first");

      // A kept body (small, declared length) is sent again with the new token.
      assert.ok(await op.destroyAccessToken(at2));
      const payload = JSON.stringify({ replay: crypto.randomBytes(8).toString("hex") });
      const posted = await proxyJson(s, "post401", { method: "POST", headers: { "content-type": "application/json" }, body: payload });
      const sha = crypto.createHash("sha256").update(payload).digest("hex");
      assert.equal(posted.body.sha256, sha);
      const tries = resourceCalls(s.sub).filter((e) => e.path === "/resource/post401");
      assert.deepEqual(tries.map((e) => e.status), [401, 200], "refused once, replayed once");
      assert.equal(porticoTokenRequests(s.sub, "refresh_token").length, 2);
    });

    test("reuse detection: a refresh token used elsewhere first → Portico's refresh is refused (invalid_grant, grant revoked) → needs_reauth, 409; _initiate with the connection_id reconnects it", async (ctx) => {
      const s = await connect();
      const at1 = lastIssued(s.sub, "AccessToken");
      const rt1 = lastIssued(s.sub, "RefreshToken");
      await proxyJson(s, "before");
      // Someone else redeems the refresh token first (the server rotates it)...
      const stolen = await op.post("/token", "portico-basic", { grant_type: "refresh_token", refresh_token: rt1 });
      assert.equal(stolen.status, 200, stolen.text);
      // ...and Portico's access token stops working, so Portico must refresh with rt1.
      assert.ok(await op.destroyAccessToken(at1));
      const first = await proxy(s, "after-theft");
      const firstText = await first.text();
      assert.ok([401, 409].includes(first.status), `the call that found the refresh refused: ${first.status} ${first.headers.get("x-portico-error")} ${firstText.slice(0, 200)}`);
      ctx.diagnostic(`the call whose refresh was refused got ${first.status} ${first.headers.get("x-portico-error") ?? "(the upstream's 401)"}`);
      const mine = porticoTokenRequests(s.sub, "refresh_token");
      assert.equal(mine.length, 1, "invalid_grant is permanent: no retry");
      assert.equal(mine[0].presented, rt1);
      assert.equal(mine[0].error, "invalid_grant");
      assert.equal(mine[0].error_detail, "refresh token already used", "the server saw a replayed refresh token and revoked the grant");
      assert.equal(op.isLive(stolen.json.access_token), false, "the whole grant is revoked at the server");

      await expectCode(await proxy(s, "after-reauth"), 409, "connection_not_ready", "needs_reauth");
      const conn = await getConn(s.tid, s.connId);
      assert.equal(conn.state, "needs_reauth");
      const t = await tokensOf(s.tid, s.connId);
      assert.ok(t.refresh_failures >= 1, JSON.stringify(t));
      assert.match(String(t.last_error), /invalid_grant/);
      assert.equal(porticoTokenRequests(s.sub, "refresh_token").length, 1, "a needs_reauth connection sends nothing more");

      // Re-authorise the same connection.
      const again = await initiate(s.tid, { connection_id: s.connId });
      assert.equal(again.status, 200, `a reused connection answers 200: ${show(again)}`);
      assert.equal(again.data.connection.id, s.connId);
      const sub2 = uniq("acct");
      const res = await call.fetch(await op.authorize(again.data.authorize_url, { sub: sub2 }));
      await res.text();
      assert.equal(res.status, 200, `callback: ${res.headers.get("x-portico-error")}`);
      assert.equal((await getConn(s.tid, s.connId)).state, "ready");
      const got = await proxyJson(s, "reconnected");
      assert.equal(got.sub, sub2, "the new grant's token is used");
    });
  });

  // ---- disconnect and client authentication ------------------------------------------

  describe("disconnect", () => {
    test("_disconnect revokes the refresh token at the server (RFC 7009): the old access token is refused by the API, the connection is disconnected, nothing kept", async () => {
      const s = await connect();
      await proxyJson(s, "before");
      const at = lastIssued(s.sub, "AccessToken");
      const rt = lastIssued(s.sub, "RefreshToken");
      // The access-token replica in KV (oauth.md names the kind connection-secret,
      // vault.md connection-tokens: either counts).
      const replicaKeys = async () => {
        const names = [];
        for (const kind of ["connection-secret", "connection-tokens"]) {
          names.push(...(await kv.list({ prefix: `v1/${s.tid}/${kind}/${s.connId}/` })).keys.map((k) => k.name));
        }
        return names;
      };
      assert.equal((await replicaKeys()).length, 1, "one access-token replica while connected");
      const r = await v.api("POST", `/tenants/${s.tid}/connections/${s.connId}/_disconnect`, { token: tenantToken(s.tid) });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.data.state, "disconnected");
      assert.equal(r.data.revocation, "revoked");
      assert.equal(r.data.secret_set, false, "no token kept");
      const revs = op.revocationLog.filter((e) => !e.byTest && e.sub === s.sub);
      assert.equal(revs.length, 1, "one revocation request");
      assert.equal(revs[0].token, rt, "the refresh token is revoked (it takes the grant with it)");
      assert.equal(revs[0].kind, "RefreshToken");
      assert.equal(revs[0].status, 200);
      assert.equal(revs[0].client_auth, "basic", "revocation with the connector's client authentication");
      assert.equal(op.isLive(rt), false);
      assert.equal(op.isLive(at), false, "the grant's access tokens went with it");
      const direct = await fetch(`${op.resourceUrl}/direct`, { headers: { authorization: `Bearer ${at}` } });
      await direct.arrayBuffer();
      assert.equal(direct.status, 401, "the API refuses the old access token");
      assert.match(direct.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/);
      const reuse = await op.post("/token", "portico-basic", { grant_type: "refresh_token", refresh_token: rt });
      assert.equal(reuse.json?.error, "invalid_grant", "the refresh token is dead at the server");

      await expectCode(await proxy(s, "after"), 409, "connection_not_ready", "disconnected");
      assert.equal((await getConn(s.tid, s.connId)).state, "disconnected");
      const t = await tokensOf(s.tid, s.connId);
      assert.equal(t.has_access_token, false);
      assert.equal(t.has_refresh_token, false);
      const left = await eventually(async () => ((await replicaKeys()).length === 0 ? true : null));
      assert.equal(left, true, "no access-token replica left in KV");
    });
  });

  describe("client authentication", () => {
    for (const client of ["portico-basic", "portico-post", "portico-public"]) {
      test(`${CLIENT_AUTH[client]}: code exchange, refresh and revocation authenticate as the server requires`, async () => {
        const s = await connect({ client, ttl: 2 });
        await sleepUntil(s.connectedAt + 1500); // past the refresh point of a 2 s token
        const got = await proxyJson(s, "who");
        assert.equal(got.client_id, client);
        const r = await v.api("POST", `/tenants/${s.tid}/connections/${s.connId}/_disconnect`, { token: tenantToken(s.tid) });
        assert.equal(r.status, 200, show(r));
        assert.equal(r.data.revocation, "revoked");

        const requests = [
          ...porticoTokenRequests(s.sub, "authorization_code"),
          ...porticoTokenRequests(s.sub, "refresh_token"),
          ...op.revocationLog.filter((e) => !e.byTest && e.sub === s.sub),
        ];
        assert.equal(requests.length, 3, `one exchange, one refresh, one revocation: ${JSON.stringify(requests.map((e) => [e.grant_type ?? "revoke", e.status]))}`);
        const secret = op.clients[client].client_secret;
        for (const e of requests) {
          const what = e.grant_type ?? "revocation";
          assert.equal(e.status, 200, `${what}: ${e.error} ${e.error_detail ?? ""}`);
          if (client === "portico-basic") {
            assert.equal(e.client_auth, "basic", what);
            assert.deepEqual(e.basic, { id: client, secret }, what);
            assert.equal(e.form.client_secret, undefined, what);
          } else if (client === "portico-post") {
            assert.equal(e.client_auth, "post", what);
            assert.equal(e.basic, null, `${what}: no Authorization header`);
            assert.equal(e.form.client_id, client, what);
            assert.equal(e.form.client_secret, secret, what);
          } else {
            assert.equal(e.client_auth, "none", what);
            assert.equal(e.basic, null, what);
            assert.equal(e.form.client_id, client, what);
            assert.equal(e.form.client_secret, undefined, what);
          }
        }
      });
    }
  });

  // ---- callback refusals with a real provider's redirects -----------------------------

  describe("callback refusals", () => {
    test("consent denied: the provider's error=access_denied → 400 oauth_provider_error, nothing exchanged, still pending; the state is consumed (the same state with a code → oauth_state_replayed)", async () => {
      const tid = await v.createTenant(uniq("toi"));
      const sub = uniq("acct");
      const r = await initiate(tid, { connector_id: await connectorFor("portico-basic") });
      assert.equal(r.status, 201, show(r));
      const location = await op.authorize(r.data.authorize_url, { sub, consent: false });
      assert.equal(new URL(location).searchParams.get("error"), "access_denied");
      await expectCode(await call.fetch(location), 400, "oauth_provider_error", "denied");
      // The provider's error is checked before the state (the table's order), so the
      // same error callback again is oauth_provider_error again; the state itself is
      // used up: with a code instead of the error it is a replay, and nothing is sent.
      await expectCode(await call.fetch(location), 400, "oauth_provider_error", "denied again");
      const withCode = new URL(location);
      for (const k of ["error", "error_description"]) withCode.searchParams.delete(k);
      withCode.searchParams.set("code", scan.addSecret(`forged-${crypto.randomBytes(12).toString("hex")}`, "forged code"));
      const before0 = op.tokenLog.length;
      await expectCode(await call.fetch(withCode.href), 400, "oauth_state_replayed", "the consumed state with a code");
      assert.equal(op.tokenLog.length, before0, "nothing sent to the token endpoint");
      assert.equal(porticoTokenRequests(sub).length, 0);
      assert.equal((await getConn(tid, r.data.connection.id)).state, "pending");
    });

    test("a callback used twice: the second is oauth_state_replayed and sends no second code exchange", async () => {
      const s = await connect();
      await expectCode(await call.fetch(s.location), 400, "oauth_state_replayed", "replayed");
      assert.equal(porticoTokenRequests(s.sub, "authorization_code").length, 1);
      assert.equal((await getConn(s.tid, s.connId)).state, "ready", "the refusal leaves the connection alone");
    });

    test("a superseded initiation: the older authorization's callback → oauth_state_mismatch, its code never redeemed; the newer one connects", async () => {
      const tid = await v.createTenant(uniq("toi"));
      const sub1 = uniq("acct");
      const sub2 = uniq("acct");
      const r1 = await initiate(tid, { connector_id: await connectorFor("portico-post") });
      assert.equal(r1.status, 201, show(r1));
      const r2 = await initiate(tid, { connection_id: r1.data.connection.id });
      assert.equal(r2.status, 200, show(r2));
      const loc1 = await op.authorize(r1.data.authorize_url, { sub: sub1 });
      await expectCode(await call.fetch(loc1), 400, "oauth_state_mismatch", "superseded");
      assert.equal(porticoTokenRequests(sub1).length, 0, "the old code was not sent to the token endpoint");
      assert.ok(!op.record(new URL(loc1).searchParams.get("code")).payload.consumed);
      const res = await call.fetch(await op.authorize(r2.data.authorize_url, { sub: sub2 }));
      await res.text();
      assert.equal(res.status, 200, `newer callback: ${res.headers.get("x-portico-error")}`);
      assert.equal((await getConn(tid, r1.data.connection.id)).state, "ready");
    });
  });

  test("no code, token, verifier or client secret anywhere: responses, logs (positive control first), D1, KV", async () => {
    assert.ok(scan.secrets.some((s) => s.note === "code_verifier"), "Portico's verifiers were registered");
    assert.ok(scan.secrets.some((s) => s.note === "refresh token"), "refresh tokens were registered");
    await logControl(h, scan, call);
    await scan.scanD1(h.db);
    await scan.scanKv(kv);
    scan.assertClean("oauth_oidc");
  });
});
