# One command per job; CI (.ci/run) calls the same targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help setup run model test test-all chaos lint proto bench gpu-bench bench-perf clean

help:
	@echo "make run    - set up, train+export a model if none is published, serve Triton + gateway"
	@echo "make test   - set up, run the default test suite (no slow/gpu tests)"
	@echo "make lint   - ruff, mypy, buf lint, stale generated-code check"
	@echo "make chaos  - fault scenarios on real PostgreSQL/gateways/Triton; report in .state/chaos/report.md"
	@echo "make bench  - in-process vs Triton vs gateway, INT8, long texts: docs/benchmarks.md"
	@echo "              (BENCH_ARGS=--quick: 1-minute smoke run; --gpu-results=PATH; --strict)"
	@echo "make gpu-bench - GPU throughput against batch size and length (scripts/gpu_bench.py)"
	@echo "make bench-perf - perf_analyzer load test of the running ensemble with SST-2 sentences"

# The virtual environment, rebuilt when pyproject.toml or a lock changes. Every package comes
# from a hash-checked lock (locks/, scripts/lock_requirements.py) with nothing pip would add:
# torch first and on its own, the CPU build from PyTorch's index (PyPI's Linux torch is the
# CUDA build), then the rest (pip and setuptools included) from PyPI; then the project from
# this tree, built by the locked setuptools.
$(STAMP): pyproject.toml locks/torch-cpu.txt locks/dev.txt scripts/install-system-deps.sh
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r locks/torch-cpu.txt
	$(BIN)/pip install -q --require-hashes --no-deps -r locks/dev.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	scripts/install-system-deps.sh
	touch $(STAMP)

setup: $(STAMP)

# Train (quick preset) and export when the repository holds no published version;
# re-export the newest registered version, without training, when the published one's
# pipeline.json is not this release's format (a state dir left by another release).
model: setup
	@report=$$($(BIN)/python -m sentiment.cli models --json) || exit 1; \
	state=$$(echo "$$report" | $(BIN)/python -c 'import json,sys; \
		r = json.load(sys.stdin)["repository"]; \
		print("current" if r["pipeline_current"] else "stale" if r["latest_version"] else "none")') \
		|| exit 1; \
	case "$$state" in \
	current) echo "model repository already holds a current published version" ;; \
	stale) echo "the published version has an older pipeline format: re-exporting" \
		&& $(BIN)/sentiment export --no-load --serve ;; \
	*) $(BIN)/sentiment train --preset quick && $(BIN)/sentiment export --no-load ;; \
	esac

run: model
	$(BIN)/sentiment up

# infra-tools: checkov's own venv, which the infra tests run.
test: infra-tools
	$(BIN)/python -m pytest

test-all: infra-tools
	$(BIN)/python -m pytest -m "not gpu and not chaos"

# The chaos suite (tests/chaos): its own PostgreSQL (initdb), gateway processes, a real
# Triton; one table per scenario, printed and written to $(CHAOS_REPORT).
# CHAOS_PG_OUTAGE_S shortens the PostgreSQL outage scenario (default 30 s).
CHAOS_REPORT ?= .state/chaos/report.md
chaos: setup
	CHAOS_REPORT=$(CHAOS_REPORT) $(BIN)/python -m pytest tests/chaos -m chaos

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy config contract telemetry store api client training export serving gateway monitoring retention rollout sentiment
	$(BIN)/buf lint
	$(BIN)/python scripts/gen_proto.py --check
	$(BIN)/python scripts/gen_infra_settings.py --check
	$(BIN)/python scripts/lock_requirements.py --check

# Regenerate api/generated/ from proto/ (committed; `make lint` fails when stale).
proto: setup
	$(BIN)/python scripts/gen_proto.py

bench-perf: setup
	scripts/perf-analyzer.sh

# One run of alternating rounds on the published model (make model): starts its own Triton
# and gateway on free ports, prints the issue-12 targets as PASS/FAIL (exit 1 on a FAIL only
# with --strict), writes docs/benchmarks.md and docs/benchmarks/*.png. ~5-8 min on 2 cores.
BENCH_ARGS ?=
bench: model
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

# GPU throughput grid; needs torch only, so it also runs with a lent GPU machine's own
# python3 (no venv there): python3 scripts/gpu_bench.py [--torchscript model.pt] [--onnx ...].
GPU_BENCH_ARGS ?=
gpu-bench:
	$(if $(wildcard $(BIN)/python),$(BIN)/python,python3) scripts/gpu_bench.py $(GPU_BENCH_ARGS)

# Regenerate monitoring/grafana/dashboards/*.json from monitoring/dashboards.py.
.PHONY: dashboards
dashboards: setup
	$(BIN)/python -m monitoring.dashboards

# checkov lives in its own venv: its pins (packaging 23, networkx 2) conflict with ours.
CHECKOV_VENV := $(VENV)/tools/checkov
CHECKOV_VERSION := 3.3.30

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q "checkov==$(CHECKOV_VERSION)"

.PHONY: infra-tools check-infra
infra-tools: setup $(CHECKOV_VENV)/bin/checkov

# Static infrastructure checks (hadolint, docker-compose config, hcl2 assertions, checkov).
check-infra: infra-tools
	CI=$${CI:-1} $(BIN)/python -m pytest tests/infra -q

clean:
	rm -rf .state
