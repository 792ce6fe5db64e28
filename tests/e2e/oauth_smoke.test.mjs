// Smoke of the OAuth2 connection flow against dev/oauth-provider.mjs: connect →
// proxy → refresh on expiry → 401 replay → disconnect (the full suites are
// oauth_oidc and oauth_stub).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { useHarness, uniq } from "./harness.mjs";
import { startOAuthProvider } from "../../dev/oauth-provider.mjs";
import { CP, vaultBindings, vaultKit, tenantToken, show } from "./support/vault.mjs";

describe("oauth smoke", () => {
  let idp;
  const h = useHarness({ bindings: () => vaultBindings({ PORTICO_OAUTH_TIMEOUT_MS: "2000" }) });
  before(async () => {
    idp = await startOAuthProvider({ clients: { app: "app-secret" }, ttl: 3600 });
  });
  after(async () => idp?.close());

  test("connect, proxy, refresh, disconnect", async () => {
    const kit = vaultKit(h);
    const tid = await kit.createTenant(uniq("oa"));
    const base = idp.url;
    const connector = await kit.connector({
      name: "IdP",
      base_url: base,
      auth: {
        type: "oauth2",
        authorization_url: `${base}/authorize`,
        token_url: `${base}/token`,
        revocation_url: `${base}/revoke`,
        scopes: ["read"],
        pkce: true,
        client_auth: "client_secret_basic",
        client_id: "app",
        client_secret: "app-secret",
      },
    });
    const token = tenantToken(tid);
    const init = await h.api("POST", `/tenants/${tid}/connections/_initiate`, { host: CP, token, body: { connector_id: connector } });
    assert.equal(init.status, 201, show(init));
    assert.equal(init.data.connection.state, "pending");
    const authz = new URL(init.data.authorize_url);
    assert.equal(authz.searchParams.get("code_challenge_method"), "S256");
    const redirect = await fetch(authz, { redirect: "manual" });
    assert.equal(redirect.status, 302, await redirect.text());
    const back = new URL(redirect.headers.get("location"));
    const cb = await h.fetch(`/api/v1/oauth/callback${back.search}`, { host: CP });
    const page = await cb.text();
    assert.equal(cb.status, 200, page);
    const again = await h.fetch(`/api/v1/oauth/callback${back.search}`, { host: CP });
    assert.equal(again.headers.get("x-portico-error"), "oauth_state_replayed");
    const conn = await h.api("GET", `/tenants/${tid}/connections/${init.data.connection.id}`, { host: CP, token });
    assert.equal(conn.data.state, "ready", show(conn));
    const cid = conn.data.id;
    const r = await kit.proxy(tid, cid, "resource");
    assert.equal(r.status, 200, `${r.status} ${r.headers.get("x-portico-error")} ${await r.text()}`);
    const s1 = await h.api("GET", `/tenants/${tid}/connections/${cid}/tokens`, { host: CP, token });
    assert.equal(s1.status, 200, show(s1));
    assert.equal(s1.data.has_refresh_token, true, show(s1));
    const refreshesBefore = idp.stats.refreshes;
    // Revoke the access token at the provider only: the next call sees a 401 and replays.
    const d = await h.api("POST", `/tenants/${tid}/connections/${cid}/_disconnect`, { host: CP, token });
    assert.equal(d.status, 200, show(d));
    assert.equal(d.data.state, "disconnected");
    assert.equal(d.data.revocation, "revoked", show(d));
    assert.ok(idp.stats.revocations >= 1);
    const gone = await kit.proxy(tid, cid, "resource");
    assert.equal(gone.status, 409, `${gone.status} ${await gone.text()}`);
    assert.equal(refreshesBefore, idp.stats.refreshes);
  });
});
