// A real OAuth 2.0 / OpenID Connect server on 127.0.0.1 for local development and the
// end-to-end suite: panva's `oidc-provider` (npm, v9, Node 22), configured for what an
// OAuth2 connection needs (docs/oauth.md), plus a tiny demo API that checks its tokens.
// Nothing here is a stub of the protocol: codes, PKCE, client authentication, token
// rotation, reuse detection and revocation are oidc-provider's own. (The scriptable
// stand-in for what a real server will not do on demand — 503s, malformed JSON — is
// dev/oauth-provider.mjs.)
//
//   node dev/oidc-provider.mjs --port 9003 [--access-ttl 3600] [--redirect-uris a,b]
//
// Configuration (oidc-provider 9)
//   - authorization code only (response_type=code), PKCE S256 required for every client
//     (pkce.required → true; oidc-provider knows no other method), redirect_uri always
//     required (allowOmittingSingleRegisteredRedirectUri: false). Clients are `web`
//     clients: oidc-provider accepts http:// redirect URIs on any host for the code
//     flow (only implicit-flow web clients must use https and not localhost), compared
//     exactly; so http://cp.test/... and http://api.localhost:8787/... work as given.
//   - a refresh token with every code exchange (issueRefreshToken → true, no
//     offline_access needed; expiresWithSession → false), ROTATED on every use
//     (rotateRefreshToken: true). Reuse detection is oidc-provider's own with rotation:
//     a rotated refresh token is kept as `consumed`; presenting it again destroys it,
//     revokes the whole grant (every access and refresh token of it) and answers
//     invalid_grant — the clean oracle for "exactly one refresh".
//   - RFC 7009 revocation at /token/revocation (client authenticated as at /token): a
//     refresh token revokes its grant (every token of it). Beware: oidc-provider also
//     revokes a grant's tokens when an ACCESS token is revoked there (only the Grant
//     record is kept); to kill one access token alone use `destroyAccessToken`.
//   - opaque access tokens (43 characters), checked by the demo API in-process, as an
//     introspection would (the token must exist, be unexpired and its grant alive);
//     RFC 7662 introspection is enabled too (/token/introspection).
//   - client authentication client_secret_basic, client_secret_post or none (public
//     client), one method per client (token_endpoint_auth_method), enforced.
//   - devInteractions (oidc-provider's built-in login and consent forms): any login
//     name is accepted as the subject; `authorize()` below fills them in headlessly.
//   - clockTolerance 0: a token is expired at its `exp` second, not 15 s later.
//   - storage: an in-memory adapter of this module (not oidc-provider's module-wide
//     LRU), one per server, that also records every code and token issued.
//
// Endpoints (issuer http://127.0.0.1:<port>)
//   GET  /auth                 authorization endpoint (then /interaction/:uid forms)
//   POST /token                token endpoint
//   POST /token/revocation     RFC 7009
//   POST /token/introspection  RFC 7662
//   GET  /.well-known/openid-configuration, /jwks
//   ANY  /resource[/*]         the demo API: 200 { sub, client_id, scope, method, path,
//                              body: { bytes, sha256 } } for a live Bearer access token;
//                              else 401 with WWW-Authenticate: Bearer error="invalid_token"
//                              (revoked, expired, unknown, or its grant revoked), or
//                              Bearer alone when no token was sent.
//   GET  /_admin/stats         the counters below, as JSON (development)
//   POST /_admin/ttl?access=N  sets the access-token TTL in seconds (development)
//
// From a test:
//   import { startOidcProvider } from "../../dev/oidc-provider.mjs";
//   const op = await startOidcProvider({
//     clients: [{ client_id: "app", client_secret: "s3cret", token_endpoint_auth_method: "client_secret_basic",
//                 redirect_uris: ["http://cp.test/api/v1/oauth/callback"] }],
//     scopes: ["api:read", "api:write"],         // offered besides openid, offline_access
//     onSecret: (value, kind) => scan.addSecret(value, kind),  // every code, token and
//   });                                          // code_verifier the server sees
//   op.url, op.issuer, op.authorizationUrl, op.tokenUrl, op.revocationUrl, op.resourceUrl
//   const location = await op.authorize(authorizeUrl, { sub: "alice", consent: true });
//       // follows the login and consent forms with a cookie jar (fetch, redirect
//       // "manual") and returns the final redirect to the client's redirect_uri (with
//       // code and state, or error=access_denied when consent is false) unfollowed.
//   op.accessTokenTtl = 2;                // seconds, read at every token issuance
//   op.setAccessTokenTtl("alice", 2);     // for one subject only (null: back to the default)
//   op.stats                              // { tokenRequests, tokenRequestsByGrant, invalidGrant,
//                                         //   invalidGrantByGrant, tokenErrors, refreshReuses,
//                                         //   grantsRevoked, revocationRequests, resourceRequests,
//                                         //   resourceRejected }
//   op.tokenLog / op.revocationLog / op.resourceLog   // one record per request (below)
//   op.issued                             // every code / token stored: { kind, value, payload }
//   op.record(value)                      // the stored record of a code or token (or undefined)
//   op.hold({ grant_type: "refresh_token", sub })      // hold matching /token requests
//       // → { waiting, arrived(n), release() }: requests wait before oidc-provider sees them
//   await op.post("/token", clientId, form)            // a request of the test's own, with
//       // that client's authentication (marked byTest in the logs) → { status, json }
//   await op.destroyAccessToken(value)    // that access token alone stops working
//   op.resetStats(); await op.close();
//
// tokenLog records: { seq, grant_type, client_id, client_auth ("basic" | "post" | "none"),
//   form, basic: { id, secret } | null, sub, grantId, presented (the code or refresh token
//   sent), status, error, error_detail, issued: { access_token, refresh_token, scope,
//   expires_in } | null, byTest }. `sub` and `grantId` come from the server's record of the
//   presented code or refresh token (looked up before oidc-provider handles the request).
// revocationLog: { seq, client_id, client_auth, form, basic, token, token_type_hint, kind
//   (of the token presented, from the server's records), sub, grantId, status, byTest }.
// resourceLog: { seq, method, path, token, status, sub, client_id, error }.
//
// Default clients (when `clients` is not given): portico-basic / portico-post with a
// random secret each (op.clients[id].client_secret) and portico-public (none), with
// `redirectUris` (default: the development callback URLs below).
import http from "node:http";
import crypto from "node:crypto";
import * as querystring from "node:querystring";
import Provider from "oidc-provider";
import { listen, serveWhenMain } from "./cli.mjs";

