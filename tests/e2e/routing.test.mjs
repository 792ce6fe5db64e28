// Route matching (DESIGN.md §3): path pattern forms, priority and tie-breaks,
// methods (HEAD via GET), hosts/headers/query filters that fall through.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useHarness, uniq } from "./harness.mjs";

const h = useHarness({});

const s = (name) => [{ type: "static", options: { body: name } }];
const NO_ROUTE = "<404 No matching route>";

/** GET each path on host and compare the static body (or the 404). */
async function expectRoutes(host, cases, init = {}) {
  for (const [path, expected] of cases) {
    const res = await h.fetch(path, { host, ...init });
    const text = await res.text();
    if (expected === NO_ROUTE) {
      assert.equal(res.status, 404, `${path}: expected no route, got ${res.status} ${text}`);
      assert.equal(text.trim(), "No matching route", path);
    } else {
      assert.equal(res.status, 200, `${path}: ${text}`);
      assert.equal(text, expected, path);
    }
  }
}

test("path pattern forms", async () => {
  const { host } = await h.addHost({
    routes: [
      { match: { path: "/api/*" }, handlers: s("api-star") },
      { match: { path: "/pre*" }, handlers: s("pre-star") },
      { match: { path: "/users/:id" }, handlers: s("user") },
      { match: { path: "/opt/:id?" }, handlers: s("opt") },
      { match: { path: "/post/:id{[0-9]+}" }, handlers: s("post") },
      { match: { path: "/about" }, handlers: s("about") },
      { match: { path: "/CaseSensitive" }, handlers: s("case") },
    ],
  });
  await expectRoutes(host, [
    ["/api", "api-star"],
    ["/api/", "api-star"],
    ["/api/x/y", "api-star"],
    ["/api/x?q=1", "api-star"],
    ["/apix", NO_ROUTE],
    ["/pre", "pre-star"],
    ["/prefix", "pre-star"],
    ["/pre/x/y", "pre-star"],
    ["/users/42", "user"],
    ["/users/42/x", NO_ROUTE],
    ["/opt", "opt"],
    ["/opt/7", "opt"],
    ["/post/12", "post"],
    ["/post/abc", NO_ROUTE],
    ["/about", "about"],
    ["/about/", NO_ROUTE],
    ["/CaseSensitive", "case"],
    ["/casesensitive", NO_ROUTE],
    ["/nothing-here", NO_ROUTE],
  ]);
});

test("/* and * match everything", async () => {
  const a = await h.addHost({ routes: [{ match: { path: "/*" }, handlers: s("slash-star") }] });
  await expectRoutes(a.host, [["/", "slash-star"], ["/x/y/z", "slash-star"], ["/x?y=1", "slash-star"]]);
  const b = await h.addHost({ routes: [{ match: { path: "*" }, handlers: s("star") }] });
  await expectRoutes(b.host, [["/", "star"], ["/x/y/z", "star"]]);
  // a route without a path defaults to /*
  const c = await h.addHost({ routes: [{ match: {}, handlers: s("default-path") }] });
  await expectRoutes(c.host, [["/", "default-path"], ["/deep/er", "default-path"]]);
});

test("priority: lower first, regardless of path specificity; default 100", async () => {
  const { host } = await h.addHost({
    routes: [
      { priority: 50, match: { path: "/x" }, handlers: s("p50-specific") },
      { priority: 10, match: { path: "/*" }, handlers: s("p10-catchall") },
    ],
  });
  await expectRoutes(host, [["/x", "p10-catchall"]]);

  const d = await h.addHost({
    routes: [
      { priority: 101, match: { path: "/*" }, handlers: s("p101") },
      { match: { path: "/*" }, handlers: s("default-100") }, // priority omitted -> 100
    ],
  });
  await expectRoutes(d.host, [["/y", "default-100"]]);
});

