# lagring — the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: setup test test-deploy lint unit demo demo-stop demo-status bench soak probe-soak fmt image base-image

## Install what is missing (Debian packages, the cached tansu broker).
setup:
	@bash scripts/setup.sh

## Lint and run every test against real servers (tansu, redis-server, prometheus),
## then test deploy/ for real (image, container fleet, manifests, alerts, dashboard).
test: setup lint
	$(CARGO) test --workspace --locked
	@bash scripts/test-deploy.sh

## Only the deploy/ tests (scripts/test-deploy.sh; `bash scripts/test-deploy.sh fleet` for one part).
test-deploy:
	@bash scripts/test-deploy.sh

## Everything that runs in one process (no tansu, Redis or Prometheus): unit tests of every
## crate, the in-process fleet (3 nodes over one memory store and the simulator), the native
## client against the simulator, the remote-write sink against local receivers.
unit:
	@bash scripts/unit.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Start a local broker, Redis, Prometheus and a lagring fleet; prints where to look.
## First run: starts on the simulator at once while the tansu broker builds in the background.
demo:
	@bash scripts/demo.sh start

demo-stop:
	@bash scripts/demo.sh stop

## Is the demo running; how far is the background tansu build.
demo-status:
	@bash scripts/demo.sh status

## Container image lagring:<version> from deploy/docker/Dockerfile (release binary built on the host).
image:
	@bash scripts/image.sh

## The local Debian base image the Dockerfile builds from (debootstrap + docker import, cached).
base-image:
	@bash scripts/base-image.sh

## 10-minute chaos run of a real 3-node fleet (kill -9, SIGTERM, Redis restarts, receiver 503s, the receiver
## refusing one node, a hung broker, a silent broker; a malformed broker throughout); `make test` runs it for 2 minutes.
soak: setup
	$(CARGO) build -p lagring
	LAGRING_SOAK_SECS=600 $(CARGO) test -p lagring-e2e --test fleet_chaos -- --nocapture

## The end-to-end probe's 5-minute steady run (300 slots), then SIGTERM and kill -9 of its owner;
## `make test` runs the same suite with 10 steady slots.
probe-soak: setup
	$(CARGO) build -p lagring
	PROBE_STEADY_SLOTS=300 $(CARGO) test -p lagring-e2e --test probe_fleet -- --nocapture

## Benchmarks against the cluster simulator (not part of `make test`).
bench: setup
	@bash scripts/bench.sh

fmt:
	$(CARGO) fmt --all
