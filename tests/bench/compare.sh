#!/usr/bin/env bash
# Benchmark (not a test): `udpscope compare` on a generated pair of captures of COUNT datagrams
# (tests/bench/gen_pcap.py, then tests/bench/compare_pair.py: clock offset, delays, loss,
# duplicates, reordering) against `udpscope read --summary` on both files, in the same run,
# runs alternating (and --json piped into cat, as a consumer reads it); then the same on a pair
# of SMALL datagrams to show that compare's memory does not grow with the files; then two pairs
# of identical payloads (compare_pair.py --requests): REQUESTS requests and their answers with
# 2% of them the same "ping" (and "pong"), and IDENTICAL requests all "ping" (1 ms apart), which
# once made compare cubic; and FLOOD identical 64-byte datagrams 10 us apart, all within one
# window (compare_pair.py --flood: IP ids counting up, so that each names up to four still open),
# which once took 12 s for 200,000. Goal: compare costs at most twice `read --summary` on both.
#
# Usage: tests/bench/compare.sh         (from anywhere; builds nothing)
# Environment:
#   UDPSCOPE=target/release/udpscope   the binary to measure (cargo build --release first)
#   COUNT=300000 SMALL=30000           datagrams in the big and the small file A
#   REQUESTS=150000 IDENTICAL=5000     requests (each answered) in the 2%-"ping" and the
#                                      all-"ping" file A
#   FLOOD=200000                       identical datagrams in the flood's file A
#   RUNS=5                             runs per command (the median time is kept; the machine
#                                      is noisy, and a median is what is quoted)
#   ONLY=three                         run the three-point cases only (big and small: the
#                                      small one shows that memory does not grow with the files)
set -euo pipefail
cd "$(dirname "$0")/../.."

UDPSCOPE=${UDPSCOPE:-target/release/udpscope}
COUNT=${COUNT:-300000}
SMALL=${SMALL:-30000}
REQUESTS=${REQUESTS:-150000}
IDENTICAL=${IDENTICAL:-5000}
FLOOD=${FLOOD:-200000}
RUNS=${RUNS:-5}
ONLY=${ONLY:-}
export TZ=UTC LC_ALL=C

for tool in python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "compare.sh: missing $tool (tests/install-deps.sh)" >&2; exit 1; }
done
[ -x "$UDPSCOPE" ] || { echo "compare.sh: $UDPSCOPE not found (cargo build --release)" >&2; exit 1; }
UDPSCOPE=$(realpath "$UDPSCOPE")

