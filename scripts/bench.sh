#!/usr/bin/env bash
# Benchmarks lagring against the Kafka simulator (`make bench`; not part of
# `make test`). Builds release binaries, prints the machine, then runs
# lagring-bench, which prints markdown tables (see docs/performance.md).
# Extra arguments go to lagring-bench, e.g. `scripts/bench.sh --single 1000x100 --fleet-groups 0`.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO="${CARGO:-cargo}"
log() { printf 'bench: %s\n' "$*" >&2; }

log "building release binaries (several minutes on 2 cores the first time)"
"$CARGO" build --release -p lagring -p lagring-bench -p lagring-sim

echo "## Machine"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
echo "- memory: $(free -h | awk '/^Mem:/ {print $2 " total, " $7 " available"}')"
echo "- kernel: $(uname -r); rustc: $(rustc --version)"
echo "- command: scripts/bench.sh $*"
echo

exec target/release/lagring-bench --lagring target/release/lagring "$@"
