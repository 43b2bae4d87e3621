#!/usr/bin/env bash
# Benchmark (not a test): DNS above UDP. On 1,000,000 generated DNS datagrams
# (tests/bench/dns_gen.py: queries every 40 us to four servers, answers 0.1-30 ms later, mixed
# sizes, 2% unanswered, 1% re-sent), in one run and alternating:
#   - `read --summary` with DNS against `read --summary --decode-as 53=none` (the layer off);
#   - the same file from 200,000 client ports instead of 2,000 (cost per datagram with many
#     flows);
#   - `tshark -q -z dns,tree` on the same file (once: it is slow);
#   - peak RSS at 100,000 and at 1,000,000 datagrams (memory must not grow with the file).
# Prints medians of RUNS runs and the ratios the goals speak of.
#
# Usage: tests/bench/dns.sh
# Environment: UDPSCOPE=target/release/udpscope  COUNT=1000000  RUNS=5  TSHARK=1 (0 skips it)
set -euo pipefail
cd "$(dirname "$0")/../.."
UDPSCOPE=$(realpath "${UDPSCOPE:-target/release/udpscope}")
COUNT=${COUNT:-1000000}
RUNS=${RUNS:-5}
TSHARK=${TSHARK:-1}
TMP=$(mktemp -d /tmp/udpscope-dns-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
python3 tests/bench/dns_gen.py "$TMP/few.pcap" "$COUNT" 2000 1
python3 tests/bench/dns_gen.py "$TMP/many.pcap" "$COUNT" 200000 2
python3 tests/bench/dns_gen.py "$TMP/small.pcap" $((COUNT / 10)) 2000 3
cat "$TMP"/*.pcap >/dev/null
echo "dns.sh: $(nproc) CPUs, $(uname -r); udpscope $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $COUNT datagrams; RUNS=$RUNS" >&2

# wall SECONDS of one run of a command (a bash string); its peak RSS (KiB) in $TMP/rss.
run() {
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$TMP/rss" bash -c "$1" >/dev/null 2>&1
    end=$(date +%s%N)
    echo "scale=4; ($end - $start) / 1000000000" | bc
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A T
for name in on off many; do : >"$TMP/$name"; done
for ((i = 0; i < RUNS; i++)); do
    run "$UDPSCOPE read $TMP/few.pcap --summary" >>"$TMP/on"
    run "$UDPSCOPE read $TMP/few.pcap --summary --decode-as 53=none" >>"$TMP/off"
    run "$UDPSCOPE read $TMP/many.pcap --summary" >>"$TMP/many"
done
for name in on off many; do T[$name]=$(median <"$TMP/$name"); done
run "$UDPSCOPE read $TMP/small.pcap --summary" >/dev/null
small_rss=$(cat "$TMP/rss")
run "$UDPSCOPE read $TMP/few.pcap --summary" >/dev/null
big_rss=$(cat "$TMP/rss")

printf '%-58s %8s\n' "command (median of $RUNS)" "seconds"
printf '%-58s %8s\n' "read --summary (DNS on), 2,000 client ports" "${T[on]}"
printf '%-58s %8s\n' "read --summary --decode-as 53=none (layer off)" "${T[off]}"
printf '%-58s %8s\n' "read --summary (DNS on), 200,000 client ports" "${T[many]}"
echo "ratio DNS on / off: $(echo "scale=2; ${T[on]} / ${T[off]}" | bc)x (goal <= 1.3)"
echo "ratio 200,000 ports / 2,000 ports: $(echo "scale=2; ${T[many]} / ${T[on]}" | bc)x (goal <= 1.3)"
echo "peak RSS: $small_rss KiB at $((COUNT / 10)) datagrams, $big_rss KiB at $COUNT (flat: same order)"
if [ "$TSHARK" = 1 ] && command -v tshark >/dev/null; then
    tshark_s=$(run "tshark -q -z dns,tree -r $TMP/few.pcap")
    echo "tshark -q -z dns,tree: $tshark_s s; udpscope is $(echo "scale=1; $tshark_s / ${T[on]}" | bc)x faster (goal >= 20)"
fi