test("priority ties: created_at, then id", async () => {
  const u = uniq("tie");
  const a = await h.addHost({
    routes: [
      { id: `${u}-a`, priority: 100, created_at: "2021-01-01T00:00:00.000Z", match: { path: "/*" }, handlers: s("newer") },
      { id: `${u}-b`, priority: 100, created_at: "2020-01-01T00:00:00.000Z", match: { path: "/*" }, handlers: s("older") },
    ],
  });
  await expectRoutes(a.host, [["/", "older"]]);
  const v = uniq("tie");
  const b = await h.addHost({
    routes: [
      { id: `${v}-b`, priority: 100, created_at: "2020-01-01T00:00:00.000Z", match: { path: "/*" }, handlers: s("id-b") },
      { id: `${v}-a`, priority: 100, created_at: "2020-01-01T00:00:00.000Z", match: { path: "/*" }, handlers: s("id-a") },
    ],
  });
  await expectRoutes(b.host, [["/", "id-a"]]);
});

test("methods: GET also answers HEAD; absent/empty = all standard methods", async () => {
  const { host } = await h.addHost({
    routes: [
      { priority: 10, match: { path: "/m", methods: ["GET"] }, handlers: s("get") },
      { priority: 20, match: { path: "/m", methods: ["POST", "PUT"] }, handlers: s("write") },
      { priority: 30, match: { path: "/m", methods: [] }, handlers: s("any") },
      { priority: 10, match: { path: "/only-post", methods: ["POST"] }, handlers: s("only-post") },
    ],
  });
  for (const [method, expected] of [["GET", "get"], ["POST", "write"], ["PUT", "write"], ["DELETE", "any"], ["PATCH", "any"], ["OPTIONS", "any"]]) {
    const res = await h.fetch("/m", { host, method, body: ["POST", "PUT", "PATCH"].includes(method) ? "x" : undefined });
    assert.equal(res.status, 200, method);
    assert.equal(await res.text(), expected, method);
  }
  const head = await h.fetch("/m", { host, method: "HEAD" });
  assert.equal(head.status, 200);
  const headOnlyPost = await h.fetch("/only-post", { host, method: "HEAD" });
  assert.equal(headOnlyPost.status, 404);
  await expectRoutes(host, [["/only-post", NO_ROUTE]]);
});

test("hosts filter (exact, normalised) falls through to the next route", async () => {
  const tenant_id = uniq("tn");
  await h.addTenant(tenant_id);
  const x = `x.${tenant_id}.test`;
  const y = `y.${tenant_id}.test`;
  await h.addDomain({ tenant_id, domain: x });
  await h.addDomain({ tenant_id, domain: y });
  await h.addRoute({ tenant_id, priority: 10, match: { path: "/*", hosts: [x] }, handlers: s("x-only") });
  await h.addRoute({ tenant_id, priority: 20, match: { path: "/*" }, handlers: s("all") });
  await expectRoutes(x, [["/", "x-only"]]);
  await expectRoutes(y, [["/", "all"]]);
  await expectRoutes(`X.${tenant_id.toUpperCase()}.TEST:8080`, [["/z", "x-only"]]);
});

test("hosts filter wildcard: any depth, not the apex", async () => {
  const tenant_id = uniq("tn");
  const base = `${tenant_id}.test`;
  await h.addTenant(tenant_id);
  await h.addDomain({ tenant_id, domain: `*.${base}` });
  await h.addRoute({ tenant_id, priority: 10, match: { path: "/*", hosts: [`*.deep.${base}`] }, handlers: s("deep") });
  await h.addRoute({ tenant_id, priority: 20, match: { path: "/*" }, handlers: s("other") });
  await expectRoutes(`a.deep.${base}`, [["/", "deep"]]);
  await expectRoutes(`a.b.deep.${base}`, [["/", "deep"]]);
  await expectRoutes(`deep.${base}`, [["/", "other"]]);
  await expectRoutes(`a.${base}`, [["/", "other"]]);
});

