// Shared kit of the OAuth2 connection suites (docs/oauth.md): a stub provider
// (dev/oauth-provider.mjs) with one client per client authentication method, an
// `oauth2` connector pointed at it, `_initiate`, approval at the provider (it approves
// at once for `login_hint`), the callback, `…/tokens`, and the registration of every
// credential the provider saw or issued with the secret scan.
//
//   const k = oauthKit({ h, call, scan, stateScan });
//   const idp = await k.provider();                       // closed by k.closeAll()
//   const ctr = await k.connector(idp, { client: "post" });
//   const { conn, res } = await k.connect(tid, ctr.id, { returnTo, sub: "alice" });
//   const t = await k.tokens(tid, conn.id);               // { status, data, ... }
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startOAuthProvider } from "../../../dev/oauth-provider.mjs";
import { CP, tenantToken, show, vaultKit, connectorBody, freshSecret } from "./vault.mjs";

export const CALLBACK_PATH = "/api/v1/oauth/callback";
/** docs/oauth.md: `<scheme>://<host the _initiate call came in on>/api/v1/oauth/callback`. */
export const REDIRECT_URI = `http://${CP}${CALLBACK_PATH}`;
/** The return origins the kit's connectors allow (besides the tenant's active domains). */
export const RETURN_ORIGINS = ["https://app.example.com", "http://localhost:5173"];
export const SCOPES = ["read", "write"];

/** The provider's client ids, by the connector's `client_auth`. */
export const CLIENTS = {
  basic: { id: "portico-basic", auth: "client_secret_basic" },
  post: { id: "portico-post", auth: "client_secret_post" },
  public: { id: "portico-public", auth: "none" },
};

export const b64u = (buf) => Buffer.from(buf).toString("base64url");
export const sha256hex = (s) => crypto.createHash("sha256").update(s).digest("hex");
export const s256 = (verifier) => crypto.createHash("sha256").update(verifier).digest("base64url");
/** docs/oauth.md: `state` is `<random>.<mac>`, the random part 32 bytes in base64url. */
export const STATE_SHAPE = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]+$/;
export function splitState(state) {
  const i = state.indexOf(".");
  return { random: state.slice(0, i), mac: state.slice(i + 1) };
}
/** The D1 key of a state's row: SHA-256 (hex) of the random part. */
export const stateKey = (state) => sha256hex(splitState(state).random);
/** `s` with the character at `i` replaced (by another base64url character). */
export function flipAt(s, i) {
  const c = s[i] === "A" ? "Q" : "A";
  return `${s.slice(0, i)}${c}${s.slice(i + 1)}`;
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Asserts a callback refusal: `status`, `x-portico-error: code`, a small HTML page,
 * no redirect.
 */
export async function expectRefusal(res, status, code, what = "") {
  const text = await res.text();
  const got = `${res.status} ${res.headers.get("x-portico-error")} ${text.slice(0, 200)}`;
  assert.equal(res.status, status, `${what}: status (${got})`);
  assert.equal(res.headers.get("x-portico-error"), code, `${what}: x-portico-error (${got})`);
  assert.equal(res.headers.get("location"), null, `${what}: a refusal never redirects`);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/, `${what}: an HTML page`);
  return text;
}

/**
 * The kit over a scan client `call` (SecretScan.client(h)). `stateScan`, when given,
 * collects the issued states (they may show in responses, never in D1 or logs).
 */
