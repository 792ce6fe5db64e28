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
