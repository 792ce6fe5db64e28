// Domains belong to one tenant, provably (DESIGN §2.5), attacked against the real
// Wasm build: a hostile tenant tries to take hosts another tenant answers for
// (names under its wildcard, wildcards over its names, exact duplicates, public
// suffix wildcards), a tenant's new domain must not be served before its owner proves
// control through DNS (the DoH stand-in dev/doh.mjs), and the operator's token obeys
// the same overlap rules. After every refused write D1 is unchanged, the victim's host
// still serves the victim, and the isolate survived (its debug counters did not reset).
import { describe, test, before, after } from "node:test";
import http from "node:http";
import assert from "node:assert/strict";
import { useHarness, json, uniq, parseStats, survives } from "./harness.mjs";
import { makeKey, signJwt, jwks, now } from "./support/tokens.mjs";

const ISS = "https://issuer.test";
const AUD = "portico-api";
const CP_HOST = "cp.test";
const MAX_DOMAINS = 5;
const ALL_SCOPES = "tenants:read tenants:write domains:read domains:write routes:read routes:write audit:read proxy:resolve_host";
const key = makeKey("EdDSA", "dom-sec-1");
const claims = (extra) => ({ iss: ISS, aud: AUD, iat: now(), exp: now() + 600, scope: ALL_SCOPES, ...extra });
const cpToken = signJwt(key, claims({ sub: "operator" }));
const tenantToken = (tid) => signJwt(key, claims({ sub: `owner-of-${tid}`, tenant_id: tid }));

