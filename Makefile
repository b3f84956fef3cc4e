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
# The environment's bin/ first on PATH for servers, kernels and nbgrader (which runs `alembic`), so nothing needs
# `source .venv/bin/activate`.
VENV_PATH     := PATH="$(abspath $(VENV))/bin:$$PATH"

.PHONY: help setup lab test test-browser-rest test-long test-fast notebooks notebooks-full clean-notebooks check-notebooks bench assignments \
        check-assignments rehearse grade clean test-hf

help:
	@echo "make lab              set up .venv and start JupyterLab on the course (LAB_ARGS='--no-browser --port 8899')"
	@echo "make test             set up .venv and run every test"
	@echo "make test-browser-rest  open the lessons make test does not open in the browser (CI runs it)"
	@echo "make test-long        the claim tests whose models train for minutes (scheduled CI)"
	@echo "make test-hf          install the optional [hf] extra and test the transformers adapter offline"
	@echo "make test-fast        library tests only (no notebooks, no grading, no servers)"
	@echo "make notebooks        execute every notebook in SMOKE mode into build/executed/"
	@echo "make notebooks-full   execute every lesson in full mode (build/executed-full/, build/notebook-times-full.txt)"
	@echo "make clean-notebooks  strip outputs and volatile metadata from every tracked notebook"
	@echo "make check-notebooks  report notebook hygiene problems"
	@echo "make bench            re-render benchmark of every interactive figure"
	@echo "make kernel-report    CUDA kernels: registers, spills, issue ceilings (nvcc, no GPU needed)"
	@echo "make gpu-check        on a GPU machine: pytest -m gpu + the GPU benchmark (scripts/gpu_check.sh)"
	@echo "make assignments      regenerate assignments/ from solutions/ (nbgrader)"
	@echo "make check-assignments  releases and frozen expected values up to date, solutions pass, blank releases fail"
	@echo "make rehearse [A=..]  grade fake students (solution, blank, tampered, looping, crashing, and students"
	@echo "                      who delegate to the library, hard-code numbers or loop where a parallel scan is asked)"
	@echo "make grade A=.. SUBMISSIONS=..  autograde a folder of submissions, feedback, grades.csv"
	@echo "make app NB=..        serve one lesson as a web app (Voila)"
	@echo "make html             executed notebooks -> build/html/ (figures work offline)"
	@echo "make colab-check      run every lesson under Colab's package versions (.venv-colab)"
	@echo "make site             the course website: executed lessons -> build/site/ (Sphinx, offline; SITE_SRC=..)"
	@echo "make test-site        the website in Chromium: navigation, search, a figure (screenshots)"
	@echo "make class-rehearsal  (root) JupyterHub + nbgrader exchange with real Unix users, 30 students at once"

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and pinned: a bare 'torch' requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install "torch==$(TORCH_VERSION)" $(TORCH_INDEX)
	# every section's extra ([all]); not [hf] (transformers) or [gpu]/[gpu-dev] (CUDA), which stay opt-in.
	$(PY) -m pip install -c $(CONSTRAINTS) -e ".[course,test,all]"
	$(PY) -m ipykernel install --sys-prefix --name frontier --display-name "Python (frontier)"
	@touch $@

setup: $(STAMP)

