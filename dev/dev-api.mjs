// The management API of a running `npm run dev`, for the dev seeds (seed-vault.mjs,
// seed-oauth.mjs): development tokens, one call at a time, and waiting for the server.
//
// PORTICO_DEV_URL (http://127.0.0.1:8787) and PORTICO_DEV_API_HOST (api.localhost)
// say where it is.
import http from "node:http";
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const SERVER = new URL(process.env.PORTICO_DEV_URL ?? "http://127.0.0.1:8787");
export const API_HOST = process.env.PORTICO_DEV_API_HOST ?? "api.localhost";

/** A development token from scripts/token.mjs (`args`: its options). */
export function devToken(args) {
  return execFileSync(process.execPath, [join(ROOT, "scripts/token.mjs"), "--sub", "dev-seed", ...args], {
    encoding: "utf8",
  }).trim();
}

/** One management-API call on the control-plane host: { status, data, text }. */
export function api(method, path, { auth, body } = {}) {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolvePromise, reject) => {
    const req = http.request(
      {
        host: SERVER.hostname,
        port: SERVER.port || 80,
        method,
        path: `/api/v1${path}`,
        headers: {
          host: API_HOST,
          ...(auth ? { authorization: `Bearer ${auth}` } : {}),
          ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let data = null;
          try {
            data = text ? JSON.parse(text) : null;
          } catch {
            // not JSON (the proxy's plain-text errors); keep the text
          }
          resolvePromise({ status: res.statusCode, data, text });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(payload);
  });
}

/** `r`'s data when its status is `status`, else an error naming `what`. */
export function expect(r, status, what) {
  if (r.status !== status) {
    const code = r.data?.code ? ` ${r.data.code}` : "";
    throw new Error(`${what}: HTTP ${r.status}${code} ${JSON.stringify(r.data?.errors ?? r.data?.detail ?? r.text.slice(0, 300))}`);
  }
  return r.data;
}

/** Waits until the API answers (at most `seconds`). */
export async function waitForServer(seconds) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try {
      if ((await api("GET", "/openapi.json")).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`no answer from ${SERVER.origin} (Host: ${API_HOST}) within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Every item of a paged list. */
export async function listAll(path, auth) {
  const items = [];
  let cursor = null;
  do {
    const q = `?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = expect(await api("GET", `${path}${q}`, { auth }), 200, `GET ${path}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}
