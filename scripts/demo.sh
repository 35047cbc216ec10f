#!/usr/bin/env bash
# `make demo`: a local tansu broker, redis-server, Prometheus with the
# remote-write receiver, a small producer with a slower consumer (so lag is
# visible), and a fleet of lagring nodes sharing the work through Redis.
# Everything runs in the background under .demo/; `make demo-stop` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DEMO="$ROOT/.demo"
NODES="${DEMO_NODES:-3}"
BROKER_PORT="${DEMO_BROKER_PORT:-19092}"
REDIS_PORT="${DEMO_REDIS_PORT:-16379}"
PROM_PORT="${DEMO_PROM_PORT:-19090}"
NODE_PORT0="${DEMO_NODE_PORT:-19100}"
CACHE_DIR="${LAGRING_CACHE_DIR:-$HOME/.cache/lagring}"
TANSU="${LAGRING_TANSU:-$(cat "$CACHE_DIR/tansu-path" 2>/dev/null || echo "$CACHE_DIR/tansu-0.6.0-libsql/bin/tansu")}"

log() { printf 'demo: %s\n' "$*" >&2; }

stop() {
  [ -d "$DEMO" ] || { log "nothing running"; return 0; }
  for pidfile in "$DEMO"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 2
  for pidfile in "$DEMO"/*.pid; do
    [ -e "$pidfile" ] || continue
    kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  log "stopped (logs kept in $DEMO)"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port="$1" what="$2"
  for _ in $(seq 1 150); do
    if ! port_free "$port"; then return 0; fi
    sleep 0.2
  done
  log "$what did not start on port $port; see $DEMO/$what.log"; exit 1
}

start_bg() { # name, then the command; cwd is $DEMO/<name>
  local name="$1"; shift
  mkdir -p "$DEMO/$name"
  (cd "$DEMO/$name" && exec "$@" >"$DEMO/$name.log" 2>&1) &
  echo $! >"$DEMO/$name.pid"
}

start() {
  if ls "$DEMO"/*.pid >/dev/null 2>&1; then log "already running; 'make demo-stop' first"; exit 1; fi
  for p in "$BROKER_PORT" "$REDIS_PORT" "$PROM_PORT" $(seq "$NODE_PORT0" $((NODE_PORT0 + NODES - 1))); do
    port_free "$p" || { log "port $p is in use (set DEMO_*_PORT to move it)"; exit 1; }
  done
  rm -rf "$DEMO"; mkdir -p "$DEMO"
  log "building lagring (first time takes a few minutes)"
  cargo build --quiet --bin lagring --bin lagring-demo-load
  local bin="$ROOT/target/debug"

  start_bg broker "$TANSU" broker --listener-url "tcp://127.0.0.1:$BROKER_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" --storage-engine sqlite://tansu.db
  wait_port "$BROKER_PORT" broker
  start_bg redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no
  wait_port "$REDIS_PORT" redis

  local targets=""
  for i in $(seq 0 $((NODES - 1))); do targets+="'127.0.0.1:$((NODE_PORT0 + i))',"; done
  mkdir -p "$DEMO/prometheus"
  cat >"$DEMO/prometheus/prometheus.yml" <<YAML
global: { scrape_interval: 5s, evaluation_interval: 5s }
scrape_configs:
  - job_name: lagring-self
    static_configs: [{ targets: [${targets%,}] }]
    # Lag series arrive by remote write; scrape only lagring's own metrics.
    metric_relabel_configs: [{ source_labels: [__name__], regex: 'lagring_.*', action: keep }]
YAML
  start_bg prometheus prometheus --config.file=prometheus.yml --storage.tsdb.path=data \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver
  wait_port "$PROM_PORT" prometheus

  start_bg load "$bin/lagring-demo-load" --bootstrap "127.0.0.1:$BROKER_PORT"

  for i in $(seq 0 $((NODES - 1))); do
    cat >"$DEMO/lagring-$i.yaml" <<YAML
node:
  id: lagring-$i
  interval: 5s
redis:
  url: redis://127.0.0.1:$REDIS_PORT
clusters:
  - name: local
    brokers: ["127.0.0.1:$BROKER_PORT"]
remote_write:
  url: http://127.0.0.1:$PROM_PORT/api/v1/write
http:
  listen: 127.0.0.1:$((NODE_PORT0 + i))
YAML
    start_bg "lagring-$i" "$bin/lagring" run --config "$DEMO/lagring-$i.yaml"
  done
  for i in $(seq 0 $((NODES - 1))); do wait_port $((NODE_PORT0 + i)) "lagring-$i"; done

  cat <<TXT

lagring demo is running ($NODES nodes, one tansu broker, Redis, Prometheus).
  Lag in Prometheus:   http://127.0.0.1:$PROM_PORT/graph?g0.expr=kafka_consumer_group_sum_lag_in_offsets&g0.tab=0&g0.range_input=15m
  Per partition:       http://127.0.0.1:$PROM_PORT/graph?g0.expr=kafka_consumer_group_lag_in_offsets&g0.tab=1
  Owned groups/node:   http://127.0.0.1:$PROM_PORT/graph?g0.expr=lagring_owned_groups&g0.tab=1
  Node 0 metrics:      http://127.0.0.1:$NODE_PORT0/metrics   (health: /healthz, /readyz)
  Fleet view:          target/debug/lagring ring --config .demo/lagring-0.yaml
  Logs:                $DEMO/*.log
The producer writes to topic demo-orders: demo-fast keeps up, demo-slow falls behind, and
12 demo-batch-NN groups catch up every 10-40 s (they appear as they first commit).
Stop everything with:  make demo-stop
TXT
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
