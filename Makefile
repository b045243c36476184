# Stagedoor: the two commands a new user needs are `make run` and `make test`.
.PHONY: run test bench bench-peers bench-replicas build clean reset up down chaos scaling schema fuzz

## Start PostgreSQL (local data dir unless DATABASE_URL is set), migrate, and run all three processes.
run:
	./scripts/run.sh

## Run the whole test suite against a throwaway PostgreSQL that this command starts and removes.
test:
	./scripts/test.sh

## The HTTP contract fuzzed (schemathesis, every check, as a fan and as an operator), randomized, for FUZZ_SECONDS (600).
fuzz:
	./scripts/fuzz.sh $${FUZZ_SECONDS:-600}

## Benchmarks: prints a table (release build, throwaway PostgreSQL).
bench:
	./scripts/bench.sh

## The job engine's drain beside PgQueuer (from PyPI) on the same PostgreSQL.
bench-peers:
	BENCH_SECTIONS=peers ./scripts/bench.sh

## Polls and seat maps through a gateway reading from the primary, and one reading from two streaming replicas.
bench-replicas:
	BENCH_SECTIONS=replicas ./scripts/bench.sh

## The local topology: N gateways behind nginx, K queue workers, M payment workers (GATEWAYS=3 QUEUE_WORKERS=2 PAYMENT_WORKERS=3).
up:
	./deploy/local/stagedoor-local.sh up

down:
	./deploy/local/stagedoor-local.sh down

## A flash crowd of U users (default 20,000) while gateways and workers are SIGKILLed and PostgreSQL restarts; checks the invariants.
chaos:
	./scripts/chaos.sh

## Reservations/s through the topology for 1 and 3 gateways × 1, 2, 3 payment workers, with where the CPU goes.
scaling:
	./scripts/scaling.sh

## Writes sql/schema.sql, the schema the migrations and functions add up to (a test fails when it is stale).
schema:
	./scripts/schema.sh

build:
	swift build -c release

## Removes the local databases of `make run` and `make up` (their data dirs); the next start makes them anew.
reset:
	rm -rf .data .run

clean:
	rm -rf .build .data .run