/** Callback URLs of a local Portico (`npm run dev`: the control plane on api.localhost:8787). */
export const DEV_REDIRECT_URIS = [
  "http://api.localhost:8787/api/v1/oauth/callback",
  "http://localhost:8787/api/v1/oauth/callback",
  "http://127.0.0.1:8787/api/v1/oauth/callback",
];

const MAX_BODY = 64 * 1024;
const DAY = 24 * 60 * 60;
const GRANT_KINDS = new Set(["AccessToken", "RefreshToken", "AuthorizationCode", "DeviceCode", "BackchannelAuthenticationRequest", "PreAuthorizedCode", "ClientCredentials"]);
const SECRET_KINDS = { AccessToken: "access token", RefreshToken: "refresh token", AuthorizationCode: "authorization code" };

function newStats() {
  return {
    tokenRequests: 0,
    tokenRequestsByGrant: {},
    invalidGrant: 0,
    invalidGrantByGrant: {},
    tokenErrors: {},
    refreshReuses: 0,
    grantsRevoked: 0,
    revocationRequests: 0,
    resourceRequests: 0,
    resourceRejected: 0,
  };
}

/**
 * oidc-provider storage, one per server: every model in one Map with its expiry, an
 * index per (model, grant) for revokeByGrantId, and `issued`, every code and token
 * ever stored (payloads by reference, so `consumed` shows).
 */
