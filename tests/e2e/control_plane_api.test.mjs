// Management API (docs/control-plane.md) end to end: CRUD of tenants, domains and
// routes through the API only (checked against the D1 rows too), paging, audit rows,
// no half-writes, the data plane seeing a write on the very next request, the
// OpenAPI document agreeing with the contract's operation table, control-plane host
// scoping and the request-body rules.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { useHarness, uniq, sleep, ROOT } from "./harness.mjs";
import { makeKey, signJwt, jwks, now } from "./support/tokens.mjs";

const CP = "cp.test";
const ISSUER = "https://issuer.test";
const AUDIENCE = "portico-api";
const ALL_SCOPES =
  "tenants:read tenants:write domains:read domains:write routes:read routes:write audit:read proxy:resolve_host";
const key = makeKey("EdDSA", "cp-key-1");

const h = useHarness({
  bindings: {
    PORTICO_HOST_SOURCE: "d1",
    PORTICO_DEBUG_HEADERS: "true",
    CONTROL_PLANE_HOSTS: CP,
    PORTICO_AUTH_KEYS: JSON.stringify(jwks(key)),
    PORTICO_AUTH_ISSUER: ISSUER,
    PORTICO_AUTH_AUDIENCE: AUDIENCE,
  },
});

/** A control-plane token (no tenant claim) with every scope. */
const token = (claims = {}) =>
  signJwt(key, { iss: ISSUER, aud: AUDIENCE, sub: "tester", iat: now(), exp: now() + 300, scope: ALL_SCOPES, ...claims });

/**
 * One API call on the control-plane host. `auth`: a token, or null for none.
 * `body`: an object (sent as JSON) or a string/bytes sent as-is. `contentType`:
 * overrides application/json; null sends no Content-Type. Resolves with
 * { status, headers, text, data (parsed JSON or null), requestId }.
 */
async function api(method, path, { auth = token(), body, contentType, headers = {}, host = CP } = {}) {
  const hdrs = { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...headers };
  let payload;
  if (body !== undefined) {
    payload = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (contentType !== null) hdrs["content-type"] = contentType ?? "application/json";
  }
  const res = await h.fetch(`/api/v1${path}`, { host, method, headers: hdrs, body: payload });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  return { status: res.status, headers: res.headers, text, data, requestId: res.headers.get("x-request-id") };
}

const show = (r) => `${r.status} ${r.text.slice(0, 400)}`;

/** Asserts an RFC 9457 problem document with the contract's fields. */
function assertProblem(r, status, code) {
  assert.equal(r.status, status, show(r));
  assert.match(r.headers.get("content-type") ?? "", /^application\/problem\+json/, show(r));
  assert.ok(r.data && typeof r.data === "object", show(r));
  assert.equal(r.data.status, status, show(r));
  if (code !== undefined) {
    assert.equal(r.data.code, code, show(r));
    assert.equal(r.data.type, `urn:portico:problem:${code}`, show(r));
  }
  assert.equal(typeof r.data.title, "string", show(r));
  assert.ok(r.data.title.length > 0, show(r));
  assert.equal(typeof r.data.detail, "string", show(r));
  assert.ok(r.requestId, "every response carries x-request-id");
  assert.equal(r.data.request_id, r.requestId, "problem request_id = x-request-id");
}

/** Asserts a validation problem naming `path` (with a message). */
function assertErrorPath(r, path, { status = 400, code = "validation_failed", message } = {}) {
  assertProblem(r, status, code);
  assert.ok(Array.isArray(r.data.errors), `errors[] present: ${show(r)}`);
  const hit = r.data.errors.find((e) => e.path === path);
  assert.ok(hit, `an error at path ${JSON.stringify(path)} in ${JSON.stringify(r.data.errors)}`);
  assert.equal(typeof hit.message, "string");
  assert.ok(hit.message.length > 0, "error message is not empty");
  if (message !== undefined) assert.equal(hit.message, message);
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const staticBody = (body) => [{ type: "static", options: { body } }];

async function createTenant(extra = {}) {
  const r = await api("POST", "/tenants", { body: { id: uniq("tn"), name: "Tenant", ...extra } });
  assert.equal(r.status, 201, show(r));
  return r.data;
}
async function createDomain(tid, domain = `${uniq("d")}.example.test`) {
  const r = await api("POST", `/tenants/${tid}/domains`, { body: { domain } });
  assert.equal(r.status, 201, show(r));
  return r.data;
}
async function createRoute(tid, body) {
  const r = await api("POST", `/tenants/${tid}/routes`, { body });
  assert.equal(r.status, 201, show(r));
  return r.data;
}
const countRows = async (table, tid) =>
  (await h.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = ?1`).bind(tid).first()).n;

/** Follows next_cursor from `path` with `limit`; returns every page. */
async function allPages(path, limit) {
  const pages = [];
  let cursor = null;
  for (let i = 0; i < 100; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const r = await api("GET", `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    assert.equal(r.status, 200, show(r));
    assert.ok(Array.isArray(r.data.items), show(r));
    assert.ok(r.data.items.length <= limit, `page larger than limit ${limit}`);
    assert.ok(r.data.next_cursor === null || typeof r.data.next_cursor === "string", show(r));
    pages.push(r.data);
    if (r.data.next_cursor === null) return pages;
    cursor = r.data.next_cursor;
  }
  throw new Error("paging did not terminate");
}

