# Register pipeline: `make all` builds everything on synthetic data, `make test` runs the tests.
# Stage targets depend on their inputs, so a re-run only redoes what changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SCALE ?= 0.05
SEED ?= 2024
DATA ?= data/synthetic
WORK ?= work
OUT ?= output
DIRS := --input $(DATA) --work $(WORK) --out $(OUT)

.PHONY: all venv synth panel describe estimate robustness figures compare report check test bench clean help

all: $(OUT)/rapport.html ## Generate synthetic data, run every stage, check the outputs
	$(PY) cli.py disclosure-check $(DIRS)

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Create the virtual environment from pyproject.toml
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

synth: $(DATA)/truth.json ## Write synthetic extracts (SCALE, SEED)
$(DATA)/truth.json: $(VENV)/.installed $(wildcard data_synthetic/*.py)
	$(PY) cli.py synth --scale $(SCALE) --seed $(SEED) --out $(DATA)

panel: $(WORK)/panel/person_year.parquet ## Load, validate, harmonise, build the panel
PANEL_CODE := $(wildcard sql/*.sql) config/default.toml pipeline/config.py $(wildcard pipeline/registers/*.py)
$(WORK)/panel/person_year.parquet: $(DATA)/truth.json $(wildcard $(DATA)/*.parquet) $(PANEL_CODE)
	$(PY) cli.py panel $(DIRS)

describe: $(OUT)/tables/table3_1.csv ## Descriptive tables with disclosure control
$(OUT)/tables/table3_1.csv: $(WORK)/panel/person_year.parquet pipeline/describe.py pipeline/disclosure.py
	$(PY) cli.py describe $(DIRS)

estimate: $(OUT)/tables/table3_3.csv ## All models (figs 3.15, 3.16, tables 3.2, 3.3)
$(OUT)/tables/table3_3.csv: $(WORK)/panel/person_year.parquet $(wildcard models/*.py) pipeline/estimate.py \
		pipeline/disclosure.py
	$(PY) cli.py estimate $(DIRS)

robustness: $(OUT)/tables/robustness.csv ## The conclusions under eight definition variants, cohort stability
$(OUT)/tables/robustness.csv: $(OUT)/tables/table3_3.csv pipeline/robustness.py models/stability.py sql/33_person_year.sql
	$(PY) cli.py robustness $(DIRS)

figures: $(OUT)/figures/fig3_01.png ## Render every figure
$(OUT)/figures/fig3_01.png: $(OUT)/tables/table3_1.csv $(OUT)/tables/robustness.csv $(wildcard figures/*.py) \
		pipeline/render.py
	$(PY) cli.py figures $(DIRS)

compare: $(OUT)/tables/report_comparison.csv ## This run beside the report's published numbers
$(OUT)/tables/report_comparison.csv: $(OUT)/figures/fig3_01.png pipeline/compare.py reference_data/report_numbers.csv
	$(PY) cli.py compare-report $(DIRS)

$(OUT)/manifest.json: $(OUT)/tables/report_comparison.csv pipeline/manifest.py
	$(PY) cli.py manifest $(DIRS)

report: $(OUT)/rapport.html ## The HTML report and one card per municipality (then the manifest again)
$(OUT)/rapport.html: $(OUT)/manifest.json $(wildcard pipeline/report/*.py pipeline/report/templates/*) README.md
	$(PY) cli.py report $(DIRS)
	touch $@

check: ## Disclosure check of the output directory
	$(PY) cli.py disclosure-check $(DIRS)

test: $(VENV)/.installed ## Run the test suite
	$(PY) -m pytest

bench: $(VENV)/.installed ## Time every stage at BENCH_SCALE (default 0.1) and compare with pyfixest
	$(PY) cli.py bench --scale $(or $(BENCH_SCALE),0.1) --json bench/bench_$(or $(BENCH_SCALE),0.1).json

clean: ## Remove generated data, work files and outputs (keeps the venv)
	rm -rf $(DATA) $(WORK) $(OUT) bench
