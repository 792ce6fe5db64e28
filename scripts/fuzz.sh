#!/usr/bin/env bash
# `npm run fuzz`: every property test (`prop_*`) run natively in release mode with
# many more cases than `cargo test`'s short pass, each bounded in time.
#   FUZZ_CASES    cases per target (default 100000)
#   FUZZ_SECONDS  time bound per target (default 120); a target that reaches it
#                 without a failure is reported as "time bound" and counts as a pass
#   FUZZ_ONLY     substring filter on target names
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
CASES="${FUZZ_CASES:-100000}"
SECONDS_EACH="${FUZZ_SECONDS:-120}"
echo "== building property tests (release)"
cargo test --release --lib --no-run 2>&1 | tail -1
targets=$(cargo test --release --lib -- --list 2>/dev/null | sed -n 's/: test$//p' | grep 'prop_' | grep -- "${FUZZ_ONLY:-}")
[ -n "$targets" ] || { echo "no property tests found"; exit 1; }
pass=0; fail=0
printf '%-70s %8s %8s  %s\n' target cases seconds result
for t in $targets; do
  start=$(date +%s%N)
  out=$(PROPTEST_CASES="$CASES" timeout "$SECONDS_EACH" cargo test --release --lib -q -- --exact "$t" 2>&1)
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  secs="$((ms / 1000)).$(( (ms % 1000) / 100 ))"
  case $rc in
    0) result=ok; pass=$((pass + 1)); n=$CASES ;;
    124) result="time bound (no failure)"; pass=$((pass + 1)); n="<$CASES" ;;
    *) result=FAILED; fail=$((fail + 1)); n="?"; echo "$out" | tail -30 ;;
  esac
  printf '%-70s %8s %8s  %s\n' "$t" "$n" "$secs" "$result"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
