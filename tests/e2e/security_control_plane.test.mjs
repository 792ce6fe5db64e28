// Hostile-tenant attacks on the control plane and the `jwt` handler's JWKS, against
// the real Wasm build (docs/control-plane.md "Limits"; DESIGN §6). Every tenant and
// anonymous client may be hostile: a tenant-written jwks_url may serve a huge,
// endless or key-stuffed JWKS or fail on purpose; an API client may stream an
// endless body; ids the platform uses may be grabbed; a re-created tenant may peek
// at its predecessor's audit; a misconfigured deployment must not serve the API.
//
// "The isolate survived" = the x-portico-stats counters (PORTICO_DEBUG_HEADERS)
// did not go back: a panic or an out-of-memory restart re-creates the isolate and
// every counter starts again from zero.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { useHarness, uniq, parseStats, sleep, survives } from "./harness.mjs";
import { makeKey, signJwt, jwks, now } from "./support/tokens.mjs";

const ISS = "https://issuer.test";
const AUD = "portico-api";
const CP_HOST = "cp.test";
const CP_TENANT = "operators";
const ALL_SCOPES = "tenants:read tenants:write domains:read domains:write routes:read routes:write audit:read proxy:resolve_host";
const KIB = 1024;

// ---------------------------------------------------------------------------
// A hostile JWKS server on 127.0.0.1, as a tenant would run one. Every path counts
// its hits; `closed` counts connections the client (Portico) dropped mid-body.
const userKey = makeKey("EdDSA", "tenant-user-1");

/** A valid JWKS (it holds the key that signs the test tokens) padded to `bytes`. */
function paddedJwks(bytes) {
  const base = JSON.stringify({ keys: [userKey.publicJwk], padding: "" });
  return JSON.stringify({ keys: [userKey.publicJwk], padding: "x".repeat(bytes - base.length) });
}

/** A valid JWKS listing `n` keys, the signing key first. */
function stuffedJwks(n) {
  const other = makeKey("EdDSA", "other").publicJwk;
  const keys = [userKey.publicJwk];
  for (let i = 1; i < n; i++) keys.push({ ...other, kid: `stuffed-${i}` });
  return JSON.stringify({ keys });
}

