// A real OAuth 2.0 authorization server on 127.0.0.1 for local development and the
// end-to-end suite (node:http, no dependency). Tokens are JWTs signed with real keys
// (dev/jwt.mjs), published at /jwks.json.
//
//   node dev/oauth-provider.mjs --port 9002 [--clients id:secret,...] [--issuer URL]
//
// Endpoints
//   GET  /.well-known/oauth-authorization-server   RFC 8414 metadata (also under
//                                                  /.well-known/openid-configuration)
//   GET  /jwks.json     the public keys (stats.jwksFetches)
//   GET  /authorize     authorization code with PKCE (S256 only, required). No login
//                       page: the request is approved at once for the subject in
//                       login_hint (else `subject`, "dev-user") and redirected to
//                       redirect_uri with code, state and iss; options.authorize =
//                       "deny" answers access_denied instead. An unknown client or a
//                       redirect_uri the client did not register gets a 400 page, no
//                       redirect.
//   POST /token         grant_type client_credentials | authorization_code |
//                       refresh_token. Client authentication client_secret_basic
//                       (RFC 6749 §2.3.1: id and secret form-encoded, then Basic),
//                       client_secret_post, or none (a public client: client_id only).
//                       Codes are single-use (a replayed code revokes what it
//                       issued). Refresh tokens rotate: each refresh returns a new one
//                       and a replayed (already rotated) refresh token revokes the
//                       whole grant (reuse detection).
//   POST /revoke        RFC 7009: a refresh token revokes its grant (and every access
//                       token of it), an access token just itself; unknown tokens 200.
//   ANY  /resource[/…]  a protected resource: 200 { sub, client_id, scope } for a live
//                       Bearer access token, else 401 invalid_token (a revoked or
//                       expired token, or one of a revoked grant). A request with a
//                       body (any size: it is hashed, not buffered) gets `bytes` and
//                       `sha256` of it in the answer too. Every request is kept in
//                       resourceLog.
//   GET  /_stats        the counters below, as JSON
//   POST /_next/token   queue a scripted answer for the next /token request (JSON body
//   POST /_next/revoke  as for next() below): what a real server will not do on demand
//   POST /_next/resource
//
// From a test:
//   const idp = await startOAuthProvider({ clients: { app: "secret" } });
//   idp.stats.tokenRequests            // calls to /token (tokenRequestsByGrant per grant)
//   idp.next("token", { status: 503 }) // the next /token call answers 503
//   idp.next("token", { grant: "refresh_token", status: 503 })  // the next refresh only
//   idp.next("token", { grant: "refresh_token", delayMs: 800, pass: true })  // slow, then real
//   idp.next("resource", { status: 401 }) // the next /resource call answers 401
//   idp.tokenLog, idp.issued, idp.revokeLog, idp.resourceLog  // what was asked and issued
//   idp.revoke(token)                  // revoke as /revoke would, without client auth
//
// Clients: { id: "secret" } (confidential; client_secret_basic or _post) or
// { id: { secret?, auth?: "client_secret_basic" | "client_secret_post" | "none",
// redirect_uris?: [...] } } (no secret = public client, auth "none"; without
// redirect_uris any http(s) redirect_uri is accepted). The object is read on every
// request, so a test may change it while the server runs.
import http from "node:http";
import crypto from "node:crypto";
import { makeKey, signJwt, jwks, now, b64u } from "./jwt.mjs";
import { listen, serveWhenMain } from "./cli.mjs";

const MAX_BODY = 1024 * 1024;
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

const randomToken = (prefix) => `${prefix}${b64u(crypto.randomBytes(32))}`;
/** application/x-www-form-urlencoded decoding of one Basic credential half. */
const formDecode = (s) => {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return null;
  }
};
const scopeSet = (s) => new Set((s ?? "").split(" ").filter(Boolean));

