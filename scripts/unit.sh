#!/usr/bin/env bash
# `make unit`: everything that runs in one process (no tansu, Redis or Prometheus).
# The suites are built once, then their test binaries run side by side: the fleet
# suites mostly wait on 1 s slots, so running them one after another (as `cargo test`
# does) would take three minutes where side by side takes about one.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITES=(
  "--workspace --lib"
  "-p lagring --test fleet_in_process --test fleet_delivery --test burrow_api --test exact_time_lag
   --test config_cli --test cli_migrate --test msk_iam_pipeline --test fleet_placement
   --test fleet_rolling_restart --test push_fleet"
  "-p lagring-kafka --test native_auth --test native_exact --test native_groups --test native_malformed
   --test native_msk_iam --test native_oauth --test native_share_lag --test native_sim --test native_tasks
   --test sim_leaders --test librdkafka_coordinator_down --test librdkafka_oauth"
  "-p lagring-probe --test topic_refusing_broker"
  "-p lagring-sim --lib --tests"
  "-p lagring-sink --test auth_headers --test delivery --test resilience --test tls
   --test push_wavefront --test push_otlp --test push_outage"
)
PARALLEL="${UNIT_PARALLEL:-4}"
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT

# Build every suite; list "<package dir> <test binary>" for each.
list="$LOGS/binaries"
: >"$list"
for suite in "${SUITES[@]}"; do
  # shellcheck disable=SC2086
  cargo test --locked $suite --no-run --message-format=json-render-diagnostics |
    python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(os.path.dirname(m["manifest_path"]), m["executable"])
' >>"$list"
done
sort -u -o "$list" "$list"

run_one() {
  local dir="$1" exe="$2" log
  log="$LOGS/$(basename "$exe").log"
  if (cd "$dir" && "$exe" -q >"$log" 2>&1); then
    printf 'ok      %s\n' "$(basename "$exe")"
  else
    printf 'FAILED  %s\n' "$(basename "$exe")"; cat "$log"; return 1
  fi
}
export -f run_one
export LOGS
start=$(date +%s)
if xargs -P "$PARALLEL" -L 1 bash -c 'run_one "$0" "$1"' <"$list"; then
  echo "unit: $(wc -l <"$list") test binaries passed in $(( $(date +%s) - start ))s"
else
  echo "unit: some test binaries failed (output above)"; exit 1
fi
