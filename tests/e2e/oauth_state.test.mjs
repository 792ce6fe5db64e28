// OAuth2 connections, the front half (docs/oauth.md "Connecting: `_initiate` and the
// callback"), against a stub provider (dev/oauth-provider.mjs): `_initiate` and its
// refusals, the authorize URL, the code exchange per client authentication (PKCE,
// redirect_uri and client auth checked by the provider itself), `return_to` only to
// allowed origins, every documented callback refusal with its `x-portico-error` code
// and no call to the token endpoint, token responses validated at the exchange, the
// state bound to its tenant, connection and caller, tenant isolation, and a secret
// scan over every response, log line, D1 row and KV value.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import net from "node:net";
import { useHarness, uniq, TEST_VAULT_KEYS } from "./harness.mjs";
import { SecretScan, logControl } from "./support/secret-scan.mjs";
import { CP, vaultBindings, tenantToken, connectorBody, apiKeyAuth, show, assertProblem, freshSecret, liveSecret } from "./support/vault.mjs";
import {
  oauthKit, expectRefusal, REDIRECT_URI, CALLBACK_PATH, SCOPES, STATE_SHAPE, splitState, stateKey, flipAt, b64u, s256,
} from "./support/oauth.mjs";

const FIXED_REDIRECT = "portico-fixed-redirect";
const FIXED_REDIRECT_URI = "https://portico.example/api/v1/oauth/callback";

const scan = new SecretScan();
// Issued states: they are in `_initiate`'s answer by design, but never in D1 (keyed by
// a hash) nor in a log line.
const stateScan = new SecretScan();
const h = useHarness({
  bindings: vaultBindings(),
  onLog: scan.onLog,
  extraWorkers: ({ porticoWorker }) => [
    porticoWorker(FIXED_REDIRECT, vaultBindings({ PORTICO_VAULT_KEYS: TEST_VAULT_KEYS, PORTICO_OAUTH_REDIRECT_URI: FIXED_REDIRECT_URI })),
  ],
});

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