describe("CRUD round trips", () => {
  test("tenants: create (generated and given id), get, list, patch, delete", async () => {
    const gen = await api("POST", "/tenants", { body: { name: "Generated Co" } });
    assert.equal(gen.status, 201, show(gen));
    assert.deepEqual(Object.keys(gen.data).sort(), ["created_at", "id", "name"]);
    assert.match(gen.data.id, /^t_[0-9a-f]{20}$/);
    assert.equal(gen.data.name, "Generated Co");
    assert.match(gen.data.created_at, ISO_MS);

    const id = uniq("acme");
    const created = await api("POST", "/tenants", { body: { id, name: "Acme" } });
    assert.equal(created.status, 201, show(created));
    assert.deepEqual(created.data, { id, name: "Acme", created_at: created.data.created_at });
    const row = await h.db.prepare("SELECT * FROM tenants WHERE id = ?1").bind(id).first();
    assert.equal(row.name, "Acme");
    assert.equal(row.created_at, created.data.created_at);

    assertProblem(await api("POST", "/tenants", { body: { id, name: "Again" } }), 409, "conflict");
    assert.equal((await h.db.prepare("SELECT name FROM tenants WHERE id = ?1").bind(id).first()).name, "Acme", "409 changed nothing");

    const got = await api("GET", `/tenants/${id}`);
    assert.equal(got.status, 200, show(got));
    assert.deepEqual(got.data, created.data);

    const list = await api("GET", "/tenants?limit=200");
    assert.equal(list.status, 200, show(list));
    const ids = list.data.items.map((t) => t.id);
    assert.ok(ids.includes(id) && ids.includes(gen.data.id), JSON.stringify(ids));
    assert.deepEqual(list.data.items.find((t) => t.id === id), created.data);

    const patched = await api("PATCH", `/tenants/${id}`, { body: { name: "Acme Renamed" } });
    assert.equal(patched.status, 200, show(patched));
    assert.deepEqual(patched.data, { ...created.data, name: "Acme Renamed" });
    assert.equal((await h.db.prepare("SELECT name FROM tenants WHERE id = ?1").bind(id).first()).name, "Acme Renamed");
    assert.deepEqual((await api("GET", `/tenants/${id}`)).data, patched.data);

    const del = await api("DELETE", `/tenants/${id}`);
    assert.equal(del.status, 204, show(del));
    assert.equal(del.text, "");
    assertProblem(await api("GET", `/tenants/${id}`), 404, "not_found");
    assert.equal(await h.db.prepare("SELECT id FROM tenants WHERE id = ?1").bind(id).first(), null);
    assertProblem(await api("DELETE", `/tenants/${id}`), 404, "not_found");
  });

  test("domains: create normalises, duplicate 409, get, list, patch, delete", async () => {
    const t = await createTenant();
    const other = await createTenant();
    const base = `${uniq("api")}.example.test`;
    const c = await api("POST", `/tenants/${t.id}/domains`, { body: { domain: `${base.replace("api", "Api").replace(".test", ".TEST")}.` } });
    assert.equal(c.status, 201, show(c));
    // Created with the operator's token: active at once, no verification to publish.
    assert.deepEqual(Object.keys(c.data).sort(), ["created_at", "domain", "id", "status", "tenant_id"]);
    assert.equal(c.data.status, "active");
    assert.equal(c.data.domain, base, "lowercased, trailing dot removed");
    assert.equal(c.data.tenant_id, t.id);
    assert.match(c.data.id, /^dom_/);
    assert.match(c.data.created_at, ISO_MS);
    const row = await h.db.prepare("SELECT * FROM domains WHERE id = ?1").bind(c.data.id).first();
    assert.equal(row.domain, base);
    assert.equal(row.tenant_id, t.id);

    // Already used by any tenant (same or other), whatever the spelling.
    assertProblem(await api("POST", `/tenants/${t.id}/domains`, { body: { domain: base.toUpperCase() } }), 409, "conflict");
    assertProblem(await api("POST", `/tenants/${other.id}/domains`, { body: { domain: base } }), 409, "conflict");

    const got = await api("GET", `/tenants/${t.id}/domains/${c.data.id}`);
    assert.equal(got.status, 200, show(got));
    assert.deepEqual(got.data, c.data);
    const list = await api("GET", `/tenants/${t.id}/domains`);
    assert.equal(list.status, 200, show(list));
    assert.deepEqual(list.data.items, [c.data]);
    assert.equal(list.data.next_cursor, null);
    // The other tenant's list does not show it, and its path does not reach it.
    assert.deepEqual((await api("GET", `/tenants/${other.id}/domains`)).data.items, []);
    assertProblem(await api("GET", `/tenants/${other.id}/domains/${c.data.id}`), 404, "not_found");

    const renamed = `${uniq("new")}.example.test`;
    const p = await api("PATCH", `/tenants/${t.id}/domains/${c.data.id}`, { body: { domain: `${renamed.toUpperCase()}.` } });
    assert.equal(p.status, 200, show(p));
    assert.deepEqual(p.data, { ...c.data, domain: renamed });
    assert.equal((await h.db.prepare("SELECT domain FROM domains WHERE id = ?1").bind(c.data.id).first()).domain, renamed);

    // Invalid domains are refused with path "domain"; a wildcard label is fine.
    for (const bad of ["a.test:8080", "a..test", "under_score.test", "spa ce.test", "", `${Array.from({ length: 5 }, () => "a".repeat(60)).join(".")}.test`, "x.*.test"]) {
      assertErrorPath(await api("POST", `/tenants/${t.id}/domains`, { body: { domain: bad } }), "domain");
    }
    const wild = await api("POST", `/tenants/${t.id}/domains`, { body: { domain: `*.${uniq("w")}.test` } });
    assert.equal(wild.status, 201, show(wild));

    const del = await api("DELETE", `/tenants/${t.id}/domains/${c.data.id}`);
    assert.equal(del.status, 204, show(del));
    assertProblem(await api("GET", `/tenants/${t.id}/domains/${c.data.id}`), 404, "not_found");
    assert.equal(await h.db.prepare("SELECT id FROM domains WHERE id = ?1").bind(c.data.id).first(), null);
  });

  test("routes: create with defaults, get, patch (updated_at moves, created_at stays), delete", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    const handlers = staticBody("hello");
    const c = await api("POST", `/tenants/${t.id}/routes`, { body: { handlers } });
    assert.equal(c.status, 201, show(c));
    const r = c.data;
    assert.deepEqual(Object.keys(r).sort(), ["created_at", "custom_domain_id", "handlers", "id", "match", "priority", "tenant_id", "updated_at"]);
    assert.match(r.id, /^rt_/);
    assert.equal(r.tenant_id, t.id);
    assert.equal(r.custom_domain_id, null);
    assert.equal(r.priority, 100);
    assert.deepEqual(r.match, { path: "/*" });
    assert.deepEqual(r.handlers, handlers);
    assert.match(r.created_at, ISO_MS);
    assert.match(r.updated_at, ISO_MS);
    const row = await h.db.prepare("SELECT * FROM routes WHERE id = ?1").bind(r.id).first();
    assert.equal(row.tenant_id, t.id);
    assert.equal(row.custom_domain_id, null);
    assert.equal(row.priority, 100);
    assert.deepEqual(JSON.parse(row.handlers_json), handlers);
    assert.equal(row.created_at, r.created_at);

    const scopedBody = { custom_domain_id: d.id, priority: 5, match: { path: "/api/*", methods: ["GET"] }, handlers: staticBody("api") };
    const s = await createRoute(t.id, scopedBody);
    assert.equal(s.custom_domain_id, d.id);
    assert.equal(s.priority, 5);
    assert.deepEqual(s.match, scopedBody.match);
    assert.deepEqual(JSON.parse((await h.db.prepare("SELECT match_json FROM routes WHERE id = ?1").bind(s.id).first()).match_json), scopedBody.match);

    const got = await api("GET", `/tenants/${t.id}/routes/${r.id}`);
    assert.equal(got.status, 200, show(got));
    assert.deepEqual(got.data, r);

    await sleep(20); // so the new updated_at is a later millisecond
    const newHandlers = [{ type: "headers", options: { response: { "x-v": "2" } } }, ...staticBody("hello v2")];
    const p = await api("PATCH", `/tenants/${t.id}/routes/${r.id}`, { body: { priority: 7, handlers: newHandlers } });
    assert.equal(p.status, 200, show(p));
    assert.equal(p.data.priority, 7);
    assert.deepEqual(p.data.handlers, newHandlers);
    assert.deepEqual(p.data.match, r.match, "match not given: kept");
    assert.equal(p.data.custom_domain_id, null);
    assert.equal(p.data.created_at, r.created_at, "created_at never changes");
    assert.match(p.data.updated_at, ISO_MS);
    assert.ok(p.data.updated_at > r.updated_at, `updated_at moved: ${r.updated_at} -> ${p.data.updated_at}`);
    const prow = await h.db.prepare("SELECT * FROM routes WHERE id = ?1").bind(r.id).first();
    assert.equal(prow.priority, 7);
    assert.deepEqual(JSON.parse(prow.handlers_json), newHandlers);
    assert.equal(prow.updated_at, p.data.updated_at);
    assert.equal(prow.created_at, r.created_at);
    assert.deepEqual((await api("GET", `/tenants/${t.id}/routes/${r.id}`)).data, p.data);

    // match is replaced wholesale; custom_domain_id can be set and cleared.
    const m = await api("PATCH", `/tenants/${t.id}/routes/${s.id}`, { body: { match: { path: "/v2/*" }, custom_domain_id: null } });
    assert.equal(m.status, 200, show(m));
    assert.deepEqual(m.data.match, { path: "/v2/*" });
    assert.equal(m.data.custom_domain_id, null);
    assert.equal(m.data.priority, 5);

    const del = await api("DELETE", `/tenants/${t.id}/routes/${r.id}`);
    assert.equal(del.status, 204, show(del));
    assert.equal(del.text, "");
    assertProblem(await api("GET", `/tenants/${t.id}/routes/${r.id}`), 404, "not_found");
    assert.equal(await h.db.prepare("SELECT id FROM routes WHERE id = ?1").bind(r.id).first(), null);
    assertProblem(await api("PATCH", `/tenants/${t.id}/routes/${r.id}`, { body: { priority: 1 } }), 404, "not_found");
  });

  test("deleting a domain removes the routes scoped to it, not the tenant-wide ones", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    const keep = await createDomain(t.id);
    const scoped = await createRoute(t.id, { custom_domain_id: d.id, handlers: staticBody("scoped") });
    const onKeep = await createRoute(t.id, { custom_domain_id: keep.id, handlers: staticBody("keep") });
    const shared = await createRoute(t.id, { handlers: staticBody("shared") });
    assert.equal((await api("DELETE", `/tenants/${t.id}/domains/${d.id}`)).status, 204);
    assertProblem(await api("GET", `/tenants/${t.id}/routes/${scoped.id}`), 404, "not_found");
    assert.equal(await h.db.prepare("SELECT id FROM routes WHERE id = ?1").bind(scoped.id).first(), null);
    const left = (await api("GET", `/tenants/${t.id}/routes`)).data.items.map((r) => r.id).sort();
    assert.deepEqual(left, [onKeep.id, shared.id].sort());
  });

  test("objects of a missing tenant are 404", async () => {
    const ghost = uniq("ghost");
    assertProblem(await api("GET", `/tenants/${ghost}`), 404, "not_found");
    assertProblem(await api("GET", `/tenants/${ghost}/routes`), 404, "not_found");
    assertProblem(await api("POST", `/tenants/${ghost}/routes`, { body: { handlers: staticBody("x") } }), 404, "not_found");
    assertProblem(await api("POST", `/tenants/${ghost}/domains`, { body: { domain: `${uniq("g")}.test` } }), 404, "not_found");
    assert.equal(await countRows("routes", ghost), 0);
  });
});

