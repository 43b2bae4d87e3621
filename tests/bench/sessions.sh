#!/usr/bin/env bash
# The body of tests/bench/dtls.sh and tests/bench/wireguard.sh (see them): PROTO, a real
# capture, and sessions_gen.py's options.
# Usage: tests/bench/sessions.sh PROTO CAPTURE [GEN_OPTIONS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
PROTO=$1
CAPTURE=$2
shift 2
UDPSCOPE=$(realpath "${UDPSCOPE:-target/release/udpscope}")
COUNT=${COUNT:-1000000}
RUNS=${RUNS:-5}
BEFORE=${BEFORE:+$(realpath "$BEFORE")}
TMP=$(mktemp -d "/tmp/udpscope-$PROTO-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
python3 tests/bench/sessions_gen.py "$CAPTURE" "$TMP/big.pcap" "$COUNT" "$@"
python3 tests/bench/sessions_gen.py "$CAPTURE" "$TMP/small.pcap" $((COUNT / 10)) "$@"
cat "$TMP"/*.pcap >/dev/null
echo "$PROTO.sh: $(nproc) CPUs, $(uname -r); udpscope $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $COUNT datagrams; RUNS=$RUNS" >&2

# wall SECONDS of one run of a command (a bash string); its peak RSS (KiB) in $TMP/rss, its
# CPU seconds (user + system) in $TMP/cpu.
run() {
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f '%M %U %S' -o "$TMP/time" bash -c "$1" >/dev/null 2>&1
    end=$(date +%s%N)
    awk '{ print $1 }' "$TMP/time" >"$TMP/rss"
    awk '{ print $2 + $3 }' "$TMP/time" >"$TMP/cpu"
    echo "scale=4; ($end - $start) / 1000000000" | bc
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# What udpscope saw, once (the work is really done).
"$UDPSCOPE" read "$TMP/big.pcap" --summary --json | PROTO=$PROTO python3 -c '
import json, os, sys
p = os.environ["PROTO"]
s = json.load(sys.stdin)["summary"].get(p) or {}
print("%s.sh: udpscope summary: %s" % (p, {k: v for k, v in s.items() if isinstance(v, int)}), file=sys.stderr)'

for name in ours ours.cpu before before.cpu theirs theirs.cpu tshark_rss; do : >"$TMP/$name"; done
for ((i = 0; i < RUNS; i++)); do
    run "$UDPSCOPE read $TMP/big.pcap --summary" >>"$TMP/ours"
    cat "$TMP/cpu" >>"$TMP/ours.cpu"
    if [ -n "$BEFORE" ]; then
        run "$BEFORE read $TMP/big.pcap --summary" >>"$TMP/before"
        cat "$TMP/cpu" >>"$TMP/before.cpu"
    fi
    run "tshark -q -z conv,udp -r $TMP/big.pcap" >>"$TMP/theirs"
    cat "$TMP/cpu" >>"$TMP/theirs.cpu"
    cat "$TMP/rss" >>"$TMP/tshark_rss"
done
ours=$(median <"$TMP/ours")
theirs=$(median <"$TMP/theirs")
run "$UDPSCOPE read $TMP/small.pcap --summary" >/dev/null
small_rss=$(cat "$TMP/rss")
run "$UDPSCOPE read $TMP/big.pcap --summary" >/dev/null
big_rss=$(cat "$TMP/rss")

printf '%-52s %8s %8s\n' "command (median of $RUNS)" "seconds" "CPU s"
printf '%-52s %8s %8s\n' "udpscope read --summary" "$ours" "$(median <"$TMP/ours.cpu")"
if [ -n "$BEFORE" ]; then
    printf '%-52s %8s %8s\n' "the same with BEFORE" "$(median <"$TMP/before")" "$(median <"$TMP/before.cpu")"
    echo "after / before: $(echo "scale=2; $ours / $(median <"$TMP/before")" | bc)x wall, $(echo "scale=2; $(median <"$TMP/ours.cpu") / $(median <"$TMP/before.cpu")" | bc)x CPU (BEFORE=$BEFORE)"
fi
printf '%-52s %8s %8s\n' "tshark -q -z conv,udp" "$theirs" "$(median <"$TMP/theirs.cpu")"
echo "all runs: udpscope $(tr '\n' ' ' <"$TMP/ours")s; tshark $(tr '\n' ' ' <"$TMP/theirs")s"
echo "udpscope is $(echo "scale=1; $theirs / $ours" | bc)x faster (goal >= 20); in CPU seconds $(echo "scale=1; $(median <"$TMP/theirs.cpu") / $(median <"$TMP/ours.cpu")" | bc)x"
echo "peak RSS: udpscope $small_rss KiB at $((COUNT / 10)) datagrams, $big_rss KiB at $COUNT (flat: same order); tshark $(median <"$TMP/tshark_rss") KiB"
