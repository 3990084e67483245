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

.PHONY: install report test test-all gate clean-results
install: $(VENV)/.installed

# The default suite (config/config.yaml): runs, validation, aggregation, report.
report: $(VENV)/.installed
	$(PY) -m snakemake --cores $(CORES)

# The test suite CI runs (slow statistical tests excluded; `make test-all` includes them).
test: $(VENV)/.installed
	$(PY) -m pytest

test-all: $(VENV)/.installed
	$(PY) -m pytest -m ''

clean-results:
	rm -rf results/default results/ci .snakemake

# The CI regression gate: the ci suite, then its summary against the committed baseline.
gate: $(VENV)/.installed
	$(PY) -m snakemake --cores $(CORES) --keep-going --configfile config/suites/ci.yaml
	$(PY) -m nextstat gate --baseline results/baselines/ci.summary.json --current results/ci/summary.json \
		--policy config/gate/ci.yaml
