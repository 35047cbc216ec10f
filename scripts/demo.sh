#!/usr/bin/env bash
# `make demo`: a Kafka-API broker, redis-server, Prometheus with the remote-write receiver
# and lagring's alert rules, some consumer groups with lag, and a fleet of lagring nodes
# sharing the work through Redis. Everything runs in the background under .demo/;
# `make demo-stop` ends it, `make demo-status` shows it.
#
# The broker is tansu (a real Kafka-API broker, built once from crates.io: about 25 minutes
# on 2 cores) with a producer and consumers. Until tansu is built, the demo runs on
# lagring-sim (the project's Kafka-protocol simulator, built with lagring in a few minutes)
# and builds tansu in the background; `make demo-stop && make demo` then switches to it.
# DEMO_BROKER=tansu waits for the tansu build instead; DEMO_BROKER=sim always uses the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/prometheus-config.sh
ROOT="$PWD"
DEMO="$ROOT/.demo"
NODES="${DEMO_NODES:-3}"
BROKER_PORT="${DEMO_BROKER_PORT:-19092}"
REDIS_PORT="${DEMO_REDIS_PORT:-16379}"
PROM_PORT="${DEMO_PROM_PORT:-19090}"
NODE_PORT0="${DEMO_NODE_PORT:-19100}"
BROKER="${DEMO_BROKER:-auto}"
CACHE_DIR="${LAGRING_CACHE_DIR:-$HOME/.cache/lagring}"
TANSU="${LAGRING_TANSU:-$(cat "$CACHE_DIR/tansu-path" 2>/dev/null || echo "$CACHE_DIR/tansu-0.6.0-libsql/bin/tansu")}"
# Background build of tansu (scripts/setup.sh): kept outside .demo so demo-stop leaves it running.
BUILD_LOG="$CACHE_DIR/tansu-build.log"
BUILD_PID="$CACHE_DIR/tansu-build.pid"
# Packages `cargo install tansu --version 0.6.0 --features libsql` compiles (counted with
# `cargo tree -e normal,build` in the crate's source): the denominator of the progress line.
TANSU_CRATES=410
TANSU_BUILD_DEADLINE_MIN=60

log() { printf 'demo: %s\n' "$*" >&2; }