describe("paging and filters", () => {
  test("limit=3 pages through 7 routes once each, oldest first by (created_at, id)", async () => {
    const t = await createTenant();
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push((await createRoute(t.id, { priority: i, handlers: staticBody(`r${i}`) })).id);

    const pages = await allPages(`/tenants/${t.id}/routes`, 3);
    assert.deepEqual(pages.map((p) => p.items.length), [3, 3, 1]);
    const items = pages.flatMap((p) => p.items);
    const seen = items.map((r) => r.id);
    assert.equal(new Set(seen).size, seen.length, "no route twice");
    assert.deepEqual([...seen].sort(), [...ids].sort(), "every route once");
    const sorted = [...items].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    assert.deepEqual(seen, sorted.map((r) => r.id), "order is (created_at, id)");

    // Default limit (50) returns all of them on one page.
    const all = await api("GET", `/tenants/${t.id}/routes`);
    assert.equal(all.status, 200, show(all));
    assert.deepEqual(all.data.items.map((r) => r.id), seen);
    assert.equal(all.data.next_cursor, null);
    // limit=200 is the maximum and is accepted.
    assert.equal((await api("GET", `/tenants/${t.id}/routes?limit=200`)).status, 200);
  });

  test("tenants and domains lists page the same way", async () => {
    const t = await createTenant();
    const doms = [];
    for (let i = 0; i < 5; i++) doms.push((await createDomain(t.id)).id);
    const dpages = await allPages(`/tenants/${t.id}/domains`, 2);
    assert.deepEqual(dpages.map((p) => p.items.length), [2, 2, 1]);
    const dseen = dpages.flatMap((p) => p.items.map((x) => x.id));
    assert.deepEqual([...dseen].sort(), [...doms].sort());
    assert.equal(new Set(dseen).size, 5);

    const all = (await api("GET", "/tenants?limit=200")).data.items.map((x) => x.id);
    const tseen = (await allPages("/tenants", 3)).flatMap((p) => p.items.map((x) => x.id));
    assert.deepEqual(tseen, all, "paged tenants = one big page, same order");
    assert.ok(tseen.includes(t.id));
  });

  test("bad limit and cursor -> 400 with path limit / cursor", async () => {
    const t = await createTenant();
    for (const bad of ["0", "201", "x", "-1", "1.5"]) {
      assertErrorPath(await api("GET", `/tenants/${t.id}/routes?limit=${bad}`), "limit");
    }
    for (const bad of ["garbage", "!!!", "eyJub3QiOiJhIGN1cnNvciJ9"]) {
      assertErrorPath(await api("GET", `/tenants/${t.id}/routes?cursor=${encodeURIComponent(bad)}`), "cursor");
    }
    assertErrorPath(await api("GET", "/tenants?limit=0"), "limit");
    assertErrorPath(await api("GET", `/tenants/${t.id}/audit?cursor=garbage`), "cursor");
  });

  test("?domain_id=<did> lists routes of that domain; ?domain_id= only unscoped ones", async () => {
    const t = await createTenant();
    const d1 = await createDomain(t.id);
    const d2 = await createDomain(t.id);
    const unscoped = [(await createRoute(t.id, { handlers: staticBody("u1") })).id, (await createRoute(t.id, { handlers: staticBody("u2") })).id];
    const on1 = [
      (await createRoute(t.id, { custom_domain_id: d1.id, handlers: staticBody("a") })).id,
      (await createRoute(t.id, { custom_domain_id: d1.id, handlers: staticBody("b") })).id,
    ];
    const on2 = [(await createRoute(t.id, { custom_domain_id: d2.id, handlers: staticBody("c") })).id];

    const ids = async (q) => {
      const r = await api("GET", `/tenants/${t.id}/routes${q}`);
      assert.equal(r.status, 200, show(r));
      return r.data.items.map((x) => x.id).sort();
    };
    assert.deepEqual(await ids(`?domain_id=${d1.id}`), [...on1].sort());
    assert.deepEqual(await ids(`?domain_id=${d2.id}`), [...on2].sort());
    assert.deepEqual(await ids("?domain_id="), [...unscoped].sort());
    assert.deepEqual(await ids(""), [...unscoped, ...on1, ...on2].sort());
    // Paging composes with the filter.
    const pages = await allPages(`/tenants/${t.id}/routes?domain_id=${d1.id}`, 1);
    assert.deepEqual(pages.flatMap((p) => p.items.map((x) => x.id)).sort(), [...on1].sort());
  });
});

