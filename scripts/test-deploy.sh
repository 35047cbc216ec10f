#!/usr/bin/env bash
# Tests everything under deploy/ for real; `make test` runs it after the cargo tests
# (`make test-deploy` alone). Installs what it needs itself, idempotently:
#   Debian: debootstrap, prometheus (promtool), redis-server, binutils; PyPI into
#   ~/.cache/lagring/deploy-venv: kubernetes-validate (pinned). kubectl must be installed.
#
#   scripts/test-deploy.sh [config|alerts|kubernetes|image|fleet ...]   (default: all)
#
# Checks (each prints one line, then "N passed, M failed"):
#   config      deploy/lagring.yaml passes `lagring validate`
#   alerts      promtool check/test rules; every alert has a unit test
#   kubernetes  every overlay renders, passes kubernetes-validate --strict, wiring checks
#   image       base image (debootstrap + docker import), image from deploy/docker/Dockerfile
#   fleet       3 lagring containers + Redis + simulators + Prometheus on a docker network:
#               exact lag reaches Prometheus, `docker stop` of one node hands its groups over,
#               alert rules evaluate on live data, every dashboard query returns data
# LAGRING_BIN_DIR=dir uses prebuilt `lagring` and `lagring-sim` instead of cargo build --release.
# KEEP=1 leaves the fleet running and prints how to reach it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/prometheus-config.sh
ROOT="$PWD"
CACHE_DIR="${LAGRING_CACHE_DIR:-$HOME/.cache/lagring}"
VENV="$CACHE_DIR/deploy-venv"
KUBERNETES_VALIDATE_VERSION="1.37.0"
# Oldest Kubernetes still in upstream support when this was written, and kubectl's version here.
KUBERNETES_VERSIONS="1.30.0 1.32.0"
HERE="$ROOT/scripts/deploy-test"
STEPS="${*:-config alerts kubernetes image fleet}"
RUN_LABEL="lagring-deploy-test"
RUN_ID="$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lagring-deploy-test.XXXXXX")"
T0=$SECONDS
PASSED=0
FAILED=0
FAILED_NAMES=()

log() { printf 'test-deploy: %s\n' "$*" >&2; }

# step NAME CMD...: runs CMD in a subshell with `set -e` (so any failing command fails the
# step), output indented, one ok/FAIL line with the wall time; STEP_RC is its exit status.
# A step hands variables to the next ones with `keep VAR...`. Never call step where `set -e`
# is ignored (after `||`, `&&`, in an `if` condition): bash would ignore it inside CMD too.
step() {
  local name="$1" t=$SECONDS rc=0; shift
  set +e
  ( set -e; "$@" ) >"$WORK/$name.log" 2>&1
  rc=$?
  set -e
  sed 's/^/    /' "$WORK/$name.log" | tail -n 40 >&2
  # shellcheck disable=SC1091
  [ ! -s "$WORK/state.sh" ] || source "$WORK/state.sh"
  if [ "$rc" -eq 0 ]; then
    PASSED=$((PASSED + 1)); printf 'ok   %-28s %4ss\n' "$name" $((SECONDS - t)) >&2
  else
    FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name"); printf 'FAIL %-28s %4ss\n' "$name" $((SECONDS - t)) >&2
  fi
  STEP_RC=$rc
}

keep() { declare -p "$@" | sed "s/^declare /declare -g /" >>"$WORK/state.sh"; }

# ---------------------------------------------------------------- tools

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