export function oauthKit({ h, call, scan, stateScan, v = vaultKit(call) }) {
  const providers = [];
  /** provider → { client id → secret } */
  const clientSecrets = new Map();

  const kit = {
    v,
    providers,

    /**
     * A stub provider with the three clients (their redirect_uris: exactly the
     * documented REDIRECT_URI, so the provider refuses any other). Access tokens
     * live `ttl` seconds (default 3600, so no alarm fires during a test).
     */
    async provider({ ttl = 3600, redirectUris = [REDIRECT_URI], ...opts } = {}) {
      const clients = {};
      const secrets = {};
      for (const [kind, c] of Object.entries(CLIENTS)) {
        const secret = kind === "public" ? null : scan.addSecret(freshSecret(`cs_${kind}_`), `client secret ${kind}`);
        secrets[c.id] = secret;
        clients[c.id] = { ...(secret ? { secret } : {}), auth: c.auth, redirect_uris: redirectUris };
      }
      const idp = await startOAuthProvider({ clients, ttl, ...opts });
      clientSecrets.set(idp, secrets);
      providers.push(idp);
      return idp;
    },

    /** The `auth` object of an oauth2 connector version for `idp`. */
    auth(idp, { client = "basic", scopes = SCOPES, returnOrigins = RETURN_ORIGINS, revocation = true, tokenUrl, authorizationUrl, secret } = {}) {
      const c = CLIENTS[client];
      const s = secret ?? clientSecrets.get(idp)?.[c.id];
      return {
        type: "oauth2",
        authorization_url: authorizationUrl ?? idp.authorizeUrl,
        token_url: tokenUrl ?? idp.tokenUrl,
        ...(revocation ? { revocation_url: idp.revokeUrl } : {}),
        scopes,
        pkce: true,
        client_auth: c.auth,
        client_id: c.id,
        ...(s ? { client_secret: s } : {}),
        ...(returnOrigins ? { return_origins: returnOrigins } : {}),
      };
    },

    /**
     * A published oauth2 connector whose base_url is the provider (its /resource is
     * the protected API). Global unless `token` is a tenant's. Returns { id, client }.
     */
    async connector(idp, { token, base, ...authOpts } = {}) {
      const id = await v.connector(connectorBody(base ?? idp.url, kit.auth(idp, authOpts)), token ? { token } : {});
      return { id, client: CLIENTS[authOpts.client ?? "basic"] };
    },

    /** POST /tenants/{tid}/connections/_initiate; asserts `expect` when given. */
    async initiate(tid, body, { token = tenantToken(tid), expect } = {}) {
      const r = await v.api("POST", `/tenants/${tid}/connections/_initiate`, { token, body });
      if (expect !== undefined) assert.equal(r.status, expect, `_initiate: ${show(r)}`);
      if (r.status < 300 && typeof r.data?.authorize_url === "string") {
        const state = new URL(r.data.authorize_url).searchParams.get("state");
        if (state && stateScan) stateScan.addSecret(state, "state");
      }
      return r;
    },

    /**
     * Opens `authorizeUrl` at the provider (approved at once for `sub`) and returns
     * where it sends the browser: { url (URL), path (path and query on the control
     * plane), code, state }. The code is registered with the scan.
     */
    async approve(authorizeUrl, { sub = "alice" } = {}) {
      const u = new URL(authorizeUrl);
      u.searchParams.set("login_hint", sub);
      const res = await fetch(u, { redirect: "manual" });
      const text = await res.text();
      assert.equal(res.status, 302, `the provider approves: ${res.status} ${text.slice(0, 200)}`);
      const url = new URL(res.headers.get("location"));
      const code = url.searchParams.get("code");
      if (code) scan.addSecret(code, "authorization code");
      return { url, path: `${url.pathname}${url.search}`, code, state: url.searchParams.get("state") };
    },

    /** GET the callback on the control plane: a path ("/api/v1/oauth/callback?…") or a query string. */
    callback(pathOrQuery, { worker } = {}) {
      const path = pathOrQuery.startsWith("/") ? pathOrQuery : `${CALLBACK_PATH}?${pathOrQuery}`;
      const client = worker ? call.worker(worker) : call;
      return client.fetch(path, { host: CP });
    },

    /**
     * `_initiate` (a new connection for `connectorId`, or `connection_id` to
     * re-authorise), approval for `sub`, and the callback. Asserts the callback
     * succeeded (302 to return_to, or 200). Returns { init, approval, res, conn }.
     */
    async connect(tid, connectorId, { sub = "alice", returnTo, token = tenantToken(tid), connectionId, labels } = {}) {
      const body = connectionId ? { connection_id: connectionId } : { connector_id: connectorId };
      if (returnTo !== undefined) body.return_to = returnTo;
      if (labels) body.labels = labels;
      const init = await kit.initiate(tid, body, { token });
      assert.equal(init.status, connectionId ? 200 : 201, `_initiate: ${show(init)}`);
      const approval = await kit.approve(init.data.authorize_url, { sub });
      const res = await kit.callback(approval.path);
      const text = await res.clone().text();
      if (res.status !== (returnTo ? 302 : 200)) {
        // Diagnostics: what Portico logged about this connection.
        await sleep(100);
        const lines = scan.logs.filter((l) => l.message.includes(init.data.connection.id)).map((l) => l.message);
        assert.fail(`callback: ${res.status} ${res.headers.get("x-portico-error")} ${text.slice(0, 300)}; logs: ${JSON.stringify(lines).slice(0, 1500)}`);
      }
      const conn = await kit.get(tid, init.data.connection.id);
      assert.equal(conn.state, "ready", `connected: ${JSON.stringify(conn)}`);
      return { init, approval, res, conn };
    },

    /** A tenant (created through the API) with a ready connection on a new connector. */
    async ready(idp, { tid, client = "basic", connector = {}, ...opts } = {}) {
      tid ??= await v.createTenant(h.uniq("toa"));
      const ctr = await kit.connector(idp, { client, ...connector });
      const c = await kit.connect(tid, ctr.id, opts);
      return { tid, ctr, ...c, conn: c.conn, token: tenantToken(tid) };
    },

    /** GET the connection (asserts 200). */
    async get(tid, cid, { token = tenantToken(tid) } = {}) {
      const r = await v.api("GET", `/tenants/${tid}/connections/${cid}`, { token });
      assert.equal(r.status, 200, `get connection: ${show(r)}`);
      return r.data;
    },

    /** GET …/tokens (the api result, not asserted). */
    tokensRaw(tid, cid, { token = tenantToken(tid) } = {}) {
      return v.api("GET", `/tenants/${tid}/connections/${cid}/tokens`, { token });
    },
    /** GET …/tokens; asserts 200 and that no token is in it; returns the document. */
    async tokens(tid, cid, opts) {
      const r = await kit.tokensRaw(tid, cid, opts);
      assert.equal(r.status, 200, `tokens: ${show(r)}`);
      for (const f of ["access_token", "refresh_token"]) assert.ok(!(f in r.data), `no ${f} in …/tokens`);
      return r.data;
    },

    /** The proxy endpoint (buffered, scanned Response). */
    proxy: (tid, cid, path, opts) => v.proxy(tid, cid, path, opts),

    /** Refresh-token grant requests the provider received. */
    refreshRequests: (idp) => idp.tokenLog.filter((e) => e.grantType === "refresh_token"),

    /**
     * Registers with the scan everything the providers saw or issued: access and
     * refresh tokens, authorization codes, PKCE verifiers, client secrets.
     */
    registerProviderSecrets() {
      const seen = new Set(scan.secrets.map((s) => s.secret));
      const add = (s, note) => {
        if (typeof s === "string" && s.length >= 8 && !seen.has(s)) {
          seen.add(s);
          scan.addSecret(s, note);
        }
      };
      for (const idp of providers) {
        for (const t of idp.issued) {
          add(t.access_token, "access token");
          add(t.refresh_token, "refresh token");
        }
        for (const e of idp.tokenLog) {
          add(e.form.code, "authorization code");
          add(e.form.code_verifier, "PKCE verifier");
          add(e.form.refresh_token, "refresh token (sent)");
          add(e.form.client_secret, "client secret (sent)");
        }
        for (const e of idp.revokeLog) add(e.form.token, "revoked token");
      }
    },

    async closeAll() {
      await Promise.allSettled(providers.map((p) => p.close()));
    },
  };
  return kit;
}