lab: setup
	$(VENV_PATH) $(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(ALLOW_ROOT) $(LAB_ARGS) course/00_start_here.ipynb

# Two pytest workers (pytest-xdist) on a 2-core machine: areas that share servers, course copies or executed
# notebooks stay on one worker each (tests/conftest.py SHARED_FIXTURE_AREAS); TEST_WORKERS=0 runs in one process.
TEST_WORKERS  ?= 2

test: setup
	$(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

# The lessons that `make test` does not open in the browser (it opens two: SAMPLE in the test); .ci/run runs this.
test-browser-rest: setup
	@# pytest's exit status 5 (nothing left to collect) is not a failure.
	FRONTIER_BROWSER_LESSONS=rest FRONTIER_TEST_BUDGET=report $(PY) -m pytest -m browser \
		tests/browser/test_lessons_in_jupyterlab.py $(PYTEST_ARGS); rc=$$?; [ $$rc = 5 ] && rc=0; exit $$rc

# Claim tests whose models train for minutes (marker `long`): not in make test's 15 minutes; scheduled CI runs them.
test-long: setup
	FRONTIER_LONG_CLAIMS=1 FRONTIER_TEST_BUDGET=report $(PY) -m pytest -m long $(PYTEST_ARGS)

# The optional [hf] path (transformers): HFCausalLM against transformers, and lesson 2.1's REAL_MODEL proposer, both
# offline on tiny models built in the tests. make setup leaves [hf] out (it is opt-in for learners); .ci/run adds it.
test-hf: setup
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e ".[hf]"
	FRONTIER_TEST_BUDGET=report $(PY) -m pytest tests/models/test_hf.py tests/reasoning/test_prompted_proposer.py $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow and not browser and not gpu" $(PYTEST_ARGS)

notebooks: setup
	$(PY) -m frontier.notebooks run course/ solutions/ --smoke --jobs $(JOBS)

# Every lesson in full mode (minutes each on a laptop CPU): executed copies in build/executed-full/ and their wall
# times in build/notebook-times-full.txt, which the takeaways' course map and the published site read.
notebooks-full: setup
	$(PY) -m frontier.notebooks run course/ --jobs 1 --out build/executed-full --times build/notebook-times-full.txt

clean-notebooks: setup
	$(PY) -m frontier.notebooks clean

check-notebooks: setup
	$(PY) -m frontier.notebooks check

bench: setup
	$(PY) -m frontier.bench viz

# Issue 19's GPU check (pytest -m gpu + the GPU benchmark) for a machine with an NVIDIA GPU; see the script.
gpu-check:
	bash scripts/gpu_check.sh

# The same steps with the GPU path disabled, to check the script anywhere.
gpu-check-dry-run: setup
	GPU_CHECK_DRY_RUN=1 bash scripts/gpu_check.sh

# The CUDA kernels' registers, spills, occupancy and issue ceilings (needs nvcc, not a GPU).
kernel-report: setup
	$(PY) -m frontier.bench kernels --static

assignments: setup
	$(VENV_PATH) $(PY) -m frontier.grading release

# TA commands (docs/ta_guide.md): A=ex1_efficiency SUBMISSIONS=path/to/folder
A           ?=
SUBMISSIONS ?=

check-assignments: setup
	$(VENV_PATH) $(PY) -m frontier.grading freeze --check
	$(VENV_PATH) $(PY) -m frontier.grading release --check
	$(VENV_PATH) $(PY) -m frontier.grading validate

rehearse: setup
	$(VENV_PATH) $(PY) -m frontier.grading rehearse $(A)

grade: setup
	@test -n "$(A)" || { echo "usage: make grade A=ex1_efficiency [SUBMISSIONS=folder]"; exit 2; }
	$(VENV_PATH) $(PY) -m frontier.grading autograde $(A) $(SUBMISSIONS)

clean:
	rm -rf build .pytest_cache .hypothesis

# ---------------------------------------------------------------------------------------------------------------
# Browser tests, Voilà, Colab's versions, static HTML.
#   The browser tests use Playwright (Python, in .venv) with Debian's chromium: apt-get install chromium.
#   make app NB=course/01_architecture/01_attention_cost.ipynb   serve one lesson as a web app with Voilà
#   make colab-check     build .venv-colab from Colab's versions and execute every lesson there in SMOKE mode
#   make html            executed notebooks (build/executed/) -> build/html/, plotly.js embedded (works offline)

NB                ?=
# Extra Voilà options, e.g. APP_ARGS="--port=8866 --no-browser".
APP_ARGS          ?=
# JupyterLab extensions Voilà should not load: they need JupyterLab itself and only log errors in a Voilà page.
VOILA_DENYLIST    ?= @jupyter/nbgrader @jupyter-notebook/lab-extension @voila-dashboards/jupyterlab-preview
COLAB_VENV        ?= .venv-colab
COLAB_PY          := $(COLAB_VENV)/bin/python
COLAB_STAMP       := $(COLAB_VENV)/.frontier-installed
COLAB_CONSTRAINTS ?= .ci/colab-constraints.txt
# Colab runs Python 3.12; any python3 works (the CPU torch wheel must exist for it, see TORCH_INDEX).
COLAB_PYTHON      ?= $(PYTHON)
HTML_SRC          ?= build/executed
HTML_OUT          ?= build/html

.PHONY: browser-setup app colab-setup colab-check html
.PHONY: gpu-check gpu-check-dry-run kernel-report

# Playwright (test extra) and Voilà (course extra) come with `make setup`; kept as a name for older instructions.
browser-setup: setup

app: setup
	@test -n "$(NB)" || { echo "usage: make app NB=course/01_architecture/01_attention_cost.ipynb [APP_ARGS='--port=8866 --no-browser']"; exit 2; }
	@test -f "$(NB)" || { echo "make app: no such notebook: $(NB)"; exit 2; }
	$(VENV_PATH) $(VENV)/bin/voila "$(NB)" --show_tracebacks=True \
		$(foreach e,$(VOILA_DENYLIST),--VoilaConfiguration.extension_denylist=$(e)) $(APP_ARGS)

$(COLAB_STAMP): pyproject.toml $(COLAB_CONSTRAINTS)
	@test -x $(COLAB_PY) || $(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_PY) -m pip install -q --upgrade pip
	$(COLAB_PY) -m pip install -q "torch==$(TORCH_VERSION)" $(TORCH_INDEX)
	# The course package with every section extra on top of Colab's stack, as the lessons' Colab setup cells install it; papermill runs the
	# lessons and pytest runs tests/viz/ (neither is on Colab).
	$(COLAB_PY) -m pip install -q -c $(COLAB_CONSTRAINTS) -e ".[all]" ipywidgets ipykernel ipython notebook nbconvert \
		papermill pytest pytest-timeout hypothesis
	@touch $@

colab-setup: $(COLAB_STAMP)

colab-check: $(COLAB_STAMP)
	@$(COLAB_PY) -c "import sys, ipywidgets, plotly, ipykernel, IPython, numpy; print(f'Colab versions: python {sys.version.split()[0]}, ipywidgets {ipywidgets.__version__}, plotly {plotly.__version__}, ipykernel {ipykernel.__version__}, ipython {IPython.__version__}, numpy {numpy.__version__}')"
	$(COLAB_PY) -m pytest -q -p no:cacheprovider tests/viz $(PYTEST_ARGS)
	PYDEVD_DISABLE_FILE_VALIDATION=1 $(COLAB_PY) .ci/colab_check.py --jobs $(JOBS) --out build/colab/executed --no-progress

html: setup
	@find $(HTML_SRC) -name '*.ipynb' 2>/dev/null | grep -q . || $(MAKE) --no-print-directory notebooks
	$(PY) -m frontier.notebooks html $(HTML_SRC) $(HTML_OUT)

# ---------------------------------------------------------------------------------------------------------------
# The course website and the class JupyterHub (issue 21; docs/deploy.md).
#   make site             executed lessons (SITE_SRC, default build/executed = SMOKE runs from `make notebooks`, so
#                         every page says so) -> build/site/ with Sphinx + myst-nb + sphinx-book-theme, offline.
#                         The published site: SITE_SRC=<full-mode executions> (.github/workflows/site.yml).
#   make test-site        the site's browser test (three pages, navigation, search, a figure; screenshots)
#   make class-rehearsal  JupyterHub on 127.0.0.1, real Unix users, nbgrader's exchange, 1 instructor + 4 students,
#                         then 30 students at once (as root; tests/test_class_rehearsal.py)

SITE_SRC     ?= build/executed
SITE_STAGE   ?= build/site-src
SITE_OUT     ?= build/site
SITE_STAMP   := $(VENV)/.frontier-site-installed
HUB_STAMP    := $(VENV)/.frontier-hub-installed
HUB_NPM      ?= build/hub-npm
CHP_VERSION  ?= 4.6.3

.PHONY: site site-setup test-site hub-setup class-rehearsal

$(SITE_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -c $(CONSTRAINTS) -e ".[site]"
	@touch $@

site-setup: $(SITE_STAMP)

site: site-setup
	@find $(SITE_SRC)/course -name '*.ipynb' 2>/dev/null | grep -q . || $(MAKE) --no-print-directory notebooks
	$(PY) docs/site/stage.py $(SITE_SRC) $(SITE_STAGE)
	rm -rf $(SITE_OUT)
	FRONTIER_SITE_STAGE="$(abspath $(SITE_STAGE))" $(PY) -m sphinx -b html -q -c docs/site $(SITE_STAGE) $(SITE_OUT)
	@echo "site: $(SITE_OUT)/index.html"

# Tests the site in $(SITE_OUT) (builds it first when there is none).
test-site: site-setup
	@test -f $(SITE_OUT)/index.html || $(MAKE) --no-print-directory site
	FRONTIER_SITE_DIR="$(abspath $(SITE_OUT))" FRONTIER_SITE_STAGE="$(abspath $(SITE_STAGE))" FRONTIER_TEST_BUDGET=report \
		$(PY) -m pytest -q -p no:cacheprovider -m browser tests/browser/test_site.py $(PYTEST_ARGS)

$(HUB_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -c $(CONSTRAINTS) -e ".[hub]"
	@touch $@

# configurable-http-proxy from the npm registry into a local folder (never `npm install -g`).
$(HUB_NPM)/node_modules/.bin/configurable-http-proxy:
	mkdir -p $(HUB_NPM)
	npm install --no-audit --no-fund --prefix $(HUB_NPM) configurable-http-proxy@$(CHP_VERSION)

hub-setup: $(HUB_STAMP) $(HUB_NPM)/node_modules/.bin/configurable-http-proxy

class-rehearsal: hub-setup
	@# The budget table of tests/conftest.py is for make test; this run only reports it.
	FRONTIER_CLASS_REHEARSAL=1 FRONTIER_TEST_BUDGET=report FRONTIER_CHP="$(abspath $(HUB_NPM))/node_modules/.bin/configurable-http-proxy" \
		$(PY) -m pytest -q -p no:cacheprovider -m rehearsal -s tests/test_class_rehearsal.py $(PYTEST_ARGS)
