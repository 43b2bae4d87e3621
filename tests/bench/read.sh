#!/usr/bin/env bash
# Benchmark (not a test): `udpscope read` against tcpdump and tshark on a generated pcap of
# 1,000,000 UDP datagrams, in one run, with wall time, peak RSS and ratios; then the same
# udpscope runs on a 100,000-datagram file to show that memory does not grow with the file.
# The big file is also read compressed by the gzip and zstd CLIs (udpscope and tshark), against
# the uncompressed read in the same run.
#
# Usage: tests/bench/read.sh            (from anywhere; builds nothing)
# Environment:
#   UDPSCOPE=target/release/udpscope   the binary to measure (cargo build --release first)
#   COUNT=1000000 SMALL=100000         datagrams in the big and the small file
#   RUNS=3                             runs per fast command (the best time is kept)
#   SLOW_RUNS=1                        runs per tshark command (about 7 s each for 1M here)
# A command that is missing or fails is shown as such; the others are still measured.
set -euo pipefail
cd "$(dirname "$0")/../.."

UDPSCOPE=${UDPSCOPE:-target/release/udpscope}
COUNT=${COUNT:-1000000}
SMALL=${SMALL:-100000}
RUNS=${RUNS:-3}
SLOW_RUNS=${SLOW_RUNS:-1}
export TZ=UTC LC_ALL=C

for tool in python3 tcpdump tshark /usr/bin/time gzip zstd; do
    command -v "$tool" >/dev/null || { echo "read.sh: missing $tool (tests/install-deps.sh)" >&2; exit 1; }
done
if [ -x "$UDPSCOPE" ]; then
    UDPSCOPE=$(realpath "$UDPSCOPE")
else
    echo "read.sh: $UDPSCOPE not found: udpscope rows will say so (cargo build --release)" >&2
fi