describe("oauth: _initiate and the callback", () => {
  let call;
  let k;
  let v;
  let idp; // the provider most tests share (counts are taken as deltas)
  let ctr; // its connector (client_secret_basic, return_origins)
  before(async () => {
    call = scan.client(h);
    k = oauthKit({ h, call, scan, stateScan });
    v = k.v;
    idp = await k.provider();
    ctr = await k.connector(idp);
  });
  after(async () => {
    await k?.closeAll();
  });

  const newTenant = () => v.createTenant(uniq("tos"));
  const tokenCalls = () => idp.stats.tokenRequests;
  /** A pending connection of a fresh tenant with an approved authorization: the callback not yet called. */
  // Each attempt its own connection: a label tells them apart (the same caller's
  // identical _initiate reuses its abandoned pending connection).
  async function pendingApproval({ tid, sub = "alice", returnTo, connector = ctr.id, token } = {}) {
    tid ??= await newTenant();
    const labels = { attempt: crypto.randomBytes(4).toString("hex") };
    const init = await k.initiate(tid, { connector_id: connector, labels, ...(returnTo ? { return_to: returnTo } : {}) }, { expect: 201, ...(token ? { token } : {}) });
    const approval = await k.approve(init.data.authorize_url, { sub });
    return { tid, init, conn: init.data.connection, approval, state: approval.state, code: approval.code };
  }
  const stateOf = (init) => new URL(init.data.authorize_url).searchParams.get("state");
  async function assertPending(tid, cid, what) {
    const c = await k.get(tid, cid);
    assert.equal(c.state, "pending", `${what}: the connection stays pending`);
  }
  /** Runs `fn` and asserts the provider's token endpoint was not called meanwhile. */
  async function noTokenCall(what, fn) {
    const before = tokenCalls();
    const out = await fn();
    assert.equal(tokenCalls() - before, 0, `${what}: nothing asked of the token endpoint`);
    return out;
  }
  const stateRow = async (state) => h.db.prepare("SELECT * FROM oauth_states WHERE key = ?1").bind(stateKey(state)).first();

  describe("_initiate", () => {
    test("the same caller trying again reuses its abandoned pending connection (200, earlier state superseded); another caller, other labels or a completed one get a new connection", async () => {
      const tid = await newTenant();
      const first = await k.initiate(tid, { connector_id: ctr.id }, { expect: 201 });
      const again = await k.initiate(tid, { connector_id: ctr.id }, { expect: 200 });
      assert.equal(again.data.connection.id, first.data.connection.id, "the same pending connection");
      assert.notEqual(stateOf(again), stateOf(first), "a new state");
      const old = await k.approve(first.data.authorize_url);
      await noTokenCall("superseded", async () => {
        await expectRefusal(await k.callback(old.path), 400, "oauth_state_mismatch", "the first attempt's state");
      });
      const bob = await k.initiate(tid, { connector_id: ctr.id }, { expect: 201, token: tenantToken(tid, { sub: "bob" }) });
      assert.notEqual(bob.data.connection.id, first.data.connection.id, "another caller: its own connection");
      const labelled = await k.initiate(tid, { connector_id: ctr.id, labels: { team: "x" } }, { expect: 201 });
      assert.notEqual(labelled.data.connection.id, first.data.connection.id, "other labels: another connection");
      const done = await k.approve(again.data.authorize_url);
      assert.equal((await k.callback(done.path)).status, 200, "the reused connection completes");
      const after = await k.initiate(tid, { connector_id: ctr.id }, { expect: 201 });
      assert.notEqual(after.data.connection.id, first.data.connection.id, "a ready connection is not reused");
      const listed = (await v.api("GET", `/tenants/${tid}/connections?limit=100`, { token: tenantToken(tid) })).data.items.map((c) => c.id);
      assert.equal(listed.length, 4, `four connections: ${listed}`);
    });

    test("a new connection: 201 pending, the documented authorize URL, a state row keyed by the SHA-256 of its random part", async () => {
      const tid = await newTenant();
      const calls = tokenCalls();
      const t0 = Date.now();
      const r = await k.initiate(tid, { connector_id: ctr.id, return_to: "https://app.example.com/done?x=1", labels: { team: "data" } }, { expect: 201 });
      const c = r.data.connection;
      assert.equal(c.state, "pending");
      assert.equal(c.tenant_id, tid);
      assert.equal(c.connector_id, ctr.id);
      assert.equal(c.auth_type, "oauth2");
      assert.deepEqual(c.labels, { team: "data" });
      assert.match(c.id, /^[A-Za-z0-9_-]+$/);

      const u = new URL(r.data.authorize_url);
      assert.equal(`${u.origin}${u.pathname}`, idp.authorizeUrl, "the connector's authorization_url");
      const q = u.searchParams;
      for (const p of ["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"]) {
        assert.equal(q.getAll(p).length, 1, `exactly one ${p} in ${u.search}`);
      }
      assert.equal(q.get("response_type"), "code");
      assert.equal(q.get("client_id"), ctr.client.id);
      assert.equal(q.get("redirect_uri"), REDIRECT_URI, "<scheme>://<host of the _initiate call>/api/v1/oauth/callback");
      assert.equal(q.get("scope"), SCOPES.join(" "));
      assert.equal(q.get("code_challenge_method"), "S256");
      assert.match(q.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/, "a base64url SHA-256");
      assert.equal(q.get("code_verifier"), null);
      const state = q.get("state");
      assert.match(state, STATE_SHAPE, "<random>.<mac>, 32 random bytes in base64url");
      assert.equal(Buffer.from(splitState(state).random, "base64url").length, 32);

      assert.match(r.data.state_expires_at, ISO_MS);
      const exp = Date.parse(r.data.state_expires_at);
      assert.ok(exp >= t0 + 9 * 60_000 && exp <= Date.now() + 10 * 60_000 + 5_000, `state_expires_at ten minutes ahead: ${r.data.state_expires_at}`);

      const row = await stateRow(state);
      assert.ok(row, "a D1 row in oauth_states under SHA-256(hex) of the random part");
      assert.equal(row.tenant_id, tid);
      assert.equal(row.connection_id, c.id);
      assert.equal(row.sub, `user-of-${tid}`);
      assert.equal(row.return_to, "https://app.example.com/done?x=1");
      assert.equal(row.redirect_uri, REDIRECT_URI);
      assert.equal(JSON.stringify(row).includes(splitState(state).random), false, "the row does not hold the state");

      // Another initiation: another state and challenge.
      const r2 = await k.initiate(tid, { connector_id: ctr.id }, { expect: 201 });
      const q2 = new URL(r2.data.authorize_url).searchParams;
      assert.notEqual(splitState(q2.get("state")).random, splitState(state).random);
      assert.notEqual(q2.get("code_challenge"), q.get("code_challenge"));
      assert.notEqual(r2.data.connection.id, c.id, "a new connection");
      assert.equal(tokenCalls(), calls, "_initiate calls nothing at the provider");
    });

    test("PORTICO_OAUTH_REDIRECT_URI replaces the redirect_uri from the request", async () => {
      const tid = await newTenant();
      const r = await call.worker(FIXED_REDIRECT).api("POST", `/tenants/${tid}/connections/_initiate`, {
        host: CP, token: tenantToken(tid), body: { connector_id: ctr.id },
      });
      assert.equal(r.status, 201, show(r));
      const state = new URL(r.data.authorize_url).searchParams.get("state");
      stateScan.addSecret(state, "state");
      assert.equal(new URL(r.data.authorize_url).searchParams.get("redirect_uri"), FIXED_REDIRECT_URI);
      assert.equal((await stateRow(state))?.redirect_uri, FIXED_REDIRECT_URI);
    });

    test("refusals: 400 validation_failed naming connector_id (not oauth2, another tenant's, unknown) or connection_id (not oauth2); 404 for another tenant's connection_id", async () => {
      const a = await newTenant();
      const b = await newTenant();
      const names = (r, path) => {
        assertProblem(r, 400, "validation_failed");
        assert.ok(Array.isArray(r.data.errors) && r.data.errors.some((e) => e.path === path), `errors[] names ${path}: ${show(r)}`);
      };
      const apiKeyCtr = await v.connector(connectorBody(idp.url, apiKeyAuth()));
      names(await k.initiate(a, { connector_id: apiKeyCtr }), "connector_id");
      names(await k.initiate(a, { connector_id: "ctr_does_not_exist" }), "connector_id");
      const bOwned = await k.connector(idp, { token: tenantToken(b) });
      names(await k.initiate(a, { connector_id: bOwned.id }), "connector_id");
      // b may use its own.
      await k.initiate(b, { connector_id: bOwned.id }, { expect: 201 });

      const bConn = (await k.initiate(b, { connector_id: ctr.id }, { expect: 201 })).data.connection;
      const r404 = await k.initiate(a, { connection_id: bConn.id });
      assertProblem(r404, 404);
      const secret = scan.addSecret(freshSecret(), "api key");
      const apiConn = await v.connection(a, { connector_id: apiKeyCtr, credentials: { api_key: secret } });
      names(await k.initiate(a, { connection_id: apiConn.id }), "connection_id");
      // Any other field beside connection_id.
      names(await k.initiate(b, { connection_id: bConn.id, labels: { x: "y" } }), "labels");
      await assertPending(b, bConn.id, "b's connection");
    });
  });

  describe("abandoned attempts", () => {
    test("the scheduled sweep removes connections pending longer than PORTICO_PENDING_CONNECTION_HOURS with no live state (audited); recent ones and ones with a live state stay", async () => {
      const tid = await newTenant();
      const init = async (team) => (await k.initiate(tid, { connector_id: ctr.id, labels: { team } }, { expect: 201 })).data.connection.id;
      const abandoned = await init("a");
      const liveState = await init("b");
      const recent = await init("c");
      const dayAgo = new Date(Date.now() - 25 * 3600_000).toISOString();
      for (const id of [abandoned, liveState]) {
        await h.db.prepare("UPDATE connections SET created_at = ?2 WHERE id = ?1").bind(id, dayAgo).run();
      }
      // The abandoned attempt's state expired (its row is still there until purged).
      await h.db.prepare("UPDATE oauth_states SET expires_at_ms = ?2 WHERE connection_id = ?1").bind(abandoned, Date.now() - 1000).run();
      const worker = await h.mf.getWorker("portico");
      const res = await worker.scheduled({ cron: "*/10 * * * *", scheduledTime: new Date() });
      assert.equal(res.outcome, "ok");
      const ids = (await v.api("GET", `/tenants/${tid}/connections?limit=100`, { token: tenantToken(tid) })).data.items.map((c) => c.id);
      assert.ok(!ids.includes(abandoned), "the abandoned attempt is gone");
      assert.ok(ids.includes(liveState), "an old connection whose state is still live stays");
      assert.ok(ids.includes(recent), "a recent attempt stays");
      const audit = await v.api("GET", `/tenants/${tid}/audit?limit=100`, { token: tenantToken(tid) });
      const expired = audit.data.items.filter((r) => r.action === "connection.expired");
      assert.deepEqual(expired.map((r) => r.object_id), [abandoned], "audited as connection.expired");
    });
  });

  describe("the callback, accepted", () => {
    for (const client of ["basic", "post", "public"]) {
      test(`client_auth ${client === "public" ? "none" : `client_secret_${client}`}: the code exchanged with PKCE, redirect_uri and the client auth; 302 to return_to; ready with scopes and authorized_by`, async () => {
        const p = await k.provider();
        const c = await k.connector(p, { client });
        const tid = await newTenant();
        const init = await k.initiate(tid, { connector_id: c.id, return_to: "https://app.example.com/done?x=1" }, { expect: 201 });
        const challenge = new URL(init.data.authorize_url).searchParams.get("code_challenge");
        const approval = await k.approve(init.data.authorize_url, { sub: `sub-${client}` });
        const res = await k.callback(approval.path);
        assert.equal(res.status, 302, `${res.status} ${res.headers.get("x-portico-error")} ${(await res.clone().text()).slice(0, 300)}`);
        const loc = new URL(res.headers.get("location"));
        assert.equal(`${loc.origin}${loc.pathname}`, "https://app.example.com/done");
        assert.equal(loc.searchParams.get("x"), "1", "return_to's own query kept");
        assert.equal(loc.searchParams.get("portico_connection"), init.data.connection.id);
        assert.equal(loc.searchParams.get("portico_status"), "ready");

        // The provider accepted the exchange: it checked the code, the verifier against
        // the challenge, the redirect_uri and the client authentication itself.
        assert.equal(p.stats.tokenRequests, 1, "one token request");
        assert.equal(p.stats.tokenFailures, 0, "the provider accepted it");
        const ex = p.tokenLog[0];
        assert.equal(ex.grantType, "authorization_code");
        assert.equal(ex.form.code, approval.code);
        assert.equal(ex.form.redirect_uri, REDIRECT_URI);
        assert.equal(s256(ex.form.code_verifier), challenge, "the verifier of this state's challenge");
        assert.equal(ex.clientAuth, c.client.auth);
        if (client === "basic") {
          assert.match(ex.headers.authorization ?? "", /^Basic /);
          assert.equal(ex.form.client_secret, undefined);
        } else {
          assert.equal(ex.headers.authorization, undefined, "no Authorization header");
          assert.equal(ex.form.client_id, c.client.id);
          if (client === "public") assert.equal(ex.form.client_secret, undefined);
        }

        const conn = await k.get(tid, init.data.connection.id);
        assert.equal(conn.state, "ready");
        assert.deepEqual(conn.scopes, SCOPES, "the granted scopes");
        assert.equal(conn.authorized_by, `user-of-${tid}`, "authorized_by: the initiating sub, shown on the connection");
        const t = await k.tokens(tid, conn.id);
        assert.equal(t.has_access_token, true);
        assert.equal(t.has_refresh_token, true);
        assert.equal(t.refreshes, 0);
        assert.ok(conn.expires_at, "connections.expires_at: the access token's expiry");
        assert.ok(Math.abs(Date.parse(conn.expires_at) - Date.parse(t.access_expires_at)) <= 1000, `expires_at ${conn.expires_at} vs access_expires_at ${t.access_expires_at}`);
        // The access-token replica: a vault record of kind connection-secret (KV).
        const replica = await liveSecret(await h.mf.getKVNamespace("VAULT", "portico"), tid, conn.id);
        assert.ok(replica, "the access token is written through to the vault (connection-secret)");
        assert.ok(!replica.value.includes(p.issued[0].access_token), "sealed");
        const proxied = await k.proxy(tid, conn.id, "resource/hello");
        assert.equal(proxied.status, 200, await proxied.clone().text());
        assert.deepEqual(await proxied.json(), { sub: `sub-${client}`, client_id: c.client.id, scope: SCOPES.join(" ") });
        assert.equal(p.resourceLog.at(-1).token, p.issued[0].access_token, "the issued access token, as Bearer");

        // The state row is consumed and a tombstone is left.
        assert.equal(await stateRow(approval.state), null, "the oauth_states row is gone");
        const tomb = await h.db.prepare("SELECT * FROM oauth_states_used WHERE key = ?1").bind(stateKey(approval.state)).first();
        assert.ok(tomb, "a tombstone in oauth_states_used");
      });
    }

    test("without return_to: a 200 HTML page", async () => {
      const { tid, init, approval } = await pendingApproval();
      const res = await k.callback(approval.path);
      const text = await res.text();
      assert.equal(res.status, 200, text.slice(0, 300));
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      assert.equal(res.headers.get("location"), null);
      assert.equal((await k.get(tid, init.data.connection.id)).state, "ready");
    });

    test("granted scopes: the token response's scope, else the connector's", async () => {
      for (const [scope, want] of [[undefined, SCOPES], ["read", ["read"]]]) {
        const { tid, conn, approval } = await pendingApproval();
        const at = scan.addSecret(`at_scripted_${crypto.randomBytes(8).toString("hex")}`, "scripted access token");
        const rt = scan.addSecret(`rt_scripted_${crypto.randomBytes(8).toString("hex")}`, "scripted refresh token");
        idp.next("token", { grant: "authorization_code", status: 200, body: { access_token: at, token_type: "Bearer", expires_in: 3600, refresh_token: rt, ...(scope ? { scope } : {}) } });
        const res = await k.callback(approval.path);
        assert.equal(res.status, 200, `${res.status} ${res.headers.get("x-portico-error")}`);
        assert.deepEqual((await k.get(tid, conn.id)).scopes, want, `scope ${scope ?? "(none)"}`);
      }
    });

    test("the callback belongs to the control plane: on a tenant's data-plane host it exchanges nothing and the state stays usable", async () => {
      const { host } = await h.addHost({ routes: [] });
      const { tid, conn, approval } = await pendingApproval();
      await noTokenCall("data-plane host", async () => {
        const res = await call.fetch(approval.path, { host });
        await res.text();
        assert.notEqual(res.status, 200, "not handled as a callback");
        assert.notEqual(res.status, 302);
      });
      await assertPending(tid, conn.id, "data-plane host");
      assert.equal((await k.callback(approval.path)).status, 200, "the genuine callback on the control plane");
    });

    test("the same callback twice at once: one exchange, one success, the other a replay", async () => {
      const { tid, conn, approval } = await pendingApproval();
      const before = tokenCalls();
      const [a, b] = await Promise.all([k.callback(approval.path), k.callback(approval.path)]);
      const got = [a, b].map((r) => `${r.status} ${r.headers.get("x-portico-error")}`).sort();
      assert.deepEqual(got, ["200 null", "400 oauth_state_replayed"], JSON.stringify(got));
      assert.equal(tokenCalls() - before, 1, "one exchange");
      assert.equal((await k.get(tid, conn.id)).state, "ready");
    });

    test("return_to: a connector return origin or the tenant's active domain; anything else is refused at _initiate with 400 naming return_to, and nothing is created", async () => {
      const tid = await newTenant();
      const domain = `${uniq("ret")}.test`;
      await h.addDomain({ tenant_id: tid, domain });
      const pendingDomain = `${uniq("pnd")}.test`;
      await h.addDomain({ tenant_id: tid, domain: pendingDomain, status: "pending" });

      // The tenant's active domain.
      const { res } = await k.connect(tid, ctr.id, { returnTo: `https://${domain}/back` });
      const loc = new URL(res.headers.get("location"));
      assert.equal(`${loc.origin}${loc.pathname}`, `https://${domain}/back`);
      assert.equal(loc.searchParams.get("portico_status"), "ready");
      // A loopback return origin of the connector (development).
      await k.initiate(tid, { connector_id: ctr.id, return_to: "http://localhost:5173/cb" }, { expect: 201 });

      const listed = async () => (await v.api("GET", `/tenants/${tid}/connections?limit=100`, { token: tenantToken(tid) })).data.items.length;
      const rows = async () => (await h.db.prepare("SELECT COUNT(*) AS n FROM oauth_states WHERE tenant_id = ?1").bind(tid).first()).n;
      const n0 = await listed();
      const s0 = await rows();
      for (const bad of [
        "https://evil.example/steal",
        "https://app.example.com.evil.example/",
        "http://app.example.com/done",
        "https://app.example.com:8443/done",
        "https://app.example.com@evil.example/",
        "//evil.example/",
        "/relative",
        "javascript:alert(1)",
        `https://${pendingDomain}/back`,
        "https://other-tenant.test/",
      ]) {
        const r = await k.initiate(tid, { connector_id: ctr.id, return_to: bad });
        assertProblem(r, 400, "validation_failed");
        assert.ok(Array.isArray(r.data.errors) && r.data.errors.some((e) => e.path === "return_to"), `${bad}: errors[] names return_to: ${show(r)}`);
      }
      // Re-authorising an existing connection with a bad return_to: refused too.
      const existing = (await v.api("GET", `/tenants/${tid}/connections?limit=100`, { token: tenantToken(tid) })).data.items[0];
      const r = await k.initiate(tid, { connection_id: existing.id, return_to: "https://evil.example/" });
      assertProblem(r, 400, "validation_failed");
      assert.ok(r.data.errors.some((e) => e.path === "return_to"), show(r));
      assert.equal(await rows(), s0, "no state was stored");
      assert.equal(await listed(), n0, "no connection was created by a refused _initiate");
    });

    test("re-authorising a ready connection: 200, it stays ready on its old tokens until the callback replaces them", async () => {
      const p = await k.provider();
      const { tid, conn } = await k.ready(p, { sub: "alice" });
      const other = tenantToken(tid, { sub: "second-user" });
      const init = await k.initiate(tid, { connection_id: conn.id, return_to: "https://app.example.com/again" }, { token: other, expect: 200 });
      assert.equal(init.data.connection.id, conn.id);
      assert.equal(init.data.connection.state, "ready", "still ready while re-authorising");
      let res = await k.proxy(tid, conn.id, "resource/old");
      assert.equal(res.status, 200);
      assert.equal((await res.json()).sub, "alice", "the old tokens");
      const approval = await k.approve(init.data.authorize_url, { sub: "bob" });
      const cb = await k.callback(approval.path);
      assert.equal(cb.status, 302, await cb.clone().text());
      res = await k.proxy(tid, conn.id, "resource/new");
      assert.equal(res.status, 200);
      assert.equal((await res.json()).sub, "bob", "the new tokens");
      const c = await k.get(tid, conn.id);
      assert.equal(c.state, "ready");
      assert.equal(c.authorized_by, "second-user");
    });

    test("an oauth2 connection made with POST …/connections (pending) is connected through _initiate with its connection_id", async () => {
      const tid = await newTenant();
      const made = await v.connection(tid, { connector_id: ctr.id });
      assert.equal(made.state, "pending");
      await k.connect(tid, null, { connectionId: made.id });
    });
  });

  describe("callback refusals: the documented code, nothing asked of the provider, the connection stays pending", () => {
    test("no state, or a repeated or overlong state: 400 oauth_state_missing / oauth_callback_malformed", async () => {
      const { tid, conn, state, code } = await pendingApproval();
      await noTokenCall("refusals", async () => {
        await expectRefusal(await k.callback(`code=${encodeURIComponent(code)}`), 400, "oauth_state_missing", "no state");
        await expectRefusal(await k.callback(`state=&code=${encodeURIComponent(code)}`), 400, "oauth_state_missing", "empty state");
        await expectRefusal(await k.callback(""), 400, "oauth_state_missing", "nothing at all");
        await expectRefusal(await k.callback(`state=${state}${"s".repeat(5000)}&code=${code}`), 400, "oauth_callback_malformed", "overlong state");
        await expectRefusal(await k.callback(`state=${state}&state=${state}&code=${code}`), 400, "oauth_callback_malformed", "state twice");
      });
      await assertPending(tid, conn.id, "after the refusals");
      // Whether a repeated state counts as "a well-formed state" (consumed) is not asserted.
    });

    test("a repeated or overlong code beside a well-formed state: 400 oauth_callback_malformed, and the state is consumed (docs: any well-formed state in a refused callback is)", async () => {
      for (const [what, query] of [
        ["code twice", (st, c) => `state=${st}&code=${c}&code=${c}`],
        ["overlong code", (st) => `state=${st}&code=${"c".repeat(5000)}`],
      ]) {
        const { tid, conn, approval, state, code } = await pendingApproval();
        await noTokenCall(what, async () => {
          await expectRefusal(await k.callback(query(state, code)), 400, "oauth_callback_malformed", what);
          await expectRefusal(await k.callback(approval.path), 400, "oauth_state_replayed", `${what}: the genuine callback after it`);
        });
        await assertPending(tid, conn.id, what);
      }
    });

    test("no code: 400 oauth_code_missing, and the state is consumed", async () => {
      for (const [what, query] of [
        ["no code", (st) => `state=${st}`],
        ["empty code", (st) => `state=${st}&code=`],
        ["iss but no code", (st) => `state=${st}&iss=${encodeURIComponent(idp.issuer)}`],
      ]) {
        const { tid, conn, approval, state } = await pendingApproval();
        await noTokenCall(what, async () => {
          await expectRefusal(await k.callback(query(state)), 400, "oauth_code_missing", what);
          await expectRefusal(await k.callback(approval.path), 400, "oauth_state_replayed", `${what}: the genuine callback after it`);
        });
        await assertPending(tid, conn.id, what);
      }
    });

    test("provider error (also with a code beside it): 400 oauth_provider_error, and the state is consumed", async () => {
      // A real denial at the provider: it redirects with error=access_denied&state=….
      const tid = await newTenant();
      const init = await k.initiate(tid, { connector_id: ctr.id, return_to: "https://app.example.com/done" }, { expect: 201 });
      idp.options.authorize = "deny";
      let denial;
      try {
        denial = await k.approve(init.data.authorize_url);
      } finally {
        idp.options.authorize = "approve";
      }
      assert.equal(denial.url.searchParams.get("error"), "access_denied");
      await noTokenCall("denial", async () => {
        const page = await expectRefusal(await k.callback(denial.path), 400, "oauth_provider_error", "access_denied");
        assert.ok(!page.includes("<script"), "no markup from the provider");
        // The state is spent: a code for it now is a replay.
        await expectRefusal(await k.callback(`state=${denial.state}&code=c_whatever_code_value`), 400, "oauth_state_replayed", "after the denial");
      });
      await assertPending(tid, init.data.connection.id, "denied");

      // An error beside a real code: still a refusal, and the code is never exchanged.
      const { tid: t2, conn, approval, state, code } = await pendingApproval();
      await noTokenCall("error beside a code", async () => {
        await expectRefusal(await k.callback(`code=${encodeURIComponent(code)}&error=server_error&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=${state}`), 400, "oauth_provider_error", "error + code");
        await expectRefusal(await k.callback(approval.path), 400, "oauth_state_replayed", "the genuine callback after it");
      });
      await assertPending(t2, conn.id, "error beside a code");

      // The checks run in the table's order: a provider error on a used state is still a provider error.
      const used = await pendingApproval();
      assert.equal((await k.callback(used.approval.path)).status, 200);
      await noTokenCall("error on a used state", async () => {
        await expectRefusal(await k.callback(`error=access_denied&state=${used.state}`), 400, "oauth_provider_error", "error on a used state");
      });
      assert.equal((await k.get(used.tid, used.conn.id)).state, "ready", "the completed connection is untouched");
    });

    test("malformed states: 400 oauth_state_malformed", async () => {
      const { tid, conn, state, code } = await pendingApproval();
      const { random, mac } = splitState(state);
      await noTokenCall("malformed", async () => {
        for (const bad of [
          "abc",
          random,
          `${random}.`,
          `.${mac}`,
          `${random}${mac}`,
          `${random}.${mac}.${mac}`,
          `${random.slice(1)}.${mac}`,
          `${random}x.${mac}`,
          `${random.slice(0, 42)}+.${mac}`,
          `${random}.${mac.slice(0, -1)}!`,
          `${random}..${mac}`,
          "x".repeat(200),
        ]) {
          await expectRefusal(await k.callback(`state=${encodeURIComponent(bad)}&code=${code}`), 400, "oauth_state_malformed", `state ${bad.slice(0, 60)}`);
        }
      });
      await assertPending(tid, conn.id, "malformed");
    });

    test("unknown: a well-formed state never issued, and an issued one whose row is gone from D1 → 400 oauth_state_unknown", async () => {
      const { tid, conn, state, code, approval } = await pendingApproval();
      const macLen = splitState(state).mac.length;
      const forged = `${b64u(crypto.randomBytes(32))}.${b64u(crypto.randomBytes(64)).slice(0, macLen)}`;
      await noTokenCall("unknown", async () => {
        await expectRefusal(await k.callback(`state=${forged}&code=${code}`), 400, "oauth_state_unknown", "never issued");
        const del = await h.db.prepare("DELETE FROM oauth_states WHERE key = ?1").bind(stateKey(state)).run();
        assert.equal(del.meta.changes, 1, "the row was found under SHA-256(hex) of the random part");
        await expectRefusal(await k.callback(approval.path), 400, "oauth_state_unknown", "row deleted");
      });
      await assertPending(tid, conn.id, "unknown");
    });

    test("replayed: a used state → 400 oauth_state_replayed, the provider asked once", async () => {
      const { tid, conn, approval } = await pendingApproval();
      const before = tokenCalls();
      const first = await k.callback(approval.path);
      assert.equal(first.status, 200, first.headers.get("x-portico-error"));
      assert.equal(tokenCalls() - before, 1);
      await noTokenCall("replay", async () => {
        await expectRefusal(await k.callback(approval.path), 400, "oauth_state_replayed", "second use");
        await expectRefusal(await k.callback(`state=${approval.state}&code=c_another_code_value`), 400, "oauth_state_replayed", "with another code");
      });
      assert.equal((await k.get(tid, conn.id)).state, "ready");
    });

    test("expired: a state past its ten minutes → 400 oauth_state_expired", async () => {
      const { tid, conn, approval, state } = await pendingApproval();
      // Ten minutes cannot pass in a test: the row is aged instead.
      const aged = await h.db.prepare("UPDATE oauth_states SET expires_at_ms = ?2 WHERE key = ?1").bind(stateKey(state), Date.now() - 1000).run();
      assert.equal(aged.meta.changes, 1);
      await noTokenCall("expired", async () => {
        await expectRefusal(await k.callback(approval.path), 400, "oauth_state_expired", "aged row");
        await expectRefusal(await k.callback(approval.path), 400, "oauth_state_replayed", "consumed by the refusal");
      });
      await assertPending(tid, conn.id, "expired");
    });

    test("tampered: an altered MAC, or a row rebound to another connection, sub or tenant → 400 oauth_state_tampered; an altered random part names no row (unknown)", async () => {
      const tid = await newTenant();
      const other = await newTenant();
      // One state per attempt: a refused attempt may have spent the row it named.
      const a = await pendingApproval({ tid });
      const b = await pendingApproval({ tid });
      const c = await pendingApproval({ tid });
      const d = await pendingApproval({ tid });
      await noTokenCall("tampered", async () => {
        const { random, mac } = splitState(a.state);
        const mid = Math.floor(mac.length / 2);
        await expectRefusal(await k.callback(`state=${random}.${flipAt(mac, mid)}&code=${a.code}`), 400, "oauth_state_tampered", "MAC altered");
        // Another state's MAC on this random part.
        await expectRefusal(await k.callback(`state=${splitState(c.state).random}.${splitState(b.state).mac}&code=${c.code}`), 400, "oauth_state_tampered", "MAC swapped");
        const dd = splitState(d.state);
        await expectRefusal(await k.callback(`state=${flipAt(dd.random, 20)}.${dd.mac}&code=${d.code}`), 400, "oauth_state_unknown", "random part altered: no row has it");
      });
      await assertPending(tid, a.conn.id, "MAC altered");
      await assertPending(tid, c.conn.id, "MAC swapped");
      await noTokenCall("after tampering", async () => {
        // The altered states were well-formed: the rows they named are consumed.
        await expectRefusal(await k.callback(a.approval.path), 400, "oauth_state_replayed", "a after its MAC was altered");
        await expectRefusal(await k.callback(c.approval.path), 400, "oauth_state_replayed", "c after the swap");
      });
      // d's row was never named: it completes.
      assert.equal((await k.callback(d.approval.path)).status, 200, "d completes");

      // Rows rebound in D1: each must fail the MAC.
      const rebinds = [
        ["connection_id", (await pendingApproval({ tid })).conn.id],
        ["sub", "mallory"],
        ["tenant_id", other],
      ];
      for (const [col, value] of rebinds) {
        const c = await pendingApproval({ tid });
        const u = await h.db.prepare(`UPDATE oauth_states SET ${col} = ?2 WHERE key = ?1`).bind(stateKey(c.state), value).run();
        assert.equal(u.meta.changes, 1);
        await noTokenCall(`rebound ${col}`, async () => {
          await expectRefusal(await k.callback(c.approval.path), 400, "oauth_state_tampered", `row's ${col} changed`);
        });
        await assertPending(tid, c.conn.id, `rebound ${col}`);
      }
      await assertPending(tid, b.conn.id, "b");
      // b was never touched: it completes.
      const res = await k.callback(b.approval.path);
      assert.equal(res.status, 200, res.headers.get("x-portico-error"));
    });

    test("mismatch: the connection deleted after _initiate → 400 oauth_state_mismatch", async () => {
      const { tid, conn, approval } = await pendingApproval();
      const del = await v.api("DELETE", `/tenants/${tid}/connections/${conn.id}`, { token: tenantToken(tid) });
      assert.equal(del.status, 204, show(del));
      await noTokenCall("deleted", async () => {
        await expectRefusal(await k.callback(approval.path), 400, "oauth_state_mismatch", "connection gone");
        await expectRefusal(await k.callback(approval.path), 400, "oauth_state_replayed", "consumed by the refusal");
      });
      const gone = await v.api("GET", `/tenants/${tid}/connections/${conn.id}`, { token: tenantToken(tid) });
      assert.equal(gone.status, 404, "not resurrected");
    });

    test("mismatch: re-initiated since (by another caller, or the same) → the earlier state is superseded; the latest completes", async () => {
      const { tid, conn, approval: first } = await pendingApproval();
      const other = tenantToken(tid, { sub: "second-user" });
      const second = await k.initiate(tid, { connection_id: conn.id }, { token: other, expect: 200 });
      assert.equal(second.data.connection.state, "pending");
      const secondApproval = await k.approve(second.data.authorize_url, { sub: "bob" });
      const third = await k.initiate(tid, { connection_id: conn.id }, { token: other, expect: 200 });
      const thirdApproval = await k.approve(third.data.authorize_url, { sub: "bob" });
      await noTokenCall("superseded", async () => {
        await expectRefusal(await k.callback(first.path), 400, "oauth_state_mismatch", "superseded by another caller");
        await expectRefusal(await k.callback(secondApproval.path), 400, "oauth_state_mismatch", "superseded by the same caller");
      });
      await assertPending(tid, conn.id, "superseded");
      const res = await k.callback(thirdApproval.path);
      assert.equal(res.status, 200, res.headers.get("x-portico-error"));
      const c = await k.get(tid, conn.id);
      assert.equal(c.state, "ready");
      assert.equal(c.authorized_by, "second-user", "authorized_by: the sub of the initiation that completed");
    });

    test("tenant binding: A's state completes only A's connection; a code issued for B's state fails PKCE at the provider (502 oauth_exchange_failed)", async () => {
      const a = await pendingApproval();
      const b = await pendingApproval();
      // Code injection: B's code with A's state. The exchange runs with A's verifier,
      // which the provider refuses.
      const before = tokenCalls();
      await expectRefusal(await k.callback(`state=${a.state}&code=${encodeURIComponent(b.code)}`), 502, "oauth_exchange_failed", "B's code on A's state");
      assert.equal(tokenCalls() - before, 1, "one exchange, refused by the provider");
      await assertPending(a.tid, a.conn.id, "A after the injection");
      await assertPending(b.tid, b.conn.id, "B after the injection");

      // A fresh pair: completing A leaves B pending.
      const a2 = await pendingApproval();
      const b2 = await pendingApproval();
      assert.equal((await k.callback(a2.approval.path)).status, 200);
      assert.equal((await k.get(a2.tid, a2.conn.id)).state, "ready");
      await assertPending(b2.tid, b2.conn.id, "B while A completed");
      assert.equal((await k.callback(b2.approval.path)).status, 200);
      assert.equal((await k.get(b2.tid, b2.conn.id)).state, "ready");
      // Each proxies as its own authorizer.
      assert.equal((await (await k.proxy(a2.tid, a2.conn.id, "resource/a")).json()).sub, "alice");
    });
  });

  describe("the code exchange", () => {
    const invalid = {
      "malformed JSON": "{not json",
      "a JSON array": JSON.stringify(["access_token"]),
      "no access_token": JSON.stringify({ token_type: "Bearer", expires_in: 3600, refresh_token: "rt_unused_value" }),
      "an empty access_token": JSON.stringify({ access_token: "", token_type: "Bearer" }),
      "an access_token with a space": JSON.stringify({ access_token: "at with space", token_type: "Bearer" }),
      "an access_token with a newline": JSON.stringify({ access_token: "at\r\nx-injected: 1", token_type: "Bearer" }),
      "token_type mac": JSON.stringify({ access_token: "at_valid_value", token_type: "mac" }),
      "expires_in non-numeric": JSON.stringify({ access_token: "at_valid_value", token_type: "Bearer", expires_in: "soon" }),
      "expires_in a boolean": JSON.stringify({ access_token: "at_valid_value", token_type: "Bearer", expires_in: true }),
      "expires_in 0": JSON.stringify({ access_token: "at_valid_value", token_type: "Bearer", expires_in: 0 }),
      "expires_in negative": JSON.stringify({ access_token: "at_valid_value", token_type: "Bearer", expires_in: -60 }),
      "expires_in absurd (over 366 days)": JSON.stringify({ access_token: "at_valid_value", token_type: "Bearer", expires_in: 367 * 86400 }),
      "expires_in 1e300": '{"access_token":"at_valid_value","token_type":"Bearer","expires_in":1e300}',
    };
    test("an invalid token response → 502 oauth_token_invalid; the connection stays pending with no tokens; the state is spent", async () => {
      for (const [what, body] of Object.entries(invalid)) {
        const { tid, conn, approval } = await pendingApproval();
        idp.next("token", { grant: "authorization_code", status: 200, body, headers: { "content-type": "application/json" } });
        const before = tokenCalls();
        await expectRefusal(await k.callback(approval.path), 502, "oauth_token_invalid", what);
        assert.equal(tokenCalls() - before, 1, `${what}: exactly one exchange (a code is not retried)`);
        assert.equal(idp.pending("token"), 0, `${what}: the scripted answer was used`);
        await assertPending(tid, conn.id, what);
        const t = await k.tokensRaw(tid, conn.id);
        if (t.status === 200) assert.equal(t.data.has_access_token, false, `${what}: no tokens stored`);
        await noTokenCall(`${what}: replay`, async () => {
          await expectRefusal(await k.callback(approval.path), 400, "oauth_state_replayed", `${what}: the state is spent`);
        });
        const proxied = await k.proxy(tid, conn.id, "resource/x");
        assert.equal(proxied.status, 409, `${what}: proxy refused`);
        assert.equal(proxied.headers.get("x-portico-error"), "connection_not_ready");
      }
    });

    test("the token endpoint refuses (invalid_grant, 401 invalid_client, 503) or cannot be reached → 502 oauth_exchange_failed, pending; _initiate again recovers", async () => {
      for (const [what, answer] of [
        ["invalid_grant", { status: 400, body: { error: "invalid_grant" } }],
        ["invalid_client", { status: 401, body: { error: "invalid_client" } }],
        ["503", { status: 503, body: { error: "temporarily_unavailable" } }],
      ]) {
        const { tid, conn, approval } = await pendingApproval();
        // Three of them, in case a transient failure is retried.
        const n = what === "503" ? 3 : 1;
        for (let i = 0; i < n; i++) idp.next("token", { grant: "authorization_code", ...answer });
        await expectRefusal(await k.callback(approval.path), 502, "oauth_exchange_failed", what);
        if (n === 1) assert.equal(idp.pending("token"), 0, `${what}: the scripted answer was used`);
        idp.clearNext("token");
        await assertPending(tid, conn.id, what);
        if (what === "invalid_grant") {
          // Recovery: a new attempt on the same connection.
          await k.connect(tid, null, { connectionId: conn.id });
        }
      }
      // A token endpoint nobody listens on.
      const port = await new Promise((resolve) => {
        const s = net.createServer();
        s.listen(0, "127.0.0.1", () => {
          const p = s.address().port;
          s.close(() => resolve(p));
        });
      });
      const dead = await k.connector(idp, { tokenUrl: `http://127.0.0.1:${port}/token` });
      const { tid, conn, approval } = await pendingApproval({ connector: dead.id });
      await expectRefusal(await k.callback(approval.path), 502, "oauth_exchange_failed", "unreachable");
      await assertPending(tid, conn.id, "unreachable");
    });
  });

  describe("tenant isolation", () => {
    test("tenant B's token: 404 for A's …/tokens, _initiate with A's connection_id, _disconnect, the proxy; A untouched", async () => {
      const p = await k.provider();
      const { tid: a, conn } = await k.ready(p);
      const b = await newTenant();
      const tb = tenantToken(b);
      const revokes = p.stats.revocationRequests;
      for (const [what, r] of [
        ["…/tokens on A's path", await v.api("GET", `/tenants/${a}/connections/${conn.id}/tokens`, { token: tb })],
        ["…/tokens under B's path", await v.api("GET", `/tenants/${b}/connections/${conn.id}/tokens`, { token: tb })],
        ["_initiate on B's path with A's connection_id", await v.api("POST", `/tenants/${b}/connections/_initiate`, { token: tb, body: { connection_id: conn.id } })],
        ["_initiate on A's path", await v.api("POST", `/tenants/${a}/connections/_initiate`, { token: tb, body: { connection_id: conn.id } })],
        ["_disconnect on A's path", await v.api("POST", `/tenants/${a}/connections/${conn.id}/_disconnect`, { token: tb })],
        ["_disconnect under B's path", await v.api("POST", `/tenants/${b}/connections/${conn.id}/_disconnect`, { token: tb })],
      ]) {
        assert.equal(r.status, 404, `${what}: ${show(r)}`);
        assert.ok(!r.text.includes("has_access_token"), `${what}: nothing of A's keeper`);
      }
      const proxied = await k.proxy(b, conn.id, "resource/x", { token: tb });
      assert.equal(proxied.status, 404);
      assert.equal(p.stats.revocationRequests, revokes, "nothing revoked");
      const c = await k.get(a, conn.id);
      assert.equal(c.state, "ready");
      assert.equal((await k.proxy(a, conn.id, "resource/still")).status, 200);
      const t = await k.tokens(a, conn.id);
      assert.equal(t.has_refresh_token, true);
    });
  });

  test("audit: connection.oauth_initiated, connection.oauth_connected, connection.oauth_refused", async () => {
    const { tid, conn, approval } = await pendingApproval();
    assert.equal((await k.callback(approval.path)).status, 200);
    const refused = await pendingApproval({ tid });
    await expectRefusal(await k.callback(`state=${refused.state}`), 400, "oauth_code_missing");
    await expectRefusal(await k.callback(`error=access_denied&state=${refused.state}`), 400, "oauth_provider_error");
    let actions = [];
    for (let i = 0; i < 50; i++) {
      const rows = await h.db.prepare("SELECT action FROM audit_log WHERE tenant_id = ?1").bind(tid).all();
      actions = rows.results.map((r) => r.action);
      if (actions.includes("connection.oauth_refused")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const a of ["connection.oauth_initiated", "connection.oauth_connected", "connection.oauth_refused"]) {
      assert.ok(actions.includes(a), `${a} in ${JSON.stringify(actions)}`);
    }
    const connected = await h.db.prepare("SELECT * FROM audit_log WHERE tenant_id = ?1 AND action = 'connection.oauth_connected'").bind(tid).first();
    assert.ok(JSON.stringify(connected).includes(conn.id), "the connected row names the connection");
  });

  test("secret scan: no client secret, code, verifier, access or refresh token in any response, log line, D1 row or KV value; no state in D1 or a log", async () => {
    await logControl(h, scan, call);
    k.registerProviderSecrets();
    assert.ok(scan.secrets.some((s) => s.note === "PKCE verifier"), "verifiers were registered");
    assert.ok(scan.secrets.some((s) => s.note === "refresh token"), "refresh tokens were registered");
    await scan.scanD1(h.db);
    const kv = await h.mf.getKVNamespace("VAULT", "portico");
    await scan.scanKv(kv);
    scan.assertClean("oauth_state");
    stateScan.logs = scan.logs;
    await stateScan.scanD1(h.db);
    await stateScan.scanKv(kv);
    assert.ok(stateScan.secrets.length > 10, "states were registered");
    stateScan.assertClean("oauth_state (states)");
  });
});
