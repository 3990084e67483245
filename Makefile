# Two entry points that do all set-up on a fresh machine: `make report` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CORES ?= 2

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install report resume test test-all lint gate clean-results
install: $(VENV)/.installed

# The default suite (config/config.yaml): runs, validation, aggregation, report.
# --rerun-incomplete: jobs a killed run left marked incomplete are rerun, not refused.
report: $(VENV)/.installed
	$(PY) -m snakemake --cores $(CORES) --rerun-incomplete

# After a killed run: unlock (refused while a snakemake still runs here) and finish it.
# `make resume SUITE=ci` for config/suites/ci.yaml, or CONFIG=path/to/suite.yaml.
SUITE ?= default
CONFIG ?= $(if $(filter-out default,$(SUITE)),config/suites/$(SUITE).yaml)
resume: $(VENV)/.installed
	$(PY) -m nextstat resume --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG))

# The test suite CI runs (slow statistical tests excluded; `make test-all` includes them).
test: $(VENV)/.installed
	$(PY) -m pytest

test-all: $(VENV)/.installed
	$(PY) -m pytest -m ''

# Lint, format and type checks (ruff and mypy, configured in pyproject.toml).
lint: $(VENV)/.installed
	$(PY) -m ruff check src tests
	$(PY) -m ruff format --check src tests
	$(PY) -m mypy

clean-results:
	rm -rf results/default results/ci .snakemake

# The CI regression gate: the ci suite, then its summary against the committed baseline.
gate: $(VENV)/.installed
	$(PY) -m snakemake --cores $(CORES) --keep-going --rerun-incomplete --configfile config/suites/ci.yaml
	$(PY) -m nextstat gate --baseline results/baselines/ci.summary.json --current results/ci/summary.json \
		--policy config/gate/ci.yaml