function memoryStore(onIssued) {
  const items = new Map(); // `${model}:${id}` → { payload, expiresAt }
  const byGrant = new Map(); // `${model}:${grantId}` → Set(id)
  const byUid = new Map();
  const byUserCode = new Map();
  const issued = [];
  const issuedByValue = new Map();
  class Adapter {
    constructor(model) {
      this.model = model;
    }
    key(id) {
      return `${this.model}:${id}`;
    }
    async upsert(id, payload, expiresIn) {
      const expiresAt = typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : Infinity;
      items.set(this.key(id), { payload, expiresAt });
      if (GRANT_KINDS.has(this.model) && payload.grantId) {
        const gk = `${this.model}:${payload.grantId}`;
        if (!byGrant.has(gk)) byGrant.set(gk, new Set());
        byGrant.get(gk).add(id);
      }
      if (this.model === "Session" && payload.uid) byUid.set(payload.uid, id);
      if (payload.userCode) byUserCode.set(payload.userCode, id);
      if (SECRET_KINDS[this.model] && !issuedByValue.has(id)) {
        const rec = { kind: this.model, value: id, payload };
        issued.push(rec);
        issuedByValue.set(id, rec);
        onIssued(rec);
      } else if (issuedByValue.has(id)) {
        issuedByValue.get(id).payload = payload;
      }
    }
    async find(id) {
      const e = items.get(this.key(id));
      if (!e) return undefined;
      if (e.expiresAt <= Date.now()) {
        items.delete(this.key(id));
        return undefined;
      }
      return e.payload;
    }
    async findByUid(uid) {
      const id = byUid.get(uid);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode(code) {
      const id = byUserCode.get(code);
      return id === undefined ? undefined : this.find(id);
    }
    async consume(id) {
      const e = items.get(this.key(id));
      if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id) {
      const e = items.get(this.key(id));
      items.delete(this.key(id));
      if (e) {
        const rec = issuedByValue.get(id);
        if (rec) rec.destroyed = true;
      }
    }
    async revokeByGrantId(grantId) {
      const gk = `${this.model}:${grantId}`;
      for (const id of byGrant.get(gk) ?? []) await this.destroy(id);
      byGrant.delete(gk);
    }
  }
  /** The live stored payload of `value` under `model` (undefined when gone or expired). */
  const live = (model, value) => {
    const e = items.get(`${model}:${value}`);
    return e && e.expiresAt > Date.now() ? e.payload : undefined;
  };
  return { Adapter, issued, issuedByValue, live };
}

/** Reads a request body whole (at most MAX_BODY bytes). */
async function readBody(req) {
  const chunks = [];
  let n = 0;
  for await (const c of req) {
    n += c.length;
    if (n > MAX_BODY) throw Object.assign(new Error("request body too large"), { status: 413 });
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** RFC 6749 §2.3.1: Basic credentials are form-encoded before base64. */
function readBasic(header) {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!m) return null;
  const raw = Buffer.from(m[1], "base64").toString("utf8");
  const i = raw.indexOf(":");
  if (i < 0) return null;
  const dec = (s) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, " "));
    } catch {
      return s;
    }
  };
  return { id: dec(raw.slice(0, i)), secret: dec(raw.slice(i + 1)) };
}

const first = (v) => (Array.isArray(v) ? v[0] : v);

/** A cookie jar for one headless login: name → { value, path }, per the Set-Cookie paths. */
class CookieJar {
  constructor() {
    this.cookies = new Map();
  }
  store(setCookies) {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = "/";
      let gone = value === "";
      for (const a of attrs) {
        const [k, v = ""] = a.split("=");
        if (k.toLowerCase() === "path") path = v || "/";
        if (k.toLowerCase() === "max-age" && Number(v) <= 0) gone = true;
        if (k.toLowerCase() === "expires" && Date.parse(v) <= Date.now()) gone = true;
      }
      const key = `${name}\n${path}`;
      if (gone) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path });
    }
  }
  header(url) {
    const p = url.pathname;
    return [...this.cookies.values()]
      .filter((c) => p === c.path || p.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }
}

/**
 * Starts the server. Options: port (0 = any), host ("127.0.0.1"), clients (oidc-provider
 * client metadata list; default: the three portico-* clients), redirectUris (for the
 * default clients), scopes (offered besides openid and offline_access; default
 * ["api:read", "api:write"]), accessTokenTtl (3600 s), refreshTokenTtl (14 days),
 * onSecret(value, kind) (every code, access token, refresh token, code_verifier and
 * client secret it handles). oidc-provider prints two development warnings on stderr
 * (devInteractions on; a request body read before it, by the counters here).
 */