describe("a write is visible to the very next data-plane request", () => {
  const tier = (res) => res.headers.get("x-portico-host-cache");
  const get = async (host, path = "/") => {
    const res = await h.fetch(path, { host });
    return { status: res.status, text: await res.text(), tier: tier(res) };
  };

  test("PATCH a route: a host cached in isolate memory serves the new handlers at once", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    const r = await createRoute(t.id, { custom_domain_id: d.id, handlers: staticBody("v1") });
    // Created through the API: answers at once.
    assert.deepEqual((await get(d.domain)).text, "v1");
    const warm = await get(d.domain);
    assert.equal(warm.text, "v1");
    assert.equal(warm.tier, "memory", "the host is in isolate memory before the write");

    const p = await api("PATCH", `/tenants/${t.id}/routes/${r.id}`, { body: { handlers: staticBody("v2") } });
    assert.equal(p.status, 200, show(p));
    const after = await get(d.domain);
    assert.equal(after.status, 200);
    assert.equal(after.text, "v2", `next request after PATCH (tier ${after.tier})`);

    // A new, higher-priority route created on the cached host wins at once too.
    await get(d.domain);
    await createRoute(t.id, { priority: 1, handlers: staticBody("v3") });
    assert.equal((await get(d.domain)).text, "v3");
  });

  test("an unknown, negatively cached host works right after its domain and route are created", async () => {
    const host = `${uniq("late")}.example.test`;
    const miss = await get(host);
    assert.equal(miss.status, 404);
    assert.equal(miss.text, "Unknown host");
    const miss2 = await get(host);
    assert.equal(miss2.status, 404);
    assert.equal(miss2.tier, "negative", "the miss is negatively cached");

    const t = await createTenant();
    const d = await createDomain(t.id, host);
    const noRoute = await get(host);
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.text, "No matching route", "domain known right after its creation");
    await createRoute(t.id, { custom_domain_id: d.id, handlers: staticBody("now-live") });
    const live = await get(host);
    assert.equal(live.status, 200);
    assert.equal(live.text, "now-live");
  });

  test("DELETE route -> No matching route; DELETE domain -> Unknown host; DELETE tenant -> Unknown host", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    const r = await createRoute(t.id, { handlers: staticBody("alive") });
    assert.equal((await get(d.domain)).text, "alive");
    assert.equal((await get(d.domain)).tier, "memory");
    assert.equal((await api("DELETE", `/tenants/${t.id}/routes/${r.id}`)).status, 204);
    const gone = await get(d.domain);
    assert.equal(gone.status, 404);
    assert.equal(gone.text, "No matching route");

    await createRoute(t.id, { handlers: staticBody("alive again") });
    assert.equal((await get(d.domain)).text, "alive again");
    assert.equal((await api("DELETE", `/tenants/${t.id}/domains/${d.id}`)).status, 204);
    const unknown = await get(d.domain);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.text, "Unknown host");

    const d2 = await createDomain(t.id);
    assert.equal((await get(d2.domain)).text, "alive again");
    assert.equal((await get(d2.domain)).tier, "memory");
    assert.equal((await api("DELETE", `/tenants/${t.id}`)).status, 204);
    const dead = await get(d2.domain);
    assert.equal(dead.status, 404);
    assert.equal(dead.text, "Unknown host");
  });

  test("PATCH a domain name: the old name stops answering, the new one answers", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    await createRoute(t.id, { handlers: staticBody("moved") });
    assert.equal((await get(d.domain)).text, "moved");
    const renamed = `${uniq("moved")}.example.test`;
    assert.equal((await get(renamed)).status, 404, "new name negatively cached first");
    const p = await api("PATCH", `/tenants/${t.id}/domains/${d.id}`, { body: { domain: renamed } });
    assert.equal(p.status, 200, show(p));
    const old = await get(d.domain);
    assert.equal(old.status, 404);
    assert.equal(old.text, "Unknown host");
    const now_ = await get(renamed);
    assert.equal(now_.status, 200);
    assert.equal(now_.text, "moved");
  });
});

