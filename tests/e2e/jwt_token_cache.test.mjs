// The `jwt` handler remembers tokens it has verified (SHA-256 → claims) so repeat
// requests skip the signature check. These tests prove the cache never extends a
// token's life: expiry is re-checked on every hit, and a rotated JWKS (key removed)
// invalidates tokens verified with the old set.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { useHarness, expectError, sleep } from "./harness.mjs";
import { makeKey, signJwt, now } from "./support/tokens.mjs";
import { startOAuthProvider } from "../../dev/oauth-provider.mjs";

const h = useHarness({
  bindings: { PORTICO_HOST_SOURCE: "d1", PORTICO_AUTH_JWKS_TTL_SECONDS: "1", PORTICO_AUTH_JWKS_MIN_REFETCH_SECONDS: "1" },
});
const httpTo = () => ({ type: "http", options: { upstream_url: `${h.origin.url}/` } });
const bearer = (t) => ({ authorization: `Bearer ${t}` });

describe("verified-token cache", () => {
  let idp;
  before(async () => {
    idp = await startOAuthProvider({ keys: [makeKey("ES256", "rot-1")] });
  });
  after(async () => idp?.close());

  test("a cached token is refused once it expires", async () => {
    const key = makeKey("EdDSA", "exp-1");
    const { host } = await h.addHost({
      routes: [{ handlers: [{ type: "jwt", options: { keys: [key.publicJwk], leeway_seconds: 0 } }, httpTo()] }],
    });
    const token = signJwt(key, { sub: "u", exp: now() + 4 });
    for (let i = 0; i < 3; i++) {
      const ok = await h.fetch("/c", { host, headers: bearer(token) });
      assert.equal(ok.status, 200, `request ${i} inside the token's life`);
      await ok.text();
    }
    await sleep(5200);
    const res = await h.fetch("/c", { host, headers: bearer(token) });
    await expectError(assert, res, 401, "jwt_unauthorized");
  });

  test("rotating the JWKS invalidates tokens verified with the removed key", async () => {
    const { host } = await h.addHost({
      routes: [{ handlers: [{ type: "jwt", options: { jwks_url: idp.jwksUrl } }, httpTo()] }],
    });
    const old = idp.mint({ sub: "svc" });
    for (let i = 0; i < 2; i++) {
      const ok = await h.fetch("/r", { host, headers: bearer(old) });
      assert.equal(ok.status, 200);
      await ok.text();
    }
    const fetchesBefore = idp.stats.jwksFetches;
    idp.setKeys([makeKey("ES256", "rot-2")]);
    await sleep(1200); // past the 1 s JWKS TTL
    const refused = await h.fetch("/r", { host, headers: bearer(old) });
    await expectError(assert, refused, 401, "jwt_unauthorized");
    assert.ok(idp.stats.jwksFetches > fetchesBefore, "the JWKS was refetched");
    const fresh = await h.fetch("/r", { host, headers: bearer(idp.mint({ sub: "svc" })) });
    assert.equal(fresh.status, 200);
    await fresh.text();
  });
});

describe("JWKS fetches", () => {
  test("concurrent cold requests share one JWKS fetch", async () => {
    const idp = await startOAuthProvider({ keys: [makeKey("RS256", "cold-1")] });
    try {
      const { host } = await h.addHost({
        routes: [{ handlers: [{ type: "jwt", options: { jwks_url: idp.jwksUrl } }, httpTo()] }],
      });
      const token = idp.mint({ sub: "svc" });
      const results = await Promise.all(
        Array.from({ length: 12 }, async () => {
          const res = await h.fetch("/cold", { host, headers: bearer(token) });
          await res.text();
          return res.status;
        }),
      );
      assert.deepEqual(results, Array(12).fill(200));
      assert.equal(idp.stats.jwksFetches, 1, "one fetch for twelve concurrent cold requests");
    } finally {
      await idp.close();
    }
  });
});
