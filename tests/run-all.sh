#!/usr/bin/env bash
# Runs every test: installs the real peers the tests talk to, then the whole cargo suite.
# As root, tests that need AF_PACKET and network namespaces run too; otherwise they say loudly
# that they are skipped (set UDPSCOPE_REQUIRE_ROOT=1 to make them fail instead).
# Ends with one line totalling every test binary: "tests: N passed, N failed, N skipped"
# (a test skipped for want of root returns early, which libtest counts as passed: it is moved
# from "passed" to "skipped" here).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --release --all-targets --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
skipped=$( (grep -o 'SKIPPED (needs root)' "$log" || true) | wc -l)
awk -v skipped="$skipped" '
    /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    END { printf "tests: %d passed, %d failed, %d skipped\n", p - skipped, f, skipped }' "$log"
exit "$status"
