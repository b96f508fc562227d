# Conveyor: every target creates the virtualenv it needs. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

.PHONY: help
help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: install
install: $(STAMP) ## create .venv and install Conveyor with its dev tools

.PHONY: run
run: $(STAMP) ## migrate the embedded SQLite store and start `conveyor dev`
	$(BIN)/conveyor migrate --url sqlite:///conveyor.db
	$(BIN)/conveyor dev --url sqlite:///conveyor.db

.PHONY: test
test: $(STAMP) ## lint, then the whole test suite on SQLite and PostgreSQL, two tests at a time
	$(MAKE) lint
	$(BIN)/pytest -q -n 2

.PHONY: lint
lint: $(STAMP) ## ruff format check, ruff, mypy --strict, import contracts
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: format
format: $(STAMP) ## format and fix what ruff can
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

.PHONY: soak
soak: $(STAMP) ## three workers race on a per-second cron schedule for 3 minutes (both backends)
	CONVEYOR_CRON_SOAK_SECONDS=180 $(BIN)/pytest -q -p no:randomly \
		tests/scheduler/test_cron.py -k three_workers_fire_each_second_once

.PHONY: torture
torture: $(STAMP) ## the torture suite at full size (kills, outages, full disk, clock jumps), then its scorecard
	rm -f torture-results.jsonl
	status=0; CONVEYOR_TORTURE=full CONVEYOR_TORTURE_RESULTS=$(CURDIR)/torture-results.jsonl \
		$(BIN)/pytest -q -p no:randomly tests/torture || status=$$?; \
	$(BIN)/python -m tests.torture.scorecard torture-results.jsonl; exit $$status

.PHONY: bench
bench: $(STAMP) ## Conveyor's own throughput and latency table (both backends)
	$(BIN)/python bench/throughput.py

.PHONY: bench-peers
bench-peers: $(STAMP) ## Conveyor vs other queues and raw limits, then HTTP, worker RSS, storage (long)
	$(BIN)/python bench/peers/run.py

.PHONY: bench-floors
bench-floors: $(STAMP) ## issue 11's unmet targets beside what each step allows with Conveyor's Python taken out
	$(BIN)/python bench/floors.py

.PHONY: bench-http
bench-http: $(STAMP) ## HTTP enqueue rate of `conveyor server`, single and batch (both backends)
	$(BIN)/python bench/http_enqueue.py

.PHONY: bench-push
bench-push: $(STAMP) ## push delivery rate to a loopback receiver, no limits (both backends)
	$(BIN)/python bench/push.py

.PHONY: clean
clean: ## remove the virtualenv and caches
	rm -rf $(VENV) bench/.peers-venv bench/.peers-venv-arq .mypy_cache .ruff_cache .pytest_cache .hypothesis