describe("domain ownership across hostile tenants", () => {
  const h = useHarness({
    bindings: {
      PORTICO_DEBUG_HEADERS: "true",
      CONTROL_PLANE_HOSTS: CP_HOST,
      PORTICO_AUTH_KEYS: JSON.stringify(jwks(key)),
      PORTICO_AUTH_ISSUER: ISS,
      PORTICO_AUTH_AUDIENCE: AUD,
      PORTICO_MAX_DOMAINS_PER_TENANT: String(MAX_DOMAINS),
    },
  });


  const api = (method, path, { token = cpToken, body } = {}) => h.api(method, path, { host: CP_HOST, token, body });

  function expectStatus(r, status, what) {
    assert.equal(r.status, status, `${what}: ${r.status} ${r.text.slice(0, 400)}`);
    return r.data;
  }

  /** An RFC 9457 problem with `code` naming the field `domain`. */
  function expectDomainProblem(r, status, code, what) {
    expectStatus(r, status, what);
    assert.equal(r.data?.code, code, `${what}: code (${r.text.slice(0, 300)})`);
    assert.ok(
      (r.data?.errors ?? []).some((e) => e.path === "domain"),
      `${what}: errors name the field "domain" (${r.text.slice(0, 300)})`,
    );
  }

  async function snapshot() {
    const out = {};
    for (const t of ["tenants", "domains", "routes", "audit_log"]) {
      out[t] = (await h.db.prepare(`SELECT * FROM ${t} ORDER BY id`).all()).results;
    }
    return out;
  }

  /** Runs `fn` and asserts that no table changed. */
  async function unchanged(what, fn) {
    const before = await snapshot();
    await fn();
    assert.deepEqual(await snapshot(), before, `${what}: D1 changed`);
  }

  /**
   * The isolate must survive every refused write: a panic re-initialises the Wasm
   * instance and resets its counters. Each probe asks for a new unknown host, so
   * `source_reads` must grow strictly; after a reset it would start again at 1.
   */
  let lastReads = 0;
  async function assertIsolateSurvived(what) {
    const res = await h.fetch("/", { host: `${uniq("probe")}.nowhere.test` });
    await res.text();
    const stats = parseStats(res);
    assert.ok(stats, `${what}: x-portico-stats present`);
    assert.ok(stats.source_reads > lastReads, `${what}: isolate counters reset (source_reads ${stats.source_reads} after ${lastReads})`);
    lastReads = stats.source_reads;
  }

  async function body(host, path = "/") {
    const res = await h.fetch(path, { host });
    return { status: res.status, text: await res.text() };
  }

  async function createTenant(prefix) {
    const id = uniq(prefix);
    expectStatus(await api("POST", "/tenants", { body: { id, name: id } }), 201, `create tenant ${id}`);
    // One tenant-wide route: every active domain of the tenant answers with its id.
    expectStatus(
      await api("POST", `/tenants/${id}/routes`, { body: { handlers: [{ type: "static", options: { body: `served by ${id}` } }] } }),
      201,
      `route for ${id}`,
    );
    return id;
  }

  // Victim A: domains made with the operator's token (active at once).
  let A, B, u;
  let aWild, aShop, aDeepWild;
  before(async () => {
    u = uniq("z");
    A = await createTenant("vica");
    B = await createTenant("atkb");
    aWild = `*.a-wild-${u}.test`;
    aShop = `shop.parent-${u}.test`;
    aDeepWild = `*.deep.outer-${u}.test`;
    for (const domain of [aWild, aShop, aDeepWild]) {
      const d = expectStatus(await api("POST", `/tenants/${A}/domains`, { body: { domain } }), 201, `A adds ${domain}`);
      assert.equal(d.status, "active");
    }
    // Two unknown hosts first, so a reset (back to 1) cannot look like growth.
    await assertIsolateSurvived("warm-up 1");
    await assertIsolateSurvived("warm-up 2");
  });

  test("B cannot add a name (or a wildcard) under A's wildcard", async () => {
    const victimHost = `x.a-wild-${u}.test`;
    assert.deepEqual(await body(victimHost), { status: 200, text: `served by ${A}` }, "A serves x.a-wild before the attack");
    for (const domain of [victimHost, `deep.x.a-wild-${u}.test`, `*.x.a-wild-${u}.test`]) {
      await unchanged(`B adds ${domain}`, async () => {
        expectDomainProblem(await api("POST", `/tenants/${B}/domains`, { token: tenantToken(B), body: { domain } }), 409, "conflict", `B adds ${domain}`);
      });
      await assertIsolateSurvived(`after B adds ${domain}`);
    }
    assert.deepEqual(await body(victimHost), { status: 200, text: `served by ${A}` }, "A still serves x.a-wild");
  });

  test("B cannot add a wildcard covering A's name or A's wildcard", async () => {
    for (const domain of [`*.parent-${u}.test`, `*.outer-${u}.test`]) {
      await unchanged(`B adds ${domain}`, async () => {
        expectDomainProblem(await api("POST", `/tenants/${B}/domains`, { token: tenantToken(B), body: { domain } }), 409, "conflict", `B adds ${domain}`);
      });
      await assertIsolateSurvived(`after B adds ${domain}`);
    }
    assert.deepEqual(await body(aShop), { status: 200, text: `served by ${A}` }, "A still serves shop.parent");
    assert.deepEqual(await body(`q.deep.outer-${u}.test`), { status: 200, text: `served by ${A}` }, "A still serves under *.deep.outer");
  });

  test("B cannot rename its own domain onto A's names either", async () => {
    const mine = expectStatus(await api("POST", `/tenants/${B}/domains`, { token: tenantToken(B), body: { domain: `mine-${u}.test` } }), 201, "B adds its own");
    for (const domain of [`y.a-wild-${u}.test`, `*.parent-${u}.test`, aShop]) {
      await unchanged(`B renames onto ${domain}`, async () => {
        expectDomainProblem(await api("PATCH", `/tenants/${B}/domains/${mine.id}`, { token: tenantToken(B), body: { domain } }), 409, "conflict", `rename to ${domain}`);
      });
    }
    expectStatus(await api("DELETE", `/tenants/${B}/domains/${mine.id}`, { token: tenantToken(B) }), 204, "cleanup");
    await assertIsolateSurvived("after renames");
  });

  test("an exact duplicate is refused for every tenant, the owner included", async () => {
    for (const [tid, token] of [[B, tenantToken(B)], [A, tenantToken(A)], [B, cpToken]]) {
      for (const domain of [aShop, aWild, aShop.toUpperCase()]) {
        await unchanged(`${tid} adds ${domain}`, async () => {
          expectDomainProblem(await api("POST", `/tenants/${tid}/domains`, { token, body: { domain } }), 409, "conflict", `${tid} adds ${domain}`);
        });
      }
    }
    await assertIsolateSurvived("after duplicates");
  });

  test("wildcards directly under a public suffix and single labels are refused (400, path domain)", async () => {
    const bad = ["*.co.uk", "*.github.io", "*.com", "*.test", "*.localhost", "*.kawasaki.jp", "localhost", "com", "LOCALHOST."];
    for (const [who, token] of [["tenant", tenantToken(B)], ["operator", cpToken]]) {
      for (const domain of bad) {
        await unchanged(`${who} adds ${domain}`, async () => {
          expectDomainProblem(await api("POST", `/tenants/${B}/domains`, { token, body: { domain } }), 400, "validation_failed", `${who} adds ${domain}`);
        });
      }
    }
    await assertIsolateSurvived("after public suffixes");
    // A wildcard one level below a public suffix is a registrant's own zone: allowed.
    const ok = expectStatus(await api("POST", `/tenants/${B}/domains`, { token: cpToken, body: { domain: `*.b-zone-${u}.co.uk` } }), 201, "*.b-zone.co.uk");
    expectStatus(await api("DELETE", `/tenants/${B}/domains/${ok.id}`), 204, "cleanup");
  });

  test("the operator's token obeys the same overlap rules; same-tenant overlaps are fine", async () => {
    for (const domain of [`x.a-wild-${u}.test`, `*.parent-${u}.test`, `*.outer-${u}.test`]) {
      await unchanged(`operator puts ${domain} into B`, async () => {
        expectDomainProblem(await api("POST", `/tenants/${B}/domains`, { body: { domain } }), 409, "conflict", `operator: ${domain} into B`);
      });
    }
    await assertIsolateSurvived("after operator overlaps");
    // Inside one tenant, names under its own wildcard (and wildcards over its own names) are allowed.
    const same = expectStatus(await api("POST", `/tenants/${A}/domains`, { body: { domain: `y.a-wild-${u}.test` } }), 201, "A: y under its wildcard");
    assert.equal(same.status, "active");
    const cover = expectStatus(await api("POST", `/tenants/${A}/domains`, { token: tenantToken(A), body: { domain: `*.parent-${u}.test` } }), 201, "A: wildcard over its own name");
    assert.equal(cover.status, "pending");
    for (const d of [same, cover]) expectStatus(await api("DELETE", `/tenants/${A}/domains/${d.id}`), 204, "cleanup");
  });

  test("a tenant's domain is pending and not served until its TXT record is verified", async () => {
    const V = await createTenant("ver");
    const token = tenantToken(V);
    const host = `shop.v-${u}.test`;
    const d = expectStatus(await api("POST", `/tenants/${V}/domains`, { token, body: { domain: host } }), 201, "create");
    assert.equal(d.status, "pending");
    assert.equal(d.verification?.type, "dns_txt");
    assert.equal(d.verification?.name, `_portico-challenge.${host}`);
    assert.match(d.verification?.value ?? "", /^portico-verification=[0-9a-f]{32}$/);
    // Not served: the data plane and the remote data planes' endpoint both ignore it.
    assert.deepEqual(await body(host), { status: 404, text: "Unknown host" });
    expectStatus(await api("GET", `/control-plane/hosts/${host}`), 404, "resolve pending host");
    // The same answer from GET and list.
    assert.deepEqual(expectStatus(await api("GET", `/tenants/${V}/domains/${d.id}`, { token }), 200, "get").verification, d.verification);

    // _verify before the record exists: still pending, not served.
    let r = expectStatus(await api("POST", `/tenants/${V}/domains/${d.id}/_verify`, { token }), 200, "verify, no record");
    assert.equal(r.status, "pending");
    assert.equal(r.verification.last_check, "not_found");
    assert.deepEqual(await body(host), { status: 404, text: "Unknown host" });

    h.doh.publish(d.verification.name, d.verification.value);
    r = expectStatus(await api("POST", `/tenants/${V}/domains/${d.id}/_verify`, { token }), 200, "verify");
    assert.equal(r.status, "active");
    assert.equal(r.verification, undefined);
    // Served at once in this colo (the 404 above was cached as a negative entry).
    assert.deepEqual(await body(host), { status: 200, text: `served by ${V}` });
    expectStatus(await api("GET", `/control-plane/hosts/${host}`), 200, "resolve verified host");
    // The lookup went to PORTICO_DOH_URL with the JSON API's accept header.
    const q = h.doh.queries.filter((x) => x.name === d.verification.name);
    assert.ok(q.length >= 2, "two lookups");
    assert.ok(q.every((x) => x.type === "TXT" && x.accept === "application/dns-json"), JSON.stringify(q));
    // Audited, with the caller as actor.
    const audit = expectStatus(await api("GET", `/tenants/${V}/audit`), 200, "audit").items;
    assert.ok(audit.some((a) => a.action === "domain.verified" && a.object_id === d.id && a.actor === `owner-of-${V}`), JSON.stringify(audit));
    // A verified name cannot be laundered: renaming it starts over as pending.
    const moved = expectStatus(await api("PATCH", `/tenants/${V}/domains/${d.id}`, { token, body: { domain: `other.v-${u}.test` } }), 200, "rename");
    assert.equal(moved.status, "pending");
    assert.notEqual(moved.verification.value, d.verification.value);
    assert.deepEqual(await body(`other.v-${u}.test`), { status: 404, text: "Unknown host" });
    assert.deepEqual(await body(host), { status: 404, text: "Unknown host" }, "the old name is gone");
  });

  test("a verified wildcard serves hosts below it at once, even ones just answered 404", async () => {
    const W = await createTenant("wver");
    const token = tenantToken(W);
    const d = expectStatus(await api("POST", `/tenants/${W}/domains`, { token, body: { domain: `*.wv-${u}.test` } }), 201, "create");
    assert.equal(d.status, "pending");
    // Remembered as unknown in this isolate and in the colo's Cache API.
    for (const sub of ["a", "b.c"]) assert.deepEqual(await body(`${sub}.wv-${u}.test`), { status: 404, text: "Unknown host" });
    h.doh.publish(d.verification.name, d.verification.value);
    assert.equal(expectStatus(await api("POST", `/tenants/${W}/domains/${d.id}/_verify`, { token }), 200, "verify").status, "active");
    for (const sub of ["a", "b.c"]) {
      assert.deepEqual(await body(`${sub}.wv-${u}.test`), { status: 200, text: `served by ${W}` }, `${sub} served at once`);
    }
  });

  test("a wrong TXT value keeps the domain pending", async () => {
    const W = await createTenant("wrong");
    const token = tenantToken(W);
    const host = `*.w-${u}.test`;
    const d = expectStatus(await api("POST", `/tenants/${W}/domains`, { token, body: { domain: host } }), 201, "create");
    assert.equal(d.verification.name, `_portico-challenge.w-${u}.test`, "a wildcard's record sits at its base");
    h.doh.publish(d.verification.name, "portico-verification=00000000000000000000000000000000");
    h.doh.publish(d.verification.name, `${d.verification.value}x`);
    const r = expectStatus(await api("POST", `/tenants/${W}/domains/${d.id}/_verify`, { token }), 200, "verify");
    assert.equal(r.status, "pending");
    assert.equal(r.verification.last_check, "mismatch");
    assert.equal(r.verification.value, d.verification.value);
    assert.deepEqual(await body(`a.w-${u}.test`), { status: 404, text: "Unknown host" });
    const row = await h.db.prepare("SELECT status FROM domains WHERE id = ?1").bind(d.id).first();
    assert.equal(row.status, "pending");
  });

  test("the scheduled re-check promotes a pending domain whose record appeared", async () => {
    const C = await createTenant("cron");
    const token = tenantToken(C);
    const host = `cron.c-${u}.test`;
    const d = expectStatus(await api("POST", `/tenants/${C}/domains`, { token, body: { domain: host } }), 201, "create");
    assert.deepEqual(await body(host), { status: 404, text: "Unknown host" });
    h.doh.publish(d.verification.name, d.verification.value);
    // Nothing promotes it but the cron run.
    assert.equal(expectStatus(await api("GET", `/tenants/${C}/domains/${d.id}`, { token }), 200, "get").status, "pending");
    const worker = await h.mf.getWorker();
    await worker.scheduled({ cron: "*/10 * * * *", scheduledTime: new Date() });
    const after = expectStatus(await api("GET", `/tenants/${C}/domains/${d.id}`, { token }), 200, "get after cron");
    assert.equal(after.status, "active");
    assert.deepEqual(await body(host), { status: 200, text: `served by ${C}` });
    const audit = expectStatus(await api("GET", `/tenants/${C}/audit`), 200, "audit").items;
    assert.ok(audit.some((a) => a.action === "domain.verified" && a.object_id === d.id && a.actor === "portico:scheduled"), JSON.stringify(audit));
  });

  test("a squatter's unproven claim expires (PORTICO_PENDING_DOMAIN_DAYS), freeing the name for its owner", async () => {
    const squatter = await createTenant("squat");
    const owner = await createTenant("owner");
    const name = `shop.sq-${u}.test`;
    const claim = expectStatus(await api("POST", `/tenants/${squatter}/domains`, { token: tenantToken(squatter), body: { domain: name } }), 201, "squat");
    assert.equal(claim.status, "pending");
    const fresh = expectStatus(await api("POST", `/tenants/${squatter}/domains`, { token: tenantToken(squatter), body: { domain: `fresh.sq-${u}.test` } }), 201, "fresh claim");
    const blocked = await api("POST", `/tenants/${owner}/domains`, { token: tenantToken(owner), body: { domain: name } });
    assert.equal(blocked.status, 409, "the pending claim blocks the name meanwhile");
    // Eight days later (the default is seven), the cron run removes the stale claim only.
    const old = new Date(Date.now() - 8 * 86_400_000).toISOString();
    await h.db.prepare("UPDATE domains SET created_at = ?1 WHERE id = ?2").bind(old, claim.id).run();
    const worker = await h.mf.getWorker();
    await worker.scheduled({ cron: "*/10 * * * *", scheduledTime: new Date() });
    assert.equal(await h.db.prepare("SELECT id FROM domains WHERE id = ?1").bind(claim.id).first(), null, "stale claim removed");
    assert.ok(await h.db.prepare("SELECT id FROM domains WHERE id = ?1").bind(fresh.id).first(), "a recent claim stays");
    const audit = expectStatus(await api("GET", `/tenants/${squatter}/audit`), 200, "audit").items;
    assert.ok(audit.some((a) => a.action === "domain.expired" && a.object_id === claim.id && a.actor === "portico:scheduled"), JSON.stringify(audit));
    const mine = expectStatus(await api("POST", `/tenants/${owner}/domains`, { token: tenantToken(owner), body: { domain: name } }), 201, "owner claims");
    assert.equal(mine.status, "pending");
  });

  test("a domain created with the operator's token is active and served at once", async () => {
    const O = await createTenant("oper");
    const host = `op.o-${u}.test`;
    assert.deepEqual(await body(host), { status: 404, text: "Unknown host" });
    const d = expectStatus(await api("POST", `/tenants/${O}/domains`, { body: { domain: host } }), 201, "create");
    assert.equal(d.status, "active");
    assert.equal(d.verification, undefined);
    assert.deepEqual(await body(host), { status: 200, text: `served by ${O}` });
  });

  test(`a tenant token holds at most PORTICO_MAX_DOMAINS_PER_TENANT (${MAX_DOMAINS}) domains`, async () => {
    const T = await createTenant("budget");
    const token = tenantToken(T);
    for (let i = 0; i < MAX_DOMAINS; i += 1) {
      expectStatus(await api("POST", `/tenants/${T}/domains`, { token, body: { domain: `d${i}.t-${u}.test` } }), 201, `domain ${i}`);
    }
    await unchanged("one over the budget", async () => {
      const r = await api("POST", `/tenants/${T}/domains`, { token, body: { domain: `over.t-${u}.test` } });
      expectDomainProblem(r, 409, "conflict", "over budget");
      assert.match(r.data.errors[0].message, /PORTICO_MAX_DOMAINS_PER_TENANT/);
    });
    await assertIsolateSurvived("after the budget");
    // The operator is trusted beyond the tenant budget.
    expectStatus(await api("POST", `/tenants/${T}/domains`, { body: { domain: `over.t-${u}.test` } }), 201, "operator over budget");
  });

  test("pending rows never reach the host source, whatever the cache holds", async () => {
    // A pending row written straight into D1 under an active tenant-wide route.
    const P = await createTenant("pend");
    const host = `raw.p-${u}.test`;
    await h.addDomain({ tenant_id: P, domain: host, status: "pending", verification_token: "portico-verification=x" });
    assert.deepEqual(await body(host), { status: 404, text: "Unknown host" });
    expectStatus(await api("GET", `/control-plane/hosts/${host}`), 404, "resolve");
    const res = await json(await h.fetch("/api/v1/openapi.json", { host: CP_HOST }));
    assert.ok(res.paths["/tenants/{tid}/domains/{did}/_verify"]?.post, "documented");
  });
});