describe("audit", () => {
  test("every write is one row: actor, action, object, request id; newest first; paged", async () => {
    const sub = `auditor-${uniq("s")}`;
    const auth = token({ sub });
    const writes = [];
    // Distinct milliseconds between writes, so newest-first has one right order.
    const write = async (method, path, body, action, object_type, objectId) => {
      await sleep(5);
      const r = await api(method, path, { auth, body });
      assert.ok(r.status === 200 || r.status === 201 || r.status === 204, `${method} ${path}: ${show(r)}`);
      assert.ok(r.requestId, "write response carries x-request-id");
      const object_id = objectId ?? r.data.id;
      writes.push({ action, object_type, object_id, request_id: r.requestId });
      return r;
    };
    const tid = uniq("aud");
    await write("POST", "/tenants", { id: tid, name: "Audited" }, "tenant.created", "tenant", tid);
    await write("PATCH", `/tenants/${tid}`, { name: "Audited 2" }, "tenant.updated", "tenant", tid);
    const d = (await write("POST", `/tenants/${tid}/domains`, { domain: `${uniq("a")}.test` }, "domain.created", "domain")).data;
    await write("PATCH", `/tenants/${tid}/domains/${d.id}`, { domain: `${uniq("b")}.test` }, "domain.updated", "domain", d.id);
    const r = (await write("POST", `/tenants/${tid}/routes`, { handlers: staticBody("a") }, "route.created", "route")).data;
    await write("PATCH", `/tenants/${tid}/routes/${r.id}`, { priority: 3 }, "route.updated", "route", r.id);

    // Failed writes add nothing.
    const bad = await api("POST", `/tenants/${tid}/routes`, { auth, body: { handlers: [] } });
    assertErrorPath(bad, "handlers");
    const badPatch = await api("PATCH", `/tenants/${tid}`, { auth, body: { name: "" } });
    assert.equal(badPatch.status, 400, show(badPatch));

    await write("DELETE", `/tenants/${tid}/routes/${r.id}`, undefined, "route.deleted", "route", r.id);
    await write("DELETE", `/tenants/${tid}/domains/${d.id}`, undefined, "domain.deleted", "domain", d.id);

    const list = await api("GET", `/tenants/${tid}/audit?limit=200`);
    assert.equal(list.status, 200, show(list));
    const items = list.data.items;
    assert.equal(list.data.next_cursor, null);
    assert.equal(items.length, writes.length, `one row per successful write: ${JSON.stringify(items.map((i) => i.action))}`);
    const expected = [...writes].reverse();
    assert.deepEqual(
      items.map(({ action, object_type, object_id, request_id }) => ({ action, object_type, object_id, request_id })),
      expected,
      "newest first, each with the request id of its write",
    );
    for (const it of items) {
      // Management rows carry no call columns (those are for kind "proxy" rows).
      assert.deepEqual(Object.keys(it).sort(), ["action", "actor", "at", "id", "kind", "object_id", "object_type", "request_id", "tenant_id"]);
      assert.equal(it.kind, "write");
      assert.match(it.id, /^aud_/);
      assert.equal(it.tenant_id, tid);
      assert.equal(it.actor, sub);
      assert.match(it.at, ISO_MS);
    }
    assert.ok(!items.some((i) => i.request_id === bad.requestId || i.request_id === badPatch.requestId));

    // limit=2 pages give the same rows in the same order.
    const pages = await allPages(`/tenants/${tid}/audit`, 2);
    assert.deepEqual(pages.flatMap((p) => p.items.map((i) => i.id)), items.map((i) => i.id));
    assert.ok(pages.length >= Math.ceil(items.length / 2));
    assert.ok(pages.slice(0, -1).every((p) => p.items.length === 2), "full pages before the last");
  });

  test("x-request-id is the cf-ray header when present, and the audit row records it", async () => {
    const ray = `8f${uniq("ray")}-LHR`;
    const tid = uniq("ray");
    const r = await api("POST", "/tenants", { body: { id: tid, name: "Ray" }, headers: { "cf-ray": ray } });
    assert.equal(r.status, 201, show(r));
    assert.equal(r.requestId, ray);
    const list = await api("GET", `/tenants/${tid}/audit`);
    assert.deepEqual(list.data.items.map((i) => [i.action, i.request_id]), [["tenant.created", ray]]);
    // Without cf-ray each response gets its own generated id.
    const a = await api("GET", `/tenants/${tid}`);
    const b = await api("GET", `/tenants/${tid}`);
    assert.ok(a.requestId && b.requestId && a.requestId !== b.requestId, `${a.requestId} ${b.requestId}`);
  });

  test("a refused write (400, 409, 404) adds no audit row", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    const before = (await api("GET", `/tenants/${t.id}/audit?limit=200`)).data.items.length;
    assert.equal(before, 2, "tenant.created + domain.created");
    assert.equal((await api("POST", `/tenants/${t.id}/routes`, { body: { handlers: [{ type: "nope" }] } })).status, 400);
    assert.equal((await api("POST", `/tenants/${t.id}/domains`, { body: { domain: d.domain } })).status, 409);
    assert.equal((await api("PATCH", `/tenants/${t.id}/routes/rt_missing`, { body: { priority: 1 } })).status, 404);
    assert.equal((await api("POST", `/tenants/${t.id}/domains`, { body: "{nope" })).status, 400);
    const after = await api("GET", `/tenants/${t.id}/audit?limit=200`);
    assert.equal(after.data.items.length, before);
  });
});

