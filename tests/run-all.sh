#!/usr/bin/env bash
# Runs every test: installs the real peers the tests talk to, then the whole cargo suite.
# As root, tests that need AF_PACKET and network namespaces run too; otherwise they say loudly
# that they are skipped (set UDPSCOPE_REQUIRE_ROOT=1 to make them fail instead).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh
cargo test --locked --release "$@"
