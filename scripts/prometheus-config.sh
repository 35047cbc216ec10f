# Sourced by demo.sh and test-deploy.sh: the Prometheus config both use, so the
# demo and the deploy test scrape lagring the way the PodMonitor does.

# prometheus_config INTERVAL TARGET... — prints a prometheus.yml that loads
# alerts.yaml, scrapes lagring's own metrics (lagring_*) from every TARGET
# (host:port) every INTERVAL; lag series arrive by remote write.
prometheus_config() {
  local interval="$1"; shift
  local targets="" t
  for t in "$@"; do targets+="'$t',"; done
  cat <<YAML
global: { scrape_interval: $interval, evaluation_interval: $interval }
rule_files: [alerts.yaml]
scrape_configs:
  - job_name: lagring
    static_configs: [{ targets: [${targets%,}] }]
    # Lag series arrive by remote write; scrape only lagring's own metrics (as the PodMonitor).
    metric_relabel_configs: [{ source_labels: [__name__], regex: 'lagring_.*', action: keep }]
YAML
}