TMP=$(mktemp -d /tmp/udpscope-bench-compare.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
for size in big small; do
    n=$COUNT
    [ "$size" = small ] && n=$SMALL
    python3 tests/bench/gen_pcap.py "$n" "$TMP/$size-a.pcap"
    python3 tests/bench/compare_pair.py "$TMP/$size-a.pcap" "$TMP/$size-b.pcap"
done
# A third point after B: what B saw, through the same kind of path again.
python3 tests/bench/compare_pair.py "$TMP/big-b.pcap" "$TMP/big-c.pcap"
python3 tests/bench/compare_pair.py "$TMP/small-b.pcap" "$TMP/small-c.pcap"
[ "$ONLY" = three ] || python3 tests/bench/compare_pair.py --requests "$REQUESTS" --ping-every 50 "$TMP/repeated-a.pcap" "$TMP/repeated-b.pcap"
[ "$ONLY" = three ] || python3 tests/bench/compare_pair.py --requests "$IDENTICAL" --ping-every 1 "$TMP/identical-a.pcap" "$TMP/identical-b.pcap"
[ "$ONLY" = three ] || python3 tests/bench/compare_pair.py --flood "$FLOOD" "$TMP/flood-a.pcap" "$TMP/flood-b.pcap"
MACHINE="$(nproc) CPUs, $(uname -r); udpscope $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "compare.sh: $MACHINE" >&2
cat "$TMP"/*.pcap >/dev/null # warm the page cache

declare -A TIMES RSS
# once KEY COMMAND: one run of COMMAND (a bash string; exit 0 or 1, as compare has it), keeping
# its wall time (ns) among KEY's and the largest peak RSS (KiB) of KEY.
once() {
    local key=$1 cmd=$2 start end rc=0 rss
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$TMP/rss" bash -c "$cmd" >/dev/null 2>"$TMP/stderr" || rc=$?
    end=$(date +%s%N)
    if [ "$rc" -gt 1 ]; then
        echo "compare.sh: $key: exit $rc: $(head -1 "$TMP/stderr")" >&2
        exit 1
    fi
    rss=$(tail -1 "$TMP/rss")
    TIMES[$key]+="$((end - start)) "
    if [ -z "${RSS[$key]:-}" ] || ((rss > RSS[$key])); then RSS[$key]=$rss; fi
}

TWO_POINT="big small repeated identical flood"
[ "$ONLY" = three ] && TWO_POINT=""
for size in $TWO_POINT; do
    a=$TMP/$size-a.pcap b=$TMP/$size-b.pcap
    for ((run = 0; run < RUNS; run++)); do
        # Alternating, so a noisy neighbour hurts both alike.
        once "read both $size" "'$UDPSCOPE' read --summary '$a' && '$UDPSCOPE' read --summary '$b'"
        once "compare text $size" "'$UDPSCOPE' compare '$a' '$b'"
        once "compare json $size" "'$UDPSCOPE' compare '$a' '$b' --json"
        # What a consumer sees: the lines through a pipe (the other rows write to /dev/null).
        once "compare json piped $size" "'$UDPSCOPE' compare '$a' '$b' --json | cat"
    done
done

# Three points (compare A B C: two hops, each datagram followed along the path) against
# `read --summary` on the three files, at both sizes (peak RSS must not grow with the files).
for size in big small; do
    a=$TMP/$size-a.pcap b=$TMP/$size-b.pcap c=$TMP/$size-c.pcap
    for ((run = 0; run < RUNS; run++)); do
        once "read three $size" "'$UDPSCOPE' read --summary '$a' && '$UDPSCOPE' read --summary '$b' && '$UDPSCOPE' read --summary '$c'"
        once "compare3 text $size" "'$UDPSCOPE' compare '$a' '$b' '$c'"
        once "compare3 json $size" "'$UDPSCOPE' compare '$a' '$b' '$c' --json"
        once "compare3 json piped $size" "'$UDPSCOPE' compare '$a' '$b' '$c' --json | cat"
    done
done

median() { tr ' ' '\n' <<<"${TIMES[$1]}" | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
secs() { awk -v ns="$(median "$1")" 'BEGIN { printf "%.3f", ns / 1e9 }'; }
ratio() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN { printf "%.2fx", a / b }'; }
if [ "$ONLY" != three ]; then
echo
echo "### \`udpscope compare\` on two captures of $COUNT datagrams, median of $RUNS"
echo
echo "Measured by \`tests/bench/compare.sh\` on $MACHINE."
echo
echo "| command | seconds ($COUNT) | peak RSS ($COUNT) | seconds ($SMALL) | peak RSS ($SMALL) |"
echo "| --- | --- | --- | --- | --- |"
for key in "read both" "compare text" "compare json" "compare json piped"; do
    echo "| $key | $(secs "$key big") | $((RSS[$key big] / 1024)) MiB | $(secs "$key small") | $((RSS[$key small] / 1024)) MiB |"
done
echo
echo "| comparison | ratio | goal |"
echo "| --- | --- | --- |"
echo "| compare text / read --summary on both | $(ratio "compare text big" "read both big") | <= 2x |"
echo "| compare json / read --summary on both | $(ratio "compare json big" "read both big") | <= 2x |"
echo "| compare json piped into cat / read --summary on both | $(ratio "compare json piped big" "read both big") | (shown) |"
echo
echo "### Identical payloads: $REQUESTS requests and answers, 2% \"ping\"; $IDENTICAL, all \"ping\" (median of $RUNS)"
echo
echo "| command | seconds (2%) | peak RSS (2%) | seconds (all) | peak RSS (all) |"
echo "| --- | --- | --- | --- | --- |"
for key in "read both" "compare text" "compare json" "compare json piped"; do
    echo "| $key | $(secs "$key repeated") | $((RSS[$key repeated] / 1024)) MiB | $(secs "$key identical") | $((RSS[$key identical] / 1024)) MiB |"
done
echo
echo "| comparison | 2% \"ping\" | all \"ping\" | goal |"
echo "| --- | --- | --- | --- |"
for key in "compare text" "compare json"; do
    echo "| $key / read --summary on both | $(ratio "$key repeated" "read both repeated") | $(ratio "$key identical" "read both identical") | <= 2x |"
done
echo
echo "### A flood: $FLOOD identical datagrams 10 us apart, within one window (median of $RUNS)"
echo
echo "| command | seconds | peak RSS | ratio to read --summary on both |"
echo "| --- | --- | --- | --- |"
for key in "read both" "compare text" "compare json" "compare json piped"; do
    echo "| $key | $(secs "$key flood") | $((RSS[$key flood] / 1024)) MiB | $(ratio "$key flood" "read both flood") |"
done
fi
echo
echo "### Three points: \`compare A B C\` on three captures of $COUNT and of $SMALL datagrams (median of $RUNS)"
echo
echo "Measured by \`tests/bench/compare.sh\` on $MACHINE."
echo
echo "| command | seconds ($COUNT) | peak RSS ($COUNT) | seconds ($SMALL) | peak RSS ($SMALL) |"
echo "| --- | --- | --- | --- | --- |"
for key in "read three" "compare3 text" "compare3 json" "compare3 json piped"; do
    echo "| $key | $(secs "$key big") | $((RSS[$key big] / 1024)) MiB | $(secs "$key small") | $((RSS[$key small] / 1024)) MiB |"
done
echo
echo "| comparison | ratio | goal |"
echo "| --- | --- | --- |"
for key in "compare3 text" "compare3 json" "compare3 json piped"; do
    echo "| $key / read --summary on the three | $(ratio "$key big" "read three big") | <= 1.5x |"
done
