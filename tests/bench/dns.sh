#!/usr/bin/env bash
# Benchmark (not a test): DNS above UDP. On 1,000,000 generated DNS datagrams
# (tests/bench/dns_gen.py: queries every 40 us to four servers, answers 0.1-30 ms later, mixed
# sizes, 2% unanswered, 1% re-sent), in one run and alternating:
#   - `read --summary` with DNS against `read --summary --decode-as 53=none` (the layer off);
#   - the same file from 200,000 client ports instead of 2,000 (cost per datagram with many
#     flows);
#   - `tshark -q -z dns,tree` on the same file (once: it is slow);
#   - peak RSS at 100,000 and at 1,000,000 datagrams (memory must not grow with the file);
#   - with BEFORE=another udpscope binary (an older build), that one on the 2,000-port file
#     too, in turn with the others (before/after figures from one run of the script).
# Prints medians of RUNS runs (wall seconds and CPU seconds) and the ratios the goals speak of.
#
# Usage: tests/bench/dns.sh
# Environment: UDPSCOPE=target/release/udpscope  COUNT=1000000  RUNS=5  TSHARK=1 (0 skips it)
#              BEFORE= (a binary to compare with)
set -euo pipefail
cd "$(dirname "$0")/../.."
UDPSCOPE=$(realpath "${UDPSCOPE:-target/release/udpscope}")
COUNT=${COUNT:-1000000}
RUNS=${RUNS:-5}
TSHARK=${TSHARK:-1}
BEFORE=${BEFORE:+$(realpath "$BEFORE")}
TMP=$(mktemp -d /tmp/udpscope-dns-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
python3 tests/bench/dns_gen.py "$TMP/few.pcap" "$COUNT" 2000 1
python3 tests/bench/dns_gen.py "$TMP/many.pcap" "$COUNT" 200000 2
python3 tests/bench/dns_gen.py "$TMP/small.pcap" $((COUNT / 10)) 2000 3
cat "$TMP"/*.pcap >/dev/null
echo "dns.sh: $(nproc) CPUs, $(uname -r); udpscope $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $COUNT datagrams; RUNS=$RUNS" >&2

# wall SECONDS of one run of a command (a bash string); its peak RSS (KiB) in $TMP/rss, its
# CPU seconds (user + system: on a machine shared with other work, the figure the load moves
# least) in $TMP/cpu.
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

declare -A T C
names=(on off many)
if [ -n "$BEFORE" ]; then names+=(before); fi
for name in "${names[@]}"; do : >"$TMP/$name"; : >"$TMP/$name.cpu"; done
for ((i = 0; i < RUNS; i++)); do
    run "$UDPSCOPE read $TMP/few.pcap --summary" >>"$TMP/on"
    cat "$TMP/cpu" >>"$TMP/on.cpu"
    if [ -n "$BEFORE" ]; then
        run "$BEFORE read $TMP/few.pcap --summary" >>"$TMP/before"
        cat "$TMP/cpu" >>"$TMP/before.cpu"
    fi
    run "$UDPSCOPE read $TMP/few.pcap --summary --decode-as 53=none" >>"$TMP/off"
    cat "$TMP/cpu" >>"$TMP/off.cpu"
    run "$UDPSCOPE read $TMP/many.pcap --summary" >>"$TMP/many"
    cat "$TMP/cpu" >>"$TMP/many.cpu"
done
for name in "${names[@]}"; do
    T[$name]=$(median <"$TMP/$name")
    C[$name]=$(median <"$TMP/$name.cpu")
done
run "$UDPSCOPE read $TMP/small.pcap --summary" >/dev/null
small_rss=$(cat "$TMP/rss")
run "$UDPSCOPE read $TMP/few.pcap --summary" >/dev/null
big_rss=$(cat "$TMP/rss")

printf '%-58s %8s %8s\n' "command (median of $RUNS)" "seconds" "CPU s"
printf '%-58s %8s %8s\n' "read --summary (DNS on), 2,000 client ports" "${T[on]}" "${C[on]}"
if [ -n "$BEFORE" ]; then
    printf '%-58s %8s %8s\n' "the same with BEFORE ($BEFORE)" "${T[before]}" "${C[before]}"
fi
printf '%-58s %8s %8s\n' "read --summary --decode-as 53=none (layer off)" "${T[off]}" "${C[off]}"
printf '%-58s %8s %8s\n' "read --summary (DNS on), 200,000 client ports" "${T[many]}" "${C[many]}"
echo "ratio DNS on / off: $(echo "scale=2; ${T[on]} / ${T[off]}" | bc)x wall, $(echo "scale=2; ${C[on]} / ${C[off]}" | bc)x CPU (goal <= 1.3)"
echo "ratio 200,000 ports / 2,000 ports: $(echo "scale=2; ${T[many]} / ${T[on]}" | bc)x (goal <= 1.3)"
if [ -n "$BEFORE" ]; then
    echo "after / before: $(echo "scale=2; ${T[on]} / ${T[before]}" | bc)x wall, $(echo "scale=2; ${C[on]} / ${C[before]}" | bc)x CPU"
fi
echo "peak RSS: $small_rss KiB at $((COUNT / 10)) datagrams, $big_rss KiB at $COUNT (flat: same order)"
if [ "$TSHARK" = 1 ] && command -v tshark >/dev/null; then
    tshark_s=$(run "tshark -q -z dns,tree -r $TMP/few.pcap")
    echo "tshark -q -z dns,tree: $tshark_s s ($(cat "$TMP/cpu") CPU s); udpscope is $(echo "scale=1; $tshark_s / ${T[on]}" | bc)x faster (goal >= 20), $(echo "scale=1; $(cat "$TMP/cpu") / ${C[on]}" | bc)x in CPU seconds"
fi
