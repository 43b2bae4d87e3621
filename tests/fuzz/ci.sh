#!/usr/bin/env bash
# Runs every fuzz target briefly on the stable toolchain without a sanitizer (`-s none`), so a
# regression in the reader, decoder, reassembly, chat server or DNS parser surfaces in CI. The long
# runs with the address sanitizer are done by hand (tests/fuzz/FIGURES.md gives the commands).
#
# Usage: tests/fuzz/ci.sh [SECONDS_PER_TARGET]   (default 60)
#
# Seeds come from captures/ (tests/fuzz/seeds.py); the committed crash inputs of
# tests/fuzz/regressions/TARGET/ are run first, as a read-only second corpus. Bounded: each
# target is killed 120 s after its time is up (building is done before, once). Builds into
# tests/fuzz/target/ci so it never disturbs a nightly address-sanitizer build.
# Exit status: 0 when no target found anything, 1 otherwise (the crash input is left in
# tests/fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_TARGET=${1:-60}
TARGETS=(read_file decode reassembly chat_datagram dns quic rtp dtls wireguard sflow)
FUZZ=(cargo fuzz)
OPTIONS=(--fuzz-dir tests/fuzz -s none --target-dir tests/fuzz/target/ci)

command -v cargo-fuzz >/dev/null || { echo "ci.sh: cargo-fuzz missing (cargo install cargo-fuzz)" >&2; exit 1; }
python3 tests/fuzz/seeds.py >/dev/null

start=$(date +%s)
"${FUZZ[@]}" build "${OPTIONS[@]}"
built=$(date +%s)
echo "ci.sh: built the ${#TARGETS[@]} targets in $((built - start)) s"

failed=()
for target in "${TARGETS[@]}"; do
    if [ ! -d "tests/fuzz/corpus/$target" ]; then
        echo "ci.sh: $target has no seeds: add them to tests/fuzz/seeds.py"
        failed+=("$target")
        continue
    fi
    corpora=("tests/fuzz/corpus/$target")
    [ -d "tests/fuzz/regressions/$target" ] && corpora+=("tests/fuzz/regressions/$target")
    log=$(mktemp)
    if timeout --kill-after=10 $((SECONDS_PER_TARGET + 120)) \
        "${FUZZ[@]}" run "${OPTIONS[@]}" "$target" "${corpora[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
        echo "ci.sh: $target: $(grep -E '^Done [0-9]+ runs' "$log" || echo 'done'), no crash"
    else
        failed+=("$target")
        echo "ci.sh: $target FAILED; last lines of its log:" >&2
        tail -n 40 "$log" >&2
    fi
    rm -f "$log"
done

echo "ci.sh: $(( $(date +%s) - start )) s in all"
if [ ${#failed[@]} -gt 0 ]; then
    echo "ci.sh: failures in: ${failed[*]} (inputs in tests/fuzz/artifacts/)" >&2
    exit 1
fi
