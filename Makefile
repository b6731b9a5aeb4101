# ecgnb: `make report` sets up and renders the default report; `make test` runs every check.
# Python 3.10 to 3.13 (pyproject.toml's requires-python): python3 when its version fits, else the newest
# python3.13 … python3.10 on PATH that runs and has venv; `make setup PYTHON=/path/to/python` chooses one.
PY_RANGE := 3.10 to 3.13
PY_FITS := import sys, venv, ensurepip; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))
PY_CANDIDATES := python3 python3.13 python3.12 python3.11 python3.10
PYTHON ?= $(firstword $(foreach p,$(PY_CANDIDATES),$(shell $(p) -c '$(PY_FITS)' >/dev/null 2>&1 && echo $(p))))
VENV   := .venv
BIN    := $(VENV)/bin
NAME   ?= default
PARAMS ?= params/default.yaml
FORCE  ?=
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# Python writes a module's .pyc when it first imports it, so pip installs without them (--no-compile): a third
# of what is installed is ever imported (5,146 of 14,523 files after a whole `make test`). Where
# PYTHONDONTWRITEBYTECODE is set nothing would ever be cached, so there the set-up compiles everything, on
# every core (a file this Python cannot compile, such as torch's 3.12-only test file, gets none, as with pip).
COMPILE := import compileall, sysconfig; compileall.compile_dir(sysconfig.get_path("purelib"), quiet=2, workers=0)
# pytest-xdist: a worker per usable core; tests/conftest.py hands out the work (nbval's cells on one worker, in order)
XDIST  := -n auto --no-loadscope-reorder

.PHONY: setup report test test-fast test-notebooks test-lab test-machines mutation lab lab-dev notebooks clean

$(BIN)/ecgnb: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python $(PY_RANGE) with venv found (tried $(PY_CANDIDATES);" \
	  "python3 here: $(or $(shell python3 --version 2>/dev/null),none)); install one (Debian/Ubuntu:" \
	  "apt-get install python3-venv) or pass PYTHON=/path/to/python3.x" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e .
	$(if $(PYTHONDONTWRITEBYTECODE),$(BIN)/python -c '$(COMPILE)')
	touch $@

setup: $(BIN)/ecgnb  ## create .venv and install the project (what the notebooks and ecgnb use)

# The test tools (pyproject.toml's `test` extra: pytest, pytest-xdist, nbval, hypothesis, mutmut, Playwright) and
# the one-class benchmark's `bench` extra (aeon, for ROCKAD in its quick tier): the test targets install them,
# `make setup` and `make report` do not. Reinstalled after pyproject.toml changes (through $(BIN)/ecgnb).
TESTENV := $(VENV)/.test
$(TESTENV): $(BIN)/ecgnb
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test,bench]'
	$(if $(PYTHONDONTWRITEBYTECODE),$(BIN)/python -c '$(COMPILE)')
	touch $@

report: setup  ## render reports/$(NAME)/ from $(PARAMS) (FORCE=1 replaces an existing run)
	$(BIN)/ecgnb run -f $(PARAMS) --name $(NAME) $(if $(FORCE),--force)

test: $(TESTENV)  ## unit tests, CLI smoke run, and nbval on the committed notebooks
	$(BIN)/python -m pytest tests notebooks $(NBVAL) $(XDIST)

test-fast: $(TESTENV)  ## the fast tier: every test not marked slow (no real report, Dask cluster or browser)
	$(BIN)/python -m pytest tests -m "not slow" -q -p no:nbval $(XDIST)

test-notebooks: $(TESTENV)  ## nbval only: re-execute the committed notebooks, facts exact, results vs the reference
	$(BIN)/python -m pytest notebooks $(NBVAL)

test-lab: $(TESTENV)  ## the browser test: JupyterLab runs every notebook in headless Chromium (screenshots in build/test_lab/)
	$(BIN)/python -m pytest tests/test_lab.py

test-machines: $(TESTENV)  ## the notebook checks under simulated machines (about 20 minutes)
	bash .ci/simulated-machines

mutation: $(TESTENV)  ## mutmut over the verdict code (threshold, metrics, score, config, data checks); fails below 95 %
	$(BIN)/python tests/mutation.py

lab: setup  ## JupyterLab on working copies of the notebooks in reports/lab-<profile>/ (PARAMS=params/smoke.yaml: a quick class)
	$(BIN)/python -m ecgnb.runner.lab --params $(PARAMS)

lab-dev: setup  ## JupyterLab on the committed notebooks, to edit them (review `git diff notebooks/`, then `make notebooks`)
	$(BIN)/python -m ecgnb.runner.lab --dev

notebooks: setup  ## re-execute the committed notebooks in place and record them as the reference run
	$(BIN)/ecgnb refresh-notebooks

clean:  ## remove the virtual environment and every rendered run
	rm -rf $(VENV) build/mutation reports/*/ reports/index.* reports/compare.*
