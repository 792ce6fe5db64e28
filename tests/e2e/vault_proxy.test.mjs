// The outbound proxy (docs/vault.md "The proxy endpoint", "The `credentials` route
// handler", "Audit"; DESIGN §7): every auth kind and placement checked at a recording
// origin; what the caller sends that must not be forwarded; redirects returned, never
// followed; response header stripping; an "elsewhere" origin (another loopback
// address) that must never receive anything through path tricks, Host overrides,
// redirects or a `credentials` route pointed at it; ciphertexts copied between KV
// records and tampered envelopes failing closed with nothing sent; the vault switched
// off by a missing or malformed key ring; audit rows of proxied calls.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { Readable } from "node:stream";
import { useHarness, uniq, rawHttpRequest, TEST_VAULT_KEYS } from "./harness.mjs";
import { startRecordingOrigin } from "./support/recording-origin.mjs";
import { SecretScan, logControl } from "./support/secret-scan.mjs";
import { makeKey, signJwt, now } from "./support/tokens.mjs";
import {
  CP, vaultBindings, vaultKit, cpToken, tenantToken, connectorBody, apiKeyAuth, show,
  assertProblem, assertErrorPath, freshSecret, liveSecret, expectCode, eventually, ringKey,
} from "./support/vault.mjs";

const NOVAULT = "portico-novault";
const SLOWPATH = "portico-slowpath";
const BADRINGS = {
  "portico-ring-notjson": "{not json",
  "portico-ring-shortkey": JSON.stringify({ active: "s1", keys: { s1: Buffer.alloc(16, 1).toString("base64") } }),
  "portico-ring-noactive": JSON.stringify({ active: "zz", keys: { t1: Buffer.from("portico-e2e-test-vault-key-00001").toString("base64") } }),
  "portico-ring-empty": "",
};

const scan = new SecretScan();
const h = useHarness({
  bindings: vaultBindings({ PORTICO_DEBUG_HEADERS: "true" }),
  onLog: scan.onLog,
  extraWorkers: ({ porticoWorker }) => [
    // Every request on the workers-rs path (the default worker takes the lean JS
    // entry for warm hosts).
    porticoWorker(SLOWPATH, vaultBindings({ PORTICO_FAST_PATH: "off", PORTICO_DEBUG_HEADERS: "true", PORTICO_VAULT_KEYS: TEST_VAULT_KEYS })),
    // The same build, D1 and KV, without a key ring / with broken ones.
    porticoWorker(NOVAULT, vaultBindings()),
    ...Object.entries(BADRINGS).map(([name, ringJson]) => porticoWorker(name, vaultBindings({ PORTICO_VAULT_KEYS: ringJson }))),
  ],
});

