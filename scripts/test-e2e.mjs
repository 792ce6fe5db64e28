#!/usr/bin/env node
// `npm run test:e2e`: the end-to-end suite, one file at a time (workerd is heavy; 2-core
// machines), with node's own test runner.
//
//   npm run test:e2e                                    # every tests/e2e/*.test.mjs
//   npm run test:e2e -- routing handlers                # those files (a path works too)
//   npm run test:e2e -- --test-name-pattern="wildcard"  # tests whose name matches
//   npm run test:e2e -- jwt_handler --test-name-pattern=JWKS
//
// Arguments starting with "-" go to `node --test` as they are; any other argument names
// a test file: a path, or a name in tests/e2e/ with or without ".test.mjs".
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIR = join(ROOT, "tests/e2e");

const flags = [];
const files = [];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith("-")) {
    flags.push(arg);
    continue;
  }
  const candidates = [resolve(arg), join(DIR, arg), join(DIR, `${arg}.test.mjs`)];
  const file = candidates.find((f) => f.endsWith(".test.mjs") && existsSync(f));
  if (!file) {
    process.stderr.write(`test:e2e: no test file ${arg} (tried ${candidates.join(", ")})\n`);
    process.exit(2);
  }
  files.push(file);
}
if (files.length === 0) {
  for (const f of readdirSync(DIR).filter((f) => f.endsWith(".test.mjs")).sort()) files.push(join(DIR, f));
}

const child = spawn(process.execPath, ["--test", "--test-concurrency=1", ...flags, ...files], { cwd: ROOT, stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
