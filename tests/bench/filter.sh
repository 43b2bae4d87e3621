#!/usr/bin/env bash
# Benchmark (not a test): what a filter expression costs `udpscope read`. On a generated pcap
# of 1,000,000 UDP datagrams, `read --port 6999` (datagram-level selection) against `read` with
# the expression `udp port 6999` (frames selected before decoding by the compiled BPF program),
# in three modes: copy only (-q -w), summary, text lines. Runs alternate between the two
# commands, and the medians are compared. Goal: the expression within 10% of --port.
#
# Usage: tests/bench/filter.sh          (from anywhere; builds nothing)
# Environment:
#   UDPSCOPE=target/release/udpscope   the binary to measure (cargo build --release first)
#   COUNT=1000000                      datagrams in the file
#   RUNS=5                             runs per command (the median is kept)
set -euo pipefail
cd "$(dirname "$0")/../.."

UDPSCOPE=${UDPSCOPE:-target/release/udpscope}
COUNT=${COUNT:-1000000}
RUNS=${RUNS:-5}
export TZ=UTC LC_ALL=C

command -v python3 >/dev/null || { echo "filter.sh: missing python3" >&2; exit 1; }
[ -x "$UDPSCOPE" ] || { echo "filter.sh: $UDPSCOPE not found (cargo build --release)" >&2; exit 1; }
UDPSCOPE=$(realpath "$UDPSCOPE")

TMP=$(mktemp -d /tmp/udpscope-filter-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
BIG=$TMP/big.pcap
python3 tests/bench/gen_pcap.py "$COUNT" "$BIG"
cat "$BIG" >/dev/null # warm the page cache
MACHINE="$(nproc) CPUs, $(uname -r); udpscope $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "filter.sh: $MACHINE, $COUNT datagrams" >&2

command -v /usr/bin/time >/dev/null || { echo "filter.sh: missing /usr/bin/time" >&2; exit 1; }
declare -A TIMES CPU
# once KEY COMMAND: runs COMMAND (a bash string) once, appends its wall time and its CPU time
# (user + system, s; steadier than wall time on a shared machine) to TIMES[KEY] and CPU[KEY].
once() {
    local key=$1 cmd=$2 start end
    rm -f "$TMP"/out*.pcap
    start=$(date +%s%N)
    /usr/bin/time -f '%U %S' -o "$TMP/cpu" bash -c "$cmd" >/dev/null 2>"$TMP/stderr" || { echo "filter.sh: $key failed: $(head -1 "$TMP/stderr")" >&2; exit 1; }
    end=$(date +%s%N)
    TIMES[$key]="${TIMES[$key]:-} $(awk -v ns="$((end - start))" 'BEGIN { printf "%.4f", ns / 1e9 }')"
    CPU[$key]="${CPU[$key]:-} $(awk '{ printf "%.2f", $1 + $2 }' "$TMP/cpu")"
}
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

MODES=("copy -q" "summary" "text")
declare -A ARGS=(["copy -q"]="-q -w '$TMP/out.pcap'" ["summary"]="--summary" ["text"]="")
for ((run = 0; run < RUNS; run++)); do
    for mode in "${MODES[@]}"; do
        # Alternate, and swap who goes first every run, so drift on a shared machine falls on
        # both alike.
        port=("port $mode" "'$UDPSCOPE' read '$BIG' --port 6999 ${ARGS[$mode]}")
        expr=("expr $mode" "'$UDPSCOPE' read '$BIG' ${ARGS[$mode]} udp port 6999")
        if ((run % 2)); then
            once "${expr[@]}"
            once "${port[@]}"
        else
            once "${port[@]}"
            once "${expr[@]}"
        fi
    done
    echo "  run $((run + 1)) of $RUNS done" >&2
done

# Both select the same frames: the copies must be identical.
"$UDPSCOPE" read "$BIG" --port 6999 -q -w "$TMP/a.pcap"
"$UDPSCOPE" read "$BIG" -q -w "$TMP/b.pcap" udp port 6999
cmp -s "$TMP/a.pcap" "$TMP/b.pcap" && SAME=identical || SAME=DIFFERENT

echo
echo "### \`read\` with an expression against \`read --port\`, $COUNT datagrams, median of $RUNS"
echo
echo "Measured by \`tests/bench/filter.sh\` on $MACHINE (load average $(cut -d' ' -f1 /proc/loadavg)). Copies (-q -w) of both: $SAME."
echo
echo "| mode | --port 6999 wall / CPU (s) | udp port 6999 wall / CPU (s) | expression / port, wall | CPU | goal |"
echo "| --- | --- | --- | --- | --- | --- |"
for mode in "${MODES[@]}"; do
    p=$(median "${TIMES[port $mode]}")
    e=$(median "${TIMES[expr $mode]}")
    pc=$(median "${CPU[port $mode]}")
    ec=$(median "${CPU[expr $mode]}")
    echo "| $mode | $p / $pc | $e / $ec | $(awk -v a="$e" -v b="$p" 'BEGIN { printf "%.2f", a / b }') | $(awk -v a="$ec" -v b="$pc" 'BEGIN { printf "%.2f", a / b }') | <= 1.10 |"
done
