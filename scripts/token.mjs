#!/usr/bin/env node
// Mint a management-API token for LOCAL DEVELOPMENT (docs/control-plane.md), signed
// with the committed development key dev/keys/dev-ed25519.private.jwk.json (EdDSA).
// The matching public key is PORTICO_AUTH_KEYS in wrangler.toml's top-level [vars];
// production never trusts it.
//
//   npm run token                                     # control-plane token, every scope
//   npm run token -- --tenant acme --scope "routes:read routes:write"
//   curl -H "authorization: Bearer $(npm run -s token)" http://api.localhost:8787/api/v1/tenants
//
// Flags: --tenant <id> (tenant_id claim; omit for a control-plane token),
// --scope "<space separated>", --sub <actor> ("dev-user"), --ttl <seconds> (3600),
// --key <private JWK path>, --iss / --aud (default: PORTICO_AUTH_ISSUER /
// PORTICO_AUTH_AUDIENCE from wrangler.toml). Prints only the token.
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { signJwt, now } from "../dev/jwt.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Every `x-required-scope` of the API's operations (src/api/openapi.rs keeps them in step with the router). */
function allScopes() {
  const doc = JSON.parse(readFileSync(join(ROOT, "src/api/openapi.json"), "utf8"));
  const scopes = new Set();
  for (const item of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(item)) {
      if (typeof op?.["x-required-scope"] === "string") scopes.add(op["x-required-scope"]);
    }
  }
  return [...scopes].sort().join(" ");
}

function usage(msg) {
  if (msg) process.stderr.write(`token: ${msg}\n`);
  process.stderr.write(
    'usage: npm run token -- [--tenant <id>] [--scope "<scopes>"] [--sub <sub>] [--ttl <seconds>] [--key <jwk path>] [--iss <issuer>] [--aud <audience>]\n',
  );
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv) {
  const known = new Set(["tenant", "scope", "sub", "ttl", "key", "iss", "aud"]);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") usage();
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(a);
    if (!m || !known.has(m[1])) usage(`unknown argument ${a}`);
    let v = m[2];
    if (v === undefined) {
      if (i + 1 >= argv.length) usage(`--${m[1]} needs a value`);
      v = argv[++i];
    }
    out[m[1]] = v;
  }
  return out;
}

/**
 * String values of the top-level [vars] table of wrangler.toml (basic and literal
 * strings). A line scan rather than a TOML parser: Node has none, and wrangler's own
 * reader (experimental_readRawConfig from "wrangler") takes ~5 s to import, for two
 * flat string vars.
 */
function wranglerVars() {
  let text;
  try {
    text = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  } catch {
    return {};
  }
  const vars = {};
  let inVars = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("[")) {
      inVars = line === "[vars]";
      continue;
    }
    if (!inVars || !line || line.startsWith("#")) continue;
    const m = /^([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')/.exec(line);
    if (!m) continue;
    vars[m[1]] = m[3] !== undefined ? m[3] : JSON.parse(`"${m[2]}"`);
  }
  return vars;
}

const args = parseArgs(process.argv.slice(2));
const vars = wranglerVars();
const keyPath = resolve(args.key ?? join(ROOT, "dev/keys/dev-ed25519.private.jwk.json"));
const jwk = JSON.parse(readFileSync(keyPath, "utf8"));
if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || !jwk.d) usage(`${keyPath} is not a private Ed25519 JWK`);
const ttl = Number(args.ttl ?? 3600);
if (!Number.isInteger(ttl) || ttl <= 0) usage("--ttl must be a positive integer (seconds)");

// createPrivateKey rejects unknown members such as _warning; pass only the key fields.
const privateKey = crypto.createPrivateKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }, format: "jwk" });
const iat = now();
const claims = {
  iss: args.iss ?? vars.PORTICO_AUTH_ISSUER ?? "portico-dev",
  aud: args.aud ?? vars.PORTICO_AUTH_AUDIENCE ?? "portico-api",
  sub: args.sub ?? "dev-user",
  iat,
  exp: iat + ttl,
  scope: args.scope ?? allScopes(),
  ...(args.tenant !== undefined ? { tenant_id: args.tenant } : {}),
};
process.stdout.write(`${signJwt({ alg: "EdDSA", kid: jwk.kid, privateKey }, claims)}\n`);
