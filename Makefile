# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CONFIG ?= config.toml
STAMP  := $(VENV)/.installed
# `make run` needs only what running needs; tests, lint and benchmarks add the test extras.
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run dist test lint typecheck unit system-deps bench bench-icmp bench-snmp bench-http bench-traps bench-attack bench-paths bench-detect clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/continuity-monitor run --config $(CONFIG)

# A wheel and an sdist in dist/ (what `pip install` or `pipx install` takes).
dist: $(STAMP)
	$(PY) -m build --outdir dist .

# System packages the tests use (promtool, nftables, ...); installed only when
# missing, and only where we can (root on Debian). Elsewhere the tests that
# need them skip and say why.
system-deps:
	@sh tests/setup-system.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check monitor probes alerts tests bench
	$(VENV)/bin/ruff format --check monitor probes alerts tests bench
	$(VENV)/bin/mypy monitor probes alerts

test: system-deps $(STAMP) lint
	$(PY) -m pytest -q -p no:cacheprovider --durations=15 tests

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

bench: bench-icmp bench-snmp bench-http bench-traps bench-attack bench-detect

bench-icmp: system-deps $(STAMP)
	$(PY) -m bench.icmp

bench-snmp: system-deps $(STAMP)
	$(PY) -m bench.snmp

bench-http: system-deps $(STAMP)
	$(PY) -m bench.http

bench-traps: system-deps $(STAMP)
	$(PY) -m bench.traps_flood

bench-attack: system-deps $(STAMP)
	$(PY) -m bench.attack

# Path traces beside traceroute (root, network namespaces; about a minute)
bench-paths: system-deps $(STAMP)
	$(PY) -m bench.path_trace

# Detection lab (root, network namespaces; ~25 minutes, `BENCH_DETECT_ARGS=--quick` ~5)
BENCH_DETECT_ARGS ?=
bench-detect: system-deps $(STAMP)
	$(PY) -m bench.detect $(BENCH_DETECT_ARGS)

# Soak and fault lab (root; 30 minutes by default): make soak SOAK_MINUTES=10
SOAK_MINUTES ?= 30
.PHONY: soak
soak: system-deps $(STAMP)
	$(PY) -m bench.soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache dist build
