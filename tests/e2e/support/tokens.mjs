// JWT test kit: real keys (node:crypto), real signatures, and a real OAuth 2.0
// provider on 127.0.0.1 (JWKS + client-credentials token endpoint). Nothing here is
// a mock of Portico: Portico verifies these tokens with jwt-compact in workerd.
//
//   import { makeKey, signJwt, startIdp } from "./support/tokens.mjs";
//   const ed = makeKey("EdDSA", "k1");
//   const token = signJwt(ed, { sub: "u1", exp: now() + 60, scope: "routes:read" });
import crypto from "node:crypto";
import http from "node:http";

export const now = () => Math.floor(Date.now() / 1000);

const b64u = (buf) => Buffer.from(buf).toString("base64url");
const enc = (obj) => b64u(JSON.stringify(obj));

/**
 * A signing key: { alg, kid, privateKey, publicJwk }. alg is RS256 | ES256 | EdDSA.
 * `publicJwk` carries kid, alg and use ("sig"); pass { bareJwk: true } to omit alg/use.
 */
export function makeKey(alg, kid = `${alg.toLowerCase()}-${crypto.randomBytes(4).toString("hex")}`, { bareJwk = false, rsaBits = 2048 } = {}) {
  let pair;
  if (alg === "RS256") pair = crypto.generateKeyPairSync("rsa", { modulusLength: rsaBits });
  else if (alg === "ES256") pair = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  else if (alg === "EdDSA") pair = crypto.generateKeyPairSync("ed25519");
  else throw new Error(`unsupported alg ${alg}`);
  const jwk = pair.publicKey.export({ format: "jwk" });
  const publicJwk = bareJwk ? { ...jwk, kid } : { ...jwk, kid, alg, use: "sig" };
  if (kid === null) delete publicJwk.kid;
  return { alg, kid, privateKey: pair.privateKey, publicKey: pair.publicKey, publicJwk };
}

/** `{ keys: [...] }` from keys made by makeKey. */
export const jwks = (...keys) => ({ keys: keys.map((k) => k.publicJwk) });

/**
 * Sign `claims` with `key`. `header` fields are merged into { alg, typ, kid } (set a
 * field to undefined to drop it, e.g. { kid: undefined }).
 */
export function signJwt(key, claims, header = {}) {
  const h = { alg: key.alg, typ: "JWT", kid: key.kid ?? undefined, ...header };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const input = `${enc(h)}.${enc(claims)}`;
  let sig;
  if (key.alg === "RS256") sig = crypto.sign("sha256", Buffer.from(input), key.privateKey);
  else if (key.alg === "ES256") sig = crypto.sign("sha256", Buffer.from(input), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  else sig = crypto.sign(null, Buffer.from(input), key.privateKey);
  return `${input}.${b64u(sig)}`;
}

/** HS256 with an arbitrary secret (string or Buffer). */
export function hmacJwt(secret, claims, header = {}) {
  const h = { alg: "HS256", typ: "JWT", ...header };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const input = `${enc(h)}.${enc(claims)}`;
  const sig = crypto.createHmac("sha256", secret).update(input).digest();
  return `${input}.${b64u(sig)}`;
}

/** `alg: none`, empty signature. */
export function unsignedJwt(claims, header = {}) {
  return `${enc({ alg: "none", typ: "JWT", ...header })}.${enc(claims)}.`;
}

/** Replace the payload of a signed token, keeping header and signature. */
export function tamper(token, claims) {
  const [h, , s] = token.split(".");
  return `${h}.${enc(claims)}.${s}`;
}

/** Decode a token's payload (no verification). */
export const decode = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

/**
 * A real OAuth 2.0 provider on 127.0.0.1:
 *   GET  /jwks.json       the public keys (counts fetches in stats.jwksFetches)
 *   POST /token           client_credentials with HTTP Basic client auth; returns a
 *                         JWT signed by the current key (claims: iss, aud, sub=client
 *                         id, scope, iat, exp) and expires_in.
 * Options: keys (list of makeKey keys; the first signs), issuer, audience, clients
 * ({ id: secret }), ttl (token lifetime s, 300), reportedTtl (expires_in reported;
 * defaults to ttl: set it higher to make tokens die before the client expects).
 * Returns { url, jwksUrl, tokenUrl, stats, setKeys(keys), mint(claims), close() }.
 */
export async function startIdp({ keys, issuer = "https://idp.test", audience = "portico-api", clients = {}, ttl = 300, reportedTtl } = {}) {
  let current = keys ?? [makeKey("RS256", "idp-1")];
  const stats = { jwksFetches: 0, tokenRequests: 0, tokenFailures: 0, lastTokenRequest: null };
  const opts = { ttl, reportedTtl };
  const mint = (claims) =>
    signJwt(current[0], { iss: issuer, aud: audience, iat: now(), exp: now() + opts.ttl, ...claims });
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      const url = new URL(req.url, "http://x");
      if (req.method === "GET" && url.pathname === "/jwks.json") {
        stats.jwksFetches += 1;
        res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" });
        res.end(JSON.stringify(jwks(...current)));
        return;
      }
      if (req.method === "POST" && url.pathname === "/token") {
        stats.tokenRequests += 1;
        const form = new URLSearchParams(body);
        stats.lastTokenRequest = { headers: req.headers, form: Object.fromEntries(form) };
        const auth = req.headers.authorization ?? "";
        let id = null;
        let secret = null;
        if (auth.startsWith("Basic ")) {
          const dec = Buffer.from(auth.slice(6), "base64").toString();
          const i = dec.indexOf(":");
          id = decodeURIComponent(dec.slice(0, i));
          secret = decodeURIComponent(dec.slice(i + 1));
        }
        if (form.get("grant_type") !== "client_credentials" || !id || clients[id] === undefined || clients[id] !== secret) {
          stats.tokenFailures += 1;
          res.writeHead(401, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "invalid_client" }));
          return;
        }
        const scope = form.get("scope") ?? "";
        const access_token = mint({ sub: id, scope, ...(form.get("audience") ? { aud: form.get("audience") } : {}) });
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify({ access_token, token_type: "Bearer", expires_in: opts.reportedTtl ?? opts.ttl, scope }));
        return;
      }
      res.writeHead(404);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    jwksUrl: `${url}/jwks.json`,
    tokenUrl: `${url}/token`,
    issuer,
    audience,
    stats,
    options: opts,
    get keys() {
      return current;
    },
    setKeys(k) {
      current = k;
    },
    mint,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
