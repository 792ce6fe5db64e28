#!/usr/bin/env bash
# `npm run bench:load`: build, then the whole-request load benchmark (bench/load.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build.sh
node bench/load.mjs
