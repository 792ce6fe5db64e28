// The lean JavaScript entry in front of the workers-rs build (DESIGN §9).
//
// For a warm host whose needs isolate memory can meet, the Rust planner is asked
// once (strings in, one compact plan out, see src/platform/fast.rs); this file then
// answers, or fetches the upstream itself and calls back into Wasm only when the
// plan has response-phase work. Everything else — cold or unknown hosts, the
// management API, pending needs, WebSocket upgrades, bindings and dispatch — goes
// to the workers-rs entry (the "slow path"), which runs the same planner, so both
// give the same answers. PORTICO_FAST_PATH = "off" sends every request there.
//
// build.sh copies this file next to the generated index.js.

import Portico, { FastPath } from "./index.js";

export * from "./index.js";

// The generated shim re-initialises the Wasm instance after a panic when its entry
// is next constructed; the fast path must not call a crashed instance meanwhile.
function crashed(e) {
  if (e instanceof WebAssembly.RuntimeError && globalThis.__worker_init_state) {
    globalThis.__worker_init_state.criticalError = true;
  }
}

// Set on a request the fast path hands over after an upstream 401 to an OAuth2
// call: the hash of the token the upstream refused (a property, so no client can
// send it).
const REPLACE_TOKEN = Symbol.for("portico.replace_token");

function slow(request, env, ctx) {
  return new Portico(ctx, env).fetch(request);
}

function addDebug(headers, line) {
  const tab = line.indexOf("\t");
  const tier = line.slice(0, tab);
  if (tier) headers.set("x-portico-host-cache", tier);
  headers.set("x-portico-stats", line.slice(tab + 1));
  headers.set("x-portico-path", "fast");
}

// An `R` plan from line `i` on: status, header count, headers, then the body.
function answer(p, i, debug) {
  const status = Number(p[i]);
  const n = Number(p[i + 1]);
  const headers = new Headers();
  let j = i + 2;
  for (let k = 0; k < n; k++, j += 2) headers.append(p[j], p[j + 1]);
  const body = j < p.length ? p.slice(j).join("\n") : "";
  if (debug) addDebug(headers, debug);
  return new Response(body === "" ? null : body, { status, headers });
}

// Header edits as `op, name, value` triples from `p[i]` up to `end` (s set, a append,
// d delete, l add a token to a comma-separated list unless present: as
// HeaderAccess::add_to_list in src/message.rs).
function applyEdits(headers, p, i, end = p.length) {
  for (; i + 1 < end; i += 3) {
    const op = p[i];
    const name = p[i + 1];
    if (op === "s") headers.set(name, p[i + 2]);
    else if (op === "a") headers.append(name, p[i + 2]);
    else if (op === "d") headers.delete(name);
    else if (op === "l") {
      const token = p[i + 2];
      const v = headers.get(name);
      const t = token.toLowerCase();
      if (v !== null && v.split(",").some((x) => x.trim().toLowerCase() === t)) continue;
      headers.set(name, v !== null && v.trim() !== "" ? `${v}, ${token}` : token);
    }
  }
}

async function forward(p, request, env, ctx) {
  const id = Number(p[3]);
  const host = p[4];
  const domain = p[5];
  const timeoutMs = Number(p[6]);
  const url = p[7];
  const requestEditsEnd = 9 + 3 * Number(p[8]);
  const headers = new Headers(request.headers);
  applyEdits(headers, p, 9, requestEditsEnd);
  // The timeout covers the wait for response headers only (as on the workers-rs
  // path): a long streamed body is not cut off, so no AbortSignal.timeout().
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let res;
  try {
    res = await fetch(url, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
      signal: controller.signal,
    });
  } catch {
    const timedOut = controller.signal.aborted;
    const plan = FastPath.fail(id, timedOut, request.method, request.url, request.method === "HEAD", env, ctx);
    const failed = answer(plan.split("\n"), 3, p[2]);
    // A static response phase applies to Portico's own error response too.
    if (requestEditsEnd < p.length) applyEdits(failed.headers, p, requestEditsEnd);
    return failed;
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 401 && id !== 0 && request.body === null) {
    // A call with an OAuth2 token (proxy endpoint or `credentials` route): the
    // workers-rs path refreshes once and replays (no body, so it can be sent again).
    const hash = FastPath.unauthorized(id);
    if (hash) {
      res.body?.cancel();
      request[REPLACE_TOKEN] = hash;
      return slow(request, env, ctx);
    }
  }
  let mutable = false;
  if (requestEditsEnd < p.length) {
    // A static response phase: its edits came with the plan.
    res = new Response(res.body, res);
    mutable = true;
    // A proxy endpoint call brings its edits and is parked for its audit and the
    // headers the upstream's Connection names (read before the edits drop it).
    const more = id !== 0 ? FastPath.respond(id, res.status, res.headers, false, env, ctx) : "";
    applyEdits(res.headers, p, requestEditsEnd);
    if (more) applyEdits(res.headers, more.split("\n"), 1);
    if (res.headers.has("set-cookie")) FastPath.confine(host, domain, res.headers);
  } else if (id !== 0) {
    const edits = FastPath.respond(id, res.status, res.headers, res.headers.has("set-cookie"), env, ctx);
    if (edits) {
      res = new Response(res.body, res);
      mutable = true;
      applyEdits(res.headers, edits.split("\n"), 1);
    }
  } else if (res.headers.has("set-cookie")) {
    res = new Response(res.body, res);
    mutable = true;
    FastPath.confine(host, domain, res.headers);
  }
  if (p[2]) {
    if (!mutable) res = new Response(res.body, res);
    addDebug(res.headers, p[2]);
  }
  return res;
}

function followUp(line, env, ctx) {
  const [kind, key, storedAt] = line.split("\t");
  FastPath.follow_up(env, ctx, kind, key, Number(storedAt ?? 0));
}

export default {
  fetch(request, env, ctx) {
    if (env.PORTICO_FAST_PATH === "off" || globalThis.__worker_init_state?.criticalError) {
      return slow(request, env, ctx);
    }
    let p;
    try {
      p = FastPath.plan(request.method, request.url, request.headers, Date.now()).split("\n");
      if (p[1]) followUp(p[1], env, ctx);
    } catch (e) {
      crashed(e);
      return slow(request, env, ctx);
    }
    if (p[0] === "R") return answer(p, 3, p[2]);
    if (p[0] === "F") {
      return forward(p, request, env, ctx).catch((e) => {
        // A trap in the response phase fails this request (as on the workers-rs
        // path); the instance is re-initialised before the next one uses it.
        crashed(e);
        throw e;
      });
    }
    return slow(request, env, ctx);
  },
  scheduled(controller, env, ctx) {
    return new Portico(ctx, env).scheduled(controller);
  },
};
