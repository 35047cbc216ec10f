#!/usr/bin/env bash
# Makes the local base image that deploy/docker/Dockerfile builds from.
#
# No image can be pulled on these machines (the Docker engine has no registry), so the
# base is a Debian bookworm `debootstrap --variant=minbase` rootfs imported with
# `docker import`. The rootfs tarball is cached under ~/.cache/lagring, so an engine
# whose images were pruned re-imports in seconds; the image is skipped when it exists.
#
#   scripts/base-image.sh            # make (or reuse) the image, print its tag
#   scripts/base-image.sh --tag      # print the tag only
#
# Bump BASE_VERSION whenever the package set or the recipe changes.
set -euo pipefail

BASE_VERSION="3"
SUITE="bookworm"
# ca-certificates: the CA bundle the runtime image copies (brings libssl3 too).
# busybox-static: its `wget` applet is the image's HEALTHCHECK probe (no shell).
# libsasl2-2 + libsasl2-modules-gssapi-mit: librdkafka's Kerberos login (Cyrus SASL and the
# GSSAPI plugin it loads at run time).
INCLUDE="ca-certificates,busybox-static,libsasl2-2,libsasl2-modules-gssapi-mit"
TAG="${LAGRING_BASE_IMAGE:-lagring-base:$SUITE-minbase-$BASE_VERSION}"
CACHE_DIR="${LAGRING_CACHE_DIR:-$HOME/.cache/lagring}"
TARBALL="$CACHE_DIR/base/$SUITE-minbase-$BASE_VERSION.tar"

log() { printf 'base-image: %s\n' "$*" >&2; }

if [ "${1:-}" = "--tag" ]; then echo "$TAG"; exit 0; fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# The Debian mirror this machine's apt uses (deb822 `URIs:` or one-line `deb URI suite`).
apt_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    uri="$(awk -v s="$SUITE" '
      /^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
      /^$/ { if (hit && u) { print u; done = 1; exit } u = ""; hit = 0 }
      END { if (!done && hit && u) print u }' "$f")"
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$f" ] || continue
    uri="$(awk -v s="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) == s) { print $i; exit } } }' "$f")"
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  return 1
}

if docker image inspect "$TAG" >/dev/null 2>&1; then
  log "$TAG present"
  echo "$TAG"; exit 0
fi

if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mirror="${LAGRING_DEBIAN_MIRROR:-$(apt_mirror || true)}"
  [ -n "$mirror" ] || { log "no $SUITE mirror in the apt sources; set LAGRING_DEBIAN_MIRROR"; exit 1; }
  rootfs="$(mktemp -d "${TMPDIR:-/tmp}/lagring-rootfs.XXXXXX")"
  trap '$SUDO rm -rf "$rootfs"' EXIT
  log "debootstrap --variant=minbase $SUITE from $mirror (about a minute, once)"
  # A failed download (network) is retried, at most 3 attempts in all.
  for attempt in 1 2 3; do
    if $SUDO debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
      break
    fi
    tail -5 "$rootfs.log" >&2
    [ "$attempt" -lt 3 ] || { log "debootstrap failed 3 times (full log: $rootfs.log)"; exit 1; }
    log "debootstrap attempt $attempt failed; retrying"
    $SUDO rm -rf "$rootfs"; mkdir -p "$rootfs"
  done
  rm -f "$rootfs.log"
  # Nothing in the image should depend on the build machine's apt lists or caches.
  $SUDO rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  mkdir -p "$(dirname "$TARBALL")"
  $SUDO tar --numeric-owner -C "$rootfs" -cf "$TARBALL.part" .
  mv "$TARBALL.part" "$TARBALL"
  log "rootfs cached at $TARBALL ($(du -h "$TARBALL" | cut -f1))"
fi

log "docker import $TARBALL as $TAG"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --message "debootstrap --variant=minbase --include=$INCLUDE $SUITE (lagring base $BASE_VERSION)" \
  "$TARBALL" "$TAG" >/dev/null
echo "$TAG"
