// JWT test kit: real keys (node:crypto), real signatures. Nothing here is a mock of
// Portico: Portico verifies these tokens with jwt-compact in workerd. Keys and signing
// come from dev/jwt.mjs (shared with scripts/token.mjs); the OAuth provider stand-in
// (JWKS, token endpoint) is dev/oauth-provider.mjs.
//
//   import { makeKey, signJwt, now } from "./support/tokens.mjs";
//   const ed = makeKey("EdDSA", "k1");
//   const token = signJwt(ed, { sub: "u1", exp: now() + 60, scope: "routes:read" });
import crypto from "node:crypto";
import { b64u, encodeJson } from "../../../dev/jwt.mjs";

export { now, makeKey, jwks, signJwt, decodeJwt as decode } from "../../../dev/jwt.mjs";

/** HS256 with an arbitrary secret (string or Buffer). */
export function hmacJwt(secret, claims, header = {}) {
  const h = { alg: "HS256", typ: "JWT", ...header };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const input = `${encodeJson(h)}.${encodeJson(claims)}`;
  const sig = crypto.createHmac("sha256", secret).update(input).digest();
  return `${input}.${b64u(sig)}`;
}

/** `alg: none`, empty signature. */
export function unsignedJwt(claims, header = {}) {
  return `${encodeJson({ alg: "none", typ: "JWT", ...header })}.${encodeJson(claims)}.`;
}

/** Replace the payload of a signed token, keeping header and signature. */
export function tamper(token, claims) {
  const [h, , s] = token.split(".");
  return `${h}.${encodeJson(claims)}.${s}`;
}
