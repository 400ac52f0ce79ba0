# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
export DATABASE_URL ?= postgres://postgres:postgres@127.0.0.1:5432/nestogy
export REDIS_URL ?= redis://127.0.0.1:6379
export NESTOGY_BIND ?= 127.0.0.1:8080

.PHONY: run test contract services build bench bench-jobs bench-billing bench-render bench-documents bench-inbound bench-reports bench-console lint

services:
	@bash scripts/services.sh

build:
	$(CARGO) build --release --bin nestogy

## Start PostgreSQL and Redis, migrate, seed a demo company and run everything.
run: services build
	./target/release/nestogy migrate
	./target/release/nestogy seed --company "Demo MSP" --admin-email admin@demo-msp.example
	./target/release/nestogy all

## Start PostgreSQL and Redis and run the whole test suite, then the
## contract test: schemathesis against the real server (scripts/schemathesis.sh).
test: services
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast -- --test-threads=2; \
	fi
	CARGO=$(CARGO) bash scripts/schemathesis.sh

## The contract test alone (see README: The contract test).
contract: services
	CARGO=$(CARGO) bash scripts/schemathesis.sh

## Load-test the API (see README: Benchmarks).
bench: services
	bash scripts/bench.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Benchmark the job platform (see README: Benchmarks).
bench-jobs: services
	bash scripts/bench-jobs.sh

## Benchmark billing runs (see README: Benchmarks).
bench-billing: services
	PROCESSES=1 cargo bench --bench billing
	PROCESSES=2 cargo bench --bench billing

## Benchmark the PDF renderer alone (see README: Benchmarks).
bench-render:
	cargo bench --bench render

## Benchmark rendering and storing documents through the job queue (see README: Benchmarks).
bench-documents: services
	cargo bench --bench documents

## Benchmark mail to tickets: 10,000 messages through Dovecot (see README: Benchmarks).
bench-inbound: services
	cargo bench --bench inbound

## Benchmark report aggregation and reads: 1,000,000 tickets and invoice lines (see benches/reports.rs).
bench-reports: services
	cargo bench --bench reports

## The console's busiest pages for a tenant with 1,000,000 tickets (README: Benchmarks).
bench-console: services
	cargo bench --bench console
