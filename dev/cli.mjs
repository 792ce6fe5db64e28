// The command-line side shared by the dev stand-ins (origin.mjs, doh.mjs,
// oauth-provider.mjs): each exports a start function for tests and, when run as
// `node dev/<name>.mjs --port N [--host H] [...]`, serves until SIGINT/SIGTERM.
//
//   await serveWhenMain(import.meta, {
//     port: 9001,
//     start: ({ port, host, flag }) => startOrigin({ port, host }),
//     banner: (o) => `demo origin listening on ${o.url}`,
//   });
import { pathToFileURL } from "node:url";

/**
 * Starts `server` on host:port (0 = any free port) and resolves with { port, url,
 * close }. `close()` destroys every open connection first (keep-alive and upgraded
 * WebSocket sockets too), so a test's teardown never waits on a client.
 */
export async function listen(server, port, host) {
  const sockets = new Set();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const actual = server.address().port;
  return {
    port: actual,
    url: `http://${host}:${actual}`,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * When `meta` is the module node was started with, parse --port / --host (and any
 * other `--name value` flag through `flag(name, fallback)`), call `start`, print
 * `banner(server)` and close the server (its `close()`) on SIGINT/SIGTERM. Does nothing
 * when the module was imported.
 */
export async function serveWhenMain(meta, { port: defaultPort, start, banner }) {
  if (meta.url !== pathToFileURL(process.argv[1] ?? "").href) return;
  const args = process.argv.slice(2);
  const flag = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
  };
  const port = Number(flag("port", process.env.PORT ?? String(defaultPort)));
  const host = flag("host", "127.0.0.1");
  const server = await start({ port, host, flag });
  console.log(banner(server));
  const stop = () => server.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