test("headers filter: present + unanchored regex; failure falls through", async () => {
  const { host } = await h.addHost({
    routes: [
      { priority: 10, match: { path: "/*", headers: { "x-version": "^2" } }, handlers: s("v2") },
      { priority: 20, match: { path: "/*", headers: { "x-env": "prod" } }, handlers: s("prod") },
      { priority: 30, match: { path: "/*" }, handlers: s("base") },
    ],
  });
  const cases = [
    [{ "x-version": "2.1" }, "v2"],
    [{ "x-version": "12" }, "base"],
    [{ "x-version": "1", "x-env": "preprod-1" }, "prod"],
    [{ "X-Env": "PROD" }, "base"],
    [{}, "base"],
  ];
  for (const [headers, expected] of cases) {
    const res = await h.fetch("/", { host, headers });
    assert.equal(await res.text(), expected, JSON.stringify(headers));
  }
});

test("query filter: first value counts; missing parameter falls through", async () => {
  const { host } = await h.addHost({
    routes: [
      { priority: 10, match: { path: "/*", query: { debug: "^1$" } }, handlers: s("debug") },
      { priority: 20, match: { path: "/*" }, handlers: s("base") },
    ],
  });
  await expectRoutes(host, [
    ["/?debug=1", "debug"],
    ["/?debug=1&debug=0", "debug"],
    ["/?debug=0&debug=1", "base"],
    ["/?debug=", "base"],
    ["/?x=1", "base"],
    ["/", "base"],
  ]);
});

test("a path that matches but a method that does not falls through to a later route", async () => {
  const { host } = await h.addHost({
    routes: [
      { priority: 10, match: { path: "/api/*", methods: ["POST"], headers: { "x-key": "." } }, handlers: s("api-post-keyed") },
      { priority: 20, match: { path: "/api/*" }, handlers: s("api-any") },
    ],
  });
  const post = await h.fetch("/api/x", { host, method: "POST", body: "1", headers: { "x-key": "k" } });
  assert.equal(await post.text(), "api-post-keyed");
  const postNoKey = await h.fetch("/api/x", { host, method: "POST", body: "1" });
  assert.equal(await postNoKey.text(), "api-any");
  const get = await h.fetch("/api/x", { host, headers: { "x-key": "k" } });
  assert.equal(await get.text(), "api-any");
});

test("routes scoped to a custom domain vs tenant-wide routes", async () => {
  const tenant_id = uniq("tn");
  await h.addTenant(tenant_id);
  const d1 = `one.${tenant_id}.test`;
  const d2 = `two.${tenant_id}.test`;
  const d1id = await h.addDomain({ tenant_id, domain: d1 });
  await h.addDomain({ tenant_id, domain: d2 });
  await h.addRoute({ tenant_id, custom_domain_id: d1id, priority: 10, match: { path: "/only" }, handlers: s("d1-only") });
  await h.addRoute({ tenant_id, custom_domain_id: null, priority: 20, match: { path: "/*" }, handlers: s("tenant-wide") });
  await expectRoutes(d1, [["/only", "d1-only"], ["/x", "tenant-wide"]]);
  await expectRoutes(d2, [["/only", "tenant-wide"]]);
});

test("many routes: selection still correct across hundreds of routes", async () => {
  const routes = [];
  for (let i = 0; i < 300; i++) {
    routes.push({ priority: 100 + i, match: { path: `/r${i}/:id{[0-9]+}`, methods: ["GET"] }, handlers: s(`r${i}`) });
  }
  routes.push({ priority: 1000, match: { path: "/*" }, handlers: s("fallback") });
  const { host } = await h.addHost({ routes });
  await expectRoutes(host, [["/r0/1", "r0"], ["/r150/22", "r150"], ["/r299/3", "r299"], ["/r299/x", "fallback"], ["/r300/1", "fallback"]]);
});