function newStats() {
  return {
    tokenRequests: 0,
    tokenFailures: 0,
    tokenRequestsByGrant: {},
    lastTokenRequest: null,
    jwksFetches: 0,
    authorizeRequests: 0,
    refreshes: 0,
    refreshReuses: 0,
    codeReplays: 0,
    revocationRequests: 0,
    revocations: 0,
    resourceRequests: 0,
  };
}

/**
 * Start the provider. Options: port (0 = any), host, keys (makeKey keys; the first
 * signs), issuer ("https://idp.test"), audience ("portico-api"), clients, ttl (access
 * token lifetime s, 300), reportedTtl (expires_in reported; defaults to ttl: set it
 * higher to make tokens die before the client expects), codeTtl (60 s), subject
 * ("dev-user"), rotateRefreshTokens (true; false = a refresh answers without a new
 * refresh token and the old one stays valid). ttl, reportedTtl, rotateRefreshTokens
 * and authorize ("approve" | "deny") can be changed later through `options`.
 *
 * Returns { url, port, issuer, audience, jwksUrl, authorizeUrl, tokenUrl, revokeUrl,
 * resourceUrl, stats, resetStats(), options, keys, setKeys(keys), mint(claims),
 * next(endpoint, ...answers), clearNext(endpoint?), pending(endpoint),
 * introspect(token), revoke(token), tokenLog, issued, revokeLog, resourceLog,
 * clients, close() }.
 */
