# Two commands do all the set-up: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck format bench clean evidence

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pressurebot run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Settings in pyproject.toml ([tool.mypy]: strict, on bot/).
typecheck: $(STAMP)
	$(BIN)/mypy

# Where PYTHONDONTWRITEBYTECODE is set (CI machines often set it), every service and CLI
# process the tests start would compile ~200 modules again (about 0.15 s of CPU each),
# and each of pytest's four workers would rewrite every test module's asserts again
# (about 3 s each). So our modules are compiled once before the run, and pytest may
# keep its rewritten modules in __pycache__ (git ignores it).
#
# mypy runs beside pytest, not before it: it keeps one core busy for ~17 s, and pytest
# leaves a core idle now and then while its tests wait on services. Its report follows
# the tests', and either failing fails `make test`.
test: lint
	$(BIN)/python -m compileall -q bot fakes migrations tests
	@$(BIN)/mypy > $(VENV)/mypy.log 2>&1 & typecheck=$$!; \
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q; tests=$$?; \
	wait $$typecheck; typed=$$?; echo "mypy:"; cat $(VENV)/mypy.log; \
	test $$tests -eq 0 && test $$typed -eq 0

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The evaluation of every alert type on the shipped history (2-3 minutes): rewrites
# docs/scoring.md's generated Evidence tables and the evidence line's table shipped in
# the package (bot/views/evidence_table.json). Commit both together.
evidence: $(STAMP)
	$(BIN)/pressurebot replay --evaluate --table-out bot/views/evidence_table.json \
		--markdown-out docs/scoring.md

# Every benchmark, each printing the naive peer beside ours (README, Performance).
# faults.py runs locks.py's lock test too. Takes about an hour and a quarter on 2 cores,
# 35 minutes of it rest_cost.py (30 minutes of the service at rest, ours and today's).
# failover.py needs PRESSUREBOT_TEST_POSTGRES_URL (it says so and skips without it);
# paid_broadcast.py too (or PRESSUREBOT_BENCH_POSTGRES_URL).
bench: $(STAMP)
	$(BIN)/python bench/scan_cycle.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/rules.py
	$(BIN)/python bench/rules_cycle.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/commands.py
	$(BIN)/python bench/chart_render.py
	$(BIN)/python bench/rest_cost.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/failover.py
	$(BIN)/python bench/paid_broadcast.py
	$(BIN)/python bench/liquidations.py
	$(BIN)/python bench/replay.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