TMP=$(mktemp -d /tmp/udpscope-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
BIG=$TMP/big.pcap
SMALLF=$TMP/small.pcap
python3 tests/bench/gen_pcap.py "$COUNT" "$BIG"
python3 tests/bench/gen_pcap.py "$SMALL" "$SMALLF"
MACHINE="$(nproc) CPUs, $(uname -r); $(tcpdump --version 2>&1 | head -1); $(tshark --version 2>/dev/null | head -1 | cut -d' ' -f1-3); udpscope $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "read.sh: $MACHINE" >&2
BIGGZ=$TMP/big.pcap.gz
BIGZST=$TMP/big.pcap.zst
gzip -c "$BIG" >"$BIGGZ"
zstd -q -c "$BIG" >"$BIGZST"
cat "$BIG" "$SMALLF" "$BIGGZ" "$BIGZST" >/dev/null # warm the page cache

# measure KEY RUNS COMMAND: runs COMMAND (a bash string) RUNS times; records the best wall time
# in seconds and the largest peak RSS in KiB as SECS[KEY] and RSS[KEY], or why it has none.
declare -A SECS RSS NOTE
measure() {
    local key=$1 runs=$2 cmd=$3 run start end rc best="" peak=0 rss
    if [[ $cmd == *"$UDPSCOPE"* ]] && [ ! -x "$UDPSCOPE" ]; then
        NOTE[$key]="no binary"
        return
    fi
    for ((run = 0; run < runs; run++)); do
        # Every run writes a new file: emptying the previous run's 80 MB output costs 50 ms
        # here, and it fell on some runs and not others (the first run of a name was spared).
        rm -f "$TMP"/out*.pcap
        start=$(date +%s%N)
        rc=0
        /usr/bin/time -f '%M' -o "$TMP/rss" bash -c "$cmd" >/dev/null 2>"$TMP/stderr" || rc=$?
        end=$(date +%s%N)
        if [ "$rc" -ne 0 ]; then
            NOTE[$key]="exit $rc: $(head -c 60 "$TMP/stderr" | head -1 | tr "|" "/")"
            return
        fi
        rss=$(tail -1 "$TMP/rss")
        ((rss > peak)) && peak=$rss
        if [ -z "$best" ] || ((end - start < best)); then best=$((end - start)); fi
    done
    SECS[$key]=$(awk -v ns="$best" 'BEGIN { printf "%.3f", ns / 1e9 }')
    RSS[$key]=$peak
    echo "  measured $key: ${SECS[$key]} s, $((peak / 1024)) MiB" >&2
}

cases() { # cases FILE SUFFIX: every command on FILE, keys suffixed
    local f=$1 s=$2 runs=$RUNS slow=$SLOW_RUNS
    measure "udpscope text$s" "$runs" "'$UDPSCOPE' read '$f' > /dev/null"
    measure "udpscope json$s" "$runs" "'$UDPSCOPE' read '$f' --json > /dev/null"
    measure "udpscope summary$s" "$runs" "'$UDPSCOPE' read '$f' --summary"
    measure "udpscope copy$s" "$runs" "'$UDPSCOPE' read '$f' --port 6999 -w '$TMP/out.pcap' > /dev/null"
    # The copy alone, without a text line per datagram (tcpdump -w prints none either).
    measure "udpscope copy --summary$s" "$runs" "'$UDPSCOPE' read '$f' --port 6999 --summary -w '$TMP/out.pcap' > /dev/null"
    # The copy alone, no analysis either: what tcpdump -r -w does.
    measure "udpscope copy -q$s" "$runs" "'$UDPSCOPE' read '$f' --port 6999 -q -w '$TMP/out.pcap'"
    measure "tcpdump text$s" "$runs" "tcpdump -tt -nn -r '$f' > /dev/null"
    measure "tcpdump -q text$s" "$runs" "tcpdump -q -tt -nn -r '$f' > /dev/null"
    measure "tcpdump copy all$s" "$runs" "tcpdump -r '$f' -w '$TMP/out2.pcap'"
    measure "tcpdump copy port$s" "$runs" "tcpdump -r '$f' -w '$TMP/out3.pcap' udp port 6999"
    if [ -z "$s" ]; then
        measure "tshark text$s" "$slow" "tshark -r '$f' > /dev/null"
        measure "tshark conv$s" "$slow" "tshark -q -z conv,udp -r '$f'"
    fi
}

echo "read.sh: $COUNT datagrams" >&2
cases "$BIG" ""
echo "read.sh: $SMALL datagrams" >&2
cases "$SMALLF" " small"
echo "read.sh: $COUNT datagrams compressed" >&2
measure "udpscope text gzip" "$RUNS" "'$UDPSCOPE' read '$BIGGZ' > /dev/null"
measure "udpscope text zstd" "$RUNS" "'$UDPSCOPE' read '$BIGZST' > /dev/null"
measure "udpscope summary zstd" "$RUNS" "'$UDPSCOPE' read '$BIGZST' --summary"
measure "tshark text zstd" "$SLOW_RUNS" "tshark -r '$BIGZST' > /dev/null"

show_secs() { if [ -n "${SECS[$1]:-}" ]; then echo "${SECS[$1]}"; else echo "${NOTE[$1]:-not run}"; fi; }
show_rss() { if [ -n "${RSS[$1]:-}" ]; then echo "$((RSS[$1] / 1024)) MiB"; else echo "-"; fi; }
# ratio A B: SECS[A] / SECS[B], or "-".
ratio() {
    if [ -n "${SECS[$1]:-}" ] && [ -n "${SECS[$2]:-}" ]; then
        awk -v a="${SECS[$1]}" -v b="${SECS[$2]}" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
    else
        echo "-"
    fi
}
# fastest KEY...: the key with the smallest time among those measured.
fastest() {
    local key best=""
    for key in "$@"; do
        [ -n "${SECS[$key]:-}" ] || continue
        if [ -z "$best" ] || awk -v a="${SECS[$key]}" -v b="${SECS[$best]}" 'BEGIN { exit !(a < b) }'; then
            best=$key
        fi
    done
    echo "${best:-$1}"
}

TCPDUMP_TEXT=$(fastest "tcpdump text" "tcpdump -q text")
echo
echo "### \`udpscope read\` on $COUNT datagrams ($(($(stat -c %s "$BIG") / 1048576)) MiB pcap), best of $RUNS (tshark: $SLOW_RUNS)"
echo
echo "Measured by \`tests/bench/read.sh\` on $MACHINE."
echo
echo "| command | seconds | peak RSS |"
echo "| --- | --- | --- |"
for key in "udpscope text" "udpscope json" "udpscope summary" "udpscope copy" \
           "udpscope copy --summary" "udpscope copy -q" "tcpdump text" "tcpdump -q text" "tcpdump copy all" "tcpdump copy port" \
           "tshark text" "tshark conv"; do
    echo "| $key | $(show_secs "$key") | $(show_rss "$key") |"
done
echo
echo "| comparison | ratio | goal |"
echo "| --- | --- | --- |"
echo "| $TCPDUMP_TEXT / udpscope text | $(ratio "$TCPDUMP_TEXT" "udpscope text") | >= 2x |"
echo "| tshark text / udpscope text | $(ratio "tshark text" "udpscope text") | >= 20x |"
echo "| $TCPDUMP_TEXT / udpscope json | $(ratio "$TCPDUMP_TEXT" "udpscope json") | |"
echo "| tshark conv / udpscope summary | $(ratio "tshark conv" "udpscope summary") | |"
echo "| tcpdump copy port / udpscope copy | $(ratio "tcpdump copy port" "udpscope copy") | |"
echo "| tcpdump copy port / udpscope copy --summary | $(ratio "tcpdump copy port" "udpscope copy --summary") | >= 1x |"
echo "| tcpdump copy all / udpscope copy --summary | $(ratio "tcpdump copy all" "udpscope copy --summary") | |"
echo "| tcpdump copy port / udpscope copy -q | $(ratio "tcpdump copy port" "udpscope copy -q") | >= 1x |"
echo
echo "### Compressed: the same $COUNT datagrams, gzip ($(($(stat -c %s "$BIGGZ") / 1048576)) MiB, \`gzip -c\`) and zstd ($(($(stat -c %s "$BIGZST") / 1048576)) MiB, \`zstd -c\`)"
echo
echo "| command | seconds | peak RSS |"
echo "| --- | --- | --- |"
for key in "udpscope text gzip" "udpscope text zstd" "udpscope summary zstd" "tshark text zstd"; do
    echo "| $key | $(show_secs "$key") | $(show_rss "$key") |"
done
echo
echo "| comparison | ratio | goal |"
echo "| --- | --- | --- |"
echo "| udpscope text zstd / udpscope text | $(ratio "udpscope text zstd" "udpscope text") | <= 1.5x |"
echo "| udpscope summary zstd / udpscope summary | $(ratio "udpscope summary zstd" "udpscope summary") | <= 1.5x |"
echo "| udpscope text gzip / udpscope text | $(ratio "udpscope text gzip" "udpscope text") | |"
echo "| tshark text zstd / udpscope text zstd | $(ratio "tshark text zstd" "udpscope text zstd") | |"
echo
echo "### Memory: $SMALL versus $COUNT datagrams (peak RSS)"
echo
echo "| command | $SMALL | $COUNT |"
echo "| --- | --- | --- |"
for key in "udpscope text" "udpscope json" "udpscope summary" "udpscope copy" \
           "udpscope copy --summary" "udpscope copy -q" "tcpdump text"; do
    echo "| $key | $(show_rss "$key small") | $(show_rss "$key") |"
done
