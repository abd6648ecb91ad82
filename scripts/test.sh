#!/usr/bin/env bash
# The test command (README, .ci/run): set-up, lint, then every test with ava.
# Prints "N passed, N failed[, N skipped]" as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> lint" >&2
npm run --silent lint
echo "==> tests" >&2
set -o pipefail
# Two runs, the chaos tests alone after the rest; one closing line for both.
run_tests() {
  local st=0
  npx ava --tap "$@" || st=$?
  npx ava --tap --config ava.chaos.config.js "$@" || st=$?
  return $st
}
run_tests "$@" | awk '
  /^# pass/ {p+=$3} /^# fail/ {f+=$3} /^# skip/ {s+=$3}
  {print; fflush()}
  END {printf "%d passed, %d failed%s\n", p, f, (s ? ", " s " skipped" : "")}'
