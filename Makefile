# FlowMate: `make run` starts the app (SQLite + in-process queue), `make test` runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUN_VERSION := 1.4.4
export REFLEX_BUN_PATH := $(CURDIR)/.tools/node_modules/bun/bin/bun.exe
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := 0
export NPM_CONFIG_REGISTRY ?= $(shell npm config get registry 2>/dev/null)

.PHONY: run dev test install lint bench bench-engine bench-webhook

$(BIN)/flowmate: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/flowmate

$(REFLEX_BUN_PATH):
	npm install --silent --prefix .tools bun@$(BUN_VERSION)

install: $(BIN)/flowmate $(REFLEX_BUN_PATH)

# The whole app on http://localhost:3000 (UI, REST API and webhooks on one port).
run: install
	$(BIN)/flowmate db upgrade
	$(BIN)/flowmate seed
	$(BIN)/reflex run --env prod

# Development mode with hot reload: UI on :3000, backend/API/webhooks on :8000.
dev: install
	$(BIN)/flowmate db upgrade
	$(BIN)/flowmate seed
	$(BIN)/reflex run

# Plain and integration tests on two pytest-xdist workers (every test makes its own databases,
# Redis namespace and ports), then the browser tests in one process: they share one served app.
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 -m "not browser"
	$(BIN)/pytest -m browser

lint: install
	$(BIN)/ruff check .

bench: bench-engine bench-webhook

bench-engine: install
	$(BIN)/python bench/engine_throughput.py

bench-webhook: install
	$(BIN)/python bench/webhook_load.py