// A hostile (or broken) resolver behind PORTICO_DOH_URL: endless bodies, silence,
// errors, garbage and deeply nested JSON must each leave the domain pending with
// `lookup_failed`, answer within the deadline and leave the isolate running.
describe("a hostile DNS-over-HTTPS resolver", () => {
  const TIMEOUT_MS = 3000;
  let mode = "ok";
  let answerValue = "";
  let bytesSent = 0;
  const resolver = http.createServer((req, res) => {
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    switch (mode) {
      case "endless": {
        // A 200 that never ends: only a cap enforced while reading stops it early.
        res.writeHead(200, { "content-type": "application/dns-json" });
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) bytesSent += chunk.length;
          if (!res.destroyed) res.once("drain", pump);
        };
        res.on("close", () => {});
        pump();
        return;
      }
      case "silent":
        return; // never answers
      case "status":
        res.writeHead(503, { "content-type": "text/plain" });
        return res.end("unavailable");
      case "garbage":
        res.writeHead(200, { "content-type": "application/dns-json" });
        return res.end("\u0000\u00ff{\"Status\":0,\"Answer\":[");
      case "deep":
        res.writeHead(200, { "content-type": "application/dns-json" });
        return res.end(`{"Status":0,"Answer":${"[".repeat(20_000)}${"]".repeat(20_000)}}`);
      case "servfail":
        res.writeHead(200, { "content-type": "application/dns-json" });
        return res.end(JSON.stringify({ Status: 2 }));
      default: {
        // A well-formed answer whose TXT value is split into two quoted strings.
        const half = Math.floor(answerValue.length / 2);
        const data = `"${answerValue.slice(0, half)}" "${answerValue.slice(half)}"`;
        res.writeHead(200, { "content-type": "application/dns-json" });
        return res.end(JSON.stringify({ Status: 0, Answer: [{ name: "x.", type: 16, TTL: 1, data }] }));
      }
    }
  });
  let resolverUrl;
  before(async () => {
    await new Promise((r) => resolver.listen(0, "127.0.0.1", r));
    resolverUrl = `http://127.0.0.1:${resolver.address().port}/dns-query`;
  });
  after(async () => {
    resolver.closeAllConnections?.();
    await new Promise((r) => resolver.close(r));
  });

  const h = useHarness({
    bindings: () => ({
      PORTICO_DEBUG_HEADERS: "true",
      CONTROL_PLANE_HOSTS: CP_HOST,
      PORTICO_AUTH_KEYS: JSON.stringify(jwks(key)),
      PORTICO_AUTH_ISSUER: ISS,
      PORTICO_AUTH_AUDIENCE: AUD,
      // Called when the harness starts, after the resolver listens.
      PORTICO_DOH_URL: resolverUrl,
      PORTICO_DOH_TIMEOUT_MS: String(TIMEOUT_MS),
    }),
  });

  async function call(method, path, token, body) {
    const res = await h.fetch(`/api/v1${path}`, {
      host: CP_HOST,
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  }

  let T, token, reads = 0;
  before(async () => {
    T = uniq("hostile");
    token = tenantToken(T);
    await call("POST", "/tenants", cpToken, { id: T, name: T });
    for (let i = 0; i < 2; i += 1) reads = (await probeReads()) ?? 0;
  });

  async function probeReads() {
    const res = await h.fetch("/", { host: `${uniq("probe")}.nowhere.test` });
    await res.text();
    return parseStats(res)?.source_reads;
  }

  for (const [m, maxMs, minMs] of [
    ["endless", TIMEOUT_MS - 500, 0],
    ["silent", TIMEOUT_MS + 4000, TIMEOUT_MS - 200],
    ["status", TIMEOUT_MS, 0],
    ["garbage", TIMEOUT_MS, 0],
    ["deep", TIMEOUT_MS, 0],
    ["servfail", TIMEOUT_MS, 0],
  ]) {
    test(`resolver answers "${m}": the domain stays pending (lookup_failed), within the deadline`, async () => {
      const d = await call("POST", `/tenants/${T}/domains`, token, { domain: `${m}.${uniq("hz")}.test` });
      mode = m;
      bytesSent = 0;
      // A slow request on another host runs beside the attack and must finish normally.
      const { r, took } = await survives(h, async () => {
        const t0 = Date.now();
        const r = await call("POST", `/tenants/${T}/domains/${d.id}/_verify`, token);
        return { r, took: Date.now() - t0 };
      });
      mode = "ok";
      assert.equal(r.status, "pending");
      assert.equal(r.verification.last_check, "lookup_failed");
      assert.ok(took <= maxMs && took >= minMs, `_verify took ${took} ms (expected ${minMs}..${maxMs})`);
      if (m === "endless") assert.ok(bytesSent < 64 * 1024 * 1024, `read stopped early (${bytesSent} bytes sent)`);
      const now = await probeReads();
      assert.ok(now > reads, `isolate counters reset (source_reads ${now} after ${reads})`);
      reads = now;
      await call("DELETE", `/tenants/${T}/domains/${d.id}`, token);
    });
  }

  test("a well-formed answer with the value split across strings verifies", async () => {
    const d = await call("POST", `/tenants/${T}/domains`, token, { domain: `ok.${uniq("hz")}.test` });
    answerValue = d.verification.value;
    const r = await call("POST", `/tenants/${T}/domains/${d.id}/_verify`, token);
    assert.equal(r.status, "active");
  });
});
