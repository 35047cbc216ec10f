#!/usr/bin/env bash
# `make image`: builds the lagring container image from deploy/docker/Dockerfile.
#
# No Rust toolchain image can be pulled here and Debian's rustc is too old for this
# workspace, so the release binary is built on the host (Debian bookworm, like the base
# image) and handed to `docker build` in a context that holds nothing else.
#
#   scripts/image.sh                 # cargo build --release, then the image lagring:<version>
#   LAGRING_BIN=path scripts/image.sh   # use an existing binary instead of building
# Prints the image tag on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

log() { printf 'image: %s\n' "$*" >&2; }

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
TAG="${LAGRING_IMAGE:-lagring:$VERSION}"

base="$(bash scripts/base-image.sh)"
bin="${LAGRING_BIN:-}"
if [ -z "$bin" ]; then
  log "cargo build --release -p lagring"
  cargo build --release --locked -p lagring >&2
  bin="$ROOT/target/release/lagring"
fi
[ -x "$bin" ] || { log "no binary at $bin"; exit 1; }

ctx="$(mktemp -d "${TMPDIR:-/tmp}/lagring-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/lagring"
# Debug info is no use in the image; the host binary is left as it is.
objcopy --strip-debug "$ctx/lagring" 2>/dev/null || strip --strip-debug "$ctx/lagring" 2>/dev/null || true

log "docker build $TAG (base $base)"
# stderr only on failure: the classic builder warns about its own deprecation on every build.
docker build --quiet -f deploy/docker/Dockerfile --build-arg "BASE_IMAGE=$base" \
  --build-arg "VERSION=$VERSION" -t "$TAG" "$ctx" >/dev/null 2>"$ctx.err" || { cat "$ctx.err" >&2; rm -f "$ctx.err"; exit 1; }
rm -f "$ctx.err"
# Untagged images of earlier builds (a replaced lagring image, the assemble stage) pile up
# with every new binary; remove ours, nothing else.
docker image prune -f --filter label=lagring.build=image >/dev/null
size="$(docker image inspect -f '{{.Size}}' "$TAG")"
log "$TAG: $((size / 1000 / 1000)) MB ($size bytes)"
echo "$TAG"
