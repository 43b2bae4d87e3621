#!/usr/bin/env bash
# Benchmark (not a test): two udpscope builds on the same workloads, in one run, runs
# alternating (and the order within a pair swapped every run), CPU seconds (user + system: on
# a shared machine the figure load moves least) and wall seconds, medians, and the ratio
# after / before per workload. It is how a change that should not cost anything is checked.
#
# Workloads: `read` text, `read --json`, `read --summary` and `read` with a filter expression
# (`udp port 6999`) on a generated capture of COUNT datagrams (tests/bench/gen_pcap.py), and
# `compare` text and `compare --json` on a pair of PAIR datagrams (tests/bench/compare_pair.py).
# Output goes to /dev/null (`--json` through `cat`, as a consumer reads it).
#
# Usage: BEFORE=old/udpscope tests/bench/ab.sh
# Environment:
#   BEFORE=...                          the other build (required)
#   UDPSCOPE=target/release/udpscope    the build to measure against it
#   COUNT=1000000 PAIR=300000 RUNS=9    datagrams, pair size, runs of each command per binary
#   ONLY=read|compare                   one group of workloads
#   COMPARE_ARGS=...                    more arguments for both compare workloads, e.g.
#                                       `--port 6999`: builds before compare's default became
#                                       every UDP datagram compared only that port's (171,429 of
#                                       the pair's 300,000), so like is measured against like
set -euo pipefail
cd "$(dirname "$0")/../.."
UDPSCOPE=$(realpath "${UDPSCOPE:-target/release/udpscope}")
[ -n "${BEFORE:-}" ] || { echo "ab.sh: set BEFORE to the other build" >&2; exit 1; }
BEFORE=$(realpath "$BEFORE")
COUNT=${COUNT:-1000000}
PAIR=${PAIR:-300000}
RUNS=${RUNS:-9}
ONLY=${ONLY:-}
COMPARE_ARGS=${COMPARE_ARGS:-}
export TZ=UTC LC_ALL=C
TMP=$(mktemp -d /tmp/udpscope-ab.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
python3 tests/bench/gen_pcap.py "$COUNT" "$TMP/big.pcap"
python3 tests/bench/gen_pcap.py "$PAIR" "$TMP/a.pcap"
python3 tests/bench/compare_pair.py "$TMP/a.pcap" "$TMP/b.pcap"
cat "$TMP"/*.pcap >/dev/null
echo "ab.sh: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); after $UDPSCOPE, before $BEFORE; RUNS=$RUNS${COMPARE_ARGS:+; compare $COMPARE_ARGS}" >&2

declare -a NAMES CMDS
add() { NAMES+=("$1"); CMDS+=("$2"); }
if [ "$ONLY" != compare ]; then
    add "read (text)" "read $TMP/big.pcap >/dev/null"
    add "read --json" "read --json $TMP/big.pcap | cat >/dev/null"
    add "read --summary" "read --summary $TMP/big.pcap >/dev/null"
    add "read EXPR (udp port 6999)" "read $TMP/big.pcap udp port 6999 >/dev/null"
fi
if [ "$ONLY" != read ]; then
    add "compare (text)" "compare $COMPARE_ARGS $TMP/a.pcap $TMP/b.pcap >/dev/null"
    add "compare --json" "compare --json $COMPARE_ARGS $TMP/a.pcap $TMP/b.pcap | cat >/dev/null"
fi

# one BIN KEY: runs workload KEY with BIN once; appends CPU and wall seconds to $TMP/KEY.BIN.*
one() {
    local bin=$1 key=$2 tag=$3
    local cmd="${CMDS[$key]}"
    local rc=0
    /usr/bin/time -f "%U %S %e" -o "$TMP/t" bash -o pipefail -c "'$bin' $cmd" || rc=$?
    # read exits 0, compare 0 or 1 (something happened); anything else is a failed run.
    if ((rc > 1)); then echo "ab.sh: $bin $cmd: exit $rc" >&2; exit 1; fi
    # The last line: time puts "Command exited with non-zero status 1" before it.
    tail -n 1 "$TMP/t" | awk '{ printf "%.3f\n", $1 + $2 }' >>"$TMP/$key.$tag.cpu"
    tail -n 1 "$TMP/t" | awk '{ print $3 }' >>"$TMP/$key.$tag.wall"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for ((run = 0; run < RUNS; run++)); do
    for key in "${!NAMES[@]}"; do
        if ((run % 2)); then one "$BEFORE" "$key" before; one "$UDPSCOPE" "$key" after
        else one "$UDPSCOPE" "$key" after; one "$BEFORE" "$key" before; fi
    done
done
printf '%-28s %10s %10s %8s %10s %10s %8s\n' workload "cpu before" "cpu after" ratio "wall bef." "wall aft." ratio
for key in "${!NAMES[@]}"; do
    cb=$(median <"$TMP/$key.before.cpu"); ca=$(median <"$TMP/$key.after.cpu")
    wb=$(median <"$TMP/$key.before.wall"); wa=$(median <"$TMP/$key.after.wall")
    printf '%-28s %10s %10s %7.3fx %10s %10s %7.3fx\n' "${NAMES[$key]}" "$cb" "$ca" \
        "$(echo "$ca / $cb" | bc -l)" "$wb" "$wa" "$(echo "$wa / $wb" | bc -l)"
done
echo "(medians of $RUNS alternating runs each; ratio = after / before)"
