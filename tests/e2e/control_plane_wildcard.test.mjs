// Write-then-request for hosts served through a `*.` wildcard domain: the Cache API
// keys are per concrete host (a.w.test, b.w.test), which no domain row names, so a
// purge by domain name alone would leave them serving the old config.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useHarness, uniq } from "./harness.mjs";
import { makeKey, signJwt, jwks, now } from "./support/tokens.mjs";

const key = makeKey("EdDSA", "wild-1");
const h = useHarness({
  bindings: {
    PORTICO_DEBUG_HEADERS: "true",
    CONTROL_PLANE_HOSTS: "cp.test",
    PORTICO_AUTH_KEYS: JSON.stringify(jwks(key)),
    PORTICO_HOST_CACHE_FRESH_SECONDS: "60",
  },
});
const token = signJwt(key, { sub: "t", exp: now() + 300, scope: "tenants:write domains:write routes:write" });
async function api(method, path, body) {
  const res = await h.fetch(`/api/v1${path}`, {
    host: "cp.test",
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}
const get = async (host) => {
  const res = await h.fetch("/x", { host });
  return { body: await res.text(), tier: res.headers.get("x-portico-host-cache") };
};

test("a route change reaches every concrete host already cached under a wildcard", async () => {
  const tid = uniq("w");
  const zone = `${tid}.test`;
  await api("POST", "/tenants", { id: tid, name: tid });
  await api("POST", `/tenants/${tid}/domains`, { domain: `*.${zone}` });
  const r = await api("POST", `/tenants/${tid}/routes`, { handlers: [{ type: "static", options: { body: "v1" } }] });
  for (const sub of ["a", "b"]) {
    assert.equal((await get(`${sub}.${zone}`)).body, "v1");
    assert.equal((await get(`${sub}.${zone}`)).tier, "memory");
  }
  await api("PATCH", `/tenants/${tid}/routes/${r.id}`, { handlers: [{ type: "static", options: { body: "v2" } }] });
  for (const sub of ["a", "b"]) {
    assert.equal((await get(`${sub}.${zone}`)).body, "v2", `${sub}.${zone} sees the write at once`);
  }
});
