# Stagedoor: the two commands a new user needs are `make run` and `make test`.
.PHONY: run test bench build clean

## Start PostgreSQL (local data dir unless DATABASE_URL is set), migrate, and run all three processes.
run:
	./scripts/run.sh

## Run the whole test suite against a throwaway PostgreSQL that this command starts and removes.
test:
	./scripts/test.sh

## Benchmarks: prints a table (release build, throwaway PostgreSQL).
bench:
	./scripts/bench.sh

build:
	swift build -c release

clean:
	rm -rf .build .data .run
