# nostream in C - build, test, fuzz and benchmark.
#
#   make            build the relay's core library (and, later, the binary)
#   make test       unit tests, the same under ASan+UBSan, short fuzz runs
#   make fuzz       long libFuzzer runs (FUZZ_SECONDS each, default 300)
#   make bench-core parse+hash+verify rate against the bare verify rate
#
# Everything lands in build/. Dependencies come from pkg-config only.

CC      ?= cc
CLANG   ?= clang
PKGS    := jansson libsecp256k1 libcrypto yaml-0.1 hiredis
RELAY_PKGS := libwebsockets libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lpthread
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Isrc
SAN_FLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

CORE_SRC := src/err.c src/buf.c src/hex.c src/event.c src/event_fast.c src/filter.c src/query.c src/msg.c \
            src/subs.c src/settings.c src/ratelimit.c src/log.c
RELAY_SRC := src/main.c src/ws.c src/store_pg.c src/storage.c src/ingest.c src/queue.c src/config.c
RELAY_OBJ := $(RELAY_SRC:src/%.c=build/obj/%.o)
RELAY_CFLAGS := $(shell pkg-config --cflags $(RELAY_PKGS))
RELAY_LIBS   := $(shell pkg-config --libs $(RELAY_PKGS))
CORE_OBJ := $(CORE_SRC:src/%.c=build/obj/%.o)
SAN_OBJ  := $(CORE_SRC:src/%.c=build/san/%.o)

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=build/unit/%)
UNIT_SAN   := $(UNIT_SRC:tests/unit/%.c=build/unit-san/%)
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)

FUZZ_TARGETS := event filter settings message query
FUZZ_BIN     := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 5

.PHONY: all test unit unit-san fuzz fuzz-smoke integration integration-san distributed docker-test bench bench-core clean
all: build/nostream

build/nostream: $(RELAY_OBJ) build/libnscore.a
	$(CC) $(RELAY_OBJ) build/libnscore.a -o $@ $(RELAY_LIBS) $(PKG_LIBS)

# The same relay under ASan+UBSan, for the integration suite.
RELAY_SAN_OBJ := $(RELAY_SRC:src/%.c=build/san/%.o)
build/nostream-san: $(RELAY_SAN_OBJ) build/libnscore-san.a
	$(CC) $(SAN_FLAGS) $(RELAY_SAN_OBJ) build/libnscore-san.a -o $@ $(RELAY_LIBS) $(PKG_LIBS)