ensure_tools() {
  local need=()
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  command -v objcopy >/dev/null 2>&1 || need+=(binutils)
  if ((${#need[@]})); then
    log "installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop prometheus >/dev/null 2>&1 || true; fi
  fi
  command -v kubectl >/dev/null 2>&1 || { log "kubectl (with kustomize) is required"; return 1; }
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || { log "a running Docker engine is required"; return 1; }
  if ! "$VENV/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null ||
     [ "$("$VENV/bin/pip" show kubernetes-validate 2>/dev/null | sed -n 's/^Version: //p')" != "$KUBERNETES_VALIDATE_VERSION" ]; then
    log "python venv $VENV with kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  fi
}

binaries() {
  if [ -n "${LAGRING_BIN_DIR:-}" ]; then
    BIN_DIR="$LAGRING_BIN_DIR"
  else
    log "cargo build --release -p lagring -p lagring-sim"
    cargo build --release --locked -q -p lagring -p lagring-sim
    BIN_DIR="$ROOT/target/release"
  fi
  LAGRING="$BIN_DIR/lagring"
  SIM="$BIN_DIR/lagring-sim"
  [ -x "$LAGRING" ] && [ -x "$SIM" ] || { echo "missing $LAGRING or $SIM"; return 1; }
  echo "$("$LAGRING" --version) from $BIN_DIR"
  keep LAGRING SIM
}

# ---------------------------------------------------------------- config, alerts, kubernetes

check_config() {
  # Dummy values for the credentials the example takes from the environment.
  KAFKA_PASSWORD=x REDIS_PASSWORD=x REMOTE_WRITE_PASSWORD=x POD_NAME=lagring-0 \
    "$LAGRING" validate --config deploy/lagring.yaml
}

check_alerts() {
  promtool check rules deploy/prometheus/alerts.yaml
  (cd deploy/prometheus && promtool test rules alerts.test.yaml)
  "$VENV/bin/python" "$HERE/alerts_covered.py" deploy/prometheus/alerts.yaml deploy/prometheus/alerts.test.yaml
}

check_kubernetes() {
  local overlay rendered v
  for overlay in deploy/kubernetes/overlays/*/; do
    overlay="${overlay%/}"
    rendered="$WORK/$(basename "$overlay").yaml"
    kubectl kustomize "$overlay" >"$rendered"
    for v in $KUBERNETES_VERSIONS; do
      # PodMonitor is a CRD without a bundled schema: the wiring check covers it.
      "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "$rendered" 2>&1 |
        grep -v "Couldn't find schema for kind PodMonitor" || true
      "$VENV/bin/kubernetes-validate" --strict --quiet --no-warn -k "$v" "$rendered" >/dev/null
    done
    echo "$overlay: $(grep -c '^kind:' "$rendered") objects pass kubernetes-validate --strict for $KUBERNETES_VERSIONS"
    "$VENV/bin/python" "$HERE/k8s_wiring.py" --lagring "$LAGRING" --overlay "$overlay" "$rendered"
  done
}

# ---------------------------------------------------------------- image

check_image() {
  BASE_IMAGE="$(bash scripts/base-image.sh)"
  IMAGE="$(LAGRING_BIN="$LAGRING" bash scripts/image.sh)"
  local size user
  size="$(docker image inspect -f '{{.Size}}' "$IMAGE")"
  user="$(docker image inspect -f '{{.Config.User}}' "$IMAGE")"
  [ "$user" = "65532:65532" ] || { echo "image user is '$user', want 65532:65532"; return 1; }
  # No shell, no package manager: the files are the binary, its libraries, certs, passwd, probe.
  local cid files
  cid="$(docker create --label "$RUN_LABEL=$RUN_ID" "$IMAGE")"
  files="$(docker export "$cid" | tar -t)"
  docker rm "$cid" >/dev/null
  if grep -E '(^|/)(sh|bash|dash|apt|dpkg)$' <<<"$files"; then echo "image contains a shell or package manager"; return 1; fi
  # librdkafka's Kerberos login loads Cyrus SASL's GSSAPI plugin at run time (ldd cannot see it).
  grep -qE 'sasl2/libgssapiv2\.so' <<<"$files" || { echo "image lacks Cyrus SASL's GSSAPI plugin"; return 1; }
  docker run --rm --read-only --cap-drop ALL "$IMAGE" --version
  echo "$IMAGE: $((size / 1000 / 1000)) MB, user $user, no shell; base $BASE_IMAGE"
  keep IMAGE
}

# Redis and the simulator as containers too, from the host's binaries and exactly their
# shared libraries (the host is Debian bookworm, like the base image).
testbed_image() {
  local ctx sum bin lib
  sum="$(cat "$(command -v redis-server)" "$SIM" | sha256sum | cut -c1-12)"
  TESTBED="lagring-testbed:$sum"
  docker image inspect "$TESTBED" >/dev/null 2>&1 && return 0
  # One testbed image at a time: drop the ones made from earlier binaries.
  docker images --format '{{.Repository}}:{{.Tag}}' | grep '^lagring-testbed:' | xargs -r docker rmi >/dev/null 2>&1 || true
  ctx="$WORK/testbed"
  mkdir -p "$ctx/rootfs/usr/local/bin"
  for bin in "$(command -v redis-server)" "$SIM"; do
    cp "$bin" "$ctx/rootfs/usr/local/bin/"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do cp --parents -L "$lib" "$ctx/rootfs/"; done
  done
  printf 'FROM scratch\nCOPY rootfs/ /\n' >"$ctx/Dockerfile"
  docker build -q -t "$TESTBED" "$ctx" >/dev/null 2>"$ctx.err" || { cat "$ctx.err"; return 1; }
}

# ---------------------------------------------------------------- fleet

cleanup() {
  local rc=$?
  if [ "${KEEP:-0}" = 1 ] && [ -n "${NET:-}" ]; then
    log "KEEP=1: fleet left running (network $NET, Prometheus ${PROM:-}); remove with:"
    log "  docker rm -f \$(docker ps -aq --filter label=$RUN_LABEL=$RUN_ID); docker network rm $NET; kill ${PROM_PID:-}"
    return "$rc"
  fi
  local ids deadline
  ids="$(docker ps -aq --filter "label=$RUN_LABEL=$RUN_ID" 2>/dev/null || true)"
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  [ -z "${NET:-}" ] || docker network rm "$NET" >/dev/null 2>&1 || true
  if [ -n "${PROM_PID:-}" ] && kill "$PROM_PID" 2>/dev/null; then
    deadline=$((SECONDS + 10))
    while kill -0 "$PROM_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -KILL "$PROM_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Containers and networks of earlier runs whose script is gone (killed before its trap ran).
remove_leftovers() {
  local id pid
  for id in $(docker ps -aq --filter "label=$RUN_LABEL" 2>/dev/null); do
    pid="$(docker inspect -f "{{index .Config.Labels \"$RUN_LABEL\"}}" "$id")"
    kill -0 "$pid" 2>/dev/null || docker rm -f "$id" >/dev/null 2>&1 || true
  done
  for id in $(docker network ls -q --filter "label=$RUN_LABEL" 2>/dev/null); do
    pid="$(docker network inspect -f "{{index .Labels \"$RUN_LABEL\"}}" "$id")"
    kill -0 "$pid" 2>/dev/null || docker network rm "$id" >/dev/null 2>&1 || true
  done
}

ip_of() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }

fleet_start() {
  remove_leftovers
  testbed_image
  local p="$RUN_LABEL-$RUN_ID" gw i ip
  NET="$p"
  keep NET
  docker network create --label "$RUN_LABEL=$RUN_ID" "$NET" >/dev/null
  gw="$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$NET")"

  # Prometheus on the host, listening only on this network's gateway address.
  PROM_PORT="$(free_port "$gw")"
  PROM="http://$gw:$PROM_PORT"
  mkdir -p "$WORK/prometheus"
  cp deploy/prometheus/alerts.yaml "$WORK/prometheus/"

  REDIS_PASSWORD="test-$RANDOM$RANDOM"
  docker run -d --name "$p-redis" --network "$NET" --label "$RUN_LABEL=$RUN_ID" "$TESTBED" \
    /usr/local/bin/redis-server --port 6379 --save "" --appendonly no --protected-mode no \
    --requirepass "$REDIS_PASSWORD" >/dev/null

  # Every simulator serves the same cluster: same scenario, same epoch.
  sed "s/EPOCH_MS/$(date +%s%3N)/" "$HERE/scenario.yaml" >"$WORK/scenario.yaml"
  install -m 0644 "$HERE/fleet.yaml" "$WORK/lagring.yaml"
  chmod 0644 "$WORK/scenario.yaml"
  NODES=()
  NODE_URLS=()
  for i in 0 1 2; do
    # The simulator binds and advertises 127.0.0.1 only, so each node's simulator and lagring
    # share one network namespace: the simulator's container holds it (own address on the
    # network, hostname lagring-i) and starts first, so lagring's first iteration finds it.
    docker run -d --name "$p-node-$i" --hostname "lagring-$i" --network "$NET" --label "$RUN_LABEL=$RUN_ID" \
      --read-only --cap-drop ALL -v "$WORK/scenario.yaml:/scenario.yaml:ro" "$TESTBED" \
      /usr/local/bin/lagring-sim --scenario /scenario.yaml >/dev/null
    docker run -d --name "$p-lagring-$i" --network "container:$p-node-$i" --label "$RUN_LABEL=$RUN_ID" \
      --read-only --cap-drop ALL --security-opt no-new-privileges --memory 256m \
      --health-interval 2s --health-start-period 5s \
      -e POD_NAME="lagring-$i" -e REDIS_HOST="$p-redis" -e REDIS_PASSWORD="$REDIS_PASSWORD" \
      -e REMOTE_WRITE_URL="$PROM/api/v1/write" \
      -v "$WORK/lagring.yaml:/etc/lagring/lagring.yaml:ro" "$IMAGE" >/dev/null
    ip="$(ip_of "$p-node-$i")"
    NODES+=("$p-lagring-$i")
    NODE_URLS+=("http://$ip:9100")
  done

  prometheus_config 2s "${NODE_URLS[0]#http://}" "${NODE_URLS[1]#http://}" "${NODE_URLS[2]#http://}" \
    >"$WORK/prometheus/prometheus.yml"
  (cd "$WORK/prometheus" && exec prometheus --config.file=prometheus.yml --storage.tsdb.path=data \
    --web.listen-address="$gw:$PROM_PORT" --web.enable-remote-write-receiver >prometheus.log 2>&1) &
  PROM_PID=$!
  keep PROM_PID PROM NODES NODE_URLS
  local deadline=$((SECONDS + 30))
  until curl -sf "$PROM/-/ready" >/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { tail "$WORK/prometheus/prometheus.log"; echo "prometheus not ready"; return 1; }
    sleep 0.2
  done
  echo "network $NET (gateway $gw): redis, 3 lagring containers (${NODE_URLS[*]}), each sharing its address with a simulator; Prometheus $PROM"
}

fleet_health() {
  "$VENV/bin/python" "$HERE/fleet_checks.py" ready "${NODE_URLS[@]}"
  local i status deadline=$((SECONDS + 30))
  for i in 0 1 2; do
    until [ "$(docker inspect -f '{{.State.Health.Status}}' "${NODES[$i]}")" = healthy ]; do
      status="$(docker inspect -f '{{.State.Health.Status}} {{json .State.Health.Log}}' "${NODES[$i]}")"
      [ "$SECONDS" -lt "$deadline" ] || { echo "${NODES[$i]}: $status"; return 1; }
      sleep 0.5
    done
  done
  echo "docker HEALTHCHECK (busybox wget of /livez, no shell): all 3 containers healthy"
}

fleet_handover() {
  "$VENV/bin/python" "$HERE/fleet_checks.py" owners "${NODE_URLS[@]}" >"$WORK/owners.json"
  # The node that owns the most groups goes.
  local victim_url victim i t_stop t code survivors=()
  victim_url="$("$VENV/bin/python" -c 'import json,sys; o=json.load(open(sys.argv[1])); print(max(o, key=lambda u: len(o[u])))' "$WORK/owners.json")"
  for i in 0 1 2; do
    if [ "${NODE_URLS[$i]}" = "$victim_url" ]; then victim="${NODES[$i]}"; else survivors+=("${NODE_URLS[$i]}"); fi
  done
  t=$SECONDS
  docker stop -t 15 "$victim" >/dev/null
  t_stop="$(date +%s.%N)"
  code="$(docker inspect -f '{{.State.ExitCode}}' "$victim")"
  echo "docker stop $victim: exit code $code after $((SECONDS - t))s (SIGTERM: last slot, hand-over to peers, flush, deregister)"
  [ "$code" = 0 ] || return 1
  "$VENV/bin/python" "$HERE/fleet_checks.py" handover "$PROM" "$WORK/owners.json" "$victim_url" "$t_stop" "${survivors[@]}"
}

fleet_alerts() {
  "$VENV/bin/python" "$HERE/fleet_checks.py" rules "$PROM"
  "$VENV/bin/python" "$HERE/fleet_checks.py" alert "$PROM" LagringRingShrank
  "$VENV/bin/python" "$HERE/fleet_checks.py" alert "$PROM" LagringNodeDown
  "$VENV/bin/python" "$HERE/fleet_checks.py" alert "$PROM" KafkaConsumerGroupLagBeyondRetention
}

fleet_dashboard() {
  "$VENV/bin/python" "$HERE/dashboard_queries.py" "$PROM" deploy/grafana/lagring.json
}

run_fleet() {
  step fleet-start fleet_start
  [ "$STEP_RC" -eq 0 ] || return 0
  step fleet-ready-and-healthy fleet_health
  step fleet-exact-lag "$VENV/bin/python" "$HERE/fleet_checks.py" lag "$PROM"
  step fleet-handover fleet_handover
  step fleet-alerts-live fleet_alerts
  step dashboard-queries fleet_dashboard
}

# ---------------------------------------------------------------- main

step tools ensure_tools
if [ "$STEP_RC" -eq 0 ]; then step binaries binaries; fi
[ "$STEP_RC" -eq 0 ] || { echo "$PASSED passed, $FAILED failed"; exit 1; }
IMAGE=""
for s in $STEPS; do
  case "$s" in
    config) step config-validates check_config ;;
    alerts) step alert-rules check_alerts ;;
    kubernetes) step kubernetes-manifests check_kubernetes ;;
    image) step image check_image ;;
    fleet)
      if [ -z "$IMAGE" ]; then step image check_image; fi
      if [ -n "$IMAGE" ]; then run_fleet; else FAILED=$((FAILED + 1)); FAILED_NAMES+=("fleet (no image)"); fi ;;
    *) log "unknown step $s"; exit 2 ;;
  esac
done
log "done in $((SECONDS - T0))s${FAILED_NAMES[*]:+; failed: ${FAILED_NAMES[*]}}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
