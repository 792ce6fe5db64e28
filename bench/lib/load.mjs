// The load client: keep-alive HTTP/1.1 from this Node process, a fixed number of
// requests at a fixed concurrency, every response read to the end and checked.
import http from "node:http";

export const BODY_BYTES = 1024;

/**
 * A target: { port, host, path, headers } on 127.0.0.1. `expect(status, bytes)`
 * defaults to 200 with a 1 KiB body. `idleMs`: a kept-alive connection idle that
 * long is closed by this side (workerd closes idle ones after 5 s, and a request
 * reusing one at that moment fails with "socket hang up"; set it below 5 s when
 * calls may pause).
 */
export function makeClient(maxSockets, { idleMs } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets, ...(idleMs ? { timeout: idleMs } : {}) });
  const one = (t) =>
    new Promise((res, rej) => {
      const req = http.request(
        { host: "127.0.0.1", port: t.port, path: t.path, agent, headers: { host: t.host, ...t.headers } },
        (r) => {
          let n = 0;
          r.on("data", (c) => (n += c.length));
          r.on("end", () => res({ status: r.statusCode, bytes: n, headers: r.headers }));
          r.on("error", rej);
        },
      );
      req.on("error", rej);
      req.end();
    });
  /** One request that must be 200 with a 1 KiB body. */
  const ok = async (t) => {
    const r = await one(t);
    if (r.status !== 200 || r.bytes !== BODY_BYTES) {
      const code = r.headers["x-portico-error"] ? ` ${r.headers["x-portico-error"]}` : "";
      throw Object.assign(new Error(`${t.host}${t.path}: ${r.status}${code}, ${r.bytes} bytes`), { response: r });
    }
  };
  return { one, ok, destroy: () => agent.destroy() };
}

/**
 * `total` requests at `concurrency` against `t`; workerd CPU from `cpuSeconds`.
 * `settle` (async), if given, is awaited before the final CPU reading: work the
 * requests left behind (waitUntil) is then counted in, and not in what runs next.
 * Returns { cpuUs (per request), rps, p50Ms, p99Ms }.
 */
export async function runLoad(client, t, total, concurrency, cpuSeconds, { latencies = false, settle } = {}) {
  const lat = latencies ? new Float64Array(total) : null;
  let next = 0;
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const s = lat ? performance.now() : 0;
        await client.ok(t);
        if (lat) lat[i] = performance.now() - s;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  if (settle) await settle();
  const cpuUs = ((cpuSeconds() - cpu0) * 1e6) / total;
  const out = { cpuUs, rps: total / secs };
  if (lat) {
    lat.sort();
    out.p50Ms = lat[Math.floor(total * 0.5)];
    out.p99Ms = lat[Math.min(total - 1, Math.floor(total * 0.99))];
  }
  return out;
}

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