build/obj/%.o: src/%.c $(wildcard src/*.h) | build/obj
	$(CC) $(ALL_CFLAGS) $(RELAY_CFLAGS) -c $< -o $@
build/san/%.o: src/%.c $(wildcard src/*.h) | build/san
	$(CC) $(ALL_CFLAGS) $(RELAY_CFLAGS) $(SAN_FLAGS) -c $< -o $@
build/libnscore.a: $(CORE_OBJ)
	ar rcs $@ $^
build/libnscore-san.a: $(SAN_OBJ)
	ar rcs $@ $^

build/unit/%: tests/unit/%.c tests/unit/testutil.h build/libnscore.a | build/unit
	$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Itests/unit $< build/libnscore.a -o $@ $(CMOCKA_LIBS) $(PKG_LIBS)
build/unit-san/%: tests/unit/%.c tests/unit/testutil.h build/libnscore-san.a | build/unit-san
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(CMOCKA_CFLAGS) -Itests/unit $< build/libnscore-san.a -o $@ $(CMOCKA_LIBS) $(PKG_LIBS)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/unit/testutil.h $(CORE_SRC) $(wildcard src/*.h) | build/fuzz
	$(CLANG) -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  $(PKG_CFLAGS) -Isrc -Itests/unit $< $(CORE_SRC) -o $@ $(PKG_LIBS)

# fuzz_message.c includes fuzz_query.c to reuse its SQL checks.
build/fuzz/fuzz_message: tests/fuzz/fuzz_query.c

build/explain_plans: tests/integration/explain_plans.c build/obj/config.o build/libnscore.a
	$(CC) $(ALL_CFLAGS) $(RELAY_CFLAGS) $< build/obj/config.o build/libnscore.a -o $@ $(RELAY_LIBS) $(PKG_LIBS)

# Load tools (bench/README.md): the load generator and the database seeder.
LOADGEN_PKGS := libwebsockets libuv
build/loadgen: bench/loadgen.c bench/evgen.c bench/evgen.h build/libnscore.a
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(LOADGEN_PKGS)) -Ibench bench/loadgen.c bench/evgen.c \
	  build/libnscore.a -o $@ $(shell pkg-config --libs $(LOADGEN_PKGS)) $(PKG_LIBS) -lm
build/seed: bench/seed.c bench/evgen.c bench/evgen.h build/libnscore.a
	$(CC) $(ALL_CFLAGS) -Ibench bench/seed.c bench/evgen.c build/libnscore.a -o $@ $(PKG_LIBS) -lm

# A throwaway PostgreSQL and relay, BENCH_EVENTS seeded events, the standard
# scenarios; ends with one summary line per scenario (bench/README.md).
bench: build/nostream build/loadgen build/seed
	bench/run.sh

build/bench_core: bench/bench_core.c build/libnscore.a
	$(CC) $(ALL_CFLAGS) $< build/libnscore.a -o $@ $(PKG_LIBS)

build/obj build/san build/unit build/unit-san build/fuzz:
	mkdir -p $@

# Unit tests run from the repository root: the vector tests read tests/vectors/.
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done
unit-san: $(UNIT_SAN)
	@set -e; for t in $(UNIT_SAN); do echo "== $$t (ASan+UBSan)"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $$t; done

# Each fuzz target replays its regression cases, then explores for a while.
fuzz-smoke: $(FUZZ_BIN)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  log=build/fuzz/$$t.log; mkdir -p build/fuzz/corpus/$$t; \
	  { build/fuzz/fuzz_$$t -runs=0 tests/fuzz/regress/$$t tests/fuzz/seed/$$t && \
	    build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=65536 \
	      -artifact_prefix=build/fuzz/ build/fuzz/corpus/$$t tests/fuzz/seed/$$t; } >$$log 2>&1 \
	  || { tail -n 40 $$log; echo "fuzz_$$t FAILED (log: $$log)"; exit 1; }; \
	  echo "fuzz_$$t: regression cases passed; $$(grep '^Done' $$log | tail -n 1)"; \
	done
fuzz: $(FUZZ_BIN)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -artifact_prefix=build/fuzz/ build/fuzz/corpus/$$t tests/fuzz/seed/$$t; \
	done

# Integration: a throwaway PostgreSQL, the real relay binary, real clients
# (ws + nostr-tools on node). See tests/integration/README.md.
tests/node_modules/.package-lock.json: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund --loglevel=error
integration: build/nostream build/explain_plans tests/node_modules/.package-lock.json
	cd tests && node --test --test-concurrency=1 integration/

# The whole suite again against the ASan+UBSan relay (leaks included: the
# harness requires exit status 0 at SIGTERM, which LeakSanitizer would turn
# non-zero). The plan check is about PostgreSQL, so a small table suffices.
integration-san: build/nostream-san build/explain_plans tests/node_modules/.package-lock.json
	cd tests && NOSTREAM_BIN=../build/nostream-san EXPLAIN_EVENTS=20000 \
	  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  node --test --test-concurrency=1 integration/

# Distributed storage on real hosts: network namespaces, each with its own
# yggdrasil and PostgreSQL (tests/distributed/README.md). Needs root, as CI
# has; elsewhere it says so and is skipped.
DISTRIBUTED_TESTS := tests/distributed/scripts-args.test.sh tests/distributed/scripts-local.test.sh \
                     tests/distributed/topology-check.sh tests/distributed/e2e.test.sh
distributed: build/nostream
	@if [ "$$(id -u)" -ne 0 ]; then echo "distributed: SKIPPED (needs root for network namespaces)"; exit 0; fi; \
	set -e; for t in $(DISTRIBUTED_TESTS); do echo "== $$t"; bash $$t; done

# The Docker path for real: Debian's dockerd (private socket and data root),
# images built FROM debian:bookworm (made with debootstrap when missing),
# the coordinator stack and a storage node from the two compose files,
# registration with the spec's command, an event through the relay landing
# on the node. Root only (tests/docker/README.md).
docker-test: tests/node_modules/.package-lock.json
	@if [ "$$(id -u)" -ne 0 ]; then echo "docker-test: SKIPPED (needs root)"; exit 0; fi; \
	bash tests/docker/compose.test.sh

# Soak (tests/soak/README.md): mixed load while a storage node's and the
# coordinator's PostgreSQL are killed and restarted; every OK-true event
# readable at the end, no hung REQ, no crash, flat memory. Root only, like
# `distributed`; the script itself says SKIPPED elsewhere. soak-short
# (2 min of load, about 2.5 min in all) runs in `make test`; soak is 30 min.
.PHONY: soak soak-short
soak-short: build/nostream tests/node_modules/.package-lock.json
	bash tests/soak/soak.sh --minutes 2 --kill-every 35
soak: build/nostream tests/node_modules/.package-lock.json
	bash tests/soak/soak.sh --minutes 30 --kill-every 180

test: unit unit-san fuzz-smoke integration integration-san distributed soak-short docker-test
	@echo "make test: all passed"

bench-core: build/bench_core
	build/bench_core

clean:
	rm -rf build
