#!/usr/bin/env bash
# Installs the real peers and tools the tests use (tshark, capinfos, tcpdump, socat, python3,
# iproute2, tcpreplay, nftables (nft, for compare's lossy NAT router); ethtool, dumpcap and /usr/bin/time for tests/fixtures and tests/bench;
# rsvg-convert to render the SVG ladder; dnsmasq and dig, the real DNS server and client;
# ffmpeg, the real RTP sender (tests/rtp.rs, tests/fixtures/rtp-capture.sh, tests/bench/rtp.sh);
# openssl (s_server/s_client, real DTLS peers); wireguard-go and wg (userspace WireGuard over
# TUN, for tests/wireguard.rs and tests/fixtures/wireguard-capture.sh); pmacct's pmacctd, a real
# sFlow agent (its sfprobe plugin; tests/every_capture.rs);
# setcap for the file-capability test, by its full path
# since /usr/sbin is not on a user's PATH; gzip, zstd and lz4 to make compressed captures and
# script(1) for a pty in tests/compressed_and_pipes.rs and tests/report.rs; chromium, the real
# browser tests/report.rs loads the HTML report in (headless, over the DevTools pipe) and
# tests/plot.rs renders the plots in; openssl for QUIC's self-signed
# certificates). Then a venv in tests/.venv with aioquic from PyPI, the real QUIC client and
# server of tests/quic.rs and tests/fixtures/quic-capture.sh. Idempotent; needs root when
# something is missing.
set -euo pipefail
need=()
for tool in tshark:tshark capinfos:wireshark-common editcap:wireshark-common tcpdump:tcpdump \
            socat:socat python3:python3 ip:iproute2 tcpreplay:tcpreplay setpriv:util-linux \
            unshare:util-linux ethtool:ethtool dumpcap:wireshark-common mergecap:wireshark-common \
            /usr/bin/time:time rsvg-convert:librsvg2-bin /usr/sbin/setcap:libcap2-bin nft:nftables \
            /usr/sbin/dnsmasq:dnsmasq-base dig:bind9-dnsutils ffmpeg:ffmpeg \
            wireguard-go:wireguard-go wg:wireguard-tools /usr/sbin/pmacctd:pmacct \
            gzip:gzip zstd:zstd lz4:lz4 script:bsdutils openssl:openssl chromium:chromium; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
# Debian's python3 makes venvs only with python3-venv (ensurepip).
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tests/install-deps.sh: missing packages: ${need[*]} (run as root to install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
# aioquic 1.x (checked with 1.7.2): a venv beside the tests, gitignored.
VENV="$(dirname "$0")/.venv"
if ! "$VENV/bin/python" -c 'import aioquic' >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'aioquic>=1.2,<2'
fi