async function startHostileJwks() {
  const hits = {};
  const state = { flakyUp: true, closed: 0, stallSockets: new Set() };
  const big = paddedJwks(300 * KIB);
  const many = stuffedJwks(1000);
  const good = JSON.stringify(jwks(userKey));
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    hits[path] = (hits[path] ?? 0) + 1;
    const ctype = { "content-type": "application/json" };
    switch (path) {
      case "/good.json":
        res.writeHead(200, ctype).end(good);
        return;
      case "/big-declared.json":
        res.writeHead(200, { ...ctype, "content-length": Buffer.byteLength(big) }).end(big);
        return;
      case "/big-chunked.json": {
        // No Content-Length: Node sends it chunked, 16 KiB at a time.
        res.writeHead(200, ctype);
        for (let i = 0; i < big.length; i += 16 * KIB) res.write(big.slice(i, i + 16 * KIB));
        res.end();
        return;
      }
      case "/endless.json": {
        // 300 KiB of a valid-looking prefix, then the body never ends: only a reader
        // that stops at the cap answers before the fetch deadline.
        res.writeHead(200, ctype);
        res.write(big.slice(0, 300 * KIB));
        state.stallSockets.add(res.socket);
        res.on("close", () => {
          state.closed += 1;
        });
        return;
      }
      case "/many.json":
        res.writeHead(200, ctype).end(many);
        return;
      case "/fail.json":
        res.writeHead(500, ctype).end('{"error":"down"}');
        return;
      case "/flaky.json":
        if (state.flakyUp) res.writeHead(200, ctype).end(good);
        else res.writeHead(503, ctype).end("{}");
        return;
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    url: (p) => `${base}${p}`,
    hits,
    state,
    close: () =>
      new Promise((r) => {
        for (const s of state.stallSockets) s.destroy();
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

const userClaims = (extra = {}) => ({ iss: "https://tenant-idp.test", aud: "shop", sub: "u1", iat: now(), exp: now() + 300, ...extra });
const bearer = (t) => ({ authorization: `Bearer ${t}` });

/** Asserts the isolate kept its counters across an attack (see the file header). */
function assertSurvived(beforeStats, afterStats, what) {
  assert.ok(beforeStats && afterStats, `${what}: x-portico-stats present`);
  for (const k of ["source_reads", "route_compiles"]) {
    assert.ok(afterStats[k] >= beforeStats[k], `${what}: ${k} went from ${beforeStats[k]} to ${afterStats[k]} (isolate restarted)`);
  }
}

/** Rows of every table the API writes, for "nothing changed" checks. */
async function snapshot(h) {
  const out = {};
  for (const t of ["tenants", "domains", "routes", "audit_log"]) {
    out[t] = (await h.db.prepare(`SELECT * FROM ${t} ORDER BY id`).all()).results;
  }
  return out;
}

function apiFor(h, token) {
  return (method, path, body, headers = {}) => h.api(method, path, { host: CP_HOST, token, body, headers });
}

// ---------------------------------------------------------------------------
describe("hostile tenant JWKS and API bodies (default limits)", () => {
  const opKey = makeKey("EdDSA", "operator-1");
  let jw;
  before(async () => {
    jw = await startHostileJwks();
  });
  after(async () => {
    await jw?.close();
  });
  const h = useHarness({
    bindings: {
      PORTICO_HOST_SOURCE: "d1",
      PORTICO_DEBUG_HEADERS: "true",
      CONTROL_PLANE_HOSTS: CP_HOST,
      CONTROL_PLANE_TENANT_ID: CP_TENANT,
      PORTICO_AUTH_KEYS: JSON.stringify(jwks(opKey)),
      PORTICO_AUTH_ISSUER: ISS,
      PORTICO_AUTH_AUDIENCE: AUD,
      PORTICO_DEV_MODE: "false",
      // The body-cap tests store routes near the 256 KiB body cap: lift the
      // per-route budget (PORTICO_MAX_ROUTE_BYTES, 32 KiB by default) out of the way.
      PORTICO_MAX_ROUTE_BYTES: "1048576",
    },
  });
  const opToken = () => signJwt(opKey, { iss: ISS, aud: AUD, sub: "operator", iat: now(), exp: now() + 600, scope: ALL_SCOPES });
  const api = (...a) => apiFor(h, opToken())(...a);

  /** A host whose only route is jwt(jwks_url) → static "in". */
  async function jwtHost(path) {
    const { host } = await h.addHost({
      routes: [{ match: { path: "/*" }, handlers: [{ type: "jwt", options: { jwks_url: jw.url(path) } }, { type: "static", options: { body: "in" } }] }],
    });
    return host;
  }

  let baseline;
  before(async () => {
    // Warm several hosts so the counters are well above zero before any attack.
    for (let i = 0; i < 5; i++) {
      const { host } = await h.addHost({ routes: [{ handlers: [{ type: "static", options: { body: "warm" } }] }] });
      const res = await h.fetch("/", { host });
      await res.text();
      baseline = parseStats(res);
    }
    assert.ok(baseline.source_reads >= 5, JSON.stringify(baseline));
  });

  test("positive control: a small JWKS from a tenant URL verifies the tenant's tokens", async () => {
    const host = await jwtHost("/good.json");
    const res = await h.fetch("/", { host, headers: bearer(signJwt(userKey, userClaims())) });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "in");
  });

  for (const [name, path] of [
    ["300 KiB JWKS with Content-Length", "/big-declared.json"],
    ["300 KiB JWKS, chunked without Content-Length", "/big-chunked.json"],
  ]) {
    test(`${name} → 502 jwt_failed (though it holds the right key), not refetched, isolate survives`, async () => {
      const host = await jwtHost(path);
      let last;
      for (let i = 0; i < 3; i++) {
        const res = await h.fetch(`/${i}`, { host, headers: bearer(signJwt(userKey, userClaims())) });
        assert.equal(res.status, 502, `request ${i}`);
        assert.equal(res.headers.get("x-portico-error"), "jwt_failed");
        await res.text();
        last = parseStats(res);
      }
      assert.equal(jw.hits[path], 1, "a refused JWKS counts as a failed fetch and is remembered");
      assertSurvived(baseline, last, name);
    });
  }

  test("an endless JWKS body is cut off at the cap, well before the fetch deadline, and the stream is cancelled", async () => {
    const host = await jwtHost("/endless.json");
    // A slow request on another host runs beside the attack and must finish normally.
    const { res, elapsed } = await survives(h, async () => {
      const t0 = Date.now();
      const res = await h.fetch("/", { host, headers: bearer(signJwt(userKey, userClaims())) });
      return { res, elapsed: Date.now() - t0 };
    });
    assert.equal(res.status, 502);
    assert.equal(res.headers.get("x-portico-error"), "jwt_failed");
    await res.text();
    // The fetch deadline is 5 s: a reader that waits for the end answers only then.
    assert.ok(elapsed < 3500, `answered after ${elapsed} ms`);
    for (let i = 0; i < 40 && jw.state.closed === 0; i++) await sleep(50);
    assert.equal(jw.state.closed, 1, "Portico cancelled the JWKS body");
    assertSurvived(baseline, parseStats(res), "endless JWKS");
  });

  test("a JWKS listing 1000 keys is refused (though it holds the right key)", async () => {
    const host = await jwtHost("/many.json");
    for (let i = 0; i < 2; i++) {
      const res = await h.fetch(`/${i}`, { host, headers: bearer(signJwt(userKey, userClaims())) });
      assert.equal(res.status, 502, `request ${i}`);
      assert.equal(res.headers.get("x-portico-error"), "jwt_failed");
      await res.text();
      assertSurvived(baseline, parseStats(res), "1000 keys");
    }
    assert.equal(jw.hits["/many.json"], 1);
  });

  test("a failing JWKS URL hit by 20 requests in a row is fetched once", async () => {
    const host = await jwtHost("/fail.json");
    for (let i = 0; i < 20; i++) {
      const res = await h.fetch(`/${i}`, { host, headers: bearer(signJwt(userKey, userClaims())) });
      assert.equal(res.status, 502, `request ${i}`);
      assert.equal(res.headers.get("x-portico-error"), "jwt_failed");
      await res.text();
    }
    assert.equal(jw.hits["/fail.json"], 1);
  });

  test("many distinct tenant JWKS URLs do not break the isolate (the URL map is bounded)", async () => {
    // More URLs than the isolate keeps (64): each is fetched once and fails.
    const { host } = await h.addHost({
      routes: Array.from({ length: 80 }, (_, i) => ({
        priority: i,
        match: { path: `/u${i}` },
        handlers: [{ type: "jwt", options: { jwks_url: jw.url(`/fail.json?u=${i}`) } }, { type: "static", options: { body: "in" } }],
      })),
    });
    const h0 = jw.hits["/fail.json"];
    let last;
    for (let i = 0; i < 80; i++) {
      const res = await h.fetch(`/u${i}`, { host, headers: bearer(signJwt(userKey, userClaims())) });
      assert.equal(res.status, 502);
      await res.text();
      last = parseStats(res);
    }
    assert.equal(jw.hits["/fail.json"] - h0, 80);
    // The most recent URLs are still remembered as failing: no refetch.
    const again = await h.fetch("/u79", { host, headers: bearer(signJwt(userKey, userClaims())) });
    assert.equal(again.status, 502);
    await again.text();
    assert.equal(jw.hits["/fail.json"] - h0, 80);
    assertSurvived(baseline, last, "80 JWKS URLs");
  });

  // ---- API bodies ------------------------------------------------------------
  const bigRouteBody = (bytes) => {
    const head = '{"handlers":[{"type":"static","options":{"body":"';
    const tail = '"}}]}';
    return { head, tail, filler: bytes - head.length - tail.length };
  };

  /** A chunked (no Content-Length) POST whose body comes from `gen`. */
  function chunkedPost(path, gen) {
    return h.request(`/api/v1${path}`, {
      host: CP_HOST,
      method: "POST",
      headers: { authorization: `Bearer ${opToken()}`, "content-type": "application/json" },
      body: gen(),
      timeoutMs: 20_000,
    });
  }

  /** x-portico-stats of a Node IncomingMessage. */
  const nodeStats = (res) => parseStats({ headers: new Headers([["x-portico-stats", res.headers["x-portico-stats"] ?? ""]]) });

  async function readAll(res) {
    const chunks = [];
    for await (const c of res) chunks.push(c);
    return Buffer.concat(chunks).toString();
  }

  test("a 2 MiB chunked API body → 413 payload_too_large, nothing written in D1", async () => {
    const tid = uniq("big");
    assert.equal((await api("POST", "/tenants", { id: tid, name: tid })).status, 201);
    const before = await snapshot(h);
    const { head, tail, filler } = bigRouteBody(2 * KIB * KIB);
    const res = await chunkedPost(`/tenants/${tid}/routes`, async function* () {
      yield head;
      const piece = "x".repeat(64 * KIB);
      for (let n = 0; n < filler; n += piece.length) yield piece.slice(0, Math.min(piece.length, filler - n));
      yield tail;
    });
    const text = await readAll(res);
    assert.equal(res.statusCode, 413, text.slice(0, 300));
    const body = JSON.parse(text);
    assert.equal(body.code, "payload_too_large");
    assert.match(res.headers["content-type"], /^application\/problem\+json/);
    assert.deepEqual(await snapshot(h), before, "D1 changed");
    assertSurvived(baseline, nodeStats(res), "2 MiB body");
  });

  test("an endless chunked API body is cut off at the cap: 413 while the client is still sending", async () => {
    const tid = uniq("endless");
    assert.equal((await api("POST", "/tenants", { id: tid, name: tid })).status, 201);
    const before = await snapshot(h);
    let release;
    const stalled = new Promise((r) => {
      release = r;
    });
    const { head } = bigRouteBody(0);
    const t0 = Date.now();
    const res = await chunkedPost(`/tenants/${tid}/routes`, async function* () {
      yield head;
      const piece = "x".repeat(64 * KIB);
      for (let i = 0; i < 8; i++) yield piece; // 512 KiB, twice the cap
      await stalled; // ...and the body never ends
    });
    const elapsed = Date.now() - t0;
    const text = await readAll(res);
    release();
    assert.equal(res.statusCode, 413, text.slice(0, 300));
    assert.equal(JSON.parse(text).code, "payload_too_large");
    assert.ok(elapsed < 10_000, `answered after ${elapsed} ms`);
    assert.deepEqual(await snapshot(h), before, "D1 changed");
  });

  test("positive control: a chunked body under the cap is accepted", async () => {
    const tid = uniq("small");
    assert.equal((await api("POST", "/tenants", { id: tid, name: tid })).status, 201);
    const { head, tail, filler } = bigRouteBody(200 * KIB);
    const res = await chunkedPost(`/tenants/${tid}/routes`, async function* () {
      yield head;
      yield "y".repeat(filler);
      yield tail;
    });
    const text = await readAll(res);
    assert.equal(res.statusCode, 201, text.slice(0, 300));
  });

  // ---- reserved tenant ids ------------------------------------------------------
  test("reserved tenant ids cannot be created (400, path id); D1 unchanged", async () => {
    const before = await snapshot(h);
    for (const id of [CP_TENANT, "api", "admin", "system", "portico", "www", "root"]) {
      const r = await api("POST", "/tenants", { id, name: "grab" });
      assert.equal(r.status, 400, `${id}: ${r.text}`);
      assert.equal(r.data.code, "validation_failed");
      assert.deepEqual(r.data.errors, [{ path: "id", message: "is reserved" }], id);
    }
    assert.deepEqual(await snapshot(h), before, "D1 changed");
    // Positive control: an id merely containing a reserved word is fine.
    const ok = await api("POST", "/tenants", { id: uniq("api-"), name: "fine" });
    assert.equal(ok.status, 201, ok.text);
  });

  // ---- tenant re-creation and audit ---------------------------------------------
  test("a deleted and re-created tenant id starts with its own, empty history; the old rows stay in D1", async () => {
    const tid = uniq("again");
    assert.equal((await api("POST", "/tenants", { id: tid, name: "first" })).status, 201);
    assert.equal((await api("POST", `/tenants/${tid}/domains`, { domain: `${tid}.example.test` })).status, 201);
    assert.equal((await api("PATCH", `/tenants/${tid}`, { name: "first!" })).status, 200);
    const first = await api("GET", `/tenants/${tid}/audit`);
    assert.equal(first.data.items.length, 3, first.text);
    assert.equal((await api("DELETE", `/tenants/${tid}`)).status, 204);

    const again = await api("POST", "/tenants", { id: tid, name: "second" });
    assert.equal(again.status, 201);
    const audit = await api("GET", `/tenants/${tid}/audit?limit=200`);
    assert.equal(audit.status, 200);
    // Only the new tenant's own creation: nothing of the first tenant's history.
    assert.deepEqual(
      audit.data.items.map((r) => [r.action, r.request_id]),
      [["tenant.created", again.headers.get("x-request-id")]],
    );
    const oldIds = new Set(first.data.items.map((r) => r.id));
    assert.ok(audit.data.items.every((r) => !oldIds.has(r.id)));
    // History is kept: the first tenant's rows (and its deletion) are still there.
    const rows = (await h.db.prepare("SELECT id, action FROM audit_log WHERE tenant_id = ?1").bind(tid).all()).results;
    assert.equal(rows.length, 5, JSON.stringify(rows));
    for (const id of oldIds) assert.ok(rows.some((r) => r.id === id), `audit row ${id} kept`);
    assert.ok(rows.some((r) => r.action === "tenant.deleted"));
  });

  // ---- basic_auth credential is write-only --------------------------------------------
  test("basic_auth: the password hash is in no API response, yet kept for the data plane and remote data planes", async () => {
    const secret = `pw-${crypto.randomBytes(6).toString("hex")}`;
    const digest = crypto.createHash("sha256").update(secret).digest("hex");
    const tid = uniq("ba");
    const domain = `${tid}.example.test`;
    assert.equal((await api("POST", "/tenants", { id: tid, name: tid })).status, 201);
    assert.equal((await api("POST", `/tenants/${tid}/domains`, { domain })).status, 201);
    const handlers = [{ type: "basic_auth", options: { username: "alice", password: secret } }, { type: "static", options: { body: "in" } }];
    const created = await api("POST", `/tenants/${tid}/routes`, { handlers });
    assert.equal(created.status, 201, created.text);
    const rid = created.data.id;
    const responses = { create: created };
    responses.get = await api("GET", `/tenants/${tid}/routes/${rid}`);
    responses.list = await api("GET", `/tenants/${tid}/routes`);
    responses.listByDomain = await api("GET", `/tenants/${tid}/routes?domain_id=`);
    responses.patchPriority = await api("PATCH", `/tenants/${tid}/routes/${rid}`, { priority: 7 });
    responses.patchEmpty = await api("PATCH", `/tenants/${tid}/routes/${rid}`, {});
    // Writing back the handlers as read (no credential in them) keeps the stored one.
    responses.patchWriteBack = await api("PATCH", `/tenants/${tid}/routes/${rid}`, { handlers: responses.get.data.handlers });
    for (const [what, r] of Object.entries(responses)) {
      assert.equal(r.status === 200 || r.status === 201, true, `${what}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.ok(!r.text.includes("password_sha256"), `${what} shows password_sha256`);
      assert.ok(!r.text.includes(digest), `${what} shows the digest`);
      assert.ok(!r.text.includes(secret), `${what} shows the password`);
    }
    assert.deepEqual(responses.get.data.handlers[0].options, { username: "alice" });
    // Stored for the data plane: the password still works after every PATCH.
    const row = await h.db.prepare("SELECT handlers_json, priority FROM routes WHERE id = ?1").bind(rid).first();
    assert.ok(row.handlers_json.includes(digest), "D1 keeps the digest");
    assert.equal(row.priority, 7);
    const basic = (u, p) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
    const ok = await h.fetch("/x", { host: domain, headers: basic("alice", secret) });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "in");
    const no = await h.fetch("/x", { host: domain, headers: basic("alice", "wrong") });
    assert.equal(no.status, 401);
    await no.text();
    // Remote data planes (scope proxy:resolve_host) need the digest to check passwords.
    const record = await api("GET", `/control-plane/hosts/${domain}`);
    assert.equal(record.status, 200);
    assert.equal(record.data.routes[0].handlers[0].options.password_sha256, digest);
    // A write-back under another username does not inherit the credential.
    const renamed = await api("PATCH", `/tenants/${tid}/routes/${rid}`, {
      handlers: [{ type: "basic_auth", options: { username: "mallory" } }, { type: "static", options: { body: "in" } }],
    });
    assert.equal(renamed.status, 400, renamed.text);
    assert.deepEqual(renamed.data.errors.map((e) => e.path), ["handlers[0].options.password"]);
  });
});

// ---------------------------------------------------------------------------
describe("control-plane JWKS URL and stale key sets (short TTLs)", () => {
  let jw;
  before(async () => {
    jw = await startHostileJwks();
  });
  after(async () => {
    await jw?.close();
  });
  const h = useHarness({
    bindings: () => ({
      PORTICO_HOST_SOURCE: "d1",
      PORTICO_DEBUG_HEADERS: "true",
      CONTROL_PLANE_HOSTS: CP_HOST,
      PORTICO_AUTH_JWKS_URL: jw.url("/fail.json?cp"),
      PORTICO_AUTH_ISSUER: ISS,
      PORTICO_AUTH_AUDIENCE: AUD,
      PORTICO_AUTH_JWKS_TTL_SECONDS: "1",
      PORTICO_AUTH_JWKS_MIN_REFETCH_SECONDS: "30",
      PORTICO_AUTH_JWKS_MAX_STALE_SECONDS: "2",
      PORTICO_DEV_MODE: "false",
    }),
  });

  test("a failing control-plane JWKS: 20 API calls → 401 each, one fetch", async () => {
    const stranger = makeKey("EdDSA", "cp-unknown");
    const token = signJwt(stranger, { iss: ISS, aud: AUD, sub: "x", exp: now() + 300, scope: ALL_SCOPES });
    const h0 = jw.hits["/fail.json"] ?? 0;
    for (let i = 0; i < 20; i++) {
      const r = await apiFor(h, token)("GET", "/tenants");
      assert.equal(r.status, 401, `call ${i}: ${r.text}`);
    }
    assert.equal((jw.hits["/fail.json"] ?? 0) - h0, 1);
  });

  test("a stale key set is trusted only up to TTL + max stale, then requests fail closed", async () => {
    const { host } = await h.addHost({
      routes: [{ match: { path: "/*" }, handlers: [{ type: "jwt", options: { jwks_url: jw.url("/flaky.json") } }, { type: "static", options: { body: "in" } }] }],
    });
    const call = async () => {
      const res = await h.fetch("/", { host, headers: bearer(signJwt(userKey, userClaims())) });
      await res.text();
      return res;
    };
    jw.state.flakyUp = true;
    const t0 = Date.now();
    assert.equal((await call()).status, 200, "fresh keys");
    assert.equal(jw.hits["/flaky.json"], 1);
    jw.state.flakyUp = false;
    await sleep(1300); // past the 1 s TTL
    const stale = await call();
    assert.equal(stale.status, 200, "the refetch failed; the stale set is still within its allowance");
    assert.equal(jw.hits["/flaky.json"], 2, "one refetch");
    assert.ok(Date.now() - t0 < 2800, "still inside TTL + max stale (3 s)");
    await sleep(Math.max(0, 3300 - (Date.now() - t0))); // past TTL + max stale
    const closed = await call();
    assert.equal(closed.status, 502, "keys too stale: fail closed");
    assert.equal(closed.headers.get("x-portico-error"), "jwt_failed");
    assert.equal(jw.hits["/flaky.json"], 2, "no refetch before the min-refetch interval");
  });
});

// ---------------------------------------------------------------------------
describe("a deployment without issuer and audience (and no dev flag) does not serve the API", () => {
  const key = makeKey("EdDSA", "noiss-1");
  const h = useHarness({
    bindings: {
      PORTICO_HOST_SOURCE: "d1",
      CONTROL_PLANE_HOSTS: CP_HOST,
      PORTICO_AUTH_KEYS: JSON.stringify(jwks(key)),
      PORTICO_DEV_MODE: "false",
    },
  });
  // A token the keys would accept if nothing else were checked.
  const token = signJwt(key, { sub: "any", iat: now(), exp: now() + 600, scope: ALL_SCOPES });
  const T = "acme-noiss";
  const OPS = [
    ["GET", "/openapi.json"],
    ["GET", "/tenants"],
    ["POST", "/tenants", { id: "x-noiss", name: "x" }],
    ["GET", `/tenants/${T}`],
    ["PATCH", `/tenants/${T}`, { name: "y" }],
    ["DELETE", `/tenants/${T}`],
    ["GET", `/tenants/${T}/domains`],
    ["POST", `/tenants/${T}/domains`, { domain: "noiss.example.test" }],
    ["GET", `/tenants/${T}/domains/dom_1`],
    ["PATCH", `/tenants/${T}/domains/dom_1`, { domain: "noiss2.example.test" }],
    ["DELETE", `/tenants/${T}/domains/dom_1`],
    ["GET", `/tenants/${T}/routes`],
    ["POST", `/tenants/${T}/routes`, { handlers: [{ type: "static" }] }],
    ["GET", `/tenants/${T}/routes/rt_1`],
    ["PATCH", `/tenants/${T}/routes/rt_1`, { priority: 1 }],
    ["DELETE", `/tenants/${T}/routes/rt_1`],
    ["GET", `/tenants/${T}/audit`],
    ["GET", "/control-plane/hosts/noiss.example.test"],
  ];

  test("every operation → 503 not_configured, with or without a token; D1 unchanged", async () => {
    await h.addTenant(T);
    const before = await snapshot(h);
    for (const [method, path, body] of OPS) {
      for (const tok of [token, null]) {
        const r = await apiFor(h, tok)(method, path, body);
        assert.equal(r.status, 503, `${method} ${path} (${tok ? "token" : "no token"}): ${r.text.slice(0, 200)}`);
        assert.equal(r.data.code, "not_configured", `${method} ${path}`);
        assert.match(r.headers.get("content-type") ?? "", /^application\/problem\+json/);
      }
    }
    assert.deepEqual(await snapshot(h), before, "D1 changed");
  });

  test("the data plane is unaffected", async () => {
    const { host } = await h.addHost({ routes: [{ handlers: [{ type: "static", options: { body: "ok" } }] }] });
    const res = await h.fetch("/", { host });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
  });
});