export async function startOAuthProvider({
  port = 0,
  host = "127.0.0.1",
  keys,
  issuer = "https://idp.test",
  audience = "portico-api",
  clients = {},
  ttl = 300,
  reportedTtl,
  codeTtl = 60,
  subject = "dev-user",
  rotateRefreshTokens = true,
} = {}) {
  let current = keys ?? [makeKey("RS256", "idp-1")];
  const options = { ttl, reportedTtl, codeTtl, rotateRefreshTokens, authorize: "approve" };
  let stats = newStats();
  const scripted = { token: [], revoke: [], resource: [] };
  /** Every /token request: { at, grantType, form, clientAuth, headers, scripted }. */
  const tokenLog = [];
  /** Every token set issued: { grant, access_token, refresh_token? }. */
  const issued = [];
  /** Every /revoke request: { at, form, headers, scripted }. */
  const revokeLog = [];
  /** Every /resource request: { at, method, path, query, token, headers, bytes, sha256, bodyText, status }. */
  const resourceLog = [];
  /** code → { clientId, redirectUri, redirectUriGiven, scope, sub, challenge, exp, used, grantId } */
  const codes = new Map();
  /** grant id → { id, clientId, sub, scope, revoked, accessTokens: Set, refreshTokens: Set } */
  const grants = new Map();
  /** refresh token → { grantId, used } */
  const refreshTokens = new Map();
  /** access token → { grantId, clientId, sub, scope, exp, revoked } */
  const accessTokens = new Map();

  const mint = (claims) =>
    signJwt(current[0], { iss: issuer, aud: audience, iat: now(), exp: now() + options.ttl, ...claims });

  const client = (id) => {
    if (typeof id !== "string" || !Object.hasOwn(clients, id)) return null;
    const c = clients[id];
    if (typeof c === "string") return { id, secret: c, auth: null, redirectUris: null };
    if (c === null || typeof c !== "object") return null;
    const secret = c.secret ?? null;
    return { id, secret, auth: c.auth ?? (secret === null ? "none" : null), redirectUris: c.redirect_uris ?? null };
  };

  /** RFC 6749 §2.3: { clientId, method } or { error, status, method }. */
  const authenticate = (req, form) => {
    const header = req.headers.authorization ?? "";
    const fail = (error, method, description) => ({ error, status: error === "invalid_client" ? 401 : 400, method, description });
    let id;
    let secret = null;
    let method;
    if (/^basic /i.test(header)) {
      method = "client_secret_basic";
      const dec = Buffer.from(header.slice(6).trim(), "base64").toString();
      const i = dec.indexOf(":");
      if (i < 0) return fail("invalid_client", method, "malformed Basic credentials");
      id = formDecode(dec.slice(0, i));
      secret = formDecode(dec.slice(i + 1));
      if (form.has("client_secret")) return fail("invalid_request", method, "more than one client authentication method");
      if (form.has("client_id") && form.get("client_id") !== id) return fail("invalid_client", method, "client_id does not match");
    } else if (form.has("client_secret")) {
      method = "client_secret_post";
      id = form.get("client_id");
      secret = form.get("client_secret");
    } else if (form.has("client_id")) {
      method = "none";
      id = form.get("client_id");
    } else {
      return fail("invalid_client", undefined, "no client authentication");
    }
    const c = client(id);
    if (!c) return fail("invalid_client", method, "unknown client");
    if (c.auth !== null && c.auth !== method) return fail("invalid_client", method, `client must authenticate with ${c.auth}`);
    if (method === "none" ? c.secret !== null : c.secret === null || c.secret !== secret) {
      return fail("invalid_client", method, "client authentication failed");
    }
    return { clientId: id, method };
  };

  const revokeGrant = (grant) => {
    grant.revoked = true;
    for (const t of grant.accessTokens) {
      const rec = accessTokens.get(t);
      if (rec) rec.revoked = true;
    }
  };

  const issueForGrant = (grant, scope, withRefresh) => {
    const access_token = mint({ sub: grant.sub, client_id: grant.clientId, scope, jti: b64u(crypto.randomBytes(12)) });
    accessTokens.set(access_token, { grantId: grant.id, clientId: grant.clientId, sub: grant.sub, scope, exp: now() + options.ttl, revoked: false });
    grant.accessTokens.add(access_token);
    const out = { access_token, token_type: "Bearer", expires_in: options.reportedTtl ?? options.ttl, scope };
    if (withRefresh) {
      const rt = randomToken("rt_");
      refreshTokens.set(rt, { grantId: grant.id, used: false });
      grant.refreshTokens.add(rt);
      out.refresh_token = rt;
    }
    issued.push({ grant: grant.id, access_token, ...(out.refresh_token ? { refresh_token: out.refresh_token } : {}) });
    return out;
  };

  /** What the server knows about `token`: { active, kind, sub, client_id, scope, grant_id }. */
  const introspect = (token) => {
    const rt = refreshTokens.get(token);
    if (rt) {
      const g = grants.get(rt.grantId);
      return { active: !g.revoked && !rt.used, kind: "refresh_token", sub: g.sub, client_id: g.clientId, scope: g.scope, grant_id: g.id };
    }
    const at = accessTokens.get(token);
    if (at) {
      const g = at.grantId ? grants.get(at.grantId) : null;
      const active = !at.revoked && !(g?.revoked) && at.exp > now();
      return { active, kind: "access_token", sub: at.sub, client_id: at.clientId, scope: at.scope, grant_id: at.grantId };
    }
    return { active: false };
  };

  const grantCodeToken = (form, auth) => {
    const code = form.get("code") ?? "";
    const rec = codes.get(code);
    if (!rec) return { error: "invalid_grant", error_description: "unknown code" };
    if (rec.used) {
      stats.codeReplays += 1;
      if (rec.grantId) revokeGrant(grants.get(rec.grantId));
      return { error: "invalid_grant", error_description: "code already used: its tokens are revoked" };
    }
    rec.used = true; // one presentation, successful or not
    if (rec.clientId !== auth.clientId) return { error: "invalid_grant", error_description: "code was issued to another client" };
    if (rec.exp <= now()) return { error: "invalid_grant", error_description: "code expired" };
    if (rec.redirectUriGiven && form.get("redirect_uri") !== rec.redirectUri) {
      return { error: "invalid_grant", error_description: "redirect_uri does not match the authorization request" };
    }
    const verifier = form.get("code_verifier") ?? "";
    if (!VERIFIER.test(verifier)) return { error: "invalid_grant", error_description: "code_verifier missing or malformed" };
    if (b64u(crypto.createHash("sha256").update(verifier).digest()) !== rec.challenge) {
      return { error: "invalid_grant", error_description: "code_verifier does not match code_challenge" };
    }
    const grant = { id: randomToken("g_"), clientId: rec.clientId, sub: rec.sub, scope: rec.scope, revoked: false, accessTokens: new Set(), refreshTokens: new Set() };
    grants.set(grant.id, grant);
    rec.grantId = grant.id;
    return { ok: issueForGrant(grant, grant.scope, true) };
  };

  const grantRefresh = (form, auth) => {
    const rec = refreshTokens.get(form.get("refresh_token") ?? "");
    if (!rec) return { error: "invalid_grant", error_description: "unknown refresh token" };
    const grant = grants.get(rec.grantId);
    if (grant.clientId !== auth.clientId) return { error: "invalid_grant", error_description: "refresh token was issued to another client" };
    if (grant.revoked) return { error: "invalid_grant", error_description: "grant revoked" };
    if (rec.used) {
      stats.refreshReuses += 1;
      revokeGrant(grant);
      return { error: "invalid_grant", error_description: "refresh token reused: grant revoked" };
    }
    let scope = grant.scope;
    if (form.has("scope")) {
      const granted = scopeSet(grant.scope);
      const asked = scopeSet(form.get("scope"));
      if ([...asked].some((s) => !granted.has(s))) return { error: "invalid_scope", error_description: "scope wider than granted" };
      scope = [...asked].join(" ");
    }
    stats.refreshes += 1;
    if (options.rotateRefreshTokens) rec.used = true;
    return { ok: issueForGrant(grant, scope, options.rotateRefreshTokens) };
  };

  const grantClientCredentials = (form, auth) => {
    if (auth.method === "none") return { error: "unauthorized_client", error_description: "a public client has no client credentials" };
    const scope = form.get("scope") ?? "";
    const access_token = mint({ sub: auth.clientId, scope, ...(form.get("audience") ? { aud: form.get("audience") } : {}) });
    accessTokens.set(access_token, { grantId: null, clientId: auth.clientId, sub: auth.clientId, scope, exp: now() + options.ttl, revoked: false });
    issued.push({ grant: null, access_token });
    return { ok: { access_token, token_type: "Bearer", expires_in: options.reportedTtl ?? options.ttl, scope } };
  };

  const GRANTS = { authorization_code: grantCodeToken, refresh_token: grantRefresh, client_credentials: grantClientCredentials };

  const send = (res, status, body, headers = {}) => {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, {
      ...(typeof body === "string" ? {} : { "content-type": "application/json" }),
      "cache-control": "no-store",
      ...headers,
    });
    res.end(text);
  };
  const oauthError = (res, status, error, description, method) =>
    send(res, status, { error, ...(description ? { error_description: description } : {}) }, status === 401 && method === "client_secret_basic" ? { "www-authenticate": 'Basic realm="oauth"' } : {});

  /**
   * Takes the first queued answer for `endpoint` that applies (an answer with `grant`
   * applies only to a /token request of that grant_type); undefined when none.
   */
  const takeScripted = (endpoint, grantType) => {
    const queue = scripted[endpoint];
    const i = queue.findIndex((a) => a.grant === undefined || a.grant === grantType);
    return i < 0 ? undefined : queue.splice(i, 1)[0];
  };
  /**
   * Serves a queued answer ({ status, body, headers, delayMs, destroy }). With
   * `pass: true` it only waits `delayMs`, then `real()` answers as the server would.
   * True when an answer was queued.
   */
  const playScripted = (endpoint, res, { grantType, real } = {}) => {
    const a = takeScripted(endpoint, grantType);
    if (!a) return false;
    const go = () => {
      if (res.destroyed) return undefined;
      if (a.pass) return real();
      if (a.destroy) return res.destroy();
      send(res, a.status ?? 200, a.body ?? "", a.headers ?? {});
    };
    if (a.delayMs) {
      const t = setTimeout(go, a.delayMs);
      res.on("close", () => clearTimeout(t));
    } else go();
    if (endpoint === "token" && !a.pass && (a.destroy || (a.status ?? 200) >= 400)) stats.tokenFailures += 1;
    return true;
  };

  const metadata = () => ({
    issuer,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    revocation_endpoint: `${base}/revoke`,
    jwks_uri: `${base}/jwks.json`,
    response_types_supported: ["code"],
    grant_types_supported: Object.keys(GRANTS),
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    authorization_response_iss_parameter_supported: true,
  });

  const authorize = (url, res) => {
    stats.authorizeRequests += 1;
    const q = url.searchParams;
    const c = client(q.get("client_id"));
    if (!c) return send(res, 400, "unknown client_id", { "content-type": "text/plain" });
    let redirectUri = q.get("redirect_uri");
    if (redirectUri === null && c.redirectUris?.length === 1) [redirectUri] = c.redirectUris;
    let target;
    try {
      target = new URL(redirectUri);
    } catch {
      return send(res, 400, "redirect_uri missing or not a URL", { "content-type": "text/plain" });
    }
    const registered = c.redirectUris ? c.redirectUris.includes(redirectUri) : /^https?:$/.test(target.protocol);
    if (!registered || target.hash) return send(res, 400, "redirect_uri not registered for this client", { "content-type": "text/plain" });

    const redirect = (params) => {
      for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
      if (q.has("state")) target.searchParams.set("state", q.get("state"));
      target.searchParams.set("iss", issuer);
      res.writeHead(302, { location: target.href, "cache-control": "no-store" });
      res.end();
    };
    if (q.get("response_type") !== "code") return redirect({ error: "unsupported_response_type" });
    if (q.get("code_challenge_method") !== "S256") return redirect({ error: "invalid_request", error_description: "PKCE with code_challenge_method S256 is required" });
    if (!CHALLENGE.test(q.get("code_challenge") ?? "")) return redirect({ error: "invalid_request", error_description: "code_challenge must be a base64url SHA-256" });
    if (options.authorize === "deny") return redirect({ error: "access_denied" });
    const code = randomToken("c_");
    codes.set(code, {
      clientId: c.id,
      redirectUri,
      redirectUriGiven: q.has("redirect_uri"),
      scope: [...scopeSet(q.get("scope"))].join(" "),
      sub: q.get("login_hint") || subject,
      challenge: q.get("code_challenge"),
      exp: now() + options.codeTtl,
      used: false,
      grantId: null,
    });
    return redirect({ code });
  };

  const token = (req, res, form) => {
    stats.tokenRequests += 1;
    const grantType = form.get("grant_type");
    stats.tokenRequestsByGrant[grantType] = (stats.tokenRequestsByGrant[grantType] ?? 0) + 1;
    const auth = authenticate(req, form);
    stats.lastTokenRequest = { headers: req.headers, form: Object.fromEntries(form), grantType, clientAuth: auth.method };
    const entry = { at: Date.now(), grantType, form: Object.fromEntries(form), clientAuth: auth.method, headers: req.headers, scripted: false };
    tokenLog.push(entry);
    if (playScripted("token", res, { grantType, real: () => answerToken(req, res, form, auth) })) {
      entry.scripted = true;
      return;
    }
    answerToken(req, res, form, auth);
  };

  /** The real answer of /token (after any scripted delay). */
  const answerToken = (req, res, form, auth) => {
    const grantType = form.get("grant_type");
    const failed = (status, error, description, method) => {
      stats.tokenFailures += 1;
      oauthError(res, status, error, description, method);
    };
    if (auth.error) return failed(auth.status, auth.error, auth.description, auth.method);
    const dup = [...new Set(form.keys())].find((k) => form.getAll(k).length > 1);
    if (dup) return failed(400, "invalid_request", `${dup} given more than once`);
    const handler = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : null;
    if (!handler) return failed(400, "unsupported_grant_type");
    const out = handler(form, auth);
    if (out.error) return failed(400, out.error, out.error_description);
    send(res, 200, out.ok, { pragma: "no-cache" });
  };

  const revoke = (req, res, form) => {
    stats.revocationRequests += 1;
    const entry = { at: Date.now(), form: Object.fromEntries(form), headers: req.headers, scripted: false };
    revokeLog.push(entry);
    if (playScripted("revoke", res, { real: () => answerRevoke(req, res, form) })) {
      entry.scripted = true;
      return;
    }
    answerRevoke(req, res, form);
  };

  /** Revokes `t` as /revoke does (a refresh token takes its grant along); false if unknown. */
  const revokeToken = (t) => {
    const rt = refreshTokens.get(t);
    const at = accessTokens.get(t);
    if (rt) revokeGrant(grants.get(rt.grantId));
    else if (at) at.revoked = true;
    if (rt || at) stats.revocations += 1;
    return Boolean(rt || at);
  };

  const answerRevoke = (req, res, form) => {
    const auth = authenticate(req, form);
    if (auth.error) return oauthError(res, auth.status, auth.error, auth.description, auth.method);
    const t = form.get("token");
    if (!t) return oauthError(res, 400, "invalid_request", "token is required");
    const rt = refreshTokens.get(t);
    const at = accessTokens.get(t);
    const owner = rt ? grants.get(rt.grantId).clientId : at?.clientId;
    if (owner !== undefined && owner !== auth.clientId) return oauthError(res, 400, "unauthorized_client", "token was issued to another client");
    revokeToken(t);
    send(res, 200, "");
  };

  /** `body`: { bytes, sha256, text } of what the request carried (hashed as it streamed). */
  const resource = (req, res, url, body) => {
    stats.resourceRequests += 1;
    const m = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? "");
    const entry = {
      at: Date.now(),
      method: req.method,
      path: url.pathname,
      query: url.search.slice(1),
      token: m ? m[1] : null,
      headers: req.headers,
      bytes: body.bytes,
      sha256: body.sha256,
      bodyText: body.text,
      status: null,
      scripted: false,
    };
    resourceLog.push(entry);
    const real = () => {
      const info = m && accessTokens.has(m[1]) ? introspect(m[1]) : { active: false };
      if (!info.active) {
        entry.status = 401;
        return send(res, 401, { error: "invalid_token" }, { "www-authenticate": 'Bearer error="invalid_token"' });
      }
      entry.status = 200;
      const seen = body.bytes > 0 ? { method: req.method, bytes: body.bytes, sha256: body.sha256 } : {};
      send(res, 200, { sub: info.sub, client_id: info.client_id, scope: info.scope, ...seen });
    };
    const a = scripted.resource[0];
    if (a && !a.pass) entry.status = a.destroy ? 0 : (a.status ?? 200);
    if (playScripted("resource", res, { real })) {
      entry.scripted = true;
      return;
    }
    real();
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://oauth.local");
    // The resource takes bodies of any size (hashed, the first 64 KiB kept as text);
    // the OAuth endpoints refuse more than MAX_BODY.
    const isResource = url.pathname === "/resource" || url.pathname.startsWith("/resource/");
    const chunks = [];
    const hash = crypto.createHash("sha256");
    let size = 0;
    let kept = 0;
    req.on("data", (c) => {
      size += c.length;
      if (isResource) {
        hash.update(c);
        if (kept < 64 * 1024) {
          chunks.push(c);
          kept += c.length;
        }
      } else if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      if (isResource) {
        try {
          return resource(req, res, url, { bytes: size, sha256: hash.digest("hex"), text: body.slice(0, 64 * 1024) });
        } catch (e) {
          return send(res, 500, { error: "server_error", error_description: String(e?.message ?? e) });
        }
      }
      const route = `${req.method} ${url.pathname}`;
      try {
        switch (route) {
          case "GET /.well-known/oauth-authorization-server":
          case "GET /.well-known/openid-configuration":
            return send(res, 200, metadata());
          case "GET /jwks.json":
            stats.jwksFetches += 1;
            return send(res, 200, jwks(...current), { "cache-control": "max-age=300" });
          case "GET /authorize":
            return authorize(url, res);
          case "POST /token":
            return token(req, res, new URLSearchParams(body));
          case "POST /revoke":
            return revoke(req, res, new URLSearchParams(body));
          case "GET /_stats":
            return send(res, 200, stats);
          case "POST /_next/token":
          case "POST /_next/revoke":
          case "POST /_next/resource":
            next(url.pathname.slice("/_next/".length), JSON.parse(body || "{}"));
            return send(res, 204, "");
          default:
            return send(res, 404, { error: "not_found" });
        }
      } catch (e) {
        send(res, 400, { error: "invalid_request", error_description: String(e?.message ?? e) });
      }
    });
  });

  /**
   * Queue answers for the next calls to "token", "revoke" or "resource": { status,
   * body (string: sent as is; else JSON), headers, delayMs, destroy (drop the
   * connection), pass (after delayMs, answer as the server would), grant (token
   * only: for a request of this grant_type; others pass it by) }.
   */
  function next(endpoint, ...answers) {
    if (!Object.hasOwn(scripted, endpoint)) throw new Error(`next(): endpoint must be "token", "revoke" or "resource", not ${endpoint}`);
    scripted[endpoint].push(...answers);
  }

  const { port: actualPort, url: base, close } = await listen(server, port, host);
  return {
    url: base,
    port: actualPort,
    issuer,
    audience,
    jwksUrl: `${base}/jwks.json`,
    authorizeUrl: `${base}/authorize`,
    tokenUrl: `${base}/token`,
    revokeUrl: `${base}/revoke`,
    resourceUrl: `${base}/resource`,
    get stats() {
      return stats;
    },
    resetStats() {
      stats = newStats();
    },
    options,
    get keys() {
      return current;
    },
    setKeys(k) {
      current = k;
    },
    mint,
    next,
    /** Forgets queued answers (of one endpoint, or all); returns how many were dropped. */
    clearNext(endpoint) {
      let n = 0;
      for (const k of endpoint ? [endpoint] : Object.keys(scripted)) {
        n += scripted[k].length;
        scripted[k].length = 0;
      }
      return n;
    },
    /** How many answers are still queued for `endpoint`. */
    pending(endpoint) {
      return scripted[endpoint].length;
    },
    introspect,
    revoke: revokeToken,
    tokenLog,
    issued,
    revokeLog,
    resourceLog,
    clients,
    close,
  };
}

await serveWhenMain(import.meta, {
  port: 9002,
  start: ({ port, host, flag }) => {
    const clients = {};
    for (const pair of flag("clients", "portico-dev:portico-dev-secret").split(",")) {
      const i = pair.indexOf(":");
      if (i > 0) clients[pair.slice(0, i)] = pair.slice(i + 1);
      else if (pair) clients[pair] = {}; // no secret: a public client
    }
    return startOAuthProvider({ port, host, clients, issuer: flag("issuer", `http://${host}:${port}`) });
  },
  banner: (p) =>
    `OAuth provider stand-in on ${p.url} (issuer ${p.issuer}; authorize ${p.authorizeUrl}, token ${p.tokenUrl}, revoke ${p.revokeUrl}, JWKS ${p.jwksUrl}; counters: GET ${p.url}/_stats)`,
});
