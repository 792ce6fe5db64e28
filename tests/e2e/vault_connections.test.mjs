// Connections (docs/vault.md "Connections", DESIGN §7): CRUD through the management
// API, secrets write-only (never in a response, ciphertext in KV under the documented
// key with {kid} metadata), PATCH rotation, _disconnect, tenant isolation for every
// connection operation, and policies (methods, paths, subjects, required_scope → 403
// policy_denied with nothing sent upstream).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { useHarness, uniq } from "./harness.mjs";
import { startRecordingOrigin } from "./support/recording-origin.mjs";
import { SecretScan, logControl } from "./support/secret-scan.mjs";
import {
  vaultBindings, vaultKit, cpToken, tenantToken, connectorBody, apiKeyAuth, show,
  assertProblem, assertErrorPath, freshSecret, liveSecret, expectCode, eventually,
} from "./support/vault.mjs";

const scan = new SecretScan();
const h = useHarness({ bindings: vaultBindings(), onLog: scan.onLog });
// node 22 runs a file-level before() as soon as it is registered, without waiting
// for the harness's: everything that needs the harness lives in this suite.
describe("vault connections", () => {
  let up;
  let call;
  let v;
  let kv;
  let apiKeyConn; // global connector: api key in x-api-key
  let basicConn; // global connector: basic
  let noneConn; // global connector: none
  let oauthConn; // global connector: oauth2
  before(async () => {
    up = await startRecordingOrigin();
    call = scan.client(h);
    v = vaultKit(call);
    kv = await h.mf.getKVNamespace("VAULT", "portico");
    apiKeyConn = await v.connector(connectorBody(`${up.url}/v1`, apiKeyAuth("header", "x-api-key")));
    basicConn = await v.connector(connectorBody(`${up.url}/v1`, { type: "basic" }));
    noneConn = await v.connector(connectorBody(`${up.url}/v1`, { type: "none" }));
    oauthConn = await v.connector(
      connectorBody("https://api.example.com/v1", {
        type: "oauth2",
        authorization_url: "https://auth.example.com/authorize",
        token_url: "https://auth.example.com/token",
        scopes: ["read"],
        pkce: true,
        client_auth: "none",
        client_id: "public-client",
      }),
    );
  });
  after(async () => {
    await up?.close();
  });

  // auth_type is checked on its own (below), so one missing field does not hide the rest.
  const RESPONSE_FIELDS = [
    "id", "tenant_id", "connector_id", "connector_version", "state", "labels", "policy",
    "scopes", "expires_at", "secret_set", "last_used_at", "created_at", "updated_at",
  ];
  const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

  function assertConnectionShape(c, what = "") {
    for (const f of RESPONSE_FIELDS) assert.ok(f in c, `${what}: field ${f} in ${JSON.stringify(c)}`);
    for (const f of ["credentials", "api_key", "password", "secret", "username"]) {
      assert.ok(!(f in c), `${what}: no ${f} field in a connection response`);
    }
    assert.match(c.created_at, ISO_MS);
    assert.match(c.updated_at, ISO_MS);
  }

  /** A fresh tenant with one api-key connection; returns { tid, conn, secret }. */
  async function tenantWithConnection(extra = {}) {
    const tid = await v.createTenant(uniq("tcn"));
    const secret = scan.addSecret(freshSecret(), "api key");
    const conn = await v.connection(tid, { connector_id: apiKeyConn, credentials: { api_key: secret }, ...extra });
    return { tid, conn, secret };
  }

  describe("CRUD", () => {
    test("create an api_key connection: 201, ready, secret_set, the documented shape, no secret", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const secret = scan.addSecret(freshSecret(), "api key");
      const r = await v.api("POST", `/tenants/${tid}/connections`, {
        token: tenantToken(tid),
        body: { connector_id: apiKeyConn, labels: { team: "data", "env.name": "prod" }, credentials: { api_key: secret } },
      });
      assert.equal(r.status, 201, show(r));
      assert.ok(!r.text.includes(secret), "the secret is never returned");
      const c = r.data;
      assertConnectionShape(c, "create");
      assert.equal(c.tenant_id, tid);
      assert.equal(c.connector_id, apiKeyConn);
      assert.equal(c.connector_version, 1);
      assert.equal(c.state, "ready");
      assert.equal(c.secret_set, true);
      assert.deepEqual(c.labels, { team: "data", "env.name": "prod" });
      assert.equal(c.policy, null);
      assert.equal(c.last_used_at, null);

      // KV: the documented key, an envelope, {kid} metadata, no plaintext.
      const live = await liveSecret(kv, tid, c.id);
      assert.ok(live, `a KV object for ${c.id}`);
      const { value, metadata } = live;
      assert.ok(!value.includes(secret), "KV holds ciphertext");
      const env = JSON.parse(value);
      assert.deepEqual(Object.keys(env).sort(), ["c", "kid", "n", "v"]);
      assert.equal(env.v, 1);
      assert.equal(env.kid, "t1");
      assert.deepEqual(metadata, { kid: "t1" });
      assert.equal(Buffer.from(env.n, "base64").length, 12, "96-bit nonce");
      assert.ok(Buffer.from(env.c, "base64").length >= secret.length + 16, "ciphertext + tag");

      for (const [what, rr] of [
        ["get", await v.api("GET", `/tenants/${tid}/connections/${c.id}`, { token: tenantToken(tid) })],
        ["list", await v.api("GET", `/tenants/${tid}/connections`, { token: tenantToken(tid) })],
        ["get (control plane)", await v.api("GET", `/tenants/${tid}/connections/${c.id}`)],
      ]) {
        assert.equal(rr.status, 200, `${what}: ${show(rr)}`);
        assert.ok(!rr.text.includes(secret), `${what}: no secret`);
      }
      const got = await v.api("GET", `/tenants/${tid}/connections/${c.id}`, { token: tenantToken(tid) });
      assertConnectionShape(got.data, "get");
      assert.deepEqual({ ...got.data }, { ...c }, "GET returns what POST returned");
    });

    test("two connections with the same key value get different ciphertexts (random nonce)", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const secret = scan.addSecret(freshSecret(), "dup key");
      const a = await v.connection(tid, { connector_id: apiKeyConn, credentials: { api_key: secret } });
      const b = await v.connection(tid, { connector_id: apiKeyConn, credentials: { api_key: secret } });
      const ea = JSON.parse((await liveSecret(kv, tid, a.id)).value);
      const eb = JSON.parse((await liveSecret(kv, tid, b.id)).value);
      assert.notEqual(ea.n, eb.n);
      assert.notEqual(ea.c, eb.c);
    });

    test("basic: username and password stored, never returned", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const pw = scan.addSecret(freshSecret("pw_"), "basic password");
      const r = await v.api("POST", `/tenants/${tid}/connections`, {
        token: tenantToken(tid),
        body: { connector_id: basicConn, credentials: { username: "svc-user", password: pw } },
      });
      assert.equal(r.status, 201, show(r));
      assert.equal(r.data.state, "ready");
      assert.equal(r.data.secret_set, true);
      assert.ok(!r.text.includes(pw));
      const value = (await liveSecret(kv, tid, r.data.id))?.value;
      assert.ok(value && !value.includes(pw) && !value.includes("svc-user"), "KV holds ciphertext only");
    });

    test("none: ready at once, no credentials accepted, nothing in KV", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const r = await v.api("POST", `/tenants/${tid}/connections`, { token: tenantToken(tid), body: { connector_id: noneConn } });
      assert.equal(r.status, 201, show(r));
      assert.equal(r.data.state, "ready");
      assert.equal(r.data.secret_set, false);
      assert.equal(await liveSecret(kv, tid, r.data.id), null);
      assertErrorPath(
        await v.api("POST", `/tenants/${tid}/connections`, { token: tenantToken(tid), body: { connector_id: noneConn, credentials: { api_key: "x-not-needed-1" } } }),
        "credentials",
      );
    });

    test("oauth2: pending, credentials refused", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const r = await v.api("POST", `/tenants/${tid}/connections`, { token: tenantToken(tid), body: { connector_id: oauthConn } });
      assert.equal(r.status, 201, show(r));
      assert.equal(r.data.state, "pending");
      assert.equal(r.data.secret_set, false);
      assertErrorPath(
        await v.api("POST", `/tenants/${tid}/connections`, { token: tenantToken(tid), body: { connector_id: oauthConn, credentials: { api_key: "nope-nope-1" } } }),
        "credentials",
      );
    });

    test("credential and field validation names the field", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const tok = tenantToken(tid);
      const post = (body) => v.api("POST", `/tenants/${tid}/connections`, { token: tok, body });
      assertErrorPath(await post({ connector_id: apiKeyConn }), "credentials");
      assertErrorPath(await post({ connector_id: apiKeyConn, credentials: { api_key: "" } }), "credentials.api_key");
      assertErrorPath(await post({ connector_id: apiKeyConn, credentials: { api_key: "a\nb-control" } }), "credentials.api_key");
      assertErrorPath(await post({ connector_id: apiKeyConn, credentials: { api_key: "x".repeat(4097) } }), "credentials.api_key");
      assertErrorPath(await post({ connector_id: apiKeyConn, credentials: { api_key: 12345 } }), "credentials.api_key");
      assertErrorPath(await post({ connector_id: apiKeyConn, credentials: { username: "u", password: "p" } }), ["credentials.api_key", "credentials.username", "credentials"]);
      assertErrorPath(await post({ connector_id: basicConn, credentials: { username: "u" } }), "credentials.password");
      assertErrorPath(await post({ connector_id: basicConn, credentials: { username: "", password: "p" } }), "credentials.username");
      const max = await post({ connector_id: apiKeyConn, credentials: { api_key: scan.addSecret("k".repeat(4090) + "MAXLEN", "4096-byte key") } });
      assert.equal(max.status, 201, `4096 bytes is allowed: ${show(max)}`);
      assertErrorPath(await post({ credentials: { api_key: "abc-def-1" } }), "connector_id");
      assertErrorPath(await post({ connector_id: `cn_${uniq("missing")}`, credentials: { api_key: "abc-def-1" } }), "connector_id");
      // Labels.
      assertErrorPath(await post({ connector_id: noneConn, labels: { "Bad Key": "x" } }), ["labels.Bad Key", "labels"]);
      assertErrorPath(await post({ connector_id: noneConn, labels: { k: "v".repeat(257) } }), ["labels.k", "labels"]);
      assertErrorPath(await post({ connector_id: noneConn, labels: { k: 1 } }), ["labels.k", "labels"]);
      const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]));
      assertErrorPath(await post({ connector_id: noneConn, labels: many }), "labels");
      const ok32 = await post({ connector_id: noneConn, labels: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, "v"])) });
      assert.equal(ok32.status, 201, show(ok32));
      // Policy.
      assertErrorPath(await post({ connector_id: noneConn, policy: { methods: ["GET", "BAD METHOD"] } }), "policy.methods[1]");
      assertErrorPath(await post({ connector_id: noneConn, policy: { paths: ["/ok/*", "/bad/:id{[}"] } }), "policy.paths[1]");
      assertErrorPath(await post({ connector_id: noneConn, policy: { required_scope: 5 } }), "policy.required_scope");
      assertErrorPath(await post({ connector_id: noneConn, policy: { subjects: "agent" } }), "policy.subjects");
      assertErrorPath(await post({ connector_id: noneConn, policy: { bogus: true } }), "policy.bogus");
      // Unknown and read-only fields.
      assertErrorPath(await post({ connector_id: noneConn, bogus: 1 }), "bogus");
      assertErrorPath(await post({ connector_id: noneConn, state: "ready" }), "state");
    });

    test("every connection response carries auth_type (create, get, list, patch)", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const tok = tenantToken(tid);
      for (const [connector, type, credentials] of [
        [apiKeyConn, "api_key", { api_key: scan.addSecret(freshSecret(), "auth_type key") }],
        [basicConn, "basic", { username: "u", password: scan.addSecret(freshSecret("pw_"), "auth_type pw") }],
        [noneConn, "none", undefined],
        [oauthConn, "oauth2", undefined],
      ]) {
        const c = await v.connection(tid, { connector_id: connector, ...(credentials ? { credentials } : {}) });
        assert.equal(c.auth_type, type, `create: ${JSON.stringify(c)}`);
        const got = await v.api("GET", `/tenants/${tid}/connections/${c.id}`, { token: tok });
        assert.equal(got.data.auth_type, type, "get");
        const p = await v.api("PATCH", `/tenants/${tid}/connections/${c.id}`, { token: tok, body: { labels: { x: "1" } } });
        assert.equal(p.data.auth_type, type, "patch");
      }
      const list = await v.api("GET", `/tenants/${tid}/connections`, { token: tok });
      assert.deepEqual(list.data.items.map((c) => c.auth_type), ["api_key", "basic", "none", "oauth2"], "list");
    });

    test("policy methods are stored upper-case", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const r = await v.api("POST", `/tenants/${tid}/connections`, { token: tenantToken(tid), body: { connector_id: noneConn, policy: { methods: ["get", "Post"] } } });
      assert.equal(r.status, 201, show(r));
      assert.deepEqual(r.data.policy.methods, ["GET", "POST"]);
    });

    test("list: paged, only the tenant's own connections", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await v.connection(tid, { connector_id: noneConn })).id);
      const seen = [];
      let cursor = null;
      for (let i = 0; i < 10; i++) {
        const r = await v.api("GET", `/tenants/${tid}/connections?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { token: tenantToken(tid) });
        assert.equal(r.status, 200, show(r));
        assert.ok(r.data.items.length <= 2);
        for (const c of r.data.items) {
          assert.equal(c.tenant_id, tid);
          seen.push(c.id);
        }
        cursor = r.data.next_cursor;
        if (!cursor) break;
      }
      assert.deepEqual(seen, ids, "oldest first, each once");
    });

    test("DELETE → 204; the secret is deleted; GET → 404; the proxy → 404", async () => {
      const { tid, conn } = await tenantWithConnection();
      assert.ok(await liveSecret(kv, tid, conn.id));
      const r = await v.api("DELETE", `/tenants/${tid}/connections/${conn.id}`, { token: tenantToken(tid) });
      assert.equal(r.status, 204, show(r));
      assert.equal(await liveSecret(kv, tid, conn.id), null, "secret deleted from KV");
      assertProblem(await v.api("GET", `/tenants/${tid}/connections/${conn.id}`, { token: tenantToken(tid) }), 404, "not_found");
      const m = uniq("m");
      const p = await v.proxy(tid, conn.id, `x-${m}`);
      assert.equal(p.status, 404);
      assert.match(p.headers.get("content-type") ?? "", /^application\/problem\+json/, "a missing connection is the API's problem document");
      assert.equal((await p.json()).code, "not_found");
      assert.equal(up.requestsMatching(m).length, 0);
    });

    test("scopes: read cannot write, write cannot proxy", async () => {
      const { tid, conn } = await tenantWithConnection();
      const readOnly = tenantToken(tid, { scope: "connections:read" });
      assertProblem(await v.api("POST", `/tenants/${tid}/connections`, { token: readOnly, body: { connector_id: noneConn } }), 403, "insufficient_scope");
      assertProblem(await v.api("PATCH", `/tenants/${tid}/connections/${conn.id}`, { token: readOnly, body: { labels: {} } }), 403, "insufficient_scope");
      assertProblem(await v.api("POST", `/tenants/${tid}/connections/${conn.id}/_disconnect`, { token: readOnly }), 403, "insufficient_scope");
      const m = uniq("m");
      const p = await v.proxy(tid, conn.id, `x-${m}`, { token: tenantToken(tid, { scope: "connections:read connections:write" }) });
      assert.equal(p.status, 403);
      await p.text();
      assert.equal(up.requestsMatching(m).length, 0);
      const noTok = await v.proxy(tid, conn.id, `y-${m}`, { token: null });
      assert.equal(noTok.status, 401);
      await noTok.text();
      assert.equal(up.requestsMatching(m).length, 0);
    });
  });

  describe("PATCH and rotation", () => {
    test("PATCH credentials rotates the secret: new ciphertext, the proxy sends the new key, never the old one again", async () => {
      const { tid, conn, secret: old } = await tenantWithConnection();
      const m1 = uniq("m");
      const r1 = await v.proxy(tid, conn.id, `before-${m1}`);
      assert.equal(r1.status, 200);
      assert.equal(up.last(m1).headers["x-api-key"], old);
      const beforeObj = await liveSecret(kv, tid, conn.id);
      const beforeEnv = beforeObj.value;

      const fresh = scan.addSecret(freshSecret(), "rotated key");
      const p = await v.api("PATCH", `/tenants/${tid}/connections/${conn.id}`, { token: tenantToken(tid), body: { credentials: { api_key: fresh } } });
      assert.equal(p.status, 200, show(p));
      assert.ok(!p.text.includes(fresh) && !p.text.includes(old));
      assert.equal(p.data.secret_set, true);
      assert.equal(p.data.state, "ready");
      assert.ok(p.data.updated_at >= conn.updated_at);
      const afterObj = await liveSecret(kv, tid, conn.id);
      const afterEnv = afterObj.value;
      assert.notEqual(afterObj.key, beforeObj.key, "a write makes a new object");
      assert.equal(await kv.get(beforeObj.key), null, "the replaced object is deleted");
      assert.notEqual(afterEnv, beforeEnv, "a new envelope");
      assert.ok(!afterEnv.includes(fresh));

      const m2 = uniq("m");
      const r2 = await v.proxy(tid, conn.id, `after-${m2}`);
      assert.equal(r2.status, 200);
      assert.equal(up.last(m2).headers["x-api-key"], fresh);
      assert.equal(up.requestsContaining(old).filter((x) => x.seq > up.last(m1).seq).length, 0, "the old key is never sent again");
    });

    test("PATCH labels and policy; policy null clears it; invalid credentials leave the stored secret", async () => {
      const { tid, conn, secret } = await tenantWithConnection({ labels: { a: "1" } });
      const tok = tenantToken(tid);
      const r = await v.api("PATCH", `/tenants/${tid}/connections/${conn.id}`, { token: tok, body: { labels: { b: "2" }, policy: { methods: ["GET"] } } });
      assert.equal(r.status, 200, show(r));
      assert.deepEqual(r.data.labels, { b: "2" });
      assert.deepEqual(r.data.policy?.methods, ["GET"]);
      const cleared = await v.api("PATCH", `/tenants/${tid}/connections/${conn.id}`, { token: tok, body: { policy: null } });
      assert.equal(cleared.status, 200, show(cleared));
      assert.equal(cleared.data.policy, null);
      assert.deepEqual(cleared.data.labels, { b: "2" }, "labels unchanged by a policy-only patch");

      const bad = await v.api("PATCH", `/tenants/${tid}/connections/${conn.id}`, { token: tok, body: { credentials: { api_key: "" } } });
      assertErrorPath(bad, "credentials.api_key");
      const m = uniq("m");
      assert.equal((await v.proxy(tid, conn.id, `x-${m}`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } })).status, 200);
      assert.equal(up.last(m).headers["x-api-key"], secret, "the refused patch changed nothing");
      assertErrorPath(await v.api("PATCH", `/tenants/${tid}/connections/${conn.id}`, { token: tok, body: { connector_id: noneConn } }), "connector_id");
    });

    test("last_used_at is set after a proxied call", async () => {
      const { tid, conn } = await tenantWithConnection();
      assert.equal((await v.proxy(tid, conn.id, "used")).status, 200);
      const got = await eventually(async () => {
        const r = await v.api("GET", `/tenants/${tid}/connections/${conn.id}`, { token: tenantToken(tid) });
        return r.data?.last_used_at ? r : null;
      });
      assert.ok(got, "last_used_at set");
      assert.match(got.data.last_used_at, ISO_MS);
    });
  });

  describe("_disconnect", () => {
    test("→ 200 disconnected, secret deleted from KV and the vault index, the proxy → 409 connection_not_ready, nothing sent", async () => {
      const { tid, conn } = await tenantWithConnection();
      const before = await v.api("GET", "/vault/status");
      assert.equal(before.status, 200, show(before));
      const r = await v.api("POST", `/tenants/${tid}/connections/${conn.id}/_disconnect`, { token: tenantToken(tid) });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.data.state, "disconnected");
      assert.equal(r.data.secret_set, false);
      assert.equal(await liveSecret(kv, tid, conn.id), null, "secret deleted");
      const after = await v.api("GET", "/vault/status");
      assert.equal(after.data.records.t1, before.data.records.t1 - 1, "the vault index lost the record");
      const m = uniq("m");
      await expectCode(await v.proxy(tid, conn.id, `x-${m}`), 409, "connection_not_ready");
      assert.equal(up.requestsMatching(m).length, 0, "nothing sent");
      // Credentials can be set again: the connection is ready again.
      const again = scan.addSecret(freshSecret(), "reconnected key");
      const p = await v.api("PATCH", `/tenants/${tid}/connections/${conn.id}`, { token: tenantToken(tid), body: { credentials: { api_key: again } } });
      assert.equal(p.status, 200, show(p));
      assert.equal(p.data.state, "ready");
      const m2 = uniq("m");
      assert.equal((await v.proxy(tid, conn.id, `y-${m2}`)).status, 200);
      assert.equal(up.last(m2).headers["x-api-key"], again);
    });

    test("writes take effect on the very next call, even right after the connection was used (policy, disconnect, delete)", async () => {
      const warm = async (tid, conn) => {
        for (let i = 0; i < 2; i++) assert.equal((await v.proxy(tid, conn.id, "warm", { method: "POST", body: "{}", headers: { "content-type": "application/json" } })).status, 200);
      };
      const p = await tenantWithConnection();
      await warm(p.tid, p.conn);
      assert.equal((await v.api("PATCH", `/tenants/${p.tid}/connections/${p.conn.id}`, { token: tenantToken(p.tid), body: { policy: { methods: ["GET"] } } })).status, 200);
      const m1 = uniq("m");
      await expectCode(await v.proxy(p.tid, p.conn.id, `post-${m1}`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } }), 403, "policy_denied");
      assert.equal(up.requestsMatching(m1).length, 0);

      const d = await tenantWithConnection();
      await warm(d.tid, d.conn);
      assert.equal((await v.api("POST", `/tenants/${d.tid}/connections/${d.conn.id}/_disconnect`, { token: tenantToken(d.tid) })).status, 200);
      const m2 = uniq("m");
      await expectCode(await v.proxy(d.tid, d.conn.id, `after-${m2}`), 409, "connection_not_ready");
      assert.equal(up.requestsMatching(m2).length, 0);

      const x = await tenantWithConnection();
      await warm(x.tid, x.conn);
      assert.equal((await v.api("DELETE", `/tenants/${x.tid}/connections/${x.conn.id}`, { token: tenantToken(x.tid) })).status, 204);
      const m3 = uniq("m");
      const gone = await v.proxy(x.tid, x.conn.id, `after-${m3}`);
      assert.equal(gone.status, 404);
      await gone.text();
      assert.equal(up.requestsMatching(m3).length, 0);
    });

    test("an oauth2 (pending) connection → 409 connection_not_ready on the proxy", async () => {
      const tid = await v.createTenant(uniq("tcn"));
      const c = await v.connection(tid, { connector_id: oauthConn });
      await expectCode(await v.proxy(tid, c.id, "x"), 409, "connection_not_ready");
    });
  });

  describe("tenant deletion", () => {
    test("deleting a tenant deletes its connections and every secret object; a re-created tenant starts empty", async () => {
      const { tid, conn, secret } = await tenantWithConnection();
      const second = await v.connection(tid, { connector_id: basicConn, credentials: { username: "u", password: scan.addSecret(freshSecret("pw_"), "deleted tenant pw") } });
      const before = await v.api("GET", "/vault/status");
      const del = await v.api("DELETE", `/tenants/${tid}`);
      assert.equal(del.status, 204, show(del));
      const left = await eventually(async () => {
        const keys = (await kv.list({ prefix: `v1/${tid}/` })).keys;
        return keys.length === 0 ? true : null;
      });
      assert.ok(left, "no KV object of the deleted tenant remains");
      const after = await v.api("GET", "/vault/status");
      assert.equal(after.data.records.t1, before.data.records.t1 - 2, "the vault index lost both records");
      await v.createTenant(tid);
      const list = await v.api("GET", `/tenants/${tid}/connections`, { token: tenantToken(tid) });
      assert.deepEqual(list.data.items, []);
      for (const id of [conn.id, second.id]) {
        assertProblem(await v.api("GET", `/tenants/${tid}/connections/${id}`, { token: tenantToken(tid) }), 404, "not_found");
        const m = uniq("m");
        const p = await v.proxy(tid, id, `ghost-${m}`);
        assert.equal(p.status, 404);
        assert.equal(up.requestsMatching(m).length, 0);
      }
      assert.equal(up.requestsContaining(secret).filter((r) => r.url.includes("ghost")).length, 0);
    });
  });

  describe("tenant isolation", () => {
    let a, b, ownedA;
    before(async () => {
      a = await tenantWithConnection();
      b = await tenantWithConnection();
      ownedA = await v.connector(connectorBody(`${up.url}/owned-a`, apiKeyAuth()), { token: tenantToken(a.tid) });
    });

    const ops = (tid, cid) => [
      ["GET", `/tenants/${tid}/connections`],
      ["POST", `/tenants/${tid}/connections`, { connector_id: noneConn }],
      ["GET", `/tenants/${tid}/connections/${cid}`],
      ["PATCH", `/tenants/${tid}/connections/${cid}`, { labels: { x: "y" } }],
      ["PATCH", `/tenants/${tid}/connections/${cid}`, { credentials: { api_key: "attacker-key-000" } }],
      ["POST", `/tenants/${tid}/connections/${cid}/_disconnect`],
      ["DELETE", `/tenants/${tid}/connections/${cid}`],
    ];

    test("another tenant's token on the tenant's path → 404 for every connection operation, proxy included", async () => {
      const tok = tenantToken(b.tid);
      const wrong = [];
      for (const [method, path, body] of ops(a.tid, a.conn.id)) {
        const r = await v.api(method, path, { token: tok, ...(body ? { body } : {}) });
        // docs/vault.md: 404 for every connection operation (a connection does not
        // even admit to existing), unlike other tenant paths (403).
        if (r.status !== 404 || r.data?.code !== "not_found") wrong.push(`${method} ${path} → ${r.status} ${r.data?.code}`);
      }
      assert.deepEqual(wrong, [], "every connection operation on another tenant's path is 404 not_found");
      const m = uniq("m");
      for (const method of ["GET", "POST", "DELETE"]) {
        const p = await v.proxy(a.tid, a.conn.id, `steal-${m}`, { token: tok, method });
        assert.equal(p.status, 404, `proxy ${method}`);
        await p.text();
      }
      assert.equal(up.requestsMatching(m).length, 0, "nothing sent");
    });

    test("another tenant's connection id under one's own path → 404 for every operation, proxy included", async () => {
      const tok = tenantToken(b.tid);
      for (const [method, path, body] of ops(b.tid, a.conn.id).slice(2)) {
        const r = await v.api(method, path, { token: tok, ...(body ? { body } : {}) });
        assertProblem(r, 404, "not_found");
      }
      const m = uniq("m");
      const p = await v.proxy(b.tid, a.conn.id, `steal-${m}`, { token: tok });
      assert.equal(p.status, 404);
      await p.text();
      assert.equal(up.requestsMatching(m).length, 0);
      // Tenant a's connection is untouched and still works with its own key.
      const got = await v.api("GET", `/tenants/${a.tid}/connections/${a.conn.id}`, { token: tenantToken(a.tid) });
      assert.equal(got.status, 200);
      assert.equal(got.data.state, "ready");
      assert.deepEqual(got.data.labels, a.conn.labels);
      const m2 = uniq("m");
      assert.equal((await v.proxy(a.tid, a.conn.id, `own-${m2}`)).status, 200);
      assert.equal(up.last(m2).headers["x-api-key"], a.secret);
    });

    test("a tenant cannot connect to another tenant's connector (nor see it)", async () => {
      const r = await v.api("POST", `/tenants/${b.tid}/connections`, {
        token: tenantToken(b.tid),
        body: { connector_id: ownedA, credentials: { api_key: "b-key-000000" } },
      });
      assert.ok(r.status === 404 || r.status === 400, show(r));
      if (r.status === 400) assertErrorPath(r, "connector_id");
      assert.ok(!r.text.includes("/owned-a"));
      const list = await v.api("GET", `/tenants/${b.tid}/connections`, { token: tenantToken(b.tid) });
      assert.ok(!list.data.items.some((c) => c.connector_id === ownedA));
      // The owner may.
      const own = await v.connection(a.tid, { connector_id: ownedA, credentials: { api_key: scan.addSecret(freshSecret(), "owned") } });
      assert.equal(own.connector_id, ownedA);
    });

    test("a tenant's list never shows another tenant's connection", async () => {
      const r = await v.api("GET", `/tenants/${b.tid}/connections?limit=200`, { token: tenantToken(b.tid) });
      assert.equal(r.status, 200);
      assert.ok(r.data.items.every((c) => c.tenant_id === b.tid));
      assert.ok(!r.data.items.some((c) => c.id === a.conn.id));
    });
  });

  describe("policies", () => {
    /** A connection with `policy`; proxies `path` with `method` as `token`; returns status + whether the origin saw it. */
    async function attempt(policy, { method = "GET", path = "calendar/v3/events", claims = {}, body } = {}) {
      const { tid, conn } = await tenantWithConnection({ policy });
      const m = uniq("m");
      const sep = path.includes("?") ? "&" : "?";
      const res = await v.proxy(tid, conn.id, `${path}${sep}m=${m}`, {
        method,
        token: tenantToken(tid, claims),
        ...(body ? { body, headers: { "content-type": "application/json" } } : {}),
      });
      const code = res.headers.get("x-portico-error");
      const text = await res.text();
      return { status: res.status, code, text, sent: up.requestsMatching(m).length, tid, conn };
    }
    const denied = (r, what) => {
      assert.equal(r.status, 403, `${what}: ${r.status} ${r.code} ${r.text.slice(0, 200)}`);
      assert.equal(r.code, "policy_denied", what);
      assert.equal(r.sent, 0, `${what}: nothing sent upstream`);
    };
    const allowed = (r, what) => {
      assert.equal(r.status, 200, `${what}: ${r.status} ${r.code} ${r.text.slice(0, 200)}`);
      assert.equal(r.sent, 1, `${what}: sent upstream`);
    };

    test("methods", async () => {
      allowed(await attempt({ methods: ["GET"] }), "GET allowed");
      allowed(await attempt({ methods: ["GET"] }, { method: "HEAD" }), "HEAD is allowed where GET is");
      denied(await attempt({ methods: ["POST"] }, { method: "HEAD" }), "HEAD without GET");
      denied(await attempt({ methods: ["GET"] }, { method: "POST", body: "{}" }), "POST refused");
      denied(await attempt({ methods: ["GET"] }, { method: "DELETE" }), "DELETE refused");
      allowed(await attempt({ methods: ["GET", "POST"] }, { method: "POST", body: "{}" }), "POST listed");
    });

    test("paths (route syntax, matched under base_url, after canonicalisation)", async () => {
      const p = { paths: ["/calendar/v3/*"] };
      allowed(await attempt(p), "inside");
      allowed(await attempt(p, { path: "calendar/v3" }), "the prefix itself");
      denied(await attempt(p, { path: "admin/users" }), "outside");
      denied(await attempt(p, { path: "calendar/v3/../../admin" }), "dot segments climbing out");
      denied(await attempt(p, { path: "calendar/v3/%2e%2e/%2e%2e/admin" }), "encoded dot segments climbing out");
      denied(await attempt(p, { path: "calendar/v30/x" }), "a sibling prefix");
      denied(await attempt(p, { path: "Calendar/v3/x" }), "case-sensitive");
      allowed(await attempt({ paths: ["/users/:id{[0-9]+}"] }, { path: "users/42" }), "constrained param");
      denied(await attempt({ paths: ["/users/:id{[0-9]+}"] }, { path: "users/abc" }), "constraint not met");
    });

    test("subjects", async () => {
      allowed(await attempt({ subjects: ["agent-7"] }, { claims: { sub: "agent-7" } }), "listed subject");
      denied(await attempt({ subjects: ["agent-7"] }, { claims: { sub: "agent-8" } }), "another subject");
      denied(await attempt({ subjects: ["agent-7"] }, { claims: { sub: "agent-77" } }), "a longer subject");
      denied(await attempt({ subjects: ["agent-7"] }, { claims: { sub: undefined } }), "no subject");
    });

    test("required_scope", async () => {
      const base = "connections:proxy";
      allowed(await attempt({ required_scope: "calendar:read" }, { claims: { scope: `${base} calendar:read` } }), "scope held");
      denied(await attempt({ required_scope: "calendar:read" }, { claims: { scope: base } }), "scope missing");
      denied(await attempt({ required_scope: "calendar:read" }, { claims: { scope: `${base} calendar:readwrite` } }), "a longer scope is not the scope");
    });

    test("all rules together; a policy cleared with PATCH null stops narrowing", async () => {
      const policy = { methods: ["GET"], paths: ["/calendar/v3/*"], subjects: ["agent-7"], required_scope: "calendar:read" };
      const good = { sub: "agent-7", scope: "connections:proxy calendar:read" };
      allowed(await attempt(policy, { claims: good }), "all met");
      denied(await attempt(policy, { claims: { ...good, sub: "agent-9" } }), "subject fails");
      denied(await attempt(policy, { claims: good, path: "mail/v1" }), "path fails");
      const r = await attempt(policy, { claims: good, method: "DELETE" });
      denied(r, "method fails");
      const cleared = await v.api("PATCH", `/tenants/${r.tid}/connections/${r.conn.id}`, { token: tenantToken(r.tid), body: { policy: null } });
      assert.equal(cleared.status, 200, show(cleared));
      const m = uniq("m");
      const res = await v.proxy(r.tid, r.conn.id, `anything-${m}`, { method: "DELETE" });
      assert.equal(res.status, 200);
      assert.equal(up.requestsMatching(m).length, 1);
    });
  });

  test("no credential anywhere: responses, logs (positive control first), D1, KV", async () => {
    await logControl(h, scan, call);
    await scan.scanD1(h.db);
    await scan.scanKv(kv);
    scan.assertClean("vault_connections");
  });
});
