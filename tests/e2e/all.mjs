// Entry point for `node --test tests/e2e/` (Node 22 does not expand a directory
// argument; it loads the directory's package.json "main", i.e. this file).
// Runs every tests/e2e/*.test.mjs in its own child `node --test` process, one at a
// time (2-core machines), and reports one test per file; a failing file's full
// output is in the failure message. Running the files directly also works:
//   node --test tests/e2e/*.test.mjs
import { test } from "node:test";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const only = process.env.PORTICO_E2E_ONLY; // optional substring filter on file names
const files = readdirSync(here)
  .filter((f) => f.endsWith(".test.mjs") && (!only || f.includes(only)))
  .sort();

for (const f of files) {
  test(f, { timeout: 15 * 60_000 }, async (t) => {
    const env = { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" };
    delete env.NODE_TEST_CONTEXT; // else the child thinks it is already a runner's subprocess
    const child = spawn(process.execPath, ["--test", "--test-reporter=spec", join(here, f)], {
      cwd: join(here, "../.."),
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const code = await new Promise((r) => child.on("close", r));
    const summary = out.split("\n").filter((l) => /^ℹ (tests|pass|fail|skipped|duration_ms)/.test(l)).join("; ");
    t.diagnostic(summary || "no summary");
    if (code !== 0) {
      const e = new Error(`${f} failed (exit ${code})\n${out}`);
      e.stack = e.message; // keep the report readable
      throw e;
    }
  });
}
