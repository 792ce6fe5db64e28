#!/usr/bin/env node
// Drops the `name` custom section (function names, ~200 KB) and any DWARF `.debug_*`
// sections from a .wasm file, in place. Nothing else changes: the other sections are
// copied byte for byte.
//
//   node scripts/strip-wasm-names.mjs build/index_bg.wasm
//
// Why not wasm-opt --strip-debug: worker-build always appends --debuginfo to its own
// wasm-opt run (whatever Cargo.toml's wasm-opt args say), which keeps the names; a
// second wasm-opt run would have to repeat worker-build's feature flags and re-encodes
// the code (3 KB larger). A custom section is a plain byte range, as worker-build's own
// `producers` edit treats it. Without names, a Wasm trap's stack shows
// wasm-function[N] instead of the Rust symbol; panic messages are unchanged.
import { readFileSync, writeFileSync } from "node:fs";

export function stripNames(bytes) {
  const magic = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  if (bytes.length < 8 || magic.some((b, i) => bytes[i] !== b)) throw new Error("not a Wasm module (version 1)");
  let off = 8;
  const leb = () => {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (off >= bytes.length) throw new Error("truncated LEB128");
      const b = bytes[off++];
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return value;
    }
  };
  const kept = [bytes.subarray(0, 8)];
  const dropped = [];
  while (off < bytes.length) {
    const start = off;
    const id = bytes[off++];
    const size = leb();
    const end = off + size;
    if (end > bytes.length) throw new Error(`section at ${start} runs past the end`);
    let drop = false;
    if (id === 0) {
      const nameLen = leb();
      const name = Buffer.from(bytes.subarray(off, off + nameLen)).toString("utf8");
      drop = name === "name" || name.startsWith(".debug_");
      if (drop) dropped.push({ name, bytes: end - start });
    }
    if (!drop) kept.push(bytes.subarray(start, end));
    off = end;
  }
  return { bytes: Buffer.concat(kept), dropped };
}

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: node scripts/strip-wasm-names.mjs <file.wasm>\n");
  process.exit(2);
}
const before = readFileSync(file);
const { bytes, dropped } = stripNames(before);
if (dropped.length) writeFileSync(file, bytes);
const what = dropped.map((d) => `${d.name} (${d.bytes} B)`).join(", ") || "nothing to drop";
console.log(`${file}: ${before.length} → ${bytes.length} bytes; dropped ${what}`);
