#!/usr/bin/env bash
# Property-based fuzzing of the management API against its own OpenAPI document
# (schemathesis), with `npm run dev` running in another terminal. Not part of
# `npm test` (it needs PyPI and a running server); a finding is any 5xx, crash or
# schema mismatch. Usage: bash scripts/fuzz-api.sh [extra schemathesis args]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-fuzz/bin/schemathesis ]; then
  python3 -m venv .venv-fuzz
  .venv-fuzz/bin/pip install -q schemathesis
fi
TOKEN=$(node scripts/token.mjs)
curl -fsS -H 'Host: api.localhost' http://127.0.0.1:8787/api/v1/openapi.json > .venv-fuzz/openapi.json
exec .venv-fuzz/bin/schemathesis --config-file dev/fuzz/schemathesis.toml run .venv-fuzz/openapi.json \
  --url http://127.0.0.1:8787/api/v1 -H "Host: api.localhost" -H "Authorization: Bearer $TOKEN" -n 40 "$@"
