// Local stand-in for a Workers for Platforms dispatch namespace.
//
// `wrangler dev` cannot emulate [[dispatch_namespaces]], so in development
// Portico's DISPATCHER binding is a *service binding* to this worker. Portico calls
// `env.DISPATCHER.get(name, args, options)` over RPC exactly as it would on a real
// namespace; here `get` resolves the script name through the SCRIPTS var
// (script name -> name of one of this worker's service bindings) and returns an
// RpcTarget whose fetch() forwards to that binding.
//
// For tests, the forwarded request carries
//   x-dispatch-script: <name passed to get>
//   x-dispatch-limits: JSON.stringify(options?.limits ?? null)
import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";

function scriptTable(env) {
  const raw = env.SCRIPTS ?? "{}";
  if (typeof raw === "object") return raw;
  try {
    return JSON.parse(raw);
  } catch {
    throw new Error("dispatcher emulator: SCRIPTS is not valid JSON");
  }
}

class DispatchedScript extends RpcTarget {
  #fetcher;
  #name;
  #limits;
  constructor(fetcher, name, limits) {
    super();
    this.#fetcher = fetcher;
    this.#name = name;
    this.#limits = limits;
  }
  async fetch(request, init) {
    const req = new Request(request, init);
    const headers = new Headers(req.headers);
    headers.set("x-dispatch-script", this.#name);
    headers.set("x-dispatch-limits", JSON.stringify(this.#limits));
    return this.#fetcher.fetch(new Request(req, { headers }));
  }
}

export default class DispatcherEmulator extends WorkerEntrypoint {
  get(name, args, options) {
    const table = scriptTable(this.env);
    const binding = Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
    const fetcher = binding ? this.env[binding] : undefined;
    if (!fetcher || typeof fetcher.fetch !== "function") {
      throw new Error("Worker not found");
    }
    return new DispatchedScript(fetcher, String(name), options?.limits ?? null);
  }

  async fetch() {
    return new Response("dispatcher emulator: call get(name) over RPC\n", { status: 404 });
  }
}
