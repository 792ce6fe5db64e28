// Connectors (docs/vault.md "Connectors", DESIGN §7): CRUD through the management
// API, versions draft → _publish → primary, immutability of published versions
// (409 version_immutable), rollback, global vs tenant-owned visibility, tenant tokens
// never changing a global connector, client_secret write-only (never in a response,
// only ciphertext in KV), and validation errors naming the field.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { useHarness, uniq } from "./harness.mjs";
import { startRecordingOrigin } from "./support/recording-origin.mjs";
import { SecretScan, logControl } from "./support/secret-scan.mjs";
import {
  vaultBindings, vaultKit, cpToken, tenantToken, connectorBody, apiKeyAuth, show,
  assertProblem, assertErrorPath, freshSecret,
} from "./support/vault.mjs";

const scan = new SecretScan();
const h = useHarness({ bindings: vaultBindings(), onLog: scan.onLog });
// node 22 runs a file-level before() as soon as it is registered, without waiting
// for the harness's: everything that needs the harness lives in this suite.
describe("vault connectors", () => {
  let up;
  let call;
  let v;
  before(async () => {
    up = await startRecordingOrigin();
    call = scan.client(h);
    v = vaultKit(call);
  });
  after(async () => {
    await up?.close();
  });

  const base = (p = "/v1") => `${up.url}${p}`;
  const oauth2 = (extra = {}) => ({
    type: "oauth2",
    authorization_url: "https://auth.example.com/authorize",
    token_url: "https://auth.example.com/token",
    revocation_url: "https://auth.example.com/revoke",
    scopes: ["read", "write"],
    pkce: true,
    client_auth: "client_secret_basic",
    client_id: "client-123",
    ...extra,
  });
  /** The version number of a connector's primary version, whatever the nesting. */
  const primaryOf = (c) => (typeof c.primary_version === "object" && c.primary_version !== null ? c.primary_version.version : c.primary_version);
  const idsOf = (r) => r.data.items.map((c) => c.id);
  /** A version's body fields: top level, or nested under `spec` (the contract does not fix the nesting). */
  const specOf = (ver) => (ver && typeof ver.spec === "object" && ver.spec !== null ? ver.spec : ver);

  describe("versions", () => {
    test("create → version 1 draft; _publish → primary; GET shows the primary version and its body", async () => {
      const body = connectorBody(base(), apiKeyAuth("header", "x-api-key", ""), {
        allowed_hosts: ["uploads.example.com", "*.cdn.example.com"],
        strip_response_headers: ["set-cookie", "x-internal"],
        timeout_ms: 1234,
      });
      const created = await v.createConnector(body);
      const cid = created.id;

      const v1 = await v.version(cid, 1);
      assert.equal(v1.version, 1);
      assert.equal(v1.state, "draft");
      assert.equal(specOf(v1).base_url, body.base_url);
      assert.deepEqual(specOf(v1).allowed_hosts, body.allowed_hosts);
      assert.deepEqual(specOf(v1).strip_response_headers, body.strip_response_headers);
      assert.equal(specOf(v1).timeout_ms, 1234);
      assert.equal(specOf(v1).auth.type, "api_key");
      assert.equal(specOf(v1).auth.placement, "header");
      assert.equal(specOf(v1).auth.name, "x-api-key");

      const published = await v.publish(cid, 1);
      assert.equal(published.state, "primary", show({ status: 200, text: JSON.stringify(published) }));
      assert.equal(published.version, 1);

      const got = await v.api("GET", `/connectors/${cid}`);
      assert.equal(got.status, 200, show(got));
      assert.equal(got.data.id, cid);
      assert.equal(primaryOf(got.data), 1, show(got));
      assert.ok(got.text.includes(body.base_url), "the connector shows its primary version's body");

      const versions = await v.api("GET", `/connectors/${cid}/versions`);
      assert.equal(versions.status, 200, show(versions));
      const items = versions.data.items ?? versions.data;
      assert.deepEqual(items.map((x) => [x.version, x.state]), [[1, "primary"]]);
    });

    test("defaults: strip_response_headers [set-cookie], timeout_ms 30000, allowed_hosts []", async () => {
      const c = await v.createConnector(connectorBody(base()));
      const v1 = await v.version(c.id, 1);
      assert.deepEqual(specOf(v1).strip_response_headers, ["set-cookie"]);
      assert.equal(specOf(v1).timeout_ms, 30000);
      assert.deepEqual(specOf(v1).allowed_hosts ?? [], []);
    });

    test("a draft is editable; a published version is immutable (409 version_immutable)", async () => {
      const c = await v.createConnector(connectorBody(base()));
      const patched = await v.api("PATCH", `/connectors/${c.id}/versions/1`, { body: { timeout_ms: 5000, name: "Renamed" } });
      assert.equal(patched.status, 200, show(patched));
      assert.equal(specOf(patched.data).timeout_ms, 5000);
      assert.equal(specOf(await v.version(c.id, 1)).timeout_ms, 5000, "the draft change is stored");

      await v.publish(c.id, 1);
      const again = await v.api("PATCH", `/connectors/${c.id}/versions/1`, { body: { timeout_ms: 9000 } });
      assertProblem(again, 409, "version_immutable");
      assert.equal(specOf(await v.version(c.id, 1)).timeout_ms, 5000, "the published version did not change");
    });

    test("a new version copies omitted fields from the latest; publishing it archives the unused old primary", async () => {
      const c = await v.createConnector(connectorBody(base("/v1"), apiKeyAuth("query", "key"), { allowed_hosts: ["a.example.com"], timeout_ms: 777 }));
      await v.publish(c.id, 1);
      const v2r = await v.api("POST", `/connectors/${c.id}/versions`, { body: { base_url: base("/v2") } });
      assert.equal(v2r.status, 201, show(v2r));
      assert.equal(v2r.data.version, 2);
      assert.equal(v2r.data.state, "draft");
      assert.equal(specOf(v2r.data).base_url, base("/v2"));
      assert.equal(specOf(v2r.data).timeout_ms, 777, "copied from version 1");
      assert.deepEqual(specOf(v2r.data).allowed_hosts, ["a.example.com"]);
      assert.equal(specOf(v2r.data).auth.placement, "query");

      await v.publish(c.id, 2);
      assert.equal((await v.version(c.id, 2)).state, "primary");
      assert.equal((await v.version(c.id, 1)).state, "archived", "no connection uses version 1");
      const got = await v.api("GET", `/connectors/${c.id}`);
      assert.equal(primaryOf(got.data), 2, show(got));
    });

    test("the old primary stays active while a connection uses it; rollback republishes it; new connections follow the primary", async () => {
      const tid = await v.createTenant(uniq("tcv"));
      const c = await v.createConnector(connectorBody(base("/v1")));
      await v.publish(c.id, 1);
      const conn1 = await v.connection(tid, { connector_id: c.id, credentials: { api_key: freshSecret() } });
      assert.equal(conn1.connector_version, 1);

      const v2 = await v.api("POST", `/connectors/${c.id}/versions`, { body: { base_url: base("/v2") } });
      assert.equal(v2.status, 201, show(v2));
      // A draft is not used by new connections.
      const conn1b = await v.connection(tid, { connector_id: c.id, credentials: { api_key: freshSecret() } });
      assert.equal(conn1b.connector_version, 1, "a draft does not change what new connections use");

      await v.publish(c.id, 2);
      assert.equal((await v.version(c.id, 1)).state, "active", "version 1 is still used by a connection");
      const conn2 = await v.connection(tid, { connector_id: c.id, credentials: { api_key: freshSecret() } });
      assert.equal(conn2.connector_version, 2, "new connections use the primary");
      const still = await v.api("GET", `/tenants/${tid}/connections/${conn1.id}`, { token: tenantToken(tid) });
      assert.equal(still.data.connector_version, 1, "existing connections keep their version");

      // Rollback: publish version 1 again.
      const rb = await v.publish(c.id, 1);
      assert.equal(rb.state, "primary");
      assert.equal((await v.version(c.id, 2)).state, "active", "version 2 is used by conn2");
      const got = await v.api("GET", `/connectors/${c.id}`);
      assert.equal(primaryOf(got.data), 1, show(got));
      const conn3 = await v.connection(tid, { connector_id: c.id, credentials: { api_key: freshSecret() } });
      assert.equal(conn3.connector_version, 1, "after the rollback new connections use version 1");
      // Rolled-back versions stay immutable.
      assertProblem(await v.api("PATCH", `/connectors/${c.id}/versions/2`, { body: { timeout_ms: 10 } }), 409, "version_immutable");
      assertProblem(await v.api("PATCH", `/connectors/${c.id}/versions/1`, { body: { timeout_ms: 10 } }), 409, "version_immutable");
    });

    test("an active version settles to archived once its last connection goes (delete or new primary)", async () => {
      const tid = await v.createTenant(uniq("tcv"));
      const c = await v.createConnector(connectorBody(base("/v1")));
      await v.publish(c.id, 1);
      const a = await v.connection(tid, { connector_id: c.id, credentials: { api_key: scan.addSecret(freshSecret(), "settle a") } });
      const b = await v.connection(tid, { connector_id: c.id, credentials: { api_key: scan.addSecret(freshSecret(), "settle b") } });
      assert.equal((await v.api("POST", `/connectors/${c.id}/versions`, { body: {} })).status, 201);
      await v.publish(c.id, 2);
      assert.equal((await v.version(c.id, 1)).state, "active");
      assert.equal((await v.api("DELETE", `/tenants/${tid}/connections/${a.id}`, { token: tenantToken(tid) })).status, 204);
      assert.equal((await v.version(c.id, 1)).state, "active", "b still uses version 1");
      assert.equal((await v.api("DELETE", `/tenants/${tid}/connections/${b.id}`, { token: tenantToken(tid) })).status, 204);
      assert.equal((await v.version(c.id, 1)).state, "archived", "no connection uses version 1 any more");
      assert.equal((await v.version(c.id, 2)).state, "primary", "the primary stays primary without connections");
    });

    test("publishing an archived version again makes it primary (rollback without connections)", async () => {
      const c = await v.createConnector(connectorBody(base("/v1")));
      await v.publish(c.id, 1);
      assert.equal((await v.api("POST", `/connectors/${c.id}/versions`, { body: {} })).status, 201);
      await v.publish(c.id, 2);
      assert.equal((await v.version(c.id, 1)).state, "archived");
      await v.publish(c.id, 1);
      assert.equal((await v.version(c.id, 1)).state, "primary");
      assert.equal((await v.version(c.id, 2)).state, "archived");
    });

    test("unknown connector / version → 404", async () => {
      assertProblem(await v.api("GET", `/connectors/cn_${uniq("nope")}`), 404, "not_found");
      const c = await v.createConnector(connectorBody(base()));
      assertProblem(await v.api("GET", `/connectors/${c.id}/versions/9`), 404, "not_found");
      assertProblem(await v.api("POST", `/connectors/${c.id}/versions/9/_publish`), 404, "not_found");
      assertProblem(await v.api("PATCH", `/connectors/${c.id}/versions/9`, { body: { timeout_ms: 5 } }), 404, "not_found");
    });

    test("DELETE: 409 while a connection uses the connector, 204 once none does", async () => {
      const tid = await v.createTenant(uniq("tcd"));
      const c = await v.createConnector(connectorBody(base()));
      await v.publish(c.id, 1);
      const conn = await v.connection(tid, { connector_id: c.id, credentials: { api_key: freshSecret() } });
      // 409; the contract fixes no code for this case.
      assertProblem(await v.api("DELETE", `/connectors/${c.id}`), 409);
      assert.equal((await v.api("GET", `/connectors/${c.id}`)).status, 200, "still there");
      const del = await v.api("DELETE", `/tenants/${tid}/connections/${conn.id}`, { token: tenantToken(tid) });
      assert.equal(del.status, 204, show(del));
      const ok = await v.api("DELETE", `/connectors/${c.id}`);
      assert.equal(ok.status, 204, show(ok));
      assertProblem(await v.api("GET", `/connectors/${c.id}`), 404, "not_found");
    });

    test("scopes: connectors:read cannot write; no token → 401", async () => {
      const readOnly = cpToken({ scope: "connectors:read" });
      assertProblem(await v.api("POST", "/connectors", { token: readOnly, body: connectorBody(base()) }), 403, "insufficient_scope");
      const c = await v.createConnector(connectorBody(base()));
      assertProblem(await v.api("POST", `/connectors/${c.id}/versions/1/_publish`, { token: readOnly }), 403, "insufficient_scope");
      assert.equal((await v.api("GET", `/connectors/${c.id}`, { token: readOnly })).status, 200);
      assertProblem(await v.api("GET", "/connectors", { token: cpToken({ scope: "connections:read" }) }), 403, "insufficient_scope");
      assertProblem(await v.api("GET", "/connectors", { token: null }), 401, "unauthorized");
    });
  });

  describe("global and tenant-owned connectors", () => {
    let ta, tb, g, oa, ob;
    before(async () => {
      ta = await v.createTenant(uniq("tga"));
      tb = await v.createTenant(uniq("tgb"));
      g = await v.connector(connectorBody(base("/global")));
      oa = await v.connector(connectorBody(base("/a")), { token: tenantToken(ta) });
      ob = await v.connector(connectorBody(base("/b")), { token: tenantToken(tb) });
    });

    test("a tenant lists global connectors and its own, never another tenant's", async () => {
      const ra = await v.api("GET", "/connectors?limit=200", { token: tenantToken(ta) });
      assert.equal(ra.status, 200, show(ra));
      assert.ok(idsOf(ra).includes(g), "global connector listed");
      assert.ok(idsOf(ra).includes(oa), "own connector listed");
      assert.ok(!idsOf(ra).includes(ob), "another tenant's connector is not listed");
      assert.ok(!ra.text.includes("/b\""), "nothing of tenant b's connector shows");
      const rb = await v.api("GET", "/connectors?limit=200", { token: tenantToken(tb) });
      assert.ok(idsOf(rb).includes(g) && idsOf(rb).includes(ob) && !idsOf(rb).includes(oa));
    });

    test("the control plane lists every connector, paged", async () => {
      const seen = new Set();
      let cursor = null;
      for (let i = 0; i < 100; i++) {
        const r = await v.api("GET", `/connectors?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
        assert.equal(r.status, 200, show(r));
        assert.ok(r.data.items.length <= 2);
        for (const id of idsOf(r)) {
          assert.ok(!seen.has(id), `no connector twice across pages (${id})`);
          seen.add(id);
        }
        cursor = r.data.next_cursor;
        if (!cursor) break;
      }
      for (const id of [g, oa, ob]) assert.ok(seen.has(id), `${id} listed for the control plane`);
      assertErrorPath(await v.api("GET", "/connectors?limit=0"), "limit");
    });

    test("another tenant's connector is 404 for every operation", async () => {
      const tok = tenantToken(ta);
      const ops = [
        ["GET", `/connectors/${ob}`],
        ["GET", `/connectors/${ob}/versions`],
        ["GET", `/connectors/${ob}/versions/1`],
        ["POST", `/connectors/${ob}/versions`, {}],
        ["PATCH", `/connectors/${ob}/versions/1`, { timeout_ms: 5 }],
        ["POST", `/connectors/${ob}/versions/1/_publish`],
        ["DELETE", `/connectors/${ob}`],
      ];
      for (const [method, path, body] of ops) {
        const r = await v.api(method, path, { token: tok, ...(body !== undefined ? { body } : {}) });
        assertProblem(r, 404, "not_found");
        assert.ok(!r.text.includes("/b\""), `${method} ${path} shows nothing of it`);
      }
      assert.equal((await v.api("GET", `/connectors/${ob}`)).status, 200, "it still exists (control plane sees it)");
      assert.equal((await v.version(ob, 1)).state, "primary", "and it was not changed");
    });

    test("a tenant reads a global connector but cannot change it (403 forbidden)", async () => {
      const tok = tenantToken(ta);
      const got = await v.api("GET", `/connectors/${g}`, { token: tok });
      assert.equal(got.status, 200, show(got));
      assert.equal((await v.api("GET", `/connectors/${g}/versions/1`, { token: tok })).status, 200);
      // A draft of the global connector for the PATCH case.
      const draft = await v.api("POST", `/connectors/${g}/versions`, { body: {} });
      assert.equal(draft.status, 201, show(draft));
      const ops = [
        ["POST", `/connectors/${g}/versions`, {}],
        ["PATCH", `/connectors/${g}/versions/${draft.data.version}`, { timeout_ms: 5 }],
        ["POST", `/connectors/${g}/versions/${draft.data.version}/_publish`],
        ["POST", `/connectors/${g}/versions/1/_publish`],
        ["DELETE", `/connectors/${g}`],
      ];
      for (const [method, path, body] of ops) {
        assertProblem(await v.api(method, path, { token: tok, ...(body !== undefined ? { body } : {}) }), 403, "forbidden");
      }
      assert.equal((await v.version(g, draft.data.version)).state, "draft", "the draft was not published");
      assert.notEqual(specOf(await v.version(g, draft.data.version)).timeout_ms, 5, "nor patched");
      assert.equal(primaryOf((await v.api("GET", `/connectors/${g}`)).data), 1);
      assert.equal((await v.api("GET", `/connectors/${g}`)).status, 200, "not deleted");
    });

    test("a tenant manages its own connector's versions", async () => {
      const tok = tenantToken(ta);
      const r = await v.api("POST", `/connectors/${oa}/versions`, { token: tok, body: { timeout_ms: 4321 } });
      assert.equal(r.status, 201, show(r));
      const pub = await v.api("POST", `/connectors/${oa}/versions/${r.data.version}/_publish`, { token: tok });
      assert.equal(pub.status, 200, show(pub));
      assert.equal(pub.data.state, "primary");
    });

    test("tenant-owned connectors meet the tenant target rules (base_url to a private address → 400 base_url)", async () => {
      const tok = tenantToken(ta);
      for (const bu of ["https://10.1.2.3/v1", "https://192.168.0.10/", "https://169.254.169.254/latest", `https://${"cp.test"}/api/v1`]) {
        assertErrorPath(await v.api("POST", "/connectors", { token: tok, body: connectorBody(bu) }), "base_url");
      }
      // The control plane is trusted with a private https target.
      assert.equal((await v.api("POST", "/connectors", { body: connectorBody("https://10.1.2.3/v1") })).status, 201);
    });
  });

  describe("client_secret is write-only", () => {
    test("never in any response; client_secret_set shows; only ciphertext in KV (global: filed under the control-plane tenant)", async () => {
      const secret = scan.addSecret(freshSecret("cs_"), "client_secret");
      const created = await v.api("POST", "/connectors", { body: connectorBody("https://api.example.com/v1", oauth2({ client_secret: secret })) });
      assert.equal(created.status, 201, show(created));
      const cid = created.data.id;
      const reads = [
        created,
        await v.api("GET", `/connectors/${cid}`),
        await v.api("GET", "/connectors?limit=200"),
        await v.api("GET", `/connectors/${cid}/versions`),
        await v.api("GET", `/connectors/${cid}/versions/1`),
        await v.api("PATCH", `/connectors/${cid}/versions/1`, { body: { name: "renamed" } }),
        await v.api("POST", `/connectors/${cid}/versions/1/_publish`),
      ];
      for (const r of reads) {
        assert.ok(r.status < 300, show(r));
        assert.ok(!r.text.includes(secret), "no client secret in a response");
        assert.ok(!/"client_secret"\s*:/.test(r.text), "no client_secret field in a response");
      }
      const kv = await h.mf.getKVNamespace("VAULT", "portico");
      const keys = (await kv.list({ prefix: "v1/control_plane/connector-client-secret/" })).keys.map((k) => k.name);
      const mine = keys.filter((k) => k.includes(cid));
      assert.equal(mine.length, 1, `one client-secret record for ${cid} in ${JSON.stringify(keys)}`);
      const { value, metadata } = await kv.getWithMetadata(mine[0]);
      assert.ok(!value.includes(secret), "KV holds ciphertext");
      const env = JSON.parse(value);
      assert.equal(env.v, 1);
      assert.equal(typeof env.n, "string");
      assert.equal(typeof env.c, "string");
      assert.equal(metadata?.kid, env.kid, "KV metadata carries the kid");
      assert.equal(env.kid, "t1");
      // And every connector response says that a secret is set.
      for (const [what, r] of [["GET connector", reads[1]], ["GET version", reads[4]], ["PATCH version", reads[5]], ["publish", reads[6]]]) {
        assert.match(r.text, /"client_secret_set"\s*:\s*true/, `${what}: client_secret_set shown: ${show(r)}`);
      }
    });

    test("a tenant-owned OAuth2 connector's secret is filed under that tenant", async () => {
      const tid = await v.createTenant(uniq("tcs"));
      const secret = scan.addSecret(freshSecret("cs_"), "tenant client_secret");
      const r = await v.api("POST", "/connectors", { token: tenantToken(tid), body: connectorBody("https://api.example.com/v1", oauth2({ client_secret: secret })) });
      assert.equal(r.status, 201, show(r));
      assert.ok(!r.text.includes(secret));
      const kv = await h.mf.getKVNamespace("VAULT", "portico");
      const keys = (await kv.list({ prefix: `v1/${tid}/connector-client-secret/` })).keys.map((k) => k.name);
      assert.equal(keys.filter((k) => k.includes(r.data.id)).length, 1, JSON.stringify(keys));
      const cpKeys = (await kv.list({ prefix: "v1/control_plane/connector-client-secret/" })).keys.map((k) => k.name);
      assert.ok(!cpKeys.some((k) => k.includes(r.data.id)), "not under the control plane");
    });

    test("client_secret is required unless client_auth is none; refused with client_auth none", async () => {
      assertErrorPath(await v.api("POST", "/connectors", { body: connectorBody("https://api.example.com/", oauth2()) }), "auth.client_secret");
      assertErrorPath(await v.api("POST", "/connectors", { body: connectorBody("https://api.example.com/", oauth2({ client_auth: "client_secret_post" })) }), "auth.client_secret");
      const pub = await v.api("POST", "/connectors", { body: connectorBody("https://api.example.com/", oauth2({ client_auth: "none" })) });
      assert.equal(pub.status, 201, show(pub));
      assert.doesNotMatch(pub.text, /"client_secret_set"\s*:\s*true/);
    });
  });

  describe("validation errors name the field", () => {
    const cases = {
      "base_url not a URL": [{ base_url: "not a url" }, "base_url"],
      "base_url ftp": [{ base_url: "ftp://api.example.com/" }, "base_url"],
      "base_url with a query": [{ base_url: "https://api.example.com/v1?x=1" }, "base_url"],
      "base_url with a fragment": [{ base_url: "https://api.example.com/v1#f" }, "base_url"],
      "base_url http to a public host": [{ base_url: "http://api.example.com/v1" }, "base_url"],
      "base_url http to a non-listed loopback": [{ base_url: "http://127.0.0.2:8080/v1" }, "base_url"],
      "base_url with userinfo": [{ base_url: "https://user:pw@api.example.com/v1" }, "base_url"],
      "name empty": [{ name: "" }, "name"],
      "timeout_ms 0": [{ timeout_ms: 0 }, "timeout_ms"],
      "timeout_ms above 300000": [{ timeout_ms: 300001 }, "timeout_ms"],
      "allowed_hosts with a bare *": [{ allowed_hosts: ["*"] }, "allowed_hosts[0]"],
      "allowed_hosts with a URL": [{ allowed_hosts: ["ok.example.com", "https://x.example.com/"] }, "allowed_hosts[1]"],
      "allowed_hosts with a space": [{ allowed_hosts: ["bad host"] }, "allowed_hosts[0]"],
      "strip_response_headers invalid name": [{ strip_response_headers: ["bad header"] }, "strip_response_headers[0]"],
      "unknown auth type": [{ auth: { type: "magic" } }, "auth.type"],
      "api_key placement cookie": [{ auth: apiKeyAuth("cookie", "k") }, "auth.placement"],
      "api_key empty name": [{ auth: apiKeyAuth("header", "") }, "auth.name"],
      "api_key header name invalid": [{ auth: apiKeyAuth("header", "x api key") }, "auth.name"],
      "api_key prefix with a newline": [{ auth: apiKeyAuth("header", "authorization", "Bearer\n") }, "auth.prefix"],
      "basic with options": [{ auth: { type: "basic", name: "x" } }, "auth.name"],
      "oauth2 token_url relative": [{ auth: oauth2({ client_secret: "s3cret-value", token_url: "/token" }) }, "auth.token_url"],
      "oauth2 authorization_url http": [{ auth: oauth2({ client_secret: "s3cret-value", authorization_url: "http://auth.example.com/a" }) }, "auth.authorization_url"],
      "oauth2 client_auth unknown": [{ auth: oauth2({ client_secret: "s3cret-value", client_auth: "private_key_jwt" }) }, "auth.client_auth"],
      "unknown top-level field": [{ bogus: 1 }, "bogus"],
    };
    for (const [name, [patch, path]] of Object.entries(cases)) {
      test(`${name} → 400 at ${path}`, async () => {
        const body = { ...connectorBody("https://api.example.com/v1"), ...patch };
        const r = await v.api("POST", "/connectors", { body });
        assertErrorPath(r, path);
        // The same on a draft patch.
        if (!("bogus" in patch)) {
          const c = await v.createConnector(connectorBody("https://api.example.com/v1"));
          assertErrorPath(await v.api("PATCH", `/connectors/${c.id}/versions/1`, { body: patch }), path);
        }
      });
    }

    test("every error is listed, each with its path", async () => {
      const r = await v.api("POST", "/connectors", { body: { name: "", base_url: "ftp://x", timeout_ms: -1, auth: { type: "api_key", placement: "nowhere", name: "k" } } });
      assertProblem(r, 400, "validation_failed");
      const paths = r.data.errors.map((e) => e.path);
      for (const p of ["name", "base_url", "timeout_ms", "auth.placement"]) assert.ok(paths.includes(p), `${p} in ${JSON.stringify(paths)}`);
    });

    test("nothing half-written: a refused create leaves no connector", async () => {
      const name = `refused-${uniq()}`;
      assertErrorPath(await v.api("POST", "/connectors", { body: { ...connectorBody("ftp://x"), name } }), "base_url");
      const all = await v.api("GET", "/connectors?limit=200");
      assert.ok(!all.text.includes(name));
    });
  });

  test("no credential anywhere: responses, logs (positive control first), D1, KV", async () => {
    await logControl(h, scan, call);
    await scan.scanD1(h.db);
    await scan.scanKv(await h.mf.getKVNamespace("VAULT", "portico"));
    scan.assertClean("vault_connectors");
  });
});
