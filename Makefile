# LLM Frontiers: one-command setup, lab and tests.
#   make lab    set up .venv and open the course in JupyterLab
#   make test   set up .venv and run every test (library, notebooks, hygiene, grading)
# Works on a machine with nothing but Python 3.10+, pip and apt.

PYTHON        ?= python3
VENV          ?= .venv
PY            := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
# Extra pip options for torch only, e.g. an index with CUDA builds (see README).
TORCH_INDEX   ?=
CONSTRAINTS   ?= .ci/constraints.txt
JOBS          ?= 2
LAB_ARGS      ?=
PYTEST_ARGS   ?=
STAMP         := $(VENV)/.frontier-installed
ALLOW_ROOT    := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: help setup lab test test-fast notebooks clean-notebooks check-notebooks bench assignments clean

help:
	@echo "make lab              set up .venv and start JupyterLab on the course (LAB_ARGS='--no-browser --port 8899')"
	@echo "make test             set up .venv and run every test"
	@echo "make test-fast        library tests only (no notebooks, no grading, no servers)"
	@echo "make notebooks        execute every notebook in SMOKE mode into build/executed/"
	@echo "make clean-notebooks  strip outputs and volatile metadata from every tracked notebook"
	@echo "make check-notebooks  report notebook hygiene problems"
	@echo "make bench            re-render benchmark of every interactive figure"
	@echo "make assignments      regenerate assignments/ from solutions/ (nbgrader)"

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and pinned: a bare 'torch' requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install "torch==$(TORCH_VERSION)" $(TORCH_INDEX)
	$(PY) -m pip install -c $(CONSTRAINTS) -e ".[course,test]"
	$(PY) -m ipykernel install --sys-prefix --name frontier --display-name "Python (frontier)"
	@touch $@

setup: $(STAMP)

lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(ALLOW_ROOT) $(LAB_ARGS) course/00_start_here.ipynb

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow and not browser and not gpu" $(PYTEST_ARGS)

notebooks: setup
	$(PY) -m frontier.notebooks run course/ solutions/ --smoke --jobs $(JOBS)

clean-notebooks: setup
	$(PY) -m frontier.notebooks clean

check-notebooks: setup
	$(PY) -m frontier.notebooks check

bench: setup
	$(PY) -m frontier.bench viz

assignments: setup
	$(PY) -m frontier.grading release

clean:
	rm -rf build .pytest_cache .hypothesis
