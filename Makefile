# pgrelay — the two commands a new user needs are `make demo` and `make test`.
# Every target installs what it needs: Node 24 (npm registry) when the system node is older than 22.12,
# npm dependencies, PostgreSQL and kcat (Debian), Kafka jars (Maven Central). Downloads are cached in
# $(PGRELAY_CACHE) so clean checkouts and repeated runs reuse them.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

export PGRELAY_CACHE ?= $(HOME)/.cache/pgrelay
KAFKA_VERSION ?= 3.9.2
NODE_BIN := $(shell scripts/toolchain.sh node-bin)
export PATH := $(NODE_BIN):$(PATH)
# Native addons build against the runtime's own headers, not the system's (~/.npmrc may say /usr).
export npm_config_nodedir := $(abspath $(NODE_BIN)/..)
NODE_VERSION := $(shell $(NODE_BIN)/node -p process.versions.node)
# dpkg-dev, rpm: make deb, make rpm; lintian, rpmlint: the packaging test checks what they build.
PACKAGING_DEBS := dpkg-dev rpm lintian rpmlint
DEBS := postgresql kcat prometheus $(PACKAGING_DEBS)
TEST_ENV = PGRELAY_KAFKA_LIBS="$$(scripts/toolchain.sh kafka-libs $(KAFKA_VERSION))" PGRELAY_KAFKA_VERSION=$(KAFKA_VERSION)
# The tests that need no services run two files at a time; the integration tests one at a time,
# since they share one PostgreSQL and one broker, and some stop or restart them.
UNIT_TESTS ?= 'dist/test/unit/**/*.test.js'
TESTS ?= 'dist/test/integration/**/*.test.js'
# A hung test (or suite: node applies the limit to each describe too) fails after 10 minutes instead of
# holding the run until CI's limit. On 2 cores at a load average of 20 the slowest test took 91 s and
# the slowest suite 94 s, apart from the packaging suite, which waits for a machine-wide lock and sets
# its own limit.
TEST_TIMEOUT_MS := 600000
# A test file's process ends once its tests and hooks are done: a Kafka consumer closed while its
# group rebalances can leave @platformatic/kafka's 60 to 120 s heartbeat-stall timer armed, which
# held a test file's process 100 s past its 14 s test (files run one at a time). Ending it that way
# could cut off the end of its report to the runner; blocking-stdout.js makes the report whole.
TEST_FLAGS := --test-reporter=spec --test-timeout=$(TEST_TIMEOUT_MS) --test-force-exit \
	--import ./dist/test/harness/blocking-stdout.js
RUN_UNIT_TESTS = node --test $(TEST_FLAGS) --test-concurrency=2 $(UNIT_TESTS)

.PHONY: build deps debs lint lint-code lint-format test test-unit demo bench faults stage deb rpm packages clean distclean help

help:
	@echo "make build    compile TypeScript into dist/ and bundle dist/pgrelay.js (installs Node 24 and npm deps when missing)"
	@echo "make demo     throwaway PostgreSQL + Kafka + pgrelay; rows become Kafka messages"
	@echo "make test     unit and integration tests against real PostgreSQL and Kafka"
	@echo "make bench    throughput, latency and memory figures next to their baselines"
	@echo "make faults   kill, restart and poison pgrelay, Kafka and PostgreSQL; one table of what was lost"
	@echo "make deb rpm  DEB and RPM packages (systemd service, bundled Node) under packaging/build/"

node_modules/.installed-$(NODE_VERSION): package.json package-lock.json
	rm -f node_modules/.installed-*
	npm ci --no-audit --no-fund
	node -e "require('better-sqlite3')(':memory:').close()"
	touch $@

deps: node_modules/.installed-$(NODE_VERSION)
	mkdir -p .tools && ln -sfn "$(NODE_BIN)/node" .tools/node

debs:
	scripts/toolchain.sh debs $(DEBS)

build: deps
	npx tsc -p tsconfig.json
	node scripts/bundle.mjs dist/src/cli/main.js dist/pgrelay.js

lint: lint-code lint-format

lint-code: deps
	npx eslint .

lint-format: deps
	npx prettier --check .

test-unit: build
	$(RUN_UNIT_TESTS)

# Compiling, eslint and prettier each keep one core busy: side by side they take half as long.
test: debs
	$(MAKE) --no-print-directory -j2 --output-sync=target build lint
	$(RUN_UNIT_TESTS)
	$(TEST_ENV) node dist/test/harness/run.js -- node --test $(TEST_FLAGS) --test-concurrency=1 $(TESTS)

demo: build debs
	$(TEST_ENV) node dist/test/harness/demo.js

bench: build debs
	$(TEST_ENV) node dist/test/harness/run.js -- node dist/bench/run.js

# FAULTS="kill sigterm" runs only the cases whose name holds one of the words; FAULTS_SEED moves the moments.
faults: build debs
	$(TEST_ENV) node dist/test/harness/run.js -- node dist/faults/run.js $(FAULTS)

# One staged tree feeds both packages; packaging/build.sh compiles its own copy of src/ and plugins/.
stage: deps
	scripts/toolchain.sh debs $(PACKAGING_DEBS)
	packaging/build.sh stage

deb: stage
	packaging/build.sh deb

rpm: stage
	packaging/build.sh rpm

packages: deb rpm

clean:
	rm -rf dist packaging/build .tools

distclean: clean
	rm -rf node_modules
