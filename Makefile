# lagring — the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: setup test lint unit demo demo-stop bench fmt

## Install what is missing (Debian packages, the cached tansu broker).
setup:
	@bash scripts/setup.sh

## Lint and run every test against real servers (tansu, redis-server, prometheus).
test: setup lint
	$(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Start a local broker, Redis, Prometheus and a lagring fleet; prints where to look.
demo: setup
	@bash scripts/demo.sh start

demo-stop:
	@bash scripts/demo.sh stop

## Benchmarks against the cluster simulator (not part of `make test`).
bench: setup
	@bash scripts/bench.sh

fmt:
	$(CARGO) fmt --all
