// Handler timeouts: 504 <type>_timeout, answered promptly; a timeout that is not
// reached changes nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useHarness, expectError, json } from "./harness.mjs";

const h = useHarness({});

test("http timeout_ms 200 against /slow?ms=2000 -> 504 http_timeout, promptly", async () => {
  const { host } = await h.addHost({
    routes: [{ handlers: [{ type: "http", options: { upstream_url: `${h.origin.url}/`, timeout_ms: 200 } }] }],
  });
  const t0 = Date.now();
  const res = await h.fetch("/slow?ms=2000", { host });
  const elapsed = Date.now() - t0;
  await expectError(assert, res, 504, "http_timeout");
  assert.ok(elapsed >= 150, `answered after ${elapsed} ms, before the timeout`);
  assert.ok(elapsed < 1500, `answered after ${elapsed} ms: the timeout did not fire`);
});

test("http timeout not reached: 200", async () => {
  const { host } = await h.addHost({
    routes: [{ handlers: [{ type: "http", options: { upstream_url: `${h.origin.url}/`, timeout_ms: 3000 } }] }],
  });
  const res = await h.fetch("/slow?ms=300", { host });
  assert.equal(res.status, 200);
  assert.equal((await json(res)).path, "/slow");
});

test("default http timeout (30 s) does not cut a 1.5 s origin", async () => {
  const { host } = await h.addHost({ routes: [{ handlers: [{ type: "http", options: { upstream_url: `${h.origin.url}/` } }] }] });
  const res = await h.fetch("/slow?ms=1500", { host });
  assert.equal(res.status, 200);
  await res.text();
});

test("service_binding timeout_ms 200 against a 2 s service -> 504 service_binding_timeout", async () => {
  const { host } = await h.addHost({
    routes: [{ handlers: [{ type: "service_binding", options: { binding: "EXAMPLE_SERVICE", timeout_ms: 200 } }] }],
  });
  const t0 = Date.now();
  const res = await h.fetch("/x?sleep=2000", { host });
  const elapsed = Date.now() - t0;
  await expectError(assert, res, 504, "service_binding_timeout");
  assert.ok(elapsed < 1500, `answered after ${elapsed} ms`);
});

test("a timed-out request does not disturb the next one", async () => {
  const { host } = await h.addHost({
    routes: [{ handlers: [{ type: "http", options: { upstream_url: `${h.origin.url}/`, timeout_ms: 200 } }] }],
  });
  const warmup = await h.fetch("/warm", { host }); // cold-miss sharing is tested in hosts.test.mjs
  assert.equal(warmup.status, 200);
  await warmup.text();
  const slow = h.fetch("/slow?ms=1000", { host });
  const fast = h.fetch("/fast", { host });
  const [rs, rf] = await Promise.all([slow, fast]);
  assert.equal(rs.status, 504);
  await rs.text();
  assert.equal(rf.status, 200);
  assert.equal((await json(rf)).path, "/fast");
});
