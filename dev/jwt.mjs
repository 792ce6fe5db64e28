// JWT signing for local development and tests (node:crypto, no dependency): the one
// `signJwt` behind scripts/token.mjs, the OAuth stand-in (dev/oauth-provider.mjs) and
// the e2e token kit (tests/e2e/support/tokens.mjs).
//
//   const key = makeKey("EdDSA", "k1");
//   const token = signJwt(key, { sub: "u1", exp: now() + 60 });
import crypto from "node:crypto";

export const now = () => Math.floor(Date.now() / 1000);

export const b64u = (buf) => Buffer.from(buf).toString("base64url");
/** base64url of the JSON of `obj` (a JWT header or payload). */
export const encodeJson = (obj) => b64u(JSON.stringify(obj));

/**
 * A signing key: { alg, kid, privateKey, publicKey, publicJwk }. alg is RS256 | ES256 |
 * EdDSA. `publicJwk` carries kid, alg and use ("sig"); pass { bareJwk: true } to omit
 * alg/use, kid null to omit kid.
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
 * Sign `claims` with `key` ({ alg, kid?, privateKey }: a makeKey key, or any KeyObject
 * with its alg). `header` fields are merged into { alg, typ, kid } (set a field to
 * undefined to drop it, e.g. { kid: undefined }).
 */
export function signJwt(key, claims, header = {}) {
  const h = { alg: key.alg, typ: "JWT", kid: key.kid ?? undefined, ...header };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const input = `${encodeJson(h)}.${encodeJson(claims)}`;
  let sig;
  if (key.alg === "RS256") sig = crypto.sign("sha256", Buffer.from(input), key.privateKey);
  else if (key.alg === "ES256") sig = crypto.sign("sha256", Buffer.from(input), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  else if (key.alg === "EdDSA") sig = crypto.sign(null, Buffer.from(input), key.privateKey);
  else throw new Error(`unsupported alg ${key.alg}`);
  return `${input}.${b64u(sig)}`;
}

/** Decode a token's payload (no verification). */
export const decodeJwt = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
