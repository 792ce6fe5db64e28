#!/usr/bin/env bash
# `npm test`: set up, run the native unit tests, build the Worker, then run the
# end-to-end suite against the real Wasm build in workerd.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false
bash scripts/setup.sh
echo "== cargo test (native unit tests)"
cargo test --lib
echo "== build"
bash scripts/build.sh
echo "== end-to-end (workerd)"
npm run --silent test:e2e
echo "== end-to-end, fast path off (the workers-rs path alone gives the same answers)"
PORTICO_E2E_VARS='{"PORTICO_FAST_PATH":"off"}' npm run --silent test:e2e -- \
  handlers routing security_data_plane streaming timeouts websocket rate_limit jwt_handler oauth_refresh
