// Credentials written in route config never come back out: a basic_auth password
// is stored (D1) and served to remote data planes only as its SHA-256, the API
// returns neither (the digest is write-only), and the data plane still accepts the
// password.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { useHarness, uniq } from "./harness.mjs";
import { makeKey, signJwt, jwks, now } from "./support/tokens.mjs";

const key = makeKey("EdDSA", "sec-1");
const h = useHarness({
  bindings: { CONTROL_PLANE_HOSTS: "cp.test", PORTICO_AUTH_KEYS: JSON.stringify(jwks(key)) },
});
const token = signJwt(key, {
  sub: "t",
  exp: now() + 300,
  scope: "tenants:write domains:write routes:read routes:write proxy:resolve_host",
});
async function api(method, path, body) {
  const res = await h.fetch(`/api/v1${path}`, {
    host: "cp.test",
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, text: await res.text() };
}

test("a basic_auth password is never stored or returned in plaintext", async () => {
  const secret = `pw-${uniq("s")}-Secret!`;
  const tid = uniq("sec");
  const domain = `${tid}.test`;
  assert.equal((await api("POST", "/tenants", { id: tid, name: tid })).status, 201);
  assert.equal((await api("POST", `/tenants/${tid}/domains`, { domain })).status, 201);
  const created = await api("POST", `/tenants/${tid}/routes`, {
    handlers: [{ type: "basic_auth", options: { username: "alice", password: secret } }, { type: "static", options: { body: "in" } }],
  });
  assert.equal(created.status, 201);
  assert.ok(!created.text.includes(secret), "create response");
  const route = JSON.parse(created.text);
  assert.deepEqual(route.handlers[0].options, { username: "alice" }, "neither password nor digest in the response");
  const digest = crypto.createHash("sha256").update(secret).digest("hex");

  const got = await api("GET", `/tenants/${tid}/routes/${route.id}`);
  const list = await api("GET", `/tenants/${tid}/routes`);
  const hostRecord = await api("GET", `/control-plane/hosts/${domain}`);
  for (const [what, r] of [["get", got], ["list", list], ["host record", hostRecord]]) {
    assert.equal(r.status, 200, what);
    assert.ok(!r.text.includes(secret), `${what} must not contain the password`);
  }
  for (const [what, r] of [["create", created], ["get", got], ["list", list]]) {
    assert.ok(!r.text.includes(digest) && !r.text.includes("password_sha256"), `${what} must not contain the digest`);
  }
  // Remote data planes check passwords themselves: the host record carries the digest.
  assert.equal(JSON.parse(hostRecord.text).routes[0].handlers[0].options.password_sha256, digest);
  const row = await h.db.prepare("SELECT handlers_json FROM routes WHERE id = ?1").bind(route.id).first();
  assert.ok(!row.handlers_json.includes(secret), "D1 row must not contain the password");

  // The data plane still authenticates with the password itself.
  const basic = (u, p) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
  const ok = await h.fetch("/x", { host: domain, headers: basic("alice", secret) });
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), "in");
  const no = await h.fetch("/x", { host: domain, headers: basic("alice", "wrong") });
  assert.equal(no.status, 401);
  await no.text();
});
