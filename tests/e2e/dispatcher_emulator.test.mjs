// The dispatch-namespace emulator and the harness itself, with a few lines of plain
// JavaScript standing in for Portico. Needs no Rust build. It calls the DISPATCHER
// binding the way the Rust worker must (TOOLCHAIN.md): Reflect.get the `get` and
// `fetch` functions, Reflect.apply them, Promise.resolve the result of `get`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useHarness, json } from "./harness.mjs";

const STAND_IN = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/plain-fetch") {
      // The emulator is never called with plain fetch; it must answer 404.
      return env.DISPATCHER.fetch("http://dispatcher.invalid/anything");
    }
    if (url.pathname === "/origin") {
      const res = await fetch(url.searchParams.get("u"));
      return new Response(res.body, res);
    }
    if (url.pathname === "/d1") {
      const row = await env.DB.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('tenants','domains','routes')").first();
      return Response.json(row);
    }
    const name = url.searchParams.get("script");
    const limits = url.searchParams.get("limits");
    const args = [name, {}];
    if (limits !== null) args.push({ limits: JSON.parse(limits) });
    try {
      const get = Reflect.get(env.DISPATCHER, "get");
      const target = await Promise.resolve(Reflect.apply(get, env.DISPATCHER, args));
      const fetchFn = Reflect.get(target, "fetch");
      const res = await Reflect.apply(fetchFn, target, [new Request(request)]);
      return new Response(res.body, res);
    } catch (e) {
      return new Response(String(e && e.message || e), { status: 502, headers: { "x-portico-error": "dispatch_namespace_failed" } });
    }
  },
};
`;

const h = useHarness({ portico: { script: STAND_IN } });

test("known script: request forwarded to the tenant worker with x-dispatch-script", async () => {
  const r2 = await h.fetch("/app/page?script=tenant-acme", { host: "acme.localhost", method: "PUT", body: "x", headers: { "x-test": "yes" } });
  assert.equal(r2.status, 200);
  const body = await json(r2);
  assert.equal(body.script, "tenant-acme");
  assert.equal(body.method, "PUT");
  assert.equal(new URL(body.url).pathname, "/app/page");
  assert.equal(body.headers["x-test"], "yes");
  assert.equal(body.headers["x-dispatch-script"], "tenant-acme");
  assert.equal(body.headers["x-dispatch-limits"], "null");

  const r3 = await h.fetch("/?script=host-globex.localhost", { host: "globex.localhost" });
  const b3 = await json(r3);
  assert.equal(b3.script, "tenant-globex");
  assert.equal(b3.headers["x-dispatch-script"], "host-globex.localhost");
});

test("unknown script: get() throws Worker not found", async () => {
  const res = await h.fetch("/?script=tenant-nobody", { host: "acme.localhost" });
  assert.equal(res.status, 502);
  assert.match(await res.text(), /Worker not found/);
  // a name that exists as a property of Object.prototype must not resolve either
  const r2 = await h.fetch("/?script=constructor", { host: "acme.localhost" });
  assert.equal(r2.status, 502);
  assert.match(await r2.text(), /Worker not found/);
});

test("limits passed as get()'s third argument arrive in x-dispatch-limits", async () => {
  const limits = { cpuMs: 50, subRequests: 10 };
  const res = await h.fetch(`/?script=tenant-acme&limits=${encodeURIComponent(JSON.stringify(limits))}`, { host: "acme.localhost" });
  const body = await json(res);
  assert.deepEqual(JSON.parse(body.headers["x-dispatch-limits"]), limits);
});

test("plain fetch on the emulator answers 404", async () => {
  const res = await h.fetch("/plain-fetch", { host: "acme.localhost" });
  assert.equal(res.status, 404);
  await res.text();
});

test("workerd reaches the 127.0.0.1 origin, and the harness applied the migrations", async () => {
  const res = await h.fetch(`/origin?u=${encodeURIComponent(h.origin.url + "/echo?q=1")}`, { host: "acme.localhost" });
  const body = await json(res);
  assert.equal(body.origin, "demo-origin");
  assert.equal(body.path, "/echo");
  assert.equal(body.query, "q=1");

  const d1 = await json(await h.fetch("/d1", { host: "acme.localhost" }));
  assert.equal(d1.n, 3);
});

test("the probe worker sends requests without a Host header", async () => {
  const res = await h.probe("http://acme.localhost/?script=tenant-acme", { headers: [["x-forwarded-host", "acme.localhost"]] });
  const body = await json(res);
  assert.equal(body.script, "tenant-acme");
  assert.equal(body.headers.host, undefined);
  assert.equal(body.headers["x-forwarded-host"], "acme.localhost");
});