export async function startOidcProvider({
  port = 0,
  host = "127.0.0.1",
  clients,
  redirectUris = DEV_REDIRECT_URIS,
  scopes = ["api:read", "api:write"],
  accessTokenTtl = 3600,
  refreshTokenTtl = 14 * DAY,
  onSecret = () => {},
} = {}) {
  const clientList = clients ?? [
    { client_id: "portico-basic", client_secret: `cs_basic_${crypto.randomBytes(16).toString("hex")}`, token_endpoint_auth_method: "client_secret_basic", redirect_uris: redirectUris },
    { client_id: "portico-post", client_secret: `cs_post_${crypto.randomBytes(16).toString("hex")}`, token_endpoint_auth_method: "client_secret_post", redirect_uris: redirectUris },
    { client_id: "portico-public", token_endpoint_auth_method: "none", redirect_uris: redirectUris },
  ];
  for (const c of clientList) if (c.client_secret) onSecret(c.client_secret, `client secret of ${c.client_id}`);

  let handler = (_req, res) => {
    res.writeHead(503).end();
  };
  const server = http.createServer((req, res) => handler(req, res));
  const listening = await listen(server, port, host);
  const issuer = `http://${host}:${listening.port}`;

  const state = { accessTtl: accessTokenTtl, refreshTtl: refreshTokenTtl, ttlBySub: new Map() };
  let stats = newStats();
  const tokenLog = [];
  const revocationLog = [];
  const resourceLog = [];
  const holds = [];
  let seq = 0;
  const store = memoryStore((rec) => onSecret(rec.value, SECRET_KINDS[rec.kind]));

  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "oidc-dev-1", use: "sig", alg: "RS256" };

  const provider = new Provider(issuer, {
    adapter: store.Adapter,
    clients: clientList.map((c) => ({ grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], ...c })),
    clientDefaults: {
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: "RS256",
    },
    responseTypes: ["code"],
    scopes: ["openid", "offline_access", ...scopes],
    claims: { openid: ["sub"] },
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString("base64url")] },
    clockTolerance: 0,
    allowOmittingSingleRegisteredRedirectUri: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      // A client revokes only its own tokens (oidc-provider's default allows any client).
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      introspection: { enabled: true },
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: true,
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: (_ctx, token) => state.ttlBySub.get(token?.accountId) ?? state.accessTtl,
      RefreshToken: () => state.refreshTtl,
      AuthorizationCode: 600,
      Grant: 30 * DAY,
      Interaction: 3600,
      Session: DAY,
      IdToken: 3600,
    },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  });

  // grant.error carries the internal reason (error_detail) that the answer does not.
  provider.on("grant.error", (ctx, err) => {
    ctx.state.grantError = err;
    if (err?.error_detail === "refresh token already used") stats.refreshReuses += 1;
  });
  provider.on("grant.revoked", () => {
    stats.grantsRevoked += 1;
  });
  provider.on("server_error", (_ctx, err) => {
    console.error(`oidc-provider: server_error: ${err?.stack ?? err}`);
  });

  const clientAuthOf = (basic, form) => (basic ? "basic" : form.client_secret !== undefined ? "post" : "none");
  /** The server's record of a presented code or refresh token, before the request is handled. */
  const presentedRecord = (form) => {
    const value = first(form.refresh_token) ?? first(form.code) ?? first(form.token);
    const rec = value === undefined ? undefined : store.issuedByValue.get(value);
    return { value, rec };
  };

  async function tokenEndpoint(ctx, next) {
    const raw = await readBody(ctx.req);
    const form = querystring.parse(raw.toString("utf8"));
    // oidc-provider reads an already-read body from req.body.
    ctx.req.body = form;
    const basic = readBasic(ctx.get("authorization"));
    const grantType = first(form.grant_type);
    const { value, rec } = presentedRecord(form);
    const entry = {
      seq: ++seq,
      at: Date.now(),
      grant_type: grantType,
      client_id: basic?.id ?? first(form.client_id),
      client_auth: clientAuthOf(basic, form),
      basic,
      form,
      sub: rec?.payload.accountId,
      grantId: rec?.payload.grantId,
      presented: value,
      status: null,
      error: null,
      error_detail: null,
      issued: null,
      byTest: ctx.get("x-oidc-test") === "1",
    };
    tokenLog.push(entry);
    stats.tokenRequests += 1;
    stats.tokenRequestsByGrant[grantType] = (stats.tokenRequestsByGrant[grantType] ?? 0) + 1;
    const verifier = first(form.code_verifier);
    if (typeof verifier === "string" && verifier.length >= 8) onSecret(verifier, "code_verifier");
    for (const hold of holds) {
      if (hold.active && hold.matches(entry)) {
        hold.waiting += 1;
        hold.notify();
        await hold.released;
        hold.waiting -= 1;
      }
    }
    await next();
    entry.status = ctx.status;
    const body = ctx.body && typeof ctx.body === "object" && !Buffer.isBuffer(ctx.body) ? ctx.body : null;
    if (ctx.status === 200 && body?.access_token) {
      entry.issued = { access_token: body.access_token, refresh_token: body.refresh_token, scope: body.scope, expires_in: body.expires_in };
      if (!entry.sub) {
        const at = store.issuedByValue.get(body.access_token);
        entry.sub = at?.payload.accountId;
        entry.grantId = at?.payload.grantId;
      }
    } else if (body?.error) {
      entry.error = body.error;
      entry.error_detail = ctx.state.grantError?.error_detail ?? null;
      stats.tokenErrors[body.error] = (stats.tokenErrors[body.error] ?? 0) + 1;
      if (body.error === "invalid_grant") {
        stats.invalidGrant += 1;
        stats.invalidGrantByGrant[grantType] = (stats.invalidGrantByGrant[grantType] ?? 0) + 1;
      }
    }
  }

  async function revocationEndpoint(ctx, next) {
    const raw = await readBody(ctx.req);
    const form = querystring.parse(raw.toString("utf8"));
    ctx.req.body = form;
    const basic = readBasic(ctx.get("authorization"));
    const { value, rec } = presentedRecord(form);
    const entry = {
      seq: ++seq,
      at: Date.now(),
      client_id: basic?.id ?? first(form.client_id),
      client_auth: clientAuthOf(basic, form),
      form,
      basic,
      token: value,
      token_type_hint: first(form.token_type_hint),
      kind: rec?.kind ?? null,
      sub: rec?.payload.accountId,
      grantId: rec?.payload.grantId,
      status: null,
      byTest: ctx.get("x-oidc-test") === "1",
    };
    revocationLog.push(entry);
    stats.revocationRequests += 1;
    await next();
    entry.status = ctx.status;
    if (ctx.body && typeof ctx.body === "object" && ctx.body.error) entry.error = ctx.body.error;
  }

  /** The demo API: a live access token (unexpired, not revoked, its grant alive). */
  async function resource(ctx) {
    stats.resourceRequests += 1;
    const body = await readBody(ctx.req);
    const entry = { seq: ++seq, at: Date.now(), method: ctx.method, path: ctx.path, token: null, status: 401, sub: null, client_id: null, error: null };
    resourceLog.push(entry);
    const m = /^Bearer ([\x21-\x7e]+)$/.exec(ctx.get("authorization"));
    const refuse = (error) => {
      stats.resourceRejected += 1;
      entry.error = error ?? "no_token";
      ctx.status = 401;
      ctx.set("www-authenticate", error ? `Bearer error="${error}"` : "Bearer");
      ctx.set("cache-control", "no-store");
      ctx.body = { error: error ?? "unauthorized" };
    };
    if (!m) return refuse(null);
    entry.token = m[1];
    const at = await provider.AccessToken.find(m[1]);
    if (!at) return refuse("invalid_token");
    const grant = await provider.Grant.find(at.grantId);
    if (!grant) return refuse("invalid_token");
    entry.status = 200;
    entry.sub = at.accountId;
    entry.client_id = at.clientId;
    ctx.status = 200;
    ctx.set("cache-control", "no-store");
    ctx.body = {
      sub: at.accountId,
      client_id: at.clientId,
      scope: at.scope ?? "",
      method: ctx.method,
      path: ctx.path,
      body: { bytes: body.length, sha256: crypto.createHash("sha256").update(body).digest("hex") },
    };
  }

  async function admin(ctx) {
    if (ctx.path === "/_admin/stats" && ctx.method === "GET") {
      ctx.body = { ...stats, accessTokenTtl: state.accessTtl };
      return;
    }
    if (ctx.path === "/_admin/ttl" && ctx.method === "POST") {
      const n = Number(ctx.query.access);
      if (!Number.isInteger(n) || n < 1) {
        ctx.status = 400;
        ctx.body = { error: "access must be a whole number of seconds >= 1" };
        return;
      }
      state.accessTtl = n;
      ctx.body = { accessTokenTtl: n };
      return;
    }
    ctx.status = 404;
    ctx.body = { error: "not_found" };
  }

  // Koa middleware in front of oidc-provider's routes (provider.use puts it before them).
  provider.use(async (ctx, next) => {
    try {
      if (ctx.path === "/resource" || ctx.path.startsWith("/resource/")) return await resource(ctx);
      if (ctx.path.startsWith("/_admin/")) return await admin(ctx);
      if (ctx.method === "POST" && ctx.path === "/token") return await tokenEndpoint(ctx, next);
      if (ctx.method === "POST" && ctx.path === "/token/revocation") return await revocationEndpoint(ctx, next);
    } catch (e) {
      if (e?.status === 413) {
        ctx.status = 413;
        ctx.body = { error: "invalid_request", error_description: e.message };
        return undefined;
      }
      throw e;
    }
    return next();
  });

  handler = provider.callback();

  const clientsById = Object.fromEntries(clientList.map((c) => [c.client_id, c]));

  /** Applies a client's authentication method to a token / revocation request. */
  function clientRequest(path, clientId, form) {
    const c = clientsById[clientId];
    if (!c) throw new Error(`no client ${clientId}`);
    const headers = { "content-type": "application/x-www-form-urlencoded", accept: "application/json", "x-oidc-test": "1" };
    const body = new URLSearchParams(form);
    const method = c.token_endpoint_auth_method ?? "client_secret_basic";
    if (method === "client_secret_basic") {
      const enc = (s) => encodeURIComponent(s).replace(/%20/g, "+");
      headers.authorization = `Basic ${Buffer.from(`${enc(c.client_id)}:${enc(c.client_secret)}`).toString("base64")}`;
    } else if (method === "client_secret_post") {
      body.set("client_id", c.client_id);
      body.set("client_secret", c.client_secret);
    } else {
      body.set("client_id", c.client_id);
    }
    return fetch(`${issuer}${path}`, { method: "POST", headers, body: body.toString() });
  }

  const op = {
    provider,
    issuer,
    url: issuer,
    port: listening.port,
    host,
    authorizationUrl: `${issuer}/auth`,
    tokenUrl: `${issuer}/token`,
    revocationUrl: `${issuer}/token/revocation`,
    introspectionUrl: `${issuer}/token/introspection`,
    resourceUrl: `${issuer}/resource`,
    clients: clientsById,
    get stats() {
      return stats;
    },
    tokenLog,
    revocationLog,
    resourceLog,
    issued: store.issued,
    get accessTokenTtl() {
      return state.accessTtl;
    },
    set accessTokenTtl(n) {
      state.accessTtl = n;
    },
    setAccessTokenTtl(sub, n) {
      if (n === null || n === undefined) state.ttlBySub.delete(sub);
      else state.ttlBySub.set(sub, n);
    },
    /** The stored record of a code or token: { kind, value, payload, destroyed }. */
    record(value) {
      return store.issuedByValue.get(value);
    },
    /** Whether `value` (an access or refresh token) is still live at the server. */
    isLive(value) {
      const rec = store.issuedByValue.get(value);
      if (!rec) return false;
      const p = store.live(rec.kind, value);
      return Boolean(p && !p.consumed && p.exp > Math.floor(Date.now() / 1000));
    },
    /** Holds /token requests matching { grant_type, sub, client_id } until release(). */
    hold(match = {}) {
      let release;
      const released = new Promise((r) => {
        release = r;
      });
      const waiters = [];
      const h = {
        active: true,
        waiting: 0,
        released,
        matches: (e) => Object.entries(match).every(([k, v]) => e[k] === v),
        notify() {
          for (const w of waiters.splice(0)) w();
        },
        /** Resolves once `n` requests are being held (or `timeoutMs` passed: false). */
        async arrived(n = 1, timeoutMs = 10_000) {
          const until = Date.now() + timeoutMs;
          while (h.waiting < n) {
            if (Date.now() > until) return false;
            await new Promise((r) => {
              waiters.push(r);
              setTimeout(r, 50);
            });
          }
          return true;
        },
        release() {
          h.active = false;
          release();
          const i = holds.indexOf(h);
          if (i >= 0) holds.splice(i, 1);
        },
      };
      holds.push(h);
      return h;
    },
    /** A request of the test's own to `path` (/token, /token/revocation) as `clientId`. */
    async post(path, clientId, form) {
      const res = await clientRequest(path, clientId, form);
      const text = await res.text();
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      return { status: res.status, json, text, headers: res.headers };
    },
    /** Destroys one access token at the server (its grant and refresh token stay). */
    async destroyAccessToken(value) {
      const at = await provider.AccessToken.find(value, { ignoreExpiration: true });
      if (at) await at.destroy();
      return Boolean(at);
    },
    /**
     * Headless login and consent: follows `authorizeUrl` through oidc-provider's dev
     * interactions as `sub` and returns the final redirect Location (to the client's
     * redirect_uri), not followed. consent false aborts at the consent step (the
     * redirect then carries error=access_denied). Throws with the page when the
     * provider shows an error instead of redirecting (an unknown client, a
     * redirect_uri not registered, a missing code_challenge...).
     */
    async authorize(authorizeUrl, { sub = "alice", consent = true, password = "any" } = {}) {
      const jar = new CookieJar();
      let req = { url: new URL(authorizeUrl), method: "GET", body: undefined };
      const isProvider = (u) => u.origin === issuer && (u.pathname.startsWith("/auth") || u.pathname.startsWith("/interaction"));
      if (!isProvider(req.url)) throw new Error(`authorize: ${authorizeUrl} is not this provider's authorization endpoint`);
      for (let step = 0; step < 20; step++) {
        const headers = { accept: "text/html" };
        const cookie = jar.header(req.url);
        if (cookie) headers.cookie = cookie;
        if (req.body) headers["content-type"] = "application/x-www-form-urlencoded";
        const res = await fetch(req.url, { method: req.method, headers, body: req.body, redirect: "manual" });
        jar.store(res.headers.getSetCookie());
        if (res.status >= 300 && res.status < 400) {
          await res.arrayBuffer();
          const next = new URL(res.headers.get("location"), req.url);
          if (!isProvider(next)) return next.href;
          req = { url: next, method: "GET", body: undefined };
          continue;
        }
        const html = await res.text();
        if (res.status !== 200) {
          throw new Error(`authorize: ${req.method} ${req.url.pathname} answered ${res.status}: ${html.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").slice(0, 400)}`);
        }
        const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
        const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
        if (!prompt || !action) {
          throw new Error(`authorize: unexpected page at ${req.url.pathname}: ${html.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").slice(0, 400)}`);
        }
        const target = new URL(action.replace(/&amp;/g, "&"), req.url);
        if (prompt === "login") {
          req = { url: target, method: "POST", body: new URLSearchParams({ prompt: "login", login: sub, password }).toString() };
        } else if (prompt === "consent" && consent) {
          req = { url: target, method: "POST", body: new URLSearchParams({ prompt: "consent" }).toString() };
        } else if (prompt === "consent") {
          req = { url: new URL(`${target.pathname}/abort`, target), method: "GET", body: undefined };
        } else {
          throw new Error(`authorize: unknown prompt ${prompt}`);
        }
      }
      throw new Error("authorize: too many steps");
    },
    resetStats() {
      stats = newStats();
    },
    close: async () => {
      for (const h of [...holds]) h.release();
      await listening.close();
    },
  };
  return op;
}