stop() {
  [ -d "$DEMO" ] || { log "nothing running"; return 0; }
  local pidfile pids=()
  for pidfile in "$DEMO"/*.pid; do
    [ -e "$pidfile" ] || continue
    pids+=("$(cat "$pidfile")")
    kill -TERM "${pids[-1]}" 2>/dev/null || true
  done
  # lagring nodes flush and deregister on SIGTERM; give them up to 15 s, then SIGKILL.
  local deadline=$((SECONDS + 15)) pid alive
  while :; do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 1 ] && [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$DEMO"/*.pid
  log "stopped (logs kept in $DEMO)"
  build_running && log "$(build_progress) -- still building in the background" || true
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port="$1" what="$2" deadline=$((SECONDS + 30))
  until ! port_free "$port"; do
    [ "$SECONDS" -lt "$deadline" ] || { log "$what did not start on port $port; see $DEMO/$what.log"; exit 1; }
    sleep 0.2
  done
}

start_bg() { # name, then the command; cwd is $DEMO/<name>
  local name="$1"; shift
  mkdir -p "$DEMO/$name"
  (cd "$DEMO/$name" && exec "$@" >"$DEMO/$name.log" 2>&1) &
  echo $! >"$DEMO/$name.pid"
}

# ---------------------------------------------------------------- the tansu build

tansu_ready() { [ -x "$TANSU" ] && "$TANSU" --version 2>/dev/null | grep -q 0.6.0; }

build_running() { [ -f "$BUILD_PID" ] && kill -0 "$(cat "$BUILD_PID")" 2>/dev/null; }

build_progress() {
  local n elapsed
  n="$(grep -c '^ *Compiling ' "$BUILD_LOG" 2>/dev/null || true)"
  elapsed=$(($(date +%s) - $(stat -c %Y "$BUILD_PID" 2>/dev/null || date +%s)))
  echo "tansu build: ${n:-0} of ~$TANSU_CRATES crates compiled, $((elapsed / 60)) min elapsed (log: $BUILD_LOG)"
}

# scripts/setup.sh installs the Debian packages first, then builds tansu once (cached).
start_tansu_build() {
  build_running && return 0
  mkdir -p "$CACHE_DIR"
  log "building tansu in the background at low priority: $BUILD_LOG"
  setsid nohup nice -n 19 bash "$ROOT/scripts/setup.sh" >"$BUILD_LOG" 2>&1 </dev/null &
  echo $! >"$BUILD_PID"
}

wait_tansu_build() {
  local deadline=$((SECONDS + TANSU_BUILD_DEADLINE_MIN * 60)) next=0
  while build_running; do
    [ "$SECONDS" -lt "$deadline" ] || { log "tansu build still running after $TANSU_BUILD_DEADLINE_MIN min; see $BUILD_LOG"; exit 1; }
    if [ "$SECONDS" -ge "$next" ]; then log "$(build_progress)"; next=$((SECONDS + 30)); fi
    sleep 1
  done
  TANSU="$(cat "$CACHE_DIR/tansu-path" 2>/dev/null || echo "$TANSU")"
  tansu_ready || { tail -5 "$BUILD_LOG" >&2; log "tansu build failed; see $BUILD_LOG"; exit 1; }
}

# redis-server and prometheus come from scripts/setup.sh's first step (seconds to a minute).
wait_packages() {
  local deadline=$((SECONDS + 900))
  until command -v redis-server >/dev/null && command -v prometheus >/dev/null; do
    build_running || { log "setup.sh ended without installing redis-server and prometheus; see $BUILD_LOG"; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { log "redis-server/prometheus not installed after 15 min; see $BUILD_LOG"; exit 1; }
    sleep 1
  done
}

# ---------------------------------------------------------------- start

choose_broker() {
  case "$BROKER" in
    sim) echo sim ;;
    tansu) echo tansu ;;
    auto) if tansu_ready; then echo tansu; else echo sim; fi ;;
    *) log "DEMO_BROKER must be auto, tansu or sim"; exit 2 ;;
  esac
}

start() {
  if ls "$DEMO"/*.pid >/dev/null 2>&1; then log "already running; 'make demo-stop' first"; exit 1; fi
  for p in "$BROKER_PORT" "$REDIS_PORT" "$PROM_PORT" $(seq "$NODE_PORT0" $((NODE_PORT0 + NODES - 1))); do
    port_free "$p" || { log "port $p is in use (set DEMO_*_PORT to move it)"; exit 1; }
  done
  local broker t0=$SECONDS
  broker="$(choose_broker)"
  if [ "$broker" = tansu ] && ! tansu_ready; then
    log "tansu (the Kafka-API broker) is not built yet: building it from crates.io takes about"
    log "25 minutes on 2 cores, once (cached in $CACHE_DIR). Progress every 30 s."
    start_tansu_build
    wait_tansu_build
  elif [ "$broker" = tansu ]; then
    bash scripts/setup.sh
  elif [ "$BROKER" = auto ]; then
    log "first run: tansu (the Kafka-API broker) is not built yet; building it takes about 25 minutes"
    log "on 2 cores, once. Not waiting for it: this demo starts on lagring-sim, the project's Kafka-"
    log "protocol simulator, as soon as lagring and the simulator are built (about 7 minutes on a"
    log "fresh clone, seconds after that). tansu builds in the background at low priority; 'make"
    log "demo-status' shows its progress, and 'make demo-stop && make demo' switches to it once built."
    start_tansu_build
  fi

  rm -rf "$DEMO"; mkdir -p "$DEMO"
  local second=lagring-sim
  [ "$broker" = sim ] || second=lagring-demo-load
  log "building lagring and $second (debug; about 7 minutes on a fresh clone, seconds after that)"
  cargo build --bin lagring --bin "$second"
  local bin="$ROOT/target/debug"
  wait_packages

  if [ "$broker" = tansu ]; then
    start_bg broker "$TANSU" broker --listener-url "tcp://127.0.0.1:$BROKER_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" --storage-engine sqlite://tansu.db
    wait_port "$BROKER_PORT" broker
    BOOTSTRAP="127.0.0.1:$BROKER_PORT"
  else
    start_bg broker "$bin/lagring-sim" --scenario "$ROOT/scripts/demo-sim.yaml"
    local deadline=$((SECONDS + 30))
    until BOOTSTRAP="$(sed -n 's/^bootstrap=//p' "$DEMO/broker.log" 2>/dev/null)" && [ -n "$BOOTSTRAP" ]; do
      [ "$SECONDS" -lt "$deadline" ] || { log "simulator did not start; see $DEMO/broker.log"; exit 1; }
      sleep 0.2
    done
  fi
  start_bg redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no
  wait_port "$REDIS_PORT" redis

  local targets=()
  for i in $(seq 0 $((NODES - 1))); do targets+=("127.0.0.1:$((NODE_PORT0 + i))"); done
  mkdir -p "$DEMO/prometheus"
  cp deploy/prometheus/alerts.yaml "$DEMO/prometheus/"
  prometheus_config 5s "${targets[@]}" >"$DEMO/prometheus/prometheus.yml"
  start_bg prometheus prometheus --config.file=prometheus.yml --storage.tsdb.path=data \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver
  wait_port "$PROM_PORT" prometheus

  [ "$broker" = sim ] || start_bg load "$bin/lagring-demo-load" --bootstrap "$BOOTSTRAP"

  local brokers_yaml
  brokers_yaml="$(printf '"%s", ' ${BOOTSTRAP//,/ })"
  for i in $(seq 0 $((NODES - 1))); do
    cat >"$DEMO/lagring-$i.yaml" <<YAML
node:
  id: lagring-$i
  interval: 5s
redis:
  url: redis://127.0.0.1:$REDIS_PORT
clusters:
  - name: local
    brokers: [${brokers_yaml%, }]
remote_write:
  url: http://127.0.0.1:$PROM_PORT/api/v1/write
http:
  listen: 127.0.0.1:$((NODE_PORT0 + i))
YAML
    start_bg "lagring-$i" "$bin/lagring" run --config "$DEMO/lagring-$i.yaml"
  done
  for i in $(seq 0 $((NODES - 1))); do wait_port $((NODE_PORT0 + i)) "lagring-$i"; done
  echo "$broker" >"$DEMO/broker-kind"

  local what
  if [ "$broker" = tansu ]; then
    what="The producer writes to topic demo-orders: demo-fast keeps up, demo-slow falls behind, and
12 demo-batch-NN groups catch up every 10-40 s (they appear as they first commit)."
  else
    what="Broker: lagring-sim (scripts/demo-sim.yaml). demo-fast keeps up, demo-slow stalls at 20 s and
falls behind, demo-stopped stops committing at 2 min, demo-rewind rewinds at 90 s, demo-late
loses messages to retention, 12 demo-batch-NN groups lag by fixed amounts."
  fi
  cat <<TXT

lagring demo is running ($NODES nodes, $broker broker, Redis, Prometheus) -- started in $((SECONDS - t0)) s.
  Lag in Prometheus:   http://127.0.0.1:$PROM_PORT/graph?g0.expr=kafka_consumer_group_sum_lag_in_offsets&g0.tab=0&g0.range_input=15m
  Per partition:       http://127.0.0.1:$PROM_PORT/graph?g0.expr=kafka_consumer_group_lag_in_offsets&g0.tab=1
  Owned groups/node:   http://127.0.0.1:$PROM_PORT/graph?g0.expr=lagring_owned_groups&g0.tab=1
  Alerts:              http://127.0.0.1:$PROM_PORT/alerts   (deploy/prometheus/alerts.yaml)
  Node 0 metrics:      http://127.0.0.1:$NODE_PORT0/metrics   (health: /healthz, /readyz)
  Fleet view:          target/debug/lagring ring --config .demo/lagring-0.yaml
  Logs:                $DEMO/*.log
$what
Stop everything with:  make demo-stop
TXT
  if build_running; then echo "$(build_progress); 'make demo-status' to follow it."; fi
}

status() {
  if ls "$DEMO"/*.pid >/dev/null 2>&1; then
    local f names=""
    for f in "$DEMO"/*.pid; do names+="$(basename "$f" .pid) "; done
    log "demo running on $(cat "$DEMO/broker-kind" 2>/dev/null || echo '?') broker: $names"
  else
    log "demo not running"
  fi
  if build_running; then log "$(build_progress)"
  elif tansu_ready; then log "tansu is built: $TANSU"
  else log "tansu is not built (make demo starts its build)"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