describe("no half-writes", () => {
  const snapshot = async (table, tid) =>
    (await h.db.prepare(`SELECT * FROM ${table} WHERE tenant_id = ?1 ORDER BY id`).bind(tid).all()).results;

  test("a refused route POST/PATCH and a domain 409 leave the tables unchanged", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    const r = await createRoute(t.id, { handlers: staticBody("keep") });
    const routes0 = await snapshot("routes", t.id);
    const domains0 = await snapshot("domains", t.id);

    assert.equal((await api("POST", `/tenants/${t.id}/routes`, { body: { handlers: [{ type: "cors" }] } })).status, 400);
    assert.equal((await api("PATCH", `/tenants/${t.id}/routes/${r.id}`, { body: { priority: 1, handlers: [] } })).status, 400);
    assert.deepEqual(await snapshot("routes", t.id), routes0, "routes unchanged");

    assertProblem(await api("POST", `/tenants/${t.id}/domains`, { body: { domain: d.domain } }), 409, "conflict");
    const other = await createDomain(t.id);
    assertProblem(await api("PATCH", `/tenants/${t.id}/domains/${other.id}`, { body: { domain: d.domain } }), 409, "conflict");
    const domains1 = await snapshot("domains", t.id);
    assert.deepEqual(domains1.filter((x) => x.id !== other.id), domains0, "domains unchanged by the 409s");
    assert.equal(domains1.find((x) => x.id === other.id).domain, other.domain, "PATCH 409 kept the old name");
  });

  test("deleting a tenant removes its domains and routes and keeps its audit rows", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    await createRoute(t.id, { custom_domain_id: d.id, handlers: staticBody("a") });
    await createRoute(t.id, { handlers: staticBody("b") });
    const bystander = await createTenant();
    const bd = await createDomain(bystander.id);
    await createRoute(bystander.id, { handlers: staticBody("c") });

    // Find the audit table without assuming its name.
    const tables = (await h.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%audit%'").all()).results;
    assert.equal(tables.length, 1, `one audit table: ${JSON.stringify(tables)}`);
    const auditTable = tables[0].name;
    const auditBefore = await countRows(auditTable, t.id);
    assert.equal(auditBefore, 4);

    assert.equal((await api("DELETE", `/tenants/${t.id}`)).status, 204);
    assert.equal(await countRows("domains", t.id), 0);
    assert.equal(await countRows("routes", t.id), 0);
    const rows = (await h.db.prepare(`SELECT * FROM ${auditTable} WHERE tenant_id = ?1`).bind(t.id).all()).results;
    assert.equal(rows.length, auditBefore + 1, "old rows kept, tenant.deleted added");
    assert.ok(rows.some((row) => Object.values(row).includes("tenant.deleted")));
    // The other tenant is untouched.
    assert.equal(await countRows("domains", bystander.id), 1);
    assert.equal(await countRows("routes", bystander.id), 1);
    assert.equal((await api("GET", `/tenants/${bystander.id}/domains/${bd.id}`)).status, 200);
  });
});