await serveWhenMain(import.meta, {
  port: 9003,
  start: ({ port, host, flag }) => {
    const redirectUris = flag("redirect-uris", null)?.split(",").map((s) => s.trim()).filter(Boolean) ?? DEV_REDIRECT_URIS;
    const clientSecret = flag("client-secret", "portico-demo-secret");
    return startOidcProvider({
      port,
      host,
      accessTokenTtl: Number(flag("access-ttl", "3600")),
      clients: [
        { client_id: "portico-demo", client_secret: clientSecret, token_endpoint_auth_method: "client_secret_basic", redirect_uris: redirectUris },
        { client_id: "portico-demo-post", client_secret: clientSecret, token_endpoint_auth_method: "client_secret_post", redirect_uris: redirectUris },
        { client_id: "portico-demo-public", token_endpoint_auth_method: "none", redirect_uris: redirectUris },
      ],
    });
  },
  banner: (op) =>
    `oidc-provider on ${op.url}: authorize ${op.authorizationUrl}, token ${op.tokenUrl}, revocation ${op.revocationUrl}, ` +
    `demo API ${op.resourceUrl}; clients portico-demo / portico-demo-post (secret portico-demo-secret), portico-demo-public; ` +
    `access tokens live ${op.accessTokenTtl} s (POST /_admin/ttl?access=N to change)`,
});
