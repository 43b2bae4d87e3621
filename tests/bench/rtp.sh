#!/usr/bin/env bash
# Benchmark (not a test): RTP above UDP. On COUNT generated RTP packets in 20 streams
# (tests/bench/rtp_gen.py: PCMU, PCMA, Opus-like and video-sized packets, 1% lost, 0.5%
# reordered, 0.2% duplicated), in one run and alternating:
#   - `udpscope read --summary` (RTP found by the stream heuristic, every stream tracked);
#   - `tshark -q -o rtp.heuristic_rtp:TRUE -z rtp,streams` on the same file;
#   - peak RSS at COUNT/10 and at COUNT packets (memory must not grow with the file).
# Prints medians of RUNS runs and the ratio (goal: udpscope >= 20x faster).
#
# Usage: tests/bench/rtp.sh
# Environment: UDPSCOPE=target/release/udpscope  COUNT=1000000  RUNS=3
set -euo pipefail
cd "$(dirname "$0")/../.."
UDPSCOPE=$(realpath "${UDPSCOPE:-target/release/udpscope}")
COUNT=${COUNT:-1000000}
RUNS=${RUNS:-3}
TMP=$(mktemp -d /tmp/udpscope-rtp-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
python3 tests/bench/rtp_gen.py "$TMP/big.pcap" "$COUNT" 1
python3 tests/bench/rtp_gen.py "$TMP/small.pcap" $((COUNT / 10)) 2
cat "$TMP"/*.pcap >/dev/null
echo "rtp.sh: $(nproc) CPUs, $(uname -r); udpscope $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $COUNT packets; RUNS=$RUNS" >&2

# wall SECONDS of one run of a command (a bash string); its peak RSS (KiB) in $TMP/rss.
run() {
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$TMP/rss" bash -c "$1" >/dev/null 2>&1
    end=$(date +%s%N)
    echo "scale=4; ($end - $start) / 1000000000" | bc
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$TMP/ours"; : >"$TMP/tshark"
for ((i = 0; i < RUNS; i++)); do
    run "$UDPSCOPE read $TMP/big.pcap --summary" >>"$TMP/ours"
    ours_rss=$(cat "$TMP/rss")
    run "tshark -q -o rtp.heuristic_rtp:TRUE -z rtp,streams -r $TMP/big.pcap" >>"$TMP/tshark"
    tshark_rss=$(cat "$TMP/rss")
done
ours=$(median <"$TMP/ours")
tshark=$(median <"$TMP/tshark")
run "$UDPSCOPE read $TMP/small.pcap --summary" >/dev/null
small_rss=$(cat "$TMP/rss")
streams=$("$UDPSCOPE" read "$TMP/big.pcap" --summary --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["summary"]["rtp"]; print(r["streams"], "streams,", r["packets"], "packets,", r["lost"], "lost,", r["duplicates"], "duplicates,", r["reordered"], "reordered")')

printf '%-62s %8s\n' "command (median of $RUNS)" "seconds"
printf '%-62s %8s\n' "udpscope read --summary" "$ours"
printf '%-62s %8s\n' "tshark -q -o rtp.heuristic_rtp:TRUE -z rtp,streams" "$tshark"
echo "udpscope found: $streams"
echo "ratio: udpscope is $(echo "scale=1; $tshark / $ours" | bc)x faster than tshark (goal >= 20)"
echo "peak RSS udpscope: $small_rss KiB at $((COUNT / 10)) packets, $ours_rss KiB at $COUNT (flat: same order); tshark: $tshark_rss KiB"