describe("OpenAPI document and operation table", () => {
  const METHODS = ["get", "post", "put", "patch", "delete"];
  const norm = (p) => p.replace(/\{[^}]+\}/g, "{}");
  const fullPath = (p) => (p.startsWith("/api/v1") ? p : `/api/v1${p}`);

  /** Operations from the "## Operations" table of docs/control-plane.md. */
  const docOps = () => {
    const md = readFileSync(join(ROOT, "docs/control-plane.md"), "utf8");
    const section = md.split(/^## Operations\s*$/m)[1].split(/^#{2,3} /m)[0];
    const ops = [];
    for (const line of section.split("\n")) {
      const m = /^\|\s*([A-Z]+)\s*\|\s*`([^`]+)`\s*\|/.exec(line);
      if (m) ops.push(`${m[1]} ${norm(m[2])}`);
    }
    return ops.sort();
  };

  const getDoc = async () => {
    const r = await api("GET", "/openapi.json", { auth: null });
    assert.equal(r.status, 200, show(r));
    assert.match(r.headers.get("content-type") ?? "", /json/);
    return r.data;
  };
  const specOps = (doc) => {
    const ops = [];
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const m of METHODS.concat(["head", "options", "trace"])) if (item[m]) ops.push({ method: m.toUpperCase(), path: fullPath(p) });
    }
    return ops;
  };

  test("openapi.json is public OpenAPI 3.1 and documents exactly the contract's operations", async () => {
    const doc = await getDoc();
    assert.match(String(doc.openapi), /^3\.1\.\d+$/);
    assert.equal(typeof doc.info?.title, "string");
    const fromDoc = docOps();
    assert.ok(fromDoc.length >= 18, `parsed ${fromDoc.length} rows from docs/control-plane.md`);
    assert.deepEqual(specOps(doc).map((o) => `${o.method} ${norm(o.path)}`).sort(), fromDoc);
  });

  test("every documented operation exists and needs a token (401 without one)", async () => {
    const doc = await getDoc();
    for (const { method, path } of specOps(doc)) {
      // The two public operations: the document itself, and the OAuth callback (its
      // state is the credential: without one it is refused as such, not with a 401).
      if (path === "/api/v1/openapi.json") continue;
      if (path === "/api/v1/oauth/callback") {
        const r = await api(method, "/oauth/callback", { auth: null });
        assert.equal(r.status, 400);
        assert.equal(r.headers.get("x-portico-error"), "oauth_state_missing");
        continue;
      }
      const concrete = path.replace(/\{[^}]+\}/g, "dummy-1");
      const r = await api(method, concrete.slice("/api/v1".length), { auth: null });
      assertProblem(r, 401, "unauthorized");
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer realm="portico"/, `${method} ${concrete}`);
    }
  });

  test("an undocumented method on a documented path is 405 with Allow = the documented methods", async () => {
    const doc = await getDoc();
    for (const [p, item] of Object.entries(doc.paths)) {
      const allowed = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase());
      const concrete = fullPath(p).replace(/\{[^}]+\}/g, "dummy-1").slice("/api/v1".length);
      for (const m of METHODS.map((x) => x.toUpperCase()).filter((x) => !allowed.includes(x))) {
        // With a valid token too: 405 comes before authentication.
        for (const auth of [null, token()]) {
          const r = await api(m, concrete, { auth });
          assertProblem(r, 405, "method_not_allowed");
          const allow = (r.headers.get("allow") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
          assert.deepEqual([...allow].sort(), [...allowed].sort(), `${m} ${p}: Allow ${r.headers.get("allow")}`);
        }
      }
    }
  });

  test("an undocumented path under /api/v1 is a 404 problem, with or without a token", async () => {
    for (const auth of [null, token()]) {
      for (const path of ["/nope", "/tenants/x/nope", "/tenants/x/routes/y/z", "/connectorz"]) {
        assertProblem(await api("GET", path, { auth }), 404, "not_found");
      }
    }
  });
});

describe("host resolution endpoint for remote data planes", () => {
  test("GET /control-plane/hosts/{host}: normalised host, its routes, no-store; 404 unknown", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    const scoped = await createRoute(t.id, { custom_domain_id: d.id, priority: 5, handlers: staticBody("scoped") });
    const shared = await createRoute(t.id, { handlers: staticBody("shared") });
    const other = await createDomain(t.id);
    await createRoute(t.id, { custom_domain_id: other.id, handlers: staticBody("other") });

    const r = await api("GET", `/control-plane/hosts/${encodeURIComponent(`${d.domain.toUpperCase()}.`)}`);
    assert.equal(r.status, 200, show(r));
    assert.match(r.headers.get("cache-control") ?? "", /no-store/);
    assert.equal(r.data.tenant_id, t.id);
    assert.equal(r.data.custom_domain_id, d.id);
    assert.equal(r.data.domain, d.domain);
    assert.deepEqual(r.data.routes.map((x) => x.id).sort(), [scoped.id, shared.id].sort(), "this domain's routes and the tenant-wide ones only");
    const sr = r.data.routes.find((x) => x.id === scoped.id);
    assert.equal(sr.priority, 5);
    assert.deepEqual(sr.handlers, staticBody("scoped"));
    assert.equal(sr.created_at, scoped.created_at);

    // Wildcard domains apply.
    const wbase = `${uniq("wc")}.test`;
    const w = await createDomain(t.id, `*.${wbase}`);
    const wr = await api("GET", `/control-plane/hosts/a.b.${wbase}`);
    assert.equal(wr.status, 200, show(wr));
    assert.equal(wr.data.custom_domain_id, w.id);

    assertProblem(await api("GET", `/control-plane/hosts/${uniq("nohost")}.test`), 404, "not_found");
  });
});

describe("control-plane host scoping", () => {
  test("/api/v1/... on a tenant's host is the tenant's route, not the API", async () => {
    const t = await createTenant();
    const d = await createDomain(t.id);
    await createRoute(t.id, { handlers: staticBody("tenant page") });
    for (const path of ["/api/v1/tenants", "/api/v1/openapi.json"]) {
      const res = await h.fetch(path, { host: d.domain, headers: { authorization: `Bearer ${token()}` } });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "tenant page", path);
    }
  });

  test("other paths on the control-plane host go through host resolution", async () => {
    const res = await h.fetch("/hello", { host: CP });
    assert.equal(res.status, 404);
    assert.equal(await res.text(), "Unknown host");
    // The port and case of the Host do not matter for the API either.
    const r = await h.fetch("/api/v1/openapi.json", { host: "CP.test:8787" });
    assert.equal(r.status, 200);
    assert.match(String((JSON.parse(await r.text())).openapi), /^3\.1/);
  });

  test("a domain equal to a control-plane host cannot be created (400, path domain)", async () => {
    const t = await createTenant();
    for (const domain of [CP, "CP.TEST.", "Cp.Test"]) {
      assertErrorPath(await api("POST", `/tenants/${t.id}/domains`, { body: { domain } }), "domain");
    }
    const d = await createDomain(t.id);
    assertErrorPath(await api("PATCH", `/tenants/${t.id}/domains/${d.id}`, { body: { domain: CP } }), "domain");
    assert.equal(await h.db.prepare("SELECT id FROM domains WHERE domain = ?1").bind(CP).first(), null);
  });
});

describe("request body rules", () => {
  test("Content-Type must be application/json (415)", async () => {
    const body = JSON.stringify({ name: "x" });
    assertProblem(await api("POST", "/tenants", { body, contentType: null }), 415, "unsupported_media_type");
    assertProblem(await api("POST", "/tenants", { body, contentType: "text/plain" }), 415, "unsupported_media_type");
    assertProblem(await api("POST", "/tenants", { body, contentType: "application/x-www-form-urlencoded" }), 415, "unsupported_media_type");
    const t = await createTenant();
    assertProblem(await api("PATCH", `/tenants/${t.id}`, { body, contentType: "text/plain" }), 415, "unsupported_media_type");
    // Parameters on the media type are fine.
    const ok = await api("POST", "/tenants", { body, contentType: "application/json; charset=utf-8" });
    assert.equal(ok.status, 201, show(ok));
  });

  test("a body over 256 KiB is 413; 256 KiB of JSON passes the size check", async () => {
    const t = await createTenant();
    const big = JSON.stringify({ handlers: staticBody("x".repeat(300 * 1024)) });
    assertProblem(await api("POST", `/tenants/${t.id}/routes`, { body: big }), 413, "payload_too_large");
    assert.equal(await countRows("routes", t.id), 0);
    // Under the body cap, but over one route's stored-size budget (PORTICO_MAX_ROUTE_BYTES).
    const fits = JSON.stringify({ handlers: staticBody("y".repeat(200 * 1024)) });
    assertErrorPath(await api("POST", `/tenants/${t.id}/routes`, { body: fits }), "handlers");
    assert.equal(await countRows("routes", t.id), 0);
    const small = JSON.stringify({ handlers: staticBody("y".repeat(20 * 1024)) });
    assert.equal((await api("POST", `/tenants/${t.id}/routes`, { body: small })).status, 201);
  });

  test("not JSON -> 400 invalid_json with path \"\"; not an object -> 400", async () => {
    const r = await api("POST", "/tenants", { body: "{not json" });
    assertProblem(r, 400, "invalid_json");
    assert.deepEqual(r.data.errors.map((e) => e.path), [""]);
    assert.ok(r.data.errors[0].message.length > 0);
    const empty = await api("POST", "/tenants", { body: "" });
    assertProblem(empty, 400);
    for (const body of ["[]", '[{"name":"x"}]', '"x"', "42", "null"]) {
      assertProblem(await api("POST", "/tenants", { body }), 400);
    }
  });

  test("unknown fields and read-only fields are refused with their paths", async () => {
    assertErrorPath(await api("POST", "/tenants", { body: { name: "x", color: "red" } }), "color");
    const t = await createTenant();
    assertErrorPath(await api("PATCH", `/tenants/${t.id}`, { body: { name: "y", color: "red" } }), "color");
    assertErrorPath(await api("PATCH", `/tenants/${t.id}`, { body: { created_at: "2020-01-01T00:00:00.000Z" } }), "created_at", { message: "is read-only" });
    assertErrorPath(await api("POST", `/tenants/${t.id}/domains`, { body: { domain: `${uniq("ro")}.test`, id: "dom_mine" } }), "id", { message: "is read-only" });
    assertErrorPath(await api("POST", `/tenants/${t.id}/domains`, { body: { domain: `${uniq("ro")}.test`, tenant_id: t.id } }), "tenant_id", { message: "is read-only" });
    const handlers = staticBody("x");
    for (const [field, value] of [["id", "rt_mine"], ["tenant_id", t.id], ["created_at", "2020-01-01T00:00:00.000Z"], ["updated_at", "2020-01-01T00:00:00.000Z"]]) {
      assertErrorPath(await api("POST", `/tenants/${t.id}/routes`, { body: { [field]: value, handlers } }), field, { message: "is read-only" });
    }
    const r = await createRoute(t.id, { handlers });
    assertErrorPath(await api("PATCH", `/tenants/${t.id}/routes/${r.id}`, { body: { id: "rt_other" } }), "id", { message: "is read-only" });
    assert.equal(await countRows("routes", t.id), 1);
    assert.equal(await countRows("domains", t.id), 0);
  });

  test("tenant fields: id pattern, name length", async () => {
    for (const id of ["Upper", "-lead", "has space", "a".repeat(64), ""]) {
      assertErrorPath(await api("POST", "/tenants", { body: { id, name: "x" } }), "id");
    }
    assertErrorPath(await api("POST", "/tenants", { body: { name: "" } }), "name");
    assertErrorPath(await api("POST", "/tenants", { body: { name: "n".repeat(201) } }), "name");
    assertErrorPath(await api("POST", "/tenants", { body: {} }), "name");
    const ok = await api("POST", "/tenants", { body: { id: `a${"b".repeat(62)}`, name: "n".repeat(200) } });
    assert.equal(ok.status, 201, show(ok));
  });
});
