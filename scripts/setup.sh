#!/usr/bin/env bash
# Idempotent set-up for lagring's tests and demo.
#
# Installs the Debian packages the test bed needs (redis-server, prometheus, the
# OpenSSL headers the rdkafka `ssl` feature links against, Cyrus SASL for its
# `gssapi` feature, a Kerberos KDC for the GSSAPI suites) and builds the tansu
# Kafka-API broker once, caching the binary under a stable path outside the repo
# keyed by version and features, so a second run takes seconds.
set -euo pipefail

TANSU_VERSION="0.6.0"
TANSU_FEATURES="libsql"
CACHE_DIR="${LAGRING_CACHE_DIR:-$HOME/.cache/lagring}"
TANSU_ROOT="$CACHE_DIR/tansu-$TANSU_VERSION-$TANSU_FEATURES"
TANSU_BIN="$TANSU_ROOT/bin/tansu"

log() { printf 'setup: %s\n' "$*" >&2; }

need_pkgs=()
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
command -v prometheus >/dev/null 2>&1 || need_pkgs+=(prometheus)
command -v pkg-config >/dev/null 2>&1 || need_pkgs+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need_pkgs+=(libssl-dev)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
# libfaketime: the clock-skew suite runs one node with its wall clock ahead.
dpkg -s faketime >/dev/null 2>&1 || need_pkgs+=(faketime)
# librdkafka's Kerberos (rdkafka `gssapi`: Cyrus SASL and its GSSAPI plugin); the Kerberos
# suites start a local KDC from the MIT packages, and the simulator's Kerberos acceptor
# (libgssapi) binds MIT's GSS-API with bindgen, which needs libclang.
for pkg in libsasl2-dev libsasl2-modules-gssapi-mit libkrb5-dev libclang-dev krb5-kdc krb5-admin-server krb5-user; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done

if ((${#need_pkgs[@]})); then
  log "installing Debian packages: ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
  # The Debian prometheus package may start a system service; the tests start
  # their own instances on free ports, so stop it if it is running.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop prometheus >/dev/null 2>&1 || true; fi
else
  log "Debian packages present"
fi

if [ -x "$TANSU_BIN" ] && "$TANSU_BIN" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  log "tansu $TANSU_VERSION ($TANSU_FEATURES) cached at $TANSU_BIN"
else
  log "building tansu $TANSU_VERSION with features $TANSU_FEATURES (about 25 min on 2 cores, once)"
  mkdir -p "$TANSU_ROOT"
  CARGO_TARGET_DIR="$CACHE_DIR/tansu-build-target" \
    cargo install tansu --version "$TANSU_VERSION" --locked --features "$TANSU_FEATURES" \
      --root "$TANSU_ROOT"
  rm -rf "$CACHE_DIR/tansu-build-target"
fi

# Tell the testkit and the demo where the broker is.
printf '%s\n' "$TANSU_BIN" > "$CACHE_DIR/tansu-path"
log "ready: tansu=$TANSU_BIN redis-server=$(command -v redis-server) prometheus=$(command -v prometheus)"
