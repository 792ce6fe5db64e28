#!/usr/bin/env bash
# Builds the Worker (build/index.js + build/index_bg.wasm) with worker-build, using
# local wasm-bindgen, wasm-opt and esbuild instead of downloading them, then drops the
# Wasm `name` section (~200 KB of function names; see scripts/strip-wasm-names.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
worker-build --release
# The lean JS entry (js/entry.mjs) sits in front of the generated one.
cp js/entry.mjs build/entry.mjs
# PORTICO_KEEP_WASM_NAMES=1 keeps function names (for bench/profile.mjs).
if [ -z "${PORTICO_KEEP_WASM_NAMES:-}" ]; then
  "$PWD/node_modules/.bin/node" scripts/strip-wasm-names.mjs build/index_bg.wasm
fi
