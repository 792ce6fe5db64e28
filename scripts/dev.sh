#!/usr/bin/env bash
# `npm run dev`: set up, build, apply the D1 migrations locally, seed the demo, start
# the demo origin on 127.0.0.1:9001, the DNS-over-HTTPS stand-in on 127.0.0.1:8053
# (domain verification, dev/doh.mjs), the OAuth provider stand-in on 127.0.0.1:9002
# (dev/oauth-provider.mjs; the `remote` host source's client credentials) and a real
# OAuth server, oidc-provider, on 127.0.0.1:9003 (dev/oidc-provider.mjs, with its demo
# API; dev/seed-oauth.mjs seeds the global "Demo OAuth" connector), and serve Portico (with the example service, the dispatcher
# emulator and two tenant workers) on 127.0.0.1:8787. Once the API answers,
# dev/seed-vault.mjs seeds the credential-vault demo through it (the global "Demo API"
# connector and an acme connection; a secret must be sealed by the running worker).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false
bash scripts/setup.sh
bash scripts/build.sh

echo "== D1: migrations and demo seed (local)"
wrangler d1 migrations apply DB --local
wrangler d1 execute DB --local --file dev/seed.sql

echo "== demo origin on http://127.0.0.1:9001"
node dev/origin.mjs --port 9001 &
ORIGIN_PID=$!
echo "== DNS-over-HTTPS stand-in on http://127.0.0.1:8053/dns-query (publish: POST /records)"
node dev/doh.mjs --port 8053 &
DOH_PID=$!
echo "== OAuth provider stand-in on http://127.0.0.1:9002 (client portico-dev / portico-dev-secret)"
node dev/oauth-provider.mjs --port 9002 &
OAUTH_PID=$!
echo "== oidc-provider (a real OAuth server, dev/oidc-provider.mjs) on http://127.0.0.1:9003; dev/seed-oauth.mjs seeds connector \"Demo OAuth\""
node dev/oidc-provider.mjs --port 9003 &
OIDC_PID=$!
node dev/seed-oauth.mjs --wait 300 &
SEED_OAUTH_PID=$!
echo "== vault demo: dev/seed-vault.mjs seeds connector \"Demo API\" and an acme connection once the API answers"
node dev/seed-vault.mjs --wait 300 &
SEED_PID=$!
trap 'kill $ORIGIN_PID $DOH_PID $OAUTH_PID $OIDC_PID $SEED_PID $SEED_OAUTH_PID 2>/dev/null || true' EXIT INT TERM

cat <<'MSG'
== Portico on http://127.0.0.1:8787 — try:
  curl http://acme.localhost:8787/healthz
  curl http://acme.localhost:8787/origin/hello?x=1
  curl http://acme.localhost:8787/service/anything
  curl http://acme.localhost:8787/app/dashboard
  curl http://globex.localhost:8787/hello
  curl -u demo:demo http://acme.localhost:8787/private/
  curl -i http://acme.localhost:8787/old/page
  # vault demo (README "Credential vault walkthrough"):
  CONN=$(node dev/seed-vault.mjs --print-id)
  ACME=$(npm run -s token -- --tenant acme --scope "connections:proxy audit:read")
  curl -H "authorization: Bearer $ACME" http://api.localhost:8787/api/v1/tenants/acme/connections/$CONN/proxy/hello
MSG
# The build ran above; the [build] command would only repeat it.
wrangler dev --ip 127.0.0.1 --port 8787 --local \
  -c wrangler.toml \
  -c dev/workers/example-service/wrangler.toml \
  -c dev/workers/dispatcher/wrangler.toml \
  -c dev/workers/tenant-acme/wrangler.toml \
  -c dev/workers/tenant-globex/wrangler.toml