// node 22 runs a file-level before() as soon as it is registered, without waiting
// for the harness's: everything that needs the harness lives in this suite.
describe("vault proxy", () => {
  let up; // the third-party API stand-in (127.0.0.1)
  let elsewhere; // must never receive anything (127.0.0.2)
  let call;
  let v;
  let kv;
  before(async () => {
    up = await startRecordingOrigin({ name: "upstream" });
    elsewhere = await startRecordingOrigin({ host: "127.0.0.2", name: "elsewhere" });
    call = scan.client(h);
    v = vaultKit(call);
    kv = await h.mf.getKVNamespace("VAULT", "portico");
  });
  after(async () => {
    await Promise.allSettled([up?.close(), elsewhere?.close()]);
  });

  /** Fresh tenant + connector (global, published) + connection; returns everything. */
  async function setup(auth = apiKeyAuth(), { base = `${up.url}/v1`, connector = {}, credentials, policy, tid } = {}) {
    tid ??= await v.createTenant(uniq("tpx"));
    const cid = await v.connector(connectorBody(base, auth, connector));
    let secret = null;
    let creds = credentials;
    if (creds === undefined && auth.type === "api_key") {
      secret = scan.addSecret(freshSecret(), "api key");
      creds = { api_key: secret };
    }
    if (creds === undefined && auth.type === "basic") {
      secret = scan.addSecret(freshSecret("pw_"), "basic password");
      creds = { username: "svc-user", password: secret };
      scan.addSecret(`svc-user:${secret}`, "basic pair");
    }
    const conn = await v.connection(tid, { connector_id: cid, ...(creds ? { credentials: creds } : {}), ...(policy ? { policy } : {}) });
    return { tid, cid, conn, secret, token: tenantToken(tid) };
  }
  /** Reads a raw (Node) response whole into the scan. */
  const recordRaw = async (label, res) => {
    const chunks = [];
    for await (const c of res) chunks.push(c);
    const body = Buffer.concat(chunks).toString();
    scan.record(label, { status: res.statusCode, headers: res.headers, body });
    return body;
  };
  const marker = () => `m${crypto.randomBytes(6).toString("hex")}`;
  const noLeak = (res, secret) => {
    if (!secret) return;
    for (const [k, val] of res.headers) assert.ok(!val.includes(secret), `response header ${k} carries no secret`);
  };

  describe("round trip per auth kind and placement", () => {
    test("header with a prefix: Authorization: Bearer <key>, the caller's Authorization replaced", async () => {
      const s = await setup(apiKeyAuth("header", "authorization", "Bearer "));
      const m = marker();
      const res = await v.proxy(s.tid, s.conn.id, `calendar/v3/${m}?a=1&b=two`);
      assert.equal(res.status, 200, await res.clone().text());
      noLeak(res, s.secret);
      const got = up.last(m);
      assert.ok(got, "the origin received the call");
      assert.equal(got.method, "GET");
      assert.equal(got.path, `/v1/calendar/v3/${m}`, "base_url path + canonical path");
      assert.equal(got.query, "a=1&b=two", "query kept");
      assert.equal(got.headers.authorization, `Bearer ${s.secret}`, "exactly one Authorization: the stored key");
      assert.equal(got.headers.host, `127.0.0.1:${up.port}`);
      assert.equal((await res.json()).origin, "upstream", "the origin's body comes back");
    });

    test("header without a prefix (x-api-key); a caller's x-api-key is replaced", async () => {
      const s = await setup(apiKeyAuth("header", "x-api-key", ""));
      const m = marker();
      const res = await v.proxy(s.tid, s.conn.id, `items/${m}`, { headers: { "x-api-key": "caller-supplied-key" } });
      assert.equal(res.status, 200);
      const got = up.last(m);
      assert.equal(got.headers["x-api-key"], s.secret);
      assert.ok(!JSON.stringify(got.rawHeaders).includes("caller-supplied-key"));
      assert.equal(got.headers.authorization, undefined, "the caller's Portico token is not forwarded");
    });

    test("query: the key as a parameter (encoded), the caller's same-named parameter replaced, others kept", async () => {
      const secret = scan.addSecret(`sk q&x=1+2 %/${crypto.randomBytes(6).toString("hex")}`, "query key with specials");
      const s = await setup(apiKeyAuth("query", "api_key"), { credentials: { api_key: secret } });
      const m = marker();
      const res = await v.proxy(s.tid, s.conn.id, `search/${m}?q=hello%20world&api_key=caller-supplied&z=9`);
      assert.equal(res.status, 200);
      const got = up.last(m);
      const params = new URLSearchParams(got.query);
      assert.deepEqual(params.getAll("api_key"), [secret], `one api_key, the stored one (query ${got.query})`);
      assert.equal(params.get("q"), "hello world");
      assert.equal(params.get("z"), "9");
      assert.equal(params.get("x"), null, "the key's & and = did not split into parameters");
      assert.ok(!got.url.includes("caller-supplied"));
    });

    test("body, JSON: the key as a top-level field, the caller's field replaced, the rest kept", async () => {
      const s = await setup(apiKeyAuth("body", "api_key"));
      const m = marker();
      const res = await v.proxy(s.tid, s.conn.id, `send/${m}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: "hi", nested: { api_key: "inner-untouched" }, api_key: "caller-supplied", n: 3 }),
      });
      assert.equal(res.status, 200);
      const got = up.last(m);
      assert.equal(got.method, "POST");
      assert.match(got.headers["content-type"], /^application\/json/);
      const body = JSON.parse(got.bodyText);
      assert.deepEqual(body, { text: "hi", nested: { api_key: "inner-untouched" }, api_key: s.secret, n: 3 });
      assert.equal(Number(got.headers["content-length"] ?? got.body.length), got.body.length, "content-length matches the new body");
    });

    test("body, form: the key as a field, the caller's field replaced", async () => {
      const s = await setup(apiKeyAuth("body", "api_key"));
      const m = marker();
      const res = await v.proxy(s.tid, s.conn.id, `form/${m}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "a=1&api_key=caller-supplied&b=x%20y",
      });
      assert.equal(res.status, 200);
      const got = up.last(m);
      const f = new URLSearchParams(got.bodyText);
      assert.deepEqual(f.getAll("api_key"), [s.secret]);
      assert.equal(f.get("a"), "1");
      assert.equal(f.get("b"), "x y");
    });

    test("body placement: over 1 MiB → 413 payload_too_large (also chunked), other types → 415; nothing sent", async () => {
      const s = await setup(apiKeyAuth("body", "api_key"));
      const m1 = marker();
      const big = JSON.stringify({ pad: "x".repeat(1024 * 1024) });
      await expectCode(await v.proxy(s.tid, s.conn.id, `big/${m1}`, { method: "POST", headers: { "content-type": "application/json" }, body: big }), 413, "payload_too_large");
      const m2 = marker();
      const chunks = async function* () {
        yield '{"pad":"';
        for (let i = 0; i < 17; i++) yield "y".repeat(64 * 1024);
        yield '"}';
      };
      await expectCode(
        await v.proxy(s.tid, s.conn.id, `chunked/${m2}`, { method: "POST", headers: { "content-type": "application/json" }, body: Readable.from(chunks()) }),
        413,
        "payload_too_large",
      );
      const m3 = marker();
      await expectCode(await v.proxy(s.tid, s.conn.id, `text/${m3}`, { method: "POST", headers: { "content-type": "text/plain" }, body: "api_key=1" }), 415, "unsupported_media_type");
      for (const m of [m1, m2, m3]) assert.equal(up.requestsMatching(m).length, 0, "nothing sent");
      // Just under the cap passes.
      const m4 = marker();
      const ok = JSON.stringify({ pad: "z".repeat(1024 * 1024 - 200) });
      const res = await v.proxy(s.tid, s.conn.id, `under/${m4}`, { method: "POST", headers: { "content-type": "application/json" }, body: ok });
      assert.equal(res.status, 200);
      assert.equal(JSON.parse(up.last(m4).bodyText).api_key, s.secret);
    });

    test("body placement: a body that cannot carry the key (JSON array, malformed JSON, none at all) is refused with a 4xx; nothing sent", async () => {
      const s = await setup(apiKeyAuth("body", "api_key"));
      for (const [what, init] of [
        ["JSON array", { method: "POST", headers: { "content-type": "application/json" }, body: "[1,2]" }],
        ["malformed JSON", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" }],
        ["malformed form", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: Buffer.from([0xff, 0xfe, 0x3d, 0x31]) }],
        ["no body", { method: "GET" }],
      ]) {
        const m = marker();
        const res = await v.proxy(s.tid, s.conn.id, `refused-${m}`, init);
        const text = await res.text();
        assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status} ${res.headers.get("x-portico-error")} ${text.slice(0, 100)}`);
        assert.ok(res.headers.get("x-portico-error"), `${what}: a Portico error code`);
        assert.equal(up.requestsMatching(m).length, 0, `${what}: nothing sent`);
      }
    });

    test("basic: Authorization: Basic base64(username:password)", async () => {
      const s = await setup({ type: "basic" });
      const m = marker();
      const res = await v.proxy(s.tid, s.conn.id, `me/${m}`, { headers: { "x-other": "1" } });
      assert.equal(res.status, 200);
      noLeak(res, s.secret);
      assert.equal(up.last(m).headers.authorization, `Basic ${Buffer.from(`svc-user:${s.secret}`).toString("base64")}`);
    });

    test("none: nothing injected, nothing of the caller's credentials forwarded", async () => {
      const s = await setup({ type: "none" });
      const m = marker();
      const res = await v.proxy(s.tid, s.conn.id, `public/${m}`, { headers: { cookie: "sid=abc" } });
      assert.equal(res.status, 200);
      const got = up.last(m);
      assert.equal(got.headers.authorization, undefined);
      assert.equal(got.headers.cookie, undefined);
    });

    test("other bodies stream untouched both ways (header placement, 3 MiB)", async () => {
      const s = await setup(apiKeyAuth());
      const m = marker();
      const data = crypto.randomBytes(3 * 1024 * 1024);
      const res = await v.proxy(s.tid, s.conn.id, `upload/${m}`, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: data });
      assert.equal(res.status, 200);
      const got = up.last(m);
      assert.equal(got.body.length, data.length);
      assert.ok(got.body.equals(data), "bytes unchanged");
      up.on(`download-${m}`, { body: data, headers: { "content-type": "application/octet-stream" } });
      const dl = await v.proxy(s.tid, s.conn.id, `download-${m}`);
      assert.equal(dl.status, 200);
      assert.ok(Buffer.from(await dl.arrayBuffer()).equals(data));
    });

    test("base_url with a trailing slash and without a path join cleanly", async () => {
      for (const [base, want] of [[`${up.url}/v2/`, "/v2/x/"], [up.url, "/x/"]]) {
        const s = await setup(apiKeyAuth(), { base });
        const m = marker();
        assert.equal((await v.proxy(s.tid, s.conn.id, `x//${m}`)).status, 200);
        assert.equal(up.last(m).path, `${want}${m}`, `${base}: runs of / merged, no double slash`);
      }
    });
  });

  describe("methods and callers", () => {
    test("HEAD and OPTIONS go through with the credential", async () => {
      const s = await setup(apiKeyAuth());
      for (const method of ["HEAD", "OPTIONS", "PATCH", "DELETE"]) {
        const m = marker();
        const res = await v.proxy(s.tid, s.conn.id, `${method.toLowerCase()}-${m}`, { method });
        assert.equal(res.status, 200, method);
        await res.text();
        assert.equal(up.last(m).method, method);
        assert.equal(up.last(m).headers["x-api-key"], s.secret, method);
      }
    });

    test("a control-plane token may proxy a tenant's connection; the audit row names its sub", async () => {
      const s = await setup(apiKeyAuth());
      const m = marker();
      const res = await v.proxy(s.tid, s.conn.id, `cp-${m}`, { token: cpToken({ sub: "operator-proxy" }) });
      assert.equal(res.status, 200);
      assert.equal(up.last(m).headers["x-api-key"], s.secret);
      const rows = await eventually(async () => {
        const r = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy&connection_id=${s.conn.id}`);
        return r.data?.items?.length ? r.data.items : null;
      });
      assert.ok(rows);
      assert.equal(rows[0].actor, "operator-proxy");
    });
  });

  describe("what is not forwarded", () => {
    test("caller Authorization, Cookie, Proxy-*, Forwarded, X-Forwarded-*, X-Real-IP, CF-*, X-Portico-*, hop-by-hop; other headers pass", async () => {
      const s = await setup(apiKeyAuth());
      const m = marker();
      const headers = {
        cookie: "session=caller-cookie-value",
        "proxy-authorization": "Basic cHJveHk6cHc=",
        "proxy-foo": "1",
        forwarded: "for=203.0.113.9;host=evil.test;proto=http",
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-host": "evil.test",
        "x-forwarded-proto": "http",
        "x-forwarded-port": "81",
        "x-real-ip": "203.0.113.9",
        "cf-connecting-ip": "203.0.113.9",
        "cf-worker": "evil",
        "x-portico-debug": "1",
        "x-portico-tenant": "other",
        connection: "x-hop-custom",
        "x-hop-custom": "1",
        "keep-alive": "timeout=5",
        te: "trailers",
        "x-custom-ok": "kept",
        accept: "application/json",
      };
      const res = await v.proxy(s.tid, s.conn.id, `h/${m}`, { headers });
      assert.equal(res.status, 200);
      const got = up.last(m);
      const names = Object.keys(got.headers);
      // workerd itself sets CF-Worker on every subrequest (its own zone): only the
      // caller's value must not get through.
      const forwarded = [
        "authorization", "cookie", "proxy-authorization", "proxy-foo", "forwarded", "x-forwarded-for", "x-forwarded-host",
        "x-forwarded-proto", "x-forwarded-port", "x-real-ip", "cf-connecting-ip", "x-portico-debug",
        "x-portico-tenant", "x-hop-custom", "keep-alive", "te",
      ].filter((n) => names.includes(n));
      assert.deepEqual(forwarded, [], `not forwarded (origin got ${JSON.stringify(got.headers)})`);
      assert.notEqual(got.headers["cf-worker"], "evil", "the caller's CF-Worker is not forwarded");
      assert.equal(got.headers["x-custom-ok"], "kept");
      assert.equal(got.headers.accept, "application/json");
      assert.equal(got.headers["x-api-key"], s.secret);
      assert.equal(got.headers.host, `127.0.0.1:${up.port}`, "Host is the upstream's");
      assert.ok(!JSON.stringify(got.rawHeaders).includes("evil.test"));
    });
  });

  describe("responses", () => {
    test("redirects are returned as they are, never followed (elsewhere receives nothing)", async () => {
      const s = await setup(apiKeyAuth());
      for (const status of [301, 302, 303, 307, 308]) {
        const m = marker();
        const location = `${elsewhere.url}/steal-${m}`;
        up.on(`redir-${m}`, { status, location, body: "moved" });
        const res = await v.proxy(s.tid, s.conn.id, `redir-${m}`, status >= 307 ? { method: "POST", headers: { "content-type": "application/json" }, body: "{}" } : {});
        assert.equal(res.status, status);
        assert.equal(res.headers.get("location"), location, "Location unchanged");
        await res.text();
      }
      const m = marker();
      up.on(`rel-${m}`, { status: 302, location: "/v1/next?x=1" });
      const rel = await v.proxy(s.tid, s.conn.id, `rel-${m}`);
      assert.equal(rel.status, 302);
      assert.equal(rel.headers.get("location"), "/v1/next?x=1");
      assert.equal(elsewhere.requests.length, 0, "nothing ever reached elsewhere");
    });

    test("strip_response_headers (set-cookie by default) and hop-by-hop response headers are removed; statuses pass through", async () => {
      const s = await setup(apiKeyAuth());
      const m = marker();
      up.on(`cookie-${m}`, { headers: { "set-cookie": ["a=1; Path=/", "b=2"], "x-kept": "yes", "x-hop-resp": "1", connection: "x-hop-resp", "proxy-authenticate": "Basic realm=x" }, body: "ok" });
      const res = await v.proxy(s.tid, s.conn.id, `cookie-${m}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("set-cookie"), null, "set-cookie stripped by default");
      assert.equal(res.headers.get("x-kept"), "yes");
      assert.equal(res.headers.get("x-hop-resp"), null, "a header named in Connection is hop-by-hop");
      assert.equal(res.headers.get("proxy-authenticate"), null);
      assert.equal(await res.text(), "ok");

      const s2 = await setup(apiKeyAuth(), { connector: { strip_response_headers: ["x-internal", "server-timing"] } });
      const m2 = marker();
      up.on(`strip-${m2}`, { headers: { "x-internal": "secret-topology", "server-timing": "db;dur=5", "set-cookie": "c=3", "x-kept": "yes" } });
      const r2 = await v.proxy(s2.tid, s2.conn.id, `strip-${m2}`);
      assert.equal(r2.headers.get("x-internal"), null);
      assert.equal(r2.headers.get("server-timing"), null);
      assert.equal(r2.headers.get("set-cookie"), "c=3", "set-cookie kept when the list replaces the default");
      assert.equal(r2.headers.get("x-kept"), "yes");

      for (const status of [201, 404, 418, 500, 503]) {
        const ms = marker();
        up.on(`status-${ms}`, { status, body: `origin says ${status}` });
        const r = await v.proxy(s.tid, s.conn.id, `status-${ms}`);
        assert.equal(r.status, status);
        assert.equal(r.headers.get("x-portico-error"), null, "an upstream status is not a Portico error");
        assert.equal(await r.text(), `origin says ${status}`);
      }
    });

    test("upstream failures: 502 proxy_failed (refused), 504 proxy_timeout (timeout_ms)", async () => {
      const closed = await startRecordingOrigin();
      const deadBase = `${closed.url}/v1`;
      await closed.close();
      const s = await setup(apiKeyAuth(), { base: deadBase });
      await expectCode(await v.proxy(s.tid, s.conn.id, "x"), 502, "proxy_failed");
      const s2 = await setup(apiKeyAuth(), { connector: { timeout_ms: 400 } });
      const m = marker();
      up.on(`slow-${m}`, { delayMs: 2500 });
      const t0 = Date.now();
      await expectCode(await v.proxy(s2.tid, s2.conn.id, `slow-${m}`), 504, "proxy_timeout");
      assert.ok(Date.now() - t0 < 2400, "answered at the timeout, not when the origin did");
    });

    test("failures never leak a key placed in the query (response, error text, logs)", async () => {
      const closed = await startRecordingOrigin();
      const deadBase = `${closed.url}/v1`;
      await closed.close();
      const s = await setup(apiKeyAuth("query", "api_key"), { base: deadBase });
      const logsBefore = scan.logs.length;
      const failed = await v.proxy(s.tid, s.conn.id, "q-fail?x=1");
      const text = await expectCode(failed, 502, "proxy_failed");
      assert.ok(!text.includes(s.secret), "not in the error text");
      const s2 = await setup(apiKeyAuth("query", "api_key"), { connector: { timeout_ms: 300 } });
      const m = marker();
      up.on(`qslow-${m}`, { delayMs: 2000 });
      const t2 = await expectCode(await v.proxy(s2.tid, s2.conn.id, `qslow-${m}`), 504, "proxy_timeout");
      assert.ok(!t2.includes(s2.secret));
      // Whatever was logged about these failures carries no key (the final scan
      // checks every line too).
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(scan.logs.length > logsBefore, "the failures were logged (so this check sees something)");
      for (const l of scan.logs.slice(logsBefore)) {
        assert.ok(!l.message.includes(s.secret) && !l.message.includes(s2.secret), `log line without the key: ${l.message}`);
      }
    });
  });

  describe("the credential goes nowhere else", () => {
    // Each trick is tried against a connector with a base path and one without.
    const tricks = (E) => [
      ["..", "../../../steal"],
      ["%2e%2e", "%2e%2e/%2e%2e/%2e%2e/steal"],
      ["mixed dots", ".%2e/.%2E/steal"],
      ["encoded slash", `%2F%2F${E}%2Fsteal`],
      ["encoded backslash", `%5C%5C${E}%5Csteal`],
      ["//host", `/${E}/steal`],
      ["///host", `//${E}/steal`],
      ["@host", `@${E}/steal`],
      [":port", `:${E.split(":")[1]}/steal`],
      ["backslashes", `\\\\${E}\\steal`],
      ["absolute URL", `http://${E}/steal`],
      ["absolute URL, encoded", `http:%2F%2F${E}%2Fsteal`],
      ["scheme-relative, encoded", `%2F%2F${E}/steal`],
      ["userinfo, encoded", `%40${E}/steal`],
    ];

    for (const withPath of [true, false]) {
      test(`path tricks never reach elsewhere (${withPath ? "base_url with a path" : "base_url without a path"})`, async () => {
        const E = `127.0.0.2:${elsewhere.port}`;
        const s = await setup(apiKeyAuth(), { base: withPath ? `${up.url}/v1` : up.url });
        const before = up.requests.length;
        const seen = [];
        for (const [name, p] of tricks(E)) {
          const res = await rawHttpRequest({
            port: h.port,
            path: `/api/v1/tenants/${s.tid}/connections/${s.conn.id}/proxy/${p}`,
            headers: { host: CP, authorization: `Bearer ${s.token}` },
          });
          const body = await recordRaw(`trick ${name}`, res);
          seen.push(`${name}=${res.statusCode}`);
          assert.ok([200, 400, 404].includes(res.statusCode), `${name}: ${res.statusCode} ${body.slice(0, 200)}`);
          if (res.statusCode === 400) assert.equal(res.headers["x-portico-error"], "invalid_path", `${name}: a refused path is invalid_path`);
          if (name.startsWith("encoded slash") || name.startsWith("encoded backslash")) assert.equal(res.statusCode, 400, `${name}: encoded slashes are refused`);
        }
        // Spellings that are plain paths under base_url are served there (proof that
        // the proxy, not a router miss, handled them).
        for (const name of ["//host", "///host", "@host", ":port", "absolute URL"]) {
          assert.ok(seen.includes(`${name}=200`), `${name} served under base_url (${seen.join(" ")})`);
        }
        assert.equal(elsewhere.requests.length, 0, `elsewhere received nothing (got ${JSON.stringify(elsewhere.requests.map((r) => r.url))})`);
        for (const r of up.requests.slice(before)) {
          assert.equal(r.headers.host, `127.0.0.1:${up.port}`);
          if (withPath) assert.ok(r.path.startsWith("/v1/"), `${r.path} stays under the base path`);
        }
      });
    }

    test("dot segments never climb above base_url's path", async () => {
      const s = await setup(apiKeyAuth(), { base: `${up.url}/v1/api` });
      for (const p of ["x/../../secret-admin", "x/%2e%2e/%2e%2e/secret-admin", "../secret-admin"]) {
        const before = up.requests.length;
        const res = await rawHttpRequest({ port: h.port, path: `/api/v1/tenants/${s.tid}/connections/${s.conn.id}/proxy/${p}`, headers: { host: CP, authorization: `Bearer ${s.token}` } });
        await recordRaw(`dots ${p}`, res);
        for (const r of up.requests.slice(before)) assert.ok(r.path.startsWith("/v1/api/"), `${p} → ${r.path}`);
        if (res.statusCode === 400) assert.equal(res.headers["x-portico-error"], "invalid_path");
      }
      const m = marker();
      assert.equal((await v.proxy(s.tid, s.conn.id, `a/b/../${m}`)).status, 200);
      assert.equal(up.last(m).path, `/v1/api/a/${m}`, "dot segments inside resolve");
    });

    test("Host / X-Forwarded-Host / Forwarded overrides change nothing", async () => {
      const E = `127.0.0.2:${elsewhere.port}`;
      const s = await setup(apiKeyAuth());
      const m = marker();
      const res = await v.proxy(s.tid, s.conn.id, `o/${m}`, { headers: { "x-forwarded-host": E, forwarded: `host=${E}`, "x-original-url": `http://${E}/steal`, "x-rewrite-url": `http://${E}/steal`, "x-host": E } });
      assert.equal(res.status, 200);
      assert.equal(up.last(m).headers.host, `127.0.0.1:${up.port}`);
      // Host naming elsewhere: not the control plane, so no API at all.
      const r2 = await call.fetch(`/api/v1/tenants/${s.tid}/connections/${s.conn.id}/proxy/o2-${m}`, { host: E, headers: { authorization: `Bearer ${s.token}` } });
      assert.notEqual(r2.status, 200);
      await r2.text();
      // Absolute-form request target naming elsewhere with Host: the control plane.
      const r3 = await rawHttpRequest({ port: h.port, path: `http://${E}/api/v1/tenants/${s.tid}/connections/${s.conn.id}/proxy/o3-${m}`, headers: { host: CP, authorization: `Bearer ${s.token}` } });
      await recordRaw("absolute-form target", r3);
      assert.equal(elsewhere.requests.length, 0, "elsewhere received nothing");
    });
  });

  describe("ciphertexts bound to their record", () => {
    test("copying connection A's KV value onto B's key: B fails closed (502 credentials_failed, nothing sent); A still works", async () => {
      const a = await setup(apiKeyAuth());
      const b = await setup(apiKeyAuth(), { tid: a.tid });
      const fromA = await liveSecret(kv, a.tid, a.conn.id);
      assert.ok(fromA?.value, "A's record exists");
      const liveB = await liveSecret(kv, b.tid, b.conn.id);
      await kv.put(liveB.key, fromA.value, { metadata: fromA.metadata });
      const m = marker();
      await expectCode(await v.proxy(b.tid, b.conn.id, `b-${m}`), 502, "credentials_failed");
      assert.equal(up.requestsMatching(m).length, 0, "nothing sent for B");
      assert.equal(up.requestsContaining(a.secret).length, 0, "A's key never sent");
      const ma = marker();
      assert.equal((await v.proxy(a.tid, a.conn.id, `a-${ma}`)).status, 200);
      assert.equal(up.last(ma).headers["x-api-key"], a.secret);
    });

    test("copying a record to another tenant's connection fails closed", async () => {
      const a = await setup(apiKeyAuth());
      const c = await setup(apiKeyAuth());
      const fromA = await liveSecret(kv, a.tid, a.conn.id);
      const liveC = await liveSecret(kv, c.tid, c.conn.id);
      await kv.put(liveC.key, fromA.value, { metadata: fromA.metadata });
      const m = marker();
      await expectCode(await v.proxy(c.tid, c.conn.id, `c-${m}`), 502, "credentials_failed");
      assert.equal(up.requestsMatching(m).length, 0);
      assert.equal(up.requestsContaining(a.secret).length, 0);
    });

    test("an old envelope of the same connection replayed over its rotated secret fails closed (the generation is bound)", async () => {
      const s = await setup(apiKeyAuth());
      const old = await liveSecret(kv, s.tid, s.conn.id);
      const fresh = scan.addSecret(freshSecret(), "rotated api key");
      const r = await v.api("PATCH", `/tenants/${s.tid}/connections/${s.conn.id}`, { token: s.token, body: { credentials: { api_key: fresh } } });
      assert.equal(r.status, 200);
      const live = await liveSecret(kv, s.tid, s.conn.id);
      assert.notEqual(live.key, old.key, "the rotation wrote a new object");
      // Someone with KV write access puts the old (validly sealed) envelope back.
      await kv.put(live.key, old.value, { metadata: old.metadata });
      const m = marker();
      await expectCode(await v.proxy(s.tid, s.conn.id, `replay-${m}`), 502, "credentials_failed");
      assert.equal(up.requestsMatching(m).length, 0, "nothing sent");
      assert.equal(up.requestsContaining(s.secret).length, 0, "the old key is never sent again");
    });

    const tampers = {
      "a flipped ciphertext bit": (e) => {
        const c = Buffer.from(e.c, "base64");
        c[0] ^= 1;
        return JSON.stringify({ ...e, c: c.toString("base64") });
      },
      "a flipped tag bit": (e) => {
        const c = Buffer.from(e.c, "base64");
        c[c.length - 1] ^= 0x80;
        return JSON.stringify({ ...e, c: c.toString("base64") });
      },
      "another nonce": (e) => JSON.stringify({ ...e, n: crypto.randomBytes(12).toString("base64") }),
      "an unknown kid": (e) => JSON.stringify({ ...e, kid: "t9" }),
      "version 2": (e) => JSON.stringify({ ...e, v: 2 }),
      "a truncated ciphertext": (e) => JSON.stringify({ ...e, c: Buffer.from(e.c, "base64").subarray(0, 8).toString("base64") }),
      "a short nonce": (e) => JSON.stringify({ ...e, n: Buffer.alloc(4).toString("base64") }),
      "not JSON": () => "{{{",
      "an empty value": () => "",
      "a plaintext value": () => JSON.stringify({ v: 1, kid: "t1", n: "", c: "", api_key: "sk_plain_text_1" }),
    };
    for (const [name, mutate] of Object.entries(tampers)) {
      test(`a tampered envelope (${name}) fails closed: 502 credentials_failed, nothing sent`, async () => {
        const s = await setup(apiKeyAuth());
        const { key, value, metadata } = await liveSecret(kv, s.tid, s.conn.id);
        await kv.put(key, mutate(JSON.parse(value)), { metadata });
        const m = marker();
        await expectCode(await v.proxy(s.tid, s.conn.id, `t-${m}`), 502, "credentials_failed");
        assert.equal(up.requestsMatching(m).length, 0, "nothing sent");
      });
    }

    test("a missing KV record fails closed", async () => {
      const s = await setup(apiKeyAuth());
      await kv.delete((await liveSecret(kv, s.tid, s.conn.id)).key);
      const m = marker();
      await expectCode(await v.proxy(s.tid, s.conn.id, `gone-${m}`), 502, "credentials_failed");
      assert.equal(up.requestsMatching(m).length, 0);
    });
  });

  describe("vault unavailable", () => {
    const codeOf = (r) => r.data?.code ?? r.headers.get("x-portico-error");
    for (const worker of [NOVAULT, ...Object.keys(BADRINGS)]) {
      test(`${worker}: vault endpoints → 503 vault_unavailable; the rest of the API and the data plane work`, async () => {
        const s = await setup(apiKeyAuth());
        const w = call.worker(worker);
        const wv = vaultKit(w);
        const tok = s.token;
        // A connector holding a client secret: deleting it needs the vault too.
        const withSecret = await v.createConnector(connectorBody("https://api.example.com/", { type: "oauth2", authorization_url: "https://a.example.com/a", token_url: "https://a.example.com/t", scopes: [], pkce: true, client_auth: "client_secret_basic", client_id: "c", client_secret: scan.addSecret(freshSecret("cs_"), "unavailable cs") }));
        const vaultOps = [
          ["DELETE", `/connectors/${withSecret.id}`, cpToken()],
          ["GET", `/tenants/${s.tid}/connections`, tok],
          ["POST", `/tenants/${s.tid}/connections`, tok, { connector_id: s.cid, credentials: { api_key: "new-key-0001" } }],
          ["GET", `/tenants/${s.tid}/connections/${s.conn.id}`, tok],
          ["PATCH", `/tenants/${s.tid}/connections/${s.conn.id}`, tok, { credentials: { api_key: "new-key-0002" } }],
          ["POST", `/tenants/${s.tid}/connections/${s.conn.id}/_disconnect`, tok],
          ["DELETE", `/tenants/${s.tid}/connections/${s.conn.id}`, tok],
          ["GET", "/vault/status", cpToken()],
          ["POST", "/vault/_reencrypt", cpToken()],
          ["POST", "/connectors", cpToken(), connectorBody("https://api.example.com/", { type: "oauth2", authorization_url: "https://a.example.com/a", token_url: "https://a.example.com/t", scopes: [], pkce: true, client_auth: "client_secret_basic", client_id: "c", client_secret: "cs-000000001" })],
        ];
        // Everything else works.
        assert.equal((await wv.api("GET", `/tenants/${s.tid}`, { token: cpToken() })).status, 200);
        assert.equal((await wv.api("GET", "/connectors", { token: cpToken() })).status, 200);
        assert.equal((await wv.api("POST", "/connectors", { token: cpToken(), body: connectorBody("https://api.example.com/") })).status, 201, "a connector without a client secret needs no vault");
        assert.equal((await wv.api("POST", "/tenants", { token: cpToken(), body: { id: uniq("tnv"), name: "x" } })).status, 201);
        const { host } = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: [{ type: "static", options: { body: "data plane ok" } }] }] });
        const dp = await w.fetch("/hello", { host });
        assert.equal(dp.status, 200);
        assert.equal(await dp.text(), "data plane ok");
        // The proxy: 503, nothing sent.
        const m = marker();
        const p = await wv.proxy(s.tid, s.conn.id, `x-${m}`);
        await expectCode(p, 503, "vault_unavailable");
        assert.equal(up.requestsMatching(m).length, 0, "nothing sent");
        // The reason is logged, never key material.
        assert.ok(scan.logs.some((l) => /PORTICO_VAULT_KEYS/.test(l.message)), "the reason is logged");
        // Every vault endpoint (connections, connectors with a client secret, status,
        // re-encrypt): 503 vault_unavailable.
        const wrong = [];
        for (const [method, path, token, body] of vaultOps) {
          const r = await wv.api(method, path, { token, ...(body ? { body } : {}) });
          if (r.status !== 503 || codeOf(r) !== "vault_unavailable") wrong.push(`${method} ${path} → ${r.status} ${codeOf(r)}`);
        }
        assert.deepEqual(wrong, [], "every vault endpoint answers 503 vault_unavailable");
        // The connection is untouched (the refused PATCH / _disconnect / DELETE did nothing).
        const ok = await v.proxy(s.tid, s.conn.id, `still-${m}`);
        assert.equal(ok.status, 200, "the vault-enabled worker still proxies it");
        assert.equal(up.last(`still-${m}`).headers["x-api-key"], s.secret, "with the original key");
        assert.equal((await v.api("GET", `/connectors/${withSecret.id}`)).status, 200, "the connector with a secret was not deleted");
      });
    }
    test("a malformed ring never logs key material", () => {
      const material = [Buffer.alloc(16, 1).toString("base64"), Buffer.from("portico-e2e-test-vault-key-00001").toString("base64")];
      for (const k of material) assert.ok(!scan.logs.some((l) => l.message.includes(k)), "no key in any log line");
    });
  });

  describe("audit", () => {
    test("one proxy row per proxied call with the documented fields; no query, header or body value", async () => {
      const s = await setup(apiKeyAuth());
      const m = marker();
      const querySecret = scan.addSecret(freshSecret("qs_"), "query value");
      const bodySecret = scan.addSecret(freshSecret("bs_"), "body value");
      const res = await v.proxy(s.tid, s.conn.id, `audit/${m}?token=${querySecret}`, {
        method: "POST",
        token: tenantToken(s.tid, { sub: "agent-audit" }),
        headers: { "content-type": "application/json", "x-sensitive": querySecret },
        body: JSON.stringify({ secret: bodySecret }),
      });
      assert.equal(res.status, 200);
      const rid = res.headers.get("x-request-id");
      const rows = await eventually(async () => {
        const r = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy&connection_id=${s.conn.id}`, { token: s.token });
        assert.equal(r.status, 200, show(r));
        return r.data.items.length ? r.data.items : null;
      });
      assert.ok(rows, "a proxy audit row appeared");
      assert.equal(rows.length, 1, "exactly one row for one call");
      const row = rows[0];
      assert.equal(row.kind, "proxy");
      assert.equal(row.tenant_id, s.tid);
      assert.equal(row.actor, "agent-audit");
      assert.equal(row.connection_id, s.conn.id);
      assert.equal(row.connector_id, s.cid);
      assert.equal(row.connector_version, 1);
      assert.equal(row.method, "POST");
      assert.ok(row.host === "127.0.0.1" || row.host === `127.0.0.1:${up.port}`, `host ${row.host}`);
      assert.ok(row.path.endsWith(`/audit/${m}`), `path ${row.path}`);
      assert.ok(!row.path.includes("?"), "no query in the path");
      assert.equal(row.status, 200);
      assert.equal(typeof row.duration_ms, "number");
      assert.ok(row.duration_ms >= 0);
      assert.equal(row.request_bytes, JSON.stringify({ secret: bodySecret }).length);
      assert.equal(typeof row.response_bytes, "number");
      if (rid) assert.equal(row.request_id, rid, "request id of the call");
      const text = JSON.stringify(rows);
      for (const sec of [s.secret, querySecret, bodySecret]) assert.ok(!text.includes(sec), "no secret in audit rows");
    });

    test("filters: status=4xx, kind=write rows for vault writes, since/until", async () => {
      const s = await setup(apiKeyAuth());
      const m = marker();
      up.on(`nf-${m}`, { status: 404 });
      const t0 = new Date(Date.now() - 1000).toISOString();
      assert.equal((await v.proxy(s.tid, s.conn.id, `ok-${m}`)).status, 200);
      assert.equal((await v.proxy(s.tid, s.conn.id, `nf-${m}`)).status, 404);
      const rows4 = await eventually(async () => {
        const r = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy&status=4xx`, { token: s.token });
        return r.data?.items?.length ? r.data.items : null;
      });
      assert.ok(rows4);
      assert.ok(rows4.every((r) => r.status >= 400 && r.status < 500 && r.kind === "proxy"));
      const all = await eventually(async () => {
        const r = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy&since=${encodeURIComponent(t0)}`, { token: s.token });
        return r.data?.items?.length >= 2 ? r.data.items : null;
      });
      assert.equal(all.length, 2);
      const future = new Date(Date.now() + 3600_000).toISOString();
      const none = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy&since=${encodeURIComponent(future)}`, { token: s.token });
      assert.deepEqual(none.data.items, []);
      const writes = await v.api("GET", `/tenants/${s.tid}/audit?kind=write`, { token: s.token });
      assert.equal(writes.status, 200);
      assert.ok(writes.data.items.some((r) => r.kind === "write" && r.object_id === s.conn.id), "the connection's creation is audited");
      assert.ok(writes.data.items.every((r) => r.kind === "write"));
      // Another tenant never sees these rows.
      const other = await v.createTenant(uniq("tpx"));
      assertProblem(await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy`, { token: tenantToken(other) }), 403, "forbidden");
    });
  });

  describe("audit actions and filters", () => {
    test("actions: connection.created / secret_rotated / updated / disconnected / deleted as write rows; connection.proxied as the proxy row; no null columns", async () => {
      const s = await setup(apiKeyAuth());
      const tok = s.token;
      const rotated = scan.addSecret(freshSecret(), "audit rotated");
      assert.equal((await v.api("PATCH", `/tenants/${s.tid}/connections/${s.conn.id}`, { token: tok, body: { credentials: { api_key: rotated } } })).status, 200);
      assert.equal((await v.api("PATCH", `/tenants/${s.tid}/connections/${s.conn.id}`, { token: tok, body: { labels: { a: "b" } } })).status, 200);
      assert.equal((await v.proxy(s.tid, s.conn.id, "audited")).status, 200);
      assert.equal((await v.api("POST", `/tenants/${s.tid}/connections/${s.conn.id}/_disconnect`, { token: tok })).status, 200);
      assert.equal((await v.api("DELETE", `/tenants/${s.tid}/connections/${s.conn.id}`, { token: tok })).status, 204);
      const rows = await eventually(async () => {
        const r = await v.api("GET", `/tenants/${s.tid}/audit?limit=200`, { token: tok });
        assert.equal(r.status, 200, show(r));
        return r.data.items.some((x) => x.kind === "proxy") ? r.data.items : null;
      });
      assert.ok(rows, "rows");
      const mine = rows.filter((x) => x.object_id === s.conn.id).map((x) => `${x.kind}:${x.action}`).reverse();
      assert.deepEqual(mine, [
        "write:connection.created",
        "write:connection.secret_rotated",
        "write:connection.updated",
        "proxy:connection.proxied",
        "write:connection.disconnected",
        "write:connection.deleted",
      ]);
      for (const x of rows) {
        for (const [k, val] of Object.entries(x)) assert.notEqual(val, null, `${x.action}: column ${k} is left out, never null`);
        assert.ok(!JSON.stringify(x).includes(rotated) && !JSON.stringify(x).includes(s.secret));
      }
      const proxyRow = rows.find((x) => x.kind === "proxy");
      assert.equal(proxyRow.object_type, "connection");
      assert.ok(!("request_bytes" in proxyRow), "a GET without content-length has no request_bytes");
    });

    test("malformed filters → 400 naming the parameter; until is exclusive", async () => {
      const s = await setup(apiKeyAuth());
      for (const [q, param] of [["kind=other", "kind"], ["status=abc", "status"], ["status=6xx", "status"], ["since=yesterday", "since"], ["until=2026-13-45", "until"]]) {
        assertErrorPath(await v.api("GET", `/tenants/${s.tid}/audit?${q}`, { token: s.token }), param);
      }
      assert.equal((await v.proxy(s.tid, s.conn.id, "one")).status, 200);
      const row = await eventually(async () => {
        const r = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy`, { token: s.token });
        return r.data?.items?.[0];
      });
      assert.ok(row);
      const at = row.at;
      const until = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy&until=${encodeURIComponent(at)}`, { token: s.token });
      assert.deepEqual(until.data.items, [], "until is exclusive");
      const since = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy&since=${encodeURIComponent(at)}`, { token: s.token });
      assert.equal(since.data.items.length, 1, "since is inclusive");
    });
  });

  describe("the credentials route handler", () => {
    const ISS = "https://idp.vault.test";
    const AUD = "vault-routes";
    const idpKey = makeKey("ES256", "vault-idp-1");
    const jwtHandler = () => ({ type: "jwt", options: { keys: [idpKey.publicJwk], issuer: ISS, audience: AUD } });
    const userToken = (claims = {}) => signJwt(idpKey, { iss: ISS, aud: AUD, sub: "agent-7", iat: now(), exp: now() + 300, ...claims });
    let s; // tenant with a connection
    let other; // another tenant with a connection
    let host;
    let domain;
    before(async () => {
      s = await setup(apiKeyAuth("header", "x-api-key"));
      other = await setup(apiKeyAuth("header", "x-api-key"));
      domain = `${uniq("cr")}.example.test`;
      const d = await v.api("POST", `/tenants/${s.tid}/domains`, { body: { domain } });
      assert.equal(d.status, 201, show(d));
      host = domain;
    });
    const route = (tid, pathPattern, handlers, token = tenantToken(tid)) =>
      v.api("POST", `/tenants/${tid}/routes`, { token, body: { match: { path: pathPattern }, handlers } });
    const httpTo = (url = `${up.url}/v1`) => ({ type: "http", options: { upstream_url: url } });
    const creds = (connection_id) => ({ type: "credentials", options: { connection_id } });

    test("literal connection id: the origin receives the key; the caller's Authorization/Cookie/Proxy-Authorization are removed", async () => {
      const r = await route(s.tid, "/lit/*", [jwtHandler(), creds(s.conn.id), httpTo()]);
      assert.equal(r.status, 201, show(r));
      const m = marker();
      const res = await call.fetch(`/lit/${m}`, { host, headers: { authorization: `Bearer ${userToken()}`, cookie: "sid=1", "proxy-authorization": "Basic eDp5" } });
      assert.equal(res.status, 200, await res.clone().text());
      noLeak(res, s.secret);
      const got = up.last(m);
      assert.equal(got.path, `/v1/lit/${m}`);
      assert.equal(got.headers["x-api-key"], s.secret);
      assert.equal(got.headers.authorization, undefined);
      assert.equal(got.headers.cookie, undefined);
      assert.equal(got.headers["proxy-authorization"], undefined);
    });

    test("{header:..}: the connection named by a request header; another tenant's or an unknown id → 502 credentials_failed, nothing sent", async () => {
      const r = await route(s.tid, "/hdr/*", [jwtHandler(), creds("{header:x-connection}"), httpTo()]);
      assert.equal(r.status, 201, show(r));
      const tok = { authorization: `Bearer ${userToken()}` };
      const m = marker();
      assert.equal((await call.fetch(`/hdr/${m}`, { host, headers: { ...tok, "x-connection": s.conn.id } })).status, 200);
      assert.equal(up.last(m).headers["x-api-key"], s.secret);
      for (const [what, id] of [["another tenant's", other.conn.id], ["unknown", `conn_${uniq("nope")}`], ["empty", ""]]) {
        const mm = marker();
        await expectCode(await call.fetch(`/hdr/${mm}`, { host, headers: { ...tok, "x-connection": id } }), 502, "credentials_failed", what);
        assert.equal(up.requestsMatching(mm).length, 0, `${what}: nothing sent`);
      }
      const mm = marker();
      await expectCode(await call.fetch(`/hdr/${mm}`, { host, headers: tok }), 502, "credentials_failed", "no header");
      assert.equal(up.requestsMatching(mm).length, 0);
      assert.equal(up.requestsContaining(other.secret).length, 0, "the other tenant's key was never sent");
    });

    test("{claim:..}: the connection named by a verified claim; another tenant's → 502, nothing sent", async () => {
      const r = await route(s.tid, "/claim/*", [jwtHandler(), creds("{claim:connection}"), httpTo()]);
      assert.equal(r.status, 201, show(r));
      const m = marker();
      assert.equal((await call.fetch(`/claim/${m}`, { host, headers: { authorization: `Bearer ${userToken({ connection: s.conn.id })}` } })).status, 200);
      assert.equal(up.last(m).headers["x-api-key"], s.secret);
      const mm = marker();
      await expectCode(await call.fetch(`/claim/${mm}`, { host, headers: { authorization: `Bearer ${userToken({ connection: other.conn.id })}` } }), 502, "credentials_failed");
      assert.equal(up.requestsMatching(mm).length, 0);
      // An unverified token never names a connection.
      const m3 = marker();
      const bad = await call.fetch(`/claim/${m3}`, { host, headers: { authorization: `Bearer ${userToken({ connection: s.conn.id })}x` } });
      assert.equal(bad.status, 401);
      assert.equal(up.requestsMatching(m3).length, 0);
    });

    test("write time: host not allowed, another tenant's connection, body placement, {claim} without jwt, a non-http terminal → 400 naming the field", async () => {
      const cp = cpToken();
      const E = `http://127.0.0.2:${elsewhere.port}/`;
      assertErrorPath(await route(s.tid, "/else/*", [jwtHandler(), creds(s.conn.id), httpTo(E)], cp), ["handlers[1].options.connection_id", "handlers[2].options.upstream_url"]);
      assertErrorPath(await route(s.tid, "/else2/*", [creds(s.conn.id), httpTo("https://api.example.org/v1")], cp), ["handlers[0].options.connection_id", "handlers[1].options.upstream_url"]);
      assertErrorPath(await route(s.tid, "/x1/*", [jwtHandler(), creds(other.conn.id), httpTo()]), "handlers[1].options.connection_id");
      const body = await setup(apiKeyAuth("body", "api_key"), { tid: s.tid });
      assertErrorPath(await route(s.tid, "/x2/*", [jwtHandler(), creds(body.conn.id), httpTo()]), "handlers[1].options.connection_id");
      assertErrorPath(await route(s.tid, "/x3/*", [creds("{claim:connection}"), httpTo()]), "handlers[0].options.connection_id");
      assertErrorPath(await route(s.tid, "/x4/*", [jwtHandler(), creds(s.conn.id), { type: "static", options: { body: "x" } }]), ["handlers[1].options.connection_id", "handlers[2].type", "handlers[1]"]);
      assertErrorPath(await route(s.tid, "/x5/*", [jwtHandler(), creds("{header:}"), httpTo()]), "handlers[1].options.connection_id");
      assertErrorPath(await route(s.tid, "/x6/*", [jwtHandler(), { type: "credentials", options: { connection_id: s.conn.id, extra: 1 } }, httpTo()]), "handlers[1].options.extra");
      assert.equal(elsewhere.requests.length, 0);
    });

    test("request time: a terminal host the connector does not allow → 502 credentials_failed, elsewhere receives nothing", async () => {
      const E = `http://127.0.0.2:${elsewhere.port}/`;
      const r = await route(s.tid, "/hdr-else/*", [jwtHandler(), creds("{header:x-connection}"), httpTo(E)], cpToken());
      assert.equal(r.status, 201, `a dynamic connection id can only be checked per request: ${show(r)}`);
      const m = marker();
      await expectCode(await call.fetch(`/hdr-else/${m}`, { host, headers: { authorization: `Bearer ${userToken()}`, "x-connection": s.conn.id } }), 502, "credentials_failed");
      assert.equal(elsewhere.requests.length, 0, "elsewhere received nothing");
      // An upstream redirect to elsewhere is returned, not followed.
      const m2 = marker();
      up.on(`go-${m2}`, { status: 307, location: `${E}steal-${m2}` });
      const red = await call.fetch(`/hdr/go-${m2}`, { host, headers: { authorization: `Bearer ${userToken()}`, "x-connection": s.conn.id } });
      assert.equal(red.status, 307);
      assert.equal(elsewhere.requests.length, 0);
    });

    test("policy, state and vault availability on routes", async () => {
      const pol = await setup(apiKeyAuth(), { tid: s.tid, policy: { subjects: ["agent-7"], required_scope: "calendar:read", methods: ["GET"] } });
      const r = await route(s.tid, "/pol/*", [jwtHandler(), creds(pol.conn.id), httpTo()]);
      assert.equal(r.status, 201, show(r));
      const go = async (claims, method = "GET") => {
        const m = marker();
        const res = await call.fetch(`/pol/${m}`, { host, method, headers: { authorization: `Bearer ${userToken(claims)}` } });
        await res.text();
        return { status: res.status, code: res.headers.get("x-portico-error"), sent: up.requestsMatching(m).length };
      };
      assert.deepEqual(await go({ scope: "calendar:read" }), { status: 200, code: null, sent: 1 });
      assert.deepEqual(await go({ scope: "calendar:write" }), { status: 403, code: "policy_denied", sent: 0 });
      assert.deepEqual(await go({ sub: "agent-8", scope: "calendar:read" }), { status: 403, code: "policy_denied", sent: 0 });
      assert.deepEqual(await go({ scope: "calendar:read" }, "DELETE"), { status: 403, code: "policy_denied", sent: 0 });

      // Disconnected → 409 connection_not_ready.
      const dis = await setup(apiKeyAuth(), { tid: s.tid });
      assert.equal((await v.api("POST", `/tenants/${s.tid}/connections/${dis.conn.id}/_disconnect`, { token: s.token })).status, 200);
      const m = marker();
      await expectCode(await call.fetch(`/hdr/${m}`, { host, headers: { authorization: `Bearer ${userToken()}`, "x-connection": dis.conn.id } }), 409, "connection_not_ready");
      assert.equal(up.requestsMatching(m).length, 0);

      // Tampered secret → 502 credentials_failed.
      const t = await setup(apiKeyAuth(), { tid: s.tid });
      const tLive = await liveSecret(kv, s.tid, t.conn.id);
      const env = JSON.parse(tLive.value);
      await kv.put(tLive.key, JSON.stringify({ ...env, n: crypto.randomBytes(12).toString("base64") }), { metadata: { kid: env.kid } });
      const m2 = marker();
      await expectCode(await call.fetch(`/hdr/${m2}`, { host, headers: { authorization: `Bearer ${userToken()}`, "x-connection": t.conn.id } }), 502, "credentials_failed");
      assert.equal(up.requestsMatching(m2).length, 0);

      // The same route on a worker without a key ring → 503 vault_unavailable.
      const m3 = marker();
      await expectCode(await call.worker(NOVAULT).fetch(`/lit/${m3}`, { host, headers: { authorization: `Bearer ${userToken()}` } }), 503, "vault_unavailable");
      assert.equal(up.requestsMatching(m3).length, 0);
    });

    test("placements on routes: Authorization with a prefix replaces the caller's JWT; query replaces the caller's parameter; basic", async () => {
      const bearer = await setup(apiKeyAuth("header", "authorization", "Bearer "), { tid: s.tid });
      const query = await setup(apiKeyAuth("query", "api_key"), { tid: s.tid });
      const basic = await setup({ type: "basic" }, { tid: s.tid });
      for (const [p, c] of [["/rb/*", bearer], ["/rq/*", query], ["/rs/*", basic]]) {
        const r = await route(s.tid, p, [jwtHandler(), creds(c.conn.id), httpTo()]);
        assert.equal(r.status, 201, show(r));
      }
      const jwt = userToken();
      const m1 = marker();
      assert.equal((await call.fetch(`/rb/${m1}`, { host, headers: { authorization: `Bearer ${jwt}` } })).status, 200);
      assert.equal(up.last(m1).headers.authorization, `Bearer ${bearer.secret}`);
      assert.ok(!JSON.stringify(up.last(m1).rawHeaders).includes(jwt), "the caller's JWT is not forwarded");
      const m2 = marker();
      assert.equal((await call.fetch(`/rq/${m2}?api_key=caller&k=v`, { host, headers: { authorization: `Bearer ${jwt}` } })).status, 200);
      const params = new URLSearchParams(up.last(m2).query);
      assert.deepEqual(params.getAll("api_key"), [query.secret]);
      assert.equal(params.get("k"), "v");
      assert.equal(up.last(m2).headers.authorization, undefined);
      const m3 = marker();
      assert.equal((await call.fetch(`/rs/${m3}`, { host, headers: { authorization: `Bearer ${jwt}` } })).status, 200);
      assert.equal(up.last(m3).headers.authorization, `Basic ${Buffer.from(`svc-user:${basic.secret}`).toString("base64")}`);
    });

    test("a route whose upstream fails answers http_failed and leaks no query-placed key", async () => {
      const closed = await startRecordingOrigin();
      const deadBase = `${closed.url}/v1`;
      await closed.close();
      // The connector must allow the dead host: same host (127.0.0.1), so it does.
      const q = await setup(apiKeyAuth("query", "api_key"), { tid: s.tid, base: deadBase });
      const r = await route(s.tid, "/qfail/*", [jwtHandler(), creds(q.conn.id), httpTo(deadBase)]);
      assert.equal(r.status, 201, show(r));
      const logsBefore = scan.logs.length;
      const res = await call.fetch("/qfail/x?y=1", { host, headers: { authorization: `Bearer ${userToken()}` } });
      const text = await expectCode(res, 502, "http_failed");
      assert.ok(!text.includes(q.secret));
      await new Promise((done) => setTimeout(done, 300));
      assert.ok(scan.logs.length > logsBefore, "the failure was logged (so this check sees something)");
      for (const l of scan.logs.slice(logsBefore)) assert.ok(!l.message.includes(q.secret), `log line without the key: ${l.message}`);
    });

    test("both executors (lean JS entry on warm hosts, workers-rs) inject, refuse and audit alike", async () => {
      const pol = await setup(apiKeyAuth(), { tid: s.tid, policy: { subjects: ["agent-7"] } });
      const E = `http://127.0.0.2:${elsewhere.port}/`;
      for (const [p, handlers, token] of [
        ["/both/*", [jwtHandler(), creds("{header:x-connection}"), httpTo()]],
        ["/both-else/*", [jwtHandler(), creds("{header:x-connection}"), httpTo(E)], cpToken()],
        ["/both-pol/*", [jwtHandler(), creds(pol.conn.id), httpTo()]],
      ]) {
        const r = await route(s.tid, p, handlers, token);
        assert.equal(r.status, 201, show(r));
      }
      const auth = (claims) => ({ authorization: `Bearer ${userToken(claims)}` });
      for (const w of [null, SLOWPATH]) {
        const client = w ? call.worker(w) : call;
        const paths = [];
        const go = async (path, headers) => {
          const res = await client.fetch(path, { host, headers });
          paths.push(res.headers.get("x-portico-path"));
          await res.text();
          return { status: res.status, code: res.headers.get("x-portico-error") };
        };
        const sent = [];
        for (let i = 0; i < 4; i++) {
          const m = marker();
          assert.deepEqual(await go(`/both/${m}`, { ...auth(), "x-connection": s.conn.id }), { status: 200, code: null });
          assert.equal(up.last(m).headers["x-api-key"], s.secret);
          sent.push(m);
          const o = marker();
          assert.deepEqual(await go(`/both/${o}`, { ...auth(), "x-connection": other.conn.id }), { status: 502, code: "credentials_failed" }, `${w ?? "default"}: another tenant's`);
          assert.equal(up.requestsMatching(o).length, 0);
          assert.deepEqual(await go(`/both-else/${o}`, { ...auth(), "x-connection": s.conn.id }), { status: 502, code: "credentials_failed" }, `${w ?? "default"}: host not allowed`);
          assert.deepEqual(await go(`/both-pol/${o}`, auth({ sub: "agent-8" })), { status: 403, code: "policy_denied" }, `${w ?? "default"}: policy`);
          assert.equal(up.requestsMatching(o).length, 0);
          const mp = marker();
          assert.deepEqual(await go(`/both-pol/${mp}`, auth()), { status: 200, code: null });
          sent.push(mp);
        }
        if (w) assert.ok(!paths.includes("fast"), `${w}: never the fast path (${paths})`);
        else assert.ok(paths.includes("fast"), `the default worker served warm requests on the fast path (${paths})`);
        // One proxy audit row per call that went out, whichever executor served it.
        const rows = await eventually(async () => {
          const got = [];
          for (const cid of [s.conn.id, pol.conn.id]) {
            const r = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy&connection_id=${cid}&limit=200`, { token: s.token });
            got.push(...(r.data?.items ?? []));
          }
          const hit = sent.filter((m) => got.some((x) => (x.path ?? "").includes(m)));
          return hit.length === sent.length ? got : null;
        });
        assert.ok(rows, `${w ?? "default"}: every call audited`);
      }
      assert.equal(elsewhere.requests.length, 0);
    });

    test("the proxy endpoint on both executors: warm calls take the lean JS entry and send, strip, confine and audit like the workers-rs path", async () => {
      const q = await setup(apiKeyAuth("query", "key"), { tid: s.tid, connector: { strip_response_headers: ["set-cookie", "x-internal"] } });
      const seen = {};
      for (const w of [null, SLOWPATH]) {
        const label = w ?? "default";
        const paths = [];
        const answers = [];
        for (let i = 0; i < 4; i++) {
          const m = marker();
          up.on(`par-${m}`, { headers: { "x-internal": "topology", "x-hop-resp": "1", connection: "x-hop-resp", "x-kept": "yes" }, body: "ok" });
          const res = await v.proxy(q.tid, q.conn.id, `par-${m}?key=mine&a=1`, {
            worker: w ?? undefined,
            headers: { cookie: "sid=1", "x-forwarded-host": "evil.example", connection: "x-drop", "x-drop": "1", "x-pass": "yes" },
          });
          paths.push(res.headers.get("x-portico-path"));
          const got = up.last(m);
          answers.push({
            status: res.status,
            body: await res.text(),
            internal: res.headers.get("x-internal"),
            hop: res.headers.get("x-hop-resp"),
            kept: res.headers.get("x-kept"),
            rid: /^req_|./.test(res.headers.get("x-request-id") ?? ""),
            url: got.url.replace(m, "M"),
            cookie: got.headers.cookie ?? null,
            xfh: got.headers["x-forwarded-host"] ?? null,
            drop: got.headers["x-drop"] ?? null,
            pass: got.headers["x-pass"] ?? null,
          });
        }
        if (w) assert.ok(!paths.includes("fast"), `${label}: never the fast path (${paths})`);
        else assert.ok(paths.includes("fast"), `warm proxy calls took the fast path (${paths})`);
        // Every call of a worker answers alike, and both workers answer alike.
        for (const a of answers) assert.deepEqual(a, answers[0], `${label}: ${JSON.stringify(answers)}`);
        seen[label] = answers[0];
      }
      assert.deepEqual(seen.default, seen[SLOWPATH]);
      assert.equal(seen.default.status, 200);
      assert.equal(seen.default.internal, null);
      assert.equal(seen.default.kept, "yes");
      assert.equal(seen.default.cookie, null);
      assert.equal(seen.default.xfh, null);
      assert.equal(seen.default.drop, null, "a header the caller's Connection names is not forwarded");
      assert.equal(seen.default.pass, "yes");
      assert.ok(seen.default.url.endsWith(`?a=1&key=${q.secret}`), seen.default.url);
      // Eight calls, eight audit rows, whichever executor served them.
      const rows = await eventually(async () => {
        const r = await v.api("GET", `/tenants/${q.tid}/audit?kind=proxy&connection_id=${q.conn.id}&limit=50`, { token: q.token });
        return (r.data?.items?.length ?? 0) >= 8 ? r.data.items : null;
      });
      assert.equal(rows?.length, 8);
      assert.ok(rows.every((r) => r.status === 200 && r.path.startsWith("/par-") && !JSON.stringify(r).includes(q.secret)));
    });

    test("a route's connection disconnected, rotated or re-policied after warm (fast-path) use takes effect at once", async () => {
      const c = await setup(apiKeyAuth(), { tid: s.tid });
      const r = await route(s.tid, "/warmroute/*", [jwtHandler(), creds(c.conn.id), httpTo()]);
      assert.equal(r.status, 201, show(r));
      const hit = async (claims) => {
        const m = marker();
        const res = await call.fetch(`/warmroute/${m}`, { host, headers: { authorization: `Bearer ${userToken(claims)}` } });
        await res.text();
        return { status: res.status, code: res.headers.get("x-portico-error"), path: res.headers.get("x-portico-path"), got: up.last(m) };
      };
      const paths = [];
      for (let i = 0; i < 3; i++) {
        const w = await hit();
        assert.equal(w.status, 200);
        assert.equal(w.got.headers["x-api-key"], c.secret);
        paths.push(w.path);
      }
      assert.ok(paths.includes("fast"), `warm calls took the fast path (${paths})`);
      // Rotation: the next call sends the new key.
      const fresh = scan.addSecret(freshSecret(), "route rotated");
      assert.equal((await v.api("PATCH", `/tenants/${s.tid}/connections/${c.conn.id}`, { token: s.token, body: { credentials: { api_key: fresh } } })).status, 200);
      const rot = await hit();
      assert.equal(rot.status, 200);
      assert.equal(rot.got.headers["x-api-key"], fresh, "the rotated key, at once");
      // Policy: refused at once.
      assert.equal((await v.api("PATCH", `/tenants/${s.tid}/connections/${c.conn.id}`, { token: s.token, body: { policy: { subjects: ["someone-else"] } } })).status, 200);
      const denied = await hit();
      assert.deepEqual([denied.status, denied.code, denied.got], [403, "policy_denied", undefined]);
      assert.equal((await v.api("PATCH", `/tenants/${s.tid}/connections/${c.conn.id}`, { token: s.token, body: { policy: null } })).status, 200);
      assert.equal((await hit()).status, 200);
      // Disconnect: refused at once, nothing sent.
      assert.equal((await v.api("POST", `/tenants/${s.tid}/connections/${c.conn.id}/_disconnect`, { token: s.token })).status, 200);
      const dis = await hit();
      assert.deepEqual([dis.status, dis.code, dis.got], [409, "connection_not_ready", undefined]);
    });

    test("allowed_hosts: a terminal on an allowed host (not base_url's) receives the credential", async () => {
      const c = await setup(apiKeyAuth(), { tid: s.tid, connector: { allowed_hosts: ["localhost"] } });
      const r = await route(s.tid, "/allowed/*", [jwtHandler(), creds(c.conn.id), httpTo(`http://localhost:${up.port}/v1`)], cpToken());
      assert.equal(r.status, 201, show(r));
      const m = marker();
      const res = await call.fetch(`/allowed/${m}`, { host, headers: { authorization: `Bearer ${userToken()}` } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(up.last(m).headers["x-api-key"], c.secret);
      assert.equal(up.last(m).headers.host, `localhost:${up.port}`);
      // Without it in allowed_hosts the same terminal is refused at write time.
      const d = await setup(apiKeyAuth(), { tid: s.tid });
      assertErrorPath(await route(s.tid, "/notallowed/*", [jwtHandler(), creds(d.conn.id), httpTo(`http://localhost:${up.port}/v1`)], cpToken()), ["handlers[1].options.connection_id", "handlers[2].options.upstream_url"]);
    });

    test("a route call is audited as a proxy row", async () => {
      const m = marker();
      assert.equal((await call.fetch(`/lit/aud-${m}`, { host, headers: { authorization: `Bearer ${userToken({ sub: "route-agent" })}` } })).status, 200);
      const rows = await eventually(async () => {
        const r = await v.api("GET", `/tenants/${s.tid}/audit?kind=proxy&connection_id=${s.conn.id}`, { token: s.token });
        const hit = (r.data?.items ?? []).filter((x) => (x.path ?? "").includes(`aud-${m}`));
        return hit.length ? hit : null;
      });
      assert.ok(rows, "audit row for the route call");
      assert.equal(rows[0].actor, "route-agent");
      assert.equal(rows[0].status, 200);
    });
  });

  test("no credential anywhere: responses, logs (positive control first), D1, KV; elsewhere saw nothing", async () => {
    await logControl(h, scan, call);
    await scan.scanD1(h.db);
    await scan.scanKv(kv);
    for (const r of elsewhere.requests) scan.recordText("elsewhere", r.url, JSON.stringify(r.headers) + r.bodyText);
    assert.equal(elsewhere.requests.length, 0, "elsewhere never received a request");
    scan.assertClean("vault_proxy");
  });
});
