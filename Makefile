# xlrm: the two fresh-machine commands are `make repro` (the main job) and `make test`.
# Both create .venv and install everything on first use.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The torch build for your hardware: the default is the CPU build; on a GPU machine
# use e.g. `make repro TORCH=torch` (CUDA wheels from PyPI).
TORCH  ?= torch==2.13.0
EXTRAS ?= dev,embedded
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup repro test test-fast preset exp-preset clean-scratch

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

setup: $(VENV)/.installed

## The main job: run the pipeline of params.yaml end to end.
repro: setup
	dvc repro
	@echo
	@echo "Report: report/report.html (report/report.md); numbers: dvc metrics show; plots: dvc plots show"
	@echo "Runs:    mlflow ui --backend-store-uri sqlite:///mlflow.db"

## All tests (the end-to-end dvc tests included).
test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

## Switch params.yaml to a preset: make preset PRESET=tiny|default|paper
preset: setup
	$(PY) -m xlrm.preset use $(PRESET)

## Run a preset as a DVC experiment without touching params.yaml: make exp-preset PRESET=tiny
exp-preset: setup
	$(PY) -m xlrm.preset exp $(PRESET)

clean-scratch:
	rm -rf .scratch
