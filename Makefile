# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m devstack demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache  # the layers: pyproject.toml [tool.importlinter], README "Architecture"

# Each benchmark runs its peers side by side and writes bench/results/<name>.{json,md}; then the summary
# table the README shows. About 35 minutes on 2 cores.
bench: $(STAMP)
	$(BIN)/python -m bench.instrumentation_overhead
	$(BIN)/python -m bench.probe_capacity
	$(BIN)/python -m bench.rule_evaluation
	$(BIN)/python -m bench.detection_latency
	$(BIN)/python -m bench.event_load
	$(BIN)/python -m bench.history_scale
	$(BIN)/python -m bench.summary

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
